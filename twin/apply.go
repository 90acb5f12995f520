package twin

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrRejected is wrapped by Apply's error when an event is well formed but
// impossible for the twin: an event of a project that was never registered,
// a reading from a site never added or of equipment never installed, a
// rectification of an unknown hazard, a reading of a crane's load on a
// foundation pit, an event time too far after the event was received. The
// twin is unchanged and the event is not remembered as seen, so a corrected
// or later copy applies; runtimes send the event to the dead-letter topic
// with the error text as the reason.
var ErrRejected = errors.New("event rejected")

// changeOrderKey is the Seen key of a change order id ('#' cannot occur in
// an event id, so it cannot collide with one).
func changeOrderKey(id string) string { return "#change_order:" + id }

// incidentKey is the Seen key of an incident id: an incident is recorded
// once, whatever event reports it.
func incidentKey(id string) string { return "#incident:" + id }

func reject(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// Alert changes.
const (
	ChangeRaised    = "raised"    // ok -> warn or stop
	ChangeEscalated = "escalated" // warn -> stop
	ChangeEased     = "eased"     // stop -> warn
	ChangeCleared   = "cleared"   // warn or stop -> ok
)

// Alert is the record of an alarm changing level; runtimes publish every one.
type Alert struct {
	ID          string    `json:"id"` // project#seq: unique and stable for the same event stream
	Project     string    `json:"project"`
	District    string    `json:"district,omitempty"`
	Site        string    `json:"site,omitempty"`
	Equipment   string    `json:"equipment,omitempty"`
	Rule        string    `json:"rule"`
	Key         string    `json:"key"`
	Change      string    `json:"change"`
	Level       Level     `json:"level"` // the level after the change
	From        Level     `json:"from"`  // the level before
	Reason      string    `json:"reason"`
	Action      string    `json:"action,omitempty"`
	Value       float64   `json:"value"`
	Threshold   float64   `json:"threshold"`
	Unit        string    `json:"unit,omitempty"`
	Time        time.Time `json:"time"`  // event time of the event that caused it
	Event       string    `json:"event"` // id of that event
	Responsible string    `json:"responsible,omitempty"`
	Drill       string    `json:"drill,omitempty"`
}

// Outbound is a request to an outside service that the twin decided on (a
// rectification notice to the contractor). Key is an idempotency key: the
// same decision always has the same key.
type Outbound struct {
	Key     string            `json:"key"`
	Kind    string            `json:"kind"`
	Project string            `json:"project"`
	To      string            `json:"to"`
	Time    time.Time         `json:"time"`
	Event   string            `json:"event"`
	Drill   string            `json:"drill,omitempty"` // the drill of the event that caused it: never sent
	Fields  map[string]string `json:"fields"`
}

// Effects is what applying one event produced, besides the new state.
type Effects struct {
	Duplicate bool          // the event was applied before; nothing changed
	Late      bool          // a reading older than the allowed lateness: kept, no alarm evaluated
	Expired   bool          // a reading older than the dedup horizon: counted, not kept
	Alerts    []Alert       // alarms that changed level, in order
	Outbound  []Outbound    // requests to outside services
	Audit     []AuditRecord // records appended to the audit chain
}

// recentTypes are de-duplicated within the dedup horizon only (see Seen).
var recentTypes = map[string]bool{TypeSensorReading: true, TypeProgressReported: true}

type applier struct {
	p   *ProjectTwin
	e   *Event
	r   *Rules
	eff Effects // returned by Apply: held here so that it stays off the heap
	// incidentsMoved is set when evaluateIncidents moved incidents to a
	// site's earlier count, which the credit score words differently.
	incidentsMoved bool
	// alarmWrites counts the changes setAlarm made to what a health
	// summary reads (an alarm raised, cleared, or its level or reason
	// changed): health and reasons are rebuilt only when it moved.
	alarmWrites int
}

// Apply applies one event to a project twin and returns its effects. It is
// deterministic and does no I/O: the same events in the same order give the
// same twin and the same effects, whatever calls it. Applying an event id a
// second time changes nothing (Effects.Duplicate). An error wraps
// ErrRejected and leaves the twin unchanged.
//
// Until its project.registered has been applied a twin rejects every other
// event, so a runtime that meets an unknown project id applies the event to
// a fresh NewProject and keeps the twin only if Apply succeeds, and delivers
// city-wide events only to the twins it keeps. A sensor reading, an
// equipment installation or a hazard found at a site needs the site's
// site.added first, and a reading that names equipment needs its
// equipment.installed at that site. Event.Received, when set, bounds how far
// after it the event time may lie (Rules.MaxFuture); Apply reads no clock.
func Apply(p *ProjectTwin, e *Event, r *Rules) (Effects, error) {
	var eff Effects
	if e.Project != p.ID && e.Project != CityWide {
		return eff, reject("event for project %q applied to twin %q", e.Project, p.ID)
	}
	recent := recentTypes[e.Type]
	if p.Seen.has(e.ID, recent) {
		p.Duplicates++
		eff.Duplicate = true
		return eff, nil
	}
	a := &applier{p: p, e: e, r: r}
	if err := a.check(); err != nil {
		return Effects{}, err
	}
	// The twin keeps event times in UTC without a monotonic reading; a
	// time in another zone (or with a monotonic reading) is applied from a
	// copy, so that the caller's event is left as it was. Decoded events
	// are in UTC already and need no copy.
	if utc := e.Time.UTC(); e.Time != utc { //nolint:revive // == on purpose: the location and the monotonic reading must match too
		e = &Event{ID: e.ID, Type: e.Type, Source: e.Source, Time: utc, Project: e.Project, Site: e.Site, Drill: e.Drill, Data: e.Data, Received: e.Received}
		a.e = e
	}
	// Sensor reading ids are remembered per site, and forgotten by the
	// site's clock, which is what their expiry is measured by.
	seenSite := ""
	if e.Type == TypeSensorReading {
		seenSite = e.Site
	}
	p.Seen.add(e.ID, recent, seenSite, e.Time.UnixMilli())
	p.Applied++
	if e.Time.After(p.Clock) && !answerTypes[e.Type] {
		p.Clock = e.Time
	}
	if e.Type != TypeSensorReading {
		p.esKnown = false // the plan or the progress may move
	}
	a.apply()
	p.Seen.forget("", p.Clock.Add(-r.DedupHorizon.D()).UnixMilli())
	if s, ok := p.Sites[seenSite]; ok && seenSite != "" {
		p.Seen.forget(seenSite, s.Clock.Add(-r.DedupHorizon.D()).UnixMilli())
	}
	// Project rules depend on the clock (pay cycles, deadlines, SPI(t)), but
	// not to the second: a sensor reading re-evaluates them only once the
	// clock has moved a minute past the last evaluation. Every other event
	// evaluates them at once.
	if e.Type != TypeSensorReading || p.Clock.Sub(p.Evaluated) >= time.Minute {
		p.Evaluated = p.Clock
		a.evaluateProject()
	}
	if a.alarmWrites > 0 {
		p.updateHealth()
	}
	return a.eff, nil
}

// check rejects events that are impossible for the twin, before anything
// changes.
func (a *applier) check() error {
	p, e := a.p, a.e
	if limit, ahead := a.r.MaxFuture.D(), e.Time.Sub(e.Received); !e.Received.IsZero() && ahead > limit {
		if whole := ahead.Round(time.Second); whole > limit {
			ahead = whole // to the second, unless that would hide why it is rejected
		}
		return reject("event time %s is %s ahead of the time the event was received (%s), more than the rule pack's max_future of %s (fix the producer's clock or time zone)",
			rfc3339(e.Time), durationText(ahead), rfc3339(e.Received), durationText(limit))
	}
	if _, ok := e.Data.(*ProjectRegistered); !ok && !p.Registered {
		if e.Project == CityWide {
			return reject("city-wide %s applied to project %s, which is not registered (deliver city-wide events only to registered twins)", e.Type, p.ID)
		}
		return reject("project %s is not registered (send project.registered first)", p.ID)
	}
	switch d := e.Data.(type) {
	case *EquipmentInstalled:
		s, err := p.addedSite(e.Site)
		if err != nil {
			return err
		}
		if eq, ok := s.Equipment[d.Equipment]; ok && eq.Kind != d.Kind {
			return reject("equipment %s at site %s is already a %s, not a %s (give the %s its own equipment id)", d.Equipment, s.ID, eq.Kind, d.Kind, d.Kind)
		}
	case *SensorReading:
		s, err := p.addedSite(e.Site)
		if err != nil {
			return err
		}
		if d.Equipment == "" {
			break
		}
		eq, ok := s.Equipment[d.Equipment]
		if !ok || !eq.Registered {
			return reject("equipment %s is not installed at site %s of project %s (send equipment.installed first)", d.Equipment, s.ID, p.ID)
		}
		if need := sensorKinds[d.Kind].equipment; need != "" && eq.Kind != need {
			return reject("%s reading for %s, which is a %s, not a %s (check the reading's equipment id)", d.Kind, d.Equipment, eq.Kind, need)
		}
	case *ChangeOrderApproved:
		if p.Seen.has(changeOrderKey(d.ChangeOrder), false) {
			return reject("change order %s was already approved by another event", d.ChangeOrder)
		}
	case *HazardFound:
		if e.Site != "" {
			if _, err := p.addedSite(e.Site); err != nil {
				return err
			}
		}
		if _, ok := p.Hazards[d.Hazard]; ok {
			return reject("hazard %s is already recorded", d.Hazard)
		}
	case *HazardRectified:
		h, ok := p.Hazards[d.Hazard]
		switch {
		case !ok:
			return reject("hazard %s is not recorded on project %s", d.Hazard, p.ID)
		case h.Status != StatusOpen:
			return reject("hazard %s is %s, not open", d.Hazard, h.Status)
		}
	case *FilingAnswer, *FilingStatusChanged, *DisbursementAnswer:
		return p.checkAnswer(e)
	case *AcceptancePassed:
		return p.checkReinspection(d.Hazard)
	case *InspectionCompleted:
		return p.checkReinspection(d.Hazard)
	case *IncidentReported:
		s, err := p.addedSite(e.Site)
		if err != nil {
			return err
		}
		if d.Equipment != "" {
			if eq, ok := s.Equipment[d.Equipment]; !ok || !eq.Registered {
				return reject("equipment %s is not installed at site %s of project %s (send equipment.installed first)", d.Equipment, s.ID, p.ID)
			}
		}
		if p.Seen.has(incidentKey(d.Incident), false) {
			return reject("incident %s is already recorded", d.Incident)
		}
	}
	return nil
}

// addedSite returns a site that site.added has registered, or the rejection
// of an event that names another.
func (p *ProjectTwin) addedSite(id string) (*SiteTwin, error) {
	if s, ok := p.Sites[id]; ok && s.Registered {
		return s, nil
	}
	return nil, reject("site %s is not registered on project %s (send site.added first)", id, p.ID)
}

// checkReinspection rejects a re-inspection of a hazard that is unknown or
// already closed; "" (not a re-inspection) passes.
func (p *ProjectTwin) checkReinspection(hazard string) error {
	if hazard == "" {
		return nil
	}
	h, ok := p.Hazards[hazard]
	switch {
	case !ok:
		return reject("hazard %s is not recorded on project %s", hazard, p.ID)
	case h.Status == StatusClosed:
		return reject("hazard %s is already closed", hazard)
	}
	return nil
}

func (a *applier) apply() {
	p, e := a.p, a.e
	loc := a.r.loc
	switch d := e.Data.(type) {
	case *ProjectRegistered:
		first := p.Info.Registered
		if first.IsZero() {
			first = e.Time
		}
		p.Registered = true
		p.Info = ProjectInfo{
			Name: d.Name, District: d.District, Kind: d.Kind, Owner: d.Owner,
			Contractor: d.Contractor, Supervisor: d.Supervisor,
			BudgetCNY:     d.BudgetCNY + p.Funds.ChangeOrdersCNY,
			PlannedStart:  d.PlannedStart.Start(loc).UTC(),
			PlannedFinish: d.PlannedFinish.End(loc).UTC(),
			Address:       d.Address, PermitNumber: d.PermitNumber, Registered: first,
			SupervisionFilingNumber: d.SupervisionFilingNumber, SafetyFilingNumber: d.SafetyFilingNumber,
		}
		deadline := d.Deadline
		if deadline.IsZero() {
			deadline = d.PlannedFinish
		}
		p.Info.Deadline = deadline.End(loc).UTC().Add(time.Duration(p.Funds.ChangeOrderDays * float64(day)))
		p.replan()
		a.requestFiling(FilingRegistration)
		// A corrected registration may name another owner or contractor:
		// standing alarms name the units known now.
		for _, al := range p.Alarms {
			al.Responsible = a.responsible(al.Rule)
		}
		for _, s := range p.Sites {
			for _, al := range s.Alarms {
				al.Responsible = a.responsible(al.Rule)
			}
		}
	case *SiteAdded:
		s, ok := p.Sites[e.Site]
		if !ok {
			s = newSite(e.Site)
			p.Sites[e.Site] = s
		}
		s.Registered, s.Name, s.Lat, s.Lon, s.Terrain = true, d.Name, d.Lat, d.Lon, d.Terrain
		s.plan = nil // the terrain may have changed
		a.typhoonApproach()
	case *EquipmentInstalled:
		s := p.Sites[e.Site] // added: see check
		s.Equipment[d.Equipment] = &Equipment{
			ID: d.Equipment, Kind: d.Kind, HeightM: d.HeightM, JibLengthM: d.JibLengthM,
			InServiceLimitMS: d.InServiceLimitMS, OutOfServiceLimitMS: d.OutOfServiceLimitMS,
			DepthM: d.DepthM, AlarmCumulativeMM: d.AlarmCumulativeMM, AlarmRateMMPerDay: d.AlarmRateMMPerDay,
			Installed: e.Time, Registered: true,
		}
		s.plan = nil // a new crane or series' equipment, or the same id replaced
		a.evaluateSite(s)
	case *PlanBaselined:
		a.baseline(d)
	case *SensorReading:
		a.reading(d)
	case *ProgressReported:
		m := p.milestone(d.Milestone)
		if e.Time.Before(m.ProgressAt) {
			return // an older report than the one we have: it does not move progress back
		}
		m.ProgressAt = e.Time
		if m.Completed.IsZero() {
			m.Percent = d.PercentComplete
		}
		if d.PercentComplete > 0 {
			a.requestFiling(FilingStart)
		}
	case *MilestoneCompleted:
		m := p.milestone(d.Milestone)
		if m.Completed.IsZero() {
			m.Completed = e.Time
		}
		m.Percent = 100
		a.requestFiling(FilingStart)
	case *Payment:
		a.payment(d)
	case *AttendanceReported:
		a.attendance(d)
	case *FilingAnswer, *FilingStatusChanged, *DisbursementAnswer:
		a.answer()
	case *ChangeOrderApproved:
		p.Seen.add(changeOrderKey(d.ChangeOrder), false, "", 0)
		p.Funds.ChangeOrdersCNY += d.AmountCNY
		p.Funds.ChangeOrderDays += d.Days
		p.Info.BudgetCNY += d.AmountCNY
		if !p.Info.Deadline.IsZero() {
			p.Info.Deadline = p.Info.Deadline.Add(time.Duration(d.Days * float64(day)))
		}
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditChangeOrder, d.ChangeOrder, d.AmountCNY))
	case *HazardFound:
		h := &Hazard{
			ID: d.Hazard, Severity: d.Severity, Category: d.Category, Milestone: d.Milestone,
			Description: d.Description, Site: e.Site, Status: StatusOpen, Found: e.Time,
			Deadline: d.Deadline.End(loc).UTC(),
		}
		p.Hazards[h.ID] = h
		a.notice(h)
	case *HazardRectified:
		h := p.Hazards[d.Hazard]
		h.Status, h.Rectified = StatusRectified, e.Time
	case *AcceptancePassed:
		if d.Hazard != "" {
			a.closeHazard(p.Hazards[d.Hazard])
			return
		}
		m := p.milestone(d.Milestone)
		if m.Completed.IsZero() {
			m.Completed, m.Percent = e.Time, 100
		}
		if m.Accepted.IsZero() || e.Time.Before(m.Accepted) {
			m.Accepted = e.Time
		}
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditAcceptance, m.ID, 0))
	case *InspectionCompleted:
		if d.Hazard == "" {
			return
		}
		h := p.Hazards[d.Hazard]
		if d.Result == "pass" {
			a.closeHazard(h)
			return
		}
		// A deadline already passed unrectified stays missed when the
		// re-inspection sets a new one.
		if done := h.Rectified; (done.IsZero() || done.After(h.Deadline)) && e.Time.After(h.Deadline) {
			h.Missed++
		}
		h.Status, h.Rectified = StatusOpen, time.Time{}
		h.Reopened++
		if !d.Deadline.IsZero() {
			h.Deadline = d.Deadline.End(loc).UTC()
		}
		a.notice(h)
	case *IncidentReported:
		p.Seen.add(incidentKey(d.Incident), false, "", 0)
		s := p.Sites[e.Site] // added: see check
		in := SiteIncident{Time: e.Time, ID: d.Incident, Severity: d.Severity, Category: d.Category, Equipment: d.Equipment, Injuries: d.Injuries}
		i, _ := slices.BinarySearchFunc(s.Incidents, in, compareIncidents)
		s.Incidents = slices.Insert(s.Incidents, i, in)
	case *TyphoonAdvisory:
		w := &p.Weather
		last := d.Track[len(d.Track)-1].Time.Start(time.UTC).UTC()
		w.Typhoon, w.Advisory = d.Name, d
		w.TyphoonUntil = last.Add(a.r.Weather.AdvisoryLifetime.D())
		a.typhoonApproach()
	case *RainfallWarning:
		if d.District != "" && p.Info.District != "" && d.District != p.Info.District {
			return
		}
		w := &p.Weather
		if d.Level == RainCancelled {
			w.Rainstorm, w.RainstormUntil = "", time.Time{}
			return
		}
		w.Rainstorm = d.Level
		w.RainstormUntil = time.Time{}
		if !d.ValidUntil.IsZero() {
			w.RainstormUntil = d.ValidUntil.End(loc).UTC()
		}
	}
}

