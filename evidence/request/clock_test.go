package request

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/configs"
)

func defaultSettings(t testing.TB) Settings {
	t.Helper()
	s, err := SettingsFrom(configs.Default().Requests)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func et(t testing.TB, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

func TestDue(t *testing.T) {
	business := defaultSettings(t).Rules
	calendar := *business
	calendar.Days = CalendarDays
	cases := []struct {
		name     string
		rules    *Rules
		received time.Time
		pauses   []Pause
		exts     []Extension
		want     string // due date, or "paused"
		wantDays int
	}{
		{name: "business days skip weekends and MLK day", rules: business, received: et(t, "2026-01-05 10:00"), want: "2026-02-03", wantDays: 20},
		{name: "calendar days", rules: &calendar, received: et(t, "2026-01-05 10:00"), want: "2026-01-25", wantDays: 20},
		{name: "received on a Saturday", rules: business, received: et(t, "2026-01-10 12:00"), want: "2026-02-09", wantDays: 20},
		{name: "Thanksgiving does not count", rules: business, received: et(t, "2026-11-18 09:00"), want: "2026-12-17", wantDays: 20},
		{name: "late evening receipt counts in the jurisdiction's zone",
			rules: business, received: time.Date(2026, 1, 6, 3, 0, 0, 0, time.UTC), want: "2026-02-03", wantDays: 20},
		{name: "pause and resume: pause day counts, resume day does not", rules: business, received: et(t, "2026-01-05 10:00"),
			pauses: []Pause{{Kind: PauseRequester, From: et(t, "2026-01-07 14:00"), To: ptr(et(t, "2026-01-12 09:00"))}},
			want:   "2026-02-06", wantDays: 20},
		{name: "a pause begun and ended on one day costs nothing", rules: &calendar, received: et(t, "2026-01-05 10:00"),
			pauses: []Pause{{Kind: PauseFee, From: et(t, "2026-01-07 09:00"), To: ptr(et(t, "2026-01-07 17:00"))}},
			want:   "2026-01-25", wantDays: 20},
		{name: "two pauses", rules: &calendar, received: et(t, "2026-01-05 10:00"),
			pauses: []Pause{
				{Kind: PauseFee, From: et(t, "2026-01-10 09:00"), To: ptr(et(t, "2026-01-12 09:00"))},
				{Kind: PauseRequester, From: et(t, "2026-01-06 09:00"), To: ptr(et(t, "2026-01-08 17:00"))},
			},
			want: "2026-01-29", wantDays: 20},
		{name: "open pause has no due date", rules: business, received: et(t, "2026-01-05 10:00"),
			pauses: []Pause{{Kind: PauseRequester, From: et(t, "2026-01-07 14:00")}},
			want:   "paused", wantDays: 20},
		{name: "extension of ten business days skips Washington's Birthday", rules: business, received: et(t, "2026-01-05 10:00"),
			exts: []Extension{{Days: 10, Reason: "unusual circumstances"}}, want: "2026-02-18", wantDays: 30},
		{name: "pause and extension together", rules: business, received: et(t, "2026-01-05 10:00"),
			pauses: []Pause{{Kind: PauseRequester, From: et(t, "2026-01-07 14:00"), To: ptr(et(t, "2026-01-12 09:00"))}},
			exts:   []Extension{{Days: 5, Reason: "voluminous records"}}, want: "2026-02-13", wantDays: 25},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			due, err := c.rules.Due(c.received, c.pauses, c.exts)
			if err != nil {
				t.Fatal(err)
			}
			if due.TotalDays != c.wantDays {
				t.Errorf("total days %d, want %d", due.TotalDays, c.wantDays)
			}
			if c.want == "paused" {
				if !due.Paused || !due.Date.IsZero() {
					t.Fatalf("want paused without a date, got %+v", due)
				}
				return
			}
			if due.Paused {
				t.Fatalf("paused, want %s", c.want)
			}
			if got := due.Date.Format(time.DateOnly); got != c.want {
				t.Fatalf("due %s, want %s", got, c.want)
			}
			// The deadline is midnight at the end of the due date, local time.
			next := due.Date.AddDate(0, 0, 1)
			if want := time.Date(next.Year(), next.Month(), next.Day(), 0, 0, 0, 0, c.rules.Location); !due.At.Equal(want) {
				t.Fatalf("due at %s, want %s", due.At, want)
			}
		})
	}
}

