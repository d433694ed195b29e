// The redaction editor: plays the clip's proxy in <video>, draws every
// region at its interpolated box on a canvas over it, edits regions,
// proposals, audio and full-frame ranges at the playhead, and saves the
// spec as a new version. The JSON contract with the server is described in
// evidence/web/doc.go (GET clip, PUT clip/spec). No framework, no build
// step; the page's Content-Security-Policy allows only same-origin scripts
// and no inline styles, so every style is set through the CSSOM.

import { boxAt, cover } from "./interp.js";
import { SHORTCUTS, keymap, display, shortcutFor, conflicts } from "./keys.js";
import { Model, clone, keyframeIndexAt, setKeyframe } from "./model.js";
import { loadDraft, saveDraft, dropDraft } from "./drafts.js";

const root = document.getElementById("editor");
const $ = (id) => document.getElementById(id);
const video = $("ed-video");
const stage = $("ed-stage");
const canvas = $("ed-overlay");
const ctx = canvas.getContext("2d");
const handles = $("ed-handles");
const tl = $("ed-timeline");
const tctx = tl.getContext("2d");
const live = $("ed-live");

const COLORS = {
  selected: "#ffd400", manual: "#00e5ff", proposal: "#ff8c00", rejected: "#9aa3ad",
  audio: "#5b8def", bleep: "#c77dff", frame: "#e07a5f", error: "#ff3b3b",
};
const DEFAULT_SPAN = 3; // seconds: a new box covers 3 s (Axon's default), easy to trim
const MIN_BOX = 8; // source pixels

const S = {
  clip: null, model: null, version: 0, fps: 25, fpsNum: 25, fpsDen: 1,
  srcW: 0, srcH: 0, inF: 0, outF: 0, frame: -1, mediaTime: 0,
  sel: null, // {kind: "region"|"audio"|"frame", id}
  mode: "edit", armed: false, drag: null, pending: { audio: null, frame: null },
  errors: new Map(), // spec path prefix ("regions[2]") → [messages]; keyed by item id after save
  lastEffect: { type: "blur", strength: 40 }, showRejected: false, hearSource: false,
  exemptions: [], sprite: null, spriteImg: null, waveform: null, ready: false, savedAt: null,
  seek: { target: null, flying: null, inFlight: false, tries: 0, gen: 0 },
};
window.opendemsEditor = S; // read by the browser tests (diagnostics only)

// ---- frame model --------------------------------------------------------

const frameStart = (n) => (n * S.fpsDen) / S.fpsNum;
const frameOfTime = (t) => Math.round(t * S.fps);
const halfFrame = () => 0.5 / S.fps;
const now = () => frameStart(S.frame);

function fmtTime(t) {
  const neg = t < 0; t = Math.abs(t);
  const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = t - Math.floor(t / 60) * 60;
  const ss = s.toFixed(3).padStart(6, "0");
  return (neg ? "-" : "") + String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0") + ":" + ss;
}

// parseTime reads "hh:mm:ss.mmm", "mm:ss.mmm", seconds with a unit "12.5s"
// or a bare frame number; it returns a frame index or NaN.
function parseTimeToFrame(text) {
  text = String(text).trim();
  if (/^\d+$/.test(text)) return parseInt(text, 10);
  const m = /^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec(text);
  if (m) return frameOfTime((+(m[1] || 0)) * 3600 + (+m[2]) * 60 + (+m[3]));
  const s = /^(\d+(?:\.\d+)?)\s*s$/.exec(text);
  if (s) return frameOfTime(+s[1]);
  return NaN;
}

// seekFrame asks for frame n; one seek is in flight at a time and a newer
// request replaces the pending target (key repeat, fast clicks).
function seekFrame(n) {
  n = Math.max(S.inF, Math.min(S.outF, Math.round(n)));
  if (!video.paused) video.pause();
  S.seek.target = n;
  S.seek.tries = 0;
  if (!S.seek.inFlight) startSeek();
}

function startSeek() {
  const n = S.seek.target;
  if (n === null) { S.seek.inFlight = false; return; }
  S.seek.inFlight = true;
  S.seek.flying = n;
  const gen = ++S.seek.gen;
  // The middle of the frame, so rounding cannot land on the previous one;
  // the retry nudges a quarter frame further.
  video.currentTime = (n + 0.5 + S.seek.tries * 0.25) / S.fps;
  syncPreview();
  // A watchdog: a seek that presents nothing (it may land on the frame
  // already shown) settles from currentTime.
  setTimeout(() => { if (S.seek.inFlight && S.seek.gen === gen) presented(video.currentTime, false); }, 1000);
}

function onSeeked() {
  // rVFC normally reports the new frame; if the frame on screen did not
  // change no callback comes, so settle from currentTime after a short wait.
  const gen = S.seek.gen;
  setTimeout(() => { if (S.seek.inFlight && S.seek.gen === gen) presented(video.currentTime, false); }, 120);
}

// presented is called with the media time of the frame on screen: from
// requestVideoFrameCallback (the only source of the current frame), or
// after a seek that presented no new frame.
function presented(mediaTime, fromRVFC) {
  const f = fromRVFC ? frameOfTime(mediaTime) : Math.floor(mediaTime * S.fps + 1e-3);
  S.mediaTime = mediaTime;
  if (S.seek.inFlight) {
    const flying = S.seek.flying;
    if (f !== flying && S.seek.target === flying && S.seek.tries < 2 && fromRVFC) {
      S.seek.tries++;
      startSeek();
      return;
    }
    S.seek.inFlight = false;
    S.seek.tries = 0;
    if (S.seek.target !== null && S.seek.target !== flying) startSeek(); // a newer request waited
    else S.seek.target = null;
  }
  const changed = f !== S.frame;
  S.frame = f;
  draw();
  if (changed) {
    updateTransport();
    updateAudioMute();
    if (video.paused) announce();
    if (!S.ready) markReady();
  }
}

function onFrame(nowTs, md) {
  presented(md.mediaTime, true);
  video.requestVideoFrameCallback(onFrame);
}

// ---- geometry: source pixels ↔ CSS pixels of the stage ----------------

// contentBox is where the picture lies inside the video element with
// object-fit: contain, in CSS pixels relative to the stage, and the
// source→CSS scale. videoWidth is aspect-corrected, so the ratio to the
// source's stored width absorbs non-square pixels too.
function contentBox() {
  const r = stage.getBoundingClientRect();
  const vw = video.videoWidth || S.srcW, vh = video.videoHeight || S.srcH;
  const s = Math.min(r.width / vw, r.height / vh);
  const w = vw * s, h = vh * s;
  return { left: r.left, top: r.top, offX: (r.width - w) / 2, offY: (r.height - h) / 2, sx: w / S.srcW, sy: h / S.srcH, cw: r.width, ch: r.height };
}

function toSource(clientX, clientY, cb = contentBox()) {
  return { x: (clientX - cb.left - cb.offX) / cb.sx, y: (clientY - cb.top - cb.offY) / cb.sy };
}

function toCSS(b, cb) {
  return { x: cb.offX + b.x * cb.sx, y: cb.offY + b.y * cb.sy, w: b.width * cb.sx, h: b.height * cb.sy };
}

let geom = null; // cached contentBox, refreshed on resize (no layout reads inside the rVFC draw)
function resize() {
  const r = stage.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(r.width * dpr);
  canvas.height = Math.round(r.height * dpr);
  canvas.style.width = r.width + "px";
  canvas.style.height = r.height + "px";
  geom = contentBox();
  const tr = tl.parentElement.getBoundingClientRect();
  tl.width = Math.round(tr.width * dpr);
  tl.style.width = tr.width + "px";
  layoutTimeline();
  draw();
  drawTimeline();
}

// ---- drawing the overlay ---------------------------------------------

let pixCanvas = null;
function effectInside(r, c, alpha) {
  const e = r.effect || {};
  const dpr = window.devicePixelRatio || 1;
  ctx.save();
  ctx.globalAlpha = alpha;
  ctx.beginPath();
  if (r.shape === "ellipse") ctx.ellipse(c.x + c.w / 2, c.y + c.h / 2, Math.abs(c.w / 2), Math.abs(c.h / 2), 0, 0, Math.PI * 2);
  else ctx.rect(c.x, c.y, c.w, c.h);
  ctx.clip();
  const vb = { x: (c.x - geom.offX) / geom.sx * (video.videoWidth / S.srcW), y: (c.y - geom.offY) / geom.sy * (video.videoHeight / S.srcH) };
  const vw = c.w / geom.sx * (video.videoWidth / S.srcW), vh = c.h / geom.sy * (video.videoHeight / S.srcH);
  if (e.type === "fill") {
    ctx.fillStyle = e.color || "#000000";
    ctx.fillRect(c.x, c.y, c.w, c.h);
  } else if (e.type === "pixelate" && video.videoWidth) {
    const block = Math.max(2, (e.block_size || 16) * geom.sx);
    const w = Math.max(1, Math.round(c.w / block)), h = Math.max(1, Math.round(c.h / block));
    pixCanvas = pixCanvas || document.createElement("canvas");
    pixCanvas.width = w; pixCanvas.height = h;
    const p = pixCanvas.getContext("2d");
    p.drawImage(video, vb.x, vb.y, vw, vh, 0, 0, w, h);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pixCanvas, 0, 0, w, h, c.x, c.y, c.w, c.h);
  } else if (video.videoWidth) {
    const radius = Math.max(2, Math.min(c.w, c.h) * (e.strength || 40) / 100 / 2) / dpr;
    ctx.filter = "blur(" + radius.toFixed(1) + "px)";
    ctx.drawImage(video, vb.x, vb.y, vw, vh, c.x, c.y, c.w, c.h);
  }
  ctx.restore();
}

function regionColor(r) {
  if (S.sel && S.sel.kind === "region" && S.sel.id === r.id) return COLORS.selected;
  if (S.errors.has(r.id)) return COLORS.error;
  if (r.review === "rejected") return COLORS.rejected;
  if (r.origin === "auto" && !r.review) return COLORS.proposal;
  return COLORS.manual;
}

// displayedBox is the box a region shows at the playhead: the drag in
// progress wins over the stored keyframes.
function displayedBox(r, t) {
  if (S.drag && S.drag.id === r.id && S.drag.box) return S.drag.box;
  return boxAt(r.keyframes, t);
}