func (a *applier) baseline(d *PlanBaselined) {
	p := a.p
	inPlan := make(map[string]bool, len(d.Milestones))
	ordered := make([]*Milestone, 0, len(d.Milestones)+len(p.Milestones))
	for _, mp := range d.Milestones {
		inPlan[mp.ID] = true
		m := p.milestone(mp.ID)
		m.Name, m.OptimisticDays, m.LikelyDays, m.PessimisticDays = mp.Name, mp.OptimisticDays, mp.LikelyDays, mp.PessimisticDays
		m.DependsOn = slices.Clone(mp.DependsOn)
		m.BudgetShare = mp.BudgetShare
		m.Baselined = true
		ordered = append(ordered, m)
	}
	for _, m := range p.Milestones {
		if !inPlan[m.ID] {
			m.Baselined = false
			m.PlannedStart, m.PlannedFinish = time.Time{}, time.Time{}
			ordered = append(ordered, m)
		}
	}
	p.Milestones = ordered
	p.replan()
}

func (a *applier) payment(d *Payment) {
	p, e := a.p, a.e
	f := &p.Funds
	f.Payments++
	f.LastPaymentEvent = e.ID
	switch e.Type {
	case TypeFundsDisbursed:
		f.DisbursedCNY += d.AmountCNY
		if d.Milestone != "" {
			p.milestone(d.Milestone).DisbursedCNY += d.AmountCNY
		}
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditDisbursement, d.Milestone, d.AmountCNY))
	case TypeWagesPaid:
		f.WagesPaidCNY += d.AmountCNY
		f.WageBalanceCNY = f.WageDepositedCNY - f.WagesPaidCNY
		if e.Time.After(f.LastWagesPaid) {
			f.LastWagesPaid = e.Time
		}
		i, _ := slices.BinarySearchFunc(f.WagePayments, e.Time, time.Time.Compare)
		f.WagePayments = slices.Insert(f.WagePayments, i, e.Time)
		if d.Period != "" {
			w := a.wagePeriod(d.Period)
			w.PaidCNY = round6(w.PaidCNY + d.AmountCNY)
		}
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditWagesPaid, d.Period, d.AmountCNY))
	case TypeWageAccountDeposited:
		f.WageDepositedCNY += d.AmountCNY
		f.WageBalanceCNY = f.WageDepositedCNY - f.WagesPaidCNY
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditWageDeposit, d.Account, d.AmountCNY))
	}
}

