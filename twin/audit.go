package twin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Audit actions: the key actions recorded in a project's hash chain.
const (
	AuditDisbursement  = "disbursement"
	AuditWagesPaid     = "wages_paid"
	AuditWageDeposit   = "wage_deposit"
	AuditAcceptance    = "acceptance"
	AuditChangeOrder   = "change_order"
	AuditHazardClosure = "hazard_closure"
)

// AuditRecord is one link of a project's tamper-evident chain: each record
// holds the hash of the one before, and its own hash covers all its fields.
type AuditRecord struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Event     string    `json:"event"`
	Action    string    `json:"action"`
	Subject   string    `json:"subject,omitempty"` // milestone, hazard or change order id
	AmountCNY float64   `json:"amount_cny,omitempty"`
	Actor     string    `json:"actor"` // the event's source
	Prev      string    `json:"prev"`
	Hash      string    `json:"hash"`
}

// GenesisHash is the Prev of a project's first audit record: the chain is
// bound to its project, so records cannot be moved between projects.
func GenesisHash(project string) string {
	h := sha256.Sum256([]byte("sitetwin-audit:" + project))
	return hex.EncodeToString(h[:])
}

// content is the canonical text a record's hash covers.
func (a *AuditRecord) content() string {
	return strings.Join([]string{
		strconv.FormatInt(a.Seq, 10),
		a.Time.UTC().Format(time.RFC3339Nano),
		a.Event, a.Action, a.Subject,
		strconv.FormatFloat(a.AmountCNY, 'f', -1, 64),
		a.Actor, a.Prev,
	}, "\x1f")
}

// ComputeHash returns the hash the record should carry.
func (a *AuditRecord) ComputeHash() string {
	h := sha256.Sum256([]byte(a.content()))
	return hex.EncodeToString(h[:])
}

func (p *ProjectTwin) audit(e *Event, action, subject string, amount float64) AuditRecord {
	prev := GenesisHash(p.ID)
	if n := len(p.Audit); n > 0 {
		prev = p.Audit[n-1].Hash
	}
	rec := AuditRecord{
		Seq: int64(len(p.Audit)) + 1, Time: e.Time.UTC(), Event: e.ID, Action: action,
		Subject: subject, AmountCNY: amount, Actor: e.Source, Prev: prev,
	}
	rec.Hash = rec.ComputeHash()
	p.Audit = append(p.Audit, rec)
	return rec
}

// ChainBreak says where an audit chain stops being trustworthy.
type ChainBreak struct {
	Index  int    // position in the chain (0-based)
	Seq    int64  // the record's sequence number
	Reason string // what does not match
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("audit chain broken at record %d (seq %d): %s", b.Index, b.Seq, b.Reason)
}

// VerifyChain checks a project's audit chain and returns the first broken
// link, or nil when every record's hash and back-link hold.
func VerifyChain(project string, chain []AuditRecord) *ChainBreak {
	prev := GenesisHash(project)
	for i := range chain {
		r := &chain[i]
		if r.Seq != int64(i)+1 {
			return &ChainBreak{Index: i, Seq: r.Seq, Reason: fmt.Sprintf("sequence number %d, expected %d (a record was removed or inserted)", r.Seq, i+1)}
		}
		if r.Prev != prev {
			return &ChainBreak{Index: i, Seq: r.Seq, Reason: fmt.Sprintf("prev %s does not match the hash of the record before (%s)", short(r.Prev), short(prev))}
		}
		if h := r.ComputeHash(); h != r.Hash {
			return &ChainBreak{Index: i, Seq: r.Seq, Reason: fmt.Sprintf("stored hash %s, computed %s: the record was edited", short(r.Hash), short(h))}
		}
		prev = r.Hash
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
