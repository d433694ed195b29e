package jobs

import "github.com/google/uuid"

// TranscodeArgs asks a worker to probe an original and make its web proxy
// and thumbnails. It is enqueued in the same transaction that commits the
// evidence item, so an item never exists without its job.
type TranscodeArgs struct {
	EvidenceID uuid.UUID `json:"evidence_id"`
	// Outputs, when set, remakes just these outputs ("proxy", "poster",
	// "thumbstrip") even if they exist: the way to retry one output, e.g.
	// a thumbnail that failed, without touching the others. Empty makes
	// every output that is still missing.
	Outputs []string `json:"outputs,omitempty"`
}

// Kind is river's job kind.
func (TranscodeArgs) Kind() string { return "transcode" }

// FixityArgs re-hashes a share of the originals (or one item when
// EvidenceID is set).
type FixityArgs struct {
	EvidenceID *uuid.UUID `json:"evidence_id,omitempty"`
}

// Kind is river's job kind.
func (FixityArgs) Kind() string { return "fixity" }

// UploadCleanupArgs aborts abandoned upload sessions.
type UploadCleanupArgs struct{}

// Kind is river's job kind.
func (UploadCleanupArgs) Kind() string { return "upload_cleanup" }

// CheckpointArgs signs a checkpoint over all custody chain heads.
type CheckpointArgs struct{}

// Kind is river's job kind.
func (CheckpointArgs) Kind() string { return "custody_checkpoint" }

// CustodyVerifyArgs re-verifies every custody chain against the latest
// signed checkpoint, and the audit log against its signed anchors (the
// periodic integrity check; custody.verify_interval).
type CustodyVerifyArgs struct{}

// Kind is river's job kind.
func (CustodyVerifyArgs) Kind() string { return "custody_verify" }
