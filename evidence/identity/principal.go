package identity

import (
	"context"

	"github.com/google/uuid"
)

// Roles of people. Docks are principals too, with RoleDock.
const (
	RoleOfficer    = "officer"
	RoleSupervisor = "supervisor"
	RoleRecords    = "records"
	RoleAuditor    = "auditor"
	RoleAdmin      = "admin"
	RoleDock       = "dock"
)

// Roles lists every role a person can have.
var Roles = []string{RoleOfficer, RoleSupervisor, RoleRecords, RoleAuditor, RoleAdmin}

// Kind says whether a principal is a person or a docking station.
type Kind string

const (
	KindUser Kind = "user"
	KindDock Kind = "dock"
)

// Principal is who is making a request, as established by authentication
// (API token, dock token or web session). Handlers and policy read it; they
// never parse credentials themselves.
type Principal struct {
	Kind     Kind
	ID       uuid.UUID // users.id or docks.id
	Name     string    // username or dock name
	Role     string    // one of Roles, or RoleDock
	UnitID   uuid.UUID
	UnitPath string   // e.g. "patrol.north"
	Badge    string   // officer badge / officer_id on recordings
	Groups   []string // e.g. "internal-affairs", for restricted items
	Via      string   // "token", "dock-token", "session"
}

// Actor is the short form recorded in custody and audit events, e.g.
// "user:jdoe" or "dock:station-3".
func (p Principal) Actor() string { return string(p.Kind) + ":" + p.Name }

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the authenticated principal, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
