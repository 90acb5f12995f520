package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// Publisher produces events into the input topics the way an outside gateway
// would: one CloudEvent per record, keyed by project id, on the topic of its
// type, placed by Kafka's default (murmur2) partitioner.
type Publisher struct {
	cl     *kgo.Client
	topics Topics

	mu       sync.Mutex
	firstErr error
	produced int64
}

// NewPublisher connects to the brokers. It does not create topics (the
// broker creates missing ones on first write, or the engine does).
func NewPublisher(brokers []string, topics Topics, clientID string) (*Publisher, error) {
	if len(brokers) == 0 {
		return nil, errors.New("publisher: no brokers given")
	}
	if topics.Prefix == "" {
		topics = DefaultTopics()
	}
	if clientID == "" {
		clientID = "sitetwin-publisher"
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(clientID),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.AllowAutoTopicCreation(),
	)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	return &Publisher{cl: cl, topics: topics}, nil
}

// Publish encodes the events and produces them asynchronously, in order per
// project. Errors are reported by Flush.
func (p *Publisher) Publish(ctx context.Context, evs ...*twin.Event) error {
	for _, ev := range evs {
		b, err := twin.Encode(ev)
		if err != nil {
			return fmt.Errorf("publish %s: %w", ev.ID, err)
		}
		topic := p.topics.ForType(ev.Type)
		if topic == "" {
			return fmt.Errorf("publish %s: unknown event type %q", ev.ID, ev.Type)
		}
		p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(ev.Project), Value: b}, p.promise)
	}
	return nil
}

// PublishLast produces the last event of a drill like Publish, with the
// header HeaderDrillEnd (the event's drill), so that the engine shows the
// drill as ended once it has applied it. An event of no drill is an error.
func (p *Publisher) PublishLast(ctx context.Context, ev *twin.Event) error {
	if ev.Drill == "" {
		return fmt.Errorf("publish %s: the last event of a drill must carry the drill", ev.ID)
	}
	b, err := twin.Encode(ev)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ev.ID, err)
	}
	topic := p.topics.ForType(ev.Type)
	if topic == "" {
		return fmt.Errorf("publish %s: unknown event type %q", ev.ID, ev.Type)
	}
	p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(ev.Project), Value: b,
		Headers: []kgo.RecordHeader{{Key: HeaderDrillEnd, Value: []byte(ev.Drill)}}}, p.promise)
	return nil
}

// PublishRaw produces one recorded CloudEvent unchanged to the topic of its
// type, keyed by its project. A record whose type or project cannot be read
// goes to the dead-letter topic with the reason, and the returned error says
// so.
func (p *Publisher) PublishRaw(ctx context.Context, value []byte, origin string) error {
	typ, project, err := twin.Peek(value)
	topic := p.topics.ForType(typ)
	switch {
	case err != nil:
	case topic == "":
		err = fmt.Errorf("unknown event type %q", typ)
	case project == "":
		err = errors.New("no project attribute")
	}
	if err != nil {
		p.cl.Produce(ctx, &kgo.Record{
			Topic: p.topics.DeadLetter(), Value: value,
			Headers: []kgo.RecordHeader{
				{Key: HeaderError, Value: []byte("replay: " + err.Error())},
				{Key: HeaderSource, Value: []byte(origin)},
			},
		}, p.promise)
		return fmt.Errorf("%s: %w (sent to %s)", origin, err, p.topics.DeadLetter())
	}
	p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(project), Value: value}, p.promise)
	return nil
}

func (p *Publisher) promise(_ *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && p.firstErr == nil {
		p.firstErr = err
	}
	if err == nil {
		p.produced++
	}
}

// Flush waits until every produced record is acknowledged and returns the
// first produce error since the last Flush.
func (p *Publisher) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("publisher flush: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.firstErr
	p.firstErr = nil
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	return nil
}

// Produced returns how many records the brokers have acknowledged.
func (p *Publisher) Produced() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.produced
}

// Close flushes nothing and closes the connection; call Flush first.
func (p *Publisher) Close() { p.cl.Close() }
