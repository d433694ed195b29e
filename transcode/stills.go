package transcode

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"math"

	"github.com/asticode/go-astiav"
)

// stills makes the poster and the sprite from frames handed to it as a
// decoding pass goes by (Process's single pass, or a thumbnail-only pass),
// so neither needs a seek or a decode of its own. Each output keeps its own
// error: a failure of one never stops the pass or the other outputs.
//
// Frames arrive with pts relative to the start of the file, in the video
// stream's time base; only the frames a still actually uses are scaled and
// copied into Go memory, so the cost beside a proxy is a few small scales.
type stills struct {
	path   string
	c      *Closer // the pass's Closer: filter graphs are registered on sub-Closers of it
	tb     astiav.Rational
	poster *posterTaker
	sprite *spriteTaker
}

// stillScaler turns a decoded frame into an upright, scaled yuvj420p Go
// image through a filter graph built from the first frame and rebuilt when
// the picture size or format changes midway.
type stillScaler struct {
	spec   string
	g      *FilterGraph
	src    VideoSource
	closer *Closer
}

func newStillScaler(rotation, w, h int) stillScaler {
	spec := ""
	if r := RotationFilter(rotation); r != "" {
		spec = r + ","
	}
	spec += fmt.Sprintf("scale=%d:%d:flags=bicubic,format=yuvj420p,setsar=1", w, h)
	return stillScaler{spec: spec}
}

func (s *stillScaler) image(parent *Closer, f *astiav.Frame, tb astiav.Rational) (*image.YCbCr, error) {
	if src := VideoSourceOf(f, tb); s.g == nil || !sameVideoSource(src, s.src) {
		if s.closer != nil {
			_ = s.closer.Close()
		}
		s.closer = NewCloser()
		parent.AddWithError(s.closer.Close)
		var err error
		if s.g, err = NewVideoFilter(s.closer, src, s.spec, 1); err != nil {
			s.g = nil
			return nil, err
		}
		s.src = src
	}
	var img *image.YCbCr
	err := s.g.Push(f, func(o *astiav.Frame) error {
		var err error
		img, err = frameToYCbCr(o)
		return err
	})
	return img, err
}

// stillGeometry is the upright size of in's video at most maxShort ×
// maxLong (unbounded when maxShort is 0), and its rotation.
func stillGeometry(in *Input, maxShort, maxLong int) (w, h, rotation int, err error) {
	if in.Video == nil {
		return 0, 0, 0, mediaErr("open video", in.Path, ErrNoVideo, nil)
	}
	cp := in.Video.CodecParameters()
	if cp.Width() <= 0 || cp.Height() <= 0 {
		return 0, 0, 0, mediaErr("open video", in.Path, ErrCorruptMedia, fmt.Errorf("video stream has no size (%dx%d)", cp.Width(), cp.Height()))
	}
	rotation = StreamRotation(in.Video)
	sar := in.FormatContext.GuessSampleAspectRatio(in.Video, nil)
	if maxShort == 0 {
		maxShort, maxLong = 1<<20, 1<<20
	}
	w, h = ProxySize(cp.Width(), cp.Height(), sar, rotation, maxShort, maxLong)
	return w, h, rotation, nil
}

// posterTaker keeps the first non-black frame at or after its target.
type posterTaker struct {
	opts    PosterOptions
	target  float64
	scaler  stillScaler
	scanned int
	// first is the first frame at or after the target, kept in case none
	// of the scanned frames is accepted.
	first, chosen   *image.YCbCr
	firstT, chosenT float64
	// last is a reference to the latest frame before the target: the
	// poster of a recording shorter than its declared duration.
	last  *astiav.Frame
	lastT float64
	err   error
}

// maxPosterScan bounds the look for a non-black frame: 10 s at 25 fps. A
// clip that stays black that long gets its first frame, black or not.
const maxPosterScan = 250

func (p *posterTaker) done() bool { return p.err != nil || p.chosen != nil }

