package s3

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/opendems/opendems/storage"
)

// Retention modes of S3 Object Lock.
const (
	// Governance locks against everyone who does not hold the
	// s3:BypassGovernanceRetention permission and send the bypass header.
	Governance = "GOVERNANCE"
	// Compliance locks against everyone, root included, until the date.
	Compliance = "COMPLIANCE"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultPartSize = 16 << 20
	DefaultBuffers  = 4
	// maxPartSize is S3's limit for one part.
	maxPartSize = 5 << 30
	// maxParts is S3's limit of parts per upload.
	maxParts = 10000
)

// Config configures the S3 backend. Zero fields take the defaults noted.
type Config struct {
	// Endpoint is host:port, without scheme (e.g. "127.0.0.1:9000").
	Endpoint  string `yaml:"endpoint"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	Bucket    string `yaml:"bucket"`
	// Region defaults to us-east-1 (what MinIO uses).
	Region string `yaml:"region"`
	UseTLS bool   `yaml:"use_tls"`
	// RetentionMode applied to objects put with a retain-until date:
	// "GOVERNANCE" (default) or "COMPLIANCE".
	RetentionMode string `yaml:"retention_mode"`
	// DefaultRetention, if positive, is applied to originals put without
	// a retain-until date, so no original is ever stored unlocked by
	// mistake. Zero: no default.
	DefaultRetention time.Duration `yaml:"default_retention"`
	// PartSize is the multipart part size and the largest part WritePart
	// accepts; default 16 MiB, at least storage.MinPartSize.
	PartSize int64 `yaml:"part_size"`
	// Buffers is how many PartSize buffers the store holds at once across
	// all operations (default 4); memory use is about PartSize×Buffers.
	// Upload parts written with a declared SHA-256 stream without one.
	Buffers int `yaml:"buffers"`
	// Transport replaces the HTTP transport (custom TLS roots, or tests
	// that record requests). Nil: minio-go's default.
	Transport http.RoundTripper `yaml:"-"`
}

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("invalid s3 storage configuration")

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.RetentionMode == "" {
		c.RetentionMode = Governance
	}
	c.RetentionMode = strings.ToUpper(c.RetentionMode)
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Buffers == 0 {
		c.Buffers = DefaultBuffers
	}
	return c
}

// Validate reports every problem with c (after defaults) at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.Endpoint == "":
		add("endpoint is empty")
	case strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/"):
		add("endpoint %q must be host:port without scheme or path (set use_tls for https)", c.Endpoint)
	}
	if c.AccessKey == "" {
		add("access_key is empty")
	}
	if c.SecretKey == "" {
		add("secret_key is empty")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		add("bucket %q: %v", c.Bucket, err)
	}
	if c.RetentionMode != Governance && c.RetentionMode != Compliance {
		add("retention_mode %q: want GOVERNANCE or COMPLIANCE", c.RetentionMode)
	}
	if c.DefaultRetention < 0 {
		add("default_retention %v is negative", c.DefaultRetention)
	}
	if c.PartSize < storage.MinPartSize || c.PartSize > maxPartSize {
		add("part_size %d: want between %d and %d bytes", c.PartSize, storage.MinPartSize, int64(maxPartSize))
	}
	if c.Buffers < 1 || c.Buffers > 256 {
		add("buffers %d: want between 1 and 256", c.Buffers)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// String describes c without the secret key, for logs.
func (c Config) String() string {
	return fmt.Sprintf("s3{endpoint=%s tls=%t bucket=%s access_key=%s mode=%s}", c.Endpoint, c.UseTLS, c.Bucket, c.AccessKey, c.RetentionMode)
}
