package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The tests run on the Shenzhen pack, project P1 in Nanshan district, site
// S1 with tower crane TC1 (60 m) and foundation pit PIT1, in 2026. Times are
// written in UTC; Asia/Shanghai is UTC+8, so local 22:00 is 14:00Z.

const (
	testProject = "P1"
	testSite    = "S1"
)

func pack() *Rules { return DefaultRules() }

// ts parses an RFC 3339 time of a test table; a typo fails the test binary.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// mkEvent builds an event of P1 (or project, when not empty).
func mkEvent(id, typ, when, site string, d Data) *Event {
	return &Event{ID: id, Type: typ, Source: "test/" + StreamOf(typ), Time: ts(when), Project: testProject, Site: site, Data: d}
}

// Builders for the events the tests use most. Ids are derived from the
// arguments, so that a table can repeat a builder without clashing ids.

func registered(when string) *Event {
	return mkEvent("reg-"+when, TypeProjectRegistered, when, "", &ProjectRegistered{
		Name: "Qianhai Talent Housing Phase II", District: "Nanshan", Kind: "housing",
		Owner: "sz-housing-bureau", Contractor: "cscec-3b", Supervisor: "sz-jianli",
		BudgetCNY:    860_000_000,
		PlannedStart: DateWhen(2026, 3, 1), PlannedFinish: DateWhen(2027, 12, 31),
	})
}

func siteAdded(when, site, terrain string) *Event {
	return mkEvent("site-"+site+"-"+when, TypeSiteAdded, when, site, &SiteAdded{Name: "Block " + site, Lat: 22.5329, Lon: 113.8976, Terrain: terrain})
}

func craneInstalled(when, id string, heightM, limitMS float64) *Event {
	return mkEvent("eq-"+id+"-"+when, TypeEquipmentInstalled, when, testSite, &EquipmentInstalled{
		Equipment: id, Kind: KindTowerCrane, HeightM: heightM, JibLengthM: 60, InServiceLimitMS: limitMS, OutOfServiceLimitMS: 42,
	})
}

func pitInstalled(when, id string, cumMM, rateMMPerDay float64) *Event {
	return mkEvent("eq-"+id+"-"+when, TypeEquipmentInstalled, when, testSite, &EquipmentInstalled{
		Equipment: id, Kind: KindFoundationPit, DepthM: 18, AlarmCumulativeMM: cumMM, AlarmRateMMPerDay: rateMMPerDay,
	})
}

func reading(when, kind string, v float64, unit, equipment string) *Event {
	id := fmt.Sprintf("r-%s-%s-%s", kind, equipment, when)
	return mkEvent(id, TypeSensorReading, when, testSite, &SensorReading{Kind: kind, Value: v, Unit: unit, Equipment: equipment})
}

// siteTwin returns a twin with P1 registered, S1 added (terrain C) and
// wages paid on 1 June 2026, so that no project rule fires before July.
func siteTwin(t *testing.T) *ProjectTwin {
	t.Helper()
	p := NewProject(testProject, pack())
	mustApply(t, p, registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"),
		wagesPaid("2026-06-01T00:00:00Z", 3_860_000))
	return p
}

func wagesPaid(when string, amount float64) *Event {
	return mkEvent("wages-"+when, TypeWagesPaid, when, "", &Payment{AmountCNY: amount, Account: "wage-p1", Period: when[:7], Workers: 412})
}