func (a *applier) closeHazard(h *Hazard) {
	if h.Rectified.IsZero() {
		h.Rectified = a.e.Time
	}
	h.Status, h.Closed = StatusClosed, a.e.Time
	a.eff.Audit = append(a.eff.Audit, a.p.audit(a.e, AuditHazardClosure, h.ID, 0))
}

func (a *applier) notice(h *Hazard) {
	h.Notice = fmt.Sprintf("%s/%s/notice-%d", a.p.ID, h.ID, h.Reopened+1)
	a.eff.Outbound = append(a.eff.Outbound, Outbound{
		Key: h.Notice, Kind: "rectification_notice", Project: a.p.ID, To: a.p.Info.Contractor,
		Time: a.e.Time, Event: a.e.ID,
		Fields: map[string]string{
			"hazard": h.ID, "severity": h.Severity, "category": h.Category, "site": h.Site,
			"deadline": h.Deadline.Format(time.RFC3339), "supervisor": a.p.Info.Supervisor,
		},
	})
}

// updateCredit derives the credit score from the facts: a deduction per
// hazard found (by severity) and per hazard not rectified by its deadline,
// one per wage payment gap longer than the pay cycle (including the current
// one), one per incident (by severity, including the incidents that have
// left a site's recent list), a credit per milestone accepted; clamped to
// 0..initial.
func (a *applier) updateCredit() {
	p, r := a.p, a.r
	var cs []CreditChange
	var keyBuf [16]string
	for _, id := range appendSortedKeys(keyBuf[:0], p.Hazards) {
		h := p.Hazards[id]
		if d := r.Credit.HazardFound[h.Severity]; d != 0 {
			cs = append(cs, CreditChange{Time: h.Found, Delta: -d, Reason: h.Severity + " hazard " + h.ID + " found"})
		}
		end := p.Clock
		switch {
		case !h.Rectified.IsZero():
			end = h.Rectified
		case !h.Closed.IsZero():
			end = h.Closed
		}
		h.Overdue = end.After(h.Deadline)
		missed := h.Missed
		if h.Overdue {
			missed++
		}
		if missed > 0 && r.Credit.Overdue != 0 {
			cs = append(cs, CreditChange{Time: h.Deadline, Delta: -r.Credit.Overdue * float64(missed), Reason: "hazard " + h.ID + " not rectified by its deadline"})
		}
	}
	// next is the earliest clock at which a term of the score may change
	// without an event (zero: none).
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, id := range appendSortedKeys(keyBuf[:0], p.Hazards) {
		if h := p.Hazards[id]; h.Rectified.IsZero() && h.Closed.IsZero() && !h.Overdue {
			soonest(h.Deadline.Add(time.Nanosecond)) // overdue once the clock is after the deadline
		}
	}
	if r.Credit.WageArrears != 0 {
		cycle := time.Duration(r.Wages.MaxCycleDays * float64(day))
		late := func(from, to time.Time) bool {
			return !from.IsZero() && math.Floor(to.Sub(from).Hours()/24) > r.Wages.MaxCycleDays
		}
		prev := p.Info.PlannedStart
		for _, t := range p.Funds.WagePayments {
			if late(prev, t) {
				cs = append(cs, CreditChange{Time: prev.Add(cycle), Delta: -r.Credit.WageArrears, Reason: "wages paid late"})
			}
			if prev.IsZero() || t.After(prev) {
				prev = t
			}
		}
		switch {
		case p.workDone():
		case late(prev, p.Clock):
			cs = append(cs, CreditChange{Time: prev.Add(cycle), Delta: -r.Credit.WageArrears, Reason: "wage arrears"})
		case !prev.IsZero():
			// Late from the first whole day past the cycle; a minute
			// early, against rounding.
			soonest(prev.Add(time.Duration(math.Floor(r.Wages.MaxCycleDays)+1)*day - time.Minute))
		}
	}
	for _, id := range appendSortedKeys(keyBuf[:0], p.Sites) {
		s := p.Sites[id]
		for _, in := range s.Incidents {
			if d := r.Credit.Incident[in.Severity]; d != 0 {
				cs = append(cs, CreditChange{Time: in.Time, Delta: -d, Reason: in.Severity + " incident " + in.ID + " at " + s.ID})
			}
		}
		if ei := s.EarlierIncidents; ei != nil {
			for _, sev := range IncidentSeverities() {
				if n, d := ei.Counts[sev], r.Credit.Incident[sev]; n > 0 && d != 0 {
					cs = append(cs, CreditChange{Time: ei.Latest, Delta: -d * float64(n), Reason: strconv.Itoa(n) + " earlier " + sev + " incidents at " + s.ID})
				}
			}
		}
	}
	for _, m := range p.Milestones {
		if !m.Accepted.IsZero() && r.Credit.Acceptance != 0 {
			cs = append(cs, CreditChange{Time: m.Accepted, Delta: r.Credit.Acceptance, Reason: "milestone " + m.ID + " accepted"})
		}
	}
	score := r.Credit.Initial
	for _, c := range cs {
		score += c.Delta
	}
	p.Credit.Score = round6(math.Max(0, math.Min(r.Credit.Initial, score)))
	slices.SortStableFunc(cs, func(x, y CreditChange) int { return x.Time.Compare(y.Time) })
	if n := len(cs); n > maxCreditChanges {
		cs = cs[n-maxCreditChanges:]
	}
	p.Credit.Changes = cs
	p.creditNext, p.creditKnown, p.creditDone = next, true, p.workDone()
}

