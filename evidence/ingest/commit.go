package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// item is what a receipt is made from.
type item struct {
	ID         uuid.UUID
	SHA256     storage.Digest
	Size       int64
	IngestedAt time.Time
}

func scanItem(row pgx.Row) (item, error) {
	var it item
	var sum []byte
	if err := row.Scan(&it.ID, &sum, &it.Size, &it.IngestedAt); err != nil {
		return it, err
	}
	copy(it.SHA256[:], sum)
	return it, nil
}

const itemBySHASQL = `SELECT id, sha256, size, ingested_at FROM evidence_items WHERE sha256 = $1`

func itemBySHA(ctx context.Context, q querier, d storage.Digest) (item, error) {
	return scanItem(q.QueryRow(ctx, itemBySHASQL, d[:]))
}

func itemByID(ctx context.Context, q querier, id uuid.UUID) (item, error) {
	return scanItem(q.QueryRow(ctx, `SELECT id, sha256, size, ingested_at FROM evidence_items WHERE id = $1`, id))
}

func (s *Service) sign(it item) (receipt.Receipt, error) {
	rc, err := receipt.Sign(s.cfg.ReceiptKey, receipt.Receipt{
		EvidenceID: it.ID.String(), SHA256: it.SHA256.String(), Size: it.Size, IngestedAt: it.IngestedAt,
	})
	if err != nil {
		return rc, fmt.Errorf("ingest: %w", err)
	}
	return rc, nil
}

// Commit finishes the caller's upload: verify, make the object visible,
// create the item with its custody event and transcode job, return the
// receipt. Calling it again after success returns the same receipt.
func (s *Service) Commit(ctx context.Context, p identity.Principal, id uuid.UUID) (wire.CommitResponse, error) {
	if _, err := s.owned(ctx, p, id); err != nil {
		return wire.CommitResponse{}, err
	}
	release, ok := s.acquire(id)
	if !ok {
		return wire.CommitResponse{}, apiErr(wire.CodeSessionBusy, "another request is writing to session %s", id)
	}
	defer release()
	ss, err := loadSession(ctx, s.cfg.Pool, id, false)
	if err != nil {
		return wire.CommitResponse{}, fmt.Errorf("ingest: load session: %w", err)
	}
	// Once started, a commit runs to its end even if the client goes away
	// (the fs backend re-reads a 10 GiB original at Complete): the agent's
	// retry then finds it committed instead of starting it over.
	if ss.State == wire.StateCommitted {
		return s.committedResponse(ctx, ss)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := s.slot(cctx); err != nil {
		return wire.CommitResponse{}, err
	}
	defer s.unslot()
	return s.commit(cctx, ss)
}

// commitTimeout bounds one commit (verification of the largest original
// on the slowest backend, plus the database transaction).
const commitTimeout = 2 * time.Hour

func (s *Service) commit(ctx context.Context, ss *session) (wire.CommitResponse, error) {
	if ss.State == wire.StateCommitted {
		return s.committedResponse(ctx, ss)
	}
	if err := s.commitable(ss); err != nil {
		return wire.CommitResponse{}, err
	}
	if err := s.markCompleting(ctx, ss); err != nil {
		return wire.CommitResponse{}, err
	}
	// A session whose bytes were all declared empty never needed a chunk,
	// so its storage upload starts here.
	if err := s.ensureUpload(ctx, ss); err != nil {
		return wire.CommitResponse{}, err
	}
	parts, err := loadParts(ctx, s.cfg.Pool, ss.ID)
	if err != nil {
		return wire.CommitResponse{}, fmt.Errorf("ingest: load parts: %w", err)
	}
	obj, err := s.cfg.Storage.Complete(ctx, ss.UploadID, ss.ref(), storageParts(parts))
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrDigestMismatch) || errors.Is(err, storage.ErrSizeMismatch):
		code := wire.CodeDigestMismatch
		if errors.Is(err, storage.ErrSizeMismatch) {
			code = wire.CodeSizeMismatch
		}
		msg := fmt.Sprintf("the %d bytes received do not hash to the declared sha256 %s", ss.Size, ss.SHA256)
		if code == wire.CodeSizeMismatch {
			msg = fmt.Sprintf("the bytes received do not add up to the declared size %d", ss.Size)
		}
		// Complete already discarded the data; make sure, then fail.
		if aerr := s.cfg.Storage.Abort(ctx, ss.UploadID, ss.ref()); aerr != nil && !errors.Is(aerr, storage.ErrUploadNotFound) {
			s.cfg.Logger.Warn("ingest: abort after failed verification", "session", ss.ID, "err", aerr)
		}
		if ferr := s.finishSession(ctx, ss, wire.StateFailed, code, msg); ferr != nil {
			return wire.CommitResponse{}, fmt.Errorf("ingest: fail session: %w", ferr)
		}
		return wire.CommitResponse{}, apiErr(code, "%s; nothing was stored", msg)
	case errors.Is(err, storage.ErrUploadNotFound):
		// Either an earlier Complete succeeded (crash before the database
		// commit) or the upload was discarded. The object decides.
		o, serr := s.cfg.Storage.Stat(ctx, ss.ref())
		if serr == nil && o.Size == ss.Size {
			obj = o
			break
		}
		if serr != nil && !errors.Is(serr, storage.ErrNotFound) {
			return wire.CommitResponse{}, storageErr("stat", serr)
		}
		s.markAborted(ctx, ss, "the storage upload is gone")
		return wire.CommitResponse{}, apiErr(wire.CodeExpired, "the stored data of session %s is gone; start a new session", ss.ID)
	case errors.Is(err, storage.ErrInvalid):
		off, rerr := s.resync(ctx, ss)
		if rerr != nil {
			return wire.CommitResponse{}, rerr
		}
		return wire.CommitResponse{}, &wire.Error{Code: wire.CodeOffsetMismatch, Offset: &off,
			Message: fmt.Sprintf("stored parts disagree with the session; continue at offset %d", off)}
	default:
		return wire.CommitResponse{}, storageErr("complete", err)
	}
	return s.commitItem(ctx, ss, obj)
}