function draw() {
  if (!geom) return;
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (!S.model) return;
  const t = now();
  const spec = S.model.spec;
  // The side-by-side view keeps the source with outlines on the left; the
  // server preview is the right-hand video.
  const preview = S.mode === "redacted";
  const inFrameBlur = spec.full_frame_blur.some((f) => t >= f.start && t <= f.end);
  if (inFrameBlur && video.videoWidth) {
    ctx.save();
    ctx.globalAlpha = preview ? 1 : 0.55;
    ctx.filter = "blur(12px)";
    ctx.drawImage(video, geom.offX, geom.offY, S.srcW * geom.sx, S.srcH * geom.sy);
    ctx.restore();
    if (!preview) label(geom.offX + 8, geom.offY + 20, "FULL-FRAME BLUR", COLORS.frame);
  }
  let selectedBox = null;
  for (const r of spec.regions) {
    if (r.review === "rejected" && !S.showRejected) continue;
    const b = displayedBox(r, t);
    if (!b) continue;
    const px = cover(b);
    const c = toCSS({ x: px[0], y: px[1], width: px[2] - px[0], height: px[3] - px[1] }, geom);
    if (r.review !== "rejected") effectInside(r, c, preview ? 1 : 0.45);
    if (preview) continue;
    const color = regionColor(r);
    const lw = 2;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = lw;
    if (r.origin === "auto" && !r.review) ctx.setLineDash([8, 5]);
    if (r.review === "rejected") ctx.setLineDash([2, 4]);
    // The stroke lies inside the box so its outer edge is the box edge.
    if (r.shape === "ellipse") {
      ctx.strokeRect(c.x + 0.5, c.y + 0.5, c.w - 1, c.h - 1);
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.ellipse(c.x + c.w / 2, c.y + c.h / 2, Math.max(0, c.w / 2 - lw), Math.max(0, c.h / 2 - lw), 0, 0, Math.PI * 2);
      ctx.stroke();
    } else {
      ctx.strokeRect(c.x + lw / 2, c.y + lw / 2, c.w - lw, c.h - lw);
    }
    ctx.restore();
    const tag = (r.origin === "auto" && !r.review ? "proposal " : r.review === "rejected" ? "rejected " : "") + r.id + (r.reason ? " · " + r.reason : "");
    label(c.x, Math.max(12, c.y - 4), tag, color);
    if (S.sel && S.sel.kind === "region" && S.sel.id === r.id) selectedBox = c;
  }
  placeHandles(selectedBox);
  if (S.drag && S.drag.kind === "draw" && S.drag.box) {
    const c = toCSS(S.drag.box, geom);
    ctx.save();
    ctx.strokeStyle = COLORS.selected;
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 2;
    ctx.strokeRect(c.x + 1, c.y + 1, c.w - 2, c.h - 2);
    ctx.restore();
  }
}

function label(x, y, text) {
  ctx.save();
  ctx.font = "12px system-ui, sans-serif";
  const w = ctx.measureText(text).width + 8;
  ctx.fillStyle = "rgba(0,0,0,.72)";
  ctx.fillRect(x, y - 12, w, 15);
  ctx.fillStyle = "#f5f7fa"; // white text: only outlines carry the region colour
  ctx.fillText(text, x + 4, y);
  ctx.restore();
}

// The selected region's handles are DOM buttons (focusable, labelled);
// everything else is canvas.
const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
function buildHandles() {
  for (const h of HANDLES) {
    const b = document.createElement("div");
    b.className = "ed-handle h-" + h;
    b.dataset.handle = h;
    handles.appendChild(b);
  }
}
function placeHandles(c) {
  if (!c || S.mode === "redacted") { handles.hidden = true; return; }
  handles.hidden = false;
  handles.style.left = c.x + "px";
  handles.style.top = c.y + "px";
  handles.style.width = c.w + "px";
  handles.style.height = c.h + "px";
}

// ---- pointer editing on the video ------------------------------------

function hitRegion(p, t) {
  const order = S.model.spec.regions.slice().reverse();
  if (S.sel && S.sel.kind === "region") order.sort((a, b) => (b.id === S.sel.id) - (a.id === S.sel.id));
  for (const r of order) {
    if (r.review === "rejected" && !S.showRejected) continue;
    const b = boxAt(r.keyframes, t);
    if (b && p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height) return r;
  }
  return null;
}

function onPointerDown(ev) {
  if (ev.button !== 0 || !S.model || S.mode === "redacted") return;
  if (!video.paused) video.pause(); // editing during playback pauses first
  geom = contentBox();
  const p = toSource(ev.clientX, ev.clientY, geom);
  const t = now();
  stage.setPointerCapture(ev.pointerId);
  ev.preventDefault();
  if (S.armed && !S.readOnly) {
    S.drag = { kind: "draw", start: p, box: null, pointer: ev.pointerId };
    return;
  }
  const h = ev.target.dataset ? ev.target.dataset.handle : undefined;
  if (h && S.sel && S.sel.kind === "region") {
    const r = S.model.find("region", S.sel.id);
    const b = boxAt(r.keyframes, t);
    if (b) { S.drag = { kind: "resize", id: r.id, handle: h, start: p, orig: b, box: null, shift: ev.shiftKey }; return; }
  }
  const r = hitRegion(p, t);
  if (!r) { select(null); return; }
  select({ kind: "region", id: r.id });
  if (S.readOnly) return;
  S.drag = { kind: "move", id: r.id, start: p, orig: boxAt(r.keyframes, t), box: null };
}

function onPointerMove(ev) {
  const d = S.drag;
  if (!d || !(ev.buttons & 1)) return;
  const p = toSource(ev.clientX, ev.clientY, geom);
  const dx = p.x - d.start.x, dy = p.y - d.start.y;
  if (d.kind === "draw") {
    d.box = { x: Math.min(p.x, d.start.x), y: Math.min(p.y, d.start.y), width: Math.abs(dx), height: Math.abs(dy) };
  } else if (d.kind === "move") {
    if (Math.abs(dx) < 0.5 && Math.abs(dy) < 0.5 && !d.box) return;
    d.box = { x: d.orig.x + dx, y: d.orig.y + dy, width: d.orig.width, height: d.orig.height };
  } else if (d.kind === "resize") {
    let { x, y, width: w, height: h } = d.orig;
    let x1 = x + w, y1 = y + h;
    if (d.handle.includes("w")) x = Math.min(x + dx, x1 - MIN_BOX);
    if (d.handle.includes("e")) x1 = Math.max(x1 + dx, x + MIN_BOX);
    if (d.handle.includes("n")) y = Math.min(y + dy, y1 - MIN_BOX);
    if (d.handle.includes("s")) y1 = Math.max(y1 + dy, y + MIN_BOX);
    w = x1 - x; h = y1 - y;
    if (ev.shiftKey && d.handle.length === 2) { // keep the aspect ratio
      const k = Math.max(w / d.orig.width, h / d.orig.height);
      w = d.orig.width * k; h = d.orig.height * k;
      if (d.handle.includes("w")) x = x1 - w;
      if (d.handle.includes("n")) y = y1 - h;
    }
    d.box = { x, y, width: w, height: h };
  }
  draw();
}

// finishBox clips a box to the frame and rounds it outward to whole
// source pixels, the form stored in the spec.
function finishBox(b) {
  let x0 = Math.max(0, Math.floor(b.x)), y0 = Math.max(0, Math.floor(b.y));
  let x1 = Math.min(S.srcW, Math.ceil(b.x + b.width)), y1 = Math.min(S.srcH, Math.ceil(b.y + b.height));
  if (x1 - x0 < MIN_BOX) { if (x0 + MIN_BOX <= S.srcW) x1 = x0 + MIN_BOX; else x0 = x1 - MIN_BOX; }
  if (y1 - y0 < MIN_BOX) { if (y0 + MIN_BOX <= S.srcH) y1 = y0 + MIN_BOX; else y0 = y1 - MIN_BOX; }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

function onPointerUp() {
  const d = S.drag;
  if (!d) return;
  S.drag = null;
  if (!d.box) { draw(); return; }
  const t = now();
  if (d.kind === "draw") {
    S.armed = false;
    root.classList.remove("armed");
    if (d.box.width * geom.sx < 3 || d.box.height * geom.sy < 3) { draw(); return; }
    const box = finishBox(d.box);
    const id = S.model.newID("box");
    const end = Math.min(frameStart(S.outF), t + DEFAULT_SPAN);
    const kfs = [{ time: t, ...box }];
    if (end > t + halfFrame()) kfs.push({ time: frameStart(frameOfTime(end)), ...box });
    S.model.add("region", { id, shape: "rectangle", effect: clone(S.lastEffect), reason: "", origin: "manual", keyframes: kfs }, "Draw box " + id);
    select({ kind: "region", id });
    return;
  }
  const box = finishBox(d.box);
  S.model.edit("region", d.id, d.kind === "move" ? "Move box" : "Resize box", (r) => { setKeyframe(r, t, box, halfFrame()); });
}

function cancelDrag() {
  if (S.drag) { S.drag = null; draw(); return true; }
  if (S.armed) { S.armed = false; root.classList.remove("armed"); return true; }
  return false;
}

// ---- selection and inspector -----------------------------------------

function select(sel) {
  S.sel = sel;
  renderPanels();
  draw();
  drawTimeline();
}

function selected() {
  return S.sel ? S.model.find(S.sel.kind, S.sel.id) : null;
}

function exemptionOptions(sel, value, required) {
  sel.textContent = "";
  const none = document.createElement("option");
  none.value = "";
  none.textContent = required ? "— choose an exemption (required) —" : "—";
  sel.appendChild(none);
  for (const e of S.exemptions) {
    const o = document.createElement("option");
    o.value = e.code;
    o.textContent = e.code + " — " + (e.label || e.title || "");
    sel.appendChild(o);
  }
  if (value && !S.exemptions.some((e) => e.code === value)) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = value + " (not an exemption code)";
    sel.appendChild(o);
  }
  sel.value = value || "";
}

const isCode = (c) => S.exemptions.some((e) => e.code === c);

function renderInspector() {
  const box = $("ed-inspector");
  const item = selected();
  box.hidden = !item;
  for (const el of box.querySelectorAll("[data-for]")) el.hidden = !item || el.dataset.for.split(" ").indexOf(S.sel.kind) < 0;
  if (!item) return;
  const kind = S.sel.kind;
  $("ed-insp-title").textContent = (kind === "region" ? "Region " : kind === "audio" ? "Audio range " : "Full-frame blur ") + item.id;
  exemptionOptions($("ed-exemption"), item.reason, true);
  const errs = S.errors.get(item.id) || [];
  const errBox = $("ed-insp-errors");
  errBox.textContent = "";
  for (const m of errs) { const li = document.createElement("li"); li.textContent = m; errBox.appendChild(li); }
  errBox.hidden = errs.length === 0;
  if (kind === "region") {
    const r = item;
    $("ed-effect").value = r.effect.type;
    $("ed-strength").value = r.effect.strength || 40;
    $("ed-block").value = r.effect.block_size || 16;
    $("ed-color").value = r.effect.color || "#000000";
    for (const el of box.querySelectorAll("[data-effect]")) el.hidden = el.dataset.effect !== r.effect.type;
    $("ed-shape").value = r.shape;
    $("ed-in").value = fmtTime(r.keyframes[0].time);
    $("ed-out").value = fmtTime(r.keyframes[r.keyframes.length - 1].time);
    const t = now();
    const b = boxAt(r.keyframes, t);
    for (const k of ["x", "y", "width", "height"]) { $("ed-" + k).value = b ? Math.round(b[k]) : ""; $("ed-" + k).disabled = !b; }
    const ki = keyframeIndexAt(r, t, halfFrame());
    $("ed-interp").value = ki >= 0 ? r.keyframes[ki].interp || "linear" : "linear";
    $("ed-interp").disabled = ki < 0;
    $("ed-kf-info").textContent = r.keyframes.length + " keyframes" + (ki >= 0 ? " · keyframe " + (ki + 1) + " at the playhead" + (r.keyframes[ki].hidden ? " (hidden from here)" : "") : "") +
      (r.origin === "auto" ? " · automatic, confidence " + Math.round((r.confidence || 0) * 100) + "% · " + (r.review || "not reviewed") : "");
  } else {
    $("ed-in").value = fmtTime(item.start);
    $("ed-out").value = fmtTime(item.end);
    if (kind === "audio") $("ed-action").value = item.action;
    if (kind === "frame") $("ed-ff-strength").value = item.strength || 40;
  }
  if (S.readOnly) for (const el of box.querySelectorAll("input, select")) el.disabled = true;
}

