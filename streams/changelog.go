package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionKey is the changelog key of a partition's own record (its
// city-wide events and the records it fetched but has not applied yet). '~'
// cannot occur in a project id.
const partitionKey = "~partition"

// partitionRecord is the changelog record of one partition number besides
// its twins. It is written in the same transaction as the twins and the
// consumed offsets.
type partitionRecord struct {
	Version int       `json:"version"`
	City    cityState `json:"city"`
	// Waiting names the input records fetched and covered by the committed
	// offsets but not applied yet (they wait for the other topics of the
	// partition, see worker.drain): a restore reads them again from their
	// topics. Only their offsets are kept here, so that the record stays
	// small however many wait.
	Waiting []waitingRange `json:"waiting,omitempty"`
	// CityNext is the offset of the city stream (see city.go) at which the
	// partition resumes: its first record not applied yet. Absent in
	// records of earlier versions: the stream's start.
	CityNext *int64 `json:"city_next,omitempty"`
	// Pending holds waiting records themselves, as earlier versions wrote
	// them; read, never written.
	Pending []storedRecord `json:"pending,omitempty"`
}

// waitingRange says which records of an input topic wait: every record
// (not control records, not aborted ones) from offset From up to To, where
// To is the position the committed offset of the topic's partition records.
type waitingRange struct {
	Topic   string `json:"topic"`
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Records int    `json:"records"`
}

// storedRecord is an input record kept in the changelog by earlier
// versions, which kept the waiting records themselves there.
type storedRecord struct {
	Topic     string         `json:"topic"`
	Partition int32          `json:"partition"`
	Offset    int64          `json:"offset"`
	Key       []byte         `json:"key,omitempty"`
	Value     []byte         `json:"value"`
	Headers   []storedHeader `json:"headers,omitempty"`
	Timestamp int64          `json:"timestamp_ms"`
}

type storedHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

func (s *storedRecord) record() *kgo.Record {
	r := &kgo.Record{
		Topic: s.Topic, Partition: s.Partition, Offset: s.Offset, Key: s.Key, Value: s.Value,
		Timestamp: time.UnixMilli(s.Timestamp).UTC(),
	}
	for _, h := range s.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// ChangelogPartition is the committed content of one changelog partition:
// the latest snapshot of every twin and the partition's own record.
type ChangelogPartition struct {
	Twins map[string][]byte // latest snapshot by twin id (a delta applied to its base, see delta.go)
	Meta  []byte            // latest partition record, nil when none
	// Deltas names the twins whose snapshot came from a base and a delta:
	// the delta record stands until a base replaces it.
	Deltas map[string]bool
}

// errBadSnapshot is wrapped when a changelog record does not decode:
// retrying cannot help.
var errBadSnapshot = errors.New("bad twin snapshot")

// ReadChangelog reads the committed content of changelog partitions: from
// their start to their last stable offset, with read-committed isolation, so
// that the records of aborted or still open transactions are not seen. A
// record with no value deletes its key. It returns one entry per partition.
func ReadChangelog(ctx context.Context, brokers []string, clientID, topic string, partitions []int32) (map[int32]*ChangelogPartition, error) {
	out := make(map[int32]*ChangelogPartition, len(partitions))
	for _, p := range partitions {
		out[p] = &ChangelogPartition{Twins: map[string][]byte{}, Deltas: map[string]bool{}}
	}
	// the offset of each key's latest record, by partition: a delta older
	// than its twin's base is stale (see combineDeltas)
	keyOffsets := make(map[int32]map[string]int64, len(partitions))
	boot, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(clientID), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer boot.Close()
	adm := kadm.NewClient(boot)
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list changelog stable offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list changelog start offsets: %w", err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	for _, p := range partitions {
		end, ok := stable.Lookup(topic, p)
		if !ok || end.Err != nil {
			return nil, fmt.Errorf("changelog partition %d: no stable offset yet", p)
		}
		begin, ok := starts.Lookup(topic, p)
		if !ok || begin.Err != nil {
			return nil, fmt.Errorf("changelog partition %d: no start offset yet", p)
		}
		if end.Offset > begin.Offset {
			want[p] = end.Offset
			offsets[p] = kgo.NewOffset().At(begin.Offset)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(clientID),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64<<20),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("changelog partition %d: %w", p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			target, ok := want[r.Partition]
			if !ok || r.Offset >= target {
				return // past the stable offset when read: not ours to read yet
			}
			if !r.Attrs.IsControl() {
				cp := out[r.Partition]
				key := string(r.Key)
				switch {
				case key == partitionKey:
					cp.Meta = r.Value
				case r.Value == nil:
					delete(cp.Twins, key)
				default:
					cp.Twins[key] = r.Value
					if keyOffsets[r.Partition] == nil {
						keyOffsets[r.Partition] = map[string]int64{}
					}
					keyOffsets[r.Partition][key] = r.Offset
				}
			}
			if r.Offset+1 >= target {
				delete(want, r.Partition)
			}
		})
	}
	for p, cp := range out {
		if err := cp.combineDeltas(keyOffsets[p]); err != nil {
			return nil, fmt.Errorf("changelog partition %d: %w", p, err)
		}
	}
	return out, nil
}

