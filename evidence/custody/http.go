package custody

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/identity"
)

// Routes is the custody part of the route table:
//
//	GET /api/v1/custody/public-key    the checkpoint key (JSON: base64, hex, PEM, key id)
//	GET /api/v1/evidence/:id/custody  an item's chain with hashes, verified on the fly
//	GET /api/v1/custody/export        ?evidence=ID | ?case=ID | ?all (JSON lines; &checkpoints=all)
//
// The enforcement point authorizes them; handlers other than the public
// key still refuse requests without an authenticated principal.
func Routes(svc *Service) []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/custody/public-key", Access: api.Access{Public: true, Summary: "Public key that signs custody checkpoints and receipts"}, Handler: svc.PublicKeyHandler, Op: "getCustodyPublicKey", Out: PublicKey{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/custody", Access: api.Access{Action: "custody:read", Resource: api.KindItem, Summary: "The item's chain of custody with hashes"}, Handler: svc.ChainHandler, Op: "getCustodyChain", Out: ChainResponse{}},
		{Method: "GET", Path: "/api/v1/custody/export", Access: api.Access{Action: "custody:export", Summary: "Export custody chains with covering checkpoints (JSON lines)"}, Handler: svc.ExportHandler, Op: "exportCustody", Query: ExportQuery{}, OutContent: "application/x-ndjson"},
	}
}

