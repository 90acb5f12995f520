package twin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func alertsJSON(t *testing.T, as []Alert) []byte {
	t.Helper()
	b, err := json.Marshal(as)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeterminism: the same events give byte-identical twins and alerts.
func TestDeterminism(t *testing.T) {
	p1, a1 := runScenario(t)
	p2, a2 := runScenario(t)
	if !bytes.Equal(twinJSON(t, p1), twinJSON(t, p2)) {
		t.Fatal("two runs of the same events give different twins")
	}
	if !bytes.Equal(alertsJSON(t, a1), alertsJSON(t, a2)) {
		t.Fatal("two runs of the same events give different alerts")
	}
	// marshal -> unmarshal -> marshal is the identity
	b := twinJSON(t, p1)
	if again := twinJSON(t, restore(t, b)); !bytes.Equal(b, again) {
		t.Fatalf("marshal/unmarshal/marshal differs at %s", firstDiff(b, again))
	}
	if b := VerifyChain(testProject, restore(t, b).Audit); b != nil {
		t.Fatalf("restored chain: %v", b)
	}
}

// TestRestoreMidStream is what the changelog restore relies on: a twin
// restored from its JSON at any point of the stream, fed the rest, ends in
// exactly the same state with exactly the same alerts (de-duplication
// memory, clocks, hysteresis and sequence numbers included).
func TestRestoreMidStream(t *testing.T) {
	events := scenario()
	straight, want := runScenario(t)
	wantJSON := twinJSON(t, straight)

	t.Run("restored after every event", func(t *testing.T) {
		p := NewProject(testProject, pack())
		var got []Alert
		for i, e := range events {
			got = append(got, applyOne(t, p, e).Alerts...)
			b := twinJSON(t, p)
			p = restore(t, b)
			if again := twinJSON(t, p); !bytes.Equal(b, again) {
				t.Fatalf("after event %d (%s) the restored twin differs: %s", i, e.ID, firstDiff(b, again))
			}
		}
		if !bytes.Equal(twinJSON(t, p), wantJSON) {
			t.Fatalf("final twin differs: %s", firstDiff(wantJSON, twinJSON(t, p)))
		}
		if !bytes.Equal(alertsJSON(t, got), alertsJSON(t, want)) {
			t.Fatalf("alerts differ:\n%s\n%s", alertSummary(got), alertSummary(want))
		}
	})
	t.Run("restored once, then the whole stream redelivered", func(t *testing.T) {
		// A runtime that restores from an older checkpoint sees events it
		// already applied again: they must all be recognised as duplicates
		// (readings within the horizon) or change nothing.
		for _, cut := range []int{len(events) / 3, len(events) / 2, len(events) - 5} {
			p := NewProject(testProject, pack())
			var got []Alert
			for _, e := range events[:cut] {
				got = append(got, applyOne(t, p, e).Alerts...)
			}
			p = restore(t, twinJSON(t, p))
			for _, e := range events[cut:] {
				got = append(got, applyOne(t, p, e).Alerts...)
			}
			if !bytes.Equal(twinJSON(t, p), wantJSON) || !bytes.Equal(alertsJSON(t, got), alertsJSON(t, want)) {
				t.Fatalf("cut at %d: the restored twin ends differently", cut)
			}
		}
	})
	t.Run("replaying the tail is a no-op for payments and records", func(t *testing.T) {
		p := restore(t, wantJSON)
		for _, e := range events[len(events)-40:] {
			eff := applyOne(t, p, e)
			if len(eff.Alerts)+len(eff.Audit)+len(eff.Outbound) != 0 {
				t.Fatalf("replayed %s produced %+v", e.ID, eff)
			}
		}
		if !reflect.DeepEqual(p.Funds, straight.Funds) || len(p.Audit) != len(straight.Audit) {
			t.Fatal("replay changed funds or the audit chain")
		}
	})
}
