package dock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opendems/opendems/evidence/ingest/wire"
)

// Candidate is a file the watcher found complete.
type Candidate struct {
	Path    string
	Root    WatchDir
	Size    int64
	ModTime time.Time
	Sidecar string // path of its sidecar JSON, if one exists
}

type observation struct {
	size  int64
	mtime time.Time
	since time.Time // when size and mtime were first seen as they are
}

// Watcher finds complete recordings by polling directories: portable
// (camera mounts are often FAT/exFAT on Windows, where change
// notification is unreliable) and cheap at the scale of a dock. A file is
// complete when its sidecar JSON exists, or when its size and
// modification time have not changed for StableFor.
type Watcher struct {
	Dirs      []WatchDir
	StableFor time.Duration
	// Skip are directories never descended into (released, quarantine).
	Skip []string
	seen map[string]observation
}

// Scan walks the directories once and returns the files that are
// complete as of now. Unreadable entries are skipped and reported in the
// joined error; the scan goes on.
func (w *Watcher) Scan(now time.Time) ([]Candidate, error) {
	if w.seen == nil {
		w.seen = map[string]observation{}
	}
	present := map[string]bool{}
	var out []Candidate
	var errs []error
	for _, d := range w.Dirs {
		err := filepath.WalkDir(d.Path, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, err)
				if de != nil && de.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if de.IsDir() {
				for _, s := range w.Skip {
					if s != "" && filepath.Clean(p) == filepath.Clean(s) {
						return fs.SkipDir
					}
				}
				if p != d.Path && strings.HasPrefix(de.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".") || !matches(d.Include, de.Name()) {
				return nil
			}
			info, err := de.Info()
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			present[p] = true
			o, ok := w.seen[p]
			if !ok || o.size != info.Size() || !o.mtime.Equal(info.ModTime()) {
				o = observation{size: info.Size(), mtime: info.ModTime(), since: now}
				w.seen[p] = o
			}
			side := sidecarFor(p)
			if info.Size() > 0 && (side != "" || now.Sub(o.since) >= w.StableFor) {
				out = append(out, Candidate{Path: p, Root: d, Size: info.Size(), ModTime: info.ModTime(), Sidecar: side})
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	for p := range w.seen {
		if !present[p] {
			delete(w.seen, p)
		}
	}
	return out, errors.Join(errs...)
}

func matches(patterns []string, name string) bool {
	lower := strings.ToLower(name)
	for _, p := range patterns {
		if ok, _ := filepath.Match(strings.ToLower(p), lower); ok {
			return true
		}
	}
	return false
}

// sidecarFor returns the sidecar of a recording if one exists:
// "clip.mp4.json" or "clip.json".
func sidecarFor(p string) string {
	for _, c := range []string{p + ".json", strings.TrimSuffix(p, filepath.Ext(p)) + ".json"} {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

// Sidecar is the metadata file cameras and NVR exports leave beside a
// recording. Fields it does not know are kept in Extra.
type Sidecar struct {
	OfficerID  string          `json:"officer_id"`
	DeviceID   string          `json:"device_id"`
	SourceKind string          `json:"source_kind"`
	Source     string          `json:"source"` // alias of source_kind
	CameraName string          `json:"camera_name"`
	Location   string          `json:"location"`
	RecordedAt *time.Time      `json:"recorded_at"`
	GPS        []wire.GPSPoint `json:"gps"`
	Extra      json.RawMessage `json:"-"`
}

// maxSidecar bounds a sidecar file (a day of GPS at 1 Hz fits).
const maxSidecar = 8 << 20

// ParseSidecar decodes a sidecar JSON object.
func ParseSidecar(b []byte) (Sidecar, error) {
	var s Sidecar
	if len(b) > maxSidecar {
		return s, fmt.Errorf("sidecar: %d bytes, at most %d", len(b), maxSidecar)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("sidecar: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return s, fmt.Errorf("sidecar: %w", err)
	}
	for _, k := range []string{"officer_id", "device_id", "source_kind", "source", "camera_name", "location", "recorded_at", "gps"} {
		delete(all, k)
	}
	if len(all) > 0 {
		extra, err := json.Marshal(all)
		if err != nil {
			return s, fmt.Errorf("sidecar: %w", err)
		}
		s.Extra = extra
	}
	if s.SourceKind == "" {
		s.SourceKind = s.Source
	}
	return s, nil
}

// ResolveMetadata builds a recording's metadata: the sidecar first, then
// the MP4's creation time for recorded_at, then the watched directory's
// and the dock's defaults. A sidecar that cannot be parsed is an error
// (the file waits, with the error in status, rather than being uploaded
// with wrong attribution).
func ResolveMetadata(c Candidate, global Defaults) (wire.Metadata, error) {
	return ResolveMetadataContext(context.Background(), c, global)
}

// ResolveMetadataContext is ResolveMetadata with a context, which stops
// the checksum check of a file in an NVR export folder. In such a folder
// the file name comes after the sidecar and the container for camera name
// and recorded-at, and before the defaults; source_kind defaults to cctv.
func ResolveMetadataContext(ctx context.Context, c Candidate, global Defaults) (wire.Metadata, error) {
	def := c.Root.Defaults.merge(global)
	m := wire.Metadata{OfficerID: def.OfficerID, DeviceID: def.DeviceID, SourceKind: def.SourceKind,
		CameraName: def.CameraName, Location: def.Location}
	if c.Sidecar != "" {
		b, err := os.ReadFile(c.Sidecar)
		if err != nil {
			return m, fmt.Errorf("sidecar %s: %w", c.Sidecar, err)
		}
		s, err := ParseSidecar(b)
		if err != nil {
			return m, fmt.Errorf("%s: %w", c.Sidecar, err)
		}
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&m.OfficerID, s.OfficerID)
		set(&m.DeviceID, s.DeviceID)
		set(&m.SourceKind, s.SourceKind)
		set(&m.CameraName, s.CameraName)
		set(&m.Location, s.Location)
		m.RecordedAt, m.GPS, m.Extra = s.RecordedAt, s.GPS, s.Extra
	}
	sidecarCamera := m.CameraName != "" && m.CameraName != def.CameraName
	if m.RecordedAt == nil {
		if f, err := os.Open(c.Path); err == nil {
			if t, err := MP4CreationTime(f, c.Size); err == nil {
				m.RecordedAt = &t
			}
			f.Close()
		}
	}
	if c.Root.NVRExport {
		loc, err := c.Root.location()
		if err != nil {
			return m, fmt.Errorf("nvr export %s: %w", c.Path, err)
		}
		x, name, err := nvrMetadata(ctx, c, loc)
		if err != nil {
			return m, err
		}
		if m.RecordedAt == nil && name.Start != nil {
			t := name.Start.UTC()
			m.RecordedAt = &t
		}
		if !sidecarCamera && name.Camera != "" {
			m.CameraName = name.Camera
		}
		if m.SourceKind == "" {
			m.SourceKind = wire.SourceCCTV
		}
		if m.Extra, err = mergeExtra(m.Extra, "nvr_export", x); err != nil {
			return m, fmt.Errorf("nvr export %s: %w", c.Path, err)
		}
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("metadata of %s: %w", c.Path, err)
	}
	return m, nil
}