// PublicKeyHandler publishes the checkpoint verification key. It is
// public on purpose: anyone holding an export must be able to fetch it
// (and should compare it with a copy obtained out of band).
func (s *Service) PublicKeyHandler(c *gin.Context) {
	if len(s.Key) == 0 {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrUnavailable, Code: "no_key", Msg: "no checkpoint key is configured"})
		return
	}
	pemKey, err := chain.MarshalPublicKeyPEM(s.Key)
	if err != nil {
		api.WriteError(c, fmt.Errorf("custody: encode public key: %w", err))
		return
	}
	c.JSON(http.StatusOK, PublicKey{
		Algorithm:    "Ed25519",
		KeyID:        chain.KeyID(s.Key),
		PublicKey:    base64.StdEncoding.EncodeToString(s.Key),
		PublicKeyHex: hex.EncodeToString(s.Key),
		PEM:          string(pemKey),
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
//
// Verified means: every hash and link verifies AND the chain matches the
// latest checkpoint signed by the server's key (at SignedSeq). Events
// after SignedSeq are the unsigned tail (UnsignedEvents): they verify as a
// hash chain only, which someone able to write the database could rebuild;
// they are covered by the next checkpoint (custody.checkpoint_interval).
// An item no checkpoint covers yet is not verified.
type ChainResponse struct {
	EvidenceID     uuid.UUID       `json:"evidence_id"`
	Verified       bool            `json:"verified"`
	Checkpoint     int64           `json:"checkpoint"` // id of the latest valid checkpoint (0: none)
	SignedSeq      int64           `json:"signed_seq"` // last event it commits to for this item (0: none)
	UnsignedEvents int64           `json:"unsigned_events"`
	Problems       []chain.Problem `json:"problems,omitempty"`
	Events         []eventJSON     `json:"events"`
}

// ChainHandler returns one item's chain with every hash, and whether it
// verifies against the latest signed checkpoint (see ChainResponse).
func (s *Service) ChainHandler(c *gin.Context) {
	if _, ok := identity.FromContext(c.Request.Context()); !ok {
		api.WriteError(c, evidence.ErrUnauthenticated)
		return
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		api.WriteError(c, evidence.Invalid("id", "evidence id is not a UUID"))
		return
	}
	evs, err := Events(c.Request.Context(), s.DB, id)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	resp := ChainResponse{EvidenceID: id, Events: make([]eventJSON, len(evs))}
	for i, e := range evs {
		resp.Events[i] = eventJSON{Seq: e.Seq, Time: chain.FormatTime(e.Time), Actor: e.Actor, Action: e.Action,
			Details: json.RawMessage(e.Details), PrevHash: e.PrevHash, Hash: e.Hash}
	}
	resp.Problems = chain.VerifyChain(evs)
	signed, err := s.SignedHead(c.Request.Context(), id)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	resp.Checkpoint, resp.SignedSeq = signed.Checkpoint, signed.Leaf.Seq
	if signed.Problem != nil {
		resp.Problems = append(resp.Problems, *signed.Problem)
	}
	var last int64
	if n := len(evs); n > 0 {
		last = evs[n-1].Seq
	}
	switch {
	case signed.Leaf.Seq == 0:
	case signed.Leaf.Seq > last:
		resp.Problems = append(resp.Problems, chain.Problem{Kind: chain.ProblemEventsMissing, EvidenceID: id, Checkpoint: signed.Checkpoint,
			Message: fmt.Sprintf("checkpoint %d commits to seq %d, but the chain ends at seq %d (events removed)", signed.Checkpoint, signed.Leaf.Seq, last)})
	case !chainHas(evs, signed.Leaf):
		resp.Problems = append(resp.Problems, chain.Problem{Kind: chain.ProblemCheckpointMismatch, EvidenceID: id, Seq: signed.Leaf.Seq, Checkpoint: signed.Checkpoint,
			Message: fmt.Sprintf("does not match checkpoint %d at seq %d", signed.Checkpoint, signed.Leaf.Seq)})
	}
	resp.UnsignedEvents = max(0, last-signed.Leaf.Seq)
	resp.Verified = len(resp.Problems) == 0 && signed.Leaf.Seq > 0
	c.JSON(http.StatusOK, resp)
}

// ParseScope reads evidence=ID, case=ID or all (present, or all=true) and
// checkpoints=all from query values.
func ParseScope(get func(string) (string, bool)) (Scope, error) {
	var s Scope
	if v, ok := get("evidence"); ok {
		id, err := uuid.Parse(v)
		if err != nil {
			return s, fmt.Errorf("%w: evidence is not a UUID", evidence.ErrInvalid)
		}
		s.EvidenceID = id
	}
	if v, ok := get("case"); ok {
		id, err := uuid.Parse(v)
		if err != nil {
			return s, fmt.Errorf("%w: case is not a UUID", evidence.ErrInvalid)
		}
		s.CaseID = id
	}
	if v, ok := get("all"); ok {
		all := v == ""
		if !all {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, fmt.Errorf("%w: all must be empty or a boolean", evidence.ErrInvalid)
			}
			all = b
		}
		s.All = all
	}
	if v, ok := get("checkpoints"); ok {
		if v != "all" && v != "latest" {
			return s, fmt.Errorf("%w: checkpoints must be all or latest", evidence.ErrInvalid)
		}
		s.AllCheckpoints = v == "all"
	}
	return s, s.Validate()
}

// ExportHandler streams a custody export (application/x-ndjson) read in
// one REPEATABLE READ snapshot, so events and checkpoints agree.
func (s *Service) ExportHandler(c *gin.Context) {
	if _, ok := identity.FromContext(c.Request.Context()); !ok {
		api.WriteError(c, evidence.ErrUnauthenticated)
		return
	}
	scope, err := ParseScope(c.GetQuery)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	var q Querier = s.DB
	if b, ok := s.DB.(interface {
		BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			api.WriteError(c, err)
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
			api.WriteError(c, err)
			return
		}
		// Headers are gone: the missing end line tells the verifier.
		s.Logger.Error("custody export failed mid-stream", "scope", scope.String(), "err", err)
	}
}

// chainHas reports whether evs holds the event l names (seq and hash).
func chainHas(evs []Event, l chain.Leaf) bool {
	for i := range evs {
		if evs[i].Seq == l.Seq {
			return evs[i].Hash == l.Hash
		}
	}
	return false
}
