package twin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// A twin's snapshot is written in one of two forms, and read in either:
//
//   - JSON, the twin's own encoding/json form (json.Marshal of a
//     *ProjectTwin): what the dump, StateFun's state and the API show, and
//     what changelogs written by earlier versions hold;
//   - binary (AppendSnapshot), what the engine checkpoints: the same
//     fields in a fixed order, numbers as varints and IEEE 754 bits,
//     strings length-prefixed, a series' buckets and the remembered ids in
//     the compact forms of codec.go. It is about ten times faster to write
//     and to read than the JSON and about half its size. The rare and
//     nested parts (predictions, filings, a typhoon advisory) are held as
//     JSON inside it: they are small, seldom there, and their encoding/json
//     form is already exact.
//
// Both forms give back exactly the twin that was written: every exported
// field, nil and empty lists and maps kept apart, floats to the bit. The
// caches a twin builds as it applies events are not written; a decoded twin
// builds them again, as one decoded from JSON does.
//
// The binary form starts with snapshotMagic and a version byte, which JSON
// (starting with '{' after optional white space) never does. Fields are
// positional: a field added to a twin's types must be added here, at the
// end of its type's list, with the version raised when old snapshots must
// still be read (TestSnapshotCoversEveryField fails until it is).

// snapshotMagic starts every binary snapshot.
const snapshotMagic = "\x00stw"

// snapshotV1 is the binary form this build writes and the newest it reads.
const snapshotV1 = 1

// AppendSnapshot appends the twin's binary snapshot to b.
func (p *ProjectTwin) AppendSnapshot(b []byte) ([]byte, error) {
	w := snapWriter{b: append(b, snapshotMagic...)}
	w.b = append(w.b, snapshotV1)
	if err := w.project(p); err != nil {
		return b, fmt.Errorf("snapshot of twin %s: %w", p.ID, err)
	}
	return w.b, nil
}

// DecodeSnapshot reads a twin's snapshot in either form: binary
// (AppendSnapshot) or JSON. Bytes that are neither, or a binary snapshot
// that is cut short, has bytes left over or holds an impossible value, give
// an error wrapping errCodec (JSON errors are encoding/json's).
func DecodeSnapshot(b []byte) (*ProjectTwin, error) {
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		var p ProjectTwin
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	b = b[len(snapshotMagic):]
	if len(b) == 0 || b[0] != snapshotV1 {
		return nil, fmt.Errorf("binary snapshot of an unknown version (this build reads %d): %w", snapshotV1, errCodec)
	}
	r := snapReader{b: b[1:]}
	p := r.project()
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Sprintf("%d bytes left over", len(r.b)))
	}
	if r.err != nil {
		return nil, fmt.Errorf("binary snapshot: %w", r.err)
	}
	return p, nil
}

// snapWriter appends a binary snapshot. keys is scratch room for sorted
// map keys (maps are written in key order, so that the same twin gives the
// same bytes); see writeOrder.
type snapWriter struct {
	b    []byte
	keys []string
}

func (w *snapWriter) uint(v uint64)   { w.b = binary.AppendUvarint(w.b, v) }
func (w *snapWriter) int(v int64)     { w.b = binary.AppendVarint(w.b, v) }
func (w *snapWriter) float(v float64) { w.b = appendFloat(w.b, v) }
func (w *snapWriter) level(l Level)   { w.b = append(w.b, byte(l)) }
func (w *snapWriter) health(h Health) { w.str(string(h)) }
func (w *snapWriter) str(s string)    { w.uint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *snapWriter) bytes(s []byte)  { w.uint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *snapWriter) count(n int)     { w.uint(uint64(n) + 1) }
func (w *snapWriter) null()           { w.uint(0) }
func (w *snapWriter) present(ok bool) { w.flag(ok) }

func (w *snapWriter) flag(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// Time tags: the zero time; an instant in UTC (or any zone at offset 0,
// which JSON also reads back as UTC); an instant with its zone's offset.
const (
	timeZero = iota
	timeUTC
	timeOffset
)

func (w *snapWriter) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, timeZero)
		return
	}
	_, off := t.Zone()
	if off == 0 {
		w.b = append(w.b, timeUTC)
	} else {
		w.b = append(w.b, timeOffset)
		w.int(int64(off))
	}
	w.int(t.Unix())
	w.uint(uint64(t.Nanosecond()))
}

