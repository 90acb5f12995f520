package streams

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRestoreNeedsStableOffsets makes the broker answer the restore's
// request for the inputs' stable offsets with an error for every
// partition: the restore must fail (startWorkers tries it again) rather
// than build workers that take the inputs as read to their ends, which
// would let the merge apply one topic's records before another's earlier
// ones. Once the broker answers, the workers know every input's end.
func TestRestoreNeedsStableOffsets(t *testing.T) {
	b := startBroker(t)
	publish := publisher(t, b.Addr())
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	publish(registration(t, "P-1", at)...)

	e, err := NewEngine(EngineConfig{Brokers: []string{b.Addr()}, Group: "stable-offsets", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.boot, e.adm = boot, kadm.NewClient(boot)
	if e.partitions, err = e.ensureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	parts := make([]int32, e.partitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	// as startWorkers does: again until it succeeds (the admin client may
	// not know the topics just created yet)
	var ws map[int32]*worker
	restored := func() bool {
		ws, err = e.restore(ctx, parts)
		return err == nil
	}
	waitFor(t, "a first restore", restored)

	// The first read-committed ListOffsets of the inputs (their stable
	// offsets) fails for every partition; the control is dropped once it
	// has answered.
	failed := make(chan struct{}, 1)
	b.cluster.ControlKey(int16(kmsg.ListOffsets), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ListOffsetsRequest)
		if req.IsolationLevel != 1 || !slices.ContainsFunc(req.Topics, func(rt kmsg.ListOffsetsRequestTopic) bool {
			return slices.Contains(e.inputs, rt.Topic)
		}) {
			return nil, nil, false // the changelog's, or the start offsets
		}
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		failed <- struct{}{}
		return resp, nil, true
	})
	_, err = e.restore(ctx, parts)
	t.Logf("restore while the stable offsets fail: %v", err)
	if err == nil || !strings.Contains(err.Error(), "no stable offset") {
		t.Fatalf("restore with no stable offsets: %v, want an error saying so", err)
	}
	select {
	case <-failed:
	default:
		t.Fatal("the broker was not asked for the stable offsets")
	}

	waitFor(t, "a restore once the broker answers", restored)
	stable, err := e.adm.ListCommittedOffsets(ctx, e.inputs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		for i, topic := range e.inputs {
			at := p
			if i == e.cityIdx() {
				at = e.cityPartition() // the city stream is read from its one partition
			}
			l, _ := stable.Lookup(topic, at)
			if got := ws[p].end[i]; got != l.Offset {
				t.Errorf("partition %d, %s: end %d, want the stable offset %d", p, topic, got, l.Offset)
			}
		}
	}
}