// reading applies a sensor reading to its site (added, and its equipment
// installed: see check).
func (a *applier) reading(d *SensorReading) {
	p, e, r := a.p, a.e, a.r
	s := p.Sites[e.Site]
	if !s.Clock.IsZero() && e.Time.Before(s.Clock.Add(-r.DedupHorizon.D())) {
		s.Expired++
		a.eff.Expired = true
		return
	}
	ser, steps := s.seriesFor(r, d.Kind, d.Equipment)
	if ser == nil {
		s.Series[seriesKey(d.Kind, d.Equipment)] = newSeries(d.Kind, d.Equipment, r.SeriesFor(d.Kind))
		ser, steps = s.seriesFor(r, d.Kind, d.Equipment) // the plan sees one more series and is made again
	}
	if !ser.add(e.Time, d.Value, e.ID) {
		s.Expired++
		a.eff.Expired = true
		return
	}
	s.Readings++
	late := !s.Clock.IsZero() && e.Time.Before(s.Clock.Add(-r.AllowedLateness.D()))
	if e.Time.After(s.Clock) {
		s.Clock = e.Time
		if len(s.SensorAlarms) > 0 {
			s.pruneSensorAlarms(s.Clock)
		}
	}
	if late {
		s.Late++
		a.eff.Late = true
		return
	}
	a.evaluateSteps(s, steps)
}

