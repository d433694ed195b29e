package request

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
)

// Error kinds of this package. Callers decide by kind with errors.Is; the
// HTTP layer maps them to statuses (not found 404, invalid 400, conflict
// 409, too large 413).
var (
	ErrNotFound = evidence.ErrNotFound
	ErrInvalid  = evidence.ErrInvalid
	ErrConflict = evidence.ErrConflict
	ErrTooLarge = evidence.ErrTooLarge
)

// FieldError names one bad input field.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// InvalidError lists every bad field of an input; it wraps ErrInvalid, or
// ErrTooLarge when a text is over its limit (413 rather than 400).
type InvalidError struct {
	Op       string
	Fields   []FieldError
	TooLarge bool
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return e.Op + ": " + strings.Join(parts, "; ")
}

// Unwrap gives the error's kind.
func (e *InvalidError) Unwrap() error {
	if e.TooLarge {
		return ErrTooLarge
	}
	return ErrInvalid
}

type problems struct {
	op       string
	fields   []FieldError
	tooLarge bool
}

func (p *problems) add(field, format string, args ...any) {
	p.fields = append(p.fields, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.fields) == 0 {
		return nil
	}
	return &InvalidError{Op: p.op, Fields: p.fields, TooLarge: p.tooLarge}
}

// text checks a free-text field: valid UTF-8, no NUL or other control
// characters except newline and tab (when multiline), at most max bytes.
func (p *problems) text(field, v string, max int, required, multiline bool) {
	switch {
	case required && strings.TrimSpace(v) == "":
		p.add(field, "required")
	case len(v) > max:
		p.add(field, "%d bytes, limit %d", len(v), max)
		p.tooLarge = true
	case !utf8.ValidString(v):
		p.add(field, "not valid UTF-8")
	default:
		for _, r := range v {
			if r < 0x20 && !(multiline && (r == '\n' || r == '\t' || r == '\r')) || r == 0x7f {
				p.add(field, "control character %U not allowed", r)
				return
			}
		}
	}
}

// RequesterType says who asks; some jurisdictions treat them differently
// (fees, a subject's own footage).
type RequesterType string

// Requester types.
const (
	RequesterPublic   RequesterType = "public"
	RequesterMedia    RequesterType = "media"
	RequesterSubject  RequesterType = "subject" // a person recorded in the footage
	RequesterAttorney RequesterType = "attorney"
)

// RequesterTypes lists them in display order.
func RequesterTypes() []RequesterType {
	return []RequesterType{RequesterPublic, RequesterMedia, RequesterSubject, RequesterAttorney}
}

// Valid reports whether t is one of RequesterTypes.
func (t RequesterType) Valid() bool {
	for _, k := range RequesterTypes() {
		if t == k {
			return true
		}
	}
	return false
}

// Channel is how a request came in.
type Channel string

// Channels.
const (
	ChannelWeb      Channel = "web"   // the public intake page
	ChannelEmail    Channel = "email" // entered by staff
	ChannelMail     Channel = "mail"  // entered by staff
	ChannelPhone    Channel = "phone" // entered by staff
	ChannelInPerson Channel = "in_person"
	ChannelPortal   Channel = "portal" // another records system, through the API
)

// Channels lists them in display order.
func Channels() []Channel {
	return []Channel{ChannelWeb, ChannelEmail, ChannelMail, ChannelPhone, ChannelInPerson, ChannelPortal}
}

// Valid reports whether c is one of Channels.
func (c Channel) Valid() bool {
	for _, k := range Channels() {
		if c == k {
			return true
		}
	}
	return false
}

// Limits on intake text, in bytes. Longer input is refused (413), never
// truncated.
const (
	MaxNameLen        = 200
	MaxContactLen     = 500
	MaxDescriptionLen = 10000
	MaxPlaceLen       = 500
	MaxIncidentLen    = 100
	MaxReasonLen      = 2000
)