// wire sends an event through Encode and Decode, as a runtime receives it:
// a test event that is not valid fails the test, and units are normalised.
func wire(t *testing.T, e *Event) *Event {
	t.Helper()
	b, err := Encode(e)
	if err != nil {
		t.Fatalf("encode %s: %v", e.ID, err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("test event %s is not valid: %v", e.ID, err)
	}
	return d
}

// mustApply applies events in order (through wire) and returns the effects
// of each; any error fails the test.
func mustApply(t *testing.T, p *ProjectTwin, events ...*Event) []Effects {
	t.Helper()
	out := make([]Effects, 0, len(events))
	for _, e := range events {
		eff, err := Apply(p, wire(t, e), pack())
		if err != nil {
			t.Fatalf("apply %s (%s): %v", e.ID, e.Type, err)
		}
		out = append(out, eff)
	}
	return out
}

// applyOne applies one event and returns its effects.
func applyOne(t *testing.T, p *ProjectTwin, e *Event) Effects {
	t.Helper()
	return mustApply(t, p, e)[0]
}

// mustReject applies an event (as it is: not through wire, so that a test
// can set Received) and checks that it is rejected with exactly the reason
// want, has no effects, and leaves the twin byte for byte as it was.
func mustReject(t *testing.T, p *ProjectTwin, e *Event, want string) {
	t.Helper()
	before := twinJSON(t, p)
	eff, err := Apply(p, e, pack())
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("Apply %s (%s): %v, want ErrRejected", e.ID, e.Type, err)
	}
	if got := strings.TrimPrefix(err.Error(), ErrRejected.Error()+": "); got != want {
		t.Fatalf("reason\n  %s\nwant\n  %s", got, want)
	}
	if eff.Duplicate || eff.Late || eff.Expired || len(eff.Alerts)+len(eff.Audit)+len(eff.Outbound) != 0 {
		t.Fatalf("effects of a rejected event: %+v", eff)
	}
	if after := twinJSON(t, p); !bytes.Equal(before, after) {
		t.Fatalf("a rejected event changed the twin at %s", firstDiff(before, after))
	}
}

// allAlerts collects the alerts of a list of effects, in order.
func allAlerts(effs []Effects) []Alert {
	var out []Alert
	for _, eff := range effs {
		out = append(out, eff.Alerts...)
	}
	return out
}

// alertSummary writes alerts as "key change level" lines, for comparing
// with a table's expectation.
func alertSummary(as []Alert) string {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s %s", a.Key, a.Change, a.Level)
	}
	return b.String()
}

// twinJSON marshals a twin; a twin that cannot be marshalled fails the test
// (it could not be checkpointed).
func twinJSON(t *testing.T, p *ProjectTwin) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal twin: %v", err)
	}
	return b
}

// restore unmarshals a twin the way a runtime restores it from the
// changelog.
func restore(t *testing.T, b []byte) *ProjectTwin {
	t.Helper()
	var p ProjectTwin
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("unmarshal twin: %v", err)
	}
	return &p
}

// siteAlarm returns the level of a site alarm (LevelOK when absent).
func siteAlarm(p *ProjectTwin, site, key string) Level {
	if s, ok := p.Sites[site]; ok {
		if al, ok := s.Alarms[key]; ok {
			return al.Level
		}
	}
	return LevelOK
}

// projectAlarm returns the level of a project alarm (LevelOK when absent).
func projectAlarm(p *ProjectTwin, key string) Level {
	if al, ok := p.Alarms[key]; ok {
		return al.Level
	}
	return LevelOK
}

// validationField returns the Field of the *ValidationError in err, or ""
// when err holds none.
func validationField(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	return ""
}

// hasReason reports whether one of the reasons contains want.
func hasReason(reasons []string, want string) bool {
	for _, r := range reasons {
		if strings.Contains(r, want) {
			return true
		}
	}
	return false
}

// More builders, for the project events.

func planned(when string, ms ...MilestonePlan) *Event {
	return mkEvent("plan-"+when, TypePlanBaselined, when, "", &PlanBaselined{Milestones: ms})
}

// ms is a milestone of likely duration d days (optimistic 0.8 d,
// pessimistic 1.5 d) with a budget share and dependencies.
func ms(id string, d, share float64, deps ...string) MilestonePlan {
	return MilestonePlan{ID: id, Name: "milestone " + id, OptimisticDays: 0.8 * d, LikelyDays: d, PessimisticDays: 1.5*d + 1, BudgetShare: share, DependsOn: deps}
}

