package devseed

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	fifo := filepath.Join(dir, fmt.Sprintf("demo-%d.y4m", time.Now().UnixNano()))
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("demo clip: %w", err)
	}
	defer os.Remove(fifo)
	errc := make(chan error, 1)
	go func() { errc <- writeY4M(ctx, fifo, c) }()
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

// writeY4M draws the clip's frames into path (a named pipe).
func writeY4M(ctx context.Context, path string, c DemoClip) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", c.Width, c.Height, c.FPS)
	w, h := c.Width, c.Height
	bg := make([]byte, w*h)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			bg[j*w+i] = byte(40 + (i+j)*120/(w+h))
		}
	}
	y := make([]byte, w*h)
	u := bytes.Repeat([]byte{byte(96 + int(c.Hue)/4)}, w*h/4)
	v := bytes.Repeat([]byte{byte(160 - int(c.Hue)/4)}, w*h/4)
	frames := c.Seconds * c.FPS
	box := h / 4
	for n := 0; n < frames; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		copy(y, bg)
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
}

var demoRecordings = []demoRecording{
	{"officer.north", "BWC-N-01", "Axon-like body cam", "Main St & 3rd Ave", "Traffic stop, Main St", 30, 26 * time.Hour},
	{"officer.north", "BWC-N-01", "Axon-like body cam", "North Park", "Disturbance call, North Park", 60, 5 * time.Hour},
	{"sgt.north", "BWC-N-07", "Axon-like body cam", "Harbor Rd", "Welfare check, Harbor Rd", 90, 50 * time.Minute},
	{"officer.south", "BWC-S-03", "Axon-like body cam", "South Mall", "Shoplifting report, South Mall", 200, 30 * time.Hour},
	{"sgt.south", "BWC-S-09", "Axon-like body cam", "Ridge Ave", "Vehicle collision, Ridge Ave", 230, 3 * time.Hour},
}

// SeedDemoMedia gives the demo agency a few playable recordings (two or
// three per patrol unit), ingested through the real ingest path as each
// officer's own upload, so the transcode job, the custody chain and the
// review UI have something to show. It does nothing when any evidence
// exists already. Clips are 8 s at 320x240 to keep start-up quick.
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
	var ids []uuid.UUID
	for i, r := range demoRecordings {
		u, err := a.Identity.UserByName(ctx, r.officer)
		if err != nil {
			return ids, fmt.Errorf("seed media: %s: %w", r.officer, err)
		}
		path := filepath.Join(scratch, fmt.Sprintf("demo-%d.mp4", i))
		if err := MakeDemoClip(ctx, scratch, path, DemoClip{Seconds: 8, Width: 320, Height: 240, FPS: 15, Hue: r.hue}); err != nil {
			return ids, fmt.Errorf("seed media: clip %d: %w", i, err)
		}
		at := time.Now().Add(-r.ago).UTC().Truncate(time.Second)
		id, err := IngestFile(ctx, a, u.Principal("seed"), path, fmt.Sprintf("%s_%s.mp4", r.device, at.Format("20060102T150405Z")), wire.Metadata{
			OfficerID: u.Badge, DeviceID: r.device, CameraName: r.camera, Location: r.location, RecordedAt: &at,
		})
		os.Remove(path)
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

// IngestFile uploads a local file through the ingest service as p (create
// session, one chunk, commit), exactly as a dock's upload would arrive,
// and returns the new item's id. The file must fit one ingest chunk.
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
