package twin

import (
	"slices"
	"strings"
	"testing"
)

// auditedTwin returns a twin whose chain holds a record of every audited
// action: a deposit, wages, a disbursement, a change order, an acceptance
// and a hazard closure.
func auditedTwin(t *testing.T) *ProjectTwin {
	t.Helper()
	p := siteTwin(t)
	mustApply(t, p,
		deposited("2026-06-02T01:00:00Z", 5e6),
		disbursed("2026-06-03T01:00:00Z", 43.1e6, "M1"),
		changeOrder("CO-3", "2026-06-04T01:00:00Z", 12.5e6, 21),
		milestoneAccepted("2026-06-05T01:00:00Z", "M1"),
		hazardFound("2026-06-06T01:00:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-06-10"),
		rectified("2026-06-07T01:00:00Z", "HZ1"),
		hazardAccepted("2026-06-08T01:00:00Z", "HZ1"),
	)
	return p
}

func TestAuditChain(t *testing.T) {
	p := auditedTwin(t)
	var actions []string
	for _, r := range p.Audit {
		actions = append(actions, r.Action)
	}
	want := []string{AuditWagesPaid, AuditWageDeposit, AuditDisbursement, AuditChangeOrder, AuditAcceptance, AuditHazardClosure}
	if !slices.Equal(actions, want) {
		t.Fatalf("actions %v, want %v", actions, want)
	}
	if p.Audit[0].Prev != GenesisHash(testProject) || p.Audit[2].AmountCNY != 43.1e6 || p.Audit[2].Subject != "M1" || p.Audit[5].Subject != "HZ1" {
		t.Fatalf("chain %+v", p.Audit)
	}
	if b := VerifyChain(testProject, p.Audit); b != nil {
		t.Fatalf("VerifyChain of a real chain: %v", b)
	}
	if VerifyChain(testProject, nil) != nil {
		t.Fatal("an empty chain is broken")
	}
	if v := p.View(); v.AuditLength != 6 || v.AuditHead != p.Audit[5].Hash {
		t.Fatalf("view audit %d %s", v.AuditLength, v.AuditHead)
	}

	tests := []struct {
		name    string
		project string
		edit    func(c []AuditRecord) []AuditRecord
		index   int
		reason  string
	}{
		{"edited amount", testProject, func(c []AuditRecord) []AuditRecord { c[2].AmountCNY = 4.31e6; return c }, 2, "edited"},
		{"edited amount with its hash recomputed", testProject, func(c []AuditRecord) []AuditRecord {
			c[2].AmountCNY = 4.31e6
			c[2].Hash = c[2].ComputeHash()
			return c
		}, 3, "does not match the hash of the record before"},
		{"edited actor", testProject, func(c []AuditRecord) []AuditRecord { c[4].Actor = "someone-else"; return c }, 4, "edited"},
		{"edited time", testProject, func(c []AuditRecord) []AuditRecord { c[0].Time = c[0].Time.Add(1); return c }, 0, "edited"},
		{"removed record", testProject, func(c []AuditRecord) []AuditRecord { return slices.Delete(c, 3, 4) }, 3, "removed or inserted"},
		{"removed last record", testProject, func(c []AuditRecord) []AuditRecord { return c[:5] }, -1, ""},
		{"removed and renumbered", testProject, func(c []AuditRecord) []AuditRecord {
			c = slices.Delete(c, 1, 2)
			for i := 1; i < len(c); i++ {
				c[i].Seq = int64(i + 1)
				c[i].Hash = c[i].ComputeHash()
			}
			return c
		}, 1, "does not match"},
		{"swapped order", testProject, func(c []AuditRecord) []AuditRecord { c[1], c[2] = c[2], c[1]; return c }, 1, "removed or inserted"},
		{"swapped and renumbered", testProject, func(c []AuditRecord) []AuditRecord {
			c[1], c[2] = c[2], c[1]
			c[1].Seq, c[2].Seq = 2, 3
			return c
		}, 1, "does not match"},
		{"moved to another project", "P2", func(c []AuditRecord) []AuditRecord { return c }, 0, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.edit(slices.Clone(p.Audit))
			b := VerifyChain(tt.project, c)
			if tt.index < 0 {
				// Truncation at the end is not detectable from the chain
				// alone: the head hash (View.AuditHead) is what shows it.
				if b != nil {
					t.Fatalf("truncated chain reported %v", b)
				}
				return
			}
			if b == nil {
				t.Fatal("tampering not detected")
			}
			if b.Index != tt.index || !strings.Contains(b.Reason, tt.reason) {
				t.Fatalf("break %v, want index %d with %q", b, tt.index, tt.reason)
			}
			if !strings.Contains(b.Error(), "audit chain broken at record") {
				t.Fatalf("error text %q", b.Error())
			}
		})
	}
	// The twin's own chain was not touched by the cases.
	if VerifyChain(testProject, p.Audit) != nil {
		t.Fatal("the twin's chain changed")
	}
}
