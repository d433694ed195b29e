package releasecli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/opendems/opendems/evidence/api/apiclient"
	"github.com/opendems/opendems/evidence/release/bagit"
	"github.com/opendems/opendems/evidence/release/releasepkg"
)

// VerifyOptions are the command's flags.
type VerifyOptions struct {
	// KeyFile names a trusted public key (PEM, hex or base64).
	KeyFile string
	// Server, when set, is asked for its public key
	// (GET /api/v1/custody/public-key); the key is pinned on first use
	// under PinDir and must match on every later use.
	Server string
	// PinDir holds pinned server keys (default: the user's config
	// directory + /opendems/pinned-keys).
	PinDir string
	JSON   bool
	// SHA256Only: see releasepkg.VerifyOptions.
	SHA256Only bool
	// Progress, when set, receives a progress bar (a terminal).
	Progress io.Writer
	// HTTP is the client for --server (default: 30 s timeout).
	HTTP *http.Client
}

// ErrKey marks a key that cannot be obtained or disagrees with a pin.
var ErrKey = errors.New("trusted key")

// jsonReport is the --json output.
type jsonReport struct {
	OK      bool                `json:"ok"`
	Package string              `json:"package"`
	First   *releasepkg.Problem `json:"first_problem,omitempty"`
	Error   string              `json:"error,omitempty"`
	*releasepkg.Report
}

