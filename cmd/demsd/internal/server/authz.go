package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/policy"
)

// Authorizer adapts the casbin policy to api.Authorizer, the interface of
// the one enforcement point (evidence/api); nothing else reaches casbin's
// access model. A policy error is a deny:
// the system fails closed.
type Authorizer struct {
	Access *policy.Access
}

var _ api.Authorizer = Authorizer{}

// Subject translates a principal.
func Subject(p identity.Principal) policy.Subject {
	kind := policy.KindUser
	if p.Kind == identity.KindDock {
		kind = policy.KindDock
	}
	return policy.Subject{ID: p.ID.String(), Kind: kind, Role: policy.Role(p.Role), UnitPath: p.UnitPath, Badge: p.Badge, Groups: p.Groups}
}

// Resource translates the attributes of an item, a case or (later) a
// request or release.
func Resource(a *evidence.Attributes) policy.Resource {
	return policy.Resource{Kind: a.Kind, ID: a.ID, UnitPath: a.UnitPath, OfficerID: a.OfficerID,
		Categories: a.Categories, Restricted: a.Restricted}
}

// policyErrorReason starts the reason of a decision the policy could not
// take (a deny); metrics count these apart from real denials.
const policyErrorReason = "policy error"

func decision(d policy.Decision, err error, what string) api.Decision {
	if err != nil {
		slog.Error("policy decision failed; denying", "what", what, "err", err)
		return api.Decision{Allowed: false, Reason: policyErrorReason + ": " + err.Error()}
	}
	return api.Decision{Allowed: d.Allowed, Rule: d.Rule, Reason: d.Reason}
}

// Authorize implements api.Authorizer: a route decision without a
// resource, otherwise a decision on it.
func (a Authorizer) Authorize(_ context.Context, p identity.Principal, action string, res *evidence.Attributes) api.Decision {
	if res == nil {
		d, err := a.Access.RouteDecision(Subject(p), policy.Action(action))
		return decision(d, err, action)
	}
	d, err := a.Access.Decide(Subject(p), policy.Action(action), Resource(res))
	return decision(d, err, action)
}

// Explain implements api.Authorizer.
func (a Authorizer) Explain(_ context.Context, subject identity.Principal, action string, res *evidence.Attributes) (any, error) {
	var r *policy.Resource
	if res != nil {
		pr := Resource(res)
		r = &pr
	}
	ex, err := a.Access.Explain(Subject(subject), policy.Action(action), r)
	if errors.Is(err, policy.ErrInvalidSubject) || errors.Is(err, policy.ErrInvalidResource) || errors.Is(err, policy.ErrUnknownAction) {
		return nil, evidence.E(evidence.ErrInvalid, "policy explain", err.Error(), nil)
	}
	return ex, err
}

// ListScope is the SQL pre-filter for listings, derived by the policy
// from its own allow rows, so listing and item decisions cannot disagree
// about which units are visible. It may admit more than the item
// decisions allow; the API decides each listed item too.
func (a Authorizer) ListScope(_ context.Context, p identity.Principal) evidence.Scope {
	ls, err := a.Access.ListScope(Subject(p), policy.ActEvidenceList)
	if err != nil {
		slog.Error("policy list scope failed; listing nothing", "err", err)
		return evidence.Scope{}
	}
	sc := evidence.Scope{All: ls.AllUnits, UnitPaths: ls.Units, Groups: ls.Groups}
	if ls.OwnerBadge != "" {
		sc.OfficerIDs = []string{ls.OwnerBadge}
	}
	return sc
}

// ingestPolicy adds what ingest asks of the policy beyond uploading:
// whom a recording may be attributed to, and whether a duplicate may be
// revealed.
type ingestPolicy struct {
	Authorizer
	items *evidence.Store
}

var _ ingest.UploadPolicy = ingestPolicy{}

// CanAttribute implements ingest.UploadPolicy. A recording may name its
// uploader's own badge; a dock may name any officer of its unit (or a
// unit below it): the dock's enrolled officers; anyone else needs the
// policy's permission to edit that officer's evidence (supervisors of the
// unit, typically). Unknown badges are refused: nobody may pin footage on
// an officer the accounts do not know.
func (a ingestPolicy) CanAttribute(ctx context.Context, p identity.Principal, o ingest.Officer) (string, error) {
	switch {
	case o.Badge == "":
		return "unattributed", nil
	case p.Kind == identity.KindUser && p.Badge != "" && o.Badge == p.Badge:
		return "own badge", nil
	case !o.Known:
		return "", fmt.Errorf("no active account has badge %q", o.Badge)
	case p.Kind == identity.KindDock && (o.UnitPath == p.UnitPath || strings.HasPrefix(o.UnitPath, p.UnitPath+".")):
		return "officer of the dock's unit " + p.UnitPath, nil
	case p.Kind == identity.KindDock:
		return "", fmt.Errorf("officer %q is not of the dock's unit %s", o.Badge, p.UnitPath)
	}
	d := a.Authorize(ctx, p, string(policy.ActEvidenceEdit), &evidence.Attributes{Kind: "evidence", UnitPath: o.UnitPath, OfficerID: o.Badge})
	if !d.Allowed {
		return "", fmt.Errorf("policy: %s", d.Reason)
	}
	return "policy rule " + d.Rule, nil
}

// CanViewItem implements ingest.UploadPolicy.
func (a ingestPolicy) CanViewItem(ctx context.Context, p identity.Principal, id uuid.UUID) bool {
	it, err := a.items.Get(ctx, id)
	if err != nil {
		return false
	}
	attrs := it.Attributes()
	return a.Authorize(ctx, p, string(policy.ActEvidenceView), &attrs).Allowed
}
