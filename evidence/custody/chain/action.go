package chain

import "fmt"

// Action is what happened to an evidence item. Actions are recorded as
// their string value; the set is closed so that reports and policies can
// rely on it (Append refuses unknown actions), while the offline verifier
// accepts any string so that an older verifier can still check the hashes
// of an export written by a newer server.
type Action string

// Custody actions. The string values are part of the hashed record: never
// rename one.
const (
	ActionIngested           Action = "ingested"
	ActionDuplicateUpload    Action = "duplicate_upload_attempt"
	ActionViewed             Action = "viewed" // playback started
	ActionOriginalDownloaded Action = "original_downloaded"
	ActionMetadataChanged    Action = "metadata_changed"
	ActionCategoryChanged    Action = "category_changed"
	ActionRetentionChanged   Action = "retention_changed"
	ActionLegalHoldSet       Action = "legal_hold_set"
	ActionLegalHoldCleared   Action = "legal_hold_cleared"
	ActionCaseAdded          Action = "case_added"
	ActionCaseRemoved        Action = "case_removed"
	ActionMarkerAdded        Action = "marker_added"
	ActionNoteAdded          Action = "note_added"
	ActionShared             Action = "shared"
	ActionRedactionCreated   Action = "redaction_created"
	ActionRedactionApproved  Action = "redaction_approved"
	ActionReleased           Action = "released"
	ActionFixityOK           Action = "fixity_ok"
	ActionFixityFailed       Action = "fixity_failed"
	ActionPurgeScheduled     Action = "purge_scheduled"
	ActionPurgeCancelled     Action = "purge_cancelled"
	ActionPurged             Action = "purged" // details carry the certificate of destruction
	ActionAccessDenied       Action = "access_denied"
	// A public access request took (or gave back) a clip of the item.
	ActionRequestClipLinked  Action = "request_clip_linked"
	ActionRequestClipRemoved Action = "request_clip_removed"
	// A redacted render or preview made from the item was downloaded.
	ActionRequestOutputDownloaded Action = "request_output_downloaded"
	// A public access request withheld the item (citing exemption codes)
	// or stopped withholding it.
	ActionRequestWithheld      Action = "request_item_withheld"
	ActionRequestWithholdEnded Action = "request_item_withhold_ended"
)

// Actions lists every known action, in a stable order (for documentation,
// UI filters and tests).
var Actions = []Action{
	ActionIngested, ActionDuplicateUpload, ActionViewed, ActionOriginalDownloaded,
	ActionMetadataChanged, ActionCategoryChanged, ActionRetentionChanged,
	ActionLegalHoldSet, ActionLegalHoldCleared, ActionCaseAdded, ActionCaseRemoved,
	ActionMarkerAdded, ActionNoteAdded, ActionShared, ActionRedactionCreated,
	ActionRedactionApproved, ActionReleased, ActionFixityOK, ActionFixityFailed,
	ActionPurgeScheduled, ActionPurgeCancelled, ActionPurged, ActionAccessDenied,
	ActionRequestClipLinked, ActionRequestClipRemoved, ActionRequestOutputDownloaded,
	ActionRequestWithheld, ActionRequestWithholdEnded,
}

// requiredDetails names the detail keys an action must carry so that the
// record answers the questions a court asks (what was it before, what is
// it now, which case, which hash).
func requiredDetails(a Action) []string {
	switch a {
	case ActionIngested:
		return []string{"sha256", "size"}
	case ActionMetadataChanged:
		return []string{"field", "old", "new"}
	case ActionCategoryChanged, ActionRetentionChanged:
		return []string{"old", "new"}
	case ActionCaseAdded, ActionCaseRemoved:
		return []string{"case_id"}
	case ActionFixityOK:
		return []string{"sha256"}
	case ActionFixityFailed:
		return []string{"sha256", "error"}
	case ActionPurged:
		return []string{"certificate"}
	case ActionRequestClipLinked, ActionRequestClipRemoved:
		return []string{"request", "clip_id"}
	case ActionRequestWithheld:
		return []string{"request", "exemptions"}
	case ActionRequestWithholdEnded:
		return []string{"request", "reason"}
	case ActionRequestOutputDownloaded:
		return []string{"clip_id", "sha256"}
	}
	return nil
}

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool {
	for _, k := range Actions {
		if k == a {
			return true
		}
	}
	return false
}

// CheckDetails verifies that a is known and that details (a decoded
// canonical JSON object) has the keys the action requires.
func (a Action) CheckDetails(details map[string]any) error {
	if !a.Valid() {
		return fmt.Errorf("%w: %q", ErrUnknownAction, string(a))
	}
	for _, k := range requiredDetails(a) {
		if _, ok := details[k]; !ok {
			return fmt.Errorf("%w: action %s needs detail %q", ErrMissingDetail, a, k)
		}
	}
	return nil
}
