package twin

import (
	"time"
)

// Level is the severity of an alarm: ok, warn (amber) or stop (red).
type Level int8

// Levels, in increasing order.
const (
	LevelOK Level = iota
	LevelWarn
	LevelStop
)

func (l Level) String() string {
	switch l {
	case LevelWarn:
		return "warn"
	case LevelStop:
		return "stop"
	}
	return "ok"
}

// Health is the red/amber/green state of a twin.
type Health string

// Health values.
const (
	Green Health = "green"
	Amber Health = "amber"
	Red   Health = "red"
)

// HealthOf maps an alarm level to a health colour.
func HealthOf(l Level) Health {
	switch l {
	case LevelStop:
		return Red
	case LevelWarn:
		return Amber
	}
	return Green
}

// ProjectInfo is what project.registered says about a project.
type ProjectInfo struct {
	Name          string    `json:"name,omitempty"`
	District      string    `json:"district,omitempty"`
	Kind          string    `json:"kind,omitempty"`
	Owner         string    `json:"owner,omitempty"`
	Contractor    string    `json:"contractor,omitempty"`
	Supervisor    string    `json:"supervisor,omitempty"`
	BudgetCNY     float64   `json:"budget_cny,omitempty"` // including approved change orders
	PlannedStart  time.Time `json:"planned_start,omitzero"`
	PlannedFinish time.Time `json:"planned_finish,omitzero"`
	Deadline      time.Time `json:"deadline,omitzero"` // including approved extensions
	Address       string    `json:"address,omitempty"`
	PermitNumber  string    `json:"permit_number,omitempty"`
	// SupervisionFilingNumber and SafetyFilingNumber are the numbers of the
	// supervision filing (监理备案) and the safety-measure filing
	// (安全措施备案) that the filing platform asks for.
	SupervisionFilingNumber string    `json:"supervision_filing_number,omitempty"`
	SafetyFilingNumber      string    `json:"safety_filing_number,omitempty"`
	Registered              time.Time `json:"registered,omitzero"` // event time of the registration
}

// Milestone is one milestone of the baseline with its progress.
type Milestone struct {
	ID              string    `json:"id"`
	Name            string    `json:"name,omitempty"`
	OptimisticDays  float64   `json:"optimistic_days"`
	LikelyDays      float64   `json:"likely_days"`
	PessimisticDays float64   `json:"pessimistic_days"`
	DependsOn       []string  `json:"depends_on,omitempty"`
	BudgetShare     float64   `json:"budget_share"`
	Baselined       bool      `json:"baselined"`               // false for a milestone seen only in progress events so far
	PlannedStart    time.Time `json:"planned_start,omitzero"`  // forward pass over likely durations
	PlannedFinish   time.Time `json:"planned_finish,omitzero"` // forward pass over likely durations
	Percent         float64   `json:"percent_complete"`
	ProgressAt      time.Time `json:"progress_at,omitzero"` // event time of the latest progress report
	Completed       time.Time `json:"completed,omitzero"`
	Accepted        time.Time `json:"accepted,omitzero"`
	DisbursedCNY    float64   `json:"disbursed_cny,omitempty"`
	// Decision is the twin's latest disbursement decision on the milestone
	// (see DisbursementRule), and Decisions counts the decisions made.
	Decision  Decision `json:"decision,omitzero"`
	Decisions int      `json:"decisions,omitempty"`
}

