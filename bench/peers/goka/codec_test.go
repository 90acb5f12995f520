package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// A project's value is the twin's binary snapshot, the changelog's, and decodes to an equal twin; the city's value decodes to the
// city state; neither is mistaken for the other.
func TestTableCodec(t *testing.T) {
	rules := twin.DefaultRules()
	p := twin.NewProject("P-1", rules)
	when := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	reg := &twin.Event{ID: "reg-P-1", Type: twin.TypeProjectRegistered, Source: "test", Time: when, Project: "P-1",
		Data: &twin.ProjectRegistered{Name: "P one", District: "Nanshan", Kind: "housing", Owner: "O-1", Contractor: "C-1", Supervisor: "S-1",
			BudgetCNY: 5e8, PlannedStart: twin.TimeWhen(when), PlannedFinish: twin.TimeWhen(when.AddDate(1, 0, 0))}}
	if _, err := twin.Apply(p, reg, rules); err != nil {
		t.Fatal(err)
	}
	c := tableCodec{}
	b, err := c.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	snapshot, _ := p.AppendSnapshot(nil) // what the engine's checkpoint writes
	if !bytes.Equal(b, snapshot) {
		t.Fatalf("twin encodes as\n%q\nnot as the changelog's snapshot\n%q", b, snapshot)
	}
	if bytes.HasPrefix(b, cityPrefix) {
		t.Fatalf("a twin's encoding starts with the city prefix: %.40s", b)
	}
	v, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	back, ok := v.(*twin.ProjectTwin)
	if !ok {
		t.Fatalf("decoded a %T", v)
	}
	if want, got := jsonOf(p), jsonOf(back); !bytes.Equal(want, got) {
		t.Fatalf("twin changed in a round trip:\n%s\n%s", want, got)
	}

	st := &cityState{Projects: []string{"P-1", "P-2"}, Events: map[string]json.RawMessage{"rainfall.warning": json.RawMessage(`{"id":"r"}`)}, Order: []string{"rainfall.warning"}}
	b, err = c.Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	v, err = c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := v.(*cityState)
	if !ok || len(got.Projects) != 2 || string(got.Events["rainfall.warning"]) != `{"id":"r"}` || got.Order[0] != "rainfall.warning" {
		t.Fatalf("city state came back as %#v", v)
	}

	if _, err := c.Encode("a string"); err == nil {
		t.Fatal("encoding a string: no error")
	}
	for _, bad := range []string{`{"city":`, `{"id":`, `nonsense`} {
		if _, err := c.Decode([]byte(bad)); err == nil {
			t.Errorf("decoding %q: no error", bad)
		}
	}
}

func jsonOf(p *twin.ProjectTwin) []byte {
	b, _ := json.Marshal(p)
	return b
}