// commitItem is the one transaction that turns a stored object into
// evidence: object row, item, first custody event, transcode job, session
// committed. A concurrent commit of the same bytes makes this a duplicate.
func (s *Service) commitItem(ctx context.Context, ss *session, obj storage.Object) (wire.CommitResponse, error) {
	var resp wire.CommitResponse
	select {
	case s.commitTx <- struct{}{}:
		defer func() { <-s.commitTx }()
	case <-ctx.Done():
		return resp, fmt.Errorf("ingest: waiting to commit session %s: %w", ss.ID, ctx.Err())
	}
	at := s.now()
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		cur, err := loadSession(ctx, tx, ss.ID, true)
		if err != nil {
			return err
		}
		if cur.State == wire.StateCommitted { // a concurrent commit won
			resp.EvidenceID = cur.EvidenceID.String()
			return nil
		}
		if cur.State != wire.StateCompleting {
			return apiErr(wire.CodeSessionState, "session %s is %s", ss.ID, cur.State)
		}
		var retain any
		if ss.RetainUntil != nil {
			retain = *ss.RetainUntil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO objects (namespace, sha256, size, backend, content_type, retain_until, created_at)
			VALUES ('originals', $1, $2, $3, $4, $5, $6) ON CONFLICT (namespace, sha256) DO NOTHING`,
			ss.SHA256[:], ss.Size, ss.Backend, ss.ContentType, retain, at); err != nil {
			return fmt.Errorf("object row: %w", err)
		}
		m := ss.Metadata
		meta, err := itemMetadata(ss)
		if err != nil {
			return err
		}
		var id uuid.UUID
		// The item's retention is the retention module's to compute (the
		// storage lock above only covers the time until it does).
		err = tx.QueryRow(ctx, `INSERT INTO evidence_items (sha256, size, filename, content_type, source_kind,
				recorded_at, ingested_at, officer_id, device_id, camera_name, location, unit_id, dock_id, uploaded_by,
				metadata, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$7)
			ON CONFLICT (sha256) DO NOTHING RETURNING id`,
			ss.SHA256[:], ss.Size, ss.Filename, ss.ContentType, m.Source(), m.RecordedAt, at,
			m.OfficerID, m.DeviceID, m.CameraName, m.Location, ss.UnitID, ss.DockID, ss.UserID, meta).Scan(&id)
		duplicate := false
		ev := CustodyEvent{ActorKind: ss.ActorKind, ActorID: ss.ActorID, Actor: ss.Actor, At: at}
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Another session committed these bytes first.
			it, err := itemBySHA(ctx, tx, ss.SHA256)
			if err != nil {
				return fmt.Errorf("existing item: %w", err)
			}
			id, duplicate = it.ID, true
			ev.Action = string(chain.ActionDuplicateUpload)
			ev.Details = map[string]any{"sha256": ss.SHA256.String(), "size": ss.Size, "filename": ss.Filename,
				"session_id": ss.ID.String(), "stage": "commit"}
		case err != nil:
			return fmt.Errorf("evidence item: %w", err)
		default:
			ev.Action = string(chain.ActionIngested)
			var basis string
			if err := tx.QueryRow(ctx, `SELECT attribution FROM ingest_sessions WHERE id = $1`, ss.ID).Scan(&basis); err != nil {
				return fmt.Errorf("attribution: %w", err)
			}
			ev.Details = map[string]any{"sha256": ss.SHA256.String(), "size": ss.Size, "filename": ss.Filename,
				"session_id": ss.ID.String(), "backend": ss.Backend,
				"officer_id": m.OfficerID, "attributed_by": ss.Actor, "attribution": basis}
			if s.cfg.OnCommit != nil {
				if err := s.cfg.OnCommit(ctx, tx, id); err != nil {
					return fmt.Errorf("after commit: %w", err)
				}
			}
		}
		ev.EvidenceID = id
		if err := s.cfg.Custody.AppendTx(ctx, tx, ev); err != nil {
			return fmt.Errorf("custody: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE ingest_sessions SET state = 'committed', evidence_id = $2, duplicate = $3,
			updated_at = now(), finished_at = now() WHERE id = $1`, ss.ID, id, duplicate); err != nil {
			return fmt.Errorf("session: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ingest_parts WHERE session_id = $1`, ss.ID); err != nil {
			return fmt.Errorf("parts: %w", err)
		}
		resp.EvidenceID, resp.Duplicate = id.String(), duplicate
		return nil
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return resp, err
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			// Connection trouble: the object is visible, the session is
			// completing; a retry or CleanupAbandoned finishes it.
			return resp, &wire.Error{Code: wire.CodeUnavailable, Message: fmt.Sprintf("database: %v; retry commit", err)}
		}
		return resp, fmt.Errorf("ingest: commit session %s: %w", ss.ID, err)
	}
	cur, err := loadSession(ctx, s.cfg.Pool, ss.ID, false)
	if err != nil {
		return resp, fmt.Errorf("ingest: reload session: %w", err)
	}
	return s.committedResponse(ctx, cur)
}

