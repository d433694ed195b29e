package dock

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opendems/opendems/evidence/ingest/wire"
)

// Defaults are metadata used when a recording's sidecar does not say.
type Defaults struct {
	OfficerID  string `yaml:"officer_id"`
	DeviceID   string `yaml:"device_id"`
	SourceKind string `yaml:"source_kind"` // bwc, cctv, other
	CameraName string `yaml:"camera_name"`
	Location   string `yaml:"location"`
}

// merge fills the empty fields of d from o.
func (d Defaults) merge(o Defaults) Defaults {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return Defaults{pick(d.OfficerID, o.OfficerID), pick(d.DeviceID, o.DeviceID), pick(d.SourceKind, o.SourceKind),
		pick(d.CameraName, o.CameraName), pick(d.Location, o.Location)}
}

func (d Defaults) validate(field string) error {
	m := wire.Metadata{OfficerID: d.OfficerID, DeviceID: d.DeviceID, SourceKind: d.SourceKind, CameraName: d.CameraName, Location: d.Location}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s.%s", field, strings.TrimPrefix(err.Error(), "metadata."))
	}
	return nil
}

// WatchDir is one directory the daemon watches (a camera mount, an NVR
// export folder).
type WatchDir struct {
	Path string `yaml:"path"`
	// Include are case-insensitive glob patterns of recordings (default
	// *.mp4, *.mov, *.m4v, *.mkv, *.avi).
	Include []string `yaml:"include"`
	// Defaults for recordings found here, over the global ones.
	Defaults Defaults `yaml:"defaults"`
	// NVRExport marks a folder NVR exports are copied into: each file is
	// still its own item, with camera and recorded-at read from its name
	// when nothing better says, source_kind cctv, and extra.nvr_export
	// (export, camera, span, part, the export's checksum of the file
	// checked against its bytes). See nvr.go.
	NVRExport bool `yaml:"nvr_export"`
	// TimeZone (IANA name) of the wall-clock times NVRs write in file
	// names; empty means the dock's local zone.
	TimeZone string `yaml:"time_zone"`
}

// location is the zone of the times in file names.
func (w WatchDir) location() (*time.Location, error) {
	if w.TimeZone == "" {
		return time.Local, nil
	}
	return time.LoadLocation(w.TimeZone)
}

// Config is the daemon's configuration (YAML). cmd/dems-dock reads it;
// ParseConfig fills defaults and validates.
type Config struct {
	// Server is the base URL of demsd, e.g. https://dems.example.org.
	Server string `yaml:"server"`
	// Token is the dock token; TokenFile (preferred) names a file with it.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// StateDir holds the journal and the pinned receipt key.
	StateDir string     `yaml:"state_dir"`
	Watch    []WatchDir `yaml:"watch"`
	// StableFor: a file is complete once its size and modification time
	// have not changed for this long (default 30s), or once its sidecar
	// JSON appears.
	StableFor time.Duration `yaml:"stable_for"`
	// PollInterval between directory scans (default 5s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// AfterReceipt is what happens to a file once its receipt verified:
	// "move" (to ReleasedDir, the default) or "delete".
	AfterReceipt  string `yaml:"after_receipt"`
	ReleasedDir   string `yaml:"released_dir"`
	QuarantineDir string `yaml:"quarantine_dir"`
	// Concurrency is the number of files uploaded at once (default 2).
	Concurrency int `yaml:"concurrency"`
	// Bandwidth caps the upload rate of the whole dock, e.g. "20MiB/s" or
	// "8Mbit/s"; empty means unlimited.
	Bandwidth string `yaml:"bandwidth"`
	// MaxPermanentFailures: after this many permanent failures (the server
	// found the content wrong) a file is quarantined (default 3).
	MaxPermanentFailures int `yaml:"max_permanent_failures"`
	// RetryInitial and RetryMax bound the backoff between attempts
	// (defaults 5s and 10m).
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// Defaults for every watched directory.
	Defaults Defaults `yaml:"defaults"`
}

// defaultInclude are the recording patterns watched when none are given.
func defaultInclude() []string { return []string{"*.mp4", "*.mov", "*.m4v", "*.mkv", "*.avi"} }

// defaultNVRInclude adds what NVRs export: MPEG-TS, raw H.264/H.265
// elementary streams and Dahua's .dav.
func defaultNVRInclude() []string {
	return append(defaultInclude(), "*.ts", "*.mts", "*.h264", "*.264", "*.h265", "*.265", "*.hevc", "*.dav")
}

