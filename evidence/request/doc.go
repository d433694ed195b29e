// Package request is the records officers' floor: public access (public
// records, FOIA) requests from intake to release, the statutory clock that
// says when each is due, the footage linked to each as clips, the redaction
// spec versions written for each clip, the items withheld with their
// exemption codes, and the outputs of the redaction jobs.
//
// # Types
//
//	Request         one public access request: tracking number
//	                ("PAR-2026-000123"), requester (name, type, contact),
//	                what is asked for (description, date range, place,
//	                incident/case number), how and when it came in
//	                (channel, received time), state, assignee, clock.
//	State           received → assigned → searching → redacting → in_review →
//	                approved → released → closed; awaiting_requester (clock
//	                paused), denied (with exemption codes), withdrawn.
//	Event           one line of a request's timeline (append-only).
//	Clip            an evidence item linked to a request with in/out points
//	                (milliseconds on the item's timeline).
//	SpecVersion     one saved redaction spec of a clip; versions count 1, 2,
//	                3… and are never changed.
//	Withheld        an item kept back from a release, with exemption codes.
//	JobOutput       a file a redaction job produced (detect, preview, render)
//	                with its SHA-256, the source's SHA-256 and the spec
//	                version it was made from.
//	Rules           a jurisdiction's statutory clock (configs' requests
//	                section): calendar or business days, response days,
//	                holidays, extension limits, what pauses the clock.
//	Exemptions      the exemption codes an agency may cite (configurable;
//	                US FOIA b(1)–b(9) with b(7)(A)–(F), and Texas Public
//	                Information Act sections, ship with the defaults).
//
// # States and transitions
//
// The server enforces the order: Transitions lists, for each state, the
// states that may follow it. A transition not listed is a *TransitionError
// (wrapping ErrConflict, HTTP 409) that names the allowed next states.
// Backward steps exist where the work requires them (a reviewer sends a
// clip back to redacting; more footage is searched for). awaiting_requester
// may be entered from any working state and returns only to the state it
// was entered from. Entering denied needs at least one valid exemption
// code; entering assigned needs an assignee.
//
// # The clock
//
// Due is a pure function of the received time, the pauses and the
// extensions under a jurisdiction's Rules. Days are counted in the
// jurisdiction's time zone from the day after receipt; in business-day
// mode weekends and listed holidays do not count. A day on which a pause
// begins counts; the days after it up to and including the day the pause
// ends do not (counting restarts the next day, just as it starts the day
// after receipt). Extensions add days, each with a required reason, within
// the rules' maximum count and maximum total days. While a pause is open
// the request has no due date (it is "paused"). A request is due at the
// end of its last day (DueAt is the first instant after it). Every pause,
// resume and extension is an Event with its reason and is audited.
//
// # Storage (PostgreSQL, migration 0011)
//
//	access_requests          mutable state of each request (no DELETE grant)
//	access_request_counters  the per-year sequence behind tracking numbers
//	access_request_events    the timeline; append-only (trigger + grants)
//	access_request_pauses    pause intervals (open: resumed_at NULL)
//	access_request_extensions extensions (append-only)
//	request_clips            clips (removal is a state, never a DELETE)
//	redaction_spec_versions  spec versions (append-only)
//	request_withheld         withheld items (removal is a state)
//	redaction_job_outputs    job outputs (append-only)
//
// The public status code is 80 random bits shown once at intake; only its
// SHA-256 is stored, and the public status page answers with the state and
// due date alone.
//
// # Custody and audit
//
// Linking and unlinking a clip appends request_clip_linked /
// request_clip_removed to the item's chain of custody in the same
// transaction as the link, and a timeline event. Saving a spec version
// appends redaction_created. Everything else that reads or changes request
// material is recorded through the Auditor the caller supplies (the HTTP
// layer records views; this package records changes), so the audit trail
// names who did what and why.
//
// # Saving spec versions
//
// A save names the version it was edited from (base version). If another
// version was saved meanwhile, the save is a *StaleSpecError (ErrConflict,
// 409) saying who saved the newer version and when ("edited by rita at
// 2026-12-07T21:40:00Z"); nothing is overwritten. Spec JSON is checked
// with package redact/spec (pure Go: structure, then against the item's
// probed media), and every region, audio range and full-frame blur must
// carry a known exemption code as its reason.
//
// # Jobs
//
// Detect, preview and render jobs (package evidence/jobs) record their
// outputs with RecordJobOutput; the job rows themselves live in river.
package request