// evaluateSite evaluates every sensor rule at the site at the site's clock
// (after an installation: rare, so its steps are worked out each time),
// and refreshes its health.
func (a *applier) evaluateSite(s *SiteTwin) {
	a.evaluateSteps(s, s.buildSteps(a.r, ""))
}

// evaluateSteps evaluates a site's sensor rules as the steps list them at
// the site's clock, and refreshes its health.
func (a *applier) evaluateSteps(s *SiteTwin, steps []planStep) {
	writes := a.alarmWrites
	for i := range steps {
		if st := &steps[i]; st.crane != nil {
			a.evaluateCranes(s, st)
		} else {
			a.evaluateSeries(s, st)
		}
	}
	if a.alarmWrites != writes {
		s.updateHealth()
	}
}

// evaluateSeries evaluates a series rule over its series.
func (a *applier) evaluateSeries(s *SiteTwin, st *planStep) {
	rule, ser := st.rule, st.ser
	at := s.Clock
	var since time.Time
	var period *Period
	if len(rule.Periods) > 0 {
		if period = a.period(rule, at); period != nil {
			since = period.startBefore(at, a.r.loc)
		}
	}
	x, ok := ser.AggregateSince(rule.Aggregate, at, rule.Window.D(), rule.MinSpan.D(), since)
	if !ok && period == nil && len(rule.Periods) > 0 {
		x, ok = 0, true // outside every period: the alarm clears below
	}
	if !ok {
		return
	}
	key, unit := st.key, st.unit
	if period != nil || len(rule.Periods) == 0 {
		st.value = s.setValue(st.value, key, rule, ser.Equipment, x, unit, at)
	}
	var band Band
	var levelName [3]string
	switch {
	case rule.Band != nil:
		band = *rule.Band
		levelName = [3]string{"", "warning", "stop-work"}
	case rule.Relative != nil:
		base := st.eq.Base(rule.Relative.Base)
		if base <= 0 {
			base = rule.Relative.Default
		}
		band = rule.Relative.band(base)
		levelName = [3]string{"", "warning", "alarm"}
	default:
		if period == nil {
			a.setAlarm(s.Alarms, s.ID, key, rule, ser.Equipment, LevelOK, x, math.NaN(), ser.Unit, "")
			return
		}
		band = period.Band
		levelName = [3]string{"", period.Name, period.Name}
	}
	cur := LevelOK
	if al, ok := s.Alarms[key]; ok {
		cur = al.Level
	}
	lvl, th := band.Next(cur, x)
	reason := "" // read by setAlarm only for a level above ok
	if lvl != LevelOK {
		subject := ""
		if ser.Equipment != "" {
			subject = equipmentNoun(st.eq) + ser.Equipment + " "
		}
		reason = subject + rule.Label + " " + cmpText(&band, lvl, x, th, unit, levelName[lvl], -1)
	}
	if a.setAlarm(s.Alarms, s.ID, key, rule, ser.Equipment, lvl, x, th, unit, reason) == ChangeRaised {
		a.noteSensorAlarm(s, rule.ID)
	}
}

// period returns the period of a rule that contains the local time of t.
func (a *applier) period(rule *SensorRule, t time.Time) *Period {
	lt := t.In(a.r.loc)
	min := lt.Hour()*60 + lt.Minute()
	for i := range rule.Periods {
		if rule.Periods[i].contains(min) {
			return &rule.Periods[i]
		}
	}
	return nil
}

