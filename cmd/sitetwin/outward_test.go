package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// outwardStream is the input of the outbox test: projects registered,
// planned with four milestones, each completed and accepted, with nothing
// to hold their disbursement; the last project's acceptances belong to a
// drill.
func outwardStream(projects int) ([]*twin.Event, map[string]float64) {
	now := time.Now().UTC().Truncate(time.Second)
	t0 := now.Add(-3 * time.Hour)
	tomorrow := now.Add(48 * time.Hour)
	start := twin.DateWhen(tomorrow.Year(), tomorrow.Month(), tomorrow.Day())
	finish := twin.DateWhen(tomorrow.Year()+2, tomorrow.Month(), 1)
	want := map[string]float64{}
	var evs []*twin.Event
	for i := range projects {
		id := fmt.Sprintf("OB-%03d", i)
		at := func(min int) time.Time { return t0.Add(time.Duration(i*10+min) * time.Second) }
		ev := func(suffix, typ string, min int, d twin.Data) *twin.Event {
			return &twin.Event{ID: id + "-" + suffix, Type: typ, Source: "test/outward", Time: at(min), Project: id, Data: d}
		}
		evs = append(evs, ev("reg", twin.TypeProjectRegistered, 0, &twin.ProjectRegistered{
			Name: "Outbox Test Tower " + id, District: "Futian", Kind: "housing", Owner: "owner-" + id, Contractor: "cscec", Supervisor: "jianli",
			BudgetCNY: 1e8 * float64(i+1), PlannedStart: start, PlannedFinish: finish,
			Address: fmt.Sprintf("Shennan Blvd %d, Futian", 1000+i), PermitNumber: fmt.Sprintf("4403042026%08d", i),
			SupervisionFilingNumber: "JL-" + id, SafetyFilingNumber: "AQ-" + id,
		}))
		var plan []twin.MilestonePlan
		for m, share := range []float64{0.1, 0.2, 0.3, 0.4} {
			plan = append(plan, twin.MilestonePlan{ID: fmt.Sprintf("M%d", m+1), Name: "stage", OptimisticDays: 10, LikelyDays: 20, PessimisticDays: 30, BudgetShare: share})
		}
		evs = append(evs, ev("plan", twin.TypePlanBaselined, 1, &twin.PlanBaselined{Milestones: plan}))
		for m, share := range []float64{0.1, 0.2, 0.3, 0.4} {
			ms := fmt.Sprintf("M%d", m+1)
			done := ev("done-"+ms, twin.TypeMilestoneCompleted, 2+m, &twin.MilestoneCompleted{Milestone: ms})
			acc := ev("acc-"+ms, twin.TypeAcceptancePassed, 6+m, &twin.AcceptancePassed{Milestone: ms})
			if i == projects-1 {
				done.Drill, acc.Drill = "drill-1", "drill-1"
			} else {
				want[id+"/"+ms] = 1e8 * float64(i+1) * share
			}
			evs = append(evs, done, acc)
		}
	}
	return evs, want
}

type ledgerPayment struct {
	Project   string  `json:"project"`
	Milestone string  `json:"milestone"`
	AmountCNY float64 `json:"amount_cny"`
	Key       string  `json:"idempotency_key"`
	Receipt   string  `json:"receipt"`
}

func fundLedger(addr string) ([]ledgerPayment, error) {
	status, body, err := httpGet("http://" + addr + "/v1/ledger")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/ledger: %d %s", status, body)
	}
	var l struct{ Payments []ledgerPayment }
	return l.Payments, json.Unmarshal(body, &l)
}

