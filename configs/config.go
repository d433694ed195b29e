package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration, which doubles as
// the documented example of every option.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Config is the whole demsd configuration.
type Config struct {
	Server    Server    `yaml:"server"`
	Database  Database  `yaml:"database"`
	Storage   Storage   `yaml:"storage"`
	Keys      Keys      `yaml:"keys"`
	Ingest    Ingest    `yaml:"ingest"`
	Workers   Workers   `yaml:"workers"`
	Custody   Custody   `yaml:"custody"`
	Fixity    Fixity    `yaml:"fixity"`
	Retention Retention `yaml:"retention"`
	Requests  Requests  `yaml:"requests"`
	Releases  Releases  `yaml:"releases"`
	Policy    Policy    `yaml:"policy"`
	Log       Log       `yaml:"log"`
	Redact    Redact    `yaml:"redact"`
}

// Server is the HTTP side.
type Server struct {
	Listen          string        `yaml:"listen"`
	PublicURL       string        `yaml:"public_url"`
	SecureCookies   bool          `yaml:"secure_cookies"`
	SessionIdle     time.Duration `yaml:"session_idle"`
	SessionMax      time.Duration `yaml:"session_max"`
	LockoutAttempts int           `yaml:"lockout_attempts"`
	LockoutDuration time.Duration `yaml:"lockout_duration"`
	MaxJSONBody     int64         `yaml:"max_json_body"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose
	// X-Forwarded-For / X-Real-IP headers are believed (empty: none, the
	// TCP peer is the client address recorded in custody and audit).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MFAAttempts wrong second-factor codes per account lock the second
	// factor for MFALockout, doubling with every further lock (back-off).
	MFAAttempts int           `yaml:"mfa_attempts"`
	MFALockout  time.Duration `yaml:"mfa_lockout"`
	// TokenMaxLifetime caps the expiry of personal API tokens (0: tokens
	// may be created without expiry).
	TokenMaxLifetime time.Duration `yaml:"token_max_lifetime"`
}

// Database is PostgreSQL.
type Database struct {
	URL            Secret `yaml:"url"`
	MaxConns       int32  `yaml:"max_conns"`
	MigrateOnStart bool   `yaml:"migrate_on_start"`
}

// Storage selects and configures the object store.
type Storage struct {
	Backend string    `yaml:"backend"`
	FS      StorageFS `yaml:"fs"`
	S3      StorageS3 `yaml:"s3"`
}

// StorageFS is the local-filesystem backend.
type StorageFS struct {
	Root string `yaml:"root"`
}

// StorageS3 is the MinIO/S3 backend.
type StorageS3 struct {
	Endpoint      string `yaml:"endpoint"`
	AccessKey     string `yaml:"access_key"`
	SecretKey     Secret `yaml:"secret_key"`
	Bucket        string `yaml:"bucket"`
	Region        string `yaml:"region"`
	UseTLS        bool   `yaml:"use_tls"`
	RetentionMode string `yaml:"retention_mode"`
	PartSize      int64  `yaml:"part_size"`
}

// Keys locates the server's signing key.
type Keys struct {
	SigningKeyFile string `yaml:"signing_key_file"`
}

// Ingest tunes the upload protocol.
type Ingest struct {
	ChunkSize      int64         `yaml:"chunk_size"`
	AbandonedAfter time.Duration `yaml:"abandoned_after"`
}

// Workers tunes background jobs.
type Workers struct {
	Enabled          bool          `yaml:"enabled"`
	Concurrency      int           `yaml:"concurrency"`
	JobTimeout       time.Duration `yaml:"job_timeout"`
	RescueStuckAfter time.Duration `yaml:"rescue_stuck_after"`
}

// Custody tunes checkpoints and the periodic verification.
type Custody struct {
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// VerifyInterval is how often every chain is re-verified against the
	// latest signed checkpoint (and the audit log against its anchors).
	VerifyInterval time.Duration `yaml:"verify_interval"`
}

// Fixity tunes re-hashing of originals.
type Fixity struct {
	Period   time.Duration `yaml:"period"`
	RunEvery time.Duration `yaml:"run_every"`
}

// Retention tunes the purge sweep.
type Retention struct {
	PurgeGrace time.Duration `yaml:"purge_grace"`
	SweepEvery time.Duration `yaml:"sweep_every"`
}

// Releases configures release packages and share links (evidence/release).
type Releases struct {
	Agency ReleaseAgency `yaml:"agency"`
	// RetainFor is how long a release package stays locked in storage.
	RetainFor time.Duration `yaml:"retain_for"`
	// ShareDefaultExpiry applies when a share link names no expiry;
	// ShareMaxExpiry is the longest allowed.
	ShareDefaultExpiry time.Duration `yaml:"share_default_expiry"`
	ShareMaxExpiry     time.Duration `yaml:"share_max_expiry"`
	// PasscodeAttempts wrong passcodes lock a link for PasscodeLockout.
	PasscodeAttempts int           `yaml:"passcode_attempts"`
	PasscodeLockout  time.Duration `yaml:"passcode_lockout"`
	// ShareSessionWindow: a share link download with activity within it is
	// in progress (resumable after the download limit); views within it
	// after the first reach custody and the timeline only once.
	ShareSessionWindow time.Duration `yaml:"share_session_window"`
}

// ReleaseAgency is who releases: the package's Source-Organization and
// the response letter's sender.
type ReleaseAgency struct {
	Name         string   `yaml:"name"`
	ContactEmail string   `yaml:"contact_email"`
	Address      []string `yaml:"address"`
	Signatory    string   `yaml:"signatory"`
	Title        string   `yaml:"title"`
}

// Requests configures public access requests: tracking numbers, the
// public intake page, the statutory clock and the exemption codes.
type Requests struct {
	TrackingPrefix      string        `yaml:"tracking_prefix"`
	DueSoon             time.Duration `yaml:"due_soon"`
	PublicIntakePerHour int           `yaml:"public_intake_per_hour"`
	Clock               RequestClock  `yaml:"clock"`
	Exemptions          []Exemption   `yaml:"exemptions"`
}

// RequestClock is a jurisdiction's statutory clock.
type RequestClock struct {
	Jurisdiction string            `yaml:"jurisdiction"`
	TimeZone     string            `yaml:"time_zone"`
	Days         string            `yaml:"days"` // calendar or business
	ResponseDays int               `yaml:"response_days"`
	Holidays     []string          `yaml:"holidays"` // YYYY-MM-DD
	Extensions   RequestExtensions `yaml:"extensions"`
	PauseOn      []string          `yaml:"pause_on"` // requester, fee
}

// RequestExtensions limits extensions of the clock.
type RequestExtensions struct {
	MaxCount int `yaml:"max_count"`
	MaxDays  int `yaml:"max_days"`
}

// Exemption is one exemption code staff may cite.
type Exemption struct {
	Code  string `yaml:"code"`
	Title string `yaml:"title"`
}

// Policy locates the casbin and retention files (empty: embedded defaults).
type Policy struct {
	ModelFile     string `yaml:"model_file"`
	PolicyFile    string `yaml:"policy_file"`
	RetentionFile string `yaml:"retention_file"`
}

// Redact configures face detection for redaction proposals.
type Redact struct {
	// ONNXRuntimeLibrary is the path of libonnxruntime.so.1, which runs the
	// YuNet detector; empty means beside the demsd executable (where
	// `make build` installs it).
	ONNXRuntimeLibrary string `yaml:"onnxruntime_library"`
}

// Log configures slog.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Secret is a string that never prints itself, so a config dumped to a log
// cannot leak a password or key.
type Secret string

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the value for %#v.
func (s Secret) GoString() string { return `configs.Secret("[redacted]")` }

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// MarshalYAML redacts the value when a config is written out.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// FieldError names a bad option by its YAML path.
type FieldError struct {
	Field  string // e.g. "storage.s3.endpoint"
	Reason string
}

func (e *FieldError) Error() string { return "config: " + e.Field + ": " + e.Reason }

// Default returns the embedded defaults.
func Default() Config {
	var c Config
	if err := decodeStrict(defaultYAML, &c); err != nil {
		panic("configs: embedded default.yaml is invalid: " + err.Error())
	}
	return c
}

// Load layers the file at path (if not empty) and the environment over the
// defaults, then validates. env is usually os.Environ().
func Load(path string, env []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decodeStrict(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&c, env); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func decodeStrict(b []byte, c *Config) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return err
	}
	return nil
}

// EnvPrefix starts every environment override.
const EnvPrefix = "OPENDEMS_"

// ApplyEnv sets fields from OPENDEMS_<SECTION>_<FIELD> variables. An
// OPENDEMS_ variable that names no field is an error (a typo would
// otherwise be silently ignored), except the OPENDEMS_TEST_ and
// OPENDEMS_DEV_ families used by the test harness and dev mode.
func ApplyEnv(c *Config, env []string) error {
	fields := map[string]reflect.Value{}
	collectEnvFields(reflect.ValueOf(c).Elem(), "", fields)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, EnvPrefix)
		if strings.HasPrefix(name, "TEST_") || strings.HasPrefix(name, "DEV_") || strings.HasPrefix(name, "SOAK") || strings.HasPrefix(name, "BENCH") {
			continue
		}
		f, ok := fields[name]
		if !ok {
			return &FieldError{Field: k, Reason: "unknown environment override (no such option)"}
		}
		if err := setFromString(f, v); err != nil {
			return &FieldError{Field: k, Reason: err.Error()}
		}
	}
	return nil
}

func collectEnvFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		name := strings.ToUpper(tag)
		if prefix != "" {
			name = prefix + "_" + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
			collectEnvFields(fv, name, out)
			continue
		}
		out[name] = fv
	}
}

func setFromString(f reflect.Value, s string) error {
	if f.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", f.Type())
		}
		// A comma-separated list; empty means none.
		var list []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				list = append(list, v)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// Validate checks every option and names the first bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, reason string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(reason, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "want host:port, got %q", c.Server.Listen)
	}
	if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("server.public_url", "want an absolute http(s) URL, got %q", c.Server.PublicURL)
	}
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, "must be a positive duration, got %s", d)
		}
	}
	positive("server.session_idle", c.Server.SessionIdle)
	positive("releases.retain_for", c.Releases.RetainFor)
	positive("releases.share_default_expiry", c.Releases.ShareDefaultExpiry)
	positive("releases.passcode_lockout", c.Releases.PasscodeLockout)
	positive("releases.share_session_window", c.Releases.ShareSessionWindow)
	if c.Releases.ShareMaxExpiry < c.Releases.ShareDefaultExpiry {
		bad("releases.share_max_expiry", "must be at least releases.share_default_expiry (%s < %s)", c.Releases.ShareMaxExpiry, c.Releases.ShareDefaultExpiry)
	}
	if c.Releases.PasscodeAttempts < 1 {
		bad("releases.passcode_attempts", "must be at least 1, got %d", c.Releases.PasscodeAttempts)
	}
	if c.Releases.Agency.Name == "" || !strings.Contains(c.Releases.Agency.ContactEmail, "@") {
		bad("releases.agency", "name and contact_email are required (they go into every release package)")
	}
	positive("server.session_max", c.Server.SessionMax)
	if c.Server.SessionIdle > c.Server.SessionMax {
		bad("server.session_idle", "must not exceed server.session_max (%s > %s)", c.Server.SessionIdle, c.Server.SessionMax)
	}
	if c.Server.LockoutAttempts < 1 {
		bad("server.lockout_attempts", "must be at least 1, got %d", c.Server.LockoutAttempts)
	}
	positive("server.lockout_duration", c.Server.LockoutDuration)
	if c.Server.MaxJSONBody < 1024 {
		bad("server.max_json_body", "must be at least 1024 bytes, got %d", c.Server.MaxJSONBody)
	}
	positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	if c.Database.URL != "" {
		if _, err := url.Parse(c.Database.URL.Reveal()); err != nil || !strings.HasPrefix(c.Database.URL.Reveal(), "postgres") {
			bad("database.url", "want a postgres:// or postgresql:// URL")
		}
	}
	if c.Database.MaxConns < 2 {
		bad("database.max_conns", "must be at least 2, got %d", c.Database.MaxConns)
	}
	switch c.Storage.Backend {
	case "fs":
		if c.Storage.FS.Root == "" {
			bad("storage.fs.root", "required when storage.backend is fs")
		}
	case "s3":
		s := c.Storage.S3
		if s.Endpoint == "" {
			bad("storage.s3.endpoint", "required when storage.backend is s3")
		} else if strings.Contains(s.Endpoint, "://") {
			bad("storage.s3.endpoint", "want host:port without a scheme (use storage.s3.use_tls), got %q", s.Endpoint)
		}
		if s.AccessKey == "" {
			bad("storage.s3.access_key", "required when storage.backend is s3")
		}
		if s.SecretKey == "" {
			bad("storage.s3.secret_key", "required when storage.backend is s3")
		}
		if s.Bucket == "" {
			bad("storage.s3.bucket", "required when storage.backend is s3")
		}
		if s.RetentionMode != "GOVERNANCE" && s.RetentionMode != "COMPLIANCE" {
			bad("storage.s3.retention_mode", "want GOVERNANCE or COMPLIANCE, got %q", s.RetentionMode)
		}
		if s.PartSize < 5<<20 {
			bad("storage.s3.part_size", "must be at least 5 MiB (5242880), got %d", s.PartSize)
		}
		if c.Ingest.ChunkSize > s.PartSize {
			// Each ingest chunk becomes one multipart part of at most PartSize.
			bad("ingest.chunk_size", "must not exceed storage.s3.part_size (%d > %d)", c.Ingest.ChunkSize, s.PartSize)
		}
	default:
		bad("storage.backend", "want fs or s3, got %q", c.Storage.Backend)
	}
	if c.Keys.SigningKeyFile == "" {
		bad("keys.signing_key_file", "required")
	}
	if c.Ingest.ChunkSize < 5<<20 || c.Ingest.ChunkSize > 1<<30 {
		bad("ingest.chunk_size", "must be between 5 MiB and 1 GiB, got %d", c.Ingest.ChunkSize)
	}
	positive("ingest.abandoned_after", c.Ingest.AbandonedAfter)
	if c.Workers.Concurrency < 1 || c.Workers.Concurrency > 256 {
		bad("workers.concurrency", "must be between 1 and 256, got %d", c.Workers.Concurrency)
	}
	positive("workers.job_timeout", c.Workers.JobTimeout)
	if c.Workers.RescueStuckAfter < c.Workers.JobTimeout+10*time.Minute {
		bad("workers.rescue_stuck_after", "must be at least workers.job_timeout + 10m (%s), got %s", c.Workers.JobTimeout+10*time.Minute, c.Workers.RescueStuckAfter)
	}
	// The checkpoint interval is the window in which a database superuser
	// could rewrite custody or audit records unnoticed: seconds, not hours.
	if c.Custody.CheckpointInterval < time.Second || c.Custody.CheckpointInterval > 10*time.Minute {
		bad("custody.checkpoint_interval", "must be between 1s and 10m, got %s", c.Custody.CheckpointInterval)
	}
	if c.Custody.VerifyInterval < time.Minute || c.Custody.VerifyInterval > 7*24*time.Hour {
		bad("custody.verify_interval", "must be between 1m and 168h, got %s", c.Custody.VerifyInterval)
	}
	for _, p := range c.Server.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("server.trusted_proxies", "want IP addresses or CIDRs, got %q", p)
			}
		}
	}
	if c.Server.MFAAttempts < 1 || c.Server.MFAAttempts > 100 {
		bad("server.mfa_attempts", "must be between 1 and 100, got %d", c.Server.MFAAttempts)
	}
	positive("server.mfa_lockout", c.Server.MFALockout)
	if c.Server.TokenMaxLifetime < 0 {
		bad("server.token_max_lifetime", "must not be negative, got %s", c.Server.TokenMaxLifetime)
	}
	positive("fixity.period", c.Fixity.Period)
	positive("fixity.run_every", c.Fixity.RunEvery)
	if c.Fixity.RunEvery > c.Fixity.Period {
		bad("fixity.run_every", "must not exceed fixity.period (%s > %s)", c.Fixity.RunEvery, c.Fixity.Period)
	}
	if c.Retention.PurgeGrace < 0 {
		bad("retention.purge_grace", "must not be negative, got %s", c.Retention.PurgeGrace)
	}
	positive("retention.sweep_every", c.Retention.SweepEvery)
	if (c.Policy.ModelFile == "") != (c.Policy.PolicyFile == "") {
		bad("policy.model_file", "set both policy.model_file and policy.policy_file, or neither")
	}
	c.validateRequests(bad)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "want text or json, got %q", c.Log.Format)
	}
	return errors.Join(errs...)
}

func (c Config) validateRequests(bad func(field, reason string, args ...any)) {
	r := c.Requests
	if len(r.TrackingPrefix) < 1 || len(r.TrackingPrefix) > 10 || strings.Trim(r.TrackingPrefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		bad("requests.tracking_prefix", "want 1 to 10 capital letters, got %q", r.TrackingPrefix)
	}
	if r.DueSoon < 0 {
		bad("requests.due_soon", "must not be negative, got %s", r.DueSoon)
	}
	if r.PublicIntakePerHour < 1 {
		bad("requests.public_intake_per_hour", "must be at least 1, got %d", r.PublicIntakePerHour)
	}
	k := r.Clock
	if strings.TrimSpace(k.Jurisdiction) == "" {
		bad("requests.clock.jurisdiction", "required")
	}
	if _, err := time.LoadLocation(k.TimeZone); err != nil || k.TimeZone == "" {
		bad("requests.clock.time_zone", "want an IANA time zone such as America/New_York, got %q", k.TimeZone)
	}
	if k.Days != "calendar" && k.Days != "business" {
		bad("requests.clock.days", "want calendar or business, got %q", k.Days)
	}
	if k.ResponseDays < 1 || k.ResponseDays > 365 {
		bad("requests.clock.response_days", "must be between 1 and 365, got %d", k.ResponseDays)
	}
	for i, h := range k.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			bad(fmt.Sprintf("requests.clock.holidays[%d]", i), "want a date YYYY-MM-DD, got %q", h)
		}
	}
	if k.Extensions.MaxCount < 0 || k.Extensions.MaxCount > 10 {
		bad("requests.clock.extensions.max_count", "must be between 0 and 10, got %d", k.Extensions.MaxCount)
	}
	if k.Extensions.MaxDays < 0 || k.Extensions.MaxDays > 365 {
		bad("requests.clock.extensions.max_days", "must be between 0 and 365, got %d", k.Extensions.MaxDays)
	}
	if k.Extensions.MaxCount > 0 && k.Extensions.MaxDays == 0 {
		bad("requests.clock.extensions.max_days", "must be positive when max_count allows extensions")
	}
	for i, p := range k.PauseOn {
		if p != "requester" && p != "fee" {
			bad(fmt.Sprintf("requests.clock.pause_on[%d]", i), "want requester or fee, got %q", p)
		}
	}
	if len(r.Exemptions) == 0 {
		bad("requests.exemptions", "at least one exemption code is required")
	}
	seen := map[string]bool{}
	for i, e := range r.Exemptions {
		field := fmt.Sprintf("requests.exemptions[%d]", i)
		switch {
		case e.Code == "" || len(e.Code) > 40 || strings.TrimSpace(e.Code) != e.Code || strings.ContainsAny(e.Code, ",;\x00\n\r\t"):
			bad(field+".code", "want 1 to 40 characters without spaces at the ends, commas or semicolons, got %q", e.Code)
		case seen[e.Code]:
			bad(field+".code", "%q listed twice", e.Code)
		}
		seen[e.Code] = true
		if strings.TrimSpace(e.Title) == "" || len(e.Title) > 300 {
			bad(field+".title", "want 1 to 300 characters")
		}
	}
}