// strs writes a list of strings, keeping nil apart from empty.
func (w *snapWriter) strs(l []string) {
	if l == nil {
		w.null()
		return
	}
	w.count(len(l))
	for _, s := range l {
		w.str(s)
	}
}

// json writes v's JSON, length-prefixed; an absent value (see present) is
// written by the caller as an empty one.
func (w *snapWriter) json(v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.bytes(j)
	return nil
}

// writeOrder returns the keys of m in order, kept in w.keys from mark on;
// the caller gives the room back with w.keys = w.keys[:mark] when done
// with them (maps inside the map may use the room after them meanwhile).
func writeOrder[V any](w *snapWriter, m map[string]V) (keys []string, mark int) {
	mark = len(w.keys)
	for k := range m {
		w.keys = append(w.keys, k)
	}
	keys = w.keys[mark:]
	slices.Sort(keys)
	return keys, mark
}

// writeMap writes a map in key order, each value by f; nil is kept apart
// from empty. readMap reads it back.
func writeMap[V any](w *snapWriter, m map[string]V, f func(V)) {
	if m == nil {
		w.null()
		return
	}
	w.count(len(m))
	keys, mark := writeOrder(w, m)
	for _, k := range keys {
		w.str(k)
		f(m[k])
	}
	w.keys = w.keys[:mark]
}

// writePtrs writes a map of pointers, a nil one as absent.
func writePtrs[V any](w *snapWriter, m map[string]*V, f func(*V)) {
	writeMap(w, m, func(v *V) {
		w.present(v != nil)
		if v != nil {
			f(v)
		}
	})
}

// writeList writes a list, each element by f; nil is kept apart from
// empty. readList reads it back.
func writeList[T any](w *snapWriter, l []T, f func(*T)) {
	if l == nil {
		w.null()
		return
	}
	w.count(len(l))
	for i := range l {
		f(&l[i])
	}
}

// snapReader reads a binary snapshot. The first error sticks: every read
// after it gives a zero value, so a decoding function checks r.err once at
// the end.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", what, errCodec)
	}
	r.b = nil
}

