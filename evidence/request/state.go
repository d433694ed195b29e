package request

import (
	"fmt"
	"strings"
)

// State is where a request stands.
type State string

// States, in the order the work normally goes.
const (
	StateReceived  State = "received"
	StateAssigned  State = "assigned"
	StateSearching State = "searching"
	StateRedacting State = "redacting"
	StateInReview  State = "in_review"
	StateApproved  State = "approved"
	StateReleased  State = "released"
	StateClosed    State = "closed"
	// StateAwaitingRequester: the agency waits for the requester
	// (clarification, a fee); the clock is paused.
	StateAwaitingRequester State = "awaiting_requester"
	// StateDenied: refused in full, citing exemption codes.
	StateDenied State = "denied"
	// StateWithdrawn: the requester withdrew it.
	StateWithdrawn State = "withdrawn"
)

// States lists every state: the main line first, then the side states.
func States() []State {
	return []State{StateReceived, StateAssigned, StateSearching, StateRedacting, StateInReview,
		StateApproved, StateReleased, StateClosed, StateAwaitingRequester, StateDenied, StateWithdrawn}
}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, k := range States() {
		if s == k {
			return true
		}
	}
	return false
}

// Open reports whether the request still awaits the agency's answer, so
// its clock matters (overdue, due soon). Released, denied, withdrawn and
// closed requests have been answered.
func (s State) Open() bool {
	switch s {
	case StateReleased, StateDenied, StateWithdrawn, StateClosed:
		return false
	}
	return true
}

// working states: from these the agency may pause for the requester, deny
// or take a withdrawal.
var working = []State{StateReceived, StateAssigned, StateSearching, StateRedacting, StateInReview}

// transitions is the state machine. awaiting_requester's way back is to
// the state it was entered from, added by Allowed.
var transitions = map[State][]State{
	StateReceived:  {StateAssigned},
	StateAssigned:  {StateSearching, StateAssigned}, // reassign
	StateSearching: {StateRedacting},
	// Back to searching when more footage is needed.
	StateRedacting: {StateInReview, StateSearching},
	// A reviewer sends the work back.
	StateInReview: {StateApproved, StateRedacting},
	// Any change after approval voids it: back to redacting.
	StateApproved:          {StateReleased, StateRedacting, StateWithdrawn},
	StateReleased:          {StateClosed},
	StateAwaitingRequester: {StateWithdrawn, StateClosed},
	StateDenied:            {StateClosed},
	StateWithdrawn:         {StateClosed},
	StateClosed:            nil,
}

// Allowed returns the states that may follow from, in a stable order.
// pausedFrom is the state an awaiting_requester request returns to.
func Allowed(from, pausedFrom State) []State {
	var out []State
	if from == StateAwaitingRequester && pausedFrom != "" {
		out = append(out, pausedFrom)
	}
	out = append(out, transitions[from]...)
	for _, w := range working {
		if from == w {
			out = append(out, StateAwaitingRequester, StateDenied, StateWithdrawn)
			break
		}
	}
	return out
}

// TransitionError is a transition the state machine does not allow. It
// wraps ErrConflict (HTTP 409) and names the allowed next states.
type TransitionError struct {
	From, To State
	Allowed  []State
}

func (e *TransitionError) Error() string {
	if len(e.Allowed) == 0 {
		return fmt.Sprintf("request is %s: no further transition is allowed (asked for %s)", e.From, e.To)
	}
	names := make([]string, len(e.Allowed))
	for i, s := range e.Allowed {
		names[i] = string(s)
	}
	return fmt.Sprintf("request is %s: cannot go to %s; allowed: %s", e.From, e.To, strings.Join(names, ", "))
}

// Unwrap gives the error's kind.
func (e *TransitionError) Unwrap() error { return ErrConflict }

// CheckTransition returns nil when from may go to to, a *TransitionError
// when it may not, and an invalid error when to is no state at all.
func CheckTransition(from, pausedFrom, to State) error {
	if !to.Valid() {
		p := problems{op: "request transition"}
		p.add("state", "unknown state %q", to)
		return p.err()
	}
	allowed := Allowed(from, pausedFrom)
	for _, s := range allowed {
		if s == to {
			return nil
		}
	}
	return &TransitionError{From: from, To: to, Allowed: allowed}
}
