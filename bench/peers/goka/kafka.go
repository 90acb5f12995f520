package main

import (
	"context"
	"fmt"
	"hash"
	"log"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
)

// saramaConfig is goka's default sarama configuration (goka.DefaultConfig:
// snappy, acks from the leader, 100 ms producer flush, goka's
// copartitioning assignor) with what a benchmark against kfake needs.
func saramaConfig() *sarama.Config {
	c := goka.DefaultConfig()
	// goka's default protocol version, 2.0.0, is one kfake serves too; see
	// the README for the versions tried
	c.Version = sarama.V2_0_0_0
	// a fresh group reads the input topics from the start (goka's default
	// is the newest offset; tables are always read from the oldest)
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	return c
}

// topicManagerConfig is goka's default with replication factor 1 for the
// group table and the loopback topic: the benchmark broker has one node,
// and goka's default (2) cannot be created on it.
func topicManagerConfig() *goka.TopicManagerConfig {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	return tmc
}

// options are the processor's options: sarama clients built from cfg (each
// from its own copy, since goka's *WithConfig builders write the client id
// into the config they are given), the topic manager with tmc, in-memory
// storage for the group table, and Kafka's partitioner.
func options(cfg *sarama.Config, tmc *goka.TopicManagerConfig, logger *log.Logger) []goka.ProcessorOption {
	withID := func(clientID string) *sarama.Config {
		c := *cfg
		c.ClientID = clientID
		return &c
	}
	return []goka.ProcessorOption{
		goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
			return sarama.NewConsumerGroup(brokers, group, withID(clientID))
		}),
		goka.WithConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			return sarama.NewConsumer(brokers, withID(clientID))
		}),
		goka.WithProducerBuilder(func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
			c := withID(clientID)
			c.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
			return goka.NewProducer(brokers, c)
		}),
		goka.WithTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			return goka.NewTopicManager(brokers, withID("goka-topic-manager"), tmc)
		}),
		goka.WithStorageBuilder(storage.MemoryBuilder()),
		goka.WithHasher(newKafkaHash),
		goka.WithLogger(logger),
	}
}

// waitForTopics waits until every topic exists and returns their
// partition count, which must be the same for all (goka consumes the
// same partition number of every input topic in one partition processor).
func waitForTopics(ctx context.Context, brokers, topics []string, cfg *sarama.Config, logf func(string, ...any)) (int, error) {
	cl, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return 0, fmt.Errorf("connect to %v: %w", brokers, err)
	}
	defer cl.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for logged := false; ; {
		missing, counts, err := describe(cl, topics)
		if err != nil {
			return 0, err
		}
		if len(missing) == 0 {
			if len(counts) != 1 {
				return 0, fmt.Errorf("the input topics must all have the same number of partitions for goka (copartitioning): %v", counts)
			}
			for n := range counts {
				return n, nil
			}
		}
		if !logged {
			logf("waiting for topics %v", missing)
			logged = true
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("topics %v do not exist: %w", missing, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// describe returns the topics that do not exist and, for the others, the
// partition counts with one topic of each.
func describe(cl sarama.Client, topics []string) (missing []string, counts map[int]string, err error) {
	if err := cl.RefreshMetadata(); err != nil {
		return nil, nil, fmt.Errorf("read topic metadata: %w", err)
	}
	have, err := cl.Topics()
	if err != nil {
		return nil, nil, fmt.Errorf("list topics: %w", err)
	}
	counts = map[int]string{}
	for _, t := range topics {
		if !slices.Contains(have, t) {
			missing = append(missing, t)
			continue
		}
		ps, err := cl.Partitions(t)
		if err != nil {
			return nil, nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		counts[len(ps)] = t
	}
	return missing, counts, nil
}