function renderLists() {
  const spec = S.model.spec;
  const props = spec.regions.filter((r) => r.origin === "auto");
  const pending = props.filter((r) => !r.review);
  $("ed-prop-count").textContent = pending.length + " of " + props.length + " proposals to review";
  $("ed-review-state").textContent = pending.length ? pending.length + (pending.length === 1 ? " proposal" : " proposals") + " to review" : "";
  const lists = [["ed-proposals", props, "region"], ["ed-regions", spec.regions.filter((r) => r.origin !== "auto"), "region"], ["ed-audio", spec.audio, "audio"], ["ed-frames", spec.full_frame_blur, "frame"]];
  for (const [id, items, kind] of lists) {
    const ul = $(id);
    ul.textContent = "";
    if (items.length === 0) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "None."; ul.appendChild(li); }
    for (const it of items) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "ed-item" + (S.sel && S.sel.id === it.id ? " sel" : "") + (S.errors.has(it.id) ? " has-error" : "");
      const a = kind === "region" ? it.keyframes[0].time : it.start, z = kind === "region" ? it.keyframes[it.keyframes.length - 1].time : it.end;
      let text = it.id + " · " + fmtTime(a) + "–" + fmtTime(z);
      if (kind === "region") text += " · " + it.keyframes.length + " kf";
      if (kind === "audio") text += " · " + it.action;
      if (it.origin === "auto") text += " · " + Math.round((it.confidence || 0) * 100) + "% · " + (it.review || "to review");
      text += " · " + (it.reason || "no exemption");
      b.textContent = text;
      b.setAttribute("aria-pressed", S.sel && S.sel.id === it.id ? "true" : "false");
      b.addEventListener("click", () => { select({ kind, id: it.id }); seekFrame(frameOfTime(a)); });
      li.appendChild(b);
      if (it.origin === "auto" && !S.readOnly) {
        for (const [act, lab] of [["accepted", "Accept"], ["rejected", "Reject"]]) {
          const x = document.createElement("button");
          x.type = "button";
          x.className = "small-btn";
          x.textContent = lab;
          x.setAttribute("aria-label", lab + " proposal " + it.id);
          x.disabled = it.review === act;
          x.addEventListener("click", () => review(it.id, act));
          li.appendChild(x);
        }
      }
      ul.appendChild(li);
    }
  }
}

function renderPanels() {
  if (!S.model) return;
  renderPeople();
  renderLists();
  renderInspector();
  $("ed-undo").disabled = S.model.undoStack.length === 0;
  $("ed-redo").disabled = S.model.redoStack.length === 0;
  $("ed-save-state").textContent = "v" + S.version + (S.model.changes ? " · " + S.model.changes + " unsaved changes" : S.savedAt ? " · saved " + S.savedAt : " · no changes");
}

// ---- people -------------------------------------------------------------
//
// A person groups the regions that follow one face (region.person; a
// region without one is its own person). The panel lists each person with
// a thumbnail cut from the sprite, its number of tracks, its time span and
// how many are accepted; a person is accepted or rejected at once, two or
// more are merged, and a track is split off into a new person. Only
// proposals and regions that name a person are people (a manual box over
// a plate is not).

const personKey = (r) => r.person || r.id;
const isPersonRegion = (r) => r.origin === "auto" || !!r.person;

function people() {
  const byKey = new Map();
  for (const r of S.model.spec.regions) {
    if (!isPersonRegion(r)) continue;
    const k = personKey(r);
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k).push(r);
  }
  const out = [...byKey.entries()].map(([key, regions]) => ({
    key, regions,
    start: Math.min(...regions.map((r) => r.keyframes[0].time)),
    end: Math.max(...regions.map((r) => r.keyframes[r.keyframes.length - 1].time)),
  }));
  out.sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : 1));
  out.forEach((p, i) => { p.label = "Person " + (i + 1); });
  return out;
}

function newPersonID() {
  let n = 0;
  for (const r of S.model.spec.regions) { const m = /^person-(\d+)$/.exec(r.person || ""); if (m) n = Math.max(n, +m[1]); }
  return "person-" + (n + 1);
}

// personThumb draws the person's face from the sprite tile nearest the
// middle of its first track (the sprite is already loaded for the
// timeline; no extra request, and it is served under the footage's policy).
function personThumb(cv, p) {
  const c = cv.getContext("2d");
  c.fillStyle = "#1b2330";
  c.fillRect(0, 0, cv.width, cv.height);
  const sp = S.sprite, img = S.spriteImg;
  if (!sp || !img || !img.complete || !img.naturalWidth || !S.srcW) return;
  const r = p.regions[0];
  const t = (r.keyframes[0].time + r.keyframes[r.keyframes.length - 1].time) / 2;
  let tile = sp.tiles[0];
  for (const x of sp.tiles) if (Math.abs(x.time - t) < Math.abs(tile.time - t)) tile = x;
  const b = boxAt(r.keyframes, tile.time) || r.keyframes[0];
  const sx = sp.tile_width / S.srcW, sy = sp.tile_height / S.srcH;
  c.drawImage(img, tile.x + b.x * sx, tile.y + b.y * sy, Math.max(1, b.width * sx), Math.max(1, b.height * sy), 0, 0, cv.width, cv.height);
}

function renderPeople() {
  const ps = people();
  S.people = ps; // diagnostics for the browser tests
  const ul = $("ed-people");
  ul.textContent = "";
  $("ed-people-count").textContent = ps.length ? "(" + ps.length + ")" : "";
  if (!S.mergeSel) S.mergeSel = new Set();
  for (const k of [...S.mergeSel]) if (!ps.some((p) => p.key === k)) S.mergeSel.delete(k);
  if (!ps.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "None."; ul.appendChild(li); }
  for (const p of ps) {
    const li = document.createElement("li");
    li.className = "ed-person";
    li.dataset.person = p.key;
    if (!S.readOnly) {
      const cb = document.createElement("input");
      cb.type = "checkbox";
      cb.checked = S.mergeSel.has(p.key);
      cb.setAttribute("aria-label", "Select " + p.label + " to merge");
      cb.addEventListener("change", () => { if (cb.checked) S.mergeSel.add(p.key); else S.mergeSel.delete(p.key); $("ed-merge").disabled = S.mergeSel.size < 2; });
      li.appendChild(cb);
    }
    const cv = document.createElement("canvas");
    cv.width = 40; cv.height = 48;
    cv.className = "ed-thumb";
    cv.setAttribute("aria-hidden", "true");
    personThumb(cv, p);
    li.appendChild(cv);
    const b = document.createElement("button");
    b.type = "button";
    const sel = S.sel && S.sel.kind === "region" && p.regions.some((r) => r.id === S.sel.id);
    b.className = "ed-item" + (sel ? " sel" : "");
    const accepted = p.regions.filter((r) => r.review === "accepted" || r.origin !== "auto").length;
    const rejected = p.regions.filter((r) => r.review === "rejected").length;
    b.textContent = p.label + " · " + p.regions.length + (p.regions.length === 1 ? " track" : " tracks") + " · " + fmtTime(p.start).slice(0, 8) + "–" + fmtTime(p.end).slice(0, 8) +
      " · " + (accepted === p.regions.length ? "accepted" : rejected === p.regions.length ? "rejected" : accepted + rejected ? accepted + " accepted, " + rejected + " rejected" : "to review");
    b.title = p.label + ": " + p.regions.map((r) => r.id).join(", ") + " · " + fmtTime(p.start) + "–" + fmtTime(p.end);
    b.addEventListener("click", () => { select({ kind: "region", id: p.regions[0].id }); seekFrame(frameOfTime(p.regions[0].keyframes[0].time)); });
    li.appendChild(b);
    if (!S.readOnly) {
      for (const [act, lab, sym] of [["accepted", "Accept", "✓"], ["rejected", "Reject", "✗"]]) {
        const x = document.createElement("button");
        x.type = "button";
        x.className = "small-btn";
        x.textContent = sym;
        x.title = lab + " every track of " + p.label;
        x.setAttribute("aria-label", lab + " " + p.label);
        x.addEventListener("click", () => reviewPerson(p.key, act));
        li.appendChild(x);
      }
    }
    ul.appendChild(li);
  }
  $("ed-merge").disabled = S.mergeSel.size < 2;
  const r = selected();
  $("ed-split").disabled = !(S.sel && S.sel.kind === "region" && r && isPersonRegion(r) && ps.some((p) => p.key === personKey(r) && p.regions.length > 1));
}

function reviewPerson(key, decision) {
  const p = people().find((x) => x.key === key);
  if (!p) return;
  const pending = p.regions.filter((r) => r.origin === "auto" && r.review !== decision);
  if (!pending.length) { toast(p.label + " is " + decision + " already."); return; }
  let code = null;
  if (decision === "accepted" && pending.some((r) => !isCode(r.reason))) { code = batchCode(); if (!code) return; }
  if (!window.confirm((decision === "accepted" ? "Accept " : "Reject ") + "the " + pending.length + (pending.length === 1 ? " track" : " tracks") + " of " + p.label + "?")) return;
  S.model.batch((decision === "accepted" ? "Accept " : "Reject ") + p.label, () => {
    for (const r of pending) S.model.edit("region", r.id, "review", (x) => { x.review = decision; if (code && !isCode(x.reason)) x.reason = code; });
  });
}

function mergePeople() {
  const ps = people().filter((p) => S.mergeSel.has(p.key));
  if (ps.length < 2) { toast("Select two or more people to merge."); return; }
  const tracks = ps.reduce((n, p) => n + p.regions.length, 0);
  if (!window.confirm("Merge " + ps.map((p) => p.label).join(", ") + " (" + tracks + " tracks) into one person?")) return;
  // The earliest person's label survives; a person that was only a region
  // gets a label of its own.
  const target = ps[0].regions.some((r) => r.person) ? ps[0].key : newPersonID();
  S.model.batch("Merge " + ps.length + " people", () => {
    for (const p of ps) for (const r of p.regions) if (r.person !== target) S.model.edit("region", r.id, "person", (x) => { x.person = target; });
  });
  S.mergeSel.clear();
  renderPanels();
  toast("Merged into one person (" + tracks + " tracks).", true);
}

function splitPerson() {
  const r = selected();
  if (!r || S.sel.kind !== "region" || !isPersonRegion(r)) { toast("Select a track of a person first."); return; }
  const id = newPersonID();
  S.model.edit("region", r.id, "Split " + r.id + " into a new person", (x) => { x.person = id; });
  toast(r.id + " is now a person of its own.", true);
}

// ---- edits ------------------------------------------------------------

function toast(text, undoable) {
  const el = $("ed-toast");
  el.textContent = "";
  const span = document.createElement("span");
  span.textContent = text;
  el.appendChild(span);
  if (undoable) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = "Undo";
    b.addEventListener("click", () => { S.model.undo(); el.hidden = true; });
    el.appendChild(b);
  }
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

function needSelection(kinds) {
  const it = selected();
  if (!it || (kinds && kinds.indexOf(S.sel.kind) < 0)) { toast("Select a " + (kinds ? kinds.join(" or ") : "region or range") + " first."); return null; }
  return it;
}

function addKeyframe() {
  const r = needSelection(["region"]);
  if (!r) return;
  const t = now();
  let b = boxAt(r.keyframes, t);
  if (!b) { // outside the window or hidden: copy the nearest keyframe
    const k = r.keyframes.reduce((a, k) => (Math.abs(k.time - t) < Math.abs(a.time - t) ? k : a));
    b = { x: k.x, y: k.y, width: k.width, height: k.height };
  }
  S.model.edit("region", r.id, "Add keyframe", (x) => { setKeyframe(x, t, b, halfFrame()); });
}