func progress(when, m string, pct float64) *Event {
	return mkEvent(fmt.Sprintf("progress-%s-%s", m, when), TypeProgressReported, when, "", &ProgressReported{Milestone: m, PercentComplete: pct})
}

func completed(when, m string) *Event {
	return mkEvent("done-"+m+"-"+when, TypeMilestoneCompleted, when, "", &MilestoneCompleted{Milestone: m})
}

func disbursed(when string, amount float64, m string) *Event {
	return mkEvent(fmt.Sprintf("fund-%s-%.0f", when, amount), TypeFundsDisbursed, when, "", &Payment{AmountCNY: amount, Milestone: m, Account: "escrow-p1"})
}

func deposited(when string, amount float64) *Event {
	return mkEvent("deposit-"+when, TypeWageAccountDeposited, when, "", &Payment{AmountCNY: amount, Account: "wage-p1"})
}

func changeOrder(id, when string, amount, days float64) *Event {
	return mkEvent("co-"+id+"-"+when, TypeChangeOrderApproved, when, "", &ChangeOrderApproved{ChangeOrder: id, AmountCNY: amount, Days: days, Reason: "design change"})
}

func hazardFound(when, id, severity, category, deadline string) *Event {
	w, ok := ParseWhen(deadline)
	if !ok {
		panic(deadline)
	}
	return mkEvent("hz-"+id+"-"+when, TypeHazardFound, when, testSite, &HazardFound{Hazard: id, Severity: severity, Category: category, Deadline: w})
}

func rectified(when, id string) *Event {
	return mkEvent("rect-"+id+"-"+when, TypeHazardRectified, when, testSite, &HazardRectified{Hazard: id})
}

func hazardAccepted(when, id string) *Event {
	return mkEvent("acc-"+id+"-"+when, TypeAcceptancePassed, when, testSite, &AcceptancePassed{Hazard: id})
}

func milestoneAccepted(when, m string) *Event {
	return mkEvent("acc-"+m+"-"+when, TypeAcceptancePassed, when, "", &AcceptancePassed{Milestone: m})
}

func inspected(when, hazard, result, deadline string) *Event {
	w, _ := ParseWhen(deadline)
	return mkEvent("insp-"+hazard+"-"+when, TypeInspectionCompleted, when, testSite, &InspectionCompleted{Inspection: "IN-" + when[:10], Result: result, Hazard: hazard, Deadline: w})
}

func rain(when, level, validUntil, district string) *Event {
	issued, _ := ParseWhen(when)
	until, _ := ParseWhen(validUntil)
	e := mkEvent("rain-"+level+"-"+when, TypeRainfallWarning, when, "", &RainfallWarning{Level: level, Issued: issued, ValidUntil: until, District: district})
	e.Project = CityWide
	return e
}

// typhoon returns an advisory whose track runs through the points (lat,
// lon) six hours apart from start.
func typhoon(when, name, start string, latlon ...float64) *Event {
	issued, _ := ParseWhen(when)
	var track []TrackPoint
	for i := 0; i+1 < len(latlon); i += 2 {
		t := ts(start).Add(time.Duration(i/2) * 6 * time.Hour)
		track = append(track, TrackPoint{Time: TimeWhen(t), Lat: latlon[i], Lon: latlon[i+1], PressureHPa: 960, MaxWindMS: 38, WindAvgMinutes: 2, RMWKm: 30})
	}
	e := mkEvent("typhoon-"+name+"-"+when, TypeTyphoonAdvisory, when, "", &TyphoonAdvisory{Name: name, Issued: issued, Track: track})
	e.Project = CityWide
	return e
}

// tick moves the twin's clock with a reading that no rule reads (humidity),
// so that the project rules are evaluated at that time.
func tick(when string) *Event { return reading(when, SensorHumidity, 70, "%", "") }
