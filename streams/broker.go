package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures the embedded Kafka-protocol broker.
type BrokerConfig struct {
	// Listen is the TCP address, e.g. 127.0.0.1:9092; port 0 picks a free one.
	Listen string
	// DataDir persists topics, offsets and groups across restarts; "" keeps
	// everything in memory.
	DataDir string
	// Partitions is the partition count of topics created automatically
	// (by a producer writing to a topic that does not exist). Default 6.
	Partitions int
	// Logger receives the broker's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Broker is an embedded single-node Kafka-protocol broker (kfake) on a real
// TCP port: any Kafka client (kcat, a gateway, another sitetwin) can use it.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	once    sync.Once
}

// ErrAddrInUse is returned by NewBroker when the listen address is taken.
var ErrAddrInUse = errors.New("address already in use")

// NewBroker starts a broker. It returns once the broker accepts connections.
func NewBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("broker listen %s: %w (another broker running? choose another address)", cfg.Listen, ErrAddrInUse)
		}
		return nil, fmt.Errorf("broker listen %s: %w", cfg.Listen, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ClusterID("sitetwin"),
		// compaction of the twin-state changelog and retention of the
		// input topics run every five minutes
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": "300000"}),
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{cfg.Logger}))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start broker: %w", err)
	}
	return &Broker{cluster: c, addr: ln.Addr().String()}, nil
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Run blocks until ctx ends, then closes the broker (persisting its state
// when it has a data directory). It returns nil.
func (b *Broker) Run(ctx context.Context) error {
	<-ctx.Done()
	b.Close()
	return nil
}

// Close stops the broker; it is safe to call more than once.
func (b *Broker) Close() { b.once.Do(b.cluster.Close) }

type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		k.l.Error("broker: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		k.l.Warn("broker: " + fmt.Sprintf(msg, args...))
	}
}
