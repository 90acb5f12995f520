package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/streams"
)

// TestReplayAndAuditVerify replays a recorded history into a running
// sitetwin, then verifies the audit chains it produced, and a tampered copy.
func TestReplayAndAuditVerify(t *testing.T) {
	a := startTestApp(t, func(c *runConfig) { c.Projects = 0 })
	base := "http://" + a.HTTPAddr
	dir := t.TempDir()
	history := filepath.Join(dir, "history.ndjson")
	ev := func(id, typ, at, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","type":"` + typ + `","source":"fund-svc","time":"` + at + `","project":"P-050","data":` + data + `}`
	}
	lines := []string{
		ev("r1", "project.registered", "2026-10-01T01:00:00Z", `{"name":"Longgang Depot","district":"Longgang","kind":"transport","owner":"O-5","contractor":"C-5","supervisor":"S-5","budget_cny":4e8,"planned_start":"2026-10-01","planned_finish":"2028-03-31"}`),
		``,
		ev("d1", "funds.disbursed", "2026-10-20T02:00:00Z", `{"amount_cny":2000000,"milestone":"M1"}`),
		`this is not json`,
		ev("d2", "funds.disbursed", "2026-10-25T02:00:00Z", `{"amount_cny":3000000,"milestone":"M1"}`),
		ev("w1", "wages.paid", "2026-10-28T02:00:00Z", `{"amount_cny":900000,"period":"2026-10"}`),
		strings.Replace(ev("x1", "funds.disbursed", "2026-10-29T02:00:00Z", `{}`), "funds.disbursed", "funds.stolen", 1),
		ev("d1", "funds.disbursed", "2026-10-20T02:00:00Z", `{"amount_cny":2000000,"milestone":"M1"}`), // recorded twice: counts once
	}
	if err := os.WriteFile(history, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := cli(context.Background(), []string{"replay", history, "--brokers", a.KafkaAddr}, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("replay exit %d: %s %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "replayed 5 events") || !strings.Contains(out.String(), "2 lines could not be routed") {
		t.Errorf("replay output: %s", out.String())
	}
	if !strings.Contains(errOut.String(), "history.ndjson:4") || !strings.Contains(errOut.String(), `unknown event type "funds.stolen"`) {
		t.Errorf("replay did not name the bad lines: %s", errOut.String())
	}

	eventually(t, func() string {
		v, ok := getTwin(t, base, "P-050")
		if !ok || v.Funds.DisbursedCNY != 5e6 || v.AuditLength != 3 {
			return "replayed payments not yet applied"
		}
		return ""
	})
	v, _ := getTwin(t, base, "P-050")
	if v.Duplicates != 1 {
		t.Errorf("duplicates %d, want 1 (d1 recorded twice)", v.Duplicates)
	}

	// The two unroutable lines are on the dead-letter topic with reasons.
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr), kgo.ConsumeTopics(streams.DefaultTopics().DeadLetter()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var reasons []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(reasons) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == streams.HeaderError {
					reasons = append(reasons, string(h.Value))
				}
			}
		})
	}
	if len(reasons) != 2 || !strings.Contains(strings.Join(reasons, "|"), "malformed event") {
		t.Errorf("dead letters: %q", reasons)
	}

	// audit verify against the running sitetwin
	out.Reset()
	if code := cli(context.Background(), []string{"audit", "verify", "--url", base}, &out, &out, func(string) string { return "" }); code != 0 {
		t.Fatalf("audit verify exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "P-050: 3 records, chain intact") || !strings.Contains(out.String(), "1 chains verified, 0 broken") {
		t.Errorf("audit verify output: %s", out.String())
	}

	// a saved chain, edited after the fact
	_, body := getBody(t, base+"/api/twins/P-050/audit")
	var saved map[string]any
	if err := json.Unmarshal(body, &saved); err != nil {
		t.Fatal(err)
	}
	saved["records"].([]any)[1].(map[string]any)["amount_cny"] = 30000000
	tampered, _ := json.Marshal(saved)
	file := filepath.Join(dir, "chain.json")
	if err := os.WriteFile(file, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code := cli(context.Background(), []string{"audit", "verify", "--file", file}, &out, &out, func(string) string { return "" })
	if code != 1 || !strings.Contains(out.String(), "P-050: BROKEN at record 1 (seq 2)") || !strings.Contains(out.String(), "the record was edited") {
		t.Fatalf("tampered chain: exit %d: %s", code, out.String())
	}
}
