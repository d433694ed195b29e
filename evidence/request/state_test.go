package request

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	cases := []struct {
		from, pausedFrom, to State
		ok                   bool
	}{
		{StateReceived, "", StateAssigned, true},
		{StateAssigned, "", StateSearching, true},
		{StateSearching, "", StateRedacting, true},
		{StateRedacting, "", StateInReview, true},
		{StateInReview, "", StateApproved, true},
		{StateApproved, "", StateReleased, true},
		{StateReleased, "", StateClosed, true},
		{StateInReview, "", StateRedacting, true}, // reviewer sends it back
		{StateApproved, "", StateRedacting, true}, // a change voids approval
		{StateSearching, "", StateAwaitingRequester, true},
		{StateAwaitingRequester, StateSearching, StateSearching, true},
		{StateAwaitingRequester, StateSearching, StateRedacting, false}, // only back where it paused
		{StateRedacting, "", StateDenied, true},
		{StateDenied, "", StateClosed, true},
		{StateReceived, "", StateWithdrawn, true},
		{StateReceived, "", StateSearching, false},
		{StateReceived, "", StateReleased, false},
		{StateSearching, "", StateApproved, false},
		{StateRedacting, "", StateReleased, false},
		{StateReleased, "", StateRedacting, false},
		{StateApproved, "", StateAwaitingRequester, false},
		{StateClosed, "", StateReceived, false},
		{StateDenied, "", StateReleased, false},
	}
	for _, c := range cases {
		err := CheckTransition(c.from, c.pausedFrom, c.to)
		if c.ok != (err == nil) {
			t.Errorf("%s → %s: %v, want ok=%v", c.from, c.to, err, c.ok)
		}
		if err != nil {
			var te *TransitionError
			if !errors.As(err, &te) || !errors.Is(err, ErrConflict) {
				t.Errorf("%s → %s: %T %v, want *TransitionError wrapping ErrConflict", c.from, c.to, err, err)
				continue
			}
			if !slices.Equal(te.Allowed, Allowed(c.from, c.pausedFrom)) {
				t.Errorf("%s → %s: allowed %v", c.from, c.to, te.Allowed)
			}
			for _, a := range te.Allowed {
				if !strings.Contains(err.Error(), string(a)) {
					t.Errorf("%q does not name allowed state %s", err, a)
				}
			}
		}
	}
	if err := CheckTransition(StateReceived, "", "lost"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
	if err := CheckTransition(StateClosed, "", StateReceived); err == nil || !strings.Contains(err.Error(), "no further transition") {
		t.Errorf("closed: %v", err)
	}
}

// Every state is reachable from received and every non-closed state can
// reach closed: the machine has no dead ends.
func TestStateMachineHasNoDeadEnds(t *testing.T) {
	reach := func(from State) map[State]bool {
		seen := map[State]bool{from: true}
		queue := []State{from}
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			next := Allowed(s, "")
			if s == StateAwaitingRequester {
				next = append(next, working...)
			}
			for _, n := range next {
				if !seen[n] {
					seen[n] = true
					queue = append(queue, n)
				}
			}
		}
		return seen
	}
	all := reach(StateReceived)
	for _, s := range States() {
		if !all[s] {
			t.Errorf("%s unreachable from received", s)
		}
		if !reach(s)[StateClosed] {
			t.Errorf("%s cannot reach closed", s)
		}
	}
}

func TestIntakeValidate(t *testing.T) {
	now := et(t, "2026-03-01 10:00")
	ok := Intake{RequesterName: "Ann Reporter", RequesterType: RequesterMedia, Contact: "ann@example.org",
		Description: "Body camera footage of the traffic stop on Main St", Channel: ChannelWeb}
	if err := ok.Validate(now); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*Intake)
		field string
		large bool
	}{
		{"no name", func(i *Intake) { i.RequesterName = " " }, "requester_name", false},
		{"bad type", func(i *Intake) { i.RequesterType = "robot" }, "requester_type", false},
		{"bad channel", func(i *Intake) { i.Channel = "fax" }, "channel", false},
		{"NUL in name", func(i *Intake) { i.RequesterName = "a\x00b" }, "requester_name", false},
		{"newline in place", func(i *Intake) { i.Place = "a\nb" }, "place", false},
		{"huge description", func(i *Intake) { i.Description = strings.Repeat("x", MaxDescriptionLen+1) }, "description", true},
		{"bad utf8", func(i *Intake) { i.Contact = "\xff" }, "contact", false},
		{"range reversed", func(i *Intake) {
			a, b := et(t, "2026-02-01 00:00"), et(t, "2026-01-01 00:00")
			i.DateFrom, i.DateTo = &a, &b
		}, "date_to", false},
		{"future receipt", func(i *Intake) { i.ReceivedAt = now.Add(time.Hour) }, "received_at", false},
	}
	for _, c := range cases {
		in := ok
		c.edit(&in)
		err := in.Validate(now)
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Fields[0].Field != c.field {
			t.Errorf("%s: %v, want a problem with %s", c.name, err, c.field)
			continue
		}
		if c.large != errors.Is(err, ErrTooLarge) || c.large == errors.Is(err, ErrInvalid) {
			t.Errorf("%s: kind too large=%v, got %v", c.name, c.large, err)
		}
	}
}
