package api

import (
	"time"

	"github.com/opendems/opendems/evidence/identity"
)

// The JSON answers of the API's own routes. Each handler writes exactly
// its route's declared type (Route.Out), so the OpenAPI description and
// the generated client say what the server really writes.

// Health is GET /healthz: "ok" or "degraded", and each dependency's state.
type Health struct {
	Status   string `json:"status"`
	Database string `json:"database"`
	Storage  string `json:"storage"`
}

// LoginAnswer is a successful login: the user, the session's CSRF token
// (send it as X-CSRF-Token with every cookie request that changes state)
// and whether a second factor is owed.
type LoginAnswer struct {
	User        identity.User `json:"user"`
	CSRFToken   string        `json:"csrf_token"`
	ExpiresAt   time.Time     `json:"expires_at"`
	MFARequired bool          `json:"mfa_required"`
	MFAEnrolled bool          `json:"mfa_enrolled"`
}

// Me is the caller: a user (with the CSRF token of a cookie session) or a
// docking station.
type Me struct {
	Kind      string         `json:"kind"` // user or dock
	User      *identity.User `json:"user,omitempty"`
	Dock      *identity.Dock `json:"dock,omitempty"`
	CSRFToken string         `json:"csrf_token,omitempty"`
}

// TokenList is the caller's personal API tokens (never their secrets).
type TokenList struct {
	Tokens []identity.APIToken `json:"tokens"`
}

// CreatedToken is a new API token: the secret, shown this once, and its
// record.
type CreatedToken struct {
	Token string            `json:"token"`
	Info  identity.APIToken `json:"info"`
}

// UnitList is every unit.
type UnitList struct {
	Units []identity.Unit `json:"units"`
}

// UserList is every user.
type UserList struct {
	Users []identity.User `json:"users"`
}

// DockList is every docking station.
type DockList struct {
	Docks []identity.Dock `json:"docks"`
}

// EnrolledDock is a new docking station and its token, shown this once.
type EnrolledDock struct {
	Dock  identity.Dock `json:"dock"`
	Token string        `json:"token"`
}

// MFAPassed answers a second factor passed.
type MFAPassed struct {
	MFAPassed bool `json:"mfa_passed"`
}

// RecoveryCodes are the one-time recovery codes of a confirmed enrolment,
// shown this once.
type RecoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// EvidenceQuery documents the search parameters ParseFilter reads.
type EvidenceQuery struct {
	OfficerID string `form:"officer_id"`
	DeviceID  string `form:"device_id"`
	Unit      string `form:"unit" doc:"unit slug or path prefix"`
	Category  string `form:"category"`
	Tag       string `form:"tag"`
	Case      string `form:"case" doc:"a case id"`
	Flagged   bool   `form:"flagged"`
	From      string `form:"from" doc:"recorded at or after (RFC 3339 or YYYY-MM-DD)"`
	To        string `form:"to" doc:"recorded before (RFC 3339 or YYYY-MM-DD)"`
	Text      string `form:"q" doc:"free text over title, filename, camera, location, officer, device"`
	State     string `form:"state"`
	Sort      string `form:"sort" doc:"recorded_at (default), ingested_at, size, officer_id"`
	Order     string `form:"order" doc:"asc or desc"`
	Limit     int    `form:"limit" doc:"1 to 500 (default 50)"`
	After     string `form:"after" doc:"the cursor of the next page (Page.next)"`
}

// OriginalQuery is the original download's one parameter.
type OriginalQuery struct {
	FixityOverride bool `form:"fixity_override" doc:"true downloads an original that failed an integrity check (recorded in custody and audit)"`
}
