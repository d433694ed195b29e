// Drafts: the working copy of a spec (JSON only: never frames or
// thumbnails) kept in IndexedDB on every change, so a crash, a closed tab
// or a lost connection loses nothing. A draft is not a spec version and
// nobody else sees it; app.js deletes the database at logout.

const DB = "opendems-editor";
const STORE = "drafts";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req ? req.result : undefined);
      t.onerror = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

// loadDraft returns {spec, baseVersion, savedAt, changes} or null.
export async function loadDraft(key) {
  try { return (await tx("readonly", (s) => s.get(key))) || null; } catch (e) { return null; }
}

export async function saveDraft(key, draft) {
  try { await tx("readwrite", (s) => s.put(draft, key)); } catch (e) { /* private mode: no drafts */ }
}

export async function dropDraft(key) {
  try { await tx("readwrite", (s) => s.delete(key)); } catch (e) { /* nothing to drop */ }
}
