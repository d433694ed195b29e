package request

import (
	"fmt"
	"slices"
	"time"

	"github.com/opendems/opendems/configs"
)

// Exemption is one exemption code staff may cite.
type Exemption struct {
	Code  string `json:"code"`
	Title string `json:"title"`
}

// Exemptions is the configured set of codes, in configuration order.
type Exemptions struct {
	list  []Exemption
	index map[string]int
}

// NewExemptions builds the set; codes must be unique and non-empty.
func NewExemptions(list []Exemption) (*Exemptions, error) {
	e := &Exemptions{list: slices.Clone(list), index: make(map[string]int, len(list))}
	for i, x := range list {
		if x.Code == "" {
			return nil, fmt.Errorf("exemptions: %w: entry %d has no code", ErrInvalid, i)
		}
		if _, dup := e.index[x.Code]; dup {
			return nil, fmt.Errorf("exemptions: %w: %q listed twice", ErrInvalid, x.Code)
		}
		e.index[x.Code] = i
	}
	return e, nil
}

// List returns the codes in configuration order.
func (e *Exemptions) List() []Exemption { return slices.Clone(e.list) }

// Known reports whether code is configured.
func (e *Exemptions) Known(code string) bool {
	_, ok := e.index[code]
	return ok
}

// Check validates codes cited for field: at least one when required, each
// known, none twice. It returns an *InvalidError (400) naming the first
// unknown code.
func (e *Exemptions) Check(field string, codes []string, required bool) error {
	p := problems{op: "exemption codes"}
	if required && len(codes) == 0 {
		p.add(field, "at least one exemption code is required")
	}
	seen := map[string]bool{}
	for i, c := range codes {
		switch {
		case !e.Known(c):
			p.add(fmt.Sprintf("%s[%d]", field, i), "unknown exemption code %q", truncate(c, 60))
		case seen[c]:
			p.add(fmt.Sprintf("%s[%d]", field, i), "exemption code %q cited twice", c)
		}
		seen[c] = true
	}
	return p.err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Settings are the request floor's configuration in the form this package
// uses, built from configs.Requests.
type Settings struct {
	TrackingPrefix      string
	PublicIntakePerHour int
	Rules               *Rules
	Exemptions          *Exemptions
}

// SettingsFrom converts a validated configuration section.
func SettingsFrom(c configs.Requests) (Settings, error) {
	loc, err := time.LoadLocation(c.Clock.TimeZone)
	if err != nil {
		return Settings{}, fmt.Errorf("request settings: time zone %q: %w", c.Clock.TimeZone, err)
	}
	r := &Rules{
		Jurisdiction:     c.Clock.Jurisdiction,
		Location:         loc,
		Days:             DayKind(c.Clock.Days),
		ResponseDays:     c.Clock.ResponseDays,
		Holidays:         map[string]string{},
		MaxExtensions:    c.Clock.Extensions.MaxCount,
		MaxExtensionDays: c.Clock.Extensions.MaxDays,
		PauseOn:          map[PauseKind]bool{},
		DueSoon:          c.DueSoon,
	}
	if r.Days != CalendarDays && r.Days != BusinessDays {
		return Settings{}, fmt.Errorf("request settings: %w: days %q", ErrInvalid, c.Clock.Days)
	}
	for _, h := range c.Clock.Holidays {
		d, err := time.Parse(time.DateOnly, h)
		if err != nil {
			return Settings{}, fmt.Errorf("request settings: holiday %q: %w", h, err)
		}
		r.Holidays[d.Format(time.DateOnly)] = "holiday"
	}
	for _, p := range c.Clock.PauseOn {
		r.PauseOn[PauseKind(p)] = true
	}
	list := make([]Exemption, len(c.Exemptions))
	for i, e := range c.Exemptions {
		list[i] = Exemption{Code: e.Code, Title: e.Title}
	}
	ex, err := NewExemptions(list)
	if err != nil {
		return Settings{}, fmt.Errorf("request settings: %w", err)
	}
	return Settings{TrackingPrefix: c.TrackingPrefix, PublicIntakePerHour: c.PublicIntakePerHour, Rules: r, Exemptions: ex}, nil
}