// evaluateCranes evaluates a wind-at-jib rule for every tower crane of the
// site: the larger of the crane's own anemometer and the site's 10 m wind
// brought to jib height by v(z) = v10 (z/10)^alpha (GB 50009 power law).
func (a *applier) evaluateCranes(s *SiteTwin, st *planStep) {
	cs := st.crane
	if len(cs.cranes) == 0 {
		return
	}
	rule, at := st.rule, s.Clock
	w, minSpan := rule.Window.D(), rule.MinSpan.D()
	// The site's own 10 m wind of each kind, the same for every crane.
	type siteWind struct {
		v  float64
		ok bool
	}
	var windBuf [4]siteWind
	site := windBuf[:0]
	for _, ser := range cs.site {
		var sw siteWind
		if ser != nil {
			sw.v, sw.ok = ser.Aggregate(rule.Aggregate, at, w, minSpan)
		}
		site = append(site, sw)
	}
	for ci := range cs.cranes {
		c := &cs.cranes[ci]
		x, have := math.Inf(-1), false
		for i, ser := range c.own {
			if ser != nil {
				if v, ok := ser.Aggregate(rule.Aggregate, at, w, minSpan); ok {
					x, have = math.Max(x, v), true
				}
			}
			if site[i].ok && c.eq.HeightM > 0 {
				x, have = math.Max(x, site[i].v*c.lift), true
			}
		}
		if !have {
			continue
		}
		base := c.eq.Base(rule.Relative.Base)
		if base <= 0 {
			base = rule.Relative.Default
		}
		band := rule.Relative.band(base)
		cur := LevelOK
		if al, ok := s.Alarms[c.key]; ok {
			cur = al.Level
		}
		lvl, th := band.Next(cur, x)
		reason := ""
		if lvl != LevelOK {
			names := [3]string{"", "warning", "in-service limit"}
			reason = "crane " + c.id + " " + rule.Label + " " + cmpText(&band, lvl, x, th, "m/s", names[lvl], -1)
		}
		c.value = s.setValue(c.value, c.key, rule, c.id, x, "m/s", at)
		if a.setAlarm(s.Alarms, s.ID, c.key, rule, c.id, lvl, x, th, "m/s", reason) == ChangeRaised {
			a.noteSensorAlarm(s, rule.ID)
		}
	}
}

// setValue records the latest windowed value of a rule for a series (or a
// crane), whether or not it raised an alarm, and returns it. v is where it
// was recorded before, or nil to look it up by key (values are never
// removed, so a value once found stays the site's).
func (s *SiteTwin) setValue(v *RuleValue, key string, rule *SensorRule, equipment string, x float64, unit string, at time.Time) *RuleValue {
	if v == nil {
		if s.Values == nil {
			s.Values = map[string]*RuleValue{}
		}
		var ok bool
		if v, ok = s.Values[key]; !ok {
			v = &RuleValue{Rule: rule.ID, Label: rule.Label, Equipment: equipment, Aggregate: rule.Aggregate, Window: rule.Window}
			s.Values[key] = v
		}
	}
	v.Value, v.Unit, v.At = round6(x), unit, at
	return v
}

func equipmentNoun(eq *Equipment) string {
	if eq == nil {
		return ""
	}
	switch eq.Kind {
	case KindTowerCrane:
		return "crane "
	case KindFoundationPit:
		return "pit "
	}
	return ""
}

// setAlarm moves an alarm to a level and records an alert when the level
// changes; it returns the change ("" for none). A rule of nil is a project
// rule named by key.
func (a *applier) setAlarm(alarms map[string]*Alarm, site, key string, rule *SensorRule, equipment string, lvl Level, x, th float64, unit, reason string) string {
	ruleID, action := key, ""
	if rule != nil {
		ruleID, action = rule.ID, rule.Action
	}
	if i := strings.IndexByte(ruleID, '@'); i >= 0 {
		ruleID = ruleID[:i]
	}
	al, had := alarms[key]
	from := LevelOK
	if had {
		from = al.Level
	}
	x, th = round6(x), round6(nanZero(th))
	if lvl == LevelOK {
		if !had {
			return ""
		}
		delete(alarms, key)
		a.alarmWrites++
		a.alert(al, site, ChangeCleared, from, LevelOK, x, "cleared: "+al.Reason)
		return ChangeCleared
	}
	if !had {
		al = &Alarm{Key: key, Rule: ruleID, Site: site, Equipment: equipment, Since: a.e.Time, Action: action, Responsible: a.responsible(ruleID)}
		alarms[key] = al
	}
	if !had || from != lvl || al.Reason != reason {
		a.alarmWrites++
	}
	al.Value, al.Threshold, al.Unit, al.Reason = x, th, unit, reason
	if from == lvl {
		return ""
	}
	al.Level, al.Since = lvl, a.e.Time
	change := ChangeRaised
	switch {
	case from == LevelWarn && lvl == LevelStop:
		change = ChangeEscalated
	case from == LevelStop && lvl == LevelWarn:
		change = ChangeEased
	}
	a.alert(al, site, change, from, lvl, x, reason)
	return change
}

func (a *applier) alert(al *Alarm, site, change string, from, to Level, x float64, reason string) {
	p := a.p
	p.AlertSeq++
	a.eff.Alerts = append(a.eff.Alerts, Alert{
		ID: fmt.Sprintf("%s#%d", p.ID, p.AlertSeq), Project: p.ID, District: p.Info.District,
		Site: site, Equipment: al.Equipment, Rule: al.Rule, Key: al.Key, Change: change,
		Level: to, From: from, Reason: reason, Action: al.Action, Value: x, Threshold: al.Threshold,
		Unit: al.Unit, Time: a.e.Time, Event: a.e.ID, Responsible: al.Responsible, Drill: a.e.Drill,
	})
}

// responsible names the unit that must act on an alarm of a rule.
func (a *applier) responsible(rule string) string {
	if rule == "funds" {
		return a.p.Info.Owner
	}
	return a.p.Info.Contractor
}

