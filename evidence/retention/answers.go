package retention

import "github.com/google/uuid"

// The JSON bodies, answers and query parameters of retention's routes.
// Each handler writes exactly its route's declared type (api.Route.Out).

// CategoryList is the retention categories.
type CategoryList struct {
	Categories []CategoryInfo `json:"categories"`
}

// NamesRequest sets an item's categories or its flags (one of the two).
type NamesRequest struct {
	Categories []string `json:"categories"`
	Flags      []string `json:"flags"`
	Reason     string   `json:"reason"`
}

// CategoryRequest sets an item's one category.
type CategoryRequest struct {
	Category string `json:"category"`
}

// HoldRequest places a hold (reason), or releases one (hold_id: only
// that one; absent: all of the item's).
type HoldRequest struct {
	Reason string     `json:"reason"`
	HoldID *uuid.UUID `json:"hold_id"`
}

// ReasonRequest gives the reason of a change.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// HoldPlaced is a hold placed on an item and the item's retention after.
type HoldPlaced struct {
	Hold   Hold   `json:"hold"`
	Status Status `json:"status"`
}

// HoldsReleased is the holds released and the item's retention after.
type HoldsReleased struct {
	Released []Hold `json:"released"`
	Status   Status `json:"status"`
}

// PurgeList is the upcoming purges and the grace period before each.
type PurgeList struct {
	Purges     []ScheduledPurge `json:"purges"`
	PurgeGrace string           `json:"purge_grace"`
}

// HoldList is legal holds agency-wide.
type HoldList struct {
	Holds []Hold `json:"holds"`
}

// PurgeCancelled answers a cancelled purge.
type PurgeCancelled struct {
	EvidenceID uuid.UUID `json:"evidence_id"`
	Cancelled  bool      `json:"cancelled"`
}

// HoldsQuery is GET /api/v1/holds's parameters.
type HoldsQuery struct {
	Active bool `form:"active" doc:"false lists released holds too (default true)"`
	Limit  int  `form:"limit" doc:"1-1000"`
}

// PurgesQuery is GET /api/v1/purges's parameters.
type PurgesQuery struct {
	Before string `form:"before" doc:"purges due before this RFC 3339 time or date"`
	Limit  int    `form:"limit" doc:"1-1000"`
}

// ExplainQuery is GET /api/v1/policy/explain's parameters.
type ExplainQuery struct {
	User     string `form:"user" doc:"the username decided for (not needed for action=purge)"`
	Action   string `form:"action" binding:"required" doc:"a policy action (e.g. evidence:view), or purge"`
	Evidence string `form:"evidence" doc:"an evidence item id"`
	Review   string `form:"review" doc:"a redaction review id: adds its separation of duties"`
}