// TestOutboxKillNeverPaysTwice: the twins decide disbursements; `sitetwin
// run` drains the outbox to a fund platform (`sitetwin serve funds`) that
// fails a fifth of its requests (some after paying) and answers slowly; the
// run is killed (SIGKILL) while it pays, and restarted. The platform's
// ledger then shows every milestone paid exactly once, the drill's none,
// and the twins show every payment's receipt.
func TestOutboxKillNeverPaysTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const projects = 21
	_, broker := startBrokerProcess(t, "broker")
	fundsAddr, filingAddr := freePort(t), freePort(t)
	funds := startProcess(t, "funds", "serve", "funds", "--listen", fundsAddr, "--latency", "150ms", "--error-rate", "0.2", "--seed", "3")
	filing := startProcess(t, "filing", "serve", "filing", "--listen", filingAddr, "--stage-time", "300ms", "--return-rate", "0", "--error-rate", "0.1")
	funds.waitLog(t, "funds service listening", 30*time.Second)
	filing.waitLog(t, "filing service listening", 30*time.Second)
	evs, want := outwardStream(projects)
	produceStream(t, broker, evs)

	start := func() *engine {
		httpAddr := freePort(t)
		p := startProcess(t, "run", "run", "--brokers", broker, "--http", httpAddr, "--projects", "0", "--stats-every", "0",
			"--instance", "outbox-1", "--session-timeout", "6s", "--funds-url", "http://"+fundsAddr, "--filing-url", "http://"+filingAddr,
			"--send-backoff", "20ms", "--send-attempts", "50", "--send-timeout", "2s")
		return &engine{process: p, http: httpAddr}
	}
	e1 := start()
	e1.waitHealthy(t)
	waitUntil(t, 60*time.Second, func() string {
		l, err := fundLedger(fundsAddr)
		if err != nil || len(l) < 8 {
			return fmt.Sprintf("ledger has %d payments (%v)", len(l), err)
		}
		return ""
	})
	e1.kill(t)
	l, _ := fundLedger(fundsAddr)
	if len(l) >= len(want) {
		t.Fatalf("the kill came too late: %d of %d paid", len(l), len(want))
	}
	t.Logf("killed the run with %d of %d milestones paid", len(l), len(want))
	e2 := start()
	e2.waitHealthy(t)
	waitUntil(t, 90*time.Second, func() string {
		l, err := fundLedger(fundsAddr)
		if err != nil || len(l) < len(want) {
			return fmt.Sprintf("ledger has %d of %d payments (%v)", len(l), len(want), err)
		}
		return ""
	})
	// every twin shows its milestones paid, with the platform's receipts
	receipts := map[string]string{}
	waitUntil(t, 60*time.Second, func() string {
		for i := range projects - 1 {
			id := fmt.Sprintf("OB-%03d", i)
			status, body, err := httpGet("http://" + e2.http + "/api/twins/" + id)
			if err != nil || status != http.StatusOK {
				return fmt.Sprintf("%s: %d %v", id, status, err)
			}
			var v twin.ProjectView
			if err := json.Unmarshal(body, &v); err != nil {
				return err.Error()
			}
			for _, m := range v.Milestones {
				if m.Decision.Status != twin.DisbursementPaid {
					return fmt.Sprintf("%s %s: decision %+v", id, m.ID, m.Decision)
				}
				receipts[id+"/"+m.ID] = m.Decision.Receipt
			}
			if f := v.Filings; len(f) < 2 || f[0].Status != twin.FilingApproved {
				return fmt.Sprintf("%s filings %+v", id, f)
			}
		}
		return ""
	})
	l, err := fundLedger(fundsAddr)
	if err != nil {
		t.Fatal(err)
	}
	paid := map[string]int{}
	for _, p := range l {
		k := p.Project + "/" + p.Milestone
		paid[k]++
		if w, ok := want[k]; !ok || p.AmountCNY != w || receipts[k] != p.Receipt {
			t.Errorf("payment %+v: want %v, the twin's receipt %q", p, w, receipts[k])
		}
	}
	for k := range want {
		if paid[k] != 1 {
			t.Errorf("%s paid %d times", k, paid[k])
		}
	}
	if len(l) != len(want) {
		keys := make([]string, 0, len(paid))
		for k, n := range paid {
			keys = append(keys, fmt.Sprintf("%s×%d", k, n))
		}
		slices.Sort(keys)
		t.Fatalf("ledger has %d payments for %d milestones: %s", len(l), len(want), strings.Join(keys, " "))
	}
	// the drill's milestones were decided in its own namespace: never paid
	// (the engine drops a drill's requests; the sender would skip them)
	if n := paid[fmt.Sprintf("OB-%03d/M1", projects-1)]; n != 0 {
		t.Errorf("the drill's milestone was paid %d times", n)
	}
	if n, err := e2.metric(`sitetwin_outbox_requests_total{kind="disbursement",outcome="accepted"}`); err != nil || n == 0 {
		t.Errorf("accepted disbursements counted %v (%v)", n, err)
	}
}
