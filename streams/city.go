package streams

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// The city stream. A city-wide event (project "*": a typhoon advisory, a
// rainstorm signal) concerns the twins of every partition. It is produced
// once, keyed "*", so it lands on one partition of the weather topic: the
// city partition. Every worker reads that partition as one more input of
// its merge, at its own position, which it keeps in the changelog with its
// twins. So each partition applies a city-wide event at the same point of
// its own event-time order on every run, however fetches were cut and
// however often the process restarted. (A city-wide event keyed otherwise
// is forwarded to the city partition first.)

// cityPartition is the partition of the weather topic city-wide events are
// read from.
func (e *Engine) cityPartition() int32 { return Partition(twin.CityWide, e.partitions) }

// cityFeed reads the city partition into a channel for the poll loop.
type cityFeed struct {
	from   int64
	ch     chan fetched
	cancel context.CancelFunc
	done   chan struct{}
}

// stopCity stops the city feed, if any.
func (e *Engine) stopCity() {
	if e.city == nil {
		return
	}
	e.city.cancel()
	<-e.city.done
	e.city = nil
}

// resetCity (re)starts the city feed at the lowest position a worker needs,
// or stops it when there are no workers. Workers drop records they have
// already read.
func (e *Engine) resetCity() {
	from := int64(math.MaxInt64)
	for _, p := range sortedPartitions(e.workers) {
		w := e.workers[p]
		var pos int64
		w.do(func() { pos = w.polled[w.e.cityIdx()] })
		from = min(from, pos)
	}
	if from == math.MaxInt64 {
		e.stopCity()
		return
	}
	if e.city != nil && e.city.from == from {
		return
	}
	e.stopCity()
	ctx, cancel := context.WithCancel(context.Background())
	f := &cityFeed{from: from, ch: make(chan fetched, 16), cancel: cancel, done: make(chan struct{})}
	e.city = f
	go func() {
		defer close(f.done)
		e.readCity(ctx, f)
	}()
}

// readCity consumes the city partition from f.from and hands its batches to
// the poll loop, until ctx ends.
func (e *Engine) readCity(ctx context.Context, f *cityFeed) {
	topic := e.cfg.Topics.Input(twin.StreamWeather)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.cfg.Brokers...),
		kgo.ClientID(e.cfg.ClientID+"-city"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {e.cityPartition(): kgo.NewOffset().At(f.from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		e.fail(err)
		return
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				e.log.Warn("city stream fetch error", "err", err)
			}
		})
		var out []fetched
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) > 0 {
				out = append(out, fetched{topic: e.cityIdx(), recs: fp.Records, lso: fp.LastStableOffset})
			}
		})
		for _, b := range out {
			select {
			case f.ch <- b:
			case <-ctx.Done():
				return
			}
		}
	}
}

// cityBatches takes what the city feed has read so far, without waiting.
func (e *Engine) cityBatches() []fetched {
	if e.city == nil {
		return nil
	}
	var out []fetched
	for {
		select {
		case b := <-e.city.ch:
			out = append(out, b)
		default:
			return out
		}
	}
}

// cityIdx is the index of the city stream among a worker's inputs: after
// the input topics.
func (e *Engine) cityIdx() int { return len(e.inputs) }
