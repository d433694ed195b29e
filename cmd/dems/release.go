package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// review is a redaction review as the API shows it.
type review struct {
	ID           string `json:"id"`
	ClipID       string `json:"clip_id"`
	SpecVersion  int    `json:"spec_version"`
	OutputSHA256 string `json:"output_sha256"`
	State        string `json:"state"`
	SubmittedBy  string `json:"submitted_by"`
	DecidedBy    string `json:"decided_by"`
	VoidReason   string `json:"void_reason"`
}

// release is a release as the API shows it.
type release struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	PackageName   string `json:"package_name"`
	PackageSHA256 string `json:"package_sha256"`
	PackageSize   int64  `json:"package_size"`
	KeyID         string `json:"key_id"`
	Error         string `json:"error"`
}

// releaseCommands are the review, release and share steps of `dems
// request`: submit, reviews, approve, reject, release, share, shares,
// revoke (verify is `dems verify`).
func releaseCommands(cl *client) []*cobra.Command {
	var note string
	submit := &cobra.Command{
		Use: "submit ID|NUMBER CLIP", Short: "Submit a clip's redaction (latest spec version and its render) for a second person's review", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			var out review
			if err := cl.do(cmd.Context(), "POST", "/api/v1/requests/"+id+"/clips/"+args[1]+"/review", map[string]any{"note": note}, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("review %s: clip %s spec v%d, output %s, %s\n", out.ID, out.ClipID, out.SpecVersion, out.OutputSHA256, out.State)
			})
			return nil
		},
	}
	submit.Flags().StringVar(&note, "note", "", "note for the reviewer")

	reviews := &cobra.Command{
		Use: "reviews ID|NUMBER", Short: "A request's redaction reviews", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			var out struct {
				Reviews []review `json:"reviews"`
			}
			if err := cl.do(cmd.Context(), "GET", "/api/v1/requests/"+id+"/reviews", nil, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				table("REVIEW\tCLIP\tSPEC\tSTATE\tSUBMITTED BY\tDECIDED BY\tNOTE", func(w *tabwriter.Writer) {
					for _, r := range out.Reviews {
						fmt.Fprintf(w, "%s\t%s\tv%d\t%s\t%s\t%s\t%s\n", r.ID, r.ClipID, r.SpecVersion, r.State, r.SubmittedBy, r.DecidedBy, r.VoidReason)
					}
				})
			})
			return nil
		},
	}

	decide := func(verb string) *cobra.Command {
		var comment string
		var regions []string
		c := &cobra.Command{
			Use:   verb + " ID|NUMBER REVIEW|CLIP",
			Short: strings.ToUpper(verb[:1]) + verb[1:] + " a review (a clip names its pending review); not allowed to anyone who edited, linked or submitted the clip",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := resolveRequest(cmd, cl, args[0])
				if err != nil {
					return err
				}
				rid, err := resolveReview(cmd.Context(), cl, id, args[1])
				if err != nil {
					return err
				}
				body := map[string]any{"comment": comment}
				var comments []map[string]any
				for _, r := range regions {
					c, err := parseRegionComment(r)
					if err != nil {
						return err
					}
					comments = append(comments, c)
				}
				if len(comments) > 0 {
					body["comments"] = comments
				}
				var out review
				if err := cl.do(cmd.Context(), "POST", "/api/v1/requests/"+id+"/reviews/"+rid+"/"+verb, body, &out); err != nil {
					return err
				}
				cl.print(out, func() { fmt.Printf("review %s of clip %s: %s by %s\n", out.ID, out.ClipID, out.State, out.DecidedBy) })
				return nil
			},
		}
		c.Flags().StringVar(&comment, "comment", "", "comment on the whole review (required to reject without --at)")
		c.Flags().StringArrayVar(&regions, "at", nil, "comment on a region or time range: REGION|START-END:TEXT (repeatable), e.g. face-1:blur misses the chin, 2.5-4:audio")
		return c
	}

	var letter []string
	var output, description string
	rel := &cobra.Command{
		Use: "release ID|NUMBER", Short: "Build the release package from the approved clips (and download it with --output)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			var out release
			long := *cl
			long.timeout = 6 * time.Hour // the server streams every clip into the package first
			if err := long.do(cmd.Context(), "POST", "/api/v1/requests/"+id+"/releases", map[string]any{"letter": letter, "description": description}, &out); err != nil {
				return err
			}
			if output != "" {
				if err := downloadPackage(cmd.Context(), cl, out, output); err != nil {
					return err
				}
			}
			cl.print(out, func() {
				fmt.Printf("released %s: %s (%d bytes)\nSHA-256 %s, signed by key %s\n", out.ID, out.PackageName, out.PackageSize, out.PackageSHA256, out.KeyID)
				if output != "" {
					fmt.Printf("saved to %s (check it with: dems verify --server %s %s)\n", output, cl.server, output)
				}
			})
			return nil
		},
	}
	rel.Flags().StringArrayVar(&letter, "letter", nil, "a paragraph of the response letter (repeatable; default: a standard text)")
	rel.Flags().StringVar(&description, "description", "", "the package's Internal-Sender-Description")
	rel.Flags().StringVarP(&output, "output", "o", "", "download the package to this file")

	var sh struct {
		recipient, passcode string
		days, max           int
	}
	share := &cobra.Command{
		Use: "share RELEASE", Short: "Create a share link to a released package (the token is shown once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"recipient": sh.recipient}
			if sh.days > 0 {
				body["expires_in_days"] = sh.days
			}
			if sh.passcode != "" {
				body["passcode"] = sh.passcode
			}
			if sh.max > 0 {
				body["max_downloads"] = sh.max
			}
			var out struct {
				Share struct {
					ID        string `json:"id"`
					ExpiresAt string `json:"expires_at"`
				} `json:"share"`
				Token string `json:"token"`
				URL   string `json:"url"`
			}
			if err := cl.do(cmd.Context(), "POST", "/api/v1/releases/"+args[0]+"/shares", body, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("share %s for %s, expires %s\n%s\n(the link is shown only now)\n", out.Share.ID, sh.recipient, out.Share.ExpiresAt, out.URL)
			})
			return nil
		},
	}
	sf := share.Flags()
	sf.StringVar(&sh.recipient, "recipient", "", "who receives the link (required)")
	sf.IntVar(&sh.days, "days", 0, "days until the link expires (default: the server's, 30)")
	sf.StringVar(&sh.passcode, "passcode", "", "passcode the recipient must type (give it to them separately)")
	sf.IntVar(&sh.max, "max-downloads", 0, "new downloads allowed (resuming one is not counted)")

	shares := &cobra.Command{
		Use: "shares RELEASE", Short: "A release's share links with their activity", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Shares []struct {
					ID          string `json:"id"`
					Recipient   string `json:"recipient"`
					Status      string `json:"status"`
					ExpiresAt   string `json:"expires_at"`
					Downloads   int    `json:"downloads"`
					Views       int    `json:"views"`
					BytesServed int64  `json:"bytes_served"`
				} `json:"shares"`
			}
			if err := cl.do(cmd.Context(), "GET", "/api/v1/releases/"+args[0]+"/shares", nil, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				table("SHARE\tRECIPIENT\tSTATUS\tEXPIRES\tDOWNLOADS\tVIEWS\tBYTES", func(w *tabwriter.Writer) {
					for _, s := range out.Shares {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.ID, s.Recipient, s.Status, s.ExpiresAt, s.Downloads, s.Views, s.BytesServed)
					}
				})
			})
			return nil
		},
	}

	var reason string
	revoke := &cobra.Command{
		Use: "revoke RELEASE SHARE", Short: "Revoke a share link (its recipient gets 410)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := cl.do(cmd.Context(), "POST", "/api/v1/releases/"+args[0]+"/shares/"+args[1]+"/revoke", map[string]any{"reason": reason}, &out); err != nil {
				return err
			}
			cl.print(out, func() { fmt.Printf("share %s revoked\n", args[1]) })
			return nil
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (required)")
	return []*cobra.Command{submit, reviews, decide("approve"), decide("reject"), rel, share, shares, revoke}
}

