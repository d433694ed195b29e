package custody

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/identity"
)

// RegisterRoutes mounts the custody API on r:
//
//	GET /api/v1/custody/public-key    the checkpoint key (JSON: base64, hex, PEM, key id)
//	GET /api/v1/evidence/:id/custody  an item's chain with hashes, verified on the fly
//	GET /api/v1/custody/export        ?evidence=ID | ?case=ID | ?all (JSON lines; &checkpoints=all)
//
// Authorization is the caller's middleware; handlers other than the
// public key still refuse requests without an authenticated principal.
func RegisterRoutes(r gin.IRoutes, svc *Service) {
	r.GET("/api/v1/custody/public-key", svc.PublicKeyHandler)
	r.GET("/api/v1/evidence/:id/custody", svc.ChainHandler)
	r.GET("/api/v1/custody/export", svc.ExportHandler)
}

// PublicKeyHandler publishes the checkpoint verification key. It is
// public on purpose: anyone holding an export must be able to fetch it
// (and should compare it with a copy obtained out of band).
func (s *Service) PublicKeyHandler(c *gin.Context) {
	if len(s.Key) == 0 {
		writeError(c, http.StatusServiceUnavailable, "no_key", "no checkpoint key is configured")
		return
	}
	pemKey, err := chain.MarshalPublicKeyPEM(s.Key)
	if err != nil {
		writeError(c, http.StatusInternalServerError, "internal", "cannot encode the public key")
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"algorithm":      "Ed25519",
		"key_id":         chain.KeyID(s.Key),
		"public_key":     base64.StdEncoding.EncodeToString(s.Key),
		"public_key_hex": hex.EncodeToString(s.Key),
		"pem":            string(pemKey),
	})
}

type eventJSON struct {
	Seq      int64           `json:"seq"`
	Time     string          `json:"time"`
	Actor    string          `json:"actor"`
	Action   Action          `json:"action"`
	Details  json.RawMessage `json:"details"`
	PrevHash chain.Hash      `json:"prev_hash"`
	Hash     chain.Hash      `json:"hash"`
}

// ChainResponse is the body of GET /api/v1/evidence/:id/custody.
type ChainResponse struct {
	EvidenceID uuid.UUID       `json:"evidence_id"`
	Verified   bool            `json:"verified"`
	Problems   []chain.Problem `json:"problems,omitempty"`
	Events     []eventJSON     `json:"events"`
}

// ChainHandler returns one item's chain with every hash, and whether it
// verifies (hashes and links; checkpoints are in the export).
func (s *Service) ChainHandler(c *gin.Context) {
	if _, ok := identity.FromContext(c.Request.Context()); !ok {
		writeError(c, http.StatusUnauthorized, "unauthenticated", "authentication required")
		return
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		writeError(c, http.StatusBadRequest, "invalid_id", "evidence id is not a UUID")
		return
	}
	evs, err := Events(c.Request.Context(), s.DB, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	resp := ChainResponse{EvidenceID: id, Events: make([]eventJSON, len(evs))}
	for i, e := range evs {
		resp.Events[i] = eventJSON{Seq: e.Seq, Time: chain.FormatTime(e.Time), Actor: e.Actor, Action: e.Action,
			Details: json.RawMessage(e.Details), PrevHash: e.PrevHash, Hash: e.Hash}
	}
	resp.Problems = chain.VerifyChain(evs)
	resp.Verified = len(resp.Problems) == 0
	c.JSON(http.StatusOK, resp)
}

// ParseScope reads evidence=ID, case=ID or all (present, or all=true) and
// checkpoints=all from query values.
func ParseScope(get func(string) (string, bool)) (Scope, error) {
	var s Scope
	if v, ok := get("evidence"); ok {
		id, err := uuid.Parse(v)
		if err != nil {
			return s, fmt.Errorf("%w: evidence is not a UUID", ErrInvalid)
		}
		s.EvidenceID = id
	}
	if v, ok := get("case"); ok {
		id, err := uuid.Parse(v)
		if err != nil {
			return s, fmt.Errorf("%w: case is not a UUID", ErrInvalid)
		}
		s.CaseID = id
	}
	if v, ok := get("all"); ok {
		all := v == ""
		if !all {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, fmt.Errorf("%w: all must be empty or a boolean", ErrInvalid)
			}
			all = b
		}
		s.All = all
	}
	if v, ok := get("checkpoints"); ok {
		if v != "all" && v != "latest" {
			return s, fmt.Errorf("%w: checkpoints must be all or latest", ErrInvalid)
		}
		s.AllCheckpoints = v == "all"
	}
	return s, s.Validate()
}

// ExportHandler streams a custody export (application/x-ndjson) read in
// one REPEATABLE READ snapshot, so events and checkpoints agree.
func (s *Service) ExportHandler(c *gin.Context) {
	if _, ok := identity.FromContext(c.Request.Context()); !ok {
		writeError(c, http.StatusUnauthorized, "unauthenticated", "authentication required")
		return
	}
	scope, err := ParseScope(c.GetQuery)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	var q Querier = s.DB
	if b, ok := s.DB.(interface {
		BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			s.fail(c, err)
			return
		}
		defer tx.Rollback(ctx)
		q = tx
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="custody-export.jsonl"`)
	if err := Export(ctx, q, c.Writer, scope, s.Key); err != nil {
		if !c.Writer.Written() {
			c.Writer.Header().Del("Content-Type")
			c.Writer.Header().Del("Content-Disposition")
			s.fail(c, err)
			return
		}
		// Headers are gone: the missing end line tells the verifier.
		s.Logger.Error("custody export failed mid-stream", "scope", scope.String(), "err", err)
	}
}

func (s *Service) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, ErrEvidenceNotFound):
		writeError(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(c, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		s.Logger.Error("custody request failed", "path", c.Request.URL.Path, "err", err)
		writeError(c, http.StatusInternalServerError, "internal", "custody request failed")
	}
}

func writeError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": msg}})
}