// evaluateProject evaluates the project rules at the twin's clock.
func (a *applier) evaluateProject() {
	p, r := a.p, a.r
	p.updateSchedule(time.Duration(r.Schedule.StatusMaxAgeDays * float64(day)))
	alarms := p.Alarms

	// schedule
	s := p.Schedule
	if s.Known && s.ATDays >= r.Schedule.MinElapsedDays {
		cur := alarmLevel(alarms, "schedule")
		lvl, th := r.Schedule.Band.Next(cur, s.SPIt)
		reason := ""
		if lvl != LevelOK {
			reason = "SPI(t) " + cmpText(&r.Schedule.Band, lvl, s.SPIt, th, "", "", 2) + " (" + num(-s.SVtDays) + " days behind plan)"
		}
		a.setAlarm(alarms, "", "schedule", nil, "", lvl, s.SPIt, th, "", reason)
	}

	// funds: earned value against disbursement
	f := &p.Funds
	f.EarnedCNY = round6(p.Info.BudgetCNY * s.EV)
	if f.DisbursedCNY > f.EarnedCNY*(1+r.Funds.OverTolerance) && r.Funds.Level > LevelOK {
		a.setAlarm(alarms, "", "funds", nil, "", r.Funds.Level, f.DisbursedCNY, f.EarnedCNY,
			"CNY", fmt.Sprintf("disbursed %s exceeds earned value %s", cny(f.DisbursedCNY), cny(f.EarnedCNY)))
	} else {
		a.setAlarm(alarms, "", "funds", nil, "", LevelOK, f.DisbursedCNY, f.EarnedCNY, "CNY", "")
	}

	// wages: days past the pay cycle, and the wage account reconciled
	a.evaluateWages()
	a.evaluateWageAccount()

	// hazards
	if len(p.hazardIDs) != len(p.Hazards) {
		p.hazardIDs = sortedKeys(p.Hazards)
	}
	for _, id := range p.hazardIDs {
		a.evaluateHazard(p.Hazards[id])
	}

	// incidents
	a.evaluateIncidents()

	// credit: a sensor reading changes none of its inputs but the clock,
	// and a progress report only whether the work is done; after either
	// it is recomputed only when the work became done or not, when the
	// clock reached the time the last computation said a term would change
	// (a hazard's deadline, a pay cycle's end), or when an incident left a
	// site's recent list.
	switch {
	case a.e.Type != TypeSensorReading && a.e.Type != TypeProgressReported,
		a.incidentsMoved, !p.creditKnown, p.creditDone != p.workDone(),
		!p.creditNext.IsZero() && !p.Clock.Before(p.creditNext):
		a.updateCredit()
	}
	cur := alarmLevel(alarms, "credit")
	lvl, th := r.Credit.Band.Next(cur, p.Credit.Score)
	reason := ""
	if lvl != LevelOK {
		reason = "contractor credit " + cmpText(&r.Credit.Band, lvl, p.Credit.Score, th, "", "", -1)
	}
	a.setAlarm(alarms, "", "credit", nil, "", lvl, p.Credit.Score, th, "", reason)

	a.evaluateWeather()
	a.evaluateOutward()
}

func (a *applier) evaluateWages() {
	p, r := a.p, a.r
	f := &p.Funds
	last := f.LastWagesPaid
	if last.IsZero() {
		last = p.Info.PlannedStart
	}
	f.ArrearsDays = 0
	if last.IsZero() || !p.Clock.After(last) || p.workDone() {
		a.setAlarm(p.Alarms, "", "wages", nil, "", LevelOK, 0, 0, "d", "")
		return
	}
	overdue := math.Floor(p.Clock.Sub(last).Hours()/24) - r.Wages.MaxCycleDays
	if overdue > 0 {
		f.ArrearsDays = overdue
	}
	cur := alarmLevel(p.Alarms, "wages")
	lvl, th := r.Wages.Band.Next(cur, overdue)
	reason := ""
	if lvl != LevelOK {
		since := "last paid " + last.In(r.loc).Format(time.DateOnly)
		if f.LastWagesPaid.IsZero() {
			since = "no wages paid since the planned start " + last.In(r.loc).Format(time.DateOnly)
		}
		reason = "wage arrears " + days(math.Max(overdue, 0)) + " (" + since + ")"
	}
	a.setAlarm(p.Alarms, "", "wages", nil, "", lvl, math.Max(overdue, 0), th, "d", reason)
}

// workDone reports whether every milestone of the baseline is complete (no
// more wages fall due). EV alone cannot tell: the budget shares of a plan
// may sum to 1 within 0.01.
func (p *ProjectTwin) workDone() bool {
	n := 0
	for _, m := range p.Milestones {
		if !m.Baselined {
			continue
		}
		if m.Percent < 100 {
			return false
		}
		n++
	}
	return n > 0
}

func (a *applier) evaluateHazard(h *Hazard) {
	p, r := a.p, a.r
	if h.Status != StatusOpen {
		if !h.quiet {
			a.setAlarm(p.Alarms, h.Site, "hazard@"+h.ID, nil, "", LevelOK, 0, 0, "d", "")
			h.quiet = true
		}
		return
	}
	h.quiet = false
	lvl := r.Rectification.Open[h.Severity]
	k := hazardReasonKey{severity: h.Severity, category: h.Category, deadline: h.Deadline, loc: r.loc}
	if p.Clock.After(h.Deadline) {
		k.overdue = true
		k.overdueDays = math.Floor(p.Clock.Sub(h.Deadline).Hours() / 24)
		lvl = max(lvl, r.Rectification.Overdue[h.Severity])
		if k.overdueDays > r.Rectification.EscalateAfterDays {
			lvl = LevelStop
		}
	}
	if h.reason == "" || h.reasonFor != k {
		h.reason, h.reasonFor = h.Severity+" hazard "+h.ID+" ("+h.Category+") open, due "+dueText(h.Deadline, r.loc), k
		if k.overdue {
			by := ""
			if k.overdueDays >= 1 {
				by = " by " + days(k.overdueDays)
			}
			h.reason = h.Severity + " hazard " + h.ID + " (" + h.Category + ") overdue" + by + " (due " + dueText(h.Deadline, r.loc) + ")"
		}
	}
	a.setAlarm(p.Alarms, h.Site, "hazard@"+h.ID, nil, "", lvl, k.overdueDays, 0, "d", h.reason)
}

func (a *applier) evaluateWeather() {
	p, r := a.p, a.r
	w := &p.Weather
	if w.Rainstorm != "" && !w.RainstormUntil.IsZero() && !p.Clock.Before(w.RainstormUntil) {
		w.Rainstorm, w.RainstormUntil = "", time.Time{}
	}
	lvl := LevelOK
	if w.Rainstorm != "" {
		lvl = r.Weather.Rainstorm[w.Rainstorm]
	}
	reason := ""
	if lvl != LevelOK {
		reason = w.Rainstorm + " rainstorm signal in effect"
	}
	a.setAlarm(p.Alarms, "", "rainstorm", nil, "", lvl, 0, 0, "", reason)

	if w.Typhoon != "" && !p.Clock.Before(w.TyphoonUntil) {
		*w = Weather{Rainstorm: w.Rainstorm, RainstormUntil: w.RainstormUntil}
	}
	lvl, reason = LevelOK, ""
	if w.Advisory != nil && w.TyphoonSite != "" && w.TyphoonMinKm <= r.Weather.TyphoonWatchKm {
		lvl = r.Weather.TyphoonLevel
		reason = fmt.Sprintf("typhoon %s passes %s km from %s at %s", w.Typhoon, num(w.TyphoonMinKm), w.TyphoonSite, w.TyphoonAt.In(r.loc).Format("2006-01-02 15:04"))
	}
	a.setAlarm(p.Alarms, "", "typhoon", nil, "", lvl, w.TyphoonMinKm, r.Weather.TyphoonWatchKm, "km", reason)
}

