package statefun_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/twin"
)

// FuzzDecodeIngress: whatever bytes and value type arrive, DecodeIngress
// returns an event or an *IngressError with a class and a reason, never
// panics, and an event it accepts encodes and decodes to itself.
func FuzzDecodeIngress(f *testing.F) {
	good := `{"specversion":"1.0","id":"k1","type":"sensor.reading","source":"gw","time":"2026-11-20T03:00:00Z","project":"P-007","site":"P-007-S1","data":{"kind":"noise","value":95,"unit":"dB(A)"}}`
	city := `{"specversion":"1.0","id":"r1","type":"rainfall.warning","source":"szmb","time":"2026-06-12T07:25:00Z","project":"*","data":{"level":"orange","issued":"2026-06-12T07:20:00Z","valid_until":"2026-06-12T13:00:00Z","district":"Nanshan"}}`
	for _, seed := range []struct{ typename, value string }{
		{statefun.IngressTypeName("sensor"), good},
		{statefun.IngressTypeName("payment"), good},
		{statefun.EventTypeName, good},
		{statefun.IngressTypeName("weather"), city},
		{"io.statefun.types/string", "\x0a\x03abc"},
		{statefun.EventTypeName + ".", good},
		{statefun.IngressTypeName("sensor"), ""},
		{statefun.IngressTypeName("sensor"), "null"},
		{statefun.IngressTypeName("sensor"), "\xff\xfe{"},
		{statefun.IngressTypeName("sensor"), `{"specversion":"1.0"} trailing`},
		{statefun.IngressTypeName("sensor"), `{"specversion":"1.0","id":"x","type":"sensor.reading","source":"s","time":"9999-01-01T00:00:00Z","project":"P","site":"S","data":{}}`},
	} {
		f.Add(seed.typename, []byte(seed.value))
	}
	f.Fuzz(func(t *testing.T, typename string, value []byte) {
		ev, err := statefun.DecodeIngress(typename, value, "sitetwin")
		if err != nil {
			var ie *statefun.IngressError
			if !errors.As(err, &ie) || ie.Class == "" || ie.Reason == "" || !utf8.ValidString(ie.Class) {
				t.Fatalf("error %T %v: want an *IngressError with class and reason", err, err)
			}
			if ev != nil {
				t.Fatal("an event and an error")
			}
			return
		}
		b, err := twin.Encode(ev)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		again, err := statefun.DecodeIngress(statefun.EventTypeName, b, "sitetwin")
		if err != nil || again.ID != ev.ID || again.Type != ev.Type || again.Project != ev.Project || !again.Time.Equal(ev.Time) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
