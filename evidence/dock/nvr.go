package dock

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	// NVR file names are read in the export's zone; docking stations are
	// often Windows PCs, which have no zone database of their own.
	_ "time/tzdata"
)

// An NVR export is a folder (often a tree: one folder per camera or day)
// of recordings that a network video recorder wrote to a USB stick: several
// cameras, several files per camera, split at fixed sizes or times, named
// after the channel and the wall-clock span they cover, sometimes with a
// checksum list beside them. A watch directory with nvr_export set uploads
// each file as its own item (each keeps its own SHA-256), labelled so the
// items of one camera and time span can be found and linked in a case:
// camera name and recorded-at from the file name (when neither a sidecar
// nor the container says), and metadata.extra.nvr_export with the export,
// camera, span, part number and the export's own checksum of the file,
// checked against the bytes.

// NVRFileName is what an NVR export's file name says about the recording.
type NVRFileName struct {
	// Camera is the channel or camera as the name gives it ("ch01",
	// "Camera 3", "D4"); empty when the name has none.
	Camera string
	// Start and End are the wall-clock span in the name, in the zone the
	// caller gave (NVRs write local time without a zone); nil when absent.
	Start, End *time.Time
	// Part numbers files split at a fixed size (0 when the name has none).
	Part int
}

var (
	// Cameras: "ch01", "CH1", "channel 2", "cam03", "Camera 3", "D4" (Dahua
	// digital channel), each as its own token.
	nvrCameraRe = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])((?:ch(?:annel)?|cam(?:era)?)[ _-]?\d{1,3}|d\d{1,3})(?:[^a-z0-9]|$)`)
	// Timestamps: 20240501123456, 20240501_123456, 2024-05-01_12-34-56,
	// 2024-05-01 12.34.56, 2024-05-01T12:34:56.
	nvrTimeRe = regexp.MustCompile(`(20\d{2}|19\d{2})[-_.]?([01]\d)[-_.]?([0-3]\d)[ T_.-]?([0-2]\d)[-_.:]?([0-5]\d)[-_.:]?([0-5]\d)`)
	// Parts: "_part2", "-part_002", "(3)", trailing "_001" after a time.
	nvrPartRe = regexp.MustCompile(`(?i)(?:part[ _-]?(\d{1,4})|\((\d{1,4})\)$|[_-](\d{1,4})$)`)
)

// ParseNVRFileName reads camera, wall-clock span and part number from the
// base name of an NVR export file (extension ignored), taking times as
// wall-clock in loc. It reports false when the name has neither a camera
// nor a time: not an NVR export name.
func ParseNVRFileName(name string, loc *time.Location) (NVRFileName, bool) {
	if loc == nil {
		loc = time.UTC
	}
	base := filepath.Base(name)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	var f NVRFileName
	if m := nvrCameraRe.FindStringSubmatch(base); m != nil {
		f.Camera = m[1]
	}
	rest := base
	var times []time.Time
	for _, m := range nvrTimeRe.FindAllStringSubmatchIndex(base, 2) {
		n := func(i int) int { v, _ := strconv.Atoi(base[m[2*i]:m[2*i+1]]); return v }
		t := time.Date(n(1), time.Month(n(2)), n(3), n(4), n(5), n(6), 0, loc)
		// time.Date normalises 2024-02-31 into March: not a real time.
		if t.Month() != time.Month(n(2)) || t.Day() != n(3) || n(4) > 23 {
			continue
		}
		times = append(times, t)
		rest = strings.Replace(rest, base[m[0]:m[1]], " ", 1)
	}
	if len(times) > 0 {
		f.Start = &times[0]
	}
	if len(times) > 1 && !times[1].Before(times[0]) {
		f.End = &times[1]
	}
	if f.Camera != "" {
		rest = strings.Replace(rest, f.Camera, " ", 1)
	}
	if m := nvrPartRe.FindStringSubmatch(strings.TrimSpace(rest)); m != nil {
		for _, g := range m[1:] {
			if g != "" {
				f.Part, _ = strconv.Atoi(g)
				break
			}
		}
	}
	return f, f.Camera != "" || f.Start != nil
}

// ExportChecksum is a checksum an NVR export lists for one of its files.
type ExportChecksum struct {
	Algorithm string `json:"algorithm"` // md5, sha1 or sha256
	Value     string `json:"value"`     // lower-case hex
	ListedIn  string `json:"listed_in"` // the list's file name
	// Matches tells whether the file's bytes have that checksum; a
	// mismatch is recorded, not hidden, and the file is still uploaded
	// as received.
	Matches bool `json:"matches"`
}

// maxChecksumList bounds a checksum list (a large export lists thousands
// of files in well under this).
const maxChecksumList = 4 << 20

// ParseChecksumList reads the checksum lists NVRs and export tools write:
// GNU style ("HEX  name", "HEX *name", one per line) and BSD style
// ("MD5 (name) = HEX"). The algorithm comes from the BSD tag or from the
// length of the hex digest. Keys are base names, since exports list files
// relative to themselves. Lines it cannot read are skipped; a list with no
// readable line is an error.
func ParseChecksumList(b []byte) (map[string]ExportChecksum, error) {
	if len(b) > maxChecksumList {
		return nil, fmt.Errorf("checksum list: %d bytes, at most %d", len(b), maxChecksumList)
	}
	out := map[string]ExportChecksum{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		var algo, sum, name string
		if i := strings.Index(line, " ("); i > 0 && strings.Contains(line, ") = ") {
			algo = strings.ToLower(strings.TrimSpace(line[:i]))
			j := strings.LastIndex(line, ") = ")
			if j < i+2 {
				continue
			}
			name, sum = line[i+2:j], strings.TrimSpace(line[j+4:])
		} else {
			f := strings.SplitN(line, " ", 2)
			if len(f) != 2 {
				continue
			}
			sum, name = f[0], strings.TrimLeft(f[1], " *")
		}
		sum = strings.ToLower(sum)
		if _, err := hex.DecodeString(sum); err != nil || name == "" {
			continue
		}
		switch {
		case algo == "" && len(sum) == 32, algo == "md5" && len(sum) == 32:
			algo = "md5"
		case algo == "" && len(sum) == 40, algo == "sha1" && len(sum) == 40:
			algo = "sha1"
		case algo == "" && len(sum) == 64, (algo == "sha256" || algo == "sha2-256") && len(sum) == 64:
			algo = "sha256"
		default:
			continue
		}
		name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
		out[name] = ExportChecksum{Algorithm: algo, Value: sum}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("checksum list: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("checksum list: no checksum line")
	}
	return out, nil
}

// isChecksumList names the files exports keep checksums in.
func isChecksumList(name string) bool {
	l := strings.ToLower(name)
	switch filepath.Ext(l) {
	case ".md5", ".sha1", ".sha256", ".md5sum", ".sha256sum":
		return true
	}
	switch l {
	case "md5sums", "sha1sums", "sha256sums", "checksum.txt", "checksums.txt", "md5.txt", "sha256.txt", "hash.txt", "hashes.txt":
		return true
	}
	return false
}

// findExportChecksum looks for path's checksum in the checksum lists of
// its directory and of each parent up to root.
func findExportChecksum(path, root string) (*ExportChecksum, error) {
	name := filepath.Base(path)
	dir := filepath.Dir(path)
	root = filepath.Clean(root)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !isChecksumList(e.Name()) {
				continue
			}
			b, err := readBounded(filepath.Join(dir, e.Name()), maxChecksumList)
			if err != nil {
				continue
			}
			list, err := ParseChecksumList(b)
			if err != nil {
				continue
			}
			if c, ok := list[name]; ok {
				c.ListedIn = e.Name()
				return &c, nil
			}
		}
		if dir == root || filepath.Dir(dir) == dir || !strings.HasPrefix(dir, root) {
			return nil, nil
		}
		dir = filepath.Dir(dir)
	}
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// verifyChecksum hashes path with the list's algorithm.
func verifyChecksum(ctx context.Context, path string, c *ExportChecksum) error {
	var h hash.Hash
	switch c.Algorithm {
	case "md5":
		h = md5.New()
	case "sha1":
		h = sha1.New()
	case "sha256":
		h = sha256.New()
	default:
		return fmt.Errorf("checksum: unknown algorithm %q", c.Algorithm)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(h, ctxReader{ctx: ctx, r: f}); err != nil {
		return err
	}
	c.Matches = hex.EncodeToString(h.Sum(nil)) == c.Value
	return nil
}

// nvrExport is metadata.extra.nvr_export.
type nvrExport struct {
	// Export is the export's folder relative to the watched directory
	// (the first path element: one export per folder), Folder the file's
	// own folder within it.
	Export string `json:"export"`
	Folder string `json:"folder,omitempty"`
	File   string `json:"file"`
	Camera string `json:"camera,omitempty"`
	// Start/End are the span the name gives, wall-clock as written, and
	// TimeZone the zone they were read in.
	Start    string          `json:"start,omitempty"`
	End      string          `json:"end,omitempty"`
	TimeZone string          `json:"time_zone,omitempty"`
	Part     int             `json:"part,omitempty"`
	Checksum *ExportChecksum `json:"checksum,omitempty"`
	// Group is the same for every file of one camera in one export, so
	// they can be found and linked together (export/camera).
	Group string `json:"group"`
}

// nvrMetadata describes c as part of an NVR export rooted at its watch
// directory: it returns the extra.nvr_export object and what the name says.
func nvrMetadata(ctx context.Context, c Candidate, loc *time.Location) (nvrExport, NVRFileName, error) {
	rel, err := filepath.Rel(c.Root.Path, c.Path)
	if err != nil {
		rel = filepath.Base(c.Path)
	}
	rel = filepath.ToSlash(rel)
	x := nvrExport{File: filepath.Base(c.Path), TimeZone: loc.String()}
	if parts := strings.Split(rel, "/"); len(parts) > 1 {
		x.Export = parts[0]
		x.Folder = strings.Join(parts[:len(parts)-1], "/")
	}
	name, _ := ParseNVRFileName(c.Path, loc)
	x.Camera, x.Part = name.Camera, name.Part
	if x.Camera == "" && x.Folder != "" {
		// One folder per camera is the other common layout.
		if m := nvrCameraRe.FindStringSubmatch(filepath.Base(x.Folder)); m != nil {
			x.Camera = m[1]
			name.Camera = m[1]
		}
	}
	const wall = "2006-01-02T15:04:05"
	if name.Start != nil {
		x.Start = name.Start.Format(wall)
	}
	if name.End != nil {
		x.End = name.End.Format(wall)
	}
	x.Group = x.Export + "/" + x.Camera
	sum, err := findExportChecksum(c.Path, c.Root.Path)
	if err != nil {
		return x, name, fmt.Errorf("nvr export %s: checksums: %w", c.Path, err)
	}
	if sum != nil {
		if err := verifyChecksum(ctx, c.Path, sum); err != nil {
			return x, name, fmt.Errorf("nvr export %s: checksum: %w", c.Path, err)
		}
		x.Checksum = sum
	}
	return x, name, nil
}

// mergeExtra adds key: v to the JSON object extra (nil: a new object).
func mergeExtra(extra json.RawMessage, key string, v any) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(extra) > 0 {
		if err := json.Unmarshal(extra, &m); err != nil {
			return nil, fmt.Errorf("extra: %w", err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m[key] = b
	return json.Marshal(m)
}
