package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

func pushCmd() *cobra.Command {
	var (
		server, token, tokenFile, configPath, keyB64, bandwidth string
		officer, device, source, recordedAt, camera, location   string
		asJSON, quiet                                           bool
		parallel                                                int
	)
	c := &cobra.Command{
		Use:   "push [flags] FILE...",
		Short: "Upload files now and print their verified receipts",
		Long: `Uploads each file through the resumable ingest protocol and verifies the
server's signed receipt (signature, SHA-256 and size). The receipt key is
the one pinned by 'enroll' (--config), given with --receipt-key, or else
fetched from the server (trust on first use; a warning is printed).
Exit status 0 only when every file has a verified receipt.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx := cmd.Context()
			var cfg *dock.Config
			if configPath != "" {
				c, err := loadConfig(configPath)
				if err != nil {
					return usageErr("%v", err)
				}
				cfg = &c
				if server == "" {
					server = c.Server
				}
				if token == "" && tokenFile == "" {
					token, tokenFile = c.Token, c.TokenFile
				}
			}
			tok, err := readToken(token, tokenFile)
			if err != nil {
				return usageErr("%v", err)
			}
			client, err := dock.NewClient(server, tok, nil)
			if err != nil {
				return usageErr("--server: %v", err)
			}
			meta := wire.Metadata{OfficerID: officer, DeviceID: device, SourceKind: source, CameraName: camera, Location: location}
			if recordedAt != "" {
				t, err := time.Parse(time.RFC3339, recordedAt)
				if err != nil {
					return usageErr("--recorded-at: %q is not RFC 3339 (2006-01-02T15:04:05Z)", recordedAt)
				}
				meta.RecordedAt = &t
			}
			if err := meta.Validate(); err != nil {
				return usageErr("%v", err)
			}
			rate, err := dock.ParseRate(bandwidth)
			if err != nil {
				return usageErr("--bandwidth: %v", err)
			}
			key, err := receiptKey(ctx, cfg, keyB64, client)
			if err != nil {
				return failErr(err)
			}
			up := &dock.Uploader{Client: client, Key: key, Limiter: dock.NewRateLimiter(rate),
				Backoff: dock.Backoff{Initial: time.Second, Max: 30 * time.Second}, MaxTransient: 8}
			if parallel < 1 || parallel > 16 {
				return usageErr("--parallel: %d, want 1..16", parallel)
			}
			opts := dock.PushOptions{Metadata: meta, JSON: asJSON, Out: cmd.OutOrStdout(), Errs: cmd.ErrOrStderr(), Parallel: parallel}
			if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
				opts.NewProgress = newBar
			}
			if failed := dock.Push(ctx, up, files, opts); failed > 0 {
				return failErr(fmt.Errorf("%d of %d files have no verified receipt", failed, len(files)))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&server, "server", "", "server base URL, e.g. https://dems.example.org")
	f.StringVar(&token, "token", "", "dock token (prefer --token-file or DEMS_DOCK_TOKEN)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the dock token")
	f.StringVar(&configPath, "config", "", "dock config (server, token and pinned receipt key)")
	f.StringVar(&keyB64, "receipt-key", "", "receipt public key (base64 Ed25519) to verify against")
	f.StringVar(&bandwidth, "bandwidth", "", "upload rate limit, e.g. 20MiB/s")
	f.StringVar(&officer, "officer", "", "officer id (badge) of the recordings")
	f.StringVar(&device, "device", "", "camera device id")
	f.StringVar(&source, "source", "", "source kind: bwc, cctv or other (default bwc)")
	f.StringVar(&recordedAt, "recorded-at", "", "recording start, RFC 3339")
	f.StringVar(&camera, "camera", "", "camera name")
	f.StringVar(&location, "location", "", "camera location")
	f.BoolVar(&asJSON, "json", false, `print one JSON receipt per line: {"file","sha256","size","evidence_id","receipt"}`)
	f.BoolVar(&quiet, "quiet", false, "no progress bars")
	f.IntVar(&parallel, "parallel", 2, "files uploaded at once")
	return c
}

// receiptKey picks the key receipts are verified against.
func receiptKey(ctx context.Context, cfg *dock.Config, keyB64 string, client *dock.Client) (ed25519.PublicKey, error) {
	if keyB64 != "" {
		pk := receipt.PublicKey{Algorithm: "ed25519", PublicKey: keyB64}
		return pk.Key()
	}
	if cfg != nil {
		return dock.LoadPinnedKey(cfg.StateDir)
	}
	pk, err := client.ReceiptKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching the receipt key: %w", err)
	}
	fmt.Fprintf(os.Stderr, "dems-dock: warning: receipt key %s fetched from the server, not pinned (use enroll and --config)\n", pk.KeyID)
	return pk.Key()
}

// bar is a terminal progress bar (bytes, rate, ETA) per file.
type bar struct {
	name string
	pb   *progressbar.ProgressBar
}

func newBar(file string) dock.Progress { return &bar{name: filepath.Base(file)} }

func (b *bar) Phase(phase string, total int64) {
	if b.pb != nil {
		b.pb.Finish()
	}
	b.pb = progressbar.NewOptions64(total,
		progressbar.OptionSetDescription(fmt.Sprintf("%-7s %s", phase, b.name)),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		progressbar.OptionSetRenderBlankState(true),
	)
}

func (b *bar) Set(done int64) {
	if b.pb != nil {
		b.pb.Set64(done)
	}
}

func (b *bar) Done() {
	if b.pb != nil {
		b.pb.Finish()
	}
}
