package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// binSnapshot writes a twin's binary snapshot; restoreBin reads one back
// the way the engine restores a twin from its changelog.
func binSnapshot(t *testing.T, p *ProjectTwin) []byte {
	t.Helper()
	b, err := p.AppendSnapshot(nil)
	if err != nil {
		t.Fatalf("binary snapshot: %v", err)
	}
	return b
}

func restoreBin(t *testing.T, b []byte) *ProjectTwin {
	t.Helper()
	p, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatalf("decode binary snapshot: %v", err)
	}
	return p
}

// TestSnapshotRestoreMidStream is TestRestoreMidStream through the binary
// form: a twin restored from its binary snapshot after every event of the
// golden scenario (registrations, plans, progress, payments, hazards,
// rainstorms, a typhoon advisory, readings on every sensor) is, field for
// field, the twin it was written from, and fed the rest of the stream ends
// exactly as the twin that was never restored, with the same alerts.
func TestSnapshotRestoreMidStream(t *testing.T) {
	events := scenario()
	straight, want := runScenario(t)
	wantJSON := twinJSON(t, straight)
	p := NewProject(testProject, pack())
	var got []Alert
	for i, e := range events {
		got = append(got, applyOne(t, p, e).Alerts...)
		b := binSnapshot(t, p)
		q := restoreBin(t, b)
		if want, got := twinJSON(t, p), twinJSON(t, q); !bytes.Equal(want, got) {
			t.Fatalf("after event %d (%s) the restored twin differs: %s", i, e.ID, firstDiff(want, got))
		}
		if again := binSnapshot(t, q); !bytes.Equal(b, again) {
			t.Fatalf("after event %d (%s): write/read/write differs", i, e.ID)
		}
		p = q
	}
	if !bytes.Equal(twinJSON(t, p), wantJSON) {
		t.Fatalf("final twin differs: %s", firstDiff(wantJSON, twinJSON(t, p)))
	}
	if !bytes.Equal(alertsJSON(t, got), alertsJSON(t, want)) {
		t.Fatalf("alerts differ:\n%s\n%s", alertSummary(got), alertSummary(want))
	}
	if b := VerifyChain(testProject, p.Audit); b != nil {
		t.Fatalf("restored chain: %v", b)
	}
	// the two forms are read alike, and the binary one is the smaller
	j, b := twinJSON(t, straight), binSnapshot(t, straight)
	if fromJSON, err := DecodeSnapshot(j); err != nil || !bytes.Equal(twinJSON(t, fromJSON), j) {
		t.Fatalf("DecodeSnapshot of the JSON form: %v", err)
	}
	if len(b) >= len(j) {
		t.Errorf("binary snapshot %d B, JSON %d B", len(b), len(j))
	}
	if !bytes.Equal(binSnapshot(t, straight), b) {
		t.Error("the same twin gives different binary snapshots")
	}
}

// TestSnapshotCoversEveryField fills every exported field of a twin, at
// every depth, with a value of its own, and checks that the binary form
// gives each back. It fails when a field is added to a twin's types and
// not to snapshot.go.
func TestSnapshotCoversEveryField(t *testing.T) {
	p := &ProjectTwin{}
	f := filler{t: t}
	f.fill(reflect.ValueOf(p).Elem(), "ProjectTwin")
	// the compact forms have no exported fields: give them content
	for _, s := range p.Sites {
		for _, x := range s.Series {
			x.BucketMS, x.KeepMS = 60_000, 3_600_000
			bs, ok := makeBuckets(
				Bucket{Start: 1_800_000_000_000, N: 1, Sum: 1.5, Min: 1.5, Max: 1.5, FT: 1_800_000_000_000, FV: 1.5, LT: 1_800_000_000_000, LV: 1.5},
				Bucket{Start: 1_800_000_060_000, N: 2, Sum: 72.5, E: 1e7, Min: 2.5, Max: 70, FT: 1_800_000_061_000, FV: 2.5, LT: 1_800_000_062_000, LV: 70},
			)
			if !ok {
				t.Fatal("makeBuckets")
			}
			x.Buckets = bs
		}
	}
	p.Seen.Recent = seenIDsOf(SeenID{H: 7, T: 1_800_000_000_000}, SeenID{H: 9, T: 1_800_000_000_500})
	for k := range p.Seen.Sites {
		p.Seen.Sites[k] = seenIDsOf(SeenID{H: 11, T: 1_800_000_000_700})
	}
	want := twinJSON(t, p)
	got := twinJSON(t, restoreBin(t, binSnapshot(t, p)))
	if !bytes.Equal(want, got) {
		t.Fatalf("a field is lost: %s", firstDiff(want, got))
	}
	// nil and empty lists and maps are told apart
	p.Reasons, p.Milestones, p.Hazards = nil, []*Milestone{}, map[string]*Hazard{}
	q := restoreBin(t, binSnapshot(t, p))
	if q.Reasons != nil || q.Milestones == nil || len(q.Milestones) != 0 || q.Hazards == nil || len(q.Hazards) != 0 {
		t.Fatalf("nil or empty not kept: reasons %#v milestones %#v hazards %#v", q.Reasons, q.Milestones, q.Hazards)
	}
}

