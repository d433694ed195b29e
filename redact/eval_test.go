package redact

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The evaluation set: real photographs of eleven people (testdata/faces,
// SOURCES.md) moved across real backgrounds by the ffmpeg CLI, so the true
// face box is known on every frame. Detect (as `demsd detect` runs it)
// proposes regions; each frame is scored against the truth:
//
//   - a face is on a frame when at least a quarter of it is inside the
//     picture; it is hidden when 95 % of its visible part (points of the
//     ellipse inscribed in its box, turned with the head) lies inside a
//     region's shape at that frame's time;
//   - recall = hidden / on-frame face-frames, per class;
//   - longest leaked run = the most consecutive frames one face is bare;
//   - over-redaction = region area outside every face box, as a share of
//     the picture's non-face area, averaged over frames;
//   - touched = share of frames with any region (on footage without faces).
//
// Targets (issue 17) are asserted where met; where the detector does not
// meet one, the test asserts what it achieves and docs/redaction.md states
// the gap. The results table is logged (go test -v -run TestRedactionQuality).

// evalActor is one photograph moving in a clip: its centre at
// (cx + vx·t, cy + vy·t), height h pixels, turned by
// tilt·sin(2π·t/period) degrees (clockwise positive, as ffmpeg's rotate).
type evalActor struct {
	photo          string
	h              float64
	cx, cy, vx, vy float64
	tilt, period   float64
}

type evalClip struct {
	name, class string
	w, h        int
	fps         int
	seconds     float64
	bg          string
	actors      []evalActor
	shake       float64 // camera shake amplitude (pixels)
	dark        bool    // low light with sensor noise
}

const (
	classFrontal = "frontal"
	classSeveral = "several faces"
	classWalkIn  = "walk-in / frame 0"
	classFast    = "fast motion + shake"
	classSmall   = "small faces (40-56 px at 1080p)"
	classTiny    = "tiny faces (24-32 px at 1080p)"
	classTilt    = "tilt up to 25°"
	classDark    = "low light + noise"
	classNoFace  = "no face (animals, scenes)"
)

// faceH returns the photo height that gives photo's face box a height of
// px pixels.
func photoHeightForFace(photo string, px float64) float64 {
	for _, ef := range evalFaces {
		if ef.file == photo {
			return px * 240 / ef.face.H
		}
	}
	panic("no such photo " + photo)
}

func evalClips() []evalClip {
	return []evalClip{
		{name: "frontal-pan", class: classFrontal, bg: "bg-coffee.jpg", actors: []evalActor{{photo: "person02.jpg", h: 150, cx: 300, cy: 330, vx: 80}}},
		{name: "frontal-static-mid", class: classFrontal, bg: "bg-building.jpg", actors: []evalActor{{photo: "person05.jpg", h: 320, cx: 640, cy: 360}}},
		{name: "frontal-static-large", class: classFrontal, bg: "bg-home.jpg", actors: []evalActor{{photo: "person08.jpg", h: 700, cx: 640, cy: 360}}},
		{name: "frontal-small-slow", class: classFrontal, bg: "bg-brick.jpg", actors: []evalActor{{photo: "person04.jpg", h: 100, cx: 900, cy: 300, vx: -40, vy: 10}}},
		{name: "frontal-mid-pan", class: classFrontal, bg: "bg-rocket.jpg", actors: []evalActor{{photo: "person10.jpg", h: 220, cx: 400, cy: 380, vx: 120}}},
		{name: "several-three", class: classSeveral, bg: "bg-building.jpg", actors: []evalActor{
			{photo: "person01.jpg", h: 180, cx: 200, cy: 200, vx: 90},
			{photo: "person06.jpg", h: 220, cx: 1050, cy: 450, vx: -110},
			{photo: "person09.jpg", h: 150, cx: 640, cy: 560}}},
		{name: "several-four", class: classSeveral, bg: "bg-home.jpg", actors: []evalActor{
			{photo: "person03.jpg", h: 160, cx: 250, cy: 220},
			{photo: "person07.jpg", h: 200, cx: 950, cy: 230, vy: 20},
			{photo: "person11.jpg", h: 170, cx: 300, cy: 520, vx: 30},
			{photo: "person02.jpg", h: 140, cx: 900, cy: 540, vx: -30}}},
		{name: "walk-in-left", class: classWalkIn, bg: "bg-coffee.jpg", actors: []evalActor{{photo: "person06.jpg", h: 260, cx: -140, cy: 360, vx: 320}}},
		{name: "walk-in-right", class: classWalkIn, bg: "bg-building.jpg", actors: []evalActor{{photo: "person11.jpg", h: 240, cx: 1400, cy: 330, vx: -260}}},
		{name: "frame-zero-edge", class: classWalkIn, bg: "bg-home.jpg", actors: []evalActor{
			{photo: "person09.jpg", h: 220, cx: 40, cy: 360, vx: 150},
			{photo: "person04.jpg", h: 200, cx: 800, cy: 300}}},
		{name: "fast-shake", class: classFast, bg: "bg-rocket.jpg", shake: 24, actors: []evalActor{{photo: "person05.jpg", h: 220, cx: 150, cy: 360, vx: 700}}},
		{name: "fast-diagonal-shake", class: classFast, bg: "bg-brick.jpg", shake: 30, actors: []evalActor{{photo: "person08.jpg", h: 260, cx: 1100, cy: 250, vx: -500, vy: 110}}},
		{name: "small-three-1080p", class: classSmall, w: 1920, h: 1080, bg: "bg-building.jpg", actors: []evalActor{
			{photo: "person01.jpg", h: sm("person01.jpg", 40), cx: 400, cy: 500, vx: 30},
			{photo: "person02.jpg", h: sm("person02.jpg", 48), cx: 1000, cy: 700},
			{photo: "person04.jpg", h: sm("person04.jpg", 56), cx: 1500, cy: 400, vx: -25}}},
		{name: "small-two-1080p", class: classSmall, w: 1920, h: 1080, bg: "bg-home.jpg", actors: []evalActor{
			{photo: "person09.jpg", h: sm("person09.jpg", 44), cx: 700, cy: 600},
			{photo: "person10.jpg", h: sm("person10.jpg", 52), cx: 1300, cy: 650, vx: 20}}},
		{name: "tiny-1080p", class: classTiny, w: 1920, h: 1080, bg: "bg-building.jpg", actors: []evalActor{
			{photo: "person05.jpg", h: photoHeightForFace("person05.jpg", 24), cx: 400, cy: 500, vx: 20},
			{photo: "person02.jpg", h: photoHeightForFace("person02.jpg", 28), cx: 1000, cy: 700},
			{photo: "person08.jpg", h: photoHeightForFace("person08.jpg", 32), cx: 1500, cy: 400, vx: -20}}},
		{name: "tilt-swing", class: classTilt, bg: "bg-coffee.jpg", actors: []evalActor{{photo: "person02.jpg", h: 240, cx: 500, cy: 360, vx: 60, tilt: 25, period: 2}}},
		{name: "tilt-swing-slow", class: classTilt, bg: "bg-building.jpg", actors: []evalActor{{photo: "person06.jpg", h: 280, cx: 700, cy: 360, tilt: 25, period: 3}}},
		{name: "tilt-two", class: classTilt, bg: "bg-home.jpg", actors: []evalActor{
			{photo: "person10.jpg", h: 200, cx: 350, cy: 360, tilt: -25, period: 2.4},
			{photo: "person05.jpg", h: 220, cx: 950, cy: 360, tilt: 25, period: 2.8}}},
		{name: "dark-noise", class: classDark, dark: true, bg: "bg-coffee.jpg", actors: []evalActor{{photo: "person04.jpg", h: 220, cx: 400, cy: 360, vx: 80}}},
		{name: "dark-noise-two", class: classDark, dark: true, bg: "bg-home.jpg", actors: []evalActor{
			{photo: "person07.jpg", h: 240, cx: 900, cy: 360, vx: -40},
			{photo: "person03.jpg", h: 180, cx: 300, cy: 400}}},
		{name: "noface-cat", class: classNoFace, bg: "bg-coffee.jpg", actors: []evalActor{{photo: "cat.jpg", h: 320, cx: 400, cy: 360, vx: 100}}},
		{name: "noface-dog-rabbit", class: classNoFace, bg: "bg-home.jpg", actors: []evalActor{
			{photo: "dog.jpg", h: 300, cx: 350, cy: 380, vx: 50},
			{photo: "rabbit.jpg", h: 240, cx: 950, cy: 360, vx: -40}}},
		{name: "noface-scene-noise", class: classNoFace, bg: "bg-building.jpg", dark: true, shake: 10},
	}
}

func (c *evalClip) defaults() {
	if c.w == 0 {
		c.w, c.h = 1280, 720
	}
	if c.fps == 0 {
		c.fps = 25
	}
	if c.seconds == 0 {
		c.seconds = 3
	}
}

const shakeFx, shakeFy = 5.3, 3.7 // Hz, camera shake in x and y

// shakeAt is the camera's offset at t (the picture moves by -offset).
func (c *evalClip) shakeAt(t float64) (float64, float64) {
	return c.shake * math.Sin(2*math.Pi*shakeFx*t), c.shake * math.Sin(2*math.Pi*shakeFy*t+1)
}

func photoSize(t testing.TB, name string) (int, int) {
	f, err := os.Open(filepath.Join("testdata", "faces", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Width, cfg.Height
}

// render makes the clip with the ffmpeg CLI.
func (c *evalClip) render(t testing.TB, path string) {
	t.Helper()
	m := int(math.Ceil(c.shake)) + 2 // margin the shaking crop moves in
	args := []string{"-loop", "1", "-framerate", fmt.Sprint(c.fps), "-t", fmt.Sprint(c.seconds), "-i", filepath.Join("testdata", "faces", c.bg)}
	var g strings.Builder
	fmt.Fprintf(&g, "[0]scale=%d:%d,setsar=1,format=rgba[b0];", c.w+2*m, c.h+2*m)
	for i, a := range c.actors {
		args = append(args, "-loop", "1", "-framerate", fmt.Sprint(c.fps), "-t", fmt.Sprint(c.seconds), "-i", filepath.Join("testdata", "faces", a.photo))
		fmt.Fprintf(&g, "[%d]scale=-2:%d,format=rgba", i+1, int(math.Round(a.h)))
		if a.tilt != 0 {
			fmt.Fprintf(&g, ",rotate=a='%g*PI/180*sin(2*PI*t/%g)':c=black@0:ow='hypot(iw,ih)':oh=ow", a.tilt, a.period)
		}
		fmt.Fprintf(&g, "[a%d];[b%d][a%d]overlay=x='%d+%g+%g*t-overlay_w/2':y='%d+%g+%g*t-overlay_h/2':eval=frame:shortest=1[b%d];",
			i, i, i, m, a.cx, a.vx, m, a.cy, a.vy, i+1)
	}
	fmt.Fprintf(&g, "[b%d]crop=%d:%d:x='%d+%g*sin(2*PI*%g*t)':y='%d+%g*sin(2*PI*%g*t+1)'", len(c.actors), c.w, c.h, m, c.shake, shakeFx, m, c.shake, shakeFy)
	if c.dark {
		g.WriteString(",lutrgb=r=val*0.3:g=val*0.3:b=val*0.3,format=yuv420p,noise=alls=18:allf=t")
	}
	g.WriteString(",format=yuv420p[v]")
	args = append(args, "-filter_complex", g.String(), "-map", "[v]", "-r", fmt.Sprint(c.fps),
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-t", fmt.Sprint(c.seconds), path)
	runFFmpeg(t, args...)
}

// facePoints returns points of the actor's face (the ellipse inscribed in
// its annotated box, on a 9×9 grid, turned with the head) at time t, in
// clip pixels.
func (c *evalClip) facePoints(a evalActor, pw, ph int, fb Box, t float64) []Point {
	k := a.h / float64(ph)
	sw := math.Round(float64(pw)*k/2) * 2 // scale=-2 keeps the width even
	sh := math.Round(a.h)
	kx, ky := sw/float64(pw), sh/float64(ph)
	sx, sy := c.shakeAt(t)
	cx, cy := a.cx+a.vx*t-sx, a.cy+a.vy*t-sy
	ang := 0.0
	if a.tilt != 0 {
		ang = a.tilt * math.Pi / 180 * math.Sin(2*math.Pi*t/a.period)
	}
	cs, sn := math.Cos(ang), math.Sin(ang)
	var pts []Point
	const n = 9
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			u, v := (float64(i)+0.5)/n*2-1, (float64(j)+0.5)/n*2-1
			if u*u+v*v > 1 {
				continue
			}
			// Point in photo pixels, relative to the photo's centre, scaled.
			px := (fb.X + fb.W*(u+1)/2 - float64(pw)/2) * kx
			py := (fb.Y + fb.H*(v+1)/2 - float64(ph)/2) * ky
			pts = append(pts, Point{cx + px*cs - py*sn, cy + px*sn + py*cs})
		}
	}
	return pts
}

func inShape(r *Region, b Box, p Point) bool {
	if r.Shape == ShapeEllipse {
		u := (p.X - b.X - b.W/2) / (b.W / 2)
		v := (p.Y - b.Y - b.H/2) / (b.H / 2)
		return u*u+v*v <= 1
	}
	return p.X >= b.X && p.X <= b.X+b.W && p.Y >= b.Y && p.Y <= b.Y+b.H
}

// clipScore is one clip's result.
type clipScore struct {
	name, class      string
	faceFrames       int
	hidden           int
	longestLeak      int
	overSum          float64 // sum over frames of over-redacted share
	frames           int
	touched          int
	regions, persons int
	needsReview      bool
	noDetections     bool
	// From the rendered output against the source, decoded by the ffmpeg
	// CLI: changed pixels outside every face box, and faces whose inner
	// texture the output no longer shows.
	changedSum            float64
	pixFaces, pixObscured int
}

func scoreClip(t testing.TB, c evalClip, res *DetectResult) clipScore {
	s := clipScore{name: c.name, class: c.class, regions: len(res.Spec.Regions), persons: len(res.Review.People),
		needsReview: res.Review.NeedsReview, noDetections: res.Review.NoDetections}
	type face struct {
		a      evalActor
		pw, ph int
		fb     Box
		run    int
	}
	var faces []*face
	for _, a := range c.actors {
		pw, ph := photoSize(t, a.photo)
		for _, ef := range evalFaces {
			if ef.file == a.photo {
				faces = append(faces, &face{a: a, pw: pw, ph: ph, fb: ef.face})
			}
		}
	}
	nFrames := int(math.Round(c.seconds * float64(c.fps)))
	const step = 8 // grid for area measures
	for i := 0; i < nFrames; i++ {
		ts := float64(i) / float64(c.fps)
		type active struct {
			r *Region
			b Box
		}
		var act []active
		for k := range res.Spec.Regions {
			r := &res.Spec.Regions[k]
			if b, ok := r.BoxAt(ts); ok {
				act = append(act, active{r, Box(b)})
			}
		}
		s.frames++
		if len(act) > 0 {
			s.touched++
		}
		covered := func(p Point) bool {
			for _, a := range act {
				if inShape(a.r, a.b, p) {
					return true
				}
			}
			return false
		}
		var faceBoxes []Box
		for _, f := range faces {
			pts := f.a.tilt // silence
			_ = pts
			all := c.facePoints(f.a, f.pw, f.ph, f.fb, ts)
			var vis, hid int
			bx0, by0, bx1, by1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
			for _, p := range all {
				bx0, by0, bx1, by1 = math.Min(bx0, p.X), math.Min(by0, p.Y), math.Max(bx1, p.X), math.Max(by1, p.Y)
				if p.X < 0 || p.Y < 0 || p.X >= float64(c.w) || p.Y >= float64(c.h) {
					continue
				}
				vis++
				if covered(p) {
					hid++
				}
			}
			faceBoxes = append(faceBoxes, Box{bx0, by0, bx1 - bx0, by1 - by0})
			if float64(vis) < 0.25*float64(len(all)) {
				f.run = 0
				continue
			}
			s.faceFrames++
			if float64(hid) >= 0.95*float64(vis) {
				s.hidden++
				f.run = 0
			} else {
				if os.Getenv("EVAL_DEBUG") != "" {
					t.Logf("%s frame %d t=%.2f %s: %d of %d visible points covered", c.name, i, ts, f.a.photo, hid, vis)
				}
				f.run++
				s.longestLeak = max(s.longestLeak, f.run)
			}
		}
		// Over-redaction on a grid: covered points outside every face box.
		var nonFace, over int
		for y := step / 2; y < c.h; y += step {
			for x := step / 2; x < c.w; x += step {
				p := Point{float64(x), float64(y)}
				inFace := false
				for _, b := range faceBoxes {
					if p.X >= b.X && p.X <= b.X+b.W && p.Y >= b.Y && p.Y <= b.Y+b.H {
						inFace = true
						break
					}
				}
				if inFace {
					continue
				}
				nonFace++
				if covered(p) {
					over++
				}
			}
		}
		if nonFace > 0 {
			s.overSum += float64(over) / float64(nonFace)
		}
	}
	return s
}

// classScore aggregates a class.
type classScore struct {
	class               string
	clips               int
	faceFrames, hidden  int
	longestLeak         int
	overSum             float64
	frames, touched     int
	regions, faces      int
	flagged, noDetected int
	changedSum          float64
	pixFaces            int
	pixObscured         int
}

func (c classScore) recall() float64 {
	if c.faceFrames == 0 {
		return 1
	}
	return float64(c.hidden) / float64(c.faceFrames)
}

// evalTargets are issue 17's targets per class: recall, and the longest
// bare run allowed (frames).
var evalTargets = map[string]float64{
	classFrontal: 0.99, classSeveral: 0.99, classWalkIn: 0.99, classFast: 0.99,
	classSmall: 0.95, classTilt: 0.95, classDark: 0.95,
	// Not an issue target: the scale schedule's claim (faces from 24 px).
	classTiny: 0.95,
}

func runEval(t testing.TB, opts DetectOptions) map[string]*classScore {
	dir := t.TempDir()
	clips := evalClips()
	if only := os.Getenv("EVAL_ONLY"); only != "" { // debugging aid: a subset
		var sub []evalClip
		for _, c := range clips {
			if strings.Contains(","+only+",", ","+c.name+",") {
				sub = append(sub, c)
			}
		}
		clips = sub
	}
	scores := make([]clipScore, len(clips))
	// Two clips at a time: ffmpeg and detection overlap on two cores.
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i := range clips {
		c := clips[i]
		c.defaults()
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			path := filepath.Join(dir, c.name+".mp4")
			c.render(t, path)
			o := opts
			o.Workers = 1
			res, err := Detect(context.Background(), path, o)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				return
			}
			sc := scoreClip(t, c, res)
			out := filepath.Join(dir, c.name+"-redacted.mp4")
			if len(res.Spec.Regions) > 0 {
				if _, err := Render(context.Background(), res.Spec, path, out, RenderOptions{Preset: "ultrafast", CRF: 16, SkipReportFiles: true}); err != nil {
					t.Errorf("%s: render: %v", c.name, err)
					return
				}
				pixelScore(t, c, path, out, &sc)
			}
			scores[i] = sc
		}()
	}
	wg.Wait()
	by := map[string]*classScore{}
	for _, s := range scores {
		cs := by[s.class]
		if cs == nil {
			cs = &classScore{class: s.class}
			by[s.class] = cs
		}
		cs.clips++
		cs.faceFrames += s.faceFrames
		cs.hidden += s.hidden
		cs.longestLeak = max(cs.longestLeak, s.longestLeak)
		cs.overSum += s.overSum
		cs.frames += s.frames
		cs.touched += s.touched
		cs.regions += s.regions
		cs.changedSum += s.changedSum
		cs.pixFaces += s.pixFaces
		cs.pixObscured += s.pixObscured
		if s.needsReview {
			cs.flagged++
		}
		if s.noDetections {
			cs.noDetected++
		}
		t.Logf("clip %-22s %-32s faces %4d hidden %4d longest leak %2d regions %d mask beyond face box %.2f%% changed %.3f%% obscured %d/%d touched %d/%d review %v",
			s.name, s.class, s.faceFrames, s.hidden, s.longestLeak, s.regions, 100*s.overSum/float64(max(1, s.frames)),
			100*s.changedSum/float64(max(1, s.frames)), s.pixObscured, s.pixFaces, s.touched, s.frames, s.needsReview)
	}
	for _, c := range clips {
		by[c.class].faces += len(c.actors)
	}
	return by
}

