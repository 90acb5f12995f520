package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// DumpFormat names the format of a state dump.
const DumpFormat = "sitetwin-state/1"

// Dump is the canonical dump of the committed state of all twins: sorted
// by project id, with the city-wide events, and nothing that depends on the
// wall clock, offsets, partitioning or which process applied what (so
// without the twins' predictions, which depend on when a model ran). The
// same events give the same bytes.
type Dump struct {
	Format string            `json:"format"`
	Twins  []json.RawMessage `json:"twins"`
	City   cityState         `json:"city"`
}

// DumpInfo says what a dump left out.
type DumpInfo struct {
	Twins int
	// Waiting counts input records fetched and committed as consumed but
	// not applied yet (they wait for their partition's other topics); a
	// dump taken while the engine is behind leaves their effect out.
	Waiting int
}

// ReadDump reads the committed changelog and returns the canonical dump.
func ReadDump(ctx context.Context, brokers []string, topics Topics) (*Dump, DumpInfo, error) {
	if topics.Prefix == "" {
		topics = DefaultTopics()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("sitetwin-dump"))
	if err != nil {
		return nil, DumpInfo{}, err
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, topics.State())
	cl.Close()
	if err != nil {
		return nil, DumpInfo{}, fmt.Errorf("list %s: %w", topics.State(), err)
	}
	d, ok := details[topics.State()]
	if !ok || d.Err != nil {
		return nil, DumpInfo{}, fmt.Errorf("no topic %s on %v: is this a sitetwin cluster?", topics.State(), brokers)
	}
	parts := d.Partitions.Numbers()
	slices.Sort(parts)
	cps, err := ReadChangelog(ctx, brokers, "sitetwin-dump", topics.State(), parts)
	if err != nil {
		return nil, DumpInfo{}, err
	}
	dump := &Dump{Format: DumpFormat, Twins: []json.RawMessage{}, City: cityState{Events: map[string]json.RawMessage{}}}
	var info DumpInfo
	byID := map[string][]byte{}
	latest := map[string]time.Time{}
	for _, p := range parts {
		cp := cps[p]
		for id, b := range cp.Twins {
			byID[id] = b
		}
		meta, err := decodeMeta(cp.Meta)
		if err != nil {
			return nil, info, err
		}
		info.Waiting += len(meta.Pending)
		for _, r := range meta.Waiting {
			info.Waiting += r.Records
		}
		// every partition holds the same city-wide events once their
		// copies are applied; of differing ones keep the latest by event time
		for k, raw := range meta.City.Events {
			ev, err := twin.Decode(raw)
			if err != nil {
				return nil, info, fmt.Errorf("%w: city event %s: %v", errBadSnapshot, k, err)
			}
			if t, ok := latest[k]; !ok || ev.Time.After(t) {
				latest[k], dump.City.Events[k] = ev.Time, raw
			}
		}
	}
	dump.City.Order = sortedIDs(dump.City.Events)
	for _, id := range sortedIDs(byID) {
		// re-encode through the twin type, so the dump is in the current
		// canonical form whatever version wrote the snapshot
		p, err := decodeTwin(id, byID[id])
		if err != nil {
			return nil, info, err
		}
		// predictions depend on when a model ran, not only on the events
		p.Predictions = twin.Predictions{}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, info, fmt.Errorf("twin %s: %w", id, err)
		}
		dump.Twins = append(dump.Twins, b)
	}
	info.Twins = len(dump.Twins)
	return dump, info, nil
}

// Encode writes the dump as indented JSON ending with a newline.
func (d *Dump) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ErrStateNotEmpty is returned by RestoreDump when the cluster already holds
// twin state and force is not set.
var ErrStateNotEmpty = errors.New("the cluster already holds twin state")

// DecodeDump parses a dump and checks its format.
func DecodeDump(b []byte) (*Dump, error) {
	var d Dump
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("state dump: %w", err)
	}
	if d.Format != DumpFormat {
		return nil, fmt.Errorf("state dump: format %q, want %q", d.Format, DumpFormat)
	}
	for i, raw := range d.Twins {
		var p twin.ProjectTwin
		if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
			return nil, fmt.Errorf("state dump: twin %d does not decode: %v", i, err)
		}
	}
	if d.City.Events == nil {
		d.City.Events = map[string]json.RawMessage{}
	}
	return &d, nil
}

// RestoreDump writes a dump into a cluster's changelog (creating the topics
// when missing), each twin on the partition its project's events use, so
// that an engine started on the cluster begins with these twins. It refuses
// a cluster whose changelog is not empty unless force is set. It returns the
// partition count used.
func RestoreDump(ctx context.Context, brokers []string, topics Topics, opts TopicOptions, d *Dump, force bool) (int32, error) {
	if topics.Prefix == "" {
		topics = DefaultTopics()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("sitetwin-restore"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	n, err := EnsureTopics(ctx, adm, topics, opts)
	if err != nil {
		return 0, err
	}
	ends, err := adm.ListEndOffsets(ctx, topics.State())
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", topics.State(), err)
	}
	var held int64
	ends.Each(func(o kadm.ListedOffset) { held += max(o.Offset, 0) })
	if held > 0 && !force {
		return 0, fmt.Errorf("%w (%d records in %s); restore into an empty cluster, or pass --force to write over it", ErrStateNotEmpty, held, topics.State())
	}
	header := []kgo.RecordHeader{{Key: HeaderStateVersion, Value: []byte(StateVersion)}}
	var recs []*kgo.Record
	for _, raw := range d.Twins {
		// written in the form the engine writes (checked by DecodeDump)
		p, err := twin.DecodeSnapshot(raw)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", errBadSnapshot, err)
		}
		b, err := p.AppendSnapshot(nil)
		if err != nil {
			return 0, err
		}
		recs = append(recs, &kgo.Record{Topic: topics.State(), Partition: Partition(p.ID, n), Key: []byte(p.ID), Value: b, Headers: header})
	}
	meta, err := json.Marshal(partitionRecord{Version: 1, City: d.City})
	if err != nil {
		return 0, err
	}
	for q := range n {
		recs = append(recs, &kgo.Record{Topic: topics.State(), Partition: q, Key: []byte(partitionKey), Value: meta, Headers: header})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("write %s: %w", topics.State(), err)
	}
	return n, nil
}
