// Region box interpolation: the same function as redact.Region.BoxAt in
// Go, checked against the same vectors (redact/testdata/interp_vectors.json)
// by the Go test and by the browser test, so the editor draws a box exactly
// where the renderer will obscure it.

// boxAt returns the box ({x, y, width, height}, source pixels) of a
// region with the given keyframes (sorted by time) at time t, or null when
// nothing is obscured there: outside [first, last] keyframe, or in a span
// that starts at a hidden keyframe. A hold span keeps its first keyframe's
// box; a linear span interpolates each coordinate.
export function boxAt(keyframes, t) {
  const ks = keyframes;
  if (!ks || ks.length === 0 || t < ks[0].time || t > ks[ks.length - 1].time) return null;
  let lo = 0, hi = ks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ks[mid].time <= t) lo = mid; else hi = mid - 1;
  }
  const a = ks[lo];
  if (a.hidden) return null;
  if (lo === ks.length - 1 || a.time === t || a.interp === "hold") {
    return { x: a.x, y: a.y, width: a.width, height: a.height };
  }
  const b = ks[lo + 1];
  const f = (t - a.time) / (b.time - a.time);
  const lerp = (p, q) => p + (q - p) * f;
  return { x: lerp(a.x, b.x), y: lerp(a.y, b.y), width: lerp(a.width, b.width), height: lerp(a.height, b.height) };
}

// cover rounds a box outward to whole pixels, [x0, y0, x1, y1), as the
// renderer does: a mask never covers less than the editor showed.
export function cover(b) {
  return [Math.floor(b.x), Math.floor(b.y), Math.ceil(b.x + b.width), Math.ceil(b.y + b.height)];
}