// Verify runs `dems verify PATH`: it prints the report to stdout and
// returns nil only when everything verifies, an error wrapping
// releasepkg.ErrNotVerified (naming the first problem) when the package
// fails, or another error when it could not be checked.
func Verify(ctx context.Context, stdout io.Writer, path string, opt VerifyOptions) error {
	key, source, err := trustedKey(ctx, opt)
	if err != nil {
		return err
	}
	b, err := bagit.Open(path)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	defer b.Close()
	vopt := releasepkg.VerifyOptions{TrustedKey: key, KeySource: source, SHA256Only: opt.SHA256Only}
	var pb *progressbar.ProgressBar
	if opt.Progress != nil && !opt.JSON {
		var total int64
		for _, f := range b.Files() {
			if n, _ := b.Size(f); strings.HasPrefix(f, bagit.PayloadDir) {
				total += n
			}
		}
		pb = progressbar.NewOptions64(total,
			progressbar.OptionSetDescription("verify  "+filepath.Base(path)),
			progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		vopt.Progress = func(done, _ int64) { pb.Set64(done) }
	}
	rep, err := releasepkg.Verify(ctx, b, vopt)
	if pb != nil {
		pb.Finish()
	}
	var ve *releasepkg.VerifyError
	if err != nil && !errors.As(err, &ve) {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if opt.JSON {
		out := jsonReport{OK: err == nil, Package: path, Report: rep}
		if ve != nil {
			out.First, out.Error = &ve.First, err.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(out); werr != nil {
			return werr
		}
	} else {
		printSummary(stdout, path, rep, err)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	return nil
}

// maxPrinted bounds the problems printed; the count is always given.
const maxPrinted = 20

func printSummary(w io.Writer, path string, rep *releasepkg.Report, err error) {
	bag := rep.Bag
	fmt.Fprintf(w, "release package %s (%s", path, bag.Format)
	if bag.Base != "" {
		fmt.Fprintf(w, ", bag %s", bag.Base)
	}
	fmt.Fprintln(w, ")")
	if idx := rep.Index; idx != nil {
		fmt.Fprintf(w, "  request %s, release %s, from %s, created %s\n", idx.RequestNumber, idx.ReleaseID,
			idx.Agency.Name, idx.CreatedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  bag: BagIt %s, %d payload files (%s), %d tag files, manifests %s (payload checksums recomputed: %s)\n", orDash(bag.Version),
		bag.PayloadFiles, size(bag.PayloadBytes), bag.TagFiles, strings.Join(bag.Algorithms, ", "), strings.Join(bag.Recomputed, ", "))
	switch {
	case !bag.Signed:
		fmt.Fprintln(w, "  signature: none")
	case bag.KeyTrusted:
		fmt.Fprintf(w, "  signature: key %s, trusted (%s)\n", bag.KeyID, rep.KeySource)
	default:
		fmt.Fprintf(w, "  signature: key %s, the package's own key: NOT checked against a trusted key (use --key FILE or --server URL)\n", bag.KeyID)
	}
	if c := rep.Custody; c != nil {
		fmt.Fprintf(w, "  custody excerpt: %d items, %d events, %d checkpoints, %d inclusion proofs", c.Items, c.Events, c.Checkpoints, c.Proofs)
		if c.KeyID != "" {
			fmt.Fprintf(w, ", checkpoints signed by %s", c.KeyID)
		}
		fmt.Fprintln(w)
	}
	if e := rep.Events; e != nil {
		fmt.Fprintf(w, "  release events: %d\n", e.Events)
	}
	if idx := rep.Index; idx != nil {
		fmt.Fprintf(w, "  clips: %d checked against their redaction reports and custody; withheld items: %d\n", rep.Clips, idx.Withheld.Count)
	}
	if err == nil {
		fmt.Fprintln(w, "OK: every file, manifest, signature, custody chain and checkpoint verifies")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problems; first: %s\n", len(rep.Problems), rep.Problems[0])
	for i, p := range rep.Problems {
		if i == maxPrinted {
			fmt.Fprintf(w, "  ... and %d more\n", len(rep.Problems)-maxPrinted)
			break
		}
		fmt.Fprintf(w, "  [%s] %s\n", p.Kind, p)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// trustedKey resolves --key and --server; when both are given they must
// be the same key.
func trustedKey(ctx context.Context, opt VerifyOptions) (ed25519.PublicKey, string, error) {
	var key ed25519.PublicKey
	var sources []string
	if opt.KeyFile != "" {
		raw, err := os.ReadFile(opt.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrKey, err)
		}
		if key, err = bagit.ParsePublicKey(raw); err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrKey, opt.KeyFile, err)
		}
		sources = append(sources, "--key "+opt.KeyFile)
	}
	if opt.Server != "" {
		sk, how, err := serverKey(ctx, opt)
		if err != nil {
			return nil, "", err
		}
		if key != nil && !key.Equal(sk) {
			return nil, "", fmt.Errorf("%w: --key %s is %s but %s serves %s", ErrKey, opt.KeyFile, bagit.KeyID(key), opt.Server, bagit.KeyID(sk))
		}
		key = sk
		sources = append(sources, how)
	}
	return key, strings.Join(sources, " and "), nil
}

// serverKey fetches the server's public key and pins it: the first fetch
// stores it, later fetches must return the same key (a changed key is
// refused: remove the pin file only after checking the new key out of band).
func serverKey(ctx context.Context, opt VerifyOptions) (ed25519.PublicKey, string, error) {
	u, err := url.Parse(strings.TrimRight(opt.Server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("%w: --server %q is not an http(s) URL", ErrKey, opt.Server)
	}
	client := opt.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	where := u.String() + "/api/v1/custody/public-key"
	api := &apiclient.Client{BaseURL: u.String(), HTTP: client, MaxAnswer: 1 << 20}
	body, err := api.GetCustodyPublicKey(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", ErrKey, where, err)
	}
	key, err := bagit.ParsePublicKey([]byte(body.PublicKey))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", ErrKey, where, err)
	}
	if body.KeyID != "" && body.KeyID != bagit.KeyID(key) {
		return nil, "", fmt.Errorf("%w: %s: key_id %s does not name the key (%s)", ErrKey, where, body.KeyID, bagit.KeyID(key))
	}
	dir := opt.PinDir
	if dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return nil, "", fmt.Errorf("%w: no directory to pin keys in: %v", ErrKey, err)
		}
		dir = filepath.Join(cfg, "opendems", "pinned-keys")
	}
	pin := filepath.Join(dir, pinName(u)+".pem")
	if raw, err := os.ReadFile(pin); err == nil {
		pinned, err := bagit.ParsePublicKey(raw)
		if err != nil {
			return nil, "", fmt.Errorf("%w: pinned key %s: %v", ErrKey, pin, err)
		}
		if !pinned.Equal(key) {
			return nil, "", fmt.Errorf("%w: %s now serves key %s, but key %s is pinned for it in %s: check the new key out of band before removing the pin",
				ErrKey, u.Host, bagit.KeyID(key), bagit.KeyID(pinned), pin)
		}
		return key, "pinned for " + u.Host + ", confirmed by the server", nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	pem, err := bagit.MarshalPublicKeyPEM(key)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("%w: pin: %v", ErrKey, err)
	}
	if err := os.WriteFile(pin, pem, 0o600); err != nil {
		return nil, "", fmt.Errorf("%w: pin: %v", ErrKey, err)
	}
	return key, "fetched from " + u.Host + " and pinned now (" + pin + ")", nil
}

// pinName is a file name for a server: scheme, host and port.
func pinName(u *url.URL) string {
	var b strings.Builder
	for _, r := range u.Scheme + "_" + u.Host {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
