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

// Poster writes one JPEG still of in's video to w: the first non-black
// frame at or after opts.At of the duration, upright and scaled.
func Poster(ctx context.Context, in string, w io.Writer, opts PosterOptions) (*PosterResult, error) {
	const op = "poster"
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
		return nil, mediaErr(op, in, ErrInvalidOptions, fmt.Errorf("%+v", opts))
	}
	c := NewCloser()
	defer c.Close()
	g, err := newGrabber(ctx, c, in, opts.MaxSide, opts.MaxSide, opts.Threads)
	if err != nil {
		return nil, withOp(op, in, err)
	}
	accept := func(img *image.YCbCr) bool { return opts.KeepBlack || !isBlack(img) }
	// Look at up to 250 frames (10 s at 25 fps) for a non-black one; a clip
	// that stays black that long gets its first frame, black or not.
	img, t, err := g.frameAt(g.duration*opts.At, 250, accept)
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
// length of the file.
func Sprite(ctx context.Context, in string, w io.Writer, opts SpriteOptions) (*SpriteResult, error) {
	const op = "sprite"
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
		return nil, mediaErr(op, in, ErrInvalidOptions, fmt.Errorf("%+v", opts))
	}
	opts.Columns = min(opts.Columns, opts.Tiles)
	c := NewCloser()
	defer c.Close()
	// Bound only the width: tiles keep the picture's aspect ratio.
	g, err := newGrabber(ctx, c, in, 0, 0, opts.Threads)
	if err != nil {
		return nil, withOp(op, in, err)
	}
	tw := opts.TileWidth
	th := int(float64(tw)*float64(g.height)/float64(g.width)/2+0.5) * 2
	th = max(th, 2)
	tw = tw / 2 * 2
	g.width, g.height = tw, th
	if g.duration <= 0 {
		return nil, mediaErr(op, in, ErrCorruptMedia, errors.New("duration unknown: cannot space tiles"))
	}
	rows := (opts.Tiles + opts.Columns - 1) / opts.Columns
	res := &SpriteResult{
		Width: tw * opts.Columns, Height: th * rows, TileWidth: tw, TileHeight: th,
		Columns: opts.Columns, Rows: rows,
	}
	sheet := image.NewRGBA(image.Rect(0, 0, res.Width, res.Height))
	for i := range opts.Tiles {
		target := g.duration * (float64(i) + 0.5) / float64(opts.Tiles)
		img, t, err := g.frameAt(target, 1, nil)
		if err != nil {
			return nil, withOp(op, in, err)
		}
		x, y := (i%opts.Columns)*tw, (i/opts.Columns)*th
		draw.Draw(sheet, image.Rect(x, y, x+tw, y+th), img, img.Bounds().Min, draw.Src)
		res.Tiles = append(res.Tiles, Tile{Index: i, X: x, Y: y, Time: t})
	}
	if err := jpeg.Encode(w, sheet, &jpeg.Options{Quality: opts.Quality}); err != nil {
		return nil, mediaErr(op, in, nil, fmt.Errorf("writing jpeg: %w", err))
	}
	return res, nil
}

// grabber extracts single upright, scaled frames by seeking.
type grabber struct {
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
	if in.Video == nil {
		return nil, mediaErr("open video", path, ErrNoVideo, nil)
	}
	cp := in.Video.CodecParameters()
	if cp.Width() <= 0 || cp.Height() <= 0 {
		return nil, mediaErr("open video", path, ErrCorruptMedia, fmt.Errorf("video stream has no size (%dx%d)", cp.Width(), cp.Height()))
	}
	g := &grabber{in: in, path: path, rotation: StreamRotation(in.Video), duration: in.Duration(), threads: threads}
	sar := in.FormatContext.GuessSampleAspectRatio(in.Video, nil)
	if maxShort == 0 {
		maxShort, maxLong = 1<<20, 1<<20
	}
	g.width, g.height = ProxySize(cp.Width(), cp.Height(), sar, g.rotation, maxShort, maxLong)
	if st := in.FormatContext.StartTime(); st != astiav.NoPtsValue {
		g.startTS = astiav.RescaleQ(st, astiav.NewRational(1, astiav.TimeBase), in.Video.TimeBase())
	}
	return g, nil
}

// errGrabbed stops the decode loop once a frame was taken.
var errGrabbed = errors.New("grabbed")

// frameAt seeks to t seconds and returns the first frame at or after t that
// accept likes, looking at most maxScan frames from t on; when none is
// accepted it returns the first frame at or after t (or the last frame of the
// file when t is past the end). Each call has its own decoder and filter,
// freed before it returns, so memory stays flat however many frames are
// taken.
func (g *grabber) frameAt(t float64, maxScan int, accept func(*image.YCbCr) bool) (*image.YCbCr, float64, error) {
	c := NewCloser()
	defer c.Close()
	s := g.in.Video
	tb := s.TimeBase()
	target := g.startTS + int64(t/tb.Float64())
	// A failed seek (unseekable input) is not fatal: decoding forward from
	// where we are still reaches t, just more slowly.
	_ = g.in.FormatContext.SeekFrame(s.Index(), target, astiav.NewSeekFlags(astiav.SeekFlagBackward))
	d, err := NewDecoder(c, g.in, s, g.threads)
	if err != nil {
		return nil, 0, err
	}
	spec := ""
	if r := RotationFilter(g.rotation); r != "" {
		spec = r + ","
	}
	spec += fmt.Sprintf("scale=%d:%d:flags=bicubic,format=yuvj420p,setsar=1", g.width, g.height)
	var vf *FilterGraph
	var vSrc VideoSource
	var first, last *image.YCbCr
	var firstT, lastT float64
	var chosen *image.YCbCr
	var chosenT float64
	scanned := 0
	err = DecodeStreams(c, g.in, []*Decoder{d}, func(_ *Decoder, f *astiav.Frame) error {
		// A new graph when the picture size or format changes midway (the
		// old one is freed with this call's Closer).
		if src := VideoSourceOf(f, tb); vf == nil || !sameVideoSource(src, vSrc) {
			var err error
			if vf, err = NewVideoFilter(c, src, spec, 1); err != nil {
				return err
			}
			vSrc = src
		}
		pts := f.Pts()
		ft := float64(pts-g.startTS) * tb.Float64()
		var img *image.YCbCr
		if err := vf.Push(f, func(o *astiav.Frame) error {
			var err error
			img, err = frameToYCbCr(o)
			return err
		}); err != nil {
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
		return nil, 0, err
	}
	switch {
	case chosen != nil:
		return chosen, chosenT, nil
	case first != nil:
		return first, firstT, nil
	case last != nil:
		return last, lastT, nil
	}
	return nil, 0, mediaErr("grab frame", g.path, ErrCorruptMedia, errors.New("no decodable video frame"))
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