// filler sets every exported field it reaches to a value that differs from
// the zero value and from the values before it.
type filler struct {
	t *testing.T
	n int
}

var timeType = reflect.TypeFor[time.Time]()

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(f.n)*time.Minute + time.Duration(f.n))))
		return
	case v.Type() == reflect.TypeFor[Level]():
		v.Set(reflect.ValueOf(LevelWarn))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.SetBytes([]byte(fmt.Sprintf(`{"n":%d}`, f.n)))
		return
	case v.Type() == reflect.TypeFor[When]():
		w, _ := ParseWhen(time.Date(2026, 2, 1, 0, f.n, 0, 0, time.UTC).Format(time.RFC3339))
		v.Set(reflect.ValueOf(w))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.n) + 0.25)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			f.fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k, path+".key")
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, fmt.Sprintf("%s[%d]", path, i))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			f.fill(v.Field(i), path+"."+sf.Name)
		}
	case reflect.Interface:
		// none in a twin's types today
		f.t.Fatalf("%s: an interface field: teach the filler and the snapshot about it", path)
	default:
		f.t.Fatalf("%s: a %s field: teach the filler about it", path, v.Kind())
	}
}

// TestSnapshotRejects: a binary snapshot cut short anywhere, with bytes
// left over, or of an unknown version, is refused with an error, never a
// panic and never a twin.
func TestSnapshotRejects(t *testing.T) {
	p, _ := runScenario(t)
	b := binSnapshot(t, p)
	for n := len(snapshotMagic); n < len(b); n++ {
		if _, err := DecodeSnapshot(b[:n]); err == nil {
			t.Fatalf("cut at %d of %d: decoded", n, len(b))
		}
	}
	if _, err := DecodeSnapshot(append(bytes.Clone(b), 0)); !errors.Is(err, errCodec) || !strings.Contains(err.Error(), "left over") {
		t.Fatalf("a byte left over: %v", err)
	}
	future := bytes.Clone(b)
	future[len(snapshotMagic)] = snapshotV1 + 1
	if _, err := DecodeSnapshot(future); !errors.Is(err, errCodec) || !strings.Contains(err.Error(), "unknown version") {
		t.Fatalf("a newer version: %v", err)
	}
	if _, err := DecodeSnapshot([]byte("not a snapshot")); err == nil {
		t.Fatal("garbage decoded")
	}
}

// FuzzDecodeSnapshot: the snapshot decoder never panics nor allocates
// without bound on any input, and what it accepts it writes back to bytes
// that read back to the same twin.
func FuzzDecodeSnapshot(f *testing.F) {
	tw := &testing.T{}
	p, _ := runScenario(tw)
	f.Add(mustSnapshot(p))
	small := NewProject(testProject, pack())
	f.Add(mustSnapshot(small))
	f.Add([]byte(snapshotMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeSnapshot(data)
		if err != nil {
			return
		}
		b, err := p.AppendSnapshot(nil)
		if err != nil {
			return // e.g. a JSON part that json.Marshal refuses (NaN)
		}
		q, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("re-read of a written snapshot: %v", err)
		}
		again, err := q.AppendSnapshot(nil)
		if err != nil || !bytes.Equal(b, again) {
			t.Fatalf("write/read/write differs (%v)", err)
		}
	})
}

func mustSnapshot(p *ProjectTwin) []byte {
	b, err := p.AppendSnapshot(nil)
	if err != nil {
		panic(err)
	}
	return b
}

// TestSnapshotOnlyReads: writing a snapshot only reads the twin, so it
// may run while other goroutines read the twin or its views (the engine's
// checkpoint beside the dashboard's JSON of a view that shares the twin's
// lists); under -race this fails if the codec stores into the twin while
// writing.
func TestSnapshotOnlyReads(t *testing.T) {
	p := &ProjectTwin{}
	(&filler{t: t}).fill(reflect.ValueOf(p).Elem(), "ProjectTwin")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if _, err := json.Marshal(p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		binSnapshot(t, p)
	}
	<-done
}
