package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// session is one row of ingest_sessions.
type session struct {
	ID           uuid.UUID
	State        string
	SHA256       storage.Digest
	Size         int64
	ChunkSize    int64
	Received     int64
	Filename     string
	ContentType  string
	Metadata     wire.Metadata
	ActorKind    identity.Kind
	ActorID      uuid.UUID
	Actor        string
	DockID       *uuid.UUID
	UserID       *uuid.UUID
	UnitID       uuid.UUID
	Backend      string
	UploadID     storage.UploadID
	RetainUntil  *time.Time
	EvidenceID   *uuid.UUID
	Duplicate    bool
	ErrorCode    string
	ErrorMessage string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (ss *session) ref() storage.Ref {
	return storage.Ref{Namespace: storage.Originals, Digest: ss.SHA256}
}

const sessionColumns = `id, state, sha256, size, chunk_size, received, filename, content_type, metadata,
	actor_kind, actor_id, actor, dock_id, user_id, unit_id, backend, upload_id, retain_until,
	evidence_id, duplicate, error_code, error_message, created_at, updated_at`

func scanSession(row pgx.Row) (*session, error) {
	var ss session
	var sum, meta []byte
	var kind, upload string
	err := row.Scan(&ss.ID, &ss.State, &sum, &ss.Size, &ss.ChunkSize, &ss.Received, &ss.Filename, &ss.ContentType, &meta,
		&kind, &ss.ActorID, &ss.Actor, &ss.DockID, &ss.UserID, &ss.UnitID, &ss.Backend, &upload, &ss.RetainUntil,
		&ss.EvidenceID, &ss.Duplicate, &ss.ErrorCode, &ss.ErrorMessage, &ss.CreatedAt, &ss.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if len(sum) != len(ss.SHA256) {
		return nil, fmt.Errorf("session %s: stored sha256 has %d bytes", ss.ID, len(sum))
	}
	copy(ss.SHA256[:], sum)
	if err := json.Unmarshal(meta, &ss.Metadata); err != nil {
		return nil, fmt.Errorf("session %s: stored metadata: %w", ss.ID, err)
	}
	ss.ActorKind = identity.Kind(kind)
	ss.UploadID = storage.UploadID(upload)
	return &ss, nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// errNoSession is returned when a session does not exist or belongs to
// another caller (the two are not told apart, so ids cannot be probed).
var errNoSession = errors.New("no such session")

func loadSession(ctx context.Context, q querier, id uuid.UUID, forUpdate bool) (*session, error) {
	sql := `SELECT ` + sessionColumns + ` FROM ingest_sessions WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	ss, err := scanSession(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSession
	}
	return ss, err
}

// part is one row of ingest_parts: the storage.Part plus the chunk's own
// SHA-256 (for idempotent retries).
type part struct {
	storage.Part
	ChunkSHA256 [32]byte
}

func loadParts(ctx context.Context, q querier, id uuid.UUID) ([]part, error) {
	rows, err := q.Query(ctx, `SELECT number, "offset", size, etag, hash_state, chunk_sha256
		FROM ingest_parts WHERE session_id = $1 ORDER BY number`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []part
	for rows.Next() {
		var p part
		var cs []byte
		if err := rows.Scan(&p.Number, &p.Offset, &p.Size, &p.ETag, &p.HashState, &cs); err != nil {
			return nil, err
		}
		copy(p.ChunkSHA256[:], cs)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// lastPart returns the part that ends at the session's durable offset (nil
// at offset 0).
func lastPart(ctx context.Context, q querier, ss *session) (*storage.Part, error) {
	if ss.Received == 0 {
		return nil, nil
	}
	var p storage.Part
	err := q.QueryRow(ctx, `SELECT number, "offset", size, etag, hash_state FROM ingest_parts
		WHERE session_id = $1 AND "offset" + size = $2`, ss.ID, ss.Received).
		Scan(&p.Number, &p.Offset, &p.Size, &p.ETag, &p.HashState)
	if err != nil {
		return nil, fmt.Errorf("session %s: part ending at %d: %w", ss.ID, ss.Received, err)
	}
	return &p, nil
}

func storageParts(ps []part) []storage.Part {
	out := make([]storage.Part, len(ps))
	for i, p := range ps {
		out[i] = p.Part
	}
	return out
}