function deleteKeyframe() {
  const it = needSelection();
  if (!it) return;
  if (S.sel.kind !== "region") { deleteSelected(true); return; }
  const i = keyframeIndexAt(it, now(), halfFrame());
  if (i < 0) { toast("No keyframe of " + it.id + " at the playhead."); return; }
  if (it.keyframes.length === 1) { deleteSelected(); return; }
  S.model.edit("region", it.id, "Delete keyframe", (r) => { r.keyframes.splice(i, 1); });
  toast("Keyframe deleted", true);
}

function deleteSelected(quiet) {
  const it = needSelection();
  if (!it) return;
  if (S.sel.kind === "region" && !quiet && !window.confirm("Delete region " + it.id + " with its " + it.keyframes.length + " keyframes?")) return;
  S.model.remove(S.sel.kind, it.id, "Delete " + it.id);
  select(null);
  toast(it.id + " deleted", true);
}

function toggleVisibility() {
  const r = needSelection(["region"]);
  if (!r) return;
  const t = now();
  const visible = !!boxAt(r.keyframes, t);
  S.model.edit("region", r.id, visible ? "Hide from here" : "Show from here", (x) => {
    const i = keyframeIndexAt(x, t, halfFrame());
    if (i >= 0) { if (x.keyframes[i].hidden) delete x.keyframes[i].hidden; else x.keyframes[i].hidden = true; return; }
    let prev = null;
    for (const k of x.keyframes) if (k.time <= t) prev = k;
    const b = boxAt(x.keyframes, t) || prev || x.keyframes[0];
    const j = setKeyframe(x, t, b, halfFrame());
    if (visible) x.keyframes[j].hidden = true; else delete x.keyframes[j].hidden;
  });
}

// setEdge moves the selection's in (or out) to the playhead. For a region
// the first (last) keyframe moves: keyframes beyond it are dropped and the
// box at the playhead becomes the new first (last) keyframe.
function setEdge(which) {
  const it = needSelection();
  if (!it) return;
  const t = now();
  if (S.sel.kind !== "region") {
    if ((which === "in" && t > it.end) || (which === "out" && t < it.start)) { toast("In must not be after out."); return; }
    S.model.edit(S.sel.kind, it.id, "Set " + which, (x) => { if (which === "in") x.start = t; else x.end = t; });
    return;
  }
  const ks = it.keyframes;
  if ((which === "in" && t > ks[ks.length - 1].time) || (which === "out" && t < ks[0].time)) { toast("In must not be after out."); return; }
  S.model.edit("region", it.id, "Set " + which, (r) => {
    const b = boxAt(r.keyframes, t);
    const edge = which === "in" ? r.keyframes[0] : r.keyframes[r.keyframes.length - 1];
    const box = b || { x: edge.x, y: edge.y, width: edge.width, height: edge.height };
    const hiddenHere = !b && t >= r.keyframes[0].time && t <= r.keyframes[r.keyframes.length - 1].time;
    r.keyframes = r.keyframes.filter((k) => (which === "in" ? k.time > t + halfFrame() : k.time < t - halfFrame()));
    const k = { time: t, ...box };
    if (hiddenHere && which === "in") k.hidden = true;
    if (which === "in") r.keyframes.unshift(k); else r.keyframes.push(k);
  });
}

function stepKeyframe(dir) {
  const r = needSelection(["region"]);
  if (!r) return;
  const t = now(), h = halfFrame();
  const ks = dir > 0 ? r.keyframes.filter((k) => k.time > t + h) : r.keyframes.filter((k) => k.time < t - h).reverse();
  if (ks.length) seekFrame(frameOfTime(ks[0].time));
}

function batchCode() {
  const sel = $("ed-batch-code");
  if (!sel.value) { sel.focus(); toast("Choose the exemption code for accepted proposals first."); return null; }
  return sel.value;
}

function review(id, decision) {
  const r = S.model.find("region", id);
  if (!r) return;
  let code = r.reason;
  if (decision === "accepted" && !isCode(code)) { code = batchCode(); if (!code) return; }
  S.model.edit("region", id, (decision === "accepted" ? "Accept " : "Reject ") + id, (x) => {
    x.review = decision;
    if (decision === "accepted") x.reason = code;
  });
}

function proposalAtPlayhead() {
  const it = selected();
  if (it && S.sel.kind === "region" && it.origin === "auto") return it;
  const t = now();
  return S.model.spec.regions.find((r) => r.origin === "auto" && !r.review && boxAt(r.keyframes, t)) || null;
}

function reviewAtPlayhead(decision) {
  const r = proposalAtPlayhead();
  if (!r) { toast("No proposal selected or under the playhead."); return; }
  review(r.id, decision);
}

function reviewAll(decision) {
  const pending = S.model.spec.regions.filter((r) => r.origin === "auto" && !r.review);
  if (!pending.length) { toast("No proposals to review."); return; }
  let code = null;
  if (decision === "accepted" && pending.some((r) => !isCode(r.reason))) { code = batchCode(); if (!code) return; }
  if (!window.confirm((decision === "accepted" ? "Accept " : "Reject ") + pending.length + " proposals?")) return;
  S.model.batch((decision === "accepted" ? "Accept " : "Reject ") + pending.length + " proposals", () => {
    for (const r of pending) S.model.edit("region", r.id, "review", (x) => { x.review = decision; if (code && !isCode(x.reason)) x.reason = code; });
  });
}

function nextProposal(dir) {
  const t = now(), h = halfFrame();
  const pend = S.model.spec.regions.filter((r) => r.origin === "auto" && !r.review).sort((a, b) => a.keyframes[0].time - b.keyframes[0].time);
  if (!pend.length) { toast("No proposals to review."); return; }
  let r = dir > 0 ? pend.find((x) => x.keyframes[0].time > t + h) : pend.slice().reverse().find((x) => x.keyframes[0].time < t - h);
  if (!r) r = dir > 0 ? pend[0] : pend[pend.length - 1];
  select({ kind: "region", id: r.id });
  seekFrame(frameOfTime(r.keyframes[0].time));
}

// toggleRange starts a range at the playhead (M or F) and ends it on the
// second press.
function toggleRange(kind) {
  const t = now();
  const p = S.pending[kind];
  if (p === null) { S.pending[kind] = t; toast((kind === "audio" ? "Mute" : "Full-frame blur") + " range starts at " + fmtTime(t) + "; press " + (kind === "audio" ? "M" : "F") + " again at its end."); drawTimeline(); return; }
  S.pending[kind] = null;
  addRange(kind, Math.min(p, t), Math.max(p, t), false);
}

function addRange(kind, a, b, bleep) {
  if (b - a < halfFrame()) b = a + 1 / S.fps;
  const id = S.model.newID(kind === "audio" ? "audio" : "frame");
  const item = kind === "audio" ? { id, start: a, end: b, action: bleep ? "bleep" : "mute", reason: "", origin: "manual", ...(bleep ? { frequency: 1000 } : {}) } : { id, start: a, end: b, strength: 40, reason: "" };
  S.model.add(kind, item, "Add " + id);
  select({ kind, id });
}

// ---- audio heard in the editor ----------------------------------------

function updateAudioMute() {
  if (!S.model) return;
  const t = video.currentTime;
  const inRange = S.model.spec.audio.some((a) => t >= a.start && t <= a.end);
  video.muted = inRange && !S.hearSource; // hear what the public will hear
}

// ---- transport and views ----------------------------------------------

function updateTransport() {
  $("ed-time").textContent = fmtTime(now());
  $("ed-frame").textContent = String(S.frame);
  $("ed-frame-total").textContent = String(S.outF);
  follow();
  if (!video.paused) {
    // While playing, the playhead moves four times a second; the
    // inspector waits for the pause.
    const t = performance.now();
    if (t - (S.tlDrawnAt || 0) > 250) { S.tlDrawnAt = t; drawTimeline(); }
    return;
  }
  renderInspector();
  drawTimeline();
}

let announceTimer = 0;
function announce() {
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { live.textContent = "Frame " + S.frame + ", " + fmtTime(now()); }, 250);
}

function setMode(m) {
  S.mode = m;
  root.dataset.mode = m;
  $("ed-view").value = m;
  $("ed-mode-label").textContent = m === "edit" ? "Edit view: outlines, effects at reduced strength" : m === "redacted" ? "Redacted preview (client-side approximation, not proof)" : "Side by side: source and server preview";
  const pv = $("ed-preview-pane");
  pv.hidden = m !== "side";
  if (m === "side") syncPreview();
  setTimeout(resize, 0);
}

function syncPreview() {
  const pv = $("ed-preview");
  if (!pv || S.mode !== "side" || !pv.src) return;
  if (Math.abs(pv.currentTime - video.currentTime) > 0.5 / S.fps) pv.currentTime = video.currentTime;
  if (video.paused !== pv.paused) { if (video.paused) pv.pause(); else pv.play().catch(() => {}); }
}

function updatePreviewBadge() {
  const p = S.clip.preview;
  const badge = $("ed-preview-state");
  if (!p || !p.url) { badge.textContent = "No server preview rendered yet."; badge.className = "ed-badge stale"; return; }
  const stale = p.spec_version !== S.version || S.model.changes > 0;
  badge.textContent = "Preview of v" + p.spec_version + (stale ? " — you are on v" + S.version + (S.model.changes ? " with unsaved changes" : "") + ": re-render" : "");
  badge.className = "ed-badge" + (stale ? " stale" : "");
}

// ---- timeline -----------------------------------------------------------

const TL = { labelW: 120, ruler: 20, sprite: 44, audio: 34, frame: 22, lane: 20, lanes: [], height: 0 };
S.timeline = TL; // lane positions, for the browser tests

function layoutTimeline() {
  if (!S.model) return;
  const lanes = [];
  let y = 0;
  const push = (kind, h, extra) => { lanes.push({ kind, y, h, ...extra }); y += h; };
  push("ruler", TL.ruler);
  push("sprite", TL.sprite);
  push("audio", TL.audio);
  push("frame", TL.frame);
  for (const r of S.model.spec.regions) {
    if (r.review === "rejected" && !S.showRejected) continue;
    push("region", TL.lane, { id: r.id });
  }
  TL.lanes = lanes;
  TL.height = y + 4;
  const dpr = window.devicePixelRatio || 1;
  tl.height = Math.round(TL.height * dpr);
  tl.style.height = TL.height + "px";
}

const tlWidth = () => tl.width / (window.devicePixelRatio || 1) - TL.labelW - 8;
const tIn = () => frameStart(S.inF), tOut = () => frameStart(S.outF);
// The visible window of the timeline, [S.view.a, S.view.b] seconds: the
// whole clip until the user zooms.
const vA = () => (S.view ? S.view.a : tIn()), vB = () => (S.view ? S.view.b : tOut());
const xOf = (t) => TL.labelW + ((t - vA()) / Math.max(1e-9, vB() - vA())) * tlWidth();
const tOfX = (x) => vA() + ((x - TL.labelW) / tlWidth()) * (vB() - vA());

// zoom scales the visible window by factor around time t (the playhead
// for the buttons, the pointer for the wheel).
function zoom(factor, t) {
  const full = tOut() - tIn();
  const span = Math.max(Math.min(full, 50 / S.fps), Math.min(full, (vB() - vA()) * factor));
  let a = t - ((t - vA()) / (vB() - vA())) * span;
  a = Math.max(tIn(), Math.min(tOut() - span, a));
  S.view = span >= full ? null : { a, b: a + span };
  $("ed-zoom-level").textContent = S.view ? Math.round(full / span) + "×" : "whole clip";
  drawTimeline();
}

