package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/streams"
)

// brokerCmd runs the embedded broker alone, with sitetwin's topics created.
func brokerCmd(ctx context.Context, args []string, _, stderr io.Writer, getenv env) error {
	fs := flagSet("broker", "[flags]", stderr)
	listen := fs.String("listen", "127.0.0.1:9092", "address to listen on")
	dataDir := fs.String("data-dir", "./sitetwin-data", "where to keep the broker's data (empty: in memory)")
	partitions := fs.Int("partitions", 6, "partitions of the sitetwin topics and of topics created on first write")
	retention := fs.Duration("retention", 7*24*time.Hour, "retention of the sitetwin topics but the compacted twin-state (0: keep forever)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	b, err := streams.NewBroker(streams.BrokerConfig{Listen: *listen, DataDir: *dataDir, Partitions: *partitions, Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	n, err := streams.EnsureTopics(tctx, kadm.NewClient(cl), streams.DefaultTopics(), streams.TopicOptions{Partitions: int32(*partitions), RetentionMS: retention.Milliseconds()})
	cancel()
	cl.Close()
	if err != nil {
		return err
	}
	log.Info("kafka broker listening", "addr", b.Addr(), "data_dir", *dataDir, "partitions", n)
	<-ctx.Done()
	log.Info("broker stopping")
	return nil
}