// combineDeltas replaces each twin's base and delta by the snapshot they
// make. A delta written before its twin's base (the process stopped between
// the base and the delete of the old delta, without a transaction) is
// dropped; a delta without a base, or one that does not apply, is an error.
func (cp *ChangelogPartition) combineDeltas(offsets map[string]int64) error {
	for key, delta := range cp.Twins {
		id, ok := strings.CutSuffix(key, deltaSuffix)
		if !ok {
			continue
		}
		delete(cp.Twins, key)
		base, ok := cp.Twins[id]
		if !ok {
			return fmt.Errorf("%w: twin %s: a delta without its base", errBadSnapshot, id)
		}
		if offsets[key] < offsets[id] {
			continue
		}
		full, err := applyDelta(base, delta)
		if err != nil {
			return fmt.Errorf("%w: twin %s: %v", errBadSnapshot, id, err)
		}
		cp.Twins[id] = full
		cp.Deltas[id] = true
	}
	return nil
}

// readWaiting reads again the input records that partitions were waiting
// on at their last commit (see partitionRecord.Waiting), with read-committed
// isolation, so that it sees what the engine saw when it fetched them. It
// returns them by partition and topic, in offset order.
func readWaiting(ctx context.Context, brokers []string, clientID string, waiting map[int32][]waitingRange) (map[int32]map[string][]*kgo.Record, error) {
	out := make(map[int32]map[string][]*kgo.Record, len(waiting))
	offsets := map[string]map[int32]kgo.Offset{}
	want := map[string]map[int32]int64{}
	for p, ranges := range waiting {
		out[p] = map[string][]*kgo.Record{}
		for _, r := range ranges {
			if r.From >= r.To {
				continue
			}
			if offsets[r.Topic] == nil {
				offsets[r.Topic], want[r.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			offsets[r.Topic][p], want[r.Topic][p] = kgo.NewOffset().At(r.From), r.To
		}
	}
	if len(offsets) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(clientID),
		kgo.ConsumePartitions(offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// the last offset of a range is often a commit marker
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	left := 0
	for _, ps := range want {
		left += len(ps)
	}
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("waiting records of %s/%d: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			to, ok := want[r.Topic][r.Partition]
			if !ok || r.Offset >= to {
				return
			}
			if !r.Attrs.IsControl() {
				out[r.Partition][r.Topic] = append(out[r.Partition][r.Topic], r)
			}
			if r.Offset+1 >= to {
				delete(want[r.Topic], r.Partition)
				left--
			}
		})
	}
	return out, nil
}

// decodeMeta decodes a partition record (nil: an empty one).
func decodeMeta(b []byte) (*partitionRecord, error) {
	m := &partitionRecord{Version: 1, City: cityState{Events: map[string]json.RawMessage{}}}
	if b == nil {
		return m, nil
	}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: partition record: %v", errBadSnapshot, err)
	}
	if m.City.Events == nil {
		m.City.Events = map[string]json.RawMessage{}
	}
	return m, nil
}

// sortedPartitions returns the keys of a partition map in order.
func sortedPartitions[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