// resolveReview accepts a review id, or a clip id naming the clip's
// pending review.
func resolveReview(ctx context.Context, cl *client, requestID, ref string) (string, error) {
	var out struct {
		Reviews []review `json:"reviews"`
	}
	if err := cl.do(ctx, "GET", "/api/v1/requests/"+requestID+"/reviews", nil, &out); err != nil {
		return "", err
	}
	for _, r := range out.Reviews {
		if r.ID == ref {
			return r.ID, nil
		}
	}
	for _, r := range out.Reviews {
		if r.ClipID == ref && r.State == "pending" {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("no review %s, and no pending review of a clip %s", ref, ref)
}

// parseRegionComment reads REGION:TEXT or START-END:TEXT.
func parseRegionComment(s string) (map[string]any, error) {
	where, text, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(text) == "" || where == "" {
		return nil, fmt.Errorf("--at %q: want REGION:TEXT or START-END:TEXT", s)
	}
	if a, b, ok := strings.Cut(where, "-"); ok {
		start, err1 := strconv.ParseFloat(a, 64)
		end, err2 := strconv.ParseFloat(b, 64)
		if err1 == nil && err2 == nil {
			return map[string]any{"start": start, "end": end, "text": text}, nil
		}
	}
	return map[string]any{"region": where, "text": text}, nil
}

// downloadPackage streams the package to a file and checks its SHA-256.
func downloadPackage(ctx context.Context, cl *client, r release, path string) error {
	tok := cl.token
	if tok == "" {
		tok = os.Getenv("DEMS_TOKEN")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(cl.server, "/")+"/api/v1/releases/"+r.ID+"/package", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("download package: server answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("download package: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != r.PackageSHA256 {
		return fmt.Errorf("download package: %s has SHA-256 %s, the release says %s", path, got, r.PackageSHA256)
	}
	return nil
}