// Schedule is the schedule state derived from the baseline and progress at
// the twin's clock, by earned value and earned schedule (Lipke).
type Schedule struct {
	PlannedStart  time.Time `json:"planned_start,omitzero"`
	PlannedFinish time.Time `json:"planned_finish,omitzero"` // of the baseline network
	PV            float64   `json:"pv"`                      // planned fraction complete at the clock, 0..1
	EV            float64   `json:"ev"`                      // earned fraction complete, 0..1
	SPI           float64   `json:"spi,omitempty"`           // EV / PV (cost-based; tends to 1 at the end)
	ESDays        float64   `json:"es_days"`                 // earned schedule: when the plan expected today's EV
	ATDays        float64   `json:"at_days"`                 // actual time since the planned start
	SPIt          float64   `json:"spi_t,omitempty"`         // ES / AT
	SVtDays       float64   `json:"sv_t_days"`               // ES - AT
	Known         bool      `json:"known"`                   // false until there is a baseline and time has passed
	StatusDate    time.Time `json:"status_date,omitzero"`    // the data date the figures are measured at
}

// Funds tracks money on the project.
type Funds struct {
	EarnedCNY        float64     `json:"earned_cny"` // budget x earned fraction
	DisbursedCNY     float64     `json:"disbursed_cny"`
	WageDepositedCNY float64     `json:"wage_deposited_cny"`
	WagesPaidCNY     float64     `json:"wages_paid_cny"`
	WageBalanceCNY   float64     `json:"wage_balance_cny"`
	LastWagesPaid    time.Time   `json:"last_wages_paid,omitzero"`
	ArrearsDays      float64     `json:"arrears_days"`            // whole days past the pay cycle, at the clock
	WagePayments     []time.Time `json:"wage_payments,omitempty"` // event times of wage payments, ascending
	ChangeOrdersCNY  float64     `json:"change_orders_cny"`       // sum of approved budget changes
	ChangeOrderDays  float64     `json:"change_order_days"`       // sum of approved extensions
	Payments         int         `json:"payments"`                // payment events applied
	LastPaymentEvent string      `json:"last_payment_event"`      // id of the latest
	// WagePeriods reconcile each month's expected payroll with the wages
	// paid for it (attendance.reported, wages.paid with a period), the
	// latest 36 months, oldest first.
	WagePeriods []WagePeriod `json:"wage_periods,omitempty"`
	// ArrearsCNY is the expected payroll not paid for months whose pay
	// cycle has passed.
	ArrearsCNY float64 `json:"arrears_cny,omitempty"`
	// ArrearsWarning says why an arrears warning stands ("": none): a pay
	// cycle over a month, a month paid short, a balance below a month's
	// payroll. It holds further disbursements.
	ArrearsWarning string `json:"arrears_warning,omitempty"`
}

// Hazard states of the rectification loop.
const (
	StatusOpen      = "open"      // found, notice issued, awaiting rectification
	StatusRectified = "rectified" // rectified, awaiting re-inspection
	StatusClosed    = "closed"    // re-inspection passed
)

// Hazard is a safety or quality hazard in the rectification loop.
type Hazard struct {
	ID          string    `json:"id"`
	Severity    string    `json:"severity"`
	Category    string    `json:"category"`
	Milestone   string    `json:"milestone,omitempty"`
	Description string    `json:"description,omitempty"`
	Site        string    `json:"site,omitempty"`
	Status      string    `json:"status"`
	Found       time.Time `json:"found"`
	Deadline    time.Time `json:"deadline"`
	Notice      string    `json:"notice"` // id of the rectification notice sent
	Rectified   time.Time `json:"rectified,omitzero"`
	Closed      time.Time `json:"closed,omitzero"`
	Reopened    int       `json:"reopened,omitempty"`
	Missed      int       `json:"missed_deadlines,omitempty"` // earlier deadlines passed before a re-inspection failed
	Overdue     bool      `json:"overdue"`                    // not rectified by its deadline (derived)

	// quiet is set once the hazard is not open and its alarm is cleared:
	// evaluating it changes nothing until it opens again. reason is its
	// open alarm's reason as last worded, for reasonFor.
	quiet     bool
	reason    string
	reasonFor hazardReasonKey
}

// hazardReasonKey is what an open hazard's reason is worded from, besides
// its id.
type hazardReasonKey struct {
	severity, category string
	deadline           time.Time
	overdueDays        float64
	overdue            bool
	loc                *time.Location // the rule pack's, which due dates are written in
}

