package devseed

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"image"
	_ "image/jpeg" // the embedded photographs
	"math"
	"os"
	"path/filepath"
	"strings"
)

// The photographs are freely licensed (public domain or CC0; see
// faces/SOURCES.md): copies of files in redact/testdata/faces.
//
//go:embed faces/*.jpg
var facePhotos embed.FS

// FaceActor is one photographed face moving through a FaceClip: its
// centre starts at (X, Y), a fraction of the frame, and sways by (AX, AY)
// of the frame with period Period seconds, so it crosses the picture and
// comes back (detection, tracking and the editor all have motion to
// follow).
type FaceActor struct {
	Photo         string  // file name under faces/, e.g. "person02.jpg"
	Height        int     // face photo height in pixels, even
	X, Y, AX, AY  float64 // fractions of the frame
	Period, Phase float64 // seconds, radians
}

// FaceClip describes a recording made by MakeFaceClip: actors over a
// photographed background.
type FaceClip struct {
	Seconds       int
	Width, Height int // even
	FPS           int
	Background    string // file name under faces/
	Actors        []FaceActor
}

// MakeFaceClip writes an H.264 MP4 of real faces moving over a background
// to out. Frames are composed in Go (bilinear scaling, 4:2:0) and encoded
// with transcode.Proxy like MakeDemoClip's.
func MakeFaceClip(ctx context.Context, dir, out string, c FaceClip) error {
	if c.Width%2 != 0 || c.Height%2 != 0 || c.Width <= 0 || c.Height <= 0 || c.FPS <= 0 || c.Seconds <= 0 {
		return fmt.Errorf("face clip: bad geometry %+v", c)
	}
	bg, err := loadPlanes(c.Background, c.Width, c.Height)
	if err != nil {
		return err
	}
	actors := make([]*yuvPlanes, len(c.Actors))
	for i, a := range c.Actors {
		if a.Height <= 0 || a.Height%2 != 0 || a.Height > c.Height {
			return fmt.Errorf("face clip: actor %s: bad height %d", a.Photo, a.Height)
		}
		if actors[i], err = loadPlanes(a.Photo, 0, a.Height); err != nil {
			return err
		}
	}
	w, h := c.Width, c.Height
	return encodeFrames(ctx, dir, out, w, h, c.FPS, c.Seconds*c.FPS, func(n int, y, u, v []byte) {
		copy(y, bg.y)
		copy(u, bg.u)
		copy(v, bg.v)
		t := float64(n) / float64(c.FPS)
		for i, a := range c.Actors {
			p := actors[i]
			x0, y0 := a.position(t, w, h, p.w, p.h)
			p.blit(y, u, v, w, h, x0, y0)
		}
	})
}

// position is the actor's top-left corner at t (even, inside the frame).
func (a FaceActor) position(t float64, w, h, pw, ph int) (int, int) {
	period := a.Period
	if period <= 0 {
		period = 4
	}
	s := math.Sin(2*math.Pi*t/period + a.Phase)
	cx := (a.X + a.AX*s) * float64(w)
	cy := (a.Y + a.AY*math.Cos(2*math.Pi*t/period+a.Phase)) * float64(h)
	x := clampEven(int(cx)-pw/2, w-pw)
	y := clampEven(int(cy)-ph/2, h-ph)
	return x, y
}

func clampEven(v, max int) int {
	if v > max {
		v = max
	}
	if v < 0 {
		v = 0
	}
	return v &^ 1
}

// FaceBox is where actor i of c is at t, in frame pixels (what a detector
// should find, give or take the photo's margin around the face).
func (c FaceClip) FaceBox(i int, t float64) (x, y, w, h int, err error) {
	a := c.Actors[i]
	p, err := loadPlanes(a.Photo, 0, a.Height)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	x, y = a.position(t, c.Width, c.Height, p.w, p.h)
	return x, y, p.w, p.h, nil
}

// yuvPlanes is a picture in 8-bit 4:2:0 (BT.601 full range, as the Y4M
// header's C420jpeg says).
type yuvPlanes struct {
	w, h    int
	y, u, v []byte
}

