package releasepkg

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Format and version of data/release.json and the clip reports.
const (
	IndexFormat   = "opendems-release"
	ReportFormat  = "opendems-release-redaction-report"
	FormatVersion = 1
)

// Fixed payload paths (relative to the bag, so they start with data/).
const (
	IndexFile         = "data/release.json"
	WithheldJSONFile  = "data/withheld.json"
	WithheldCSVFile   = "data/withheld.csv"
	LetterFile        = "data/letter.pdf"
	CustodyFile       = "data/custody/excerpt.jsonl"
	ReleaseEventsFile = "data/custody/release-events.jsonl"
)

// Spec is everything a release package is built from. Readers are read
// once, in order; clips are opened one at a time.
type Spec struct {
	ReleaseID     string // the release's id in the system
	RequestNumber string // the public request number; the bag's External-Identifier
	Agency        Agency
	Requester     Requester
	// Description goes to bag-info's Internal-Sender-Description.
	Description string
	Letter      Letter
	Clips       []Clip
	Withheld    []WithheldItem
	// CustodyExcerpt is the custody export (package chain's JSON lines)
	// of every clip's source item, with covering signed checkpoints.
	CustodyExcerpt io.Reader
	// ReleaseEvents are the release's own events, in the same format.
	ReleaseEvents io.Reader
	// SigningKey signs the bag; it must be the key that signs custody
	// checkpoints (Verify trusts the excerpt's checkpoints only under it).
	SigningKey ed25519.PrivateKey
	Now        time.Time
}

// Agency is who releases.
type Agency struct {
	Name         string   `json:"name"`
	ContactEmail string   `json:"contact_email"`
	Address      []string `json:"address,omitempty"`
}

// Requester is who receives the release.
type Requester struct {
	Name    string   `json:"name"`
	Email   string   `json:"email,omitempty"`
	Address []string `json:"address,omitempty"`
}

// Letter is the response letter's text; the package's file list and
// withheld items are added by Build.
type Letter struct {
	Subject    string   `json:"subject"`
	Paragraphs []string `json:"paragraphs"`
	Signatory  string   `json:"signatory"`
	Title      string   `json:"title,omitempty"`
}

// Clip is one redacted clip to release.
type Clip struct {
	// Name is the file name under data/clips/ (one path element).
	Name string
	// Open returns the rendered clip; it is called once, when the clip's
	// turn comes.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// RenderReport is the redaction report JSON the renderer wrote for
	// this output (package redact's Report); its output SHA-256 must be
	// the clip's.
	RenderReport []byte
	// SourceEvidenceID is the evidence item the clip was cut from; the
	// render report's clip_source must name it too when it is set.
	SourceEvidenceID string
	// SpecVersion is the redaction spec version that was approved.
	SpecVersion int
	// Exemptions maps a redaction item id to its exemption codes;
	// DefaultExemptions applies to items not in the map.
	Exemptions        map[string][]string
	DefaultExemptions []string
	// Approval is the second reviewer's sign-off; its OutputSHA256 must be
	// the clip's.
	Approval *Approval
}

// Approval records the maker-checker decision that allowed the release.
type Approval struct {
	ApprovedBy   string    `json:"approved_by"`
	ApprovedAt   time.Time `json:"approved_at"`
	SpecVersion  int       `json:"spec_version"`
	OutputSHA256 string    `json:"output_sha256"`
	Comment      string    `json:"comment,omitempty"`
}

// WithheldItem is an item the release does not include, with why.
type WithheldItem struct {
	EvidenceID  string   `json:"evidence_id"`
	SHA256      string   `json:"sha256,omitempty"`
	Description string   `json:"description"`
	Exemptions  []string `json:"exemptions"`
	Note        string   `json:"note,omitempty"`
}

// Index is data/release.json: what the package holds and how the parts
// relate, for people and for Verify.
type Index struct {
	Format        string        `json:"format"`
	Version       int           `json:"version"`
	ReleaseID     string        `json:"release_id"`
	RequestNumber string        `json:"request_number"`
	Agency        Agency        `json:"agency"`
	Requester     Requester     `json:"requester"`
	CreatedAt     time.Time     `json:"created_at"`
	KeyID         string        `json:"key_id"`
	Clips         []IndexClip   `json:"clips"`
	Withheld      IndexWithheld `json:"withheld"`
	Letter        string        `json:"letter"`
	Custody       string        `json:"custody_excerpt"`
	ReleaseEvents string        `json:"release_events"`
}

// IndexClip ties a clip to its reports and source.
type IndexClip struct {
	File             string `json:"file"`
	Size             int64  `json:"size"`
	SHA256           string `json:"sha256"`
	ReportJSON       string `json:"report_json"`
	ReportCSV        string `json:"report_csv"`
	RenderReport     string `json:"render_report"`
	SourceEvidenceID string `json:"source_evidence_id"`
	SourceSHA256     string `json:"source_sha256"`
}

// IndexWithheld names the withheld-items index files.
type IndexWithheld struct {
	JSON  string `json:"json"`
	CSV   string `json:"csv"`
	Count int    `json:"count"`
}

