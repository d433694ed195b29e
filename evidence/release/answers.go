package release

import (
	"time"

	"github.com/google/uuid"
)

// The JSON bodies and answers of the review, release and share routes.
// Each handler writes exactly its route's declared type (api.Route.Out).

// ReviewList is a request's redaction reviews.
type ReviewList struct {
	Reviews []Review `json:"reviews"`
}

// ReleaseList is a request's releases.
type ReleaseList struct {
	Releases []Release `json:"releases"`
}

// ShareList is a release's share links.
type ShareList struct {
	Shares []Share `json:"shares"`
}

// CreatedShare is a new share link: the token and its address, shown
// this once (the agency keeps only the token's hash).
type CreatedShare struct {
	Share Share  `json:"share"`
	Token string `json:"token"`
	URL   string `json:"url"`
	Note  string `json:"note"`
}

// ShareActivity is one share link and every view and download of it.
type ShareActivity struct {
	Share  Share        `json:"share"`
	Events []ShareEvent `json:"events"`
}

// RevokeInput revokes a share link.
type RevokeInput struct {
	Reason string `json:"reason"`
}

// RecipientFile is one file of a shared package.
type RecipientFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

// RecipientPackage is a shared package as a whole.
type RecipientPackage struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

// RecipientView is what a share link's recipient sees, as JSON.
type RecipientView struct {
	Recipient  string           `json:"recipient"`
	Request    string           `json:"request"`
	ReleaseID  uuid.UUID        `json:"release_id"`
	ReleasedAt *time.Time       `json:"released_at"`
	ExpiresAt  time.Time        `json:"expires_at"`
	KeyID      string           `json:"key_id"`
	Status     ShareStatus      `json:"status"`
	Package    RecipientPackage `json:"package"`
	Files      []RecipientFile  `json:"files"`
}

// RecipientQuery is the passcode of a link that has one.
type RecipientQuery struct {
	Passcode string `header:"X-Share-Passcode" doc:"the link's passcode, when it has one"`
}
