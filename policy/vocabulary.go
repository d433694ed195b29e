package policy

import (
	"fmt"
	"strings"
)

// Role is a subject's role. The set is fixed because the API, the schema
// (users.role) and the default policy all name these roles; an agency
// changes what a role may do in the policy file, not which roles exist.
type Role string

// Roles of people, and the pseudo-role of docking stations.
const (
	RoleOfficer    Role = "officer"
	RoleSupervisor Role = "supervisor"
	RoleRecords    Role = "records"
	RoleAuditor    Role = "auditor"
	RoleAdmin      Role = "admin"
	RoleDock       Role = "dock"
)

// Roles returns every role, people first and the dock last, in the order
// the documentation's roles table uses.
func Roles() []Role {
	return []Role{RoleOfficer, RoleSupervisor, RoleRecords, RoleAuditor, RoleAdmin, RoleDock}
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, k := range Roles() {
		if r == k {
			return true
		}
	}
	return false
}

// Action is what a subject wants to do. The vocabulary is fixed so a typo in
// a handler or a policy row is an error at load time instead of a silent
// deny (or, worse, a silent allow through a wildcard).
type Action string

// The action vocabulary. Item actions are decided against a Resource; the
// others (list, upload, admin pages) by RouteDecision.
const (
	ActEvidenceList       Action = "evidence:list"          // list/search evidence
	ActEvidenceView       Action = "evidence:view"          // read an item's metadata
	ActEvidencePlay       Action = "evidence:play"          // watch the proxy, thumbnails
	ActEvidenceDownload   Action = "evidence:download"      // take the original bytes
	ActEvidenceEdit       Action = "evidence:edit"          // edit title, notes, tags
	ActEvidenceCategorize Action = "evidence:categorize"    // set categories (changes retention)
	ActEvidenceRestrict   Action = "evidence:restrict"      // restrict an item to a group
	ActEvidenceHold       Action = "evidence:hold"          // place or lift an item's legal hold
	ActEvidenceUpload     Action = "evidence:upload"        // ingest new recordings
	ActCustodyRead        Action = "custody:read"           // read an item's chain of custody
	ActCustodyExport      Action = "custody:export"         // export a signed custody excerpt
	ActCaseRead           Action = "case:read"              // read cases and their links
	ActCaseEdit           Action = "case:edit"              // create/edit cases, link evidence
	ActCaseHold           Action = "case:hold"              // place or lift a case's legal hold
	ActRequestRead        Action = "request:read"           // read public access requests
	ActRequestEdit        Action = "request:edit"           // open, update, close public access requests
	ActSubjectRequest     Action = "subject-request:create" // record a subject's request to keep a recording
	ActRedactionCreate    Action = "redaction:create"       // draft a redaction
	ActRedactionApprove   Action = "redaction:approve"      // approve someone else's redaction
	ActReleaseCreate      Action = "release:create"         // build a release package
	ActReleaseApprove     Action = "release:approve"        // approve a release (second person)
	ActAuditRead          Action = "audit:read"             // read the audit log
	ActPolicyExplain      Action = "policy:explain"         // ask why a decision was made
	ActAdminUsers         Action = "admin:users"            // manage users and tokens
	ActAdminUnits         Action = "admin:units"            // manage the unit tree
	ActAdminDocks         Action = "admin:docks"            // enrol and revoke docks
	ActAdminRetention     Action = "admin:retention"        // view/change retention schedules
	ActPurgeSchedule      Action = "purge:schedule"         // schedule destruction of an item
	ActPurgeCancel        Action = "purge:cancel"           // cancel a scheduled destruction
)

// Actions returns the whole vocabulary in a stable order.
func Actions() []Action {
	return []Action{
		ActEvidenceList, ActEvidenceView, ActEvidencePlay, ActEvidenceDownload,
		ActEvidenceEdit, ActEvidenceCategorize, ActEvidenceRestrict, ActEvidenceHold,
		ActEvidenceUpload, ActCustodyRead, ActCustodyExport, ActCaseRead, ActCaseEdit,
		ActCaseHold, ActRequestRead, ActRequestEdit, ActSubjectRequest, ActRedactionCreate,
		ActRedactionApprove, ActReleaseCreate, ActReleaseApprove, ActAuditRead,
		ActPolicyExplain, ActAdminUsers, ActAdminUnits, ActAdminDocks,
		ActAdminRetention, ActPurgeSchedule, ActPurgeCancel,
	}
}

// Valid reports whether a is in the vocabulary.
func (a Action) Valid() bool {
	for _, k := range Actions() {
		if a == k {
			return true
		}
	}
	return false
}

// ParseAction turns an API parameter into an Action, refusing anything
// outside the vocabulary.
func ParseAction(s string) (Action, error) {
	a := Action(s)
	if !a.Valid() {
		return "", fmt.Errorf("policy: parse action %q: %w", s, ErrUnknownAction)
	}
	return a, nil
}

// actionPatternValid reports whether p (a policy row's act column) is an
// action, "*", or a prefix pattern "evidence:*" that covers at least one
// action; a pattern covering nothing is almost certainly a typo.
func actionPatternValid(p string) bool {
	if p == "*" {
		return true
	}
	for _, a := range Actions() {
		if actionMatches(string(a), p) {
			return true
		}
	}
	return false
}

// actionMatches is the semantics of the actionMatch matcher function.
func actionMatches(act, pattern string) bool {
	if pattern == "*" || act == pattern {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasSuffix(prefix, ":") {
		return strings.HasPrefix(act, prefix)
	}
	return false
}

// ValidUnitPath reports whether p is a dotted path of unit slugs, the form
// units.path has in the database ("patrol", "patrol.north").
func ValidUnitPath(p string) bool {
	if p == "" || len(p) > 1024 {
		return false
	}
	for seg := range strings.SplitSeq(p, ".") {
		if !slug(seg, "-") {
			return false
		}
	}
	return true
}

// slug reports whether s is 1–63 bytes of [a-z0-9] and the extra
// punctuation, starting with [a-z0-9] (the CHECK constraints of the
// schema). Hand-written rather than a regexp because every decision
// validates its input and a regexp match was a fifth of a decision's time.
func slug(s, extra string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// UnitWithin reports whether unit lies within root: the same unit or one of
// its sub-units. root "*" covers every unit. It compares whole path
// segments, so "patrol-east" is not within "patrol".
func UnitWithin(unit, root string) bool {
	if root == "*" {
		return true
	}
	if unit == "" || root == "" {
		return false
	}
	return unit == root || (len(unit) > len(root) && strings.HasPrefix(unit, root) && unit[len(root)] == '.')
}

// unitOverlaps reports whether one unit lies within the other, which is
// when a unit-scoped row can apply to a subject of either unit.
func unitOverlaps(a, b string) bool { return UnitWithin(a, b) || UnitWithin(b, a) }

// validName reports whether s is a category, flag or group name: the slug
// form the schema and the YAML use.
func validName(s string) bool { return slug(s, "._-") }
