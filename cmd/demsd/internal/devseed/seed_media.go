package devseed

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/transcode"
)

// DemoClip describes a synthetic recording made by MakeDemoClip.
type DemoClip struct {
	Seconds       int
	Width, Height int // even
	FPS           int
	// Hue tints the background (0..255) so clips of different units look
	// different in thumbnails.
	Hue uint8
}

// MakeDemoClip writes a short H.264 MP4 "body camera" clip to out: a
// tinted gradient with a moving square and a bar that grows with time, so
// every second looks different (the thumbnail sprite and seeking show it).
// The frames are drawn in Go as raw YUV4MPEG2 and encoded with
// transcode.Proxy, the same code the workers run; no ffmpeg CLI is used.
// The raw frames go through a named pipe in dir, so even long, large
// clips need no disk space for them.
func MakeDemoClip(ctx context.Context, dir, out string, c DemoClip) error {
	if c.Width%2 != 0 || c.Height%2 != 0 || c.Width <= 0 || c.Height <= 0 || c.FPS <= 0 || c.Seconds <= 0 {
		return fmt.Errorf("demo clip: bad geometry %+v", c)
	}
	w, h := c.Width, c.Height
	bg := make([]byte, w*h)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			bg[j*w+i] = byte(40 + (i+j)*120/(w+h))
		}
	}
	frames := c.Seconds * c.FPS
	box := h / 4
	return encodeFrames(ctx, dir, out, w, h, c.FPS, frames, func(n int, y, u, v []byte) {
		copy(y, bg)
		for i := range u {
			u[i] = byte(96 + int(c.Hue)/4)
			v[i] = byte(160 - int(c.Hue)/4)
		}
		bx := (n * 4) % (w - box)
		by := (h - box) / 2
		for j := by; j < by+box; j++ {
			row := y[j*w+bx : j*w+bx+box]
			for i := range row {
				row[i] = 235
			}
		}
		bar := (n + 1) * w / frames
		for j := h - h/12; j < h; j++ {
			row := y[j*w : j*w+bar]
			for i := range row {
				row[i] = 200
			}
		}
	})
}

// encodeFrames encodes frames pictures of w×h at fps, each drawn by draw
// into 4:2:0 planes, as an H.264 MP4 at out. The raw frames go as
// YUV4MPEG2 through a named pipe in dir into transcode.Proxy (go-astiav,
// the same code the workers run; no ffmpeg CLI), so even long, large
// clips need no disk space for them.
func encodeFrames(ctx context.Context, dir, out string, w, h, fps, frames int, draw func(n int, y, u, v []byte)) error {
	fifo := filepath.Join(dir, fmt.Sprintf("demo-%d.y4m", time.Now().UnixNano()))
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("demo clip: %w", err)
	}
	defer os.Remove(fifo)
	errc := make(chan error, 1)
	go func() { errc <- writeY4M(ctx, fifo, w, h, fps, frames, draw) }()
	_, err := transcode.Proxy(ctx, fifo, out, transcode.ProxyOptions{Preset: "ultrafast"}, nil)
	if err != nil {
		// Unblock a writer still waiting for (or writing to) the pipe.
		if r, oerr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); oerr == nil {
			r.Close()
		}
		<-errc
		return err
	}
	return <-errc
}

// writeY4M draws the frames into path (a named pipe).
func writeY4M(ctx context.Context, path string, w, h, fps, frames int, draw func(n int, y, u, v []byte)) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", w, h, fps)
	y := make([]byte, w*h)
	u := make([]byte, w*h/4)
	v := make([]byte, w*h/4)
	for n := 0; n < frames; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		draw(n, y, u, v)
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(u)
		if _, err := bw.Write(v); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// demoRecording is one seeded item.
type demoRecording struct {
	officer, device, camera, location, title string
	hue                                      uint8
	ago                                      time.Duration
	// faces names a FaceClip (faceClips): real faces moving at 720p, for
	// detection, the redaction editor and releases. Empty: a small
	// synthetic clip without faces.
	faces string
}

var demoRecordings = []demoRecording{
	{"officer.north", "BWC-N-01", "Axon-like body cam", "Main St & 3rd Ave", "Traffic stop, Main St", 30, 26 * time.Hour, ""},
	{"officer.north", "BWC-N-01", "Axon-like body cam", "North Park", "Disturbance call, North Park", 60, 5 * time.Hour, ""},
	{"sgt.north", "BWC-N-07", "Axon-like body cam", "Harbor Rd", "Welfare check, Harbor Rd", 90, 50 * time.Minute, ""},
	{"officer.south", "BWC-S-03", "Axon-like body cam", "South Mall", "Shoplifting report, South Mall", 200, 30 * time.Hour, ""},
	{"sgt.south", "BWC-S-09", "Axon-like body cam", "Ridge Ave", "Vehicle collision, Ridge Ave", 230, 3 * time.Hour, ""},
	{"sgt.north", "BWC-N-07", "Axon-like body cam", "City Hall lobby", "Witness interviews, City Hall lobby", 0, 2 * time.Hour, "lobby"},
	{"sgt.south", "BWC-S-09", "Axon-like body cam", "Launch viewing area", "Crowd at the launch viewing area", 0, 90 * time.Minute, "launch"},
}

