// Package redactcli holds the command-line entry points of package redact, wired
// by cmd/demsd as `demsd redact --spec SPEC IN OUT` and `demsd detect IN`.
// They run exactly the library code the request workflow worker runs; this
// package only adds file reading, a progress bar and human-readable output.
//
// Errors are returned (never printed and exited here) so main maps them to
// exit codes: errors.Is(err, redact.ErrInvalidSpec) is a usage error,
// errors.Is(err, transcode.ErrCorruptMedia) a bad input.
package redactcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/opendems/opendems/redact"
)

// progressScale is the bar resolution: progress is tracked in
// milliseconds of media.
const progressScale = 1000

// newBar returns a progress callback drawing on w when w is a terminal, and
// a function to finish the bar. On a pipe or file it draws nothing, so logs
// and CI output stay clean.
func newBar(w io.Writer, what string) (func(redact.Progress), func()) {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return func(redact.Progress) {}, func() {}
	}
	var bar *progressbar.ProgressBar
	update := func(p redact.Progress) {
		if bar == nil {
			max := int64(-1) // spinner when the duration is unknown
			if p.Total > 0 {
				max = int64(p.Total * progressScale)
			}
			bar = progressbar.NewOptions64(max,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(what),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		_ = bar.Set64(int64(p.Done * progressScale))
	}
	finish := func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}
	return update, finish
}

// RedactCommand renders in to out as the spec file at specPath says,
// writes OUT.redaction.json and OUT.redaction.csv beside out, draws a
// progress bar on stderr when it is a terminal and prints a summary to
// stdout.
func RedactCommand(ctx context.Context, stdout, stderr io.Writer, specPath, in, out string) error {
	data, err := readSpecFile(specPath)
	if err != nil {
		return err
	}
	spec, err := redact.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", specPath, err)
	}
	update, finish := newBar(stderr, "redacting")
	started := time.Now()
	rep, err := redact.Render(ctx, spec, in, out, redact.RenderOptions{Progress: update})
	finish()
	if err != nil {
		return err
	}
	jp, cp := redact.ReportPaths(out)
	elapsed := time.Since(started)
	media := rep.Out - rep.In
	fmt.Fprintf(stdout, "redacted %s -> %s\n", in, out)
	fmt.Fprintf(stdout, "  %d frames, %.2fs of media in %.1fs (%.2fx real time)\n", rep.Frames, media, elapsed.Seconds(), media/elapsed.Seconds())
	for _, it := range rep.Items {
		n := fmt.Sprintf("%d frames", it.Frames)
		if it.Kind == redact.KindAudio {
			n = fmt.Sprintf("%d samples", it.Samples)
		}
		fmt.Fprintf(stdout, "  %-10s %-12s %8.3fs..%8.3fs  %-7s %s; %s (%s)\n", it.Kind, it.ID, it.Start, it.End, it.Origin, it.Method, it.Reason, n)
	}
	fmt.Fprintf(stdout, "  source sha256 %s\n  output sha256 %s\n  report %s, %s\n", rep.Source.SHA256, rep.Output.SHA256, jp, cp)
	return nil
}

// readSpecFile reads a spec, refusing oversized files before reading them.
func readSpecFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, redact.MaxSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading spec %s: %w", path, err)
	}
	return data, nil
}

// DetectCommand detects and tracks faces in in and prints the spec
// proposal (JSON, regions with origin "auto") to stdout; a progress bar
// goes to stderr when it is a terminal, and a summary after it, with every
// reason the clip needs a human look. opts may be the zero value
// (defaults: YuNet, every 2nd frame, 960 px analysis width, all cores).
func DetectCommand(ctx context.Context, stdout, stderr io.Writer, in string, opts redact.DetectOptions) error {
	return DetectReviewCommand(ctx, stdout, stderr, in, "", opts)
}

// DetectReviewCommand is DetectCommand that also writes the review (people
// with thumbnails and confidences, candidates, flags; JSON) to reviewPath
// when it is not empty.
func DetectReviewCommand(ctx context.Context, stdout, stderr io.Writer, in, reviewPath string, opts redact.DetectOptions) error {
	update, finish := newBar(stderr, "detecting")
	opts.Progress = update
	started := time.Now()
	res, err := redact.Detect(ctx, in, opts)
	finish()
	if err != nil {
		return err
	}
	js, err := res.Spec.Marshal()
	if err != nil {
		return err
	}
	if reviewPath != "" {
		rv, err := json.MarshalIndent(res.Review, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(reviewPath, append(rv, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing review: %w", err)
		}
	}
	if _, err := stdout.Write(js); err != nil {
		return fmt.Errorf("writing proposal: %w", err)
	}
	el := time.Since(started).Seconds()
	fmt.Fprintf(stderr, "detect (%s): %d faces tracked; %d frames decoded, %d analysed in %.1fs (%.1f frames/s)\n",
		res.Detector, len(res.Spec.Regions), res.FramesDecoded, res.FramesAnalysed, el, float64(res.FramesDecoded)/el)
	for _, r := range res.Review.Reasons {
		fmt.Fprintf(stderr, "detect: needs review: %s\n", r)
	}
	return nil
}
