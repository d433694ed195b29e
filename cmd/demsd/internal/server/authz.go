package server

import (
	"context"
	"log/slog"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/policy"
)

// Authorizer adapts the casbin policy to the interfaces evidence packages
// declare (api.Authorizer, ingest.Authorizer). A policy error is a deny:
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

// Resource translates an item.
func Resource(it *evidence.Item) policy.Resource {
	return policy.Resource{Kind: "evidence", ID: it.ID.String(), UnitPath: it.UnitPath, OfficerID: it.OfficerID,
		Categories: it.Categories, Restricted: it.Restricted}
}

func decision(d policy.Decision, err error, what string) api.Decision {
	if err != nil {
		slog.Error("policy decision failed; denying", "what", what, "err", err)
		return api.Decision{Allowed: false, Reason: "policy error: " + err.Error()}
	}
	return api.Decision{Allowed: d.Allowed, Rule: d.Rule, Reason: d.Reason}
}

// AuthorizeRoute implements api.Authorizer.
func (a Authorizer) AuthorizeRoute(_ context.Context, p identity.Principal, action string) api.Decision {
	d, err := a.Access.RouteDecision(Subject(p), policy.Action(action))
	return decision(d, err, action)
}

// AuthorizeItem implements api.Authorizer.
func (a Authorizer) AuthorizeItem(_ context.Context, p identity.Principal, action string, it *evidence.Item) api.Decision {
	d, err := a.Access.Decide(Subject(p), policy.Action(action), Resource(it))
	return decision(d, err, action)
}

// probeUnit and probeOfficer name a unit and an officer no real item has,
// to ask the policy what a subject may list beyond its own unit/recordings.
const (
	probeUnit    = "zz-no-such-unit"
	probeOfficer = "zz-no-such-officer"
)

// ListScope derives the SQL pre-filter for listings from the policy itself
// (agency-wide, own unit subtree, own recordings, restricted groups) so the
// listing and the item decisions cannot disagree about what is visible.
func (a Authorizer) ListScope(_ context.Context, p identity.Principal) evidence.Scope {
	sub := Subject(p)
	var sc evidence.Scope
	allowed := func(res policy.Resource) bool {
		d, err := a.Access.Decide(sub, policy.ActEvidenceList, res)
		return err == nil && d.Allowed
	}
	if allowed(policy.Resource{UnitPath: probeUnit, OfficerID: probeOfficer}) {
		sc.All = true
	} else if p.UnitPath != "" && allowed(policy.Resource{UnitPath: p.UnitPath, OfficerID: probeOfficer}) {
		sc.UnitPaths = []string{p.UnitPath}
	}
	if p.Badge != "" && allowed(policy.Resource{UnitPath: probeUnit, OfficerID: p.Badge}) {
		sc.OfficerIDs = []string{p.Badge}
	}
	for _, g := range p.Groups {
		if allowed(policy.Resource{UnitPath: probeUnit, OfficerID: probeOfficer, Restricted: g}) {
			sc.Groups = append(sc.Groups, g)
		}
	}
	return sc
}

// CanUpload implements ingest.Authorizer.
func (a Authorizer) CanUpload(_ context.Context, p identity.Principal) error {
	d, err := a.Access.RouteDecision(Subject(p), policy.ActEvidenceUpload)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return errUploadDenied
	}
	return nil
}
