package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// DefaultCommitWorkers is how many commits (storage verification and
// completion plus the item's transaction) run at once in one process when
// Config.CommitWorkers is zero. Commits wait mostly on the object store
// (a dozen small requests on S3) or on the disk (the fs backend re-reads
// the whole original), so a few more than the cores keeps both busy
// without letting a burst of 50 cameras start 50 full-file re-reads.
const DefaultCommitWorkers = 32

// asyncRetries is how often a background commit retries a transient
// failure (storage or database unavailable) before leaving the session
// completing for the agent's next commit call or the janitor.
var asyncRetries = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}

// CommitAsync is the acknowledging commit: it checks the session can be
// committed, records the intent (state completing, in PostgreSQL: from
// here on a crash is repaired by Reconcile or CleanupAbandoned) and starts
// the commit on the bounded worker pool, without waiting for it. done is
// true when the session is already committed; then the view carries the
// receipt. Otherwise the caller polls Get until the state is committed
// (receipt), failed (the verification's error), or open again (the stored
// parts disagreed with the session: continue at the offset).
//
// The guarantees are those of Commit: the receipt exists only after the
// verification from the stored bytes and the item's transaction; this call
// only moves the wait from the request to the poll, so no request holds a
// connection, a lock or a transaction while storage works.
func (s *Service) CommitAsync(ctx context.Context, p identity.Principal, id uuid.UUID) (wire.Session, bool, error) {
	if err := s.authorize(ctx, p); err != nil {
		return wire.Session{}, false, err
	}
	release, ok := s.acquire(id)
	if !ok {
		// A chunk or a commit of this session is running here. A commit
		// already started is what the caller asked for.
		ss, err := s.owned(ctx, p, id)
		if err != nil {
			return wire.Session{}, false, err
		}
		switch ss.State {
		case wire.StateCompleting:
			v, err := s.view(ctx, ss)
			return v, false, err
		case wire.StateCommitted:
			v, err := s.view(ctx, ss)
			return v, true, err
		}
		return wire.Session{}, false, apiErr(wire.CodeSessionBusy, "another request is writing to session %s", id)
	}
	started := false
	defer func() {
		if !started {
			release()
		}
	}()
	// Loaded under the in-process lock, so it is current.
	ss, err := s.owned(ctx, p, id)
	if err != nil {
		return wire.Session{}, false, err
	}
	if ss.State == wire.StateCommitted {
		v, err := s.view(ctx, ss)
		return v, true, err
	}
	if err := s.commitable(ss); err != nil {
		return wire.Session{}, false, err
	}
	if err := s.markCompleting(ctx, ss); err != nil {
		return wire.Session{}, false, err
	}
	v, err := s.view(ctx, ss)
	if err != nil {
		return wire.Session{}, false, err
	}
	started = true
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer release()
		s.commitInBackground(id)
	}()
	return v, false, nil
}

// commitInBackground runs one acknowledged commit to its end on a worker
// slot, retrying transient failures a few times. Verification failures
// are recorded in the session (state failed with the error), where the
// agent's poll finds them.
func (s *Service) commitInBackground(id uuid.UUID) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		err := s.commitSession(ctx, id)
		cancel()
		var we *wire.Error
		if err == nil || (errors.As(err, &we) && we.Code != wire.CodeUnavailable && we.Code != wire.CodeSessionBusy) {
			if err != nil {
				s.cfg.Logger.Info("ingest: commit refused", "session", id, "code", we.Code, "err", err)
			}
			return
		}
		if attempt >= len(asyncRetries) {
			s.cfg.Logger.Warn("ingest: commit left completing after retries; the agent's next commit or the janitor finishes it", "session", id, "err", err)
			return
		}
		s.cfg.Logger.Warn("ingest: commit failed; retrying", "session", id, "err", err, "in", asyncRetries[attempt])
		time.Sleep(asyncRetries[attempt])
	}
}

// commitSession loads a session and commits it on a worker slot.
func (s *Service) commitSession(ctx context.Context, id uuid.UUID) error {
	if err := s.slot(ctx); err != nil {
		return err
	}
	defer s.unslot()
	ss, err := loadSession(ctx, s.cfg.Pool, id, false)
	if err != nil {
		return fmt.Errorf("ingest: load session: %w", err)
	}
	if ss.State != wire.StateCompleting && ss.State != wire.StateOpen {
		return nil // finished meanwhile (another process, or failed)
	}
	_, err = s.commit(ctx, ss)
	return err
}

// slot takes one of the CommitWorkers slots, waiting for one to be free.
func (s *Service) slot(ctx context.Context) error {
	select {
	case s.workers <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest: waiting for a commit slot: %w", ctx.Err())
	}
}

func (s *Service) unslot() { <-s.workers }

// WaitCommits waits until the commits started by CommitAsync in this
// process have finished (or ctx ends): for an orderly shutdown and tests.
// A commit cut short by the process ending is finished by Reconcile at the
// next start.
func (s *Service) WaitCommits(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.background.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitable refuses a commit of a session that cannot take one: failed,
// aborted, expired, or with bytes still missing.
func (s *Service) commitable(ss *session) error {
	if err := s.usable(ss); err != nil {
		return err
	}
	if ss.Received != ss.Size {
		off := ss.Received
		return &wire.Error{Code: wire.CodeIncomplete, Offset: &off,
			Message: fmt.Sprintf("%d of %d bytes received; send the rest first", ss.Received, ss.Size)}
	}
	return nil
}

// markCompleting records the intent to commit before the object can
// become visible: a crash from here on leaves a completing session that
// reconciliation finishes.
func (s *Service) markCompleting(ctx context.Context, ss *session) error {
	if ss.State != wire.StateOpen {
		return nil
	}
	tag, err := s.cfg.Pool.Exec(ctx, `UPDATE ingest_sessions SET state = 'completing', updated_at = now()
		WHERE id = $1 AND state = 'open' AND received = size`, ss.ID)
	if err != nil {
		return fmt.Errorf("ingest: mark completing: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return apiErr(wire.CodeSessionBusy, "session %s changed concurrently; retry", ss.ID)
	}
	ss.State = wire.StateCompleting
	return nil
}
