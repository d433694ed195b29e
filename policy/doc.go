// Package policy makes OpenDEMS's authorization and destruction decisions:
// who may do what to which evidence (access), how long an item must be kept
// (retention), and whether an item may be destroyed now (purge). Every
// decision carries the rule that produced it, so an auditor, a supervisor or
// a court can be shown why.
//
// # Why casbin, and why rows per role/unit/category
//
// An agency changes its rules (a new unit, a new category, an internal
// affairs restriction) far more often than it changes software, so the rules
// live in casbin model and policy files under configs/policy/ that an agency
// edits, not in Go code. Policy rows are written per role, unit and category
// and never per evidence item: a million recordings must not mean a million
// rows, and item attributes (owner, unit, categories, restriction) are
// passed in the request instead.
//
// # Access data flow
//
//	API middleware ── Subject (from identity.Principal), Action, Resource (from the item row)
//	      │
//	      ▼
//	Access.Decide / Access.RouteDecision / Access.Explain
//	      │  flattens the request into casbin request values and calls
//	      │  casbin EnforceEx with the custom functions unitWithin,
//	      │  unitOverlaps, actionMatch, categoryMatch, inGroup, hasGroups
//	      ▼
//	Decision{Allowed, Rule ("p, supervisor, *, evidence:view, *, unit, allow"), Reason, Source}
//
// Units are dotted paths ("patrol", "patrol.north"). A row's unit column is
// the domain the row covers (the item's unit must lie within it); a row's
// scope column ties the item to the subject: "any" (agency-wide), "unit"
// (the item lies within the subject's own unit subtree, which is how a
// supervisor of a unit acts on its sub-units), "own" (the item's officer is
// the subject's badge), "group" (the item is restricted to a group the
// subject belongs to) and "restricted" (the item is restricted to a group
// the subject does not belong to; used by deny rows). The effect is
// allow-and-deny: one matching deny row beats any number of allows, and when
// nothing matches the answer is deny with the reason "no rule matched".
//
// RouteDecision answers for routes that are not about one item (list,
// upload, admin pages): may this role, in this unit, perform the action on
// anything at all? It uses the model's second matcher m2. ListScope turns
// the allow rows into a database prefilter for listings, which still
// Decide on each row they return.
//
// casbin evaluates the matcher on every row for every request, so the
// loader indexes rows by (role, action) and builds one enforcer per bucket;
// both matchers require role and action to match, so the index drops only
// rows that could never match (TestCasbinAgreesWithReference checks it).
//
// The compiled enforcer is immutable once built; Reload builds a new one
// from a Source and swaps it in atomically, keeping the old one if the new
// files are invalid, so a typo in an edited CSV never opens or closes the
// whole system. Watch polls a FileSource's modification times; the server
// wires SIGHUP to Reload.
//
// # Retention and purge data flow
//
//	configs/policy/retention.yaml ── ParseSchedule (strict YAML, Validate) ──► Schedule
//	ItemRetentionInput (recorded time, categories, flags, subject requests, open access request)
//	      │  Schedule.RetainUntil: longest category, largest flag extension,
//	      │  subject requests, open access requests hold indefinitely
//	      ▼
//	(until, indefinite, explanation)
//	      │
//	PurgeInput (+ now, item and case legal holds) ── Purge.Decide (its own casbin enforcer) ──► Decision
//
// The purge enforcer works on facts ("retention-ended", "legal-hold-item",
// "open-access-request", …) derived in Go from the item, and the purge
// policy turns them into allow/deny rows, so the explanation of a refused
// purge is the deny row that stopped it.
//
// Package policy is a leaf: it imports no other OpenDEMS package. Its input
// types (Subject, Resource, ItemRetentionInput, PurgeInput) are its own;
// callers translate their domain types into them. The embedded default files
// live in package configs/policy (policyconf); only cmd wires them in.
package policy