func (r *snapReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("cut short or a number too long")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("cut short or a number too long")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) float() float64 {
	if len(r.b) < 8 {
		r.fail("cut short")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *snapReader) byte() byte {
	if len(r.b) == 0 {
		r.fail("cut short")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *snapReader) flag() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("a flag neither 0 nor 1")
	return false
}

func (r *snapReader) present() bool { return r.flag() }

func (r *snapReader) level() Level {
	l := Level(r.byte())
	if l > LevelStop {
		r.fail(fmt.Sprintf("alarm level %d", l))
		return LevelOK
	}
	return l
}

func (r *snapReader) health() Health { return Health(r.str()) }

// raw returns the next length-prefixed bytes, without copying.
func (r *snapReader) raw() []byte {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail("a length past the end")
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// compact returns the next compact form (see openCompact), without
// copying.
func (r *snapReader) compact() []byte {
	if len(r.b) < compactLen {
		r.fail("cut short")
		return nil
	}
	n := uint64(binary.LittleEndian.Uint32(r.b))
	r.b = r.b[compactLen:]
	if n > uint64(len(r.b)) {
		r.fail("a length past the end")
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *snapReader) str() string {
	if b := r.raw(); len(b) > 0 {
		return string(b)
	}
	return ""
}

// count reads the length of a list or map: nil when it was nil. A length
// longer than the bytes left (every element takes at least one) is an
// error, so that a bad snapshot cannot make the reader allocate much.
func (r *snapReader) count() (n int, isNil bool) {
	v := r.uint()
	if v == 0 {
		return 0, true
	}
	v--
	if v > uint64(len(r.b)) {
		r.fail("a count past the end")
		return 0, true
	}
	return int(v), false
}

func (r *snapReader) time() time.Time {
	var off int64
	switch r.byte() {
	case timeZero:
		return time.Time{}
	case timeUTC:
	case timeOffset:
		off = r.int()
		if off < -24*3600 || off > 24*3600 {
			r.fail("a zone offset over a day")
			return time.Time{}
		}
	default:
		r.fail("a bad time tag")
		return time.Time{}
	}
	sec, ns := r.int(), r.uint()
	if ns >= 1e9 {
		r.fail("nanoseconds over a second")
		return time.Time{}
	}
	t := time.Unix(sec, int64(ns))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}

func (r *snapReader) strs() []string {
	n, isNil := r.count()
	if isNil {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.str()
	}
	return l
}

// json decodes length-prefixed JSON into v.
func (r *snapReader) json(v any) {
	b := r.raw()
	if r.err != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		r.fail("JSON part: " + err.Error())
	}
}

// readMap reads what writeMap wrote.
func readMap[V any](r *snapReader, f func() V) map[string]V {
	n, isNil := r.count()
	if isNil {
		return nil
	}
	m := make(map[string]V, n)
	for range n {
		k := r.str()
		m[k] = f()
	}
	return m
}

// readPtrs reads what writePtrs wrote.
func readPtrs[V any](r *snapReader, f func() *V) map[string]*V {
	return readMap(r, func() *V {
		if !r.present() {
			return nil
		}
		return f()
	})
}

// readList reads what writeList wrote.
func readList[T any](r *snapReader, f func(*T)) []T {
	n, isNil := r.count()
	if isNil {
		return nil
	}
	l := make([]T, n)
	for i := range l {
		f(&l[i])
	}
	return l
}

// The twin's types, each written and read in the order of its fields.

func (w *snapWriter) project(p *ProjectTwin) error {
	w.str(p.ID)
	w.flag(p.Registered)
	w.info(&p.Info)
	w.time(p.Clock)
	w.time(p.Evaluated)
	writeList(w, p.Milestones, func(m **Milestone) {
		w.present(*m != nil)
		if *m != nil {
			w.milestone(*m)
		}
	})
	w.schedule(&p.Schedule)
	w.funds(&p.Funds)
	writePtrs(w, p.Hazards, w.hazard)
	w.float(p.Credit.Score)
	writeList(w, p.Credit.Changes, func(c *CreditChange) {
		w.time(c.Time)
		w.float(c.Delta)
		w.str(c.Reason)
	})
	writePtrs(w, p.Sites, w.site)
	writePtrs(w, p.Alarms, w.alarm)
	if err := w.weather(&p.Weather); err != nil {
		return err
	}
	w.health(p.Health)
	w.strs(p.Reasons)
	writeList(w, p.Audit, w.audit)
	// filings and predictions: JSON parts, absent when there are none
	w.present(p.Filings != nil)
	if p.Filings != nil {
		if err := w.json(p.Filings); err != nil {
			return fmt.Errorf("filings: %w", err)
		}
	}
	w.present(!p.Predictions.IsZero())
	if !p.Predictions.IsZero() {
		if err := w.json(&p.Predictions); err != nil {
			return fmt.Errorf("predictions: %w", err)
		}
	}
	w.seen(&p.Seen)
	w.int(p.Applied)
	w.int(p.Duplicates)
	w.int(p.AlertSeq)
	return nil
}

func (r *snapReader) project() *ProjectTwin {
	p := &ProjectTwin{}
	p.ID = r.str()
	p.Registered = r.flag()
	r.info(&p.Info)
	p.Clock = r.time()
	p.Evaluated = r.time()
	p.Milestones = readList(r, func(m **Milestone) {
		if r.present() {
			*m = r.milestone()
		}
	})
	r.schedule(&p.Schedule)
	r.funds(&p.Funds)
	p.Hazards = readPtrs(r, r.hazard)
	p.Credit.Score = r.float()
	p.Credit.Changes = readList(r, func(c *CreditChange) {
		c.Time = r.time()
		c.Delta = r.float()
		c.Reason = r.str()
	})
	p.Sites = readPtrs(r, r.site)
	p.Alarms = readPtrs(r, r.alarm)
	r.weather(&p.Weather)
	p.Health = r.health()
	p.Reasons = r.strs()
	p.Audit = readList(r, r.audit)
	if r.present() {
		r.json(&p.Filings)
	}
	if r.present() {
		r.json(&p.Predictions)
	}
	r.seen(&p.Seen)
	p.Applied = r.int()
	p.Duplicates = r.int()
	p.AlertSeq = r.int()
	return p
}

func (w *snapWriter) info(i *ProjectInfo) {
	w.str(i.Name)
	w.str(i.District)
	w.str(i.Kind)
	w.str(i.Owner)
	w.str(i.Contractor)
	w.str(i.Supervisor)
	w.float(i.BudgetCNY)
	w.time(i.PlannedStart)
	w.time(i.PlannedFinish)
	w.time(i.Deadline)
	w.str(i.Address)
	w.str(i.PermitNumber)
	w.str(i.SupervisionFilingNumber)
	w.str(i.SafetyFilingNumber)
	w.time(i.Registered)
}

func (r *snapReader) info(i *ProjectInfo) {
	i.Name = r.str()
	i.District = r.str()
	i.Kind = r.str()
	i.Owner = r.str()
	i.Contractor = r.str()
	i.Supervisor = r.str()
	i.BudgetCNY = r.float()
	i.PlannedStart = r.time()
	i.PlannedFinish = r.time()
	i.Deadline = r.time()
	i.Address = r.str()
	i.PermitNumber = r.str()
	i.SupervisionFilingNumber = r.str()
	i.SafetyFilingNumber = r.str()
	i.Registered = r.time()
}

func (w *snapWriter) milestone(m *Milestone) {
	w.str(m.ID)
	w.str(m.Name)
	w.float(m.OptimisticDays)
	w.float(m.LikelyDays)
	w.float(m.PessimisticDays)
	w.strs(m.DependsOn)
	w.float(m.BudgetShare)
	w.flag(m.Baselined)
	w.time(m.PlannedStart)
	w.time(m.PlannedFinish)
	w.float(m.Percent)
	w.time(m.ProgressAt)
	w.time(m.Completed)
	w.time(m.Accepted)
	w.float(m.DisbursedCNY)
	d := &m.Decision
	w.str(d.ID)
	w.str(d.Outcome)
	w.strs(d.Reasons)
	w.float(d.AmountCNY)
	w.str(d.Key)
	w.time(d.Time)
	w.str(d.Event)
	w.str(d.Status)
	w.str(d.Receipt)
	w.str(d.Answer)
	w.int(int64(m.Decisions))
}

func (r *snapReader) milestone() *Milestone {
	m := &Milestone{}
	m.ID = r.str()
	m.Name = r.str()
	m.OptimisticDays = r.float()
	m.LikelyDays = r.float()
	m.PessimisticDays = r.float()
	m.DependsOn = r.strs()
	m.BudgetShare = r.float()
	m.Baselined = r.flag()
	m.PlannedStart = r.time()
	m.PlannedFinish = r.time()
	m.Percent = r.float()
	m.ProgressAt = r.time()
	m.Completed = r.time()
	m.Accepted = r.time()
	m.DisbursedCNY = r.float()
	d := &m.Decision
	d.ID = r.str()
	d.Outcome = r.str()
	d.Reasons = r.strs()
	d.AmountCNY = r.float()
	d.Key = r.str()
	d.Time = r.time()
	d.Event = r.str()
	d.Status = r.str()
	d.Receipt = r.str()
	d.Answer = r.str()
	m.Decisions = int(r.int())
	return m
}

func (w *snapWriter) schedule(s *Schedule) {
	w.time(s.PlannedStart)
	w.time(s.PlannedFinish)
	w.float(s.PV)
	w.float(s.EV)
	w.float(s.SPI)
	w.float(s.ESDays)
	w.float(s.ATDays)
	w.float(s.SPIt)
	w.float(s.SVtDays)
	w.flag(s.Known)
	w.time(s.StatusDate)
}

func (r *snapReader) schedule(s *Schedule) {
	s.PlannedStart = r.time()
	s.PlannedFinish = r.time()
	s.PV = r.float()
	s.EV = r.float()
	s.SPI = r.float()
	s.ESDays = r.float()
	s.ATDays = r.float()
	s.SPIt = r.float()
	s.SVtDays = r.float()
	s.Known = r.flag()
	s.StatusDate = r.time()
}

func (w *snapWriter) funds(f *Funds) {
	w.float(f.EarnedCNY)
	w.float(f.DisbursedCNY)
	w.float(f.WageDepositedCNY)
	w.float(f.WagesPaidCNY)
	w.float(f.WageBalanceCNY)
	w.time(f.LastWagesPaid)
	w.float(f.ArrearsDays)
	writeList(w, f.WagePayments, func(t *time.Time) { w.time(*t) })
	w.float(f.ChangeOrdersCNY)
	w.float(f.ChangeOrderDays)
	w.int(int64(f.Payments))
	w.str(f.LastPaymentEvent)
	writeList(w, f.WagePeriods, func(p *WagePeriod) {
		w.str(p.Period)
		w.float(p.WorkerDays)
		w.int(int64(p.Workers))
		w.float(p.ExpectedCNY)
		w.float(p.PaidCNY)
	})
	w.float(f.ArrearsCNY)
	w.str(f.ArrearsWarning)
}

func (r *snapReader) funds(f *Funds) {
	f.EarnedCNY = r.float()
	f.DisbursedCNY = r.float()
	f.WageDepositedCNY = r.float()
	f.WagesPaidCNY = r.float()
	f.WageBalanceCNY = r.float()
	f.LastWagesPaid = r.time()
	f.ArrearsDays = r.float()
	f.WagePayments = readList(r, func(t *time.Time) { *t = r.time() })
	f.ChangeOrdersCNY = r.float()
	f.ChangeOrderDays = r.float()
	f.Payments = int(r.int())
	f.LastPaymentEvent = r.str()
	f.WagePeriods = readList(r, func(p *WagePeriod) {
		p.Period = r.str()
		p.WorkerDays = r.float()
		p.Workers = int(r.int())
		p.ExpectedCNY = r.float()
		p.PaidCNY = r.float()
	})
	f.ArrearsCNY = r.float()
	f.ArrearsWarning = r.str()
}

func (w *snapWriter) hazard(h *Hazard) {
	w.str(h.ID)
	w.str(h.Severity)
	w.str(h.Category)
	w.str(h.Milestone)
	w.str(h.Description)
	w.str(h.Site)
	w.str(h.Status)
	w.time(h.Found)
	w.time(h.Deadline)
	w.str(h.Notice)
	w.time(h.Rectified)
	w.time(h.Closed)
	w.int(int64(h.Reopened))
	w.int(int64(h.Missed))
	w.flag(h.Overdue)
}

func (r *snapReader) hazard() *Hazard {
	h := &Hazard{}
	h.ID = r.str()
	h.Severity = r.str()
	h.Category = r.str()
	h.Milestone = r.str()
	h.Description = r.str()
	h.Site = r.str()
	h.Status = r.str()
	h.Found = r.time()
	h.Deadline = r.time()
	h.Notice = r.str()
	h.Rectified = r.time()
	h.Closed = r.time()
	h.Reopened = int(r.int())
	h.Missed = int(r.int())
	h.Overdue = r.flag()
	return h
}

func (w *snapWriter) site(s *SiteTwin) {
	w.str(s.ID)
	w.str(s.Name)
	w.float(s.Lat)
	w.float(s.Lon)
	w.str(s.Terrain)
	w.flag(s.Registered)
	writePtrs(w, s.Equipment, w.equipment)
	writePtrs(w, s.Series, w.series)
	w.time(s.Clock)
	writePtrs(w, s.Alarms, w.alarm)
	writePtrs(w, s.Values, w.ruleValue)
	w.health(s.Health)
	w.strs(s.Reasons)
	w.int(s.Readings)
	w.int(s.Late)
	w.int(s.Expired)
	writeList(w, s.SensorAlarms, func(a *SensorAlarm) {
		w.time(a.Time)
		w.str(a.Rule)
	})
	writeList(w, s.Incidents, func(in *SiteIncident) {
		w.time(in.Time)
		w.str(in.ID)
		w.str(in.Severity)
		w.str(in.Category)
		w.str(in.Equipment)
		w.int(int64(in.Injuries))
	})
	w.present(s.EarlierIncidents != nil)
	if e := s.EarlierIncidents; e != nil {
		writeMap(w, e.Counts, func(n int) { w.int(int64(n)) })
		w.time(e.Latest)
	}
}

func (r *snapReader) site() *SiteTwin {
	s := &SiteTwin{}
	s.ID = r.str()
	s.Name = r.str()
	s.Lat = r.float()
	s.Lon = r.float()
	s.Terrain = r.str()
	s.Registered = r.flag()
	s.Equipment = readPtrs(r, r.equipment)
	s.Series = readPtrs(r, r.series)
	s.Clock = r.time()
	s.Alarms = readPtrs(r, r.alarm)
	s.Values = readPtrs(r, r.ruleValue)
	s.Health = r.health()
	s.Reasons = r.strs()
	s.Readings = r.int()
	s.Late = r.int()
	s.Expired = r.int()
	s.SensorAlarms = readList(r, func(a *SensorAlarm) {
		a.Time = r.time()
		a.Rule = r.str()
	})
	s.Incidents = readList(r, func(in *SiteIncident) {
		in.Time = r.time()
		in.ID = r.str()
		in.Severity = r.str()
		in.Category = r.str()
		in.Equipment = r.str()
		in.Injuries = int(r.int())
	})
	if r.present() {
		e := &EarlierIncidents{}
		e.Counts = readMap(r, func() int { return int(r.int()) })
		e.Latest = r.time()
		s.EarlierIncidents = e
	}
	return s
}

func (w *snapWriter) equipment(e *Equipment) {
	w.str(e.ID)
	w.str(e.Kind)
	w.float(e.HeightM)
	w.float(e.JibLengthM)
	w.float(e.InServiceLimitMS)
	w.float(e.OutOfServiceLimitMS)
	w.float(e.DepthM)
	w.float(e.AlarmCumulativeMM)
	w.float(e.AlarmRateMMPerDay)
	w.time(e.Installed)
	w.flag(e.Registered)
}

func (r *snapReader) equipment() *Equipment {
	e := &Equipment{}
	e.ID = r.str()
	e.Kind = r.str()
	e.HeightM = r.float()
	e.JibLengthM = r.float()
	e.InServiceLimitMS = r.float()
	e.OutOfServiceLimitMS = r.float()
	e.DepthM = r.float()
	e.AlarmCumulativeMM = r.float()
	e.AlarmRateMMPerDay = r.float()
	e.Installed = r.time()
	e.Registered = r.flag()
	return e
}

func (w *snapWriter) series(s *Series) {
	w.str(s.Kind)
	w.str(s.Equipment)
	w.str(s.Unit)
	w.int(s.BucketMS)
	w.int(s.KeepMS)
	w.time(s.Latest.Time)
	w.float(s.Latest.Value)
	w.str(s.Latest.Event)
	at := w.openCompact()
	w.b = s.Buckets.appendCompact(w.b)
	w.closeCompact(at)
}

// compactLen is the room kept before a compact form for its length,
// written once the form is (a fixed four bytes, little-endian, so that
// the form need not be moved).
const compactLen = 4

// openCompact keeps room for a compact form's length and returns where.
func (w *snapWriter) openCompact() int {
	at := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	return at
}

// closeCompact writes the length of the compact form begun at at.
func (w *snapWriter) closeCompact(at int) {
	binary.LittleEndian.PutUint32(w.b[at:], uint32(len(w.b)-at-compactLen))
}

func (r *snapReader) series() *Series {
	s := &Series{}
	s.Kind = r.str()
	s.Equipment = r.str()
	s.Unit = r.str()
	s.BucketMS = r.int()
	s.KeepMS = r.int()
	s.Latest.Time = r.time()
	s.Latest.Value = r.float()
	s.Latest.Event = r.str()
	b := r.compact()
	if r.err == nil {
		if err := s.Buckets.readCompact(&decoder{b: b}); err != nil {
			r.fail("buckets: " + err.Error())
		}
	}
	return s
}

func (w *snapWriter) ruleValue(v *RuleValue) {
	w.str(v.Rule)
	w.str(v.Label)
	w.str(v.Equipment)
	w.str(v.Aggregate)
	w.int(int64(v.Window))
	w.float(v.Value)
	w.str(v.Unit)
	w.time(v.At)
}

func (r *snapReader) ruleValue() *RuleValue {
	v := &RuleValue{}
	v.Rule = r.str()
	v.Label = r.str()
	v.Equipment = r.str()
	v.Aggregate = r.str()
	v.Window = Duration(r.int())
	v.Value = r.float()
	v.Unit = r.str()
	v.At = r.time()
	return v
}

func (w *snapWriter) alarm(a *Alarm) {
	w.str(a.Key)
	w.str(a.Rule)
	w.str(a.Site)
	w.str(a.Equipment)
	w.level(a.Level)
	w.float(a.Value)
	w.float(a.Threshold)
	w.str(a.Unit)
	w.str(a.Reason)
	w.str(a.Action)
	w.time(a.Since)
	w.str(a.Responsible)
}

func (r *snapReader) alarm() *Alarm {
	a := &Alarm{}
	a.Key = r.str()
	a.Rule = r.str()
	a.Site = r.str()
	a.Equipment = r.str()
	a.Level = r.level()
	a.Value = r.float()
	a.Threshold = r.float()
	a.Unit = r.str()
	a.Reason = r.str()
	a.Action = r.str()
	a.Since = r.time()
	a.Responsible = r.str()
	return a
}

func (w *snapWriter) weather(x *Weather) error {
	w.str(x.Rainstorm)
	w.time(x.RainstormUntil)
	w.str(x.Typhoon)
	w.time(x.TyphoonUntil)
	w.float(x.TyphoonMinKm)
	w.time(x.TyphoonAt)
	w.str(x.TyphoonSite)
	w.present(x.Advisory != nil)
	if x.Advisory != nil {
		if err := w.json(x.Advisory); err != nil {
			return fmt.Errorf("typhoon advisory: %w", err)
		}
	}
	return nil
}

func (r *snapReader) weather(x *Weather) {
	x.Rainstorm = r.str()
	x.RainstormUntil = r.time()
	x.Typhoon = r.str()
	x.TyphoonUntil = r.time()
	x.TyphoonMinKm = r.float()
	x.TyphoonAt = r.time()
	x.TyphoonSite = r.str()
	if r.present() {
		x.Advisory = &TyphoonAdvisory{}
		r.json(x.Advisory)
	}
}

func (w *snapWriter) audit(a *AuditRecord) {
	w.int(a.Seq)
	w.time(a.Time)
	w.str(a.Event)
	w.str(a.Action)
	w.str(a.Subject)
	w.float(a.AmountCNY)
	w.str(a.Actor)
	w.str(a.Prev)
	w.str(a.Hash)
}

func (r *snapReader) audit(a *AuditRecord) {
	a.Seq = r.int()
	a.Time = r.time()
	a.Event = r.str()
	a.Action = r.str()
	a.Subject = r.str()
	a.AmountCNY = r.float()
	a.Actor = r.str()
	a.Prev = r.str()
	a.Hash = r.str()
}

func (w *snapWriter) seen(s *Seen) {
	// Keep is written as a map even when nil: a restored twin's Keep is
	// never nil (see snapReader.seen)
	keep := s.Keep
	if keep == nil {
		keep = map[string]struct{}{}
	}
	writeMap(w, keep, func(struct{}) {})
	w.seenIDs(&s.Recent)
	writeMap(w, s.Sites, func(ids SeenIDs) { w.seenIDs(&ids) })
}

func (w *snapWriter) seenIDs(ids *SeenIDs) {
	at := w.openCompact()
	w.b = ids.appendCompact(w.b)
	w.closeCompact(at)
}

func (r *snapReader) seen(s *Seen) {
	s.Keep = readMap(r, func() struct{} { return struct{}{} })
	if s.Keep == nil {
		// as Seen.UnmarshalJSON: Keep is never nil in a restored twin
		s.Keep = map[string]struct{}{}
	}
	s.Recent = r.seenIDs()
	s.Sites = readMap(r, r.seenIDs)
}

func (r *snapReader) seenIDs() SeenIDs {
	b := r.compact()
	if r.err != nil {
		return SeenIDs{}
	}
	ids, err := readSeenIDs(&decoder{b: b})
	if err != nil {
		r.fail("seen ids: " + err.Error())
	}
	return ids
}