func (p *posterTaker) take(s *stills, f *astiav.Frame, t float64) {
	if p.done() {
		return
	}
	if t < p.target-1e-6 {
		if p.last == nil {
			p.last = astiav.AllocFrame()
			s.c.Add(p.last.Free)
		}
		p.last.Unref()
		if err := p.last.Ref(f); err != nil {
			p.err = mediaErr("poster: keep frame", s.path, nil, err)
		}
		p.lastT = t
		return
	}
	img, err := p.scaler.image(s.c, f, s.tb)
	if err != nil {
		p.err = withOp("poster", s.path, err)
		return
	}
	if img == nil {
		return
	}
	if p.first == nil {
		p.first, p.firstT = img, t
	}
	p.scanned++
	switch {
	case p.opts.KeepBlack || !isBlack(img):
		p.chosen, p.chosenT = img, t
	case p.scanned >= maxPosterScan:
		p.chosen, p.chosenT = p.first, p.firstT
	}
}

// finish returns the poster image: the accepted frame, else the first at
// or after the target, else the last frame of the file.
func (p *posterTaker) finish(s *stills) (*image.YCbCr, float64, error) {
	switch {
	case p.err != nil:
		return nil, 0, p.err
	case p.chosen != nil:
		return p.chosen, p.chosenT, nil
	case p.first != nil:
		return p.first, p.firstT, nil
	case p.last != nil:
		img, err := p.scaler.image(s.c, p.last, s.tb)
		if err != nil {
			return nil, 0, withOp("poster", s.path, err)
		}
		if img != nil {
			return img, p.lastT, nil
		}
	}
	return nil, 0, mediaErr("poster: grab frame", s.path, ErrCorruptMedia, errors.New("no decodable video frame"))
}

// spriteTaker draws, for each tile, the first frame at or after the
// tile's time. Tiles whose time the decoded video never reaches (a file cut
// short) are left out, never filled with a repeated frame.
type spriteTaker struct {
	targets []float64
	next    int
	// last is the latest frame seen and frameDur the nominal frame
	// duration: a tile whose time falls within the last frame's display
	// (a one-frame recording, the final frame) shows that frame.
	last     *astiav.Frame
	lastT    float64
	frameDur float64
	scaler   stillScaler
	res      *SpriteResult
	sheet    *image.RGBA
	err      error
}

func (sp *spriteTaker) done() bool { return sp.err != nil || sp.next >= len(sp.targets) }

func (sp *spriteTaker) take(s *stills, f *astiav.Frame, t float64) {
	if sp.done() {
		return
	}
	if t < sp.targets[sp.next]-1e-6 {
		if sp.last == nil {
			sp.last = astiav.AllocFrame()
			s.c.Add(sp.last.Free)
		}
		sp.last.Unref()
		if err := sp.last.Ref(f); err != nil {
			sp.err = mediaErr("sprite: keep frame", s.path, nil, err)
		}
		sp.lastT = t
		return
	}
	sp.draw(s, f, t, math.Inf(-1))
	if sp.last != nil {
		sp.last.Unref()
	}
}

// draw puts f (at time t) into every pending tile whose time is at or
// before t, or before until, whichever is earlier.
func (sp *spriteTaker) draw(s *stills, f *astiav.Frame, t, until float64) {
	img, err := sp.scaler.image(s.c, f, s.tb)
	if err != nil {
		sp.err = withOp("sprite", s.path, err)
		return
	}
	if img == nil {
		return
	}
	// One frame may stand for several tiles when the frame rate is lower
	// than the tile rate (1 fps CCTV): it is the first frame at or after
	// each of them.
	for sp.next < len(sp.targets) && (t >= sp.targets[sp.next]-1e-6 || sp.targets[sp.next] < until) {
		i := sp.next
		x, y := (i%sp.res.Columns)*sp.res.TileWidth, (i/sp.res.Columns)*sp.res.TileHeight
		draw.Draw(sp.sheet, image.Rect(x, y, x+sp.res.TileWidth, y+sp.res.TileHeight), img, img.Bounds().Min, draw.Src)
		sp.res.Tiles = append(sp.res.Tiles, Tile{Index: i, X: x, Y: y, Time: t})
		sp.next++
	}
}

func (sp *spriteTaker) finish(s *stills) (*SpriteResult, image.Image, error) {
	if sp.err == nil && sp.last != nil && sp.next < len(sp.targets) && sp.targets[sp.next] < sp.lastT+sp.frameDur {
		// The stream ended while its last frame was still on screen at
		// the next tile's time: that frame is what a player shows there.
		sp.draw(s, sp.last, sp.lastT, sp.lastT+sp.frameDur)
	}
	if sp.err != nil {
		return nil, nil, sp.err
	}
	if len(sp.res.Tiles) == 0 {
		return nil, nil, mediaErr("sprite: grab frame", s.path, ErrCorruptMedia, errors.New("no decodable video frame"))
	}
	return finishSprite(sp.res, sp.sheet)
}

