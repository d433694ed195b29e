package wire

import (
	"fmt"
	"net/http"
)

// Error codes of the protocol. Each maps to one HTTP status (Status).
const (
	CodeBadRequest          = "bad_request"
	CodeInvalidRequest      = "invalid_request"
	CodeUnauthenticated     = "unauthenticated"
	CodeForbidden           = "forbidden"
	CodeNotFound            = "session_not_found"
	CodeOffsetMismatch      = "offset_mismatch"
	CodeSessionBusy         = "session_busy"
	CodeIncomplete          = "incomplete"
	CodeSessionState        = "session_state"
	CodeExpired             = "session_expired"
	CodeLengthRequired      = "length_required"
	CodeChunkTooLarge       = "chunk_too_large"
	CodeRequestTooLarge     = "request_too_large"
	CodeChunkLength         = "chunk_length"
	CodeBeyondSize          = "beyond_size"
	CodeTruncated           = "truncated"
	CodeChunkDigestMismatch = "chunk_digest_mismatch"
	CodeDigestMismatch      = "digest_mismatch"
	CodeSizeMismatch        = "size_mismatch"
	CodeTooLarge            = "file_too_large"
	CodeUnavailable         = "unavailable"
	CodeInternal            = "internal"
)

var statusOf = map[string]int{
	CodeBadRequest:          http.StatusBadRequest,
	CodeInvalidRequest:      http.StatusBadRequest,
	CodeUnauthenticated:     http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeOffsetMismatch:      http.StatusConflict,
	CodeSessionBusy:         http.StatusConflict,
	CodeIncomplete:          http.StatusConflict,
	CodeSessionState:        http.StatusConflict,
	CodeExpired:             http.StatusGone,
	CodeLengthRequired:      http.StatusLengthRequired,
	CodeChunkTooLarge:       http.StatusRequestEntityTooLarge,
	CodeRequestTooLarge:     http.StatusRequestEntityTooLarge,
	CodeTooLarge:            http.StatusRequestEntityTooLarge,
	CodeChunkLength:         http.StatusBadRequest,
	CodeBeyondSize:          http.StatusBadRequest,
	CodeTruncated:           http.StatusBadRequest,
	CodeChunkDigestMismatch: http.StatusUnprocessableEntity,
	CodeDigestMismatch:      http.StatusUnprocessableEntity,
	CodeSizeMismatch:        http.StatusUnprocessableEntity,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeInternal:            http.StatusInternalServerError,
}

// Status is the HTTP status of an error code (500 for unknown codes).
func Status(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is the protocol's error: {"error":{"code","message"[,"offset"]}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Offset is the durable offset, given with offset_mismatch so the
	// client re-syncs without another round trip.
	Offset *int64 `json:"offset,omitempty"`
	// HTTPStatus is the status the client received (not sent).
	HTTPStatus int `json:"-"`
}

func (e *Error) Error() string {
	if e.HTTPStatus != 0 {
		return fmt.Sprintf("ingest: %s (%d): %s", e.Code, e.HTTPStatus, e.Message)
	}
	return fmt.Sprintf("ingest: %s: %s", e.Code, e.Message)
}

// Permanent reports whether retrying the same bytes cannot succeed: the
// server found the file's content wrong (whole-file digest or size), as
// opposed to transport trouble, a busy session or an offset to re-sync.
func (e *Error) Permanent() bool {
	switch e.Code {
	case CodeDigestMismatch, CodeSizeMismatch, CodeInvalidRequest, CodeTooLarge, CodeForbidden:
		return true
	}
	return false
}

// Body is the JSON envelope of an error response.
type Body struct {
	Error *Error `json:"error"`
}