function pan(seconds) {
  if (!S.view) return;
  const span = S.view.b - S.view.a;
  const a = Math.max(tIn(), Math.min(tOut() - span, S.view.a + seconds));
  S.view = { a, b: a + span };
  drawTimeline();
}

// follow keeps the playhead in view without animation: when it leaves the
// window, the window jumps so the playhead is near its left edge.
function follow() {
  if (!S.view) return;
  const t = now(), span = S.view.b - S.view.a;
  if (t < S.view.a || t > S.view.b) pan(t - span * 0.1 - S.view.a);
}

function onTimelineWheel(ev) {
  if (!S.model) return;
  ev.preventDefault();
  const r = tl.getBoundingClientRect();
  if (ev.ctrlKey || ev.metaKey) zoom(ev.deltaY > 0 ? 1.25 : 0.8, tOfX(ev.clientX - r.left));
  else pan(((ev.deltaX || ev.deltaY) / tlWidth()) * (vB() - vA()));
}

function drawTimeline() {
  if (!S.model || !TL.lanes.length) return;
  const dpr = window.devicePixelRatio || 1;
  const c = tctx;
  c.setTransform(dpr, 0, 0, dpr, 0, 0);
  c.clearRect(0, 0, tl.width, tl.height);
  c.font = "12px system-ui, sans-serif";
  c.textBaseline = "middle";
  const W = tlWidth();
  for (const lane of TL.lanes) {
    c.fillStyle = lane.kind === "region" && S.sel && S.sel.id === lane.id ? "#2b3a4f" : "#1d232b";
    c.fillRect(0, lane.y, TL.labelW + W + 8, lane.h - 1);
    c.fillStyle = "#e8edf2";
    const name = lane.kind === "ruler" ? "" : lane.kind === "sprite" ? "video" : lane.kind === "audio" ? "audio" : lane.kind === "frame" ? "full frame" : lane.id;
    c.fillText(name.length > 16 ? name.slice(0, 15) + "…" : name, 6, lane.y + lane.h / 2);
    c.save();
    c.beginPath();
    c.rect(TL.labelW - 6, lane.y, W + 14, lane.h);
    c.clip();
    if (lane.kind === "ruler") drawRuler(c, lane);
    else if (lane.kind === "sprite") drawSprite(c, lane);
    else if (lane.kind === "audio") drawAudioLane(c, lane);
    else if (lane.kind === "frame") drawRanges(c, lane, S.model.spec.full_frame_blur, () => COLORS.frame, "frame");
    else drawRegionLane(c, lane);
    c.restore();
  }
  for (const kind of ["audio", "frame"]) {
    if (S.pending[kind] === null) continue;
    const lane = TL.lanes.find((l) => l.kind === kind);
    const a = xOf(S.pending[kind]), b = xOf(now());
    c.fillStyle = "rgba(255,212,0,.35)";
    c.fillRect(Math.min(a, b), lane.y + 2, Math.abs(b - a) + 1, lane.h - 5);
  }
  const px = xOf(now());
  c.fillStyle = "#ffd400";
  c.fillRect(px - 1, 0, 2, TL.height);
  c.beginPath(); c.moveTo(px - 6, 0); c.lineTo(px + 6, 0); c.lineTo(px, 8); c.fill();
}

function drawRuler(c, lane) {
  const span = vB() - vA();
  const steps = [0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((s) => (s / span) * tlWidth() > 80) || 3600;
  c.fillStyle = "#9fb0c2";
  for (let t = Math.ceil(vA() / step) * step; t <= vB(); t += step) {
    const x = xOf(t);
    c.fillRect(x, lane.y + lane.h - 6, 1, 6);
    c.fillText(fmtTime(t).replace(/^00:/, "").replace(/\.000$/, "").replace(/(\.\d\d)0$/, "$1"), x + 3, lane.y + lane.h / 2 - 1);
  }
}

function drawSprite(c, lane) {
  const sp = S.sprite, img = S.spriteImg;
  if (!sp || !img || !img.complete || !img.naturalWidth) return;
  const tiles = sp.tiles;
  const h = lane.h - 2, w = (sp.tile_width / sp.tile_height) * h;
  // One tile per slot of the strip: the tile nearest the slot's time.
  for (let x = TL.labelW; x < TL.labelW + tlWidth(); x += w) {
    const t = tOfX(x + w / 2);
    let best = tiles[0];
    for (const tile of tiles) if (tile.time <= t) best = tile;
    c.drawImage(img, best.x, best.y, sp.tile_width, sp.tile_height, x, lane.y + 1, Math.min(w, TL.labelW + tlWidth() - x), h);
  }
}

function drawAudioLane(c, lane) {
  const wf = S.waveform;
  if (wf && wf.peaks && wf.peaks.length) {
    const mid = lane.y + lane.h / 2, amp = (lane.h - 6) / 2;
    c.fillStyle = "#5f7b99";
    for (let x = TL.labelW; x < TL.labelW + tlWidth(); x++) {
      const a = Math.max(0, Math.floor(tOfX(x) * wf.rate)), b = Math.max(a + 1, Math.floor(tOfX(x + 1) * wf.rate));
      let lo = 0, hi = 0;
      for (let i = a; i < b && 2 * i + 1 < wf.peaks.length; i++) { lo = Math.min(lo, wf.peaks[2 * i]); hi = Math.max(hi, wf.peaks[2 * i + 1]); }
      c.fillRect(x, mid - (hi / 128) * amp, 1, Math.max(1, ((hi - lo) / 128) * amp));
    }
  }
  drawRanges(c, lane, S.model.spec.audio, (a) => (a.action === "bleep" ? COLORS.bleep : COLORS.audio), "audio");
}

function drawRanges(c, lane, items, color, kind) {
  const d = S.tlDrag;
  for (let it of items) {
    if (d && d.kind === "edge" && d.id === it.id && d.time !== undefined) it = { ...it, [d.edge]: d.time };
    const a = xOf(it.start), b = Math.max(a + 2, xOf(it.end));
    const sel = S.sel && S.sel.id === it.id;
    c.fillStyle = color(it);
    c.globalAlpha = 0.8;
    c.fillRect(a, lane.y + 3, b - a, lane.h - 7);
    c.globalAlpha = 1;
    if (sel || S.errors.has(it.id)) { c.strokeStyle = sel ? COLORS.selected : COLORS.error; c.lineWidth = 2; c.strokeRect(a + 1, lane.y + 4, b - a - 2, lane.h - 9); }
    c.fillStyle = "#fff";
    const text = (kind === "audio" ? it.action : "blur") + " " + (it.reason || "no exemption");
    if (b - a > 40) c.fillText(text, a + 4, lane.y + lane.h / 2);
  }
}

function drawRegionLane(c, lane) {
  const r = S.model.find("region", lane.id);
  if (!r) return;
  const color = regionColor(r);
  let ks = r.keyframes;
  const d = S.tlDrag;
  if (d && d.kind === "retime" && d.id === r.id && d.time !== undefined) {
    ks = ks.map((k, i) => (i === d.index ? { ...k, time: d.time } : k));
  }
  const y = lane.y + lane.h / 2;
  c.strokeStyle = color;
  c.lineWidth = 3;
  for (let i = 0; i + 1 < ks.length; i++) {
    if (ks[i].hidden || ks[i + 1].time < vA() || ks[i].time > vB()) continue;
    c.setLineDash(r.origin === "auto" && !r.review ? [6, 4] : ks[i].interp === "hold" ? [1, 0] : []);
    c.lineWidth = ks[i].interp === "hold" ? 6 : 3;
    c.beginPath(); c.moveTo(xOf(ks[i].time), y); c.lineTo(xOf(ks[i + 1].time), y); c.stroke();
  }
  c.setLineDash([]);
  const x0 = TL.labelW, x1 = TL.labelW + tlWidth();
  for (const k of ks) {
    const x = xOf(k.time);
    if (x < x0 - 6 || x > x1 + 6) continue;
    c.fillStyle = k.hidden ? "#1d232b" : color;
    c.beginPath(); c.moveTo(x, y - 5); c.lineTo(x + 5, y); c.lineTo(x, y + 5); c.lineTo(x - 5, y); c.closePath(); c.fill();
    c.strokeStyle = color; c.lineWidth = 1; c.stroke();
  }
  if (r.reason) {
    c.fillStyle = "#e8edf2";
    const x = xOf(ks[ks.length - 1].time) + 8;
    if (x < TL.labelW + tlWidth() - 40) c.fillText(r.reason, x, y);
  }
}

function laneAt(y) { return TL.lanes.find((l) => y >= l.y && y < l.y + l.h); }

function onTimelineDown(ev) {
  if (ev.button !== 0 || !S.model) return;
  const r = tl.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  const lane = laneAt(y);
  if (!lane || x < TL.labelW) return;
  const t = Math.max(tIn(), Math.min(tOut(), tOfX(x)));
  tl.setPointerCapture(ev.pointerId);
  if (lane.kind === "ruler" || lane.kind === "sprite") {
    S.tlDrag = { kind: "scrub" };
    seekFrame(frameOfTime(t));
    return;
  }
  if (S.readOnly) { // look, never change: select what is hit and seek
    const list = lane.kind === "audio" ? S.model.spec.audio : lane.kind === "frame" ? S.model.spec.full_frame_blur : null;
    const hit = list ? list.find((a) => x >= xOf(a.start) && x <= xOf(a.end)) : lane.kind === "region" ? { id: lane.id } : null;
    if (hit) select({ kind: lane.kind, id: hit.id });
    S.tlDrag = { kind: "scrub" };
    seekFrame(frameOfTime(t));
    return;
  }
  if (lane.kind === "audio" || lane.kind === "frame") {
    const list = lane.kind === "audio" ? S.model.spec.audio : S.model.spec.full_frame_blur;
    const edge = list.find((a) => Math.abs(xOf(a.start) - x) <= 4 || Math.abs(xOf(a.end) - x) <= 4);
    if (edge) {
      select({ kind: lane.kind, id: edge.id });
      S.tlDrag = { kind: "edge", lane: lane.kind, id: edge.id, edge: Math.abs(xOf(edge.start) - x) <= Math.abs(xOf(edge.end) - x) ? "start" : "end" };
      return;
    }
    const hit = list.find((a) => x >= xOf(a.start) && x <= xOf(a.end));
    if (hit) { select({ kind: lane.kind, id: hit.id }); seekFrame(frameOfTime(t)); return; }
    S.tlDrag = { kind: "range", lane: lane.kind, start: t, x0: x, bleep: ev.shiftKey };
    return;
  }
  const reg = S.model.find("region", lane.id);
  const ki = reg.keyframes.findIndex((k) => Math.abs(xOf(k.time) - x) <= 5);
  select({ kind: "region", id: reg.id });
  if (ki >= 0) S.tlDrag = { kind: "retime", id: reg.id, index: ki, x0: x };
  seekFrame(frameOfTime(ki >= 0 ? reg.keyframes[ki].time : t));
}

// hoverInfo names the keyframe or range under the pointer (time, type and
// box), as the timeline's tooltip.
function hoverInfo(ev) {
  const r = tl.getBoundingClientRect();
  const x = ev.clientX - r.left, lane = laneAt(ev.clientY - r.top);
  if (!lane || x < TL.labelW) return "";
  if (lane.kind === "region") {
    const reg = S.model.find("region", lane.id);
    const k = reg && reg.keyframes.find((k) => Math.abs(xOf(k.time) - x) <= 5);
    if (k) return reg.id + " keyframe at " + fmtTime(k.time) + " (frame " + frameOfTime(k.time) + "): " + Math.round(k.x) + "," + Math.round(k.y) + " " + Math.round(k.width) + "×" + Math.round(k.height) + (k.hidden ? ", hidden until the next keyframe" : k.interp === "hold" ? ", held until the next keyframe" : ", linear to the next keyframe");
    return reg ? reg.id + " · " + fmtTime(reg.keyframes[0].time) + "–" + fmtTime(reg.keyframes[reg.keyframes.length - 1].time) + " · " + (reg.reason || "no exemption") : "";
  }
  const list = lane.kind === "audio" ? S.model.spec.audio : lane.kind === "frame" ? S.model.spec.full_frame_blur : null;
  const it = list && list.find((a) => x >= xOf(a.start) - 2 && x <= xOf(a.end) + 2);
  if (it) return it.id + " · " + fmtTime(it.start) + "–" + fmtTime(it.end) + " · " + (it.action || "blur") + " · " + (it.reason || "no exemption");
  return fmtTime(tOfX(x));
}

function onTimelineMove(ev) {
  const d = S.tlDrag;
  if (!d && S.model) { const h = hoverInfo(ev); if (tl.title !== h) tl.title = h; }
  if (!d || !(ev.buttons & 1)) return;
  const r = tl.getBoundingClientRect();
  const t = Math.max(tIn(), Math.min(tOut(), tOfX(ev.clientX - r.left)));
  if (d.kind === "scrub") seekFrame(frameOfTime(t));
  else if (d.kind === "retime") {
    // Dragging a diamond retimes its keyframe: snapped to a frame start,
    // never onto or past a neighbour.
    if (Math.abs(ev.clientX - r.left - d.x0) < 3 && d.time === undefined) return;
    const ks = S.model.find("region", d.id).keyframes;
    let f = frameOfTime(t);
    if (d.index > 0) f = Math.max(f, frameOfTime(ks[d.index - 1].time) + 1);
    if (d.index + 1 < ks.length) f = Math.min(f, frameOfTime(ks[d.index + 1].time) - 1);
    d.time = frameStart(f);
    seekFrame(f);
  } else if (d.kind === "edge") {
    const it = S.model.find(d.lane, d.id);
    let f = frameOfTime(t);
    if (d.edge === "start") f = Math.min(f, frameOfTime(it.end)); else f = Math.max(f, frameOfTime(it.start));
    d.time = frameStart(f);
    seekFrame(f);
  } else { d.end = t; S.pending[d.lane] = d.start; seekFrame(frameOfTime(t)); }
}

function onTimelineUp(ev) {
  const d = S.tlDrag;
  S.tlDrag = null;
  if (d && d.kind === "retime" && d.time !== undefined) {
    S.model.edit("region", d.id, "Retime keyframe", (x) => { x.keyframes[d.index].time = d.time; });
    return;
  }
  if (d && d.kind === "edge" && d.time !== undefined) {
    S.model.edit(d.lane, d.id, "Set " + (d.edge === "start" ? "in" : "out"), (x) => { x[d.edge] = d.time; });
    return;
  }
  if (!d || d.kind !== "range") { drawTimeline(); return; }
  S.pending[d.lane] = null;
  if (d.end === undefined || Math.abs(ev.clientX - tl.getBoundingClientRect().left - d.x0) < 3) { drawTimeline(); return; }
  const a = frameStart(frameOfTime(Math.min(d.start, d.end))), b = frameStart(frameOfTime(Math.max(d.start, d.end)));
  addRange(d.lane, a, b, d.bleep);
}

// ---- save ---------------------------------------------------------------

function lacking() {
  const spec = S.model.spec, out = [];
  // Unreviewed proposals keep the detector's reason until a person
  // accepts them (accepting asks for the code); rejected ones need none.
  for (const r of spec.regions) if ((r.origin !== "auto" || r.review === "accepted") && !isCode(r.reason)) out.push({ kind: "region", id: r.id });
  for (const a of spec.audio) if (!isCode(a.reason)) out.push({ kind: "audio", id: a.id });
  for (const f of spec.full_frame_blur) if (!isCode(f.reason)) out.push({ kind: "frame", id: f.id });
  return out;
}

function banner(text, kind) {
  const el = $("ed-banner");
  el.textContent = text;
  el.className = "ed-banner ed-status " + (text ? kind || "" : "empty");
}

async function save() {
  if (S.saving) return;
  const missing = lacking();
  if (missing.length) {
    banner(missing.length + (missing.length === 1 ? " item lacks" : " items lack") + " an exemption code; choose one for each before saving.", "bad");
    select(missing[0]);
    $("ed-exemption").focus();
    return;
  }
  S.saving = true;
  $("ed-save").disabled = true;
  const sent = clone(S.model.spec);
  const changesAtSend = S.model.changes;
  try {
    const res = await fetch(S.clipURL + "/spec", {
      method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ base_version: S.version, spec: sent }),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.ok && data && typeof data.version === "number") {
      S.version = data.version;
      S.base = sent;
      $("ed-conflict").hidden = true;
      S.model.changes -= changesAtSend;
      S.errors.clear();
      S.savedAt = new Date().toLocaleTimeString();
      banner("Saved as version " + S.version + ".", "ok");
      if (S.model.changes === 0) dropDraft(S.clipURL);
      root.dataset.version = String(S.version);
    } else if (res.status === 409) {
      let msg = data && data.error ? String(data.error.message).trim() : "Someone saved a newer version.";
      if (!/[.!?]$/.test(msg)) msg += ".";
      banner("Not saved: " + msg + " Your changes are kept in this editor and in your draft.", "bad");
      showConflict();
    } else if (res.status === 400 && data && data.error) {
      S.errors.clear();
      const loose = [];
      for (const raw of data.error.fields || []) {
        // {path, message} is the contract; {field, reason} (evidence/request's
        // FieldError) is read too.
        const f = { path: raw.path || raw.field || "", message: raw.message || raw.reason || "" };
        const m = /^(regions|audio|full_frame_blur)\[(\d+)\]/.exec(f.path);
        const list = m ? sent[m[1]] : null;
        const item = list ? list[+m[2]] : null;
        const text = (f.path || "spec") + ": " + f.message;
        if (item) { if (!S.errors.has(item.id)) S.errors.set(item.id, []); S.errors.get(item.id).push(text); } else loose.push(text);
      }
      banner("Not saved: " + data.error.message + (loose.length ? " — " + loose.join("; ") : "") + (S.errors.size ? " (" + S.errors.size + " items marked in red)" : ""), "bad");
      const keep = S.sel && S.errors.has(S.sel.id);
      const first = keep ? S.sel.id : [...S.errors.keys()][0];
      if (first) for (const kind of ["region", "audio", "frame"]) if (S.model.find(kind, first)) select({ kind, id: first });
    } else {
      banner("Not saved: " + (data && data.error ? data.error.message : "the server answered " + res.status) + ". Your changes are kept.", "bad");
    }
  } catch (e) {
    banner("Not saved: the server could not be reached. Your changes are kept.", "bad");
  } finally {
    S.saving = false;
    $("ed-save").disabled = false;
    renderPanels();
    updatePreviewBadge();
    draw();
    drawTimeline();
  }
}

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : "";
}