// ParseConfig decodes YAML (unknown keys are errors), applies defaults and
// validates.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("dock config: %w", err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.StableFor == 0 {
		c.StableFor = 30 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.AfterReceipt == "" {
		c.AfterReceipt = "move"
	}
	if c.Concurrency == 0 {
		c.Concurrency = 2
	}
	if c.MaxPermanentFailures == 0 {
		c.MaxPermanentFailures = 3
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 5 * time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Minute
	}
	for i := range c.Watch {
		if len(c.Watch[i].Include) == 0 {
			c.Watch[i].Include = defaultInclude()
			if c.Watch[i].NVRExport {
				c.Watch[i].Include = defaultNVRInclude()
			}
		}
	}
	return c
}

// Validate checks the configuration and names the bad field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("dock config: "+format, args...)) }
	if _, err := NewClient(c.Server, "x", nil); err != nil {
		bad("server: %q is not an http(s)://host URL", c.Server)
	}
	if c.Token == "" && c.TokenFile == "" {
		bad("token or token_file: one is required")
	}
	if c.StateDir == "" {
		bad("state_dir: required")
	}
	if len(c.Watch) == 0 {
		bad("watch: at least one directory is required")
	}
	abs := func(field, p string) {
		if p != "" && !filepath.IsAbs(p) {
			bad("%s: %q must be an absolute path", field, p)
		}
	}
	abs("state_dir", c.StateDir)
	for i, w := range c.Watch {
		f := fmt.Sprintf("watch[%d]", i)
		if w.Path == "" {
			bad("%s.path: required", f)
		}
		abs(f+".path", w.Path)
		for j, pat := range w.Include {
			if _, err := filepath.Match(pat, "x"); err != nil {
				bad("%s.include[%d]: %q: %v", f, j, pat, err)
			}
		}
		if _, err := w.location(); err != nil {
			bad("%s.time_zone: %v", f, err)
		}
		if err := w.Defaults.validate(f + ".defaults"); err != nil {
			errs = append(errs, fmt.Errorf("dock config: %w", err))
		}
		for _, other := range []struct{ name, p string }{{"released_dir", c.ReleasedDir}, {"quarantine_dir", c.QuarantineDir}} {
			if other.p != "" && w.Path != "" && filepath.Clean(other.p) == filepath.Clean(w.Path) {
				bad("%s: must not be the watched directory %s.path", other.name, f)
			}
		}
	}
	switch c.AfterReceipt {
	case "move":
		if c.ReleasedDir == "" {
			bad("released_dir: required when after_receipt is move")
		}
	case "delete":
	default:
		bad("after_receipt: %q, want move or delete", c.AfterReceipt)
	}
	abs("released_dir", c.ReleasedDir)
	if c.QuarantineDir == "" {
		bad("quarantine_dir: required (quarantined files are kept, never deleted)")
	}
	abs("quarantine_dir", c.QuarantineDir)
	if c.StableFor < 0 {
		bad("stable_for: %v is negative", c.StableFor)
	}
	if c.PollInterval <= 0 {
		bad("poll_interval: %v must be positive", c.PollInterval)
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		bad("concurrency: %d, want 1..64", c.Concurrency)
	}
	if _, err := ParseRate(c.Bandwidth); err != nil {
		bad("bandwidth: %v", err)
	}
	if c.MaxPermanentFailures < 1 {
		bad("max_permanent_failures: %d, want at least 1", c.MaxPermanentFailures)
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		bad("retry_initial/retry_max: %v/%v, want 0 < initial <= max", c.RetryInitial, c.RetryMax)
	}
	if err := c.Defaults.validate("defaults"); err != nil {
		errs = append(errs, fmt.Errorf("dock config: %w", err))
	}
	return errors.Join(errs...)
}

// ParseRate parses a bandwidth such as "20MiB/s", "500kB/s", "8Mbit/s" or
// a plain number of bytes per second. Empty or "0" means unlimited (0).
func ParseRate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/s"), "ps")
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a rate like 20MiB/s", s)
	}
	mult := map[string]float64{
		"": 1, "B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
		"kbit": 1e3 / 8, "Kbit": 1e3 / 8, "Mbit": 1e6 / 8, "Gbit": 1e9 / 8,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (B, kB, MB, GB, KiB, MiB, GiB, kbit, Mbit, Gbit)", s, unit)
	}
	if v*mult > 1e12 {
		return 0, fmt.Errorf("%q is above 1 TB/s", s)
	}
	r := int64(v * mult)
	if r < 1024 && r != 0 {
		return 0, fmt.Errorf("%q is below 1 KiB/s", s)
	}
	return r, nil
}
