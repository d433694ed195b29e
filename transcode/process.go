package transcode

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
)

// ProcessOptions selects the outputs Process makes from one recording. A
// nil or empty field means that output is not wanted.
type ProcessOptions struct {
	// ProxyPath receives the web proxy ("" = no proxy). It is written
	// through a temporary file and renamed into place on success only.
	ProxyPath string
	// Proxy tunes the encoder (and the decoder's threads).
	Proxy ProxyOptions
	// Poster, when non-nil, asks for a poster JPEG.
	Poster *PosterOptions
	// Sprite, when non-nil, asks for a sprite JPEG.
	Sprite *SpriteOptions
	// Duration is the source's duration in seconds when the caller knows
	// it (a stored probe) with its DurationSource; 0 means derive it.
	Duration       float64
	DurationSource string
	// Progress, if non-nil, sees the proxy's progress.
	Progress func(Progress)
}

// ProcessResult holds each output's result or error: every output succeeds
// or fails on its own, and a failed thumbnail never loses the proxy.
type ProcessResult struct {
	Duration       float64
	DurationSource string

	Proxy    *ProxyResult
	ProxyErr error

	Poster     *PosterResult
	PosterJPEG []byte
	PosterErr  error

	Sprite     *SpriteResult
	SpriteJPEG []byte
	SpriteErr  error
}

// Process makes the requested proxy, poster and sprite of in with a single
// decode of the recording: each decoded video frame goes to the proxy's
// filters and encoder and, for the few frames they need, to the poster and
// sprite scalers (instead of one seek and decode from the previous keyframe
// per thumbnail). Without a proxy it decodes only as far as the last
// thumbnail needs.
//
// If the proxy fails before the thumbnails have their frames, they are
// taken in a decode-only pass of their own, so one output's failure never
// costs another. The returned error is non-nil only when no output could be
// made; the per-output errors say why each failed.
func Process(ctx context.Context, in string, opts ProcessOptions) (*ProcessResult, error) {
	res := &ProcessResult{}
	wantProxy := opts.ProxyPath != ""
	var poster *PosterOptions
	var sprite *SpriteOptions
	if opts.Poster != nil {
		if p, err := opts.Poster.withDefaults(); err != nil {
			res.PosterErr = mediaErr("poster", in, ErrInvalidOptions, err)
		} else {
			poster = &p
		}
	}
	if opts.Sprite != nil {
		if s, err := opts.Sprite.withDefaults(); err != nil {
			res.SpriteErr = mediaErr("sprite", in, ErrInvalidOptions, err)
		} else {
			sprite = &s
		}
	}
	if wantProxy {
		res.ProxyErr = checkProxyOptions(in, opts.ProxyPath, opts.Proxy)
		if res.ProxyErr != nil {
			wantProxy = false
		}
	}
	if !wantProxy && poster == nil && sprite == nil {
		return res, errors.Join(res.ProxyErr, res.PosterErr, res.SpriteErr)
	}

	c := NewCloser()
	defer c.Close()
	input, err := OpenInput(ctx, c, in)
	if err == nil {
		res.Duration, res.DurationSource = opts.Duration, opts.DurationSource
		if res.Duration <= 0 {
			res.Duration, res.DurationSource, err = MediaDuration(ctx, input)
		}
	}
	if err != nil {
		if wantProxy {
			res.ProxyErr = withOp("proxy", in, err)
		}
		if poster != nil {
			res.PosterErr = withOp("poster", in, err)
		}
		if sprite != nil {
			res.SpriteErr = withOp("sprite", in, err)
		}
		return res, err
	}
	threads := opts.Proxy.Threads
	var st *stills
	if input.Video != nil && (poster != nil || sprite != nil) {
		st = newStills(c, input, res.Duration, poster, sprite)
	}

	if wantProxy {
		restart := func(again *Input) *stills {
			st = newStills(c, again, res.Duration, poster, sprite)
			return st
		}
		res.Proxy, res.ProxyErr = processProxy(ctx, c, input, res, opts, st, restart)
	}
	// Thumbnails still waiting for frames (no proxy wanted, no video for
	// it to decode, or the proxy stopped early) get a pass of their own on
	// a fresh demuxer.
	if st != nil && !st.done() && (!wantProxy || res.ProxyErr != nil) {
		sc := NewCloser()
		defer sc.Close()
		err := func() error {
			again, err := OpenInput(ctx, sc, in)
			if err != nil {
				return err
			}
			st = newStills(sc, again, res.Duration, poster, sprite)
			return stillsPass(sc, again, st, threads)
		}()
		if err != nil {
			if poster != nil {
				res.PosterErr = withOp("poster", in, err)
			}
			if sprite != nil {
				res.SpriteErr = withOp("sprite", in, err)
			}
			return res, res.firstErr()
		}
	}
	if poster != nil {
		res.Poster, res.PosterJPEG, res.PosterErr = finishPoster(in, input, st, *poster)
	}
	if sprite != nil {
		res.Sprite, res.SpriteJPEG, res.SpriteErr = finishSpriteJPEG(in, input, st, *sprite)
	}
	return res, res.firstErr()
}

// firstErr is nil when at least one requested output was made.
func (r *ProcessResult) firstErr() error {
	if r.Proxy != nil || r.Poster != nil || r.Sprite != nil {
		return nil
	}
	return errors.Join(r.ProxyErr, r.PosterErr, r.SpriteErr)
}

func checkProxyOptions(in, out string, opts ProxyOptions) error {
	if err := opts.Validate(); err != nil {
		return mediaErr("proxy", in, ErrInvalidOptions, err)
	}
	if sameFile(in, out) {
		return mediaErr("proxy", out, ErrInvalidOptions, errors.New("output is the input file"))
	}
	return nil
}

// processProxy runs the proxy pass with the stills tapping its frames.
func processProxy(ctx context.Context, c *Closer, input *Input, res *ProcessResult, opts ProcessOptions, st *stills, restart func(*Input) *stills) (*ProxyResult, error) {
	tmpPath, cleanup, err := tempOutput(opts.ProxyPath)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			cleanup()
		}
	}()
	pr, oc, err := makeProxy(ctx, c, input, res.Duration, res.DurationSource, tmpPath, opts.Proxy.withDefaults(), opts.Progress, st, restart)
	if err != nil {
		return nil, err
	}
	defer oc.Close()
	if err := commitOutput(oc, tmpPath, opts.ProxyPath); err != nil {
		return nil, err
	}
	ok = true
	return pr, nil
}

func finishPoster(path string, in *Input, st *stills, opts PosterOptions) (*PosterResult, []byte, error) {
	if in.Video == nil || st == nil || st.poster == nil {
		return nil, nil, mediaErr("poster: open video", path, ErrNoVideo, nil)
	}
	img, t, err := st.poster.finish(st)
	if err != nil {
		return nil, nil, err
	}
	b, err := encodeJPEG(img, opts.Quality)
	if err != nil {
		return nil, nil, mediaErr("poster: write jpeg", path, nil, err)
	}
	return &PosterResult{Width: img.Bounds().Dx(), Height: img.Bounds().Dy(), Time: t}, b, nil
}

func finishSpriteJPEG(path string, in *Input, st *stills, opts SpriteOptions) (*SpriteResult, []byte, error) {
	if in.Video == nil || st == nil || st.sprite == nil {
		return nil, nil, mediaErr("sprite: open video", path, ErrNoVideo, nil)
	}
	res, sheet, err := st.sprite.finish(st)
	if err != nil {
		return nil, nil, err
	}
	b, err := encodeJPEG(sheet, opts.Quality)
	if err != nil {
		return nil, nil, mediaErr("sprite: write jpeg", path, nil, err)
	}
	return res, b, nil
}

func encodeJPEG(img image.Image, quality int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
