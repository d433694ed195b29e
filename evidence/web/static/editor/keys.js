// The keyboard shortcut table, declared once (as CVAT does): the key
// handler, the help dialog, button tooltips and the hint line are all
// generated from it. Keys are written as the combo strings comboOf makes
// from a KeyboardEvent: modifiers "Ctrl+" (Ctrl or ⌘), "Alt+", "Shift+"
// (only for letters and named keys; "?" is its own key), then the key:
// a lower-case letter, a named key ("ArrowLeft", "Delete") or " " shown as
// Space. Shortcuts marked edit change the spec: a read-only editor neither
// binds nor lists them. Letters follow event.key, so they follow the keyboard layout.

export const SHORTCUTS = [
  { id: "play", label: "Play / pause", keys: [" "], scope: "editor", hint: true },
  { id: "prevFrame", label: "Previous frame", keys: ["ArrowLeft"], scope: "editor", hint: true },
  { id: "nextFrame", label: "Next frame", keys: ["ArrowRight"], scope: "editor", hint: true },
  { id: "back1s", label: "Back 1 s", keys: ["Shift+ArrowLeft"], scope: "editor" },
  { id: "fwd1s", label: "Forward 1 s", keys: ["Shift+ArrowRight"], scope: "editor" },
  { id: "back5s", label: "Back 5 s", keys: ["Ctrl+ArrowLeft"], scope: "editor" },
  { id: "fwd5s", label: "Forward 5 s", keys: ["Ctrl+ArrowRight"], scope: "editor" },
  { id: "start", label: "Start of clip", keys: ["Home"], scope: "editor" },
  { id: "end", label: "End of clip", keys: ["End"], scope: "editor" },
  { id: "setIn", label: "Set in of selection to playhead", keys: ["i"], scope: "editor", edit: true },
  { id: "setOut", label: "Set out of selection to playhead", keys: ["o"], scope: "editor", edit: true },
  { id: "draw", label: "New box (arm drawing)", keys: ["b"], scope: "editor", edit: true, hint: true },
  { id: "keyframe", label: "Add keyframe at playhead", keys: ["k"], scope: "editor", edit: true, hint: true },
  { id: "deleteKeyframe", label: "Delete keyframe at playhead", keys: ["Delete", "Backspace"], scope: "editor", edit: true, hint: true },
  { id: "deleteRegion", label: "Delete selected region or range", keys: ["Shift+Delete", "Shift+Backspace"], scope: "editor", edit: true },
  { id: "visibility", label: "Toggle visibility at playhead", keys: ["v"], scope: "editor", edit: true },
  { id: "track", label: "Track the selected box through the clip (server)", keys: ["t"], scope: "editor", edit: true },
  { id: "prevKeyframe", label: "Previous keyframe of selection", keys: ["e"], scope: "editor" },
  { id: "nextKeyframe", label: "Next keyframe of selection", keys: ["r"], scope: "editor" },
  { id: "accept", label: "Accept proposal", keys: ["a"], scope: "editor", edit: true, hint: true },
  { id: "reject", label: "Reject proposal", keys: ["x"], scope: "editor", edit: true, hint: true },
  { id: "nextProposal", label: "Next unreviewed proposal", keys: ["n"], scope: "editor" },
  { id: "prevProposal", label: "Previous unreviewed proposal", keys: ["Shift+N"], scope: "editor" },
  { id: "mute", label: "Start / end a mute range", keys: ["m"], scope: "editor", edit: true },
  { id: "fullFrame", label: "Start / end a full-frame blur", keys: ["f"], scope: "editor", edit: true },
  { id: "cycleView", label: "Cycle view: edit, redacted preview, side by side", keys: ["p"], scope: "editor" },
  { id: "undo", label: "Undo", keys: ["Ctrl+z"], scope: "editor", edit: true },
  { id: "redo", label: "Redo", keys: ["Ctrl+Shift+Z", "Ctrl+y"], scope: "editor", edit: true },
  { id: "save", label: "Save as a new spec version", keys: ["Ctrl+s"], scope: "editor", edit: true, hint: true },
  { id: "help", label: "Keyboard shortcuts", keys: ["?"], scope: "editor", hint: true },
  { id: "escape", label: "Cancel drag or drawing, deselect", keys: ["Escape"], scope: "editor" },
];

// comboOf names a keyboard event the way SHORTCUTS writes keys.
export function comboOf(ev) {
  let key = ev.key;
  const letter = key.length === 1 && key.toLowerCase() !== key.toUpperCase();
  const named = key.length > 1;
  let c = "";
  if (ev.ctrlKey || ev.metaKey) c += "Ctrl+";
  if (ev.altKey) c += "Alt+";
  if (ev.shiftKey && (letter || named)) c += "Shift+";
  if (letter) key = ev.shiftKey ? key.toUpperCase() : key.toLowerCase();
  return c + key;
}

// conflicts lists every combo bound more than once within one scope; the
// browser test fails when it is not empty.
export function conflicts(table = SHORTCUTS) {
  const seen = new Map();
  const out = [];
  for (const s of table) {
    for (const k of s.keys) {
      const norm = s.scope + " " + normalize(k);
      if (seen.has(norm)) out.push(`${k} (${seen.get(norm)} and ${s.id})`);
      else seen.set(norm, s.id);
    }
  }
  return out;
}

// normalize makes "Ctrl+Shift+z" and "Ctrl+Shift+Z" the same binding.
function normalize(k) {
  const parts = k.split("+");
  let key = parts.pop();
  if (k.endsWith("+")) key = "+"; // a literal plus
  const mods = parts.filter(Boolean).sort();
  if (key.length === 1) key = mods.includes("Shift") ? key.toUpperCase() : key.toLowerCase();
  return mods.concat([key]).join("+");
}

// keymap returns combo → shortcut id for one scope.
export function keymap(scope = "editor", table = SHORTCUTS) {
  const m = new Map();
  for (const s of table) if (s.scope === scope) for (const k of s.keys) m.set(normalize(k), s.id);
  return { lookup: (ev) => m.get(normalize(comboOf(ev))) };
}

// display renders a combo for people: "Ctrl+Shift+Z", "Space", "←".
export function display(k) {
  const names = { " ": "Space", ArrowLeft: "←", ArrowRight: "→", Escape: "Esc", Delete: "Del", Backspace: "Backspace" };
  const parts = k.split("+");
  const key = parts.pop();
  const shown = names[key] || (key.length === 1 ? key.toUpperCase() : key);
  return parts.concat([shown]).join("+");
}

// shortcutFor returns the shortcut with the id, for tooltips.
export function shortcutFor(id) {
  return SHORTCUTS.find((s) => s.id === id);
}
