package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// reconcileAfter is how long a completing session may sit untouched
// before the janitor finishes its commit (whatever olderThan says): a
// commit in progress touches it within seconds, and finishing one twice is
// safe, so a visible original never waits long for its item.
const reconcileAfter = 10 * time.Minute

// CleanupAbandoned is the periodic janitor (run it from a job every few
// minutes). It
//   - finishes the commit of completing sessions idle longer than
//     min(olderThan, 10 minutes) whose object is already visible (a crash
//     between storage Complete and the database commit), so no visible
//     original lacks an item, and retries the others;
//   - aborts open sessions idle longer than olderThan: the multipart
//     upload or staging is discarded and the session marked aborted
//     (one that had received every byte is committed instead);
//
// and it aborts storage uploads older than olderThan that no live session
// refers to (a crash between CreateUpload and the session insert). It
// returns how many sessions and uploads it finished or removed.
func (s *Service) CleanupAbandoned(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := s.cfg.Now().Add(-olderThan)
	n := 0
	var errs []error

	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+sessionColumns+` FROM ingest_sessions
		WHERE (state = 'open' AND updated_at < $1) OR (state = 'completing' AND updated_at < $2)
		ORDER BY updated_at`, cutoff, s.cfg.Now().Add(-min(olderThan, reconcileAfter)))
	if err != nil {
		return 0, fmt.Errorf("ingest: cleanup: %w", err)
	}
	var stale []*session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("ingest: cleanup: %w", err)
		}
		stale = append(stale, ss)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ingest: cleanup: %w", err)
	}
	for _, ss := range stale {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		release, ok := s.acquire(ss.ID)
		if !ok {
			continue
		}
		done, err := s.cleanupSession(ctx, ss)
		release()
		if err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", ss.ID, err))
		}
		if done {
			n++
		}
	}

	// Uploads no live session knows about.
	live := map[storage.UploadID]bool{}
	lrows, err := s.cfg.Pool.Query(ctx, `SELECT upload_id FROM ingest_sessions WHERE state IN ('open','completing') AND backend = $1`, s.cfg.Storage.Name())
	if err != nil {
		return n, fmt.Errorf("ingest: cleanup: %w", err)
	}
	for lrows.Next() {
		var id string
		if err := lrows.Scan(&id); err != nil {
			lrows.Close()
			return n, fmt.Errorf("ingest: cleanup: %w", err)
		}
		live[storage.UploadID(id)] = true
	}
	lrows.Close()
	err = s.cfg.Storage.ListUploads(ctx, cutoff, func(id storage.UploadID, ref storage.Ref, started time.Time) error {
		if live[id] || ref.Namespace != storage.Originals {
			return nil
		}
		if err := s.cfg.Storage.Abort(ctx, id, ref); err != nil && !errors.Is(err, storage.ErrUploadNotFound) {
			errs = append(errs, fmt.Errorf("abort orphan upload %s: %w", id, err))
			return nil
		}
		s.cfg.Logger.Info("ingest: aborted orphan upload", "upload", id, "ref", ref, "started", started)
		n++
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list uploads: %w", err))
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("ingest: cleanup: %w", errors.Join(errs...))
	}
	return n, nil
}

func (s *Service) cleanupSession(ctx context.Context, ss *session) (bool, error) {
	if ss.State == wire.StateCompleting || (ss.State == wire.StateOpen && ss.Received == ss.Size) {
		// Every byte arrived; finish rather than throw away verified work.
		_, err := s.commit(ctx, ss)
		var we *wire.Error
		if err == nil || (errors.As(err, &we) && we.Code != wire.CodeUnavailable) {
			s.cfg.Logger.Info("ingest: reconciled session", "session", ss.ID, "err", err)
			return true, nil
		}
		return false, err
	}
	if err := s.abortSession(ctx, ss, "abandoned", fmt.Sprintf("idle since %s", ss.UpdatedAt.UTC().Format(time.RFC3339))); err != nil {
		return false, err
	}
	s.cfg.Logger.Info("ingest: aborted abandoned session", "session", ss.ID, "received", ss.Received, "size", ss.Size)
	return true, nil
}

// Reconcile finishes every completing session now, whatever its age: call
// it at startup so a crash between storage Complete and the database commit
// is repaired before anyone looks. It returns how many it finished.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT id FROM ingest_sessions WHERE state = 'completing'`)
	if err != nil {
		return 0, fmt.Errorf("ingest: reconcile: %w", err)
	}
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ingest: reconcile: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	n := 0
	var errs []error
	for _, id := range ids {
		release, ok := s.acquire(id)
		if !ok {
			continue
		}
		ss, err := loadSession(ctx, s.cfg.Pool, id, false)
		if err == nil && ss.State == wire.StateCompleting {
			_, err = s.commit(ctx, ss)
		}
		release()
		var we *wire.Error
		if err == nil || (errors.As(err, &we) && we.Code != wire.CodeUnavailable) {
			n++
			continue
		}
		errs = append(errs, fmt.Errorf("session %s: %w", id, err))
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("ingest: reconcile: %w", errors.Join(errs...))
	}
	return n, nil
}