// Intake is what a new request is created from (staff form, API, `dems`,
// or the public intake page).
type Intake struct {
	RequesterName string        `json:"requester_name"`
	RequesterType RequesterType `json:"requester_type"`
	Contact       string        `json:"contact"` // e-mail, phone or postal address
	Description   string        `json:"description"`
	// DateFrom/DateTo bound when the footage asked for was recorded
	// (optional; both or either).
	DateFrom *time.Time `json:"date_from,omitempty"`
	DateTo   *time.Time `json:"date_to,omitempty"`
	Place    string     `json:"place,omitempty"`
	Incident string     `json:"incident,omitempty"` // incident or case number
	Channel  Channel    `json:"channel"`
	// ReceivedAt is when the agency received it; zero means now. Staff may
	// backdate (a letter that arrived yesterday) but never into the future.
	ReceivedAt time.Time `json:"received_at"`
}

// Validate checks every field and reports all problems at once.
func (in *Intake) Validate(now time.Time) error {
	p := problems{op: "request intake"}
	p.text("requester_name", in.RequesterName, MaxNameLen, true, false)
	if !in.RequesterType.Valid() {
		p.add("requester_type", "want one of public, media, subject, attorney; got %q", in.RequesterType)
	}
	p.text("contact", in.Contact, MaxContactLen, true, true)
	p.text("description", in.Description, MaxDescriptionLen, true, true)
	p.text("place", in.Place, MaxPlaceLen, false, false)
	p.text("incident", in.Incident, MaxIncidentLen, false, false)
	if !in.Channel.Valid() {
		p.add("channel", "want one of web, email, mail, phone, in_person, portal; got %q", in.Channel)
	}
	if in.DateFrom != nil && in.DateTo != nil && in.DateTo.Before(*in.DateFrom) {
		p.add("date_to", "before date_from")
	}
	if !in.ReceivedAt.IsZero() && in.ReceivedAt.After(now.Add(time.Minute)) {
		p.add("received_at", "in the future")
	}
	if !in.ReceivedAt.IsZero() && in.ReceivedAt.Before(now.AddDate(-5, 0, 0)) {
		p.add("received_at", "more than five years ago")
	}
	return p.err()
}

// Request is one public access request as stored.
type Request struct {
	ID             uuid.UUID     `json:"id"`
	TrackingNumber string        `json:"tracking_number"`
	RequesterName  string        `json:"requester_name"`
	RequesterType  RequesterType `json:"requester_type"`
	Contact        string        `json:"contact"`
	Description    string        `json:"description"`
	DateFrom       *time.Time    `json:"date_from,omitempty"`
	DateTo         *time.Time    `json:"date_to,omitempty"`
	Place          string        `json:"place"`
	Incident       string        `json:"incident"`
	Channel        Channel       `json:"channel"`
	ReceivedAt     time.Time     `json:"received_at"`
	State          State         `json:"state"`
	// PausedFrom is the state awaiting_requester returns to.
	PausedFrom State  `json:"paused_from,omitempty"`
	Assignee   string `json:"assignee,omitempty"`
	// Exemptions are the codes cited for a denial.
	Exemptions []string  `json:"exemptions,omitempty"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Version increases with every change (optimistic concurrency).
	Version int64 `json:"version"`

	Pauses     []Pause     `json:"pauses"`
	Extensions []Extension `json:"extensions"`
	// Clock is computed when the request is read, under the rules in force.
	Clock ClockStatus `json:"clock"`
}

// Event is one line of a request's timeline.
type Event struct {
	Seq     int64          `json:"seq"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Kind    EventKind      `json:"kind"`
	Details map[string]any `json:"details"`
}

// EventKind names what happened to a request.
type EventKind string

// Timeline event kinds.
const (
	EventCreated       EventKind = "created"
	EventTransition    EventKind = "transition"
	EventPaused        EventKind = "clock_paused"
	EventResumed       EventKind = "clock_resumed"
	EventExtended      EventKind = "clock_extended"
	EventClipLinked    EventKind = "clip_linked"
	EventClipRemoved   EventKind = "clip_removed"
	EventSpecSaved     EventKind = "spec_saved"
	EventWithheld      EventKind = "item_withheld"
	EventWithholdEnded EventKind = "item_withhold_ended"
	EventJobOutput     EventKind = "job_output"
	EventJobStarted    EventKind = "job_started"
	EventJobCancelled  EventKind = "job_cancelled"
	EventNote          EventKind = "note"
)
