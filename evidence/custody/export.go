package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/chain"
)

// Scope selects what an export contains. Exactly one of EvidenceID,
// CaseID and All is set.
type Scope struct {
	EvidenceID uuid.UUID
	CaseID     uuid.UUID
	All        bool
	// Items selects several items (a release's source items); Label
	// names them in the header ("release:<id>").
	Items []uuid.UUID
	Label string
	// AllCheckpoints includes every checkpoint covering an exported item;
	// by default only the latest one is included, which suffices: a head
	// hash commits to the whole chain before it.
	AllCheckpoints bool
}

// String is the header's scope field.
func (s Scope) String() string {
	switch {
	case s.EvidenceID != uuid.Nil:
		return "evidence:" + s.EvidenceID.String()
	case s.CaseID != uuid.Nil:
		return "case:" + s.CaseID.String()
	case len(s.Items) > 0:
		if s.Label != "" {
			return s.Label
		}
		return fmt.Sprintf("items:%d", len(s.Items))
	}
	return "all"
}

// Validate checks that exactly one selector is set.
func (s Scope) Validate() error {
	n := 0
	for _, set := range []bool{s.EvidenceID != uuid.Nil, s.CaseID != uuid.Nil, s.All, len(s.Items) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: export scope needs exactly one of evidence, case, items or all", evidence.ErrInvalid)
	}
	return nil
}

// Export writes the custody export of scope to w (format: chain
// package): the checkpoints covering the selected items with inclusion
// proofs, the events of every selected item, and the end line. pub is named in the
// header for convenience. Run it in a REPEATABLE READ transaction (q) for
// an export consistent to one instant; a pool works too.
func Export(ctx context.Context, q Querier, w io.Writer, scope Scope, pub ed25519.PublicKey) error {
	if err := scope.Validate(); err != nil {
		return err
	}
	ids, err := scopeItems(ctx, q, scope)
	if err != nil {
		return fmt.Errorf("custody export %s: %w", scope, err)
	}
	where := `ORDER BY id DESC LIMIT 1`
	if scope.AllCheckpoints {
		where = `ORDER BY id`
	}
	var cps []*storedCheckpoint
	err = scanCheckpoints(ctx, q, where, nil, func(c *storedCheckpoint, lerr error) error {
		if lerr != nil {
			return fmt.Errorf("checkpoint %d: %w", c.ID, lerr)
		}
		cp := *c
		cps = append(cps, &cp)
		return nil
	})
	if err != nil {
		return fmt.Errorf("custody export %s: checkpoints: %w", scope, err)
	}
	x := chain.NewExportWriter(w)
	if err := x.Header(scope.String(), pub, time.Now()); err != nil {
		return err
	}
	// Checkpoints first, so that a verifier knows which heads are proven
	// before the events stream past.
	for _, c := range cps {
		sel := ids
		if scope.All {
			sel = make([]uuid.UUID, len(c.leaves))
			for i, l := range c.leaves {
				sel[i] = l.EvidenceID
			}
		}
		proofs := checkpointProofs(c, sel)
		if len(proofs) == 0 {
			continue
		}
		if err := x.Checkpoint(c.Checkpoint, proofs); err != nil {
			return err
		}
	}
	write := func(e *Event) error { return x.Event(e) }
	if scope.All {
		err = scanEvents(ctx, q, write, `ORDER BY evidence_id, seq`)
	} else {
		for _, id := range ids {
			if err = scanEvents(ctx, q, write, `WHERE evidence_id = $1 ORDER BY seq`, id); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("custody export %s: events: %w", scope, err)
	}
	return x.Close()
}

// scopeItems resolves the items of a scope, sorted by id. A case's items
// are those in case_items plus any that custody says were ever added to
// it (so an item removed from the case still shows its history).
func scopeItems(ctx context.Context, q Querier, s Scope) ([]uuid.UUID, error) {
	switch {
	case s.All:
		return nil, nil
	case s.EvidenceID != uuid.Nil:
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM evidence_items WHERE id = $1)`, s.EvidenceID).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			return nil, evidence.ErrNotFound
		}
		return []uuid.UUID{s.EvidenceID}, nil
	case len(s.Items) > 0:
		ids := append([]uuid.UUID(nil), s.Items...)
		sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
		ids = slices.Compact(ids)
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM evidence_items WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
			return nil, err
		}
		if n != len(ids) {
			return nil, evidence.ErrNotFound
		}
		return ids, nil
	}
	rows, err := q.Query(ctx, `
		SELECT evidence_id FROM custody_events
		WHERE action IN ('case_added', 'case_removed') AND (details::jsonb ->> 'case_id') = $1
		UNION
		SELECT evidence_id FROM case_items WHERE case_id = $2`, s.CaseID.String(), s.CaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	return ids, nil
}
