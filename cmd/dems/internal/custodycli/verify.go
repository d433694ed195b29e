package custodycli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// maxPrinted bounds how many problems are printed; the count is always
// printed.
const maxPrinted = 20

// VerifyCommand implements `dems custody verify EXPORT [--key KEYFILE]`:
// it verifies the export at path ("-" reads standard input) offline and
// prints a report to stdout. keyPath names the server's public key (PEM,
// hex or base64, as served at /api/v1/custody/public-key); without it the
// key named in the export is used and the report says it is not trusted.
//
// It returns nil only when everything verifies; otherwise an error that
// names the first problem (errors.Is chain.ErrNotVerified for tampering,
// chain.ErrBadExport for a malformed file), which main turns into a
// non-zero exit status.
func VerifyCommand(ctx context.Context, stdout io.Writer, path, keyPath string) error {
	var key ed25519.PublicKey
	if keyPath != "" {
		raw, err := os.ReadFile(keyPath)
		if err != nil {
			return fmt.Errorf("custody verify: read key: %w", err)
		}
		if key, err = chain.ParsePublicKey(raw); err != nil {
			return fmt.Errorf("custody verify: key %s: %w", keyPath, err)
		}
	}
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("custody verify: %w", err)
		}
		defer f.Close()
		in = f
	}
	rep, err := chain.VerifyExport(ctxReader{ctx, in}, key)
	if ctx.Err() != nil {
		return fmt.Errorf("custody verify: %w", ctx.Err())
	}
	printReport(stdout, path, keyPath, &rep, err)
	if err != nil {
		return fmt.Errorf("custody verify %s: %w", path, err)
	}
	return nil
}

func printReport(w io.Writer, path, keyPath string, rep *chain.Report, err error) {
	fmt.Fprintf(w, "custody export %s (scope %s)\n", path, orDash(rep.Scope))
	fmt.Fprintf(w, "  %d items, %d events, %d checkpoints, %d inclusion proofs\n", rep.Items, rep.Events, rep.Checkpoints, rep.Proofs)
	switch {
	case rep.KeyID == "":
		fmt.Fprintln(w, "  no checkpoint in the export: hashes and links only")
	case rep.KeyTrusted:
		fmt.Fprintf(w, "  checkpoints signed by key %s (trusted: %s)\n", rep.KeyID, keyPath)
	default:
		fmt.Fprintf(w, "  checkpoints signed by key %s (NOT checked against a trusted key: pass --key)\n", rep.KeyID)
	}
	// The unsigned tail is always named: events after the last signed
	// checkpoint verify only as a hash chain, which someone able to write
	// the database could have rebuilt.
	fmt.Fprintf(w, "  unsigned tail: %d events in %d items are newer than the last checkpoint covering them (hash-linked only, not yet signed)\n",
		rep.UnsignedEvents, rep.UnsignedItems)
	var ve *chain.VerificationError
	switch {
	case err == nil:
		fmt.Fprintln(w, "OK: every hash, link, signature and inclusion proof verifies")
	case errors.As(err, &ve):
		fmt.Fprintf(w, "FAILED: %d problems\n", rep.ProblemCount)
		for i, p := range rep.Problems {
			if i == maxPrinted {
				fmt.Fprintf(w, "  ... and %d more\n", rep.ProblemCount-maxPrinted)
				break
			}
			fmt.Fprintf(w, "  %s\n", p)
		}
	default:
		fmt.Fprintf(w, "FAILED: %v\n", err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ctxReader stops a long verification when the user interrupts it.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
