// Package retention keeps every evidence item exactly as long as the
// agency's retention schedule, its legal holds and its open requests say,
// and destroys it afterwards with a certificate of destruction.
//
// # What it owns
//
//   - retain-until: recomputed (policy.Schedule.RetainUntil, counted from the
//     item's recorded_at) whenever something it depends on changes:
//     categories, flags, a subject's request, a public access request opened
//     or closed, a legal hold set or released, or an edited schedule (the
//     sweep notices a new schedule version). The value is stored in
//     evidence_items.retain_until (NULL with retention_indefinite = true when
//     kept indefinitely) and mirrored to the storage lock of the original.
//   - legal holds on an item or on a case (legal_holds, cases, case_items),
//     with reason and who set it. evidence_items.legal_hold is "any active
//     item hold or hold on one of its cases" and is mirrored to the storage
//     legal hold of the original.
//   - purge: the daily Sweep schedules items whose retention ended
//     (purge_schedule, with a grace period during which an authorized user
//     can cancel), PurgeDue destroys what is due, after deciding again with
//     policy.Purge (the schedule row is never trusted), and writes the
//     certificate as the item's final custody event. The item row stays as
//     a tombstone (state purged).
//   - the HTTP routes for all of this and GET /api/v1/policy/explain.
//
// # Storage locks only ever grow
//
// Storage can extend an object's retention but never shorten it (S3 Object
// Lock; storage/fs mirrors that rule). So when a category change shortens an
// item's retention, the database value shortens but the original stays
// locked until the longer date; PurgeDue then finds the object still
// retained and postpones the purge to the storage date. An indefinite
// retention cannot be written as a date, so the original gets a rolling lock
// (Config.IndefiniteLock, default one year) that the sweep renews while the
// item stays indefinite. Only originals are locked: derivatives (proxies,
// thumbnails, redacted clips) are deleted at purge unless another live item
// shares the same bytes.
//
// # Ordering with storage
//
// Every change runs in one PostgreSQL transaction that locks the item row
// (cases: the case row, then each item row in id order), writes the custody
// events with custody.Append in that transaction, and talks to storage in
// the order that is safe if the commit fails: protective operations
// (extend retention, set legal hold) before the commit, releasing ones
// (clear legal hold) after it. A failed release leaves storage more
// protective than the database; the sweep reconciles such drift.
//
// # Data flow
//
//	API (gin, Register/Routes) ─┐
//	other packages (Recompute,  ├─► Service.change: tx{ lock item, mutate, recompute,
//	 OpenAccessRequest, …)      │       custody.Append, storage extend/hold } commit, release holds
//	river periodic jobs ────────┘─► Sweep: recompute stale items, schedule expired ones
//	                               PurgeDue: re-decide, verify SHA-256, delete, certificate
package retention