// ---- box tracking -------------------------------------------------------

// The server tracks a box (POST clip/track answers 202 with a job; GET
// clip/jobs/:job reports its progress and, once completed, the region
// keyframes in the track output's details.result). The editor sends the
// selected region's box at the playhead, shows the job's progress with a
// Cancel button, and replaces the region's keyframes with the tracked ones
// as one edit, so a single undo gives back the box as drawn. One track at
// a time; a result for a region deleted meanwhile changes nothing.

const TRACK_POLL_MS = 400;

async function clipCall(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") { headers["X-CSRF-Token"] = csrf(); headers["Content-Type"] = "application/json"; }
  const res = await fetch(S.clipURL + path, { method, credentials: "same-origin", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  return { res, data };
}

// problemText is the server's error message with its field errors.
function problemText(res, data) {
  if (!data || !data.error) return "the server answered " + res.status;
  let msg = String(data.error.message || "").trim().replace(/[.]$/, "");
  const fields = (data.error.fields || []).map((f) => (f.path || f.field || "") + ": " + (f.message || f.reason || ""));
  if (fields.length) msg += " (" + fields.join("; ") + ")";
  return msg;
}

function showTrack(percent, text) {
  $("ed-track").hidden = false;
  $("ed-track-progress").value = Math.max(0, Math.min(100, percent || 0));
  $("ed-track-text").textContent = Math.round(percent || 0) + " % · " + text;
  $("ed-track-cancel").disabled = !S.track || S.track.job == null;
}

function endTrack(text, kind) {
  if (S.track) clearTimeout(S.track.timer);
  S.track = null;
  $("ed-track").hidden = true;
  banner(text, kind);
}

async function track() {
  if (S.track) { toast("A box is already being tracked; wait for it or cancel it."); return; }
  const r = needSelection(["region"]);
  if (!r) return;
  const t = now();
  const b = boxAt(r.keyframes, t);
  if (!b) { toast("Region " + r.id + " has no box at the playhead: go to a frame where it is drawn."); return; }
  if (!video.paused) video.pause();
  const tr = { region: r.id, job: null, timer: 0, misses: 0 };
  S.track = tr;
  showTrack(0, "starting to track " + r.id);
  let res, data;
  try {
    ({ res, data } = await clipCall("POST", "/track", { time: t, box: finishBox(b) }));
  } catch (e) {
    if (S.track === tr) endTrack("Not tracked: the server could not be reached.", "bad");
    return;
  }
  if (S.track !== tr) return;
  if (res.status !== 202 || !data || !data.job) { endTrack("Not tracked: " + problemText(res, data) + ".", "bad"); return; }
  tr.job = data.job.id;
  showTrack(data.job.progress, "tracking " + r.id);
  tr.timer = setTimeout(() => pollTrack(tr), TRACK_POLL_MS);
}

async function pollTrack(tr) {
  if (S.track !== tr) return;
  let res = null, data = null;
  try { ({ res, data } = await clipCall("GET", "/jobs/" + tr.job)); } catch (e) { res = null; }
  if (S.track !== tr) return; // cancelled while asking
  if (!res || !res.ok || !data || !data.job) {
    // A network hiccup is retried a few times; an answer with an error is final.
    if (res && res.status !== 502 && res.status !== 503) { endTrack("Tracking failed: " + problemText(res, data) + ".", "bad"); return; }
    if (++tr.misses >= 10) { endTrack("Tracking: the job's progress could not be read; the region is unchanged.", "bad"); return; }
  } else {
    tr.misses = 0;
    const j = data.job;
    if (j.state === "completed") { applyTrack(tr, data); return; }
    if (j.state === "cancelled") { endTrack("Tracking was cancelled; " + tr.region + " is unchanged.", "warn"); return; }
    if (j.state === "discarded") { endTrack("Tracking failed: " + (j.last_error || j.message || "the job gave up") + ". " + tr.region + " is unchanged.", "bad"); return; }
    const what = j.state === "retryable" ? "retrying after: " + (j.last_error || "an error") : j.state === "running" ? "tracking " + tr.region : "waiting for a worker";
    showTrack(j.progress, what);
  }
  tr.timer = setTimeout(() => pollTrack(tr), TRACK_POLL_MS);
}

function applyTrack(tr, view) {
  const out = (view.outputs || []).find((o) => o.kind === "track" && o.details && o.details.result);
  const result = out ? out.details.result : null;
  const kfs = result && Array.isArray(result.keyframes) ? result.keyframes.map((k) => {
    const c = { time: k.time, x: k.x, y: k.y, width: k.width, height: k.height };
    if (k.interp) c.interp = k.interp;
    if (k.hidden) c.hidden = true;
    return c;
  }).sort((a, b) => a.time - b.time) : [];
  if (kfs.length === 0) { endTrack("Tracking found nothing to follow; " + tr.region + " is unchanged.", "bad"); return; }
  if (!S.model.find("region", tr.region)) { endTrack("Tracking finished, but " + tr.region + " was deleted meanwhile; nothing changed.", "warn"); return; }
  S.model.edit("region", tr.region, "Track " + tr.region, (r) => { r.keyframes = kfs; });
  endTrack("Tracked " + tr.region + " from " + fmtTime(result.start) + " to " + fmtTime(result.end) + ": " + kfs.length + " keyframes (not saved yet; Undo gives back the drawn box).", "ok");
  toast(tr.region + " tracked", true);
}

async function cancelTrack() {
  const tr = S.track;
  if (!tr || tr.job == null) return;
  $("ed-track-cancel").disabled = true;
  let res, data;
  try { ({ res, data } = await clipCall("POST", "/jobs/" + tr.job + "/cancel")); } catch (e) { res = null; }
  if (S.track !== tr) return;
  if (res && res.ok) { endTrack("Tracking was cancelled; " + tr.region + " is unchanged.", "warn"); return; }
  // Not cancelled (finished meanwhile, or refused): keep following the job.
  $("ed-track-cancel").disabled = false;
  banner("Not cancelled: " + (res ? problemText(res, data) : "the server could not be reached") + ".", "bad");
}

// ---- keyboard ------------------------------------------------------------

const ACTIONS = {
  play: () => (video.paused ? video.play().catch(() => {}) : video.pause()),
  prevFrame: () => seekFrame((S.seek.target ?? S.frame) - 1),
  nextFrame: () => seekFrame((S.seek.target ?? S.frame) + 1),
  back1s: () => seekFrame(S.frame - Math.round(S.fps)),
  fwd1s: () => seekFrame(S.frame + Math.round(S.fps)),
  back5s: () => seekFrame(S.frame - Math.round(5 * S.fps)),
  fwd5s: () => seekFrame(S.frame + Math.round(5 * S.fps)),
  start: () => seekFrame(S.inF),
  end: () => seekFrame(S.outF),
  setIn: () => setEdge("in"),
  setOut: () => setEdge("out"),
  draw: () => { S.armed = true; root.classList.add("armed"); if (!video.paused) video.pause(); toast("Drag on the video to draw a box (Esc cancels)."); },
  keyframe: addKeyframe,
  deleteKeyframe,
  deleteRegion: () => deleteSelected(),
  visibility: toggleVisibility,
  track,
  prevKeyframe: () => stepKeyframe(-1),
  nextKeyframe: () => stepKeyframe(1),
  accept: () => reviewAtPlayhead("accepted"),
  reject: () => reviewAtPlayhead("rejected"),
  nextProposal: () => nextProposal(1),
  prevProposal: () => nextProposal(-1),
  mute: () => toggleRange("audio"),
  fullFrame: () => toggleRange("frame"),
  cycleView: () => setMode({ edit: "redacted", redacted: "side", side: "edit" }[S.mode]),
  undo: () => { const l = S.model.undo(); if (l) toast("Undone: " + l); },
  redo: () => { const l = S.model.redo(); if (l) toast("Redone: " + l); },
  save,
  help: () => $("ed-help").showModal(),
  escape: () => { if (!cancelDrag()) select(null); },
};

const keys = keymap("editor");
function onKey(ev) {
  const tag = ev.target && ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
    if (!(ev.key === "s" && (ev.ctrlKey || ev.metaKey))) return; // typing wins, except save
  }
  if ($("ed-help").open) return;
  const id = keys.lookup(ev);
  if (!id || !S.model) return;
  if (tag === "BUTTON" && (ev.key === " " || ev.key === "Enter")) return; // the focused button's own action
  ev.preventDefault();
  if (S.drag && id !== "escape") return;
  run(id);
}

// run performs a shortcut's action; a read-only editor refuses the ones
// that change the spec (their keys are not listed either).
function run(id) {
  const s = shortcutFor(id);
  if (S.readOnly && s && s.edit) { toast("Read only: this clip's redactions cannot be changed here."); return; }
  ACTIONS[id]();
}

function buildHelp() {
  const tbody = $("ed-help-rows");
  const usable = SHORTCUTS.filter((s) => !(S.readOnly && s.edit));
  for (const s of usable) {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    a.textContent = s.label;
    const b = document.createElement("td");
    s.keys.forEach((k, i) => { if (i) b.append(" or "); const kb = document.createElement("kbd"); kb.textContent = display(k); b.appendChild(kb); });
    tr.append(a, b);
    tbody.appendChild(tr);
  }
  $("ed-hint").textContent = "Keys: " + usable.filter((s) => s.hint).map((s) => display(s.keys[0]) + " " + s.label.toLowerCase()).join(" · ");
  for (const el of root.querySelectorAll("[data-action]")) {
    const s = shortcutFor(el.dataset.action);
    if (s) el.title = s.label + " (" + s.keys.map(display).join(", ") + ")";
    el.addEventListener("click", () => { if (S.model) run(el.dataset.action); });
  }
}

// ---- inspector inputs -------------------------------------------------

function wireInspector() {
  const onSel = (fn, label) => () => { const it = selected(); if (it) S.model.edit(S.sel.kind, it.id, label, fn); };
  $("ed-exemption").addEventListener("change", (e) => onSel((x) => { x.reason = e.target.value; }, "Set exemption")());
  $("ed-effect").addEventListener("change", (e) => onSel((x) => {
    const type = e.target.value;
    x.effect = type === "blur" ? { type, strength: 40 } : type === "pixelate" ? { type, block_size: 16 } : { type, color: "#000000" };
    S.lastEffect = clone(x.effect);
  }, "Set effect")());
  $("ed-strength").addEventListener("change", (e) => onSel((x) => { x.effect.strength = clampInt(e.target.value, 1, 100); S.lastEffect = clone(x.effect); }, "Set strength")());
  $("ed-block").addEventListener("change", (e) => onSel((x) => { x.effect.block_size = clampInt(e.target.value, 2, 1024); S.lastEffect = clone(x.effect); }, "Set block size")());
  $("ed-color").addEventListener("change", (e) => onSel((x) => { x.effect.color = e.target.value; S.lastEffect = clone(x.effect); }, "Set colour")());
  $("ed-shape").addEventListener("change", (e) => onSel((x) => { x.shape = e.target.value; }, "Set shape")());
  $("ed-action").addEventListener("change", (e) => onSel((x) => { x.action = e.target.value; if (x.action === "mute") delete x.frequency; else x.frequency = x.frequency || 1000; }, "Set audio action")());
  $("ed-ff-strength").addEventListener("change", (e) => onSel((x) => { x.strength = clampInt(e.target.value, 1, 100); }, "Set blur strength")());
  $("ed-interp").addEventListener("change", (e) => onSel((x) => {
    const i = keyframeIndexAt(x, now(), halfFrame());
    if (i < 0) return false;
    if (e.target.value === "hold") x.keyframes[i].interp = "hold"; else delete x.keyframes[i].interp;
  }, "Set interpolation")());
  for (const k of ["x", "y", "width", "height"]) {
    $("ed-" + k).addEventListener("change", () => onSel((r) => {
      const t = now();
      const b = boxAt(r.keyframes, t);
      if (!b) return false;
      b[k] = Number($("ed-" + k).value);
      setKeyframe(r, t, finishBox(b), halfFrame());
    }, "Set " + k)());
  }
  for (const which of ["in", "out"]) {
    $("ed-" + which).addEventListener("change", (e) => {
      const f = parseTimeToFrame(e.target.value);
      if (Number.isNaN(f)) { toast("Write a time as hh:mm:ss.mmm or a frame number."); renderInspector(); return; }
      seekFrame(f);
      waitSeek().then(() => setEdge(which));
    });
  }
  $("ed-goto").addEventListener("change", (e) => {
    const f = parseTimeToFrame(e.target.value);
    if (!Number.isNaN(f)) seekFrame(f); else toast("Write a time as hh:mm:ss.mmm or a frame number.");
  });
  $("ed-speed").addEventListener("change", (e) => { video.playbackRate = Number(e.target.value); });
  $("ed-view").addEventListener("change", (e) => setMode(e.target.value));
  $("ed-show-rejected").addEventListener("change", (e) => { S.showRejected = e.target.checked; layoutTimeline(); draw(); drawTimeline(); });
  $("ed-hear-source").addEventListener("change", (e) => { S.hearSource = e.target.checked; updateAudioMute(); });
  $("ed-accept-all").addEventListener("click", () => reviewAll("accepted"));
  $("ed-merge").addEventListener("click", mergePeople);
  $("ed-split").addEventListener("click", splitPerson);
  $("ed-reject-all").addEventListener("click", () => reviewAll("rejected"));
  $("ed-delete").addEventListener("click", () => deleteSelected());
  $("ed-help-close").addEventListener("click", () => $("ed-help").close());
  $("ed-conflict-close").addEventListener("click", () => { $("ed-conflict").hidden = true; });
  $("ed-track-cancel").addEventListener("click", cancelTrack);
}

function waitSeek() {
  return new Promise((resolve) => {
    const check = () => (S.seek.inFlight ? setTimeout(check, 20) : resolve());
    check();
  });
}

function clampInt(v, lo, hi) { return Math.max(lo, Math.min(hi, Math.round(Number(v) || lo))); }

// ---- conflicts --------------------------------------------------------------

const KINDS = [["region", "regions"], ["audio", "audio"], ["frame", "full_frame_blur"]];

// canon is JSON with sorted keys: the server writes fields in its own
// order, so plain JSON.stringify would see differences that are not.
function canon(x) {
  if (Array.isArray(x)) return "[" + x.map(canon).join(",") + "]";
  if (x && typeof x === "object") return "{" + Object.keys(x).sort().map((k) => JSON.stringify(k) + ":" + canon(x[k])).join(",") + "}";
  return JSON.stringify(x);
}

// changes lists, by id, the items that differ between two specs.
function changes(a, b) {
  const out = new Map();
  for (const [kind, key] of KINDS) {
    const am = new Map(((a && a[key]) || []).map((x) => [x.id, x]));
    const bm = new Map(((b && b[key]) || []).map((x) => [x.id, x]));
    for (const id of new Set([...am.keys(), ...bm.keys()])) {
      const x = am.get(id) || null, y = bm.get(id) || null;
      if (canon(x) !== canon(y)) out.set(id, { kind, key, before: x, after: y });
    }
  }
  return out;
}

function describe(c) {
  return !c.before ? "added" : !c.after ? "deleted" : "changed";
}

async function fetchLatest() {
  const res = await fetch(S.clipURL, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const clip = await res.json();
  if (!res.ok) throw new Error(clip && clip.error ? clip.error.message : "status " + res.status);
  return { version: clip.spec_version, spec: clip.spec && clip.spec.version ? clip.spec : { version: 1, clip: S.model.spec.clip } };
}

// showConflict offers Compare and Reapply after a 409; nothing is merged
// until the officer asks, and nothing of theirs is overwritten.
function showConflict() {
  const box = $("ed-conflict");
  box.hidden = false;
  box.classList.add("bad");
  $("ed-conflict-list").textContent = "";
  $("ed-reapply").disabled = !S.base;
  $("ed-compare").onclick = () => compare(false);
  $("ed-reapply").onclick = () => compare(true);
}

async function compare(reapply) {
  let latest;
  try { latest = await fetchLatest(); } catch (e) { banner("The newer version could not be loaded: " + e.message, "bad"); return; }
  const mine = changes(S.base, S.model.spec);
  const theirs = S.base ? changes(S.base, latest.spec) : changes(S.model.spec, latest.spec);
  const both = [...mine.keys()].filter((id) => theirs.has(id) && canon(mine.get(id).after) !== canon(theirs.get(id).after));
  const ul = $("ed-conflict-list");
  ul.textContent = "";
  const line = (text, cls) => { const li = document.createElement("li"); li.textContent = text; if (cls) li.className = cls; ul.appendChild(li); };
  for (const [id, c] of mine) if (!both.includes(id)) line(id + ": " + describe(c) + " by you");
  for (const [id, c] of theirs) if (!both.includes(id)) line(id + ": " + describe(c) + " in version " + latest.version);
  for (const id of both) line(id + ": changed by you and in version " + latest.version + (reapply ? " — version " + latest.version + "'s kept; redo your change by hand" : " (conflict)"), "bad");
  if (!mine.size && !theirs.size) line("No differences.");
  if (!reapply) return;
  // Reapply: version N's spec plus every item only I changed.
  const merged = clone(latest.spec);
  for (const [, key] of KINDS) if (!Array.isArray(merged[key])) merged[key] = [];
  let applied = 0;
  for (const [id, c] of mine) {
    if (both.includes(id)) continue;
    const list = merged[c.key];
    const i = list.findIndex((x) => x.id === id);
    if (c.after === null) { if (i >= 0) list.splice(i, 1); }
    else if (i >= 0) list[i] = clone(c.after);
    else list.push(clone(c.after));
    applied++;
  }
  S.base = clone(latest.spec);
  S.version = latest.version;
  S.model.spec = merged;
  S.model.undoStack = []; S.model.redoStack = [];
  S.model.changes = applied;
  S.errors.clear();
  if (S.sel && !S.model.find(S.sel.kind, S.sel.id)) S.sel = null;
  S.model.onChange("Reapply");
  $("ed-conflict").classList.toggle("bad", both.length > 0);
  banner("Your " + applied + (applied === 1 ? " change is" : " changes are") + " reapplied on version " + latest.version + (both.length ? "; " + both.length + " item(s) changed on both sides kept version " + latest.version + "'s content (listed below)" : "") + ". Check, then save.", both.length ? "bad" : "ok");
}

// addDetectedProposals puts the regions of the latest detection output
// (clip.proposals, a spec of origin-auto regions) that the spec does not
// hold yet into the working copy as unreviewed proposals, as one undoable
// command; saving records them. Proposals already in the spec, accepted or
// rejected, are left alone.
function addDetectedProposals(p) {
  if (!p || !Array.isArray(p.regions)) return;
  const have = new Set(S.model.spec.regions.map((r) => r.id));
  const fresh = p.regions.filter((r) => r && r.id && !have.has(r.id) && Array.isArray(r.keyframes) && r.keyframes.length);
  if (!fresh.length) return;
  S.model.batch("Add " + fresh.length + " detected proposals", () => {
    for (const r of fresh) {
      const x = clone(r);
      x.origin = "auto";
      delete x.review;
      S.model.add("region", x, "Add proposal " + x.id);
    }
  });
  toast(fresh.length + " new proposals from face detection are in your working copy; review them, then save.");
}

// ---- drafts ---------------------------------------------------------------

let draftTimer = 0;
function scheduleDraft() {
  if (S.readOnly) return;
  clearTimeout(draftTimer);
  draftTimer = setTimeout(() => {
    if (S.model.changes > 0) saveDraft(S.clipURL, { spec: clone(S.model.spec), base: S.base, baseVersion: S.version, savedAt: Date.now(), changes: S.model.changes });
  }, 1000);
}

// offerDraft shows "Restore draft" when a draft with changes exists. A
// restored draft keeps the version it was based on, so saving it over a
// newer version answers 409 instead of overwriting someone's work.
async function offerDraft(clip) {
  const d = await loadDraft(S.clipURL);
  if (!d || !d.changes || !d.spec) return;
  const box = $("ed-draft");
  const when = new Date(d.savedAt).toLocaleTimeString();
  $("ed-draft-text").textContent = "You have an unsaved draft from " + when + " (" + d.changes + " changes, based on version " + d.baseVersion + (d.baseVersion !== clip.spec_version ? "; version " + clip.spec_version + " has been saved since" : "") + ").";
  box.hidden = false;
  $("ed-draft-restore").onclick = () => {
    box.hidden = true;
    S.version = d.baseVersion;
    S.base = d.base ? clone(d.base) : null;
    S.model.spec = clone(d.spec);
    for (const k of ["regions", "audio", "full_frame_blur"]) if (!Array.isArray(S.model.spec[k])) S.model.spec[k] = [];
    S.model.undoStack = []; S.model.redoStack = [];
    S.model.changes = d.changes;
    S.sel = null;
    S.model.onChange("Restore draft");
    addDetectedProposals(S.clip.proposals);
    toast("Draft restored.");
  };
  $("ed-draft-discard").onclick = () => { box.hidden = true; dropDraft(S.clipURL); toast("Draft discarded."); };
}

// ---- start ----------------------------------------------------------------

function markReady() {
  S.ready = true;
  root.dataset.ready = "true";
  performance.mark("editor-ready");
}

function fail(text) {
  banner(text, "bad");
  root.dataset.failed = text;
}

async function start() {
  S.clipURL = root.dataset.clipUrl;
  // The server decides (data-can-edit); the spec route refuses anyway.
  S.readOnly = root.dataset.canEdit !== "true";
  buildHandles();
  buildHelp();
  wireInspector();
  const dup = conflicts();
  if (dup.length) console.error("shortcut bound twice:", dup);
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) {
    fail("This browser cannot report which video frame is on screen (requestVideoFrameCallback); use a current Chrome, Edge, Firefox or Safari.");
    return;
  }
  let clip;
  try {
    const res = await fetch(S.clipURL, { credentials: "same-origin", headers: { Accept: "application/json" } });
    clip = await res.json();
    if (!res.ok) throw new Error(clip && clip.error ? clip.error.message : "status " + res.status);
  } catch (e) {
    fail("The clip could not be loaded: " + e.message);
    return;
  }
  performance.mark("editor-clip-loaded");
  S.clip = clip;
  S.fpsNum = clip.fps.num; S.fpsDen = clip.fps.den || 1; S.fps = S.fpsNum / S.fpsDen;
  S.srcW = clip.width; S.srcH = clip.height;
  S.inF = Math.max(0, Math.ceil(clip.in * S.fps - 1e-6));
  S.outF = Math.min(clip.frame_count - 1, Math.floor((clip.out || clip.frame_count / S.fps) * S.fps + 1e-6));
  S.version = clip.spec_version;
  S.base = null; // the spec of S.version, for three-way merges after a conflict
  S.exemptions = clip.exemptions || [];
  root.dataset.version = String(S.version);
  const spec = clip.spec && clip.spec.version ? clone(clip.spec) : { version: 1, clip: { source: clip.item_id, in: clip.in, out: clip.out } };
  S.base = clone(spec);
  S.model = new Model(spec, () => { layoutTimeline(); renderPanels(); draw(); drawTimeline(); updatePreviewBadge(); scheduleDraft(); });
  if (S.readOnly) {
    // Every change goes through the model: refuse them all in one place.
    for (const m of ["edit", "add", "remove", "batch", "undo", "redo"]) S.model[m] = () => { toast("Read only: this clip's redactions cannot be changed here."); return null; };
  } else {
    offerDraft(clip);
    addDetectedProposals(clip.proposals);
  }
  exemptionOptions($("ed-batch-code"), "", true);
  $("ed-clip-range").textContent = fmtTime(clip.in) + "–" + fmtTime(clip.out);
  for (const st of root.querySelectorAll(".ed-stage")) st.style.aspectRatio = S.srcW + " / " + S.srcH;
  if (clip.sprite_url && clip.sprite && clip.sprite.tiles) {
    S.sprite = clip.sprite;
    S.spriteImg = new Image();
    S.spriteImg.onload = () => { drawTimeline(); renderPeople(); };
    S.spriteImg.src = clip.sprite_url;
  }
  if (clip.waveform_url) {
    fetch(clip.waveform_url, { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).then((w) => { S.waveform = w; drawTimeline(); }).catch(() => {});
  }
  if (clip.preview && clip.preview.url) $("ed-preview").src = clip.preview.url;
  updatePreviewBadge();
  video.addEventListener("seeked", onSeeked);
  video.addEventListener("play", () => { S.seek.target = null; S.seek.inFlight = false; syncPreview(); });
  video.addEventListener("pause", () => { syncPreview(); updateTransport(); });
  video.addEventListener("timeupdate", () => { if (!video.paused && frameOfTime(video.currentTime) >= S.outF) { video.pause(); } });
  video.addEventListener("error", () => fail("The video could not be played: " + (video.error ? video.error.message || "code " + video.error.code : "unknown error")));
  video.requestVideoFrameCallback(onFrame);
  // The page starts loading the proxy itself (the video's src attribute,
  // so its index arrives while the scripts and the clip load); set it
  // here only when the page did not, or named another file.
  if (video.getAttribute("src") !== clip.proxy_url) video.src = clip.proxy_url;
  else if (video.error) fail("The video could not be played: " + (video.error.message || "code " + video.error.code));
  stage.addEventListener("pointerdown", onPointerDown);
  stage.addEventListener("pointermove", onPointerMove);
  stage.addEventListener("pointerup", onPointerUp);
  stage.addEventListener("pointercancel", cancelDrag);
  tl.addEventListener("pointerdown", onTimelineDown);
  tl.addEventListener("pointermove", onTimelineMove);
  tl.addEventListener("pointerup", onTimelineUp);
  tl.addEventListener("wheel", onTimelineWheel, { passive: false });
  $("ed-zoom-in").addEventListener("click", () => zoom(0.5, now()));
  $("ed-zoom-out").addEventListener("click", () => zoom(2, now()));
  document.addEventListener("keydown", onKey);
  // Leaving the tab writes the draft at once rather than after the pause.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && S.model && S.model.changes > 0) {
      clearTimeout(draftTimer);
      saveDraft(S.clipURL, { spec: clone(S.model.spec), base: S.base, baseVersion: S.version, savedAt: Date.now(), changes: S.model.changes });
    }
  });
  window.addEventListener("beforeunload", (e) => { if (!S.readOnly && S.model && S.model.changes) { e.preventDefault(); e.returnValue = ""; } });
  new ResizeObserver(resize).observe(stage);
  setMode("edit");
  layoutTimeline();
  renderPanels();
  // With the early load these may have happened before this script ran.
  const onMeta = () => performance.mark("editor-video-metadata");
  const onData = () => {
    performance.mark("editor-video-data");
    resize();
    // Frame 0 may have been presented before rVFC was asked for: take it
    // from currentTime (it is the first frame) rather than wait for one.
    if (S.inF > 0) seekFrame(S.inF); else if (S.frame < 0) presented(video.currentTime, false);
  };
  if (video.readyState >= 1) onMeta(); else video.addEventListener("loadedmetadata", onMeta, { once: true });
  if (video.readyState >= 2) onData(); else video.addEventListener("loadeddata", onData, { once: true });
}

start();
