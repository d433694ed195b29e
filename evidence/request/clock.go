package request

import (
	"fmt"
	"sort"
	"time"
)

// DayKind says which days the clock counts.
type DayKind string

// Day kinds.
const (
	CalendarDays DayKind = "calendar" // every day
	BusinessDays DayKind = "business" // Monday–Friday except listed holidays
)

// PauseKind is why the clock stops.
type PauseKind string

// Pause kinds.
const (
	PauseRequester PauseKind = "requester" // waiting for the requester's answer (clarification)
	PauseFee       PauseKind = "fee"       // waiting for a fee to be agreed or paid
)

// Rules are a jurisdiction's statutory clock.
type Rules struct {
	// Jurisdiction names the law, shown to staff (e.g. "US FOIA").
	Jurisdiction string
	// Location is the time zone days are counted in.
	Location *time.Location
	Days     DayKind
	// ResponseDays is the time to answer, counted from the day after
	// receipt.
	ResponseDays int
	// Holidays are dates ("2026-12-25") that do not count in business-day
	// mode, mapped to their names.
	Holidays map[string]string
	// MaxExtensions is how many extensions one request may get, and
	// MaxExtensionDays their total.
	MaxExtensions    int
	MaxExtensionDays int
	// PauseOn lists what may stop the clock; a pause of another kind is
	// refused.
	PauseOn map[PauseKind]bool
	// DueSoon: an open request due within this long is flagged.
	DueSoon time.Duration
}

// Pause is one interval in which the clock stood still.
type Pause struct {
	ID      int64      `json:"id"`
	Kind    PauseKind  `json:"kind"`
	Reason  string     `json:"reason"`
	From    time.Time  `json:"from"`
	To      *time.Time `json:"to,omitempty"` // nil while the pause is open
	By      string     `json:"by"`
	EndedBy string     `json:"ended_by,omitempty"`
}

