package streams

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sitetwin/sitetwin/twin"
)

// Topics names the topics sitetwin reads and writes. All are "<prefix>." and
// a fixed suffix; the default prefix is "sitetwin".
type Topics struct {
	Prefix string
}

// DefaultTopics returns the topic names with the "sitetwin" prefix.
func DefaultTopics() Topics { return Topics{Prefix: "sitetwin"} }

func (t Topics) name(s string) string {
	p := t.Prefix
	if p == "" {
		p = "sitetwin"
	}
	return p + "." + s
}

// Input returns the input topic of a stream (twin.StreamSensor → sitetwin.sensor).
func (t Topics) Input(stream string) string { return t.name(stream) }

// Inputs returns every input topic, in a fixed order.
func (t Topics) Inputs() []string {
	var out []string
	for _, s := range twin.Streams() {
		out = append(out, t.Input(s))
	}
	return out
}

// ForType returns the input topic of an event type, or "" for an unknown type.
func (t Topics) ForType(eventType string) string {
	s := twin.StreamOf(eventType)
	if s == "" {
		return ""
	}
	return t.Input(s)
}

// Alerts is the topic of every alert raised or cleared.
func (t Topics) Alerts() string { return t.name("alerts") }

// State is the compacted changelog of twin snapshots, keyed by twin id.
func (t Topics) State() string { return t.name("twin-state") }

// DeadLetter receives every record that could not be applied, unchanged,
// with the reason in a header.
func (t Topics) DeadLetter() string { return t.name("deadletter") }

// Outbox receives requests to outside services.
func (t Topics) Outbox() string { return t.name("outbox") }

// All returns every topic sitetwin uses.
func (t Topics) All() []string {
	return append(t.Inputs(), t.Alerts(), t.State(), t.DeadLetter(), t.Outbox())
}

// TopicOptions sets how missing topics are created.
type TopicOptions struct {
	// Partitions of every topic; all must match so that the same partition
	// number of every topic holds the same projects. Default 6.
	Partitions int32
	// RetentionMS is retention.ms of every topic but the compacted
	// changelog (inputs, alerts, dead letters, outbox); 0 leaves the
	// broker's default. Input records older than this are deleted whether
	// or not an engine has applied them.
	RetentionMS int64
}

// ErrPartitionMismatch is returned by EnsureTopics when existing topics do
// not all have the same number of partitions: the engine keeps a project's
// events and its twin on one partition number across topics, so they must.
var ErrPartitionMismatch = errors.New("sitetwin topics must all have the same number of partitions")

// EnsureTopics creates the missing topics (the twin-state changelog
// compacted) and checks that all of them have the same partition count,
// which it returns.
func EnsureTopics(ctx context.Context, adm *kadm.Client, t Topics, o TopicOptions) (int32, error) {
	if o.Partitions <= 0 {
		o.Partitions = 6
	}
	all := t.All()
	details, err := adm.ListTopics(ctx, all...)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	// partition count of every topic: from the listing for those that
	// exist, from the creation response for the others (a listing right
	// after creation may come from the client's metadata cache)
	counts := map[int]string{}
	for _, name := range all {
		if d, ok := details[name]; ok && d.Err == nil {
			counts[len(d.Partitions)] = name
			continue
		}
		cfg := map[string]*string{}
		switch {
		case name == t.State():
			cfg["cleanup.policy"] = kadm.StringPtr("compact")
		case o.RetentionMS > 0:
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(o.RetentionMS, 10))
		}
		resp, err := adm.CreateTopic(ctx, o.Partitions, -1, cfg, name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			counts[int(resp.NumPartitions)] = name
		case errors.Is(err, kerr.TopicAlreadyExists):
			// created meanwhile by someone else: ask again below
			fresh, lerr := adm.ListTopics(ctx, name)
			if lerr != nil {
				return 0, fmt.Errorf("list topic %s: %w", name, lerr)
			}
			d, ok := fresh[name]
			if !ok || d.Err != nil || len(d.Partitions) == 0 {
				return 0, fmt.Errorf("topic %s exists but its partitions are not known yet", name)
			}
			counts[len(d.Partitions)] = name
		default:
			return 0, fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	if len(counts) != 1 {
		var desc []string
		for n, name := range counts {
			desc = append(desc, fmt.Sprintf("%s has %d", name, n))
		}
		slices.Sort(desc)
		return 0, fmt.Errorf("%w: %v", ErrPartitionMismatch, desc)
	}
	return int32(slices.Collect(maps.Keys(counts))[0]), nil
}