// TestDueMatchesDefinition recomputes a deadline the slow way, day by day,
// for every receipt day of 2026 and both day kinds, so the walk cannot
// disagree with its own definition.
func TestDueMatchesDefinition(t *testing.T) {
	business := defaultSettings(t).Rules
	holidays := map[string]bool{}
	for _, h := range configs.Default().Requests.Clock.Holidays {
		holidays[h] = true
	}
	for d := time.Date(2026, 1, 1, 12, 0, 0, 0, business.Location); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
		due, err := business.Due(d, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for x := d.AddDate(0, 0, 1); ; x = x.AddDate(0, 0, 1) {
			if x.Weekday() == time.Saturday || x.Weekday() == time.Sunday || holidays[x.Format(time.DateOnly)] {
				continue
			}
			if n++; n == 20 {
				if got, want := due.Date.Format(time.DateOnly), x.Format(time.DateOnly); got != want {
					t.Fatalf("received %s: due %s, want %s", d.Format(time.DateOnly), got, want)
				}
				break
			}
		}
	}
}

func TestDueRejectsBadPause(t *testing.T) {
	r := defaultSettings(t).Rules
	_, err := r.Due(et(t, "2026-01-05 10:00"), []Pause{{From: et(t, "2026-01-07 10:00"), To: ptr(et(t, "2026-01-06 10:00"))}}, nil)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("pause ending before it starts: %v", err)
	}
	var none Rules
	if _, err := none.Due(time.Now(), nil, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rules without a zone: %v", err)
	}
}

func TestCheckExtension(t *testing.T) {
	r := defaultSettings(t).Rules // one extension, ten days at most
	one := []Extension{{Days: 4, Reason: "x"}}
	cases := []struct {
		name    string
		granted []Extension
		days    int
		reason  string
		wantErr string
	}{
		{"fits", nil, 10, "unusual circumstances: records at another office", ""},
		{"no reason", nil, 5, "  ", "reason: required"},
		{"zero days", nil, 0, "r", "at least 1"},
		{"over the day limit", nil, 11, "r", "at most 10 extension days"},
		{"over the count limit", one, 2, "r", "at most 1 extension"},
		{"reason too long", nil, 2, strings.Repeat("r", MaxReasonLen+1), "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := r.CheckExtension(c.granted, c.days, c.reason)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v, want an invalid error containing %q", err, c.wantErr)
			}
		})
	}
	two := *r
	two.MaxExtensions = 2
	if err := two.CheckExtension(one, 6, "again"); err != nil {
		t.Fatalf("second extension within limits: %v", err)
	}
	if err := two.CheckExtension(one, 7, "again"); err == nil {
		t.Fatal("second extension over the day total accepted")
	}
}

func TestCheckPause(t *testing.T) {
	r := defaultSettings(t).Rules
	if err := r.CheckPause(PauseFee, "fee estimate sent"); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckPause("weather", "snow"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown kind: %v", err)
	}
	if err := r.CheckPause(PauseRequester, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no reason: %v", err)
	}
	strict := *r
	strict.PauseOn = map[PauseKind]bool{PauseRequester: true}
	if err := strict.CheckPause(PauseFee, "fee"); err == nil || !strings.Contains(err.Error(), "does not stop the clock") {
		t.Fatalf("fee pause where the law does not allow it: %v", err)
	}
}

func TestStatusFlags(t *testing.T) {
	r := defaultSettings(t).Rules
	req := &Request{ReceivedAt: et(t, "2026-01-05 10:00"), State: StateSearching}
	cases := []struct {
		now              time.Time
		state            State
		overdue, dueSoon bool
	}{
		{et(t, "2026-01-20 10:00"), StateSearching, false, false},
		{et(t, "2026-02-01 10:00"), StateSearching, false, true}, // deadline Feb 4 00:00, 62 h away
		{et(t, "2026-02-03 23:59"), StateSearching, false, true},
		{et(t, "2026-02-04 00:00"), StateSearching, true, false},
		{et(t, "2026-03-01 00:00"), StateReleased, false, false}, // answered: never overdue
	}
	for _, c := range cases {
		req.State = c.state
		st := r.Status(req, c.now)
		if st.Overdue != c.overdue || st.DueSoon != c.dueSoon || st.DueDate != "2026-02-03" {
			t.Errorf("at %s (%s): %+v, want overdue %v due soon %v", c.now, c.state, st, c.overdue, c.dueSoon)
		}
	}
	req.Extensions = []Extension{{Days: 3, Reason: "r"}}
	st := r.Status(req, et(t, "2026-01-20 10:00"))
	if st.ExtensionsLeft != 0 || st.ExtensionDaysLeft != 7 {
		t.Errorf("left after one extension: %+v", st)
	}
}