// finishSprite crops a sheet with missing tiles at the end (a recording
// shorter than declared) to the rows that hold tiles.
func finishSprite(res *SpriteResult, sheet *image.RGBA) (*SpriteResult, image.Image, error) {
	res.Missing = res.Requested - len(res.Tiles)
	if res.Missing > 0 {
		res.Rows = (len(res.Tiles) + res.Columns - 1) / res.Columns
		res.Height = res.Rows * res.TileHeight
		return res, sheet.SubImage(image.Rect(0, 0, res.Width, res.Height)), nil
	}
	return res, sheet, nil
}

// newSpriteLayout validates opts (defaults applied) and lays out the sheet
// for in's picture.
func newSpriteLayout(in *Input, opts SpriteOptions) (*SpriteResult, *image.RGBA, int, error) {
	uw, uh, rotation, err := stillGeometry(in, 0, 0)
	if err != nil {
		return nil, nil, 0, err
	}
	tw := opts.TileWidth
	th := int(float64(tw)*float64(uh)/float64(uw)/2+0.5) * 2
	th = max(th, 2)
	tw = tw / 2 * 2
	rows := (opts.Tiles + opts.Columns - 1) / opts.Columns
	res := &SpriteResult{
		Width: tw * opts.Columns, Height: th * rows, TileWidth: tw, TileHeight: th,
		Columns: opts.Columns, Rows: rows, Requested: opts.Tiles, Tiles: []Tile{},
	}
	return res, image.NewRGBA(image.Rect(0, 0, res.Width, res.Height)), rotation, nil
}

// tileTargets are the middles of n equal slices of duration.
func tileTargets(duration float64, n int) []float64 {
	t := make([]float64, n)
	for i := range n {
		t[i] = duration * (float64(i) + 0.5) / float64(n)
	}
	return t
}

// newStills prepares the takers asked for (nil options: not wanted). An
// output that cannot be made at all (no video, unknown duration for a
// sprite) gets its error now and takes no frames.
func newStills(c *Closer, in *Input, duration float64, poster *PosterOptions, sprite *SpriteOptions) *stills {
	s := &stills{path: in.Path, c: c}
	if in.Video != nil {
		s.tb = in.Video.TimeBase()
	}
	if poster != nil {
		p := &posterTaker{opts: *poster, target: duration * poster.At}
		w, h, rot, err := stillGeometry(in, poster.MaxSide, poster.MaxSide)
		if err != nil {
			p.err = withOp("poster", in.Path, err)
		}
		p.scaler = newStillScaler(rot, w, h)
		s.poster = p
	}
	if sprite != nil {
		sp := &spriteTaker{}
		res, sheet, rot, err := newSpriteLayout(in, *sprite)
		switch {
		case err != nil:
			sp.err = withOp("sprite", in.Path, err)
		case duration <= 0:
			sp.err = mediaErr("sprite", in.Path, ErrCorruptMedia, errors.New("duration unknown: cannot space tiles"))
		default:
			sp.res, sp.sheet = res, sheet
			sp.targets = tileTargets(duration, sprite.Tiles)
			sp.frameDur = frameDuration(in)
			sp.scaler = newStillScaler(rot, res.TileWidth, res.TileHeight)
		}
		s.sprite = sp
	}
	return s
}

// done reports that no taker wants more frames.
func (s *stills) done() bool {
	return (s.poster == nil || s.poster.done()) && (s.sprite == nil || s.sprite.done())
}

// take offers one decoded video frame whose pts is relative to the start
// of the file.
func (s *stills) take(f *astiav.Frame) {
	t := float64(f.Pts()) * s.tb.Float64()
	if s.poster != nil {
		s.poster.take(s, f, t)
	}
	if s.sprite != nil {
		s.sprite.take(s, f, t)
	}
}

// frameDuration is the nominal duration of one video frame in seconds (0
// when the frame rate is unknown).
func frameDuration(in *Input) float64 {
	if in.Video == nil {
		return 0
	}
	fr := in.FormatContext.GuessFrameRate(in.Video, nil)
	if fr.Num() <= 0 || fr.Den() <= 0 {
		return 0
	}
	return float64(fr.Den()) / float64(fr.Num())
}
