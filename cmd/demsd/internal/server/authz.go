package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
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

func decision(d policy.Decision, err error, what string) api.Decision {
	if err != nil {
		slog.Error("policy decision failed; denying", "what", what, "err", err)
		return api.Decision{Allowed: false, Reason: "policy error: " + err.Error()}
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
