package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// kindStatus maps each error kind of the evidence root to its status and
// default code. It is the only table of statuses in demsd.
var kindStatus = map[error]struct {
	status int
	code   string
}{
	evidence.ErrNotFound:        {http.StatusNotFound, "not_found"},
	evidence.ErrInvalid:         {http.StatusBadRequest, "invalid"},
	evidence.ErrConflict:        {http.StatusConflict, "conflict"},
	evidence.ErrGone:            {http.StatusGone, "gone"},
	evidence.ErrPermission:      {http.StatusForbidden, "forbidden"},
	evidence.ErrUnauthenticated: {http.StatusUnauthorized, "unauthenticated"},
	evidence.ErrUnavailable:     {http.StatusServiceUnavailable, "unavailable"},
	evidence.ErrTooLarge:        {http.StatusRequestEntityTooLarge, "too_large"},
	evidence.ErrUnsupported:     {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	evidence.ErrRateLimited:     {http.StatusTooManyRequests, "rate_limited"},
	evidence.ErrIntegrity:       {http.StatusUnprocessableEntity, "integrity"},
}

// ErrorBody is the JSON shape of every error: {"error":{"code","message"}}
// plus the fields an error adds (e.g. the durable offset of an upload, the
// decision that refused a purge).
type ErrorBody struct {
	Error map[string]any `json:"error"`
}

// answer is what the writer sends for an error.
type answer struct {
	status  int
	code    string
	message string
	detail  map[string]any
}

// WriteError maps err to a status and writes the JSON error; it is the one
// error writer of every route (API, ingest protocol, pages' JSON calls).
// Unexpected errors (no kind) are logged and answered with a generic 500,
// so no internals leak.
func WriteError(c *gin.Context, err error) {
	a := classify(err)
	if a.status >= 500 && a.status != http.StatusServiceUnavailable {
		slog.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
	}
	if a.status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	body := map[string]any{"code": a.code, "message": a.message}
	for k, v := range a.detail {
		body[k] = v
	}
	c.AbortWithStatusJSON(a.status, ErrorBody{Error: body})
}

// StatusOf is the status WriteError answers err with (for pages that
// render errors as HTML).
func StatusOf(err error) (status int, message string) {
	a := classify(err)
	return a.status, a.message
}

func classify(err error) answer {
	// The ingest protocol's errors carry the protocol's own codes, whose
	// statuses are part of its contract with docking stations (wire.Status).
	var we *wire.Error
	if errors.As(err, &we) {
		a := answer{status: wire.Status(we.Code), code: we.Code, message: we.Message}
		if we.Offset != nil {
			a.detail = map[string]any{"offset": *we.Offset}
		}
		return a
	}
	var ee *evidence.Error
	if errors.As(err, &ee) {
		if k, ok := kindStatus[evidence.KindOf(ee)]; ok {
			a := answer{status: k.status, code: k.code, message: ee.Msg, detail: ee.Detail}
			if ee.Code != "" {
				a.code = ee.Code
			}
			if a.message == "" {
				a.message = ee.Error()
			}
			if k.status == http.StatusNotFound && ee.Msg == "" {
				a.message = "not found"
			}
			return a
		}
	}
	// Leaves that cannot import the evidence root (storage) and plain
	// kind-wrapped errors.
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return answer{status: http.StatusNotFound, code: "not_found", message: "not found"}
	case errors.Is(err, storage.ErrRetained):
		return answer{status: http.StatusConflict, code: "retained", message: "object is under retention or legal hold"}
	case errors.Is(err, storage.ErrDigestMismatch):
		return answer{status: http.StatusUnprocessableEntity, code: "digest_mismatch", message: err.Error()}
	case errors.Is(err, context.Canceled):
		return answer{status: http.StatusServiceUnavailable, code: "unavailable", message: "request cancelled"}
	}
	if k := evidence.KindOf(err); k != nil {
		ks := kindStatus[k]
		msg := err.Error()
		if ks.status == http.StatusNotFound {
			msg = "not found" // never echo what was looked up
		}
		return answer{status: ks.status, code: ks.code, message: msg}
	}
	return answer{status: http.StatusInternalServerError, code: "internal", message: "internal error"}
}

// Errors of the HTTP edge itself.
var (
	errUnauthenticated = &evidence.Error{Kind: evidence.ErrUnauthenticated, Msg: "authentication required: Authorization: Bearer <token> or a session cookie"}
	errForbidden       = &evidence.Error{Kind: evidence.ErrPermission, Msg: "not permitted"}
	errCSRF            = &evidence.Error{Kind: evidence.ErrPermission, Code: "csrf", Msg: "missing or invalid CSRF token"}
	errNotFound        = &evidence.Error{Kind: evidence.ErrNotFound, Msg: "not found"}
)

// Coded is an error of a kind with its own code, for answers a client
// tells apart by code (e.g. mfa_required among the 403s).
func Coded(kind error, code, msg string) error {
	return &evidence.Error{Kind: kind, Code: code, Msg: msg}
}