// Credit is the contractor's conduct score on this project. It is derived
// from the facts (hazards found, deadlines missed, late wages, milestones
// accepted), not accumulated event by event, so the same facts give the same
// score whatever order they arrived in.
type Credit struct {
	Score   float64        `json:"score"`
	Changes []CreditChange `json:"changes,omitempty"` // what makes up the score, by time (the latest maxCreditChanges)
}

// CreditChange is one contribution to the credit score with its cause.
type CreditChange struct {
	Time   time.Time `json:"time"`
	Delta  float64   `json:"delta"`
	Reason string    `json:"reason"`
}

const maxCreditChanges = 50

// Equipment is a tower crane or a foundation pit on a site.
type Equipment struct {
	ID                  string    `json:"id"`
	Kind                string    `json:"kind"`
	HeightM             float64   `json:"height_m,omitempty"`
	JibLengthM          float64   `json:"jib_length_m,omitempty"`
	InServiceLimitMS    float64   `json:"in_service_limit_ms,omitempty"`
	OutOfServiceLimitMS float64   `json:"out_of_service_limit_ms,omitempty"`
	DepthM              float64   `json:"depth_m,omitempty"`
	AlarmCumulativeMM   float64   `json:"alarm_cumulative_mm,omitempty"`
	AlarmRateMMPerDay   float64   `json:"alarm_rate_mm_per_day,omitempty"`
	Installed           time.Time `json:"installed,omitzero"`
	Registered          bool      `json:"registered"` // set by equipment.installed; false only in a twin checkpointed when readings still created equipment implicitly
}

// Base returns the equipment's limit that a relative rule names (its
// relative.base: in_service_limit_ms, alarm_cumulative_mm,
// alarm_rate_mm_per_day), or 0 when it has none.
func (e *Equipment) Base(field string) float64 {
	if e == nil {
		return 0
	}
	switch field {
	case "in_service_limit_ms":
		return e.InServiceLimitMS
	case "alarm_cumulative_mm":
		return e.AlarmCumulativeMM
	case "alarm_rate_mm_per_day":
		return e.AlarmRateMMPerDay
	}
	return 0
}

// SiteTwin is the twin of one site: equipment, sensor series and alarms.
type SiteTwin struct {
	ID         string                `json:"id"`
	Name       string                `json:"name,omitempty"`
	Lat        float64               `json:"lat"`
	Lon        float64               `json:"lon"`
	Terrain    string                `json:"terrain,omitempty"`
	Registered bool                  `json:"registered"` // set by site.added; false only in a twin checkpointed when readings still created sites implicitly
	Equipment  map[string]*Equipment `json:"equipment"`
	Series     map[string]*Series    `json:"series"` // by kind, or kind@equipment
	Clock      time.Time             `json:"clock,omitzero"`
	Alarms     map[string]*Alarm     `json:"alarms"` // by rule id, or rule@equipment
	Values     map[string]*RuleValue `json:"values"` // the latest windowed value of each rule, keyed as Alarms
	Health     Health                `json:"health"`
	Reasons    []string              `json:"reasons"`
	Readings   int64                 `json:"readings"`
	Late       int64                 `json:"late_readings"`
	Expired    int64                 `json:"expired_readings"`
	// SensorAlarms are the times of the sensor alarms raised at the site
	// (a sensor rule's alarm going from ok to warn or stop) in the last
	// SensorAlarmWindow of the site's clock, oldest first, at most
	// maxSensorAlarms of them.
	SensorAlarms []SensorAlarm `json:"sensor_alarms,omitempty"`
	// Incidents are the site's recent incidents, oldest first: those of
	// the last incidentRetentionDays (365 days) of the project's clock, at
	// most maxSiteIncidents (50, the latest). Older ones are only counted,
	// in EarlierIncidents, so that the credit score still holds them.
	Incidents        []SiteIncident    `json:"incidents,omitempty"`
	EarlierIncidents *EarlierIncidents `json:"earlier_incidents,omitempty"`

	// plan is the work a reading sets off at the site, worked out on first
	// use (see sitePlan); never written.
	plan *sitePlan
}

