package custody

import (
	"context"
	"fmt"
	"io"
)

// VerifyDBCommand runs VerifyDB and prints a short report to w, for a
// server-side command such as `demsd custody verify`. It returns nil only
// when everything verified; otherwise an error naming the first problem
// (errors.Is chain.ErrNotVerified), which main maps to a non-zero exit.
func VerifyDBCommand(ctx context.Context, w io.Writer, q Querier, opts VerifyOptions) error {
	rep, err := VerifyDB(ctx, q, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "custody database: %d items, %d events, %d checkpoints\n", rep.Items, rep.Events, rep.Checkpoints)
	fmt.Fprintf(w, "  unsigned tail: %d events in %d items are newer than the latest checkpoint (%d): hash-linked only, not yet signed\n",
		rep.UnsignedEvents, rep.UnsignedItems, rep.LatestCheckpoint)
	if opts.PublicKey == nil {
		fmt.Fprintln(w, "  checkpoint signatures NOT checked against a trusted key")
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: every hash, link, head and checkpoint verifies")
		return nil
	}
	fmt.Fprintf(w, "FAILED: %d problems\n", rep.ProblemCount)
	for i, p := range rep.Problems {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more\n", rep.ProblemCount-20)
			break
		}
		fmt.Fprintf(w, "  %s\n", p)
	}
	return rep.Err()
}
