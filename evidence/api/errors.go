package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg"
	"github.com/opendems/opendems/storage"
)

// Error is an API error with its status and machine-readable code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an API error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// ErrorBody is the JSON shape of every error.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError maps err to a status and writes the JSON error. Unexpected
// errors are logged and answered with a generic 500 (no internals leak).
func WriteError(c *gin.Context, err error) {
	e := classify(err)
	if e.Status >= 500 {
		slog.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
	}
	var body ErrorBody
	body.Error.Code, body.Error.Message = e.Code, e.Message
	c.AbortWithStatusJSON(e.Status, body)
}

func classify(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var inv *identity.InvalidError
	if errors.As(err, &inv) {
		return Errorf(http.StatusBadRequest, "invalid", err.Error())
	}
	var fe *evidence.FilterError
	if errors.As(err, &fe) {
		return Errorf(http.StatusBadRequest, "invalid", err.Error())
	}
	switch {
	case errors.Is(err, identity.ErrNotFound), errors.Is(err, evidence.ErrNotFound), errors.Is(err, pg.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return Errorf(http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, identity.ErrExists):
		return Errorf(http.StatusConflict, "exists", err.Error())
	case errors.Is(err, identity.ErrBadCredentials):
		return Errorf(http.StatusUnauthorized, "unauthenticated", "invalid credentials")
	case errors.Is(err, identity.ErrRevoked):
		return Errorf(http.StatusUnauthorized, "revoked", "credential revoked")
	case errors.Is(err, identity.ErrDisabled):
		return Errorf(http.StatusUnauthorized, "disabled", "account disabled")
	case errors.Is(err, identity.ErrLocked):
		return Errorf(http.StatusTooManyRequests, "locked", err.Error())
	case errors.Is(err, identity.ErrSessionExpired):
		return Errorf(http.StatusUnauthorized, "session_expired", "session expired; log in again")
	case errors.Is(err, storage.ErrRetained):
		return Errorf(http.StatusConflict, "retained", "object is under retention or legal hold")
	case errors.Is(err, storage.ErrDigestMismatch):
		return Errorf(http.StatusUnprocessableEntity, "digest_mismatch", err.Error())
	}
	return Errorf(http.StatusInternalServerError, "internal", "internal error")
}

var (
	errUnauthenticated = Errorf(http.StatusUnauthorized, "unauthenticated", "authentication required: Authorization: Bearer <token> or a session cookie")
	errForbidden       = Errorf(http.StatusForbidden, "forbidden", "not permitted")
	errCSRF            = Errorf(http.StatusForbidden, "csrf", "missing or invalid CSRF token")
)
