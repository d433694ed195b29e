package evidence

import (
	"errors"
	"strings"
)

// Error kinds. Every package of the domain wraps one of these (with E or
// fmt.Errorf("%w")), so callers decide by kind with errors.Is and the HTTP
// kit (evidence/api) maps each kind to one status in one place. No package
// declares its own not-found or invalid sentinel.
var (
	// ErrNotFound: no such resource, or one the caller may not see (the API
	// answers both alike, so ids cannot be probed).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: bad input; the message names the field and what is wanted.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict: the request contradicts the current state (a duplicate,
	// a hold that forbids the change, a stale version).
	ErrConflict = errors.New("conflict with current state")
	// ErrGone: the resource existed and is gone for good (purged, expired).
	ErrGone = errors.New("gone")
	// ErrPermission: the caller is known and not permitted.
	ErrPermission = errors.New("not permitted")
	// ErrUnauthenticated: no valid credential (or one revoked or expired).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrUnavailable: a dependency is down or the request was cancelled;
	// retrying later may succeed.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrTooLarge: a body or value beyond its limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnsupported: a body in a media type the route does not take.
	ErrUnsupported = errors.New("unsupported media type")
	// ErrRateLimited: too many attempts; the message says when to retry.
	ErrRateLimited = errors.New("too many requests")
	// ErrIntegrity: bytes that do not match their recorded digest.
	ErrIntegrity = errors.New("integrity check failed")
)

// Kinds lists every error kind, for the HTTP kit's status table and its
// test that no kind is left unmapped.
var Kinds = []error{ErrNotFound, ErrInvalid, ErrConflict, ErrGone, ErrPermission, ErrUnauthenticated,
	ErrUnavailable, ErrTooLarge, ErrUnsupported, ErrRateLimited, ErrIntegrity}

// Error is a domain error: its kind, the operation that failed, a message
// safe to show the caller and the cause (kept for the log, never shown).
type Error struct {
	// Kind is one of the kinds above.
	Kind error
	// Op names the operation, e.g. "review: remove from case".
	Op string
	// Code is the machine-readable code of the answer; empty means the
	// kind's own (not_found, invalid, conflict, …).
	Code string
	// Msg is what the caller is told.
	Msg string
	// Detail adds fields to the error object of the answer (e.g. the
	// decision that refused a purge).
	Detail map[string]any
	// Err is the cause.
	Err error
}

// E wraps err (which may be nil) with a kind, the operation and a message
// for the caller.
func E(kind error, op, msg string, err error) error {
	return &Error{Kind: kind, Op: op, Msg: msg, Err: err}
}

// Invalid is an ErrInvalid naming the bad field.
func Invalid(field, reason string) error {
	return &Error{Kind: ErrInvalid, Msg: field + ": " + reason}
}

// NotFound is an ErrNotFound for an operation.
func NotFound(op string) error { return &Error{Kind: ErrNotFound, Op: op, Msg: "not found"} }

func (e *Error) Error() string {
	var parts []string
	if e.Op != "" {
		parts = append(parts, e.Op)
	}
	if e.Msg != "" {
		parts = append(parts, e.Msg)
	} else if e.Kind != nil {
		parts = append(parts, e.Kind.Error())
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	}
	return strings.Join(parts, ": ")
}

// Unwrap lets errors.Is find both the kind and the cause.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// KindOf returns the kind of err (nil when it has none: an internal error).
func KindOf(err error) error {
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