// loadPlanes decodes an embedded photograph and scales it to w×h; w 0
// keeps the aspect ratio (rounded to even).
func loadPlanes(name string, w, h int) (*yuvPlanes, error) {
	b, err := facePhotos.ReadFile("faces/" + name)
	if err != nil {
		return nil, fmt.Errorf("face clip: photo %s: %w", name, err)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("face clip: decode %s: %w", name, err)
	}
	sb := img.Bounds()
	if w == 0 {
		w = int(math.Round(float64(sb.Dx())*float64(h)/float64(sb.Dy())/2)) * 2
	}
	p := &yuvPlanes{w: w, h: h, y: make([]byte, w*h), u: make([]byte, w*h/4), v: make([]byte, w*h/4)}
	// Bilinear sampling of the source's RGB at each output pixel centre.
	rgb := make([][3]float64, sb.Dx()*sb.Dy())
	for j := 0; j < sb.Dy(); j++ {
		for i := 0; i < sb.Dx(); i++ {
			r, g, bl, _ := img.At(sb.Min.X+i, sb.Min.Y+j).RGBA()
			rgb[j*sb.Dx()+i] = [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
		}
	}
	sample := func(fx, fy float64) [3]float64 {
		fx = math.Max(0, math.Min(fx, float64(sb.Dx()-1)))
		fy = math.Max(0, math.Min(fy, float64(sb.Dy()-1)))
		x0, y0 := int(fx), int(fy)
		x1, y1 := min(x0+1, sb.Dx()-1), min(y0+1, sb.Dy()-1)
		ax, ay := fx-float64(x0), fy-float64(y0)
		var o [3]float64
		for k := 0; k < 3; k++ {
			top := rgb[y0*sb.Dx()+x0][k]*(1-ax) + rgb[y0*sb.Dx()+x1][k]*ax
			bot := rgb[y1*sb.Dx()+x0][k]*(1-ax) + rgb[y1*sb.Dx()+x1][k]*ax
			o[k] = top*(1-ay) + bot*ay
		}
		return o
	}
	kx, ky := float64(sb.Dx())/float64(w), float64(sb.Dy())/float64(h)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			c := sample((float64(i)+0.5)*kx-0.5, (float64(j)+0.5)*ky-0.5)
			p.y[j*w+i] = clamp8(0.299*c[0] + 0.587*c[1] + 0.114*c[2])
			if i%2 == 0 && j%2 == 0 {
				c = sample((float64(i)+1)*kx-0.5, (float64(j)+1)*ky-0.5) // the 2×2 block's centre
				p.u[(j/2)*(w/2)+i/2] = clamp8(128 - 0.168736*c[0] - 0.331264*c[1] + 0.5*c[2])
				p.v[(j/2)*(w/2)+i/2] = clamp8(128 + 0.5*c[0] - 0.418688*c[1] - 0.081312*c[2])
			}
		}
	}
	return p, nil
}

func clamp8(f float64) byte {
	switch {
	case f <= 0:
		return 0
	case f >= 255:
		return 255
	}
	return byte(f + 0.5)
}

// blit copies p onto a w×h 4:2:0 frame with its top-left corner at
// (x0, y0), both even, clipped to the frame.
func (p *yuvPlanes) blit(y, u, v []byte, w, h, x0, y0 int) {
	cw := min(p.w, w-x0)
	for j := 0; j < p.h && y0+j < h; j++ {
		copy(y[(y0+j)*w+x0:(y0+j)*w+x0+cw], p.y[j*p.w:j*p.w+cw])
	}
	for j := 0; j < p.h/2 && y0/2+j < h/2; j++ {
		d := (y0/2+j)*(w/2) + x0/2
		s := j * (p.w / 2)
		copy(u[d:d+cw/2], p.u[s:s+cw/2])
		copy(v[d:d+cw/2], p.v[s:s+cw/2])
	}
}

// faceClips are the demo recordings of real faces (see demoRecordings):
// 6 s of 720p each, two and three people whose paths never overlap (so
// each face stays a face the detector can find).
var faceClips = map[string]FaceClip{
	"lobby": {Seconds: 6, Width: 1280, Height: 720, FPS: 25, Background: "bg-brick.jpg", Actors: []FaceActor{
		{Photo: "person02.jpg", Height: 220, X: 0.25, Y: 0.45, AX: 0.12, AY: 0.05, Period: 6},
		{Photo: "person04.jpg", Height: 180, X: 0.72, Y: 0.5, AX: 0.1, AY: 0.08, Period: 5, Phase: 1.5},
	}},
	"launch": {Seconds: 6, Width: 1280, Height: 720, FPS: 25, Background: "bg-rocket.jpg", Actors: []FaceActor{
		{Photo: "person03.jpg", Height: 200, X: 0.15, Y: 0.4, AX: 0.06, AY: 0.1, Period: 6},
		{Photo: "person02.jpg", Height: 160, X: 0.5, Y: 0.6, AX: 0.12, AY: 0.04, Period: 6, Phase: 2},
		{Photo: "person04.jpg", Height: 240, X: 0.84, Y: 0.45, AX: 0.04, AY: 0.06, Period: 4, Phase: 4},
	}},
}

// DemoFaceClip returns the description of the demo face clip name
// ("lobby", "launch"), so tests can say where each face is (FaceBox)
// without asking any detector.
func DemoFaceClip(name string) (FaceClip, bool) {
	c, ok := faceClips[name]
	return c, ok
}

// faceClipFile returns the cached clip for name under cache, making it
// first if needed. The file name carries a digest of the clip's
// description, so a changed description makes a new file and an
// unchanged one is never encoded twice (restarts stay quick).
func faceClipFile(ctx context.Context, cache, name string) (string, error) {
	c, ok := faceClips[name]
	if !ok {
		return "", fmt.Errorf("face clip %q: unknown", name)
	}
	key := fnv64(fmt.Sprintf("v1 %+v", c))
	path := filepath.Join(cache, fmt.Sprintf("faces-%s-%016x.mp4", name, key))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	tmp := strings.TrimSuffix(path, ".mp4") + ".part.mp4" // Proxy picks the container by extension
	if err := MakeFaceClip(ctx, cache, tmp, c); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
