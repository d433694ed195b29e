package chain

import "errors"

// Errors returned when building events, so callers can tell bad input from
// failures with errors.Is.
var (
	ErrUnknownAction = errors.New("unknown custody action")
	ErrMissingDetail = errors.New("missing custody detail")
	ErrBadDetails    = errors.New("details are not a canonicalizable JSON object")
	ErrBadActor      = errors.New("invalid actor")
	ErrBadExport     = errors.New("malformed custody export")
	ErrNotVerified   = errors.New("custody verification failed")
	ErrBadProof      = errors.New("invalid inclusion proof")
	ErrBadSignature  = errors.New("checkpoint signature invalid")
	ErrBadPublicKey  = errors.New("invalid public key")
	ErrUntrustedKey  = errors.New("checkpoint signed by an untrusted key")
)