// Windows and bounds of a site's incident and sensor-alarm memory.
const (
	// SensorAlarmWindow is how long a site remembers the sensor alarms
	// raised at it (SiteView.AlarmsLast7d counts them).
	SensorAlarmWindow = 7 * day
	// IncidentWindow is the window of SiteView.IncidentsLast90d.
	IncidentWindow = 90 * day

	maxSensorAlarms       = 100
	incidentRetentionDays = 365
	maxSiteIncidents      = 50
)

// SensorAlarm is a sensor alarm raised at a site: when, and by which rule.
type SensorAlarm struct {
	Time time.Time `json:"time"`
	Rule string    `json:"rule"`
}

// SiteIncident is an incident at a site, as incident.reported said.
type SiteIncident struct {
	Time      time.Time `json:"time"` // event time of the report
	ID        string    `json:"id"`
	Severity  string    `json:"severity"`
	Category  string    `json:"category"`
	Equipment string    `json:"equipment,omitempty"`
	Injuries  int       `json:"injuries"`
}

// EarlierIncidents counts a site's incidents that have left its recent
// list, by severity, with the time of the latest of them.
type EarlierIncidents struct {
	Counts map[string]int `json:"counts"`
	Latest time.Time      `json:"latest"`
}

// RuleValue is the latest windowed value a sensor rule computed for a series
// (the PM10 hourly mean, the 20-minute noise Leq, the wind at a crane's
// jib), at the site clock when it was computed.
type RuleValue struct {
	Rule      string    `json:"rule"`
	Label     string    `json:"label"`
	Equipment string    `json:"equipment,omitempty"`
	Aggregate string    `json:"aggregate"`
	Window    Duration  `json:"window,omitempty"`
	Value     float64   `json:"value"`
	Unit      string    `json:"unit"`
	At        time.Time `json:"at"`
}

// Alarm is a standing condition raised by a rule. Its level drives health.
type Alarm struct {
	Key         string    `json:"key"`
	Rule        string    `json:"rule"`
	Site        string    `json:"site,omitempty"`
	Equipment   string    `json:"equipment,omitempty"`
	Level       Level     `json:"level"`
	Value       float64   `json:"value"`
	Threshold   float64   `json:"threshold"`
	Unit        string    `json:"unit,omitempty"`
	Reason      string    `json:"reason"`
	Action      string    `json:"action,omitempty"`
	Since       time.Time `json:"since"`
	Responsible string    `json:"responsible,omitempty"`
}