// typhoonApproach finds the registered site the active advisory's track
// passes closest to, and when. It runs when the advisory or the sites change.
func (a *applier) typhoonApproach() {
	p := a.p
	w := &p.Weather
	w.TyphoonMinKm, w.TyphoonAt, w.TyphoonSite = 0, time.Time{}, ""
	if w.Advisory == nil {
		return
	}
	best := math.Inf(1)
	for _, id := range sortedKeys(p.Sites) {
		s := p.Sites[id]
		if !s.Registered {
			continue
		}
		if km, at := closestApproach(s.Lat, s.Lon, w.Advisory.Track); km < best {
			best, w.TyphoonAt, w.TyphoonSite = km, at, id
		}
	}
	if w.TyphoonSite != "" {
		w.TyphoonMinKm = round6(best)
	}
}

func alarmLevel(m map[string]*Alarm, key string) Level {
	if al, ok := m[key]; ok {
		return al.Level
	}
	return LevelOK
}

// updateHealth sets a site's health and reasons from its alarms.
func (s *SiteTwin) updateHealth() {
	lvl, rs := summarize(s.Alarms, "")
	s.Health, s.Reasons = HealthOf(lvl), texts(rs)
}

// updateHealth sets the project's health and reasons from its own alarms and
// its sites', worst first.
func (p *ProjectTwin) updateHealth() {
	lvl, rs := summarize(p.Alarms, "")
	var keyBuf [16]string
	for _, id := range appendSortedKeys(keyBuf[:0], p.Sites) {
		sl, sr := summarize(p.Sites[id].Alarms, id+": ")
		lvl = max(lvl, sl)
		rs = append(rs, sr...)
	}
	slices.SortStableFunc(rs, func(x, y levelReason) int { return int(y.level) - int(x.level) })
	p.Health, p.Reasons = HealthOf(lvl), texts(rs)
}

type levelReason struct {
	level Level
	text  string
}

// summarize returns the worst level of the alarms and their reasons, worst
// first, then by key.
func summarize(alarms map[string]*Alarm, prefix string) (Level, []levelReason) {
	lvl := LevelOK
	rs := make([]levelReason, 0, len(alarms))
	var keyBuf [16]string
	for _, k := range appendSortedKeys(keyBuf[:0], alarms) {
		al := alarms[k]
		lvl = max(lvl, al.Level)
		rs = append(rs, levelReason{al.Level, prefix + al.Reason})
	}
	slices.SortStableFunc(rs, func(x, y levelReason) int { return int(y.level) - int(x.level) })
	return lvl, rs
}

func texts(rs []levelReason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.text
	}
	return out
}

func nanZero(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

// num formats a measured value for a reason: one decimal below 100, none
// above.
func num(x float64) string {
	if math.Abs(x) >= 100 {
		return strconv.FormatFloat(x, 'f', 0, 64) // as fmt's %.0f, without its cost per reason
	}
	return strconv.FormatFloat(x, 'f', 1, 64) // %.1f
}

// dueText writes a deadline in local time: a deadline at local midnight is
// the end of the day before, written as that date ("2026-07-10"); any other
// as date and time ("2026-07-10 18:00").
func dueText(t time.Time, loc *time.Location) string {
	lt := t.In(loc)
	if lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 && lt.Nanosecond() == 0 {
		return lt.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return lt.Format("2006-01-02 15:04")
}

// rfc3339 writes an instant in UTC, as event times are written.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// durationText writes a duration as Go does, without zero minutes and
// seconds: "1h", "87672h", "1h30m", "45s".
func durationText(d time.Duration) string {
	s := d.String()
	if hm, ok := strings.CutSuffix(s, "m0s"); ok {
		s = hm + "m"
		if h, ok := strings.CutSuffix(hm, "h0"); ok {
			s = h + "h"
		}
	}
	return s
}

// days writes a whole number of days: "1 day", "12 days".
func days(n float64) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.FormatFloat(n, 'f', 0, 64) + " days" // as fmt's "%.0f days"
}

// numPair formats a value and the threshold it is compared with, as num
// does (prec < 0) or with prec decimals, adding decimals while two values
// that differ would read the same ("150 > 150" for a mean of 150.4).
func numPair(x, th float64, prec int) (string, string) {
	f := func(v float64, p int) string {
		if p < 0 {
			return num(v)
		}
		return strconv.FormatFloat(v, 'f', p, 64)
	}
	a, b := f(x, prec), f(th, prec)
	for p := max(prec, 0) + 1; a == b && x != th && p <= 6; p++ {
		a, b = f(x, p), f(th, p)
	}
	return a, b
}

// cmpText is the comparison part of a reason: "170 µg/m³ > 150 warning"
// when the value is beyond the threshold of its level, or, when hysteresis
// holds the level although the value alone would not reach it, "170 µg/m³,
// stop-work held until < 150" (the clear threshold).
func cmpText(b *Band, lvl Level, x, th float64, unit, name string, prec int) string {
	op, back := ">", "<"
	if b.Below {
		op, back = "<", ">"
	}
	implied, _ := b.implied(x)
	held := implied < lvl
	if held {
		th = b.clear()
	}
	xs, ths := numPair(x, nanZero(th), prec)
	if unit != "" {
		xs += " " + unit
	}
	if held {
		if name != "" {
			name += " "
		}
		return xs + ", " + name + "held until " + back + " " + ths
	}
	if name != "" {
		name = " " + name
	}
	return xs + " " + op + " " + ths + name
}

func cny(x float64) string {
	switch {
	case math.Abs(x) >= 1e8:
		return fmt.Sprintf("¥%.2f亿", x/1e8)
	case math.Abs(x) >= 1e4:
		return fmt.Sprintf("¥%.1f万", x/1e4)
	}
	return fmt.Sprintf("¥%.0f", x)
}

// appendSortedKeys appends the keys of m to dst, sorts what it appended
// and returns the extended slice: sortedKeys without an allocation when dst
// has room (a buffer on the caller's stack).
func appendSortedKeys[V any](dst []string, m map[string]V) []string {
	n := len(dst)
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst[n:])
	return dst
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
