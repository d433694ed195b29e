package transcodecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/opendems/opendems/transcode"
)

// ProbeCommand probes in and prints the transcode.ProbeResult as indented
// JSON on stdout.
func ProbeCommand(ctx context.Context, stdout io.Writer, in string) error {
	r, err := transcode.Probe(ctx, in)
	if err != nil {
		return err
	}
	return writeJSON(stdout, r)
}

// ProxyCommandOptions are the flags of `demsd proxy`.
type ProxyCommandOptions struct {
	// Proxy holds the encoder settings (preset, CRF, size bounds, threads).
	Proxy transcode.ProxyOptions
	// NoProgress disables the progress bar even on a terminal.
	NoProgress bool
}

// ProxyCommand writes the web proxy of in to out. While it runs it draws a
// progress bar on stderr when stderr is a terminal; at the end it prints the
// transcode.ProxyResult as JSON on stdout.
func ProxyCommand(ctx context.Context, stdout, stderr io.Writer, in, out string, opts ProxyCommandOptions) error {
	if in == "" || out == "" {
		return errors.New("proxy: input and output paths are required")
	}
	var progress func(transcode.Progress)
	var bar *progressbar.ProgressBar
	if !opts.NoProgress && isTerminal(stderr) {
		bar = progressbar.NewOptions(1000,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("proxy"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(100_000_000), // 100 ms: redraws cost more than encoding a frame
		)
		progress = func(p transcode.Progress) { _ = bar.Set(int(p.Percent * 10)) }
	}
	res, err := transcode.Proxy(ctx, in, out, opts.Proxy, progress)
	if bar != nil {
		if err == nil {
			_ = bar.Finish()
		} else {
			_ = bar.Exit()
		}
		_, _ = fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	return writeJSON(stdout, res)
}

// ThumbnailsCommandOptions are the flags of `demsd thumbnails`.
type ThumbnailsCommandOptions struct {
	// PosterPath receives the poster JPEG ("" = no poster).
	PosterPath string
	// SpritePath receives the sprite JPEG ("" = no sprite).
	SpritePath string
	Poster     transcode.PosterOptions
	Sprite     transcode.SpriteOptions
}

// ThumbnailsResult is what ThumbnailsCommand prints.
type ThumbnailsResult struct {
	Poster *transcode.PosterResult `json:"poster,omitempty"`
	Sprite *transcode.SpriteResult `json:"sprite,omitempty"`
}

// ThumbnailsCommand writes the poster and/or sprite JPEGs of in and prints
// their geometry (tile times included) as JSON on stdout.
func ThumbnailsCommand(ctx context.Context, stdout io.Writer, in string, opts ThumbnailsCommandOptions) error {
	if opts.PosterPath == "" && opts.SpritePath == "" {
		return errors.New("thumbnails: give a poster and/or a sprite output path")
	}
	var res ThumbnailsResult
	if opts.PosterPath != "" {
		err := writeFile(opts.PosterPath, func(w io.Writer) error {
			var err error
			res.Poster, err = transcode.Poster(ctx, in, w, opts.Poster)
			return err
		})
		if err != nil {
			return err
		}
	}
	if opts.SpritePath != "" {
		err := writeFile(opts.SpritePath, func(w io.Writer) error {
			var err error
			res.Sprite, err = transcode.Sprite(ctx, in, w, opts.Sprite)
			return err
		})
		if err != nil {
			return err
		}
	}
	return writeJSON(stdout, res)
}

// writeFile writes path through fill, removing it again when fill fails so
// no half-written JPEG is left behind.
func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal (only *os.File can be).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
