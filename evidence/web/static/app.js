// OpenDEMS web UI behaviour: the player's thumbnail timeline, markers,
// tags, category, cases and holds (through the review API with the
// session's CSRF token), and the transcode progress. No dependencies.
(function () {
  "use strict";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  // api sends JSON and resolves to {ok, status, data}; errors carry the
  // server's message so it can be shown to the user.
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf(), "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }

  function message(res) {
    if (res.data && res.data.error) return res.data.error.message;
    return "Request failed (" + res.status + ")";
  }

  function say(id, text, bad) {
    var el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    el.className = "small" + (bad ? " err-text" : "");
  }

  // submitThen wires a form to an API call and reloads on success, so the
  // page (and its custody timeline) shows the new state.
  function submitThen(formId, msgId, call) {
    var f = document.getElementById(formId);
    if (!f) return;
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var btn = f.querySelector("button[type=submit]");
      if (btn) btn.disabled = true;
      say(msgId, "Saving…");
      call(f).then(function (res) {
        if (res.ok) { say(msgId, "Saved."); window.location.reload(); return; }
        say(msgId, message(res), true);
        if (btn) btn.disabled = false;
      }, function () {
        say(msgId, "The server could not be reached.", true);
        if (btn) btn.disabled = false;
      });
    });
  }

  function fmt(t) {
    t = Math.max(0, Math.round(t));
    var h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = t % 60;
    var ss = (s < 10 ? "0" : "") + s;
    if (h > 0) return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss;
    return m + ":" + ss;
  }

  function reviewPage(root) {
    var id = root.getAttribute("data-id");
    var base = "/api/v1/evidence/" + id;
    var video = document.getElementById("player");
    var markerAt = document.getElementById("marker-at");
    var atDirty = false;

    function seek(t) {
      if (!video) return;
      video.currentTime = t;
      video.focus();
    }

    // The sprite: one button per tile, its frame cut out of the sprite
    // image with background-position (set through the CSSOM, which the
    // Content-Security-Policy allows, unlike style attributes).
    var tl = document.getElementById("timeline");
    var tiles = [];
    if (tl) {
      var info = {};
      try { info = JSON.parse(tl.getAttribute("data-sprite")) || {}; } catch (e) { info = {}; }
      var sp = info.sprite || {};
      var markers = [];
      try { markers = JSON.parse(tl.getAttribute("data-markers")) || []; } catch (e) { markers = []; }
      var url = tl.getAttribute("data-sprite-url");
      var list = sp.tiles || [];
      var w = sp.tile_width || 160, h = sp.tile_height || 90;
      var scale = 96 / w;
      list.forEach(function (tile, i) {
        var next = i + 1 < list.length ? list[i + 1].time : Infinity;
        var b = document.createElement("button");
        b.type = "button";
        b.className = "tile";
        b.setAttribute("aria-label", "Jump to " + fmt(tile.time));
        b.style.width = Math.round(w * scale) + "px";
        b.style.height = Math.round(h * scale) + "px";
        b.style.backgroundImage = "url(" + url + ")";
        b.style.backgroundSize = Math.round(sp.width * scale) + "px " + Math.round(sp.height * scale) + "px";
        b.style.backgroundPosition = (-tile.x * scale) + "px " + (-tile.y * scale) + "px";
        var label = document.createElement("span");
        // Short clips have tiles less than a second apart: show tenths.
        label.textContent = sp.tiles.length > 1 && list[list.length - 1].time < 60 ? tile.time.toFixed(1) + " s" : fmt(tile.time);
        b.appendChild(label);
        if (markers.some(function (m) { return m.at >= tile.time && m.at < next; })) {
          b.classList.add("has-marker");
          b.title = "Has a marker";
        }
        b.addEventListener("click", function () { seek(tile.time); });
        tl.appendChild(b);
        tiles.push({ el: b, t: tile.time, next: next });
      });
    }

    if (video) {
      var viewed = false;
      video.addEventListener("play", function () {
        // The proxy request already recorded the view; this makes it
        // explicit for players that serve from cache.
        if (!viewed) { viewed = true; api("POST", base + "/views"); }
      });
      video.addEventListener("timeupdate", function () {
        var t = video.currentTime;
        tiles.forEach(function (x) { x.el.classList.toggle("current", t >= x.t && t < x.next); });
        if (markerAt && !atDirty && document.activeElement !== markerAt) markerAt.value = t.toFixed(1);
      });
    }
    if (markerAt) markerAt.addEventListener("input", function () { atDirty = true; });

    document.querySelectorAll("button.seek").forEach(function (b) {
      b.addEventListener("click", function () { seek(parseFloat(b.getAttribute("data-t"))); });
    });

    submitThen("marker-form", "marker-msg", function (f) {
      return api("POST", base + "/markers", { at: parseFloat(f.elements.at.value), note: f.elements.note.value });
    });
    submitThen("category-form", "category-msg", function (f) {
      return api("PUT", base + "/category", { category: f.elements.category.value });
    });
    submitThen("tags-form", "tags-msg", function (f) {
      var tags = f.elements.tags.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      return api("PUT", base + "/tags", { tags: tags });
    });
    submitThen("case-form", "case-msg", function (f) {
      return api("POST", base + "/cases", { case_id: f.elements.case_id.value });
    });
    var flag = document.getElementById("flag-button");
    if (flag) flag.addEventListener("click", function () {
      var on = flag.getAttribute("data-flagged") !== "true";
      flag.disabled = true;
      api("PUT", base + "/flag", { flagged: on }).then(function (res) {
        if (res.ok) { window.location.reload(); return; }
        say("tags-msg", message(res), true);
        flag.disabled = false;
      });
    });
    document.querySelectorAll("button.remove-case").forEach(function (b) {
      b.addEventListener("click", function () {
        api("DELETE", base + "/cases/" + b.getAttribute("data-case")).then(function (res) {
          if (res.ok) { window.location.reload(); return; }
          say("case-msg", message(res), true);
        });
      });
    });

    // Transcode progress: poll until the proxy is ready (or failed), then
    // reload to show the player.
    var job = document.getElementById("job");
    if (job) {
      var poll = function () {
        api("GET", base + "/job").then(function (res) {
          if (!res.ok || !res.data) { setTimeout(poll, 5000); return; }
          var j = res.data;
          var pct = Math.round(j.progress || 0);
          var bar = document.getElementById("job-progress");
          if (bar) { bar.value = pct; bar.textContent = pct + "%"; }
          say("job-pct", pct + "%");
          var txt = j.status + (j.attempts ? " (attempt " + j.attempts + ")" : "") + (j.error ? " — " + j.error : "");
          var badge = document.getElementById("proxy-badge");
          if (badge) { badge.textContent = "proxy " + j.status; badge.className = "status s-" + j.status; }
          var jt = document.getElementById("job-text");
          if (jt) jt.textContent = txt;
          if (j.status === "ready" || j.status === "failed") { window.location.reload(); return; }
          setTimeout(poll, 2000);
        }, function () { setTimeout(poll, 5000); });
      };
      setTimeout(poll, 1000);
    }
  }

  function casePage(root) {
    var base = "/api/v1/cases/" + root.getAttribute("data-case");
    submitThen("hold-form", "hold-msg", function () {
      return api("POST", base + "/hold", { reason: document.getElementById("hold-reason").value });
    });
    var rel = document.getElementById("release-hold");
    if (rel) rel.addEventListener("click", function () {
      rel.disabled = true;
      api("DELETE", base + "/hold").then(function (res) {
        if (res.ok) { window.location.reload(); return; }
        say("hold-msg", message(res), true);
        rel.disabled = false;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var r = document.getElementById("review");
    if (r) reviewPage(r);
    var c = document.getElementById("case");
    if (c) casePage(c);
    // The redaction editor keeps drafts of specs in IndexedDB; they go
    // with the session.
    var lo = document.querySelector('form[action="/logout"]');
    if (lo && window.indexedDB) {
      lo.addEventListener("submit", function () {
        try { window.indexedDB.deleteDatabase("opendems-editor"); } catch (e) { /* nothing stored */ }
      });
    }
  });
})();