// SeedDemoMedia gives the demo agency a few playable recordings (several
// per patrol unit), uploaded through the real ingest path by a docking
// station of each officer's unit with its own dock token, so custody
// records them as the dock's ("dock:<name>"), the transcode job, the
// custody chain and the review UI have something to show. Most are 8 s
// at 320x240; two are 6 s of 720p in which real, freely licensed faces
// move (faceClips), cached under scratch so a fresh database does not
// encode them again. It does nothing when any evidence exists already.
func SeedDemoMedia(ctx context.Context, a *App, scratch string) ([]uuid.UUID, error) {
	var n int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM evidence_items`).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, nil
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, err
	}
	docks := map[string]identity.Principal{} // by unit slug
	defer func() {
		// Their tokens live only here: retire the docks once done, so no
		// unknown credential stays valid (their uploads keep their names).
		for _, d := range docks {
			if err := a.Identity.RevokeDock(context.WithoutCancel(ctx), d.ID); err != nil {
				a.Logger.Warn("seed media: retire upload dock", "dock", d.Name, "err", err)
			}
		}
	}()
	var ids []uuid.UUID
	for i, r := range demoRecordings {
		u, err := a.Identity.UserByName(ctx, r.officer)
		if err != nil {
			return ids, fmt.Errorf("seed media: %s: %w", r.officer, err)
		}
		dock, ok := docks[u.Unit]
		if !ok {
			if dock, err = seedDock(ctx, a, u.Unit); err != nil {
				return ids, err
			}
			docks[u.Unit] = dock
		}
		var path string
		if r.faces != "" {
			if path, err = faceClipFile(ctx, scratch, r.faces); err != nil {
				return ids, fmt.Errorf("seed media: clip %d: %w", i, err)
			}
		} else {
			path = filepath.Join(scratch, fmt.Sprintf("demo-%d.mp4", i))
			if err := MakeDemoClip(ctx, scratch, path, DemoClip{Seconds: 8, Width: 320, Height: 240, FPS: 15, Hue: r.hue}); err != nil {
				return ids, fmt.Errorf("seed media: clip %d: %w", i, err)
			}
		}
		at := time.Now().Add(-r.ago).UTC().Truncate(time.Second)
		id, err := IngestFile(ctx, a, dock, path, fmt.Sprintf("%s_%s.mp4", r.device, at.Format("20060102T150405Z")), wire.Metadata{
			OfficerID: u.Badge, DeviceID: r.device, CameraName: r.camera, Location: r.location, RecordedAt: &at,
		})
		if r.faces == "" {
			os.Remove(path)
		}
		if err != nil {
			return ids, fmt.Errorf("seed media: ingest %d: %w", i, err)
		}
		if _, err := a.Pool.Exec(ctx, `UPDATE evidence_items SET title = $2 WHERE id = $1`, id, r.title); err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	a.Logger.Info("demo recordings ingested", "count", len(ids))
	return ids, nil
}

// seedDock enrolls a docking station in unit and authenticates with its
// token, as the dock agent would, returning its principal.
func seedDock(ctx context.Context, a *App, unit string) (identity.Principal, error) {
	var token string
	var err error
	for n := 1; ; n++ {
		name := fmt.Sprintf("dock-%s-demo-%d", unit, n)
		if _, token, err = a.Identity.EnrollDock(ctx, name, unit, "demo seeding", nil); !errors.Is(err, identity.ErrExists) || n == 20 {
			break
		}
	}
	if err != nil {
		return identity.Principal{}, fmt.Errorf("seed media: enroll dock for %s: %w", unit, err)
	}
	p, err := a.Identity.Authenticate(ctx, token)
	if err != nil {
		return identity.Principal{}, fmt.Errorf("seed media: dock token: %w", err)
	}
	return p, nil
}

// IngestFile uploads a local file through the ingest service as p (create
// session, one chunk, commit), as a dock's upload arrives (p is the dock
// for one), and returns the new item's id. The file must fit one ingest chunk.
func IngestFile(ctx context.Context, a *App, p identity.Principal, path, filename string, meta wire.Metadata) (uuid.UUID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return uuid.Nil, err
	}
	if int64(len(b)) > a.Ingest.ChunkSize() {
		return uuid.Nil, fmt.Errorf("ingest %s: %d bytes is more than one chunk (%d)", path, len(b), a.Ingest.ChunkSize())
	}
	sum := sha256.Sum256(b)
	cr, _, err := a.Ingest.Create(ctx, p, wire.CreateRequest{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)),
		Filename: filename, ContentType: "video/mp4", Metadata: meta})
	if err != nil {
		return uuid.Nil, err
	}
	if cr.Duplicate {
		return uuid.Parse(cr.EvidenceID)
	}
	sid, err := uuid.Parse(cr.SessionID)
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := a.Ingest.PutChunk(ctx, p, sid, wire.Chunk{Offset: 0, Length: int64(len(b)), SHA256: sum}, bytes.NewReader(b)); err != nil {
		return uuid.Nil, err
	}
	resp, err := a.Ingest.Commit(ctx, p, sid)
	if err != nil {
		return uuid.Nil, err
	}
	return uuid.Parse(resp.EvidenceID)
}

// DemoRecordings is how many recordings SeedDemoMedia ingests.
func DemoRecordings() int { return len(demoRecordings) }
