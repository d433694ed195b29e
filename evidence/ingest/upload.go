package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg"
	"github.com/opendems/opendems/storage"
)

func apiErr(code, format string, args ...any) *wire.Error {
	return &wire.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// authorize checks that p is a kind of caller that uploads at all (a dock
// or a user). Whether the policy lets them is decided before any handler
// runs, by demsd's enforcement point on the route (evidence:upload).
func (s *Service) authorize(ctx context.Context, p identity.Principal) error {
	switch p.Kind {
	case identity.KindDock, identity.KindUser:
		return nil
	}
	return apiErr(wire.CodeForbidden, "%s may not upload evidence", p.Actor())
}

// Create starts an upload session, resumes the caller's live session for
// the same bytes, or (when an item already holds them) records the
// duplicate attempt and returns the existing item's receipt.
func (s *Service) Create(ctx context.Context, p identity.Principal, req wire.CreateRequest) (wire.CreateResponse, bool, error) {
	if err := s.authorize(ctx, p); err != nil {
		return wire.CreateResponse{}, false, err
	}
	if req.Size > s.cfg.MaxFileSize {
		return wire.CreateResponse{}, false, apiErr(wire.CodeTooLarge, "size %d exceeds the limit of %d bytes", req.Size, s.cfg.MaxFileSize)
	}
	digest, err := storage.ParseDigest(req.SHA256)
	if err != nil {
		return wire.CreateResponse{}, false, apiErr(wire.CodeInvalidRequest, "sha256: %v", err)
	}
	l, err := s.lookup(ctx, p, digest, req.Metadata.OfficerID)
	if err != nil {
		return wire.CreateResponse{}, false, err
	}
	// Who the recording is attributed to is the uploader's claim: checked
	// before anything else happens, recorded in custody at commit.
	basis, err := s.attribution(ctx, p, l.officer)
	if err != nil {
		return wire.CreateResponse{}, false, err
	}
	// Bytes already held: no session, a receipt and a custody record.
	if resp, ok, err := s.duplicateAtCreate(ctx, p, digest, req, l.item); ok || err != nil {
		return resp, false, err
	}
	meta, err := json.Marshal(req.Metadata)
	if err != nil {
		return wire.CreateResponse{}, false, fmt.Errorf("ingest: create: %w", err)
	}
	// Resume the caller's live session for the same bytes.
	if ss := l.live; ss != nil {
		if ss.Size == req.Size {
			if _, err := s.cfg.Pool.Exec(ctx, `UPDATE ingest_sessions SET metadata = $2, filename = $3,
				content_type = $4, attribution = $5, updated_at = now() WHERE id = $1`, ss.ID, meta, req.Filename, req.ContentType, basis); err != nil {
				return wire.CreateResponse{}, false, fmt.Errorf("ingest: create: update metadata: %w", err)
			}
			resp, err := s.view(ctx, ss)
			return wire.CreateResponse{Session: resp}, false, err
		}
		// Same bytes cannot have two sizes: the old declaration was wrong.
		if err := s.abortSession(ctx, ss, wire.CodeSizeMismatch, "superseded by a session declaring another size"); err != nil {
			return wire.CreateResponse{}, false, err
		}
	}
	// The storage upload starts with the first chunk (ensureUpload), so a
	// create is PostgreSQL work only and never waits on the object store.
	var retain any
	if s.cfg.RetainFor > 0 {
		retain = s.now().Add(s.cfg.RetainFor)
	}
	var dockID, userID *uuid.UUID
	if p.Kind == identity.KindDock {
		dockID = &p.ID
	} else {
		userID = &p.ID
	}
	ss, err := scanSession(s.cfg.Pool.QueryRow(ctx, `INSERT INTO ingest_sessions
		(sha256, size, chunk_size, filename, content_type, metadata, actor_kind, actor_id, actor,
		 dock_id, user_id, unit_id, backend, upload_id, retain_until, attribution)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'',$14,$15)
		RETURNING `+sessionColumns,
		digest[:], req.Size, s.cfg.ChunkSize, req.Filename, req.ContentType, meta, string(p.Kind), p.ID, p.Actor(),
		dockID, userID, p.UnitID, s.cfg.Storage.Name(), retain, basis))
	if err != nil {
		// Lost a race with a concurrent create of the same caller: use theirs.
		if pg.IsUniqueViolation(err) {
			if ss, lerr := s.liveSession(ctx, p, digest); lerr == nil && ss != nil && ss.Size == req.Size {
				resp, err := s.view(ctx, ss)
				return wire.CreateResponse{Session: resp}, false, err
			}
			return wire.CreateResponse{}, false, apiErr(wire.CodeSessionBusy, "a session for these bytes is being created; retry")
		}
		return wire.CreateResponse{}, false, fmt.Errorf("ingest: create session: %w", err)
	}
	resp, err := s.view(ctx, ss)
	return wire.CreateResponse{Session: resp}, true, err
}

const liveSessionSQL = `SELECT ` + sessionColumns + ` FROM ingest_sessions
	WHERE actor_id = $1 AND sha256 = $2 AND state IN ('open','completing')`

func (s *Service) liveSession(ctx context.Context, p identity.Principal, digest storage.Digest) (*session, error) {
	ss, err := scanSession(s.cfg.Pool.QueryRow(ctx, liveSessionSQL, p.ID, digest[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: find live session: %w", err)
	}
	return ss, nil
}

// duplicateAtCreate answers a create for bytes an item already holds.
// held is the item holding the bytes, as createLookups found it (nil: none).
func (s *Service) duplicateAtCreate(ctx context.Context, p identity.Principal, digest storage.Digest, req wire.CreateRequest, held *item) (wire.CreateResponse, bool, error) {
	var resp wire.CreateResponse
	// The common case (new bytes) costs no query of its own, no transaction.
	if held == nil {
		return resp, false, nil
	} else if ok, err := s.mayKnowOf(ctx, p, held.ID); err != nil || !ok {
		// Not the caller's to know: answer exactly as for new bytes.
		return resp, err != nil, err
	}
	found := false
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		it, err := itemBySHA(ctx, tx, digest)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if it.Size != req.Size {
			return apiErr(wire.CodeSizeMismatch, "an item with sha256 %s exists with %d bytes, not %d", digest, it.Size, req.Size)
		}
		if err := s.cfg.Custody.AppendTx(ctx, tx, CustodyEvent{
			EvidenceID: it.ID, Action: string(chain.ActionDuplicateUpload),
			ActorKind: p.Kind, ActorID: p.ID, Actor: p.Actor(), At: s.now(),
			Details: map[string]any{"sha256": digest.String(), "size": req.Size, "filename": req.Filename, "stage": "create"},
		}); err != nil {
			return fmt.Errorf("custody: %w", err)
		}
		rc, err := s.sign(it)
		if err != nil {
			return err
		}
		resp = wire.CreateResponse{Session: wire.Session{Duplicate: true,
			State: wire.StateCommitted, Offset: it.Size, Size: it.Size, SHA256: digest.String(),
			ChunkSize: s.cfg.ChunkSize, EvidenceID: it.ID.String(), Receipt: &rc,
		}}
		return nil
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return resp, true, err
		}
		return resp, true, fmt.Errorf("ingest: duplicate check: %w", err)
	}
	return resp, found, nil
}

// Get returns the caller's session: state, durable offset, receipt.
func (s *Service) Get(ctx context.Context, p identity.Principal, id uuid.UUID) (wire.Session, error) {
	ss, err := s.owned(ctx, p, id)
	if err != nil {
		return wire.Session{}, err
	}
	return s.view(ctx, ss)
}

// owned loads a session and checks it belongs to p.
func (s *Service) owned(ctx context.Context, p identity.Principal, id uuid.UUID) (*session, error) {
	if err := s.authorize(ctx, p); err != nil {
		return nil, err
	}
	ss, err := loadSession(ctx, s.cfg.Pool, id, false)
	if errors.Is(err, errNoSession) || (err == nil && ss.ActorID != p.ID) {
		return nil, apiErr(wire.CodeNotFound, "no upload session %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: load session: %w", err)
	}
	return ss, nil
}

// view is the wire form of a session, with the receipt once committed.
func (s *Service) view(ctx context.Context, ss *session) (wire.Session, error) {
	v := wire.Session{
		SessionID: ss.ID.String(), State: ss.State, Offset: ss.Received, Size: ss.Size,
		SHA256: ss.SHA256.String(), ChunkSize: ss.ChunkSize, Duplicate: ss.Duplicate,
	}
	if ss.ErrorCode != "" {
		v.Error = &wire.Error{Code: ss.ErrorCode, Message: ss.ErrorMessage}
	}
	if ss.EvidenceID != nil {
		v.EvidenceID = ss.EvidenceID.String()
		it, err := itemByID(ctx, s.cfg.Pool, *ss.EvidenceID)
		if err != nil {
			return v, fmt.Errorf("ingest: load item %s: %w", *ss.EvidenceID, err)
		}
		rc, err := s.sign(it)
		if err != nil {
			return v, err
		}
		v.Receipt = &rc
	}
	return v, nil
}

// usable refuses chunks and commits on sessions that cannot take them.
func (s *Service) usable(ss *session) error {
	switch ss.State {
	case wire.StateFailed:
		return &wire.Error{Code: ss.ErrorCode, Message: "session failed: " + ss.ErrorMessage}
	case wire.StateAborted:
		return apiErr(wire.CodeExpired, "session %s was aborted (%s); start a new one", ss.ID, ss.ErrorMessage)
	}
	if ss.State == wire.StateOpen && s.cfg.Now().Sub(ss.UpdatedAt) > s.cfg.SessionMaxAge {
		return apiErr(wire.CodeExpired, "session %s idle since %s, longer than %v; start a new one", ss.ID, ss.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"), s.cfg.SessionMaxAge)
	}
	return nil
}

// chunkReader passes a chunk body of n bytes through and reports a body
// that ends early as truncated. It does not hash: the declared chunk
// SHA-256 goes to storage with the bytes, and the backend refuses the part
// if they differ (on S3 the object store checks it as the bytes arrive),
// while the backend computes the whole-file hash from the same bytes — one
// hashing pass here instead of three.
type chunkReader struct {
	r    io.Reader
	n    int64 // bytes expected
	read int64
	err  error
}

func newChunkReader(r io.Reader, n int64) *chunkReader {
	return &chunkReader{r: r, n: n}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.read >= c.n {
		return 0, io.EOF
	}
	if rem := c.n - c.read; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read == c.n {
		return n, nil
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		c.err = apiErr(wire.CodeTruncated, "chunk body ended after %d of %d bytes", c.read, c.n)
		return n, c.err
	}
	if err != nil {
		c.err = apiErr(wire.CodeTruncated, "chunk body broke off after %d of %d bytes: %v", c.read, c.n, err)
		return n, c.err
	}
	return n, nil
}

// PutChunk stores one chunk at the durable offset and advances it.
func (s *Service) PutChunk(ctx context.Context, p identity.Principal, id uuid.UUID, c wire.Chunk, body io.Reader) (wire.ChunkResponse, error) {
	if err := s.authorize(ctx, p); err != nil {
		return wire.ChunkResponse{}, err
	}
	release, ok := s.acquire(id)
	if !ok {
		return wire.ChunkResponse{}, apiErr(wire.CodeSessionBusy, "another request is writing to session %s", id)
	}
	defer release()
	// Loaded under the in-process lock, so it is current.
	ss, err := s.owned(ctx, p, id)
	if err != nil {
		return wire.ChunkResponse{}, err
	}
	if err := s.usable(ss); err != nil {
		return wire.ChunkResponse{}, err
	}
	// A resent chunk that was already acknowledged (the response was lost).
	if c.Offset < ss.Received {
		var size int64
		var cs []byte
		err := s.cfg.Pool.QueryRow(ctx, `SELECT size, chunk_sha256 FROM ingest_parts WHERE session_id = $1 AND "offset" = $2`,
			id, c.Offset).Scan(&size, &cs)
		if err == nil && size == c.Length && [32]byte(cs) == c.SHA256 {
			return wire.ChunkResponse{Offset: ss.Received}, nil
		}
	}
	if ss.State != wire.StateOpen {
		return wire.ChunkResponse{}, apiErr(wire.CodeSessionState, "session %s is %s and takes no more chunks", id, ss.State)
	}
	if err := wire.CheckChunk(c, ss.Size, ss.ChunkSize, ss.Received); err != nil {
		return wire.ChunkResponse{}, err
	}
	if err := s.ensureUpload(ctx, ss); err != nil {
		return wire.ChunkResponse{}, err
	}
	prev, err := lastPart(ctx, s.cfg.Pool, ss)
	if err != nil {
		return wire.ChunkResponse{}, fmt.Errorf("ingest: %w", err)
	}
	// Wait for a stream slot before reading the body (see ChunkStreams).
	select {
	case s.streams <- struct{}{}:
	case <-ctx.Done():
		return wire.ChunkResponse{}, fmt.Errorf("ingest: waiting to stream a chunk: %w", ctx.Err())
	}
	cr := newChunkReader(body, c.Length)
	declared := storage.Digest(c.SHA256)
	pt, err := func() (storage.Part, error) {
		defer func() { <-s.streams }()
		return s.cfg.Storage.WritePart(ctx, ss.UploadID, ss.ref(), prev, cr, c.Length, &declared)
	}()
	if cr.err != nil {
		return wire.ChunkResponse{}, cr.err
	}
	if errors.Is(err, storage.ErrDigestMismatch) {
		// Only the chunk check yields this from WritePart: the bytes
		// changed in transit or in the agent's file. Nothing was recorded.
		return wire.ChunkResponse{}, apiErr(wire.CodeChunkDigestMismatch, "chunk at offset %d does not hash to %s %x", c.Offset, wire.HeaderChunkSHA256, c.SHA256)
	}
	if err != nil {
		if errors.Is(err, storage.ErrUploadNotFound) {
			s.markAborted(ctx, ss, "the storage upload is gone")
			return wire.ChunkResponse{}, apiErr(wire.CodeExpired, "the stored data of session %s is gone; start a new session", id)
		}
		if errors.Is(err, storage.ErrInvalid) {
			// The backend's parts no longer match ours (a racing writer).
			// A rewind only helps if it moved the offset; otherwise the
			// backend refuses this part for another reason (e.g. a chunk
			// size above its part size: a configuration error), and the
			// client must back off rather than resend at once.
			if off, rerr := s.resync(ctx, ss); rerr == nil && off != c.Offset {
				return wire.ChunkResponse{}, &wire.Error{Code: wire.CodeOffsetMismatch, Offset: &off,
					Message: fmt.Sprintf("stored parts changed under the session; continue at offset %d", off)}
			}
			s.cfg.Logger.Error("ingest: storage refuses a part", "session", id, "offset", c.Offset, "size", c.Length, "err", err)
		}
		return wire.ChunkResponse{}, storageErr("write part", err)
	}
	if pt.Offset != c.Offset || pt.Size != c.Length {
		return wire.ChunkResponse{}, fmt.Errorf("ingest: storage wrote part %d at %d+%d, asked for %d+%d", pt.Number, pt.Offset, pt.Size, c.Offset, c.Length)
	}
	// One statement (atomic by itself, one round trip): advance the offset
	// with a compare-and-swap on the old one, drop parts beyond this one
	// (a rewind left them) and record this part.
	tag, err := s.cfg.Pool.Exec(ctx, recordPartSQL, id, c.Offset, pt.End(),
		pt.Number, pt.Offset, pt.Size, pt.ETag, pt.HashState, c.SHA256[:])
	if err == nil && tag.RowsAffected() != 1 {
		err = errLostRace
	}
	newOffset := pt.End()
	if errors.Is(err, errLostRace) {
		cur, lerr := loadSession(ctx, s.cfg.Pool, id, false)
		if lerr != nil {
			return wire.ChunkResponse{}, fmt.Errorf("ingest: reload session: %w", lerr)
		}
		off := cur.Received
		return wire.ChunkResponse{}, &wire.Error{Code: wire.CodeOffsetMismatch, Offset: &off,
			Message: fmt.Sprintf("another writer advanced session %s to offset %d", id, off)}
	}
	if err != nil {
		return wire.ChunkResponse{}, fmt.Errorf("ingest: record part: %w", err)
	}
	return wire.ChunkResponse{Offset: newOffset}, nil
}

var errLostRace = errors.New("session changed concurrently")

// recordPartSQL acknowledges a stored chunk: $1 session, $2 the offset it
// started at (the compare-and-swap), $3 the new offset, $4.. the part.
const recordPartSQL = `
	WITH advanced AS (
		UPDATE ingest_sessions SET received = $3, updated_at = now()
		WHERE id = $1 AND received = $2 AND state = 'open' RETURNING id
	), beyond AS (
		DELETE FROM ingest_parts WHERE session_id IN (SELECT id FROM advanced) AND number > $4
	)
	INSERT INTO ingest_parts (session_id, number, "offset", size, etag, hash_state, chunk_sha256)
	SELECT id, $4, $5, $6, $7, $8, $9 FROM advanced
	ON CONFLICT (session_id, number) DO UPDATE SET "offset" = EXCLUDED."offset", size = EXCLUDED.size,
		etag = EXCLUDED.etag, hash_state = EXCLUDED.hash_state, chunk_sha256 = EXCLUDED.chunk_sha256, created_at = now()`

// ensureUpload starts the session's storage upload if no chunk has yet
// (a create does not touch storage) and records its id. A crash between
// the two leaves an upload no session names, which CleanupAbandoned
// aborts; of two processes racing here the loser aborts its own.
func (s *Service) ensureUpload(ctx context.Context, ss *session) error {
	if ss.UploadID != "" {
		return nil
	}
	opts := storage.PutOptions{ContentType: ss.ContentType}
	if ss.RetainUntil != nil {
		opts.RetainUntil = *ss.RetainUntil
	}
	id, err := s.cfg.Storage.CreateUpload(ctx, ss.ref(), ss.Size, opts)
	if err != nil {
		return storageErr("create upload", err)
	}
	tag, err := s.cfg.Pool.Exec(ctx, `UPDATE ingest_sessions SET upload_id = $2, updated_at = now()
		WHERE id = $1 AND upload_id = '' AND state IN ('open','completing')`, ss.ID, string(id))
	if err != nil || tag.RowsAffected() != 1 {
		if aerr := s.cfg.Storage.Abort(context.WithoutCancel(ctx), id, ss.ref()); aerr != nil {
			s.cfg.Logger.Warn("ingest: abort unused upload", "upload", id, "err", aerr)
		}
		if err != nil {
			return fmt.Errorf("ingest: record upload: %w", err)
		}
		return apiErr(wire.CodeSessionBusy, "session %s was started by another request; retry", ss.ID)
	}
	ss.UploadID = id
	return nil
}

// resync makes the session's parts agree with what the backend holds:
// keep the longest prefix on which both agree, rewind the offset to its
// end. Returns the new durable offset.
func (s *Service) resync(ctx context.Context, ss *session) (int64, error) {
	stored, err := s.cfg.Storage.ListParts(ctx, ss.UploadID, ss.ref())
	if err != nil {
		return 0, storageErr("list parts", err)
	}
	ours, err := loadParts(ctx, s.cfg.Pool, ss.ID)
	if err != nil {
		return 0, fmt.Errorf("ingest: load parts: %w", err)
	}
	keep := 0
	for keep < len(ours) && keep < len(stored) && samePart(ours[keep].Part, stored[keep]) {
		keep++
	}
	var off int64
	if keep > 0 {
		off = ours[keep-1].End()
	}
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM ingest_parts WHERE session_id = $1 AND number > $2`, ss.ID, keep); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE ingest_sessions SET received = $2, state = 'open', updated_at = now()
			WHERE id = $1 AND state IN ('open','completing')`, ss.ID, off)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ingest: rewind session: %w", err)
	}
	s.cfg.Logger.Warn("ingest: session rewound to agree with storage", "session", ss.ID, "offset", off, "parts_kept", keep)
	return off, nil
}