func logClasses(t testing.TB, name string, by map[string]*classScore) {
	var classes []string
	for k := range by {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	t.Logf("%s: | class | clips | faces | regions | recall | longest leak (frames) | obscured in output | over-redaction (changed pixels) | mask beyond face box | frames touched |", name)
	for _, k := range classes {
		c := by[k]
		obs := "-"
		if c.pixFaces > 0 {
			obs = fmt.Sprintf("%.3f", float64(c.pixObscured)/float64(c.pixFaces))
		}
		t.Logf("%s: | %s | %d | %d | %d | %.3f | %d | %s | %.3f %% | %.2f %% | %.1f %% |", name, k, c.clips, c.faces, c.regions,
			c.recall(), c.longestLeak, obs, 100*c.changedSum/float64(max(1, c.frames)), 100*c.overSum/float64(max(1, c.frames)),
			100*float64(c.touched)/float64(max(1, c.frames)))
	}
}

// TestRedactionQuality runs the evaluation set through Detect with the
// default detector and checks issue 17's targets.
func TestRedactionQuality(t *testing.T) {
	needFFmpeg(t)
	by := runEval(t, DetectOptions{})
	logClasses(t, "yunet", by)
	// What the detector achieves today, asserted so that a regression
	// fails; docs/redaction.md lists these figures against the targets.
	// (Both are empty: every target is met. A target missed would be
	// listed here with what is achieved, and in docs/redaction.md.)
	achieved := map[string]float64{}
	maxLeak := map[string]int{}
	for class, target := range evalTargets {
		c := by[class]
		if c == nil {
			if os.Getenv("EVAL_ONLY") != "" {
				continue
			}
			t.Fatalf("class %q has no clips", class)
		}
		want := target
		if a, ok := achieved[class]; ok {
			want = a
		}
		if c.recall() < want {
			t.Errorf("%s: recall %.3f < %.3f", class, c.recall(), want)
		}
		leak := 2
		if l, ok := maxLeak[class]; ok {
			leak = l
		}
		if c.longestLeak > leak {
			t.Errorf("%s: a face was bare for %d consecutive frames (allowed %d)", class, c.longestLeak, leak)
		}
		if over := c.changedSum / float64(max(1, c.frames)); over > 0.03 {
			t.Errorf("%s: over-redaction %.2f %% of non-face area changed > 3 %%", class, 100*over)
		}
		if c.pixFaces > 0 && float64(c.pixObscured) < 0.99*float64(c.pixFaces) {
			t.Errorf("%s: only %d of %d face-frames obscured in the rendered output", class, c.pixObscured, c.pixFaces)
		}
	}
	nf := by[classNoFace]
	if nf == nil {
		return // EVAL_ONLY without a no-face clip
	}
	if touched := float64(nf.touched) / float64(nf.frames); touched >= 0.02 {
		t.Errorf("no-face footage: %.1f %% of frames touched (want < 2 %%)", 100*touched)
	}
	if nf.flagged != nf.clips {
		t.Errorf("no-face footage: %d of %d clips flagged for review", nf.flagged, nf.clips)
	}
}

// grayStream decodes path's video to gray frames with the ffmpeg CLI, one
// frame at a time (memory stays at one frame a stream).
type grayStream struct {
	cmd *exec.Cmd
	r   io.ReadCloser
	buf []byte
}

func openGray(t testing.TB, path string, w, h int) *grayStream {
	t.Helper()
	cmd := exec.Command(needFFmpeg(t), "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &grayStream{cmd: cmd, r: r, buf: make([]byte, w*h)}
}

func (g *grayStream) next() bool {
	_, err := io.ReadFull(g.r, g.buf)
	return err == nil
}

func (g *grayStream) close() {
	g.r.Close()
	g.cmd.Wait()
}

// pixelScore compares the rendered output with the source frame by frame:
// the share of non-face pixels whose luma changed by more than 12 (the
// encoder's own error stays below), and, for each face at least half in
// the picture, whether its inner box lost its texture (gradient energy
// under half of the source's: a blur or pixelation, not a light touch).
func pixelScore(t testing.TB, c evalClip, src, out string, s *clipScore) {
	a, b := openGray(t, src, c.w, c.h), openGray(t, out, c.w, c.h)
	defer a.close()
	defer b.close()
	type face struct {
		a      evalActor
		pw, ph int
		fb     Box
	}
	var faces []face
	for _, ac := range c.actors {
		pw, ph := photoSize(t, ac.photo)
		for _, ef := range evalFaces {
			if ef.file == ac.photo {
				faces = append(faces, face{ac, pw, ph, ef.face})
			}
		}
	}
	for i := 0; a.next() && b.next(); i++ {
		ts := float64(i) / float64(c.fps)
		var boxes []Box
		for _, f := range faces {
			pts := c.facePoints(f.a, f.pw, f.ph, f.fb, ts)
			x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
			for _, p := range pts {
				x0, y0, x1, y1 = math.Min(x0, p.X), math.Min(y0, p.Y), math.Max(x1, p.X), math.Max(y1, p.Y)
			}
			bx := Box{x0, y0, x1 - x0, y1 - y0}
			boxes = append(boxes, bx)
			in := inset(bx, 0.2)
			cl := clipBox(in, c.w, c.h)
			if cl.W*cl.H < 0.5*in.W*in.H || cl.W < 4 || cl.H < 4 {
				continue
			}
			_, gA, gB := rectStats(a.buf, b.buf, c.w, cl)
			s.pixFaces++
			if gB < 0.5*gA {
				s.pixObscured++
			} else if os.Getenv("EVAL_DEBUG") != "" {
				t.Logf("%s frame %d %s: texture %.1f -> %.1f", c.name, i, f.a.photo, gA, gB)
			}
		}
		var n, changed int
		for y := 0; y < c.h; y += 2 {
			for x := 0; x < c.w; x += 2 {
				fx, fy := float64(x), float64(y)
				inFace := false
				for _, bx := range boxes {
					if fx >= bx.X && fx <= bx.X+bx.W && fy >= bx.Y && fy <= bx.Y+bx.H {
						inFace = true
						break
					}
				}
				if inFace {
					continue
				}
				n++
				if d := int(a.buf[y*c.w+x]) - int(b.buf[y*c.w+x]); d > 12 || d < -12 {
					changed++
				}
			}
		}
		if n > 0 {
			s.changedSum += float64(changed) / float64(n)
		}
	}
}
