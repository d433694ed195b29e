// Package fs is the local-filesystem storage.Backend, the default for a
// single server and for `demsd dev`.
//
// Layout under the root directory (all on one filesystem, so renames and
// hard links are atomic):
//
//	<ns>/ab/cd/<hex>        object bytes, named by their SHA-256, mode 0444
//	<ns>/ab/cd/<hex>.json   sidecar: size, created, retain-until, legal hold
//	tmp/                    temporary files of Put, never visible objects
//	uploads/<id>/upload.json  resumable upload: ref, size, options, start
//	uploads/<id>/data         staged bytes, parts written at their offsets
//	uploads/<id>/part-NNNNN.json  durable record of each written part
//
// Data flow of Put: bytes stream into a temporary file under tmp/ while
// they are hashed; the file is fsynced and its size and SHA-256 compared
// with the declared ones. Only then is the sidecar written (temp + rename +
// fsync) and the data hard-linked to its final name; link(2) fails if the
// name exists, so an object is never overwritten. A deferred cleanup keyed
// on a success flag removes the temporary file on every failure path, so a
// wrong digest or size leaves nothing visible.
//
// Retention and legal hold live in the sidecar, which is written before the
// object becomes visible: a crash can leave a sidecar without data (ignored
// and replaced by the next Put) but never visible data without its
// retention. Delete reads the sidecar and refuses (storage.ErrRetained)
// while retain-until is in the future or a hold is set. The file mode 0444
// is a second line of defence against accidental writes by other tools; it
// does not stop root, which is why the sidecar check is the enforcement.
//
// Resumable uploads write each part at its offset into one staging file,
// fsync it, then record the part (its own SHA-256 as ETag and the running
// whole-object hash state) atomically. Complete never trusts the recorded
// hash states alone: it re-reads the staged bytes, checks each part's
// SHA-256 and the whole-object digest, and only then promotes the file
// with the same sidecar + link steps as Put. So a staging file corrupted on
// disk between WritePart and Complete never becomes evidence.
//
// Concurrency: operations on one object or one upload are serialised by
// in-process striped mutexes. Two processes sharing a root are safe for
// data (link(2) never overwrites) but may race on the sidecar of the same
// brand-new digest; run one writer process per root.
package fs