// ProjectTwin is the aggregate of one project: its ledger, schedule, funds,
// hazards, credit, audit chain and sites. Apply is the only way to change it.
type ProjectTwin struct {
	ID         string               `json:"id"`
	Registered bool                 `json:"registered"` // false until project.registered arrives
	Info       ProjectInfo          `json:"info"`
	Clock      time.Time            `json:"clock,omitzero"`     // latest event time applied
	Evaluated  time.Time            `json:"evaluated,omitzero"` // clock at the last evaluation of the project rules
	Milestones []*Milestone         `json:"milestones"`         // in baseline order
	Schedule   Schedule             `json:"schedule"`
	Funds      Funds                `json:"funds"`
	Hazards    map[string]*Hazard   `json:"hazards"`
	Credit     Credit               `json:"credit"`
	Sites      map[string]*SiteTwin `json:"sites"`
	Alarms     map[string]*Alarm    `json:"alarms"` // project-level, by key
	Weather    Weather              `json:"weather"`
	Health     Health               `json:"health"`
	Reasons    []string             `json:"reasons"`
	Audit      []AuditRecord        `json:"audit"`
	// Filings are the filings requested of the filing platform, with
	// their review status.
	Filings []*Filing `json:"filings,omitempty"`
	// Predictions are the latest model outputs and the risks they raise
	// (RecordPrediction); a canonical dump leaves them out.
	Predictions Predictions `json:"predictions,omitzero"`
	Seen        Seen        `json:"seen"`
	Applied     int64       `json:"events_applied"`
	Duplicates  int64       `json:"duplicates"`
	AlertSeq    int64       `json:"alert_seq"`

	// creditKnown says Credit was computed since the twin was made or
	// restored, creditNext is the earliest clock at which a term of it may
	// change without an event (zero: none), and creditDone whether the
	// work was done then; see evaluateProject.
	creditKnown bool
	creditNext  time.Time
	creditDone  bool
	// What the schedule is computed from, but the clock, moves only with
	// an event other than a sensor reading, which clears esKnown (see
	// Apply). While it is set, updateSchedule keeps ev (EV), progressAt
	// (the latest progress or completion of a baselined milestone) and es
	// (the earned schedule, for EV esFor) as computed, and the whole
	// schedule while the status date stays schedAt.
	esKnown    bool
	ev         float64
	progressAt time.Time
	schedAt    time.Time
	es         time.Duration
	esFor      float64
	// hazardIDs are the ids of Hazards in order, while there are as many
	// (hazards are never removed).
	hazardIDs []string
}

// Weather is the weather that concerns the project.
type Weather struct {
	Rainstorm      string           `json:"rainstorm,omitempty"` // current signal level, "" for none
	RainstormUntil time.Time        `json:"rainstorm_until,omitzero"`
	Typhoon        string           `json:"typhoon,omitempty"` // name of the active advisory
	TyphoonUntil   time.Time        `json:"typhoon_until,omitzero"`
	TyphoonMinKm   float64          `json:"typhoon_min_km,omitempty"` // closest approach of the track to any site
	TyphoonAt      time.Time        `json:"typhoon_at,omitzero"`      // when
	TyphoonSite    string           `json:"typhoon_site,omitempty"`   // the site it passes closest to
	Advisory       *TyphoonAdvisory `json:"advisory,omitempty"`       // the active advisory, as received
}

// NewProject returns an empty twin for a project id. It becomes registered
// when its project.registered event is applied; Apply rejects every other
// event until then.
func NewProject(id string, r *Rules) *ProjectTwin {
	return &ProjectTwin{
		ID:         id,
		Milestones: []*Milestone{},
		Audit:      []AuditRecord{},
		Hazards:    map[string]*Hazard{},
		Sites:      map[string]*SiteTwin{},
		Alarms:     map[string]*Alarm{},
		Credit:     Credit{Score: r.Credit.Initial},
		Health:     Green,
		Reasons:    []string{},
		Seen:       Seen{Keep: map[string]struct{}{}},
	}
}

func newSite(id string) *SiteTwin {
	return &SiteTwin{
		ID:        id,
		Equipment: map[string]*Equipment{},
		Series:    map[string]*Series{},
		Alarms:    map[string]*Alarm{},
		Values:    map[string]*RuleValue{},
		Health:    Green,
		Reasons:   []string{},
	}
}

// milestone returns the milestone, creating an unbaselined one if needed.
func (p *ProjectTwin) milestone(id string) *Milestone {
	for _, m := range p.Milestones {
		if m.ID == id {
			return m
		}
	}
	m := &Milestone{ID: id}
	p.Milestones = append(p.Milestones, m)
	return m
}

// OpenAlarms counts the alarms at warn or stop, project and sites together.
func (p *ProjectTwin) OpenAlarms() int {
	n := len(p.Alarms)
	for _, s := range p.Sites {
		n += len(s.Alarms)
	}
	return n
}