// samePart compares what a backend reports about a part with our record.
// Hash states are compared only when the backend reports one (S3 cannot).
func samePart(ours, stored storage.Part) bool {
	if ours.Number != stored.Number || ours.Size != stored.Size || ours.ETag != stored.ETag {
		return false
	}
	if stored.Offset != 0 && stored.Offset != ours.Offset {
		return false
	}
	return len(stored.HashState) == 0 || string(stored.HashState) == string(ours.HashState)
}

// Abort is the caller giving up on a session.
func (s *Service) Abort(ctx context.Context, p identity.Principal, id uuid.UUID) error {
	ss, err := s.owned(ctx, p, id)
	if err != nil {
		return err
	}
	switch ss.State {
	case wire.StateOpen:
		return s.abortSession(ctx, ss, "cancelled", "cancelled by "+p.Actor())
	case wire.StateAborted, wire.StateFailed:
		return nil
	}
	return apiErr(wire.CodeSessionState, "session %s is %s and cannot be aborted", id, ss.State)
}

// abortSession discards the stored data and marks the session aborted
// (code names why).
func (s *Service) abortSession(ctx context.Context, ss *session, code, why string) error {
	if ss.UploadID != "" { // else no chunk ever started the storage upload
		if err := s.cfg.Storage.Abort(ctx, ss.UploadID, ss.ref()); err != nil && !errors.Is(err, storage.ErrUploadNotFound) {
			return storageErr("abort upload", err)
		}
	}
	return s.finishSession(ctx, ss, wire.StateAborted, code, why)
}

func (s *Service) markAborted(ctx context.Context, ss *session, why string) {
	if err := s.finishSession(ctx, ss, wire.StateAborted, "upload_gone", why); err != nil {
		s.cfg.Logger.Warn("ingest: mark session aborted", "session", ss.ID, "err", err)
	}
}

// finishSession moves a live session to a final state and drops its parts.
func (s *Service) finishSession(ctx context.Context, ss *session, state, code, msg string) error {
	return pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE ingest_sessions SET state = $2, error_code = $3, error_message = $4,
			updated_at = now(), finished_at = now() WHERE id = $1 AND state IN ('open','completing')`,
			ss.ID, state, code, msg); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM ingest_parts WHERE session_id = $1`, ss.ID)
		return err
	})
}

// storageErr makes a storage failure a retryable 503 unless it is about
// the request itself.
func storageErr(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("ingest: %s: %w", op, err)
	}
	return &wire.Error{Code: wire.CodeUnavailable, Message: fmt.Sprintf("storage: %s failed; retry later (%v)", op, err)}
}