// Extension is extra time granted, with the reason the law requires.
type Extension struct {
	Days   int       `json:"days"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

// Due is where the clock stands.
type Due struct {
	// Paused: a pause is open, so there is no due date.
	Paused bool
	// Date is the last day to answer, in the jurisdiction's zone.
	Date time.Time // midnight UTC of the civil date; zero when Paused
	// At is the first instant after Date (the deadline).
	At time.Time
	// TotalDays is the response time including extensions.
	TotalDays int
	// CountedDays is how many days have counted up to the deadline or, while
	// paused, up to the pause.
	CountedDays int
}

// civil turns an instant into its civil date in loc, represented as
// midnight UTC so that day arithmetic never meets a DST change.
func civil(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// countable reports whether the civil date d counts at all (business day
// and not a holiday, in business-day mode).
func (r *Rules) countable(d time.Time) bool {
	if r.Days == CalendarDays {
		return true
	}
	if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	_, holiday := r.Holidays[d.Format(time.DateOnly)]
	return !holiday
}

// maxSpan bounds the day walk: no statutory clock runs for ten years, so
// a walk that long means the rules or the input are broken.
const maxSpan = 3660

// Due computes the deadline of a request received at received with the
// given pauses and extensions (see the package documentation for the
// counting rules). It is a pure function of its arguments.
func (r *Rules) Due(received time.Time, pauses []Pause, exts []Extension) (Due, error) {
	if r.Location == nil {
		return Due{}, fmt.Errorf("request clock: %w: rules have no time zone", ErrInvalid)
	}
	total := r.ResponseDays
	for _, e := range exts {
		total += e.Days
	}
	out := Due{TotalDays: total}
	start := civil(received, r.Location)
	// Paused civil-date ranges: the day after a pause begins through the
	// day it ends, inclusive; an open pause runs for ever.
	type span struct{ from, to time.Time } // inclusive, to zero: open
	spans := make([]span, 0, len(pauses))
	for _, p := range pauses {
		s := span{from: civil(p.From, r.Location).AddDate(0, 0, 1)}
		if p.To != nil {
			if p.To.Before(p.From) {
				return Due{}, fmt.Errorf("request clock: %w: pause ends (%s) before it starts (%s)", ErrInvalid, p.To, p.From)
			}
			s.to = civil(*p.To, r.Location)
		}
		spans = append(spans, s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	paused := func(d time.Time) (bool, bool) { // paused, open
		for _, s := range spans {
			if d.Before(s.from) {
				continue
			}
			if s.to.IsZero() {
				return true, true
			}
			if !d.After(s.to) {
				return true, false
			}
		}
		return false, false
	}
	d := start
	for i := 0; i < maxSpan; i++ {
		d = d.AddDate(0, 0, 1)
		if p, open := paused(d); p {
			if open {
				out.Paused = true
				return out, nil
			}
			continue
		}
		if !r.countable(d) {
			continue
		}
		out.CountedDays++
		if out.CountedDays >= total {
			out.Date = d
			y, m, dd := d.Date()
			out.At = time.Date(y, m, dd+1, 0, 0, 0, 0, r.Location)
			return out, nil
		}
	}
	return Due{}, fmt.Errorf("request clock: %w: no deadline within %d days of %s", ErrInvalid, maxSpan, start.Format(time.DateOnly))
}

// ClockStatus is what the dashboard and the request page show.
type ClockStatus struct {
	Jurisdiction string     `json:"jurisdiction"`
	Days         DayKind    `json:"days"`
	Paused       bool       `json:"paused"`
	DueDate      string     `json:"due_date,omitempty"` // "2026-02-03"
	DueAt        *time.Time `json:"due_at,omitempty"`
	TotalDays    int        `json:"total_days"`
	Overdue      bool       `json:"overdue"`
	DueSoon      bool       `json:"due_soon"`
	// ExtensionsLeft and ExtensionDaysLeft are what the rules still allow.
	ExtensionsLeft    int    `json:"extensions_left"`
	ExtensionDaysLeft int    `json:"extension_days_left"`
	Error             string `json:"error,omitempty"`
}

// Status computes a request's clock at now.
func (r *Rules) Status(req *Request, now time.Time) ClockStatus {
	st := ClockStatus{Jurisdiction: r.Jurisdiction, Days: r.Days,
		ExtensionsLeft: r.MaxExtensions - len(req.Extensions), ExtensionDaysLeft: r.MaxExtensionDays}
	for _, e := range req.Extensions {
		st.ExtensionDaysLeft -= e.Days
	}
	st.ExtensionsLeft = max(st.ExtensionsLeft, 0)
	st.ExtensionDaysLeft = max(st.ExtensionDaysLeft, 0)
	due, err := r.Due(req.ReceivedAt, req.Pauses, req.Extensions)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.TotalDays = due.TotalDays
	st.Paused = due.Paused
	if due.Paused {
		return st
	}
	st.DueDate = due.Date.Format(time.DateOnly)
	at := due.At
	st.DueAt = &at
	if req.State.Open() {
		st.Overdue = !now.Before(due.At)
		st.DueSoon = !st.Overdue && due.At.Sub(now) <= r.DueSoon
	}
	return st
}

// CheckExtension reports whether one more extension of days with reason
// fits the rules, given those already granted.
func (r *Rules) CheckExtension(granted []Extension, days int, reason string) error {
	p := problems{op: "request extension"}
	p.text("reason", reason, MaxReasonLen, true, true)
	used := 0
	for _, e := range granted {
		used += e.Days
	}
	switch {
	case days < 1:
		p.add("days", "must be at least 1, got %d", days)
	case r.MaxExtensions <= 0:
		p.add("days", "%s allows no extensions", r.Jurisdiction)
	case len(granted) >= r.MaxExtensions:
		p.add("days", "%s allows at most %d extension(s); %d granted already", r.Jurisdiction, r.MaxExtensions, len(granted))
	case used+days > r.MaxExtensionDays:
		p.add("days", "%s allows at most %d extension days in all; %d granted already, %d asked", r.Jurisdiction, r.MaxExtensionDays, used, days)
	}
	return p.err()
}

// CheckPause reports whether the clock may be paused for kind with reason.
func (r *Rules) CheckPause(kind PauseKind, reason string) error {
	p := problems{op: "request pause"}
	p.text("reason", reason, MaxReasonLen, true, true)
	if kind != PauseRequester && kind != PauseFee {
		p.add("kind", "want requester or fee, got %q", kind)
	} else if !r.PauseOn[kind] {
		p.add("kind", "%s does not stop the clock while waiting for the requester's %s", r.Jurisdiction, map[PauseKind]string{PauseRequester: "answer", PauseFee: "fee"}[kind])
	}
	return p.err()
}
