// The working copy of a redaction spec and its edit history. Every edit is
// a command with its inverse (undo replays the inverse, redo the command);
// a command records only the item it changes (one region, one audio or
// full-frame range), never a snapshot of the whole spec, so long clips with
// thousands of proposal keyframes stay cheap to edit.

const LISTS = { region: "regions", audio: "audio", frame: "full_frame_blur" };

export class Model {
  constructor(spec, onChange) {
    this.spec = spec;
    for (const k of Object.values(LISTS)) if (!Array.isArray(spec[k])) spec[k] = [];
    this.undoStack = [];
    this.redoStack = [];
    this.onChange = onChange || (() => {});
    this.changes = 0; // since the last save
    this.seq = 0;
  }

  list(kind) { return this.spec[LISTS[kind]]; }

  find(kind, id) { return this.list(kind).find((x) => x.id === id) || null; }

  // newID returns an id unused by any item (the spec requires unique ids).
  newID(prefix) {
    const used = new Set();
    for (const k of Object.values(LISTS)) for (const x of this.spec[k]) used.add(x.id);
    let n = 0;
    for (const k of Object.values(LISTS)) n += this.spec[k].length;
    let id;
    do { id = prefix + "-" + (++n); } while (used.has(id));
    return id;
  }

  // edit changes one item through mutate(item); the command stores the
  // item's state before and after.
  edit(kind, id, label, mutate) {
    const list = this.list(kind);
    const i = list.findIndex((x) => x.id === id);
    if (i < 0) return false;
    const before = clone(list[i]);
    const item = clone(list[i]);
    if (mutate(item) === false) return false;
    const after = clone(item);
    this.run({
      label,
      do: () => { const j = this.list(kind).findIndex((x) => x.id === id); this.list(kind)[j] = clone(after); },
      undo: () => { const j = this.list(kind).findIndex((x) => x.id === id); this.list(kind)[j] = clone(before); },
    });
    return true;
  }

  add(kind, item, label) {
    const snapshot = clone(item);
    this.run({
      label,
      do: () => { this.list(kind).push(clone(snapshot)); },
      undo: () => { const l = this.list(kind); l.splice(l.findIndex((x) => x.id === snapshot.id), 1); },
    });
  }

  remove(kind, id, label) {
    const list = this.list(kind);
    const i = list.findIndex((x) => x.id === id);
    if (i < 0) return false;
    const snapshot = clone(list[i]);
    this.run({
      label,
      do: () => { const l = this.list(kind); l.splice(l.findIndex((x) => x.id === id), 1); },
      undo: () => { this.list(kind).splice(Math.min(i, this.list(kind).length), 0, clone(snapshot)); },
    });
    return true;
  }

  // batch runs several edits as one command (accept all, reject all).
  batch(label, fn) {
    const outer = this.undoStack.length;
    this.inBatch = true;
    try { fn(); } finally { this.inBatch = false; }
    const cmds = this.undoStack.splice(outer);
    if (cmds.length === 0) return 0;
    this.undoStack.push({
      label,
      do: () => cmds.forEach((c) => c.do()),
      undo: () => cmds.slice().reverse().forEach((c) => c.undo()),
    });
    this.onChange(label);
    return cmds.length;
  }

  run(cmd) {
    cmd.do();
    this.undoStack.push(cmd);
    this.redoStack = [];
    this.changes++;
    if (!this.inBatch) this.onChange(cmd.label);
  }

  undo() {
    const c = this.undoStack.pop();
    if (!c) return null;
    c.undo();
    this.redoStack.push(c);
    this.changes++;
    this.onChange("Undo " + c.label);
    return c.label;
  }

  redo() {
    const c = this.redoStack.pop();
    if (!c) return null;
    c.do();
    this.undoStack.push(c);
    this.changes++;
    this.onChange("Redo " + c.label);
    return c.label;
  }
}

export function clone(x) { return JSON.parse(JSON.stringify(x)); }

// Keyframe helpers. Times are source seconds at frame starts; two times
// closer than half a frame name the same frame.

export function keyframeIndexAt(region, t, halfFrame) {
  return region.keyframes.findIndex((k) => Math.abs(k.time - t) < halfFrame);
}

// setKeyframe puts box at time t: it updates the keyframe of that frame or
// inserts a new one in time order, keeping interp/hidden of an updated one.
export function setKeyframe(region, t, box, halfFrame) {
  const i = keyframeIndexAt(region, t, halfFrame);
  const k = { time: t, x: box.x, y: box.y, width: box.width, height: box.height };
  if (i >= 0) {
    const old = region.keyframes[i];
    k.time = old.time;
    if (old.interp) k.interp = old.interp;
    if (old.hidden) k.hidden = old.hidden;
    region.keyframes[i] = k;
    return i;
  }
  let j = region.keyframes.findIndex((x) => x.time > t);
  if (j < 0) j = region.keyframes.length;
  // A keyframe inserted inside a span inherits the span's interpolation
  // and visibility, so adding a keyframe never changes other frames.
  if (j > 0) {
    const prev = region.keyframes[j - 1];
    if (prev.interp) k.interp = prev.interp;
    if (prev.hidden && j < region.keyframes.length) k.hidden = true;
  }
  region.keyframes.splice(j, 0, k);
  return j;
}