// ClipReport is data/reports/<clip>.redaction.json: the render report's
// items with their exemption codes, tied by SHA-256 to the clip and to
// its source.
type ClipReport struct {
	Format           string          `json:"format"`
	Version          int             `json:"version"`
	Clip             string          `json:"clip"`
	Output           Digest          `json:"output"`
	Source           Digest          `json:"source"`
	SourceEvidenceID string          `json:"source_evidence_id"`
	SpecVersion      int             `json:"spec_version"`
	In               float64         `json:"in"`
	Out              float64         `json:"out"`
	Approval         *Approval       `json:"approval,omitempty"`
	Items            []RedactionItem `json:"items"`
}

// Digest names bytes by size and SHA-256.
type Digest struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// RedactionItem is one redaction with its exemption codes.
type RedactionItem struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Start       float64  `json:"start"`
	End         float64  `json:"end"`
	OutputStart float64  `json:"output_start"`
	OutputEnd   float64  `json:"output_end"`
	Method      string   `json:"method"`
	Reason      string   `json:"reason"`
	Origin      string   `json:"origin"`
	Exemptions  []string `json:"exemptions"`
}

// renderReport is the part of package redact's Report JSON this package
// reads (redact links FFmpeg; this package must not).
type renderReport struct {
	Source     renderDigest    `json:"source"`
	Output     renderDigest    `json:"output"`
	ClipSource string          `json:"clip_source"`
	In         float64         `json:"in"`
	Out        float64         `json:"out"`
	Items      []RedactionItem `json:"items"`
}

type renderDigest struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Errors of Build, for errors.Is.
var (
	ErrInvalidSpec  = errors.New("release package: invalid spec")
	ErrClipMismatch = errors.New("release package: clip is not what was rendered and approved")
	ErrNoCustody    = errors.New("release package: source not in the custody excerpt")
)

var (
	sha256Hex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	exemptionCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9().:/ -]{0,39}$`)
	clipName      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._ -]{0,119}$`)
)

// Validate checks a spec before anything is written.
func (s *Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(s.RequestNumber) == "" || strings.ContainsAny(s.RequestNumber, "/\\\r\n%"):
		return bad("request number %q", s.RequestNumber)
	case strings.TrimSpace(s.ReleaseID) == "":
		return bad("release id missing")
	case s.Agency.Name == "" || s.Agency.ContactEmail == "":
		return bad("agency name and contact email are required")
	case len(s.SigningKey) != ed25519.PrivateKeySize:
		return bad("signing key missing")
	case s.CustodyExcerpt == nil || s.ReleaseEvents == nil:
		return bad("custody excerpt and release events are required")
	case len(s.Clips) == 0 && len(s.Withheld) == 0:
		return bad("nothing released and nothing withheld")
	}
	seen := map[string]bool{}
	for i, c := range s.Clips {
		if !clipName.MatchString(c.Name) || strings.Contains(c.Name, "..") {
			return bad("clip %d: name %q (letters, digits, space, . _ -)", i, c.Name)
		}
		if seen[strings.ToLower(c.Name)] {
			return bad("clip %q twice", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		if c.Open == nil || len(c.RenderReport) == 0 {
			return bad("clip %q: needs Open and RenderReport", c.Name)
		}
		for _, codes := range c.Exemptions {
			if err := checkCodes(codes); err != nil {
				return bad("clip %q: %v", c.Name, err)
			}
		}
		if err := checkCodes(c.DefaultExemptions); err != nil {
			return bad("clip %q: %v", c.Name, err)
		}
	}
	for i, w := range s.Withheld {
		if w.EvidenceID == "" || len(w.Exemptions) == 0 {
			return bad("withheld item %d: evidence id and at least one exemption code are required", i)
		}
		if err := checkCodes(w.Exemptions); err != nil {
			return bad("withheld item %d: %v", i, err)
		}
	}
	return nil
}

func checkCodes(codes []string) error {
	for _, c := range codes {
		if !exemptionCode.MatchString(c) {
			return fmt.Errorf("exemption code %q", c)
		}
	}
	return nil
}

// reportCSV renders a clip report as CSV, one row per redaction; every
// row carries both hashes so a row copied elsewhere still names its files.
func reportCSV(r *ClipReport) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "kind", "start", "end", "output_start", "output_end", "method", "reason", "origin",
		"exemptions", "clip", "output_sha256", "source_evidence_id", "source_sha256"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, it := range r.Items {
		w.Write([]string{it.ID, it.Kind, f(it.Start), f(it.End), f(it.OutputStart), f(it.OutputEnd), it.Method,
			it.Reason, it.Origin, strings.Join(it.Exemptions, ";"), r.Clip, r.Output.SHA256, r.SourceEvidenceID, r.Source.SHA256})
	}
	w.Flush()
	return b.Bytes()
}

// withheldCSV renders the withheld-items index.
func withheldCSV(items []WithheldItem) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"evidence_id", "sha256", "description", "exemptions", "note"})
	for _, it := range items {
		w.Write([]string{it.EvidenceID, it.SHA256, it.Description, strings.Join(it.Exemptions, ";"), it.Note})
	}
	w.Flush()
	return b.Bytes()
}

func marshalJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only plain structs are marshalled here
	}
	return append(b, '\n')
}
