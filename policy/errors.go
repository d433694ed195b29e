package policy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test with errors.Is; the API maps them to
// statuses (bad request for input errors, internal error for a policy that
// cannot be evaluated).
var (
	// ErrUnknownAction: an action outside the vocabulary (see Actions).
	ErrUnknownAction = errors.New("unknown action")
	// ErrInvalidSubject: a subject with an unknown role, a bad unit path, or
	// a dock claiming a person's role (or the reverse).
	ErrInvalidSubject = errors.New("invalid subject")
	// ErrInvalidResource: a resource with a bad unit path or names.
	ErrInvalidResource = errors.New("invalid resource")
	// ErrInvalidPolicy: a model or policy file that cannot be loaded; the
	// wrapped *PolicyError says which file and line.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrInvalidSchedule: a retention schedule that does not parse or
	// validate; the wrapped *FieldError names the field.
	ErrInvalidSchedule = errors.New("invalid retention schedule")
	// ErrUnknownCategory: an item category the retention schedule does not
	// define. Refusing is safer than guessing a period: a mistyped
	// "homicide" must not be kept for 180 days.
	ErrUnknownCategory = errors.New("unknown category")
	// ErrInvalidRetentionInput: an item without a recording or ingest time,
	// or with a zero request time.
	ErrInvalidRetentionInput = errors.New("invalid retention input")
)

// PolicyError locates a problem in a model or policy file.
type PolicyError struct {
	File    string // the Source's name for the file, e.g. configs/policy/access_policy.csv
	Line    int    // 1-based; 0 when the problem is not on one line
	Problem string
}

// Error reads "file:line: problem", the form editors jump to.
func (e *PolicyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalidPolicy) hold.
func (e *PolicyError) Unwrap() error { return ErrInvalidPolicy }

// FieldError names the bad field of a retention schedule, in the YAML's own
// spelling, e.g. "categories[2].keep".
type FieldError struct {
	Field   string
	Value   string
	Problem string
}

// Error reads `field: "value": problem`.
func (e *FieldError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s: %q: %s", e.Field, e.Value, e.Problem)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalidSchedule) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidSchedule }
