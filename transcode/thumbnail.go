package transcode

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"

	"github.com/asticode/go-astiav"
)

// PosterOptions configures Poster. The zero value picks a frame at 10% of
// the duration, skipping black frames, at most 640 px on the long side.
type PosterOptions struct {
	// At is the position as a fraction of the duration (0.1 when 0).
	At float64 `json:"at,omitempty"`
	// MaxSide bounds the longer side of the JPEG (640 when 0).
	MaxSide int `json:"max_side,omitempty"`
	// Quality is the JPEG quality 1..100 (85 when 0).
	Quality int `json:"quality,omitempty"`
	// KeepBlack disables skipping black frames (fades, lens caps).
	KeepBlack bool `json:"keep_black,omitempty"`
	// Threads for the decoder (0 = FFmpeg decides from the CPU count).
	Threads int `json:"threads,omitempty"`
}

// PosterResult describes the poster written.
type PosterResult struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Time   float64 `json:"time"` // seconds from the start of the file
}

// SpriteOptions configures Sprite. The zero value makes 10 tiles of 160 px
// width in rows of 5.
type SpriteOptions struct {
	// Tiles is the number of evenly spaced frames (10 when 0; at most 400).
	Tiles int `json:"tiles,omitempty"`
	// Columns per row (5 when 0, capped at Tiles).
	Columns int `json:"columns,omitempty"`
	// TileWidth in pixels (160 when 0); the height follows the aspect
	// ratio of the upright picture.
	TileWidth int `json:"tile_width,omitempty"`
	// Quality is the JPEG quality 1..100 (80 when 0).
	Quality int `json:"quality,omitempty"`
	// Threads for the decoder (0 = FFmpeg decides from the CPU count).
	Threads int `json:"threads,omitempty"`
}

// SpriteResult is the sprite's geometry: a UI maps a hover position to a
// tile and the tile to a time without decoding anything.
type SpriteResult struct {
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	TileWidth  int    `json:"tile_width"`
	TileHeight int    `json:"tile_height"`
	Columns    int    `json:"columns"`
	Rows       int    `json:"rows"`
	Tiles      []Tile `json:"tiles"`
	// Requested is the number of tiles asked for, spaced over the declared
	// duration.
	Requested int `json:"requested"`
	// Missing tiles are those whose time the decoded video never reached
	// (a recording cut short): they are left out rather than filled with
	// a repeated frame, and the sheet has only the rows that hold tiles.
	Missing int `json:"missing,omitempty"`
}

// Tile is one frame of a sprite.
type Tile struct {
	Index int `json:"index"`
	X     int `json:"x"`
	Y     int `json:"y"`
	// Time in seconds of the frame shown (the first frame at or after the
	// requested point).
	Time float64 `json:"time"`
}

// withDefaults fills zero fields and validates.
func (opts PosterOptions) withDefaults() (PosterOptions, error) {
	if opts.At == 0 {
		opts.At = 0.1
	}
	if opts.MaxSide == 0 {
		opts.MaxSide = 640
	}
	if opts.Quality == 0 {
		opts.Quality = 85
	}
	if opts.At < 0 || opts.At >= 1 || opts.MaxSide < 2 || opts.Quality < 1 || opts.Quality > 100 || opts.Threads < 0 {
		return opts, fmt.Errorf("%+v", opts)
	}
	return opts, nil
}

// withDefaults fills zero fields and validates.
func (opts SpriteOptions) withDefaults() (SpriteOptions, error) {
	if opts.Tiles == 0 {
		opts.Tiles = 10
	}
	if opts.Columns == 0 {
		opts.Columns = 5
	}
	if opts.TileWidth == 0 {
		opts.TileWidth = 160
	}
	if opts.Quality == 0 {
		opts.Quality = 80
	}
	if opts.Tiles < 1 || opts.Tiles > 400 || opts.Columns < 1 || opts.TileWidth < 2 || opts.TileWidth > 1920 ||
		opts.Quality < 1 || opts.Quality > 100 || opts.Threads < 0 {
		return opts, fmt.Errorf("%+v", opts)
	}
	opts.Columns = min(opts.Columns, opts.Tiles)
	return opts, nil
}

// Poster writes one JPEG still of in's video to w: the first non-black
// frame at or after opts.At of the duration, upright and scaled.
//
// It seeks to the frame; where a seek cannot work (raw elementary streams,
// which have no timestamps) or lands on no decodable frame (some MPEG-TS),
// it decodes from the start instead.
func Poster(ctx context.Context, in string, w io.Writer, opts PosterOptions) (*PosterResult, error) {
	const op = "poster"
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, mediaErr(op, in, ErrInvalidOptions, err)
	}
	c := NewCloser()
	defer c.Close()
	g, err := newGrabber(ctx, c, in, opts.MaxSide, opts.MaxSide, opts.Threads)
	if err != nil {
		return nil, withOp(op, in, err)
	}
	var img *image.YCbCr
	var t float64
	if g.in.NoTimestamps() {
		s := newStills(c, g.in, g.duration, &opts, nil)
		if err := stillsPass(c, g.in, s, opts.Threads); err != nil {
			return nil, withOp(op, in, err)
		}
		img, t, err = s.poster.finish(s)
	} else {
		accept := func(img *image.YCbCr) bool { return opts.KeepBlack || !isBlack(img) }
		img, t, _, err = g.frameAt(g.duration*opts.At, maxPosterScan, accept)
	}
	if err != nil {
		return nil, withOp(op, in, err)
	}
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: opts.Quality}); err != nil {
		return nil, mediaErr(op, in, nil, fmt.Errorf("writing jpeg: %w", err))
	}
	b := img.Bounds()
	return &PosterResult{Width: b.Dx(), Height: b.Dy(), Time: t}, nil
}

// Sprite writes one JPEG to w holding opts.Tiles frames taken at evenly
// spaced times (the middle of each of Tiles equal slices of the duration),
// laid out left to right, top to bottom, and returns where each tile is.
// Each tile is reached by seeking, so the cost does not grow with the
// length of the file; inputs without timestamps (raw elementary streams)
// are decoded once from the start instead. Tiles past the end of what
// decodes are left out (SpriteResult.Missing), never invented.
func Sprite(ctx context.Context, in string, w io.Writer, opts SpriteOptions) (*SpriteResult, error) {
	const op = "sprite"
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, mediaErr(op, in, ErrInvalidOptions, err)
	}
	c := NewCloser()
	defer c.Close()
	g, err := newGrabber(ctx, c, in, 0, 0, opts.Threads)
	if err != nil {
		return nil, withOp(op, in, err)
	}
	var res *SpriteResult
	var sheet image.Image
	if g.in.NoTimestamps() {
		s := newStills(c, g.in, g.duration, nil, &opts)
		if s.sprite.err == nil {
			if err := stillsPass(c, g.in, s, opts.Threads); err != nil {
				return nil, withOp(op, in, err)
			}
		}
		res, sheet, err = s.sprite.finish(s)
	} else {
		res, sheet, err = g.sprite(opts)
		if errors.Is(err, errNoFrameAfterSeek) {
			// A seek landed nowhere: take every tile in one pass from the
			// start rather than decoding from the start once per tile.
			if err = g.reopen(); err == nil {
				s := newStills(c, g.in, g.duration, nil, &opts)
				if err = stillsPass(c, g.in, s, opts.Threads); err == nil {
					res, sheet, err = s.sprite.finish(s)
				}
			}
		}
	}
	if err != nil {
		return nil, withOp(op, in, err)
	}
	if err := jpeg.Encode(w, sheet, &jpeg.Options{Quality: opts.Quality}); err != nil {
		return nil, mediaErr(op, in, nil, fmt.Errorf("writing jpeg: %w", err))
	}
	return res, nil
}

// sprite takes each tile by seeking.
func (g *grabber) sprite(opts SpriteOptions) (*SpriteResult, image.Image, error) {
	res, sheet, _, err := newSpriteLayout(g.in, opts)
	if err != nil {
		return nil, nil, err
	}
	if g.duration <= 0 {
		return nil, nil, mediaErr("sprite", g.path, ErrCorruptMedia, errors.New("duration unknown: cannot space tiles"))
	}
	g.width, g.height = res.TileWidth, res.TileHeight
	for i, target := range tileTargets(g.duration, opts.Tiles) {
		img, t, pastEnd, err := g.decodeFrom(target, 1, nil, true)
		if err != nil {
			return nil, nil, err
		}
		if pastEnd && target >= t+frameDuration(g.in) {
			// The video ends before this tile (a recording cut short):
			// no tile is invented. A tile within the last frame's display
			// time shows that frame, as a player would.
			break
		}
		x, y := (i%res.Columns)*res.TileWidth, (i/res.Columns)*res.TileHeight
		draw.Draw(sheet, image.Rect(x, y, x+res.TileWidth, y+res.TileHeight), img, img.Bounds().Min, draw.Src)
		res.Tiles = append(res.Tiles, Tile{Index: i, X: x, Y: y, Time: t})
	}
	if len(res.Tiles) == 0 {
		return nil, nil, mediaErr("grab frame", g.path, ErrCorruptMedia, errors.New("no decodable video frame"))
	}
	return finishSprite(res, sheet)
}

// grabber extracts single upright, scaled frames by seeking.
type grabber struct {
	c             *Closer
	in            *Input
	path          string
	rotation      int
	width, height int // output size
	duration      float64
	startTS       int64 // file start, in the video stream time base
	threads       int
}

func newGrabber(ctx context.Context, c *Closer, path string, maxShort, maxLong, threads int) (*grabber, error) {
	in, err := OpenInput(ctx, c, path)
	if err != nil {
		return nil, err
	}
	w, h, rotation, err := stillGeometry(in, maxShort, maxLong)
	if err != nil {
		return nil, err
	}
	duration, _, err := MediaDuration(ctx, in)
	if err != nil {
		return nil, err
	}
	g := &grabber{c: c, in: in, path: path, rotation: rotation, width: w, height: h, duration: duration, threads: threads}
	g.setStart()
	return g, nil
}

func (g *grabber) setStart() {
	g.startTS = 0
	if st := g.in.FormatContext.StartTime(); st != astiav.NoPtsValue {
		g.startTS = astiav.RescaleQ(st, astiav.NewRational(1, astiav.TimeBase), g.in.Video.TimeBase())
	}
}

// errGrabbed stops the decode loop once a frame was taken.
var errGrabbed = errors.New("grabbed")

// frameAt seeks to t seconds and returns the first frame at or after t that
// accept likes, looking at most maxScan frames from t on; when none is
// accepted it returns the first frame at or after t, and when t is past the
// end of the video the last frame of the file with pastEnd set. Each call
// has its own decoder and filter, freed before it returns, so memory stays
// flat however many frames are taken.
//
// A seek that lands on no decodable frame at all (MPEG-TS whose index
// points between keyframes, streams with broken timestamps) is retried
// once from the very start of the file, decoding forward to t.
func (g *grabber) frameAt(t float64, maxScan int, accept func(*image.YCbCr) bool) (*image.YCbCr, float64, bool, error) {
	img, ft, pastEnd, err := g.decodeFrom(t, maxScan, accept, true)
	if errors.Is(err, errNoFrameAfterSeek) {
		if err := g.reopen(); err != nil {
			return nil, 0, false, err
		}
		img, ft, pastEnd, err = g.decodeFrom(t, maxScan, accept, false)
	}
	return img, ft, pastEnd, err
}

// errNoFrameAfterSeek: the seek left nothing decodable to read.
var errNoFrameAfterSeek = errors.New("no decodable video frame")

// reopen replaces the input with a fresh demuxer at the start of the file
// (a seek back to 0 is not reliable on the inputs where a seek failed).
func (g *grabber) reopen() error {
	in, err := OpenInput(g.in.ctx, g.c, g.path)
	if err != nil {
		return err
	}
	if in.Video == nil {
		return mediaErr("open video", g.path, ErrNoVideo, nil)
	}
	g.in = in
	g.setStart()
	return nil
}

func (g *grabber) decodeFrom(t float64, maxScan int, accept func(*image.YCbCr) bool, seek bool) (*image.YCbCr, float64, bool, error) {
	c := NewCloser()
	defer c.Close()
	s := g.in.Video
	tb := s.TimeBase()
	target := g.startTS + int64(t/tb.Float64())
	if seek {
		// A failed seek (unseekable input) is not fatal: decoding forward
		// from where we are still reaches t, just more slowly.
		_ = g.in.FormatContext.SeekFrame(s.Index(), target, astiav.NewSeekFlags(astiav.SeekFlagBackward))
	}
	d, err := NewDecoder(c, g.in, s, g.threads)
	if err != nil {
		return nil, 0, false, err
	}
	scaler := newStillScaler(g.rotation, g.width, g.height)
	var first, last *image.YCbCr
	var firstT, lastT float64
	var chosen *image.YCbCr
	var chosenT float64
	scanned := 0
	err = DecodeStreams(c, g.in, []*Decoder{d}, func(_ *Decoder, f *astiav.Frame) error {
		pts := f.Pts()
		ft := float64(pts-g.startTS) * tb.Float64()
		img, err := scaler.image(c, f, tb)
		if err != nil {
			return err
		}
		if img == nil {
			return nil // the filter buffers; only happens with frame-delaying filters
		}
		last, lastT = img, ft
		if pts < target {
			return nil
		}
		if first == nil {
			first, firstT = img, ft
		}
		scanned++
		if accept == nil || accept(img) {
			chosen, chosenT = img, ft
			return errGrabbed
		}
		if scanned >= maxScan {
			return errGrabbed
		}
		return nil
	})
	if err != nil && !errors.Is(err, errGrabbed) {
		return nil, 0, false, err
	}
	switch {
	case chosen != nil:
		return chosen, chosenT, false, nil
	case first != nil:
		return first, firstT, false, nil
	case last != nil:
		return last, lastT, true, nil
	}
	return nil, 0, false, mediaErr("grab frame", g.path, ErrCorruptMedia, errNoFrameAfterSeek)
}

// stillsPass decodes in's video from where it stands, handing every frame
// (pts made relative to the file start) to s until s needs no more.
func stillsPass(c *Closer, in *Input, s *stills, threads int) error {
	d, err := NewDecoder(c, in, in.Video, threads)
	if err != nil {
		return err
	}
	var start int64
	if st := in.FormatContext.StartTime(); st != astiav.NoPtsValue {
		start = astiav.RescaleQ(st, astiav.NewRational(1, astiav.TimeBase), d.TimeBase())
	}
	err = DecodeStreams(c, in, []*Decoder{d}, func(_ *Decoder, f *astiav.Frame) error {
		f.SetPts(f.Pts() - start)
		s.take(f)
		if s.done() {
			return errGrabbed
		}
		return nil
	})
	if errors.Is(err, errGrabbed) {
		return nil
	}
	return err
}

// frameToYCbCr copies a yuv(j)420p frame into a Go image through
// av_image_copy_to_buffer, which copies exactly the planes' pixels (no
// reads past the planes, whatever the line padding).
func frameToYCbCr(f *astiav.Frame) (*image.YCbCr, error) {
	w, h := f.Width(), f.Height()
	size, err := f.ImageBufferSize(1)
	if err != nil {
		return nil, err
	}
	cw, ch := (w+1)/2, (h+1)/2
	if size != w*h+2*cw*ch {
		return nil, fmt.Errorf("unexpected frame layout %s %dx%d (%d bytes)", f.PixelFormat(), w, h, size)
	}
	buf := make([]byte, size)
	if _, err := f.ImageCopyToBuffer(buf, 1); err != nil {
		return nil, err
	}
	return &image.YCbCr{
		Y: buf[:w*h], Cb: buf[w*h : w*h+cw*ch], Cr: buf[w*h+cw*ch:],
		YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect: image.Rect(0, 0, w, h),
	}, nil
}

// isBlack reports a picture whose mean luma is under 10% and which has
// almost no detail: a lens cap, a fade, a camera still starting up.
func isBlack(img *image.YCbCr) bool {
	b := img.Bounds()
	var sum, bright uint64
	n := uint64(b.Dx() * b.Dy())
	if n == 0 {
		return true
	}
	for y := range b.Dy() {
		row := img.Y[y*img.YStride : y*img.YStride+b.Dx()]
		for _, v := range row {
			sum += uint64(v)
			if v > 64 {
				bright++
			}
		}
	}
	return sum/n < 26 && bright*100 < n
}
