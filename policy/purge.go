package policy

import (
	"fmt"
	"strings"
	"time"
)

// Facts the purge policy decides on. Package policy derives them from a
// PurgeInput; the purge policy file turns them into allow and deny rows.
const (
	FactRetentionEnded      = "retention-ended"
	FactRetentionRunning    = "retention-running"
	FactRetentionIndefinite = "retention-indefinite"
	FactLegalHoldItem       = "legal-hold-item"
	FactLegalHoldCase       = "legal-hold-case"
	FactOpenAccessRequest   = "open-access-request"
)

// ActPurge is the only action of the purge model: destroy the item now.
const ActPurge = "purge"

func purgeFacts() []string {
	return []string{FactRetentionEnded, FactRetentionRunning, FactRetentionIndefinite,
		FactLegalHoldItem, FactLegalHoldCase, FactOpenAccessRequest}
}

// PurgeInput is everything a purge decision depends on.
type PurgeInput struct {
	ItemID        string             // labels the explanation only
	Item          ItemRetentionInput // the retention deadline is recomputed from it
	Now           time.Time          // the sweep's clock; required
	ItemLegalHold bool               // the item itself is under legal hold
	CaseHolds     []string           // IDs of the item's cases that are under legal hold
}

// PurgeDecision is a purge Decision plus the retention computation and the
// facts the policy saw, so a refusal can be shown in full.
type PurgeDecision struct {
	Decision
	RetainUntil          time.Time `json:"retain_until,omitzero"`
	Indefinite           bool      `json:"indefinite"`
	RetentionExplanation string    `json:"retention_explanation"`
	Facts                []string  `json:"facts"`
}

// Purge decides whether an item may be destroyed, with its own casbin
// enforcer so an agency's access edits can never open destruction.
type Purge struct {
	c     *compiled
	sched *Schedule
}

var purgeSchema = schema{
	request:  []string{"act", "cats", "facts"},
	policy:   []string{"act", "cat", "fact", "eft"},
	matchers: []string{"m"},
	check:    checkPurgeRow,
}

func checkPurgeRow(row []string) error {
	act, cat, fact, eft := row[0], row[1], row[2], row[3]
	switch {
	case act != ActPurge:
		return fmt.Errorf("act %q: the only purge action is %s", act, ActPurge)
	case cat != "*" && !validName(cat):
		return fmt.Errorf("cat %q is not * or a category name", cat)
	case !contains(purgeFacts(), fact):
		return fmt.Errorf("fact %q is not one of %v", fact, purgeFacts())
	case eft != "allow" && eft != "deny":
		return fmt.Errorf("eft %q is not allow or deny", eft)
	case eft == "allow" && fact != FactRetentionEnded:
		// Only the end of retention can justify destruction; allowing on a
		// hold or a running clock would destroy evidence early.
		return fmt.Errorf("an allow row must have fact %s", FactRetentionEnded)
	}
	return nil
}

// NewPurge builds a purge decider from the purge model and policy files and
// a retention schedule.
func NewPurge(files Files, sched *Schedule) (*Purge, error) {
	if sched == nil {
		return nil, fmt.Errorf("policy: new purge: no retention schedule: %w", ErrInvalidSchedule)
	}
	c, err := compile(files, purgeSchema)
	if err != nil {
		return nil, fmt.Errorf("policy: new purge: %w", err)
	}
	if _, _, err := c.enforce("", ActPurge, []string{"uncategorized"}, []string{FactRetentionEnded}); err != nil {
		return nil, fmt.Errorf("policy: new purge: %w", &PolicyError{File: files.ModelName, Problem: fmt.Sprintf("matcher does not evaluate: %v", err)})
	}
	return &Purge{c: c, sched: sched}, nil
}

// Schedule returns the retention schedule the decider uses.
func (p *Purge) Schedule() *Schedule { return p.sched }

// Decide answers whether the item may be destroyed at in.Now: only when its
// retention has ended (now >= retain-until, not indefinite), no legal hold
// on it or its cases applies, and no public access request is open, unless
// the agency's purge policy is stricter. Any error means: do not purge.
func (p *Purge) Decide(in PurgeInput) (PurgeDecision, error) {
	var d PurgeDecision
	if in.Now.IsZero() {
		return d, fmt.Errorf("policy: purge %s: no clock time: %w", in.ItemID, ErrInvalidRetentionInput)
	}
	until, indefinite, why, err := p.sched.RetainUntil(in.Item)
	if err != nil {
		return d, fmt.Errorf("policy: purge %s: %w", in.ItemID, err)
	}
	d.RetainUntil, d.Indefinite, d.RetentionExplanation = until, indefinite, why
	var blocks []string
	switch {
	case indefinite:
		d.Facts = append(d.Facts, FactRetentionIndefinite)
		blocks = append(blocks, "retention is indefinite")
	case in.Now.Before(until):
		d.Facts = append(d.Facts, FactRetentionRunning)
		blocks = append(blocks, fmt.Sprintf("retention runs until %s", stamp(until)))
	default:
		d.Facts = append(d.Facts, FactRetentionEnded)
	}
	if in.ItemLegalHold {
		d.Facts = append(d.Facts, FactLegalHoldItem)
		blocks = append(blocks, "the item is under legal hold")
	}
	if len(in.CaseHolds) > 0 {
		d.Facts = append(d.Facts, FactLegalHoldCase)
		blocks = append(blocks, "case "+strings.Join(in.CaseHolds, ", ")+" is under legal hold")
	}
	if in.Item.OpenAccessRequests {
		d.Facts = append(d.Facts, FactOpenAccessRequest)
		blocks = append(blocks, "a public access request is open")
	}
	cats := in.Item.Categories
	if len(cats) == 0 {
		cats = []string{p.sched.defaultCategory}
	}
	allowed, row, err := p.c.enforce("", ActPurge, cats, d.Facts)
	if err != nil {
		return d, fmt.Errorf("policy: purge %s: %w", in.ItemID, err)
	}
	d.Allowed = allowed
	if len(row) > 0 {
		d.Rule = ruleText(row)
		if line, ok := p.c.origin[rowKey(row)]; ok {
			d.Source = fmt.Sprintf("%s:%d", p.c.name, line)
		}
	}
	switch {
	case allowed:
		d.Reason = fmt.Sprintf("may purge: retention ended %s and nothing holds the item", stamp(until))
	case len(row) == 0:
		d.Reason = NoRuleMatched
	case len(blocks) > 0:
		d.Reason = "may not purge: " + strings.Join(blocks, "; ")
	default:
		d.Reason = "may not purge: the purge policy denies items categorized " + strings.Join(cats, ", ")
	}
	return d, nil
}