func (s *Service) committedResponse(ctx context.Context, ss *session) (wire.CommitResponse, error) {
	if ss.EvidenceID == nil {
		return wire.CommitResponse{}, fmt.Errorf("ingest: committed session %s has no item", ss.ID)
	}
	it, err := itemByID(ctx, s.cfg.Pool, *ss.EvidenceID)
	if err != nil {
		return wire.CommitResponse{}, fmt.Errorf("ingest: load item: %w", err)
	}
	rc, err := s.sign(it)
	if err != nil {
		return wire.CommitResponse{}, err
	}
	return wire.CommitResponse{EvidenceID: it.ID.String(), Receipt: rc, Duplicate: ss.Duplicate}, nil
}

// itemMetadata is what evidence_items.metadata keeps of an upload: the
// GPS track, the sidecar's extra fields and where the bytes came from.
func itemMetadata(ss *session) ([]byte, error) {
	m := map[string]any{
		"ingest": map[string]any{"session_id": ss.ID.String(), "actor": ss.Actor, "filename": ss.Filename},
	}
	if len(ss.Metadata.GPS) > 0 {
		m["gps"] = ss.Metadata.GPS
	}
	if len(ss.Metadata.Extra) > 0 {
		m["extra"] = ss.Metadata.Extra
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("item metadata: %w", err)
	}
	return b, nil
}
