package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/api/apiclient"
)

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
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.SubmitClipForReview(cmd.Context(), id, args[1], &apiclient.SubmitInput{Note: note})
			if err != nil {
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
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.ListReviews(cmd.Context(), id)
			if err != nil {
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
				body := apiclient.DecisionInput{Comment: comment}
				for _, r := range regions {
					c, err := parseRegionComment(r)
					if err != nil {
						return err
					}
					body.Comments = append(body.Comments, c)
				}
				api, err := cl.api()
				if err != nil {
					return err
				}
				decide := api.ApproveReview
				if verb == "reject" {
					decide = api.RejectReview
				}
				out, err := decide(cmd.Context(), id, rid, &body)
				if err != nil {
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
	var noWait, waitStatus bool
	var output, description string
	rel := &cobra.Command{
		Use: "release ID|NUMBER", Short: "Build the release package from the approved clips (and download it with --output)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.CreateRelease(cmd.Context(), id, &apiclient.ReleaseInput{Letter: letter, Description: description})
			if err != nil {
				return err
			}
			// The server builds the package in a job: follow it.
			if out, err = waitRelease(cmd.Context(), cl, api, out, noWait); err != nil {
				return err
			}
			if out.State == "failed" {
				return fmt.Errorf("release %s failed: %s", out.ID, out.Error)
			}
			if out.State != "released" {
				cl.print(out, func() {
					fmt.Printf("release %s is %s (follow it with: dems request release-status %s --wait)\n", out.ID, out.State, out.ID)
				})
				return nil
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
	rel.Flags().BoolVar(&noWait, "no-wait", false, "return once the build has started (the package is built by a server job)")
	status := &cobra.Command{
		Use: "release-status RELEASE", Short: "Show a release's state and its build's progress (--wait: until it is done)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.GetRelease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out, err = waitRelease(cmd.Context(), cl, api, out, !waitStatus); err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("release %s: %s", out.ID, out.State)
				if out.Job != nil && out.State == "building" {
					fmt.Printf(" (%.0f%%, %s)", out.Job.Progress, out.Job.Message)
				}
				if out.Error != "" {
					fmt.Printf(": %s", out.Error)
				}
				fmt.Println()
			})
			return nil
		},
	}
	status.Flags().BoolVar(&waitStatus, "wait", false, "wait until the build is done")
	cancelRel := &cobra.Command{
		Use: "release-cancel RELEASE", Short: "Cancel a release's build in progress (the request stays approved)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.CancelReleaseBuild(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			cl.print(out, func() { fmt.Printf("release %s: %s (%s)\n", out.ID, out.State, out.Error) })
			return nil
		},
	}

	var sh struct {
		recipient, passcode string
		days, max           int
	}
	share := &cobra.Command{
		Use: "share RELEASE", Short: "Create a share link to a released package (the token is shown once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := apiclient.ShareInput{Recipient: sh.recipient, ExpiresInDays: int64(sh.days), Passcode: sh.passcode}
			if sh.max > 0 {
				limit := int64(sh.max)
				body.MaxDownloads = &limit
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.CreateShare(cmd.Context(), args[0], body)
			if err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("share %s for %s, expires %s\n%s\n(the link is shown only now)\n", out.Share.ID, sh.recipient, when(&out.Share.ExpiresAt), out.URL)
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
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.ListShares(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			cl.print(out, func() {
				table("SHARE\tRECIPIENT\tSTATUS\tEXPIRES\tDOWNLOADS\tVIEWS\tBYTES", func(w *tabwriter.Writer) {
					for _, s := range out.Shares {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.ID, s.Recipient, s.Status, when(&s.ExpiresAt), s.Downloads, s.Views, s.BytesServed)
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
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.RevokeShare(cmd.Context(), args[0], args[1], apiclient.RevokeInput{Reason: reason})
			if err != nil {
				return err
			}
			cl.print(out, func() { fmt.Printf("share %s revoked\n", args[1]) })
			return nil
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (required)")
	return []*cobra.Command{submit, reviews, decide("approve"), decide("reject"), rel, status, cancelRel, share, shares, revoke}
}

// resolveReview accepts a review id, or a clip id naming the clip's
// pending review.
func resolveReview(ctx context.Context, cl *client, requestID, ref string) (string, error) {
	api, err := cl.api()
	if err != nil {
		return "", err
	}
	out, err := api.ListReviews(ctx, requestID)
	if err != nil {
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
func parseRegionComment(s string) (apiclient.CommentInput, error) {
	where, text, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(text) == "" || where == "" {
		return apiclient.CommentInput{}, fmt.Errorf("--at %q: want REGION:TEXT or START-END:TEXT", s)
	}
	if a, b, ok := strings.Cut(where, "-"); ok {
		start, err1 := strconv.ParseFloat(a, 64)
		end, err2 := strconv.ParseFloat(b, 64)
		if err1 == nil && err2 == nil {
			return apiclient.CommentInput{Start: start, End: end, Text: text}, nil
		}
	}
	return apiclient.CommentInput{Region: where, Text: text}, nil
}

// downloadPackage streams the package to a file and checks its SHA-256.
func downloadPackage(ctx context.Context, cl *client, r *apiclient.Release, path string) error {
	unbounded := *cl
	unbounded.timeout = -1 // a package may be gigabytes
	api, err := unbounded.api()
	if err != nil {
		return err
	}
	resp, err := api.DownloadReleasePackage(ctx, r.ID, apiclient.DownloadReleasePackageParams{})
	if err != nil {
		return fmt.Errorf("download package: %w", err)
	}
	defer resp.Body.Close()
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

// waitRelease polls a release until its build is done (unless noWait),
// printing progress to stderr when it changes (not with --json, whose
// output stays one JSON document).
func waitRelease(ctx context.Context, cl *client, api *apiclient.Client, r *apiclient.Release, noWait bool) (*apiclient.Release, error) {
	last := ""
	for r.State == "building" && !noWait {
		if r.Job != nil && !cl.json {
			if line := fmt.Sprintf("building %s: %.0f%% %s", r.ID, r.Job.Progress, r.Job.Message); line != last {
				fmt.Fprintln(os.Stderr, line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(time.Second):
		}
		next, err := api.GetRelease(ctx, r.ID)
		if err != nil {
			return r, err
		}
		r = next
	}
	return r, nil
}
