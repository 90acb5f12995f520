package twin

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fastSeeds returns the event examples, their encodings, the FuzzDecode
// corpus, and variants of a sensor reading that the fast path must leave
// to encoding/json (or read exactly as it does).
func fastSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, typ := range Types() {
		b, err := os.ReadFile(filepath.Join("testdata", "events", typ+".json"))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
		if e, err := decodeGeneral(b); err == nil {
			enc, err := Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, enc)
		}
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	for _, f := range corpus {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
					seeds = append(seeds, []byte(s))
				}
			}
		}
	}
	for _, v := range readingVariants {
		seeds = append(seeds, []byte(plainReading), []byte(v.text()))
	}
	return seeds
}

const plainReading = `{"specversion":"1.0","id":"r-1","type":"sensor.reading","source":"gw/1","time":"2026-06-12T03:18:00Z","project":"P1","site":"S1","data":{"kind":"pm10","value":168,"unit":"µg/m³"}}`

// readingVariants change plainReading in one place; fast says whether the
// fast path reads the result itself.
type readingVariant struct {
	old, new string
	fast     bool
}

var readingVariants = []readingVariant{
	{`"id":"r-1"`, `"ID":"r-1"`, false},                                         // another case: encoding/json matches it
	{`"id":"r-1"`, `"id":"r-0","id":"r-1"`, false},                              // repeated: the last wins
	{`"id":"r-1"`, `"id":"r\u002d1"`, false},                                    // an escape
	{`"id":"r-1"`, `"id":null`, false},                                          // null
	{`"id":"r-1"`, `"id":"r-1","ext":{"a":[1,2]}`, false},                       // an extension attribute
	{`"value":168`, `"value":1e400`, false},                                     // out of range
	{`"value":168`, `"value":0168`, false},                                      // invalid number
	{`"value":168`, `"value":"168"`, false},                                     // a string for a number
	{`"unit":"µg/m³"`, `"unit":"µg/m³","Unit":"mg/m³"`, false},                  // a later key in another case
	{`"site":"S1"`, "\"site\":\"S\xff1\"", false},                               // invalid UTF-8
	{`"data":{`, `"data":{"kind":"pm10","value":1,"unit":"%"},"data":{`, false}, // repeated data
	{`}}`, `}}}`, false},                                                        // trailing data
	{`"value":168`, `"value":-0.0e-0`, true},                                    // odd but valid
	{`}}`, "}} \n", true},                                                       // trailing whitespace
	{`{"spec`, "\t{\"spec", true},                                               // leading whitespace
}

func (v readingVariant) text() string { return strings.Replace(plainReading, v.old, v.new, 1) }

// FuzzDecodeFast checks the fast path against encoding/json: whatever
// decodeFast accepts, decodeGeneral must accept too and decode to the same
// event.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := decodeFast(b)
		if !ok {
			return
		}
		g, err := decodeGeneral(b)
		if err != nil {
			t.Fatalf("the fast path accepts what encoding/json rejects (%v):\n%q", err, b)
		}
		if !reflect.DeepEqual(e, g) {
			t.Fatalf("the paths differ:\nfast    %#v %#v\ngeneral %#v %#v\n%q", e, e.Data, g, g.Data, b)
		}
	})
}

// TestDecodeFastTaken checks that the shapes runtimes meet take the fast
// path: every event as Encode writes it, and a sensor reading as gateways
// write one, with whitespace and fields in another order.
func TestDecodeFastTaken(t *testing.T) {
	for _, typ := range Types() {
		b, err := os.ReadFile(filepath.Join("testdata", "events", typ+".json"))
		if err != nil {
			t.Fatal(err)
		}
		e, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeFast(enc); !ok {
			t.Errorf("%s as Encode writes it takes the general path:\n%s", typ, enc)
		}
	}
	gateway := []byte(`{
  "data": { "value": 12.5e0, "unit": "kn", "kind": "wind_speed", "equipment": "TC1" },
  "time": "2026-06-12T11:18:00.250+08:00", "type": "sensor.reading", "specversion": "1.0",
  "id": "gw-7", "source": "iot/7", "project": "P1", "site": "S1", "datacontenttype": "application/json"
}`)
	e, ok := decodeFast(gateway)
	if !ok {
		t.Fatal("a gateway's reading takes the general path")
	}
	want := &Event{ID: "gw-7", Type: TypeSensorReading, Source: "iot/7", Project: "P1", Site: "S1",
		Time: time.Date(2026, 6, 12, 3, 18, 0, 250e6, time.UTC),
		Data: &SensorReading{Kind: SensorWindSpeed, Value: 12.5 * 0.514444, Unit: "m/s", Equipment: "TC1"}}
	if diff := equalEvents(e, want); diff != "" {
		t.Fatal(diff)
	}
}

// TestDecodeFastLeaves checks that the fast path gives up on each shape it
// does not read itself, so that encoding/json's reading stands, and reads
// the valid odd ones.
func TestDecodeFastLeaves(t *testing.T) {
	if _, ok := decodeFast([]byte(plainReading)); !ok {
		t.Fatalf("the plain reading takes the general path: %s", plainReading)
	}
	for _, v := range readingVariants {
		b := v.text()
		if b == plainReading {
			t.Fatalf("variant %q does not apply", v.new)
		}
		if _, ok := decodeFast([]byte(b)); ok != v.fast {
			t.Errorf("fast path taken %v, want %v: %q", ok, v.fast, b)
		}
	}
}
