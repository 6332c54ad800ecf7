// Live playback: fragmented MP4 over Media Source Extensions (our own
// player, no library), LL-HLS and HLS through hls.js (Chromium and Firefox
// play HLS only through a player library over MSE; weir serves hls.js
// itself, see HLS_JS_URL), or HLS where the browser plays it natively
// (Safari). Used by /play/{app}/{stream} and by the console's preview. The
// player page also lists the stream's recordings and plays one on request.
"use strict";

// hls.js, vendored in crates/api/assets/vendor/ and served by weir
// (pages.rs) under a name with its version, so that the page plays with no
// CDN: offline and on a closed LAN. Loaded only when hls.js plays.
const HLS_JS_URL = "/assets/hls-1.7.4.light.min.js";

/** The page's order of ways to play, best first. */
const WAYS = ["fmp4", "llhls", "hls", "native"];

/** MSE, which our fMP4 player and hls.js need (Safari on iOS: Managed). */
function hasMse() {
  return "MediaSource" in window || "ManagedMediaSource" in window;
}

/** Whether the video element plays HLS itself (Safari). */
function hasNativeHls() {
  return document.createElement("video").canPlayType("application/vnd.apple.mpegurl") !== "";
}

/**
 * The ways this browser can play a stream's `playback` list ({format,
 * url}), best first: each a playback with `via` (what `?via=` names),
 * `label` and `engine`: "mse" (our fMP4 player), "hlsjs" (hls.js;
 * `lowLatency` for LL-HLS) or "native" (the video element's own HLS). LL-HLS
 * and HLS go through hls.js where there is MSE and natively otherwise;
 * "native" offers the browser's own HLS next to hls.js where it has both.
 */
function playableFormats(playback) {
  const mse = hasMse(), native = hasNativeHls();
  const ways = [];
  for (const p of playback) {
    if (p.format === "fmp4" && "MediaSource" in window) {
      ways.push(Object.assign({}, p, { via: "fmp4", label: "fMP4 (MSE)", engine: "mse" }));
    }
    if ((p.format === "llhls" || p.format === "hls") && (mse || native)) {
      const lowLatency = p.format === "llhls";
      ways.push(Object.assign({}, p, {
        via: p.format,
        label: lowLatency ? "LL-HLS" : "HLS",
        engine: mse ? "hlsjs" : "native",
        lowLatency,
      }));
    }
    if (p.format === "hls" && mse && native) {
      ways.push(Object.assign({}, p, { via: "native", label: "Native HLS", engine: "native" }));
    }
  }
  return ways.sort((a, b) => WAYS.indexOf(a.via) - WAYS.indexOf(b.via));
}

/** Resolves when `target` fires `name` once. */
function once(target, name) {
  return new Promise((resolve) => target.addEventListener(name, resolve, { once: true }));
}

let hlsJsLoading = null;

/** Loads hls.js once, from this origin (the pages' CSP allows no other). */
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsJsLoading) {
    hlsJsLoading = new Promise((resolve, reject) => {
      document.head.append(el("script", {
        src: HLS_JS_URL,
        onload: () => resolve(window.Hls),
        onerror: () => { hlsJsLoading = null; reject(new Error(`cannot load ${HLS_JS_URL}`)); },
      }));
    });
  }
  return hlsJsLoading;
}

/** "720p · 2.31 Mbit/s" for an hls.js level. */
function describeLevel(level) {
  const size = level.height ? `${level.height}p` : level.name || "?";
  const bps = level.averageBitrate || level.bitrate;
  return bps ? `${size} · ${fmtBits(bps)}` : size;
}

/**
 * Plays `playback` (a way from playableFormats) into `video`. Returns a
 * handle with `stats()` ({format, latency, recvBps}), `ended` (a promise
 * that resolves when the stream stops) and `stop()`; with hls.js also
 * `levels()`, `level()` and `pin(index)` (-1: automatic), and `events`
 * ({onLevels, onLevel}) is told when the levels are known and when one
 * plays.
 */
function startPlayback(video, playback, fallbackMime, events) {
  const handle = { format: playback.format, bytes: [], stopped: false, hls: null };
  const abort = new AbortController();
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;

  const liveEdge = () => {
    if (playback.engine === "native") {
      const s = video.seekable;
      return s.length ? s.end(s.length - 1) : null;
    }
    const b = video.buffered;
    return b.length ? b.end(b.length - 1) : null;
  };

  handle.stats = () => {
    const now = performance.now();
    handle.bytes = handle.bytes.filter(([t]) => now - t < 5000);
    const total = handle.bytes.reduce((sum, [, n]) => sum + n, 0);
    // hls.js knows the live edge from the playlist (its age and the
    // segments' times), not just what it buffered: its own measure.
    const edge = liveEdge();
    const latency = handle.hls
      ? (handle.hls.latency > 0 && video.currentTime > 0 ? handle.hls.latency : null)
      : edge == null ? null : Math.max(0, edge - video.currentTime);
    return {
      format: playback.format,
      latency,
      recvBps: playback.engine === "native" ? null : (total * 8) / 5,
    };
  };

  handle.stop = () => {
    handle.stopped = true;
    abort.abort();
    clearInterval(handle.chase);
    if (handle.hls) handle.hls.destroy();
    handle.hls = null;
    video.removeAttribute("src");
    video.load();
  };

  if (playback.engine === "native") {
    video.src = playback.url;
    video.play().catch(() => {});
    handle.ended = once(video, "ended");
    return handle;
  }
  if (playback.engine === "hlsjs") {
    handle.ended = playHlsJs(video, playback, handle, events || {});
    return handle;
  }

  handle.ended = (async () => {
    const resp = await fetch(playback.url, { signal: abort.signal });
    if (!resp.ok) throw new Error(`${playback.url}: HTTP ${resp.status}`);
    const mime = resp.headers.get("x-codecs") || fallbackMime;
    if (!mime || !MediaSource.isTypeSupported(mime)) throw new Error(`this browser cannot play ${mime}`);
    const ms = new MediaSource();
    video.src = URL.createObjectURL(ms);
    await once(ms, "sourceopen");
    const sb = ms.addSourceBuffer(mime);
    const queue = [];
    const pump = () => {
      if (sb.updating || handle.stopped) return;
      const b = video.buffered;
      // Keep about 20 s behind the playhead: memory stays flat for hours.
      if (b.length && video.currentTime - b.start(0) > 30) {
        sb.remove(b.start(0), video.currentTime - 20);
        return;
      }
      if (!queue.length) return;
      const size = queue.reduce((n, c) => n + c.length, 0);
      const data = new Uint8Array(size);
      let at = 0;
      for (const c of queue.splice(0)) { data.set(c, at); at += c.length; }
      try { sb.appendBuffer(data); } catch (e) { console.warn("appendBuffer", e); }
    };
    sb.addEventListener("updateend", pump);
    // Stay near the live edge. A new viewer receives the GOP since the last
    // keyframe at once, so it starts up to a GOP behind: jump ahead when
    // more than 1.5 s behind (also after a stall or a hidden tab), and
    // play slightly faster to close smaller gaps without a visible skip.
    handle.chase = setInterval(() => {
      const b = video.buffered;
      if (!b.length) return;
      const start = b.start(0), end = b.end(b.length - 1);
      const behind = end - video.currentTime;
      if (video.currentTime < start || behind > 1.5) video.currentTime = Math.max(start, end - 0.4);
      video.playbackRate = behind > 0.8 ? 1.1 : 1.0;
      if (video.paused) video.play().catch(() => {});
    }, 250);
    const reader = resp.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      handle.bytes.push([performance.now(), value.length]);
      queue.push(value);
      pump();
    }
    clearInterval(handle.chase);
  })();
  return handle;
}

/**
 * hls.js plays `playback` into `video` for `handle`: LL-HLS with
 * `lowLatencyMode` (parts and blocking playlist reloads: about 1 s behind
 * live), classic HLS without. On a multivariant playlist hls.js picks the
 * rendition by the bandwidth it measures (ABR) unless one is pinned.
 * Resolves when the stream ended (the playlist's ENDLIST played out);
 * rejects on a fatal error.
 */
async function playHlsJs(video, playback, handle, events) {
  const Hls = await loadHlsJs();
  if (handle.stopped) return;
  if (!Hls.isSupported()) throw new Error("this browser has no MSE for hls.js");
  const hls = new Hls({
    lowLatencyMode: !!playback.lowLatency,
    // Keep 30 s behind the playhead, like the fMP4 player: memory stays
    // flat for hours.
    backBufferLength: 30,
  });
  handle.hls = hls;
  // For the browser test and for debugging from the console.
  window.weirHls = hls;
  handle.levels = () => hls.levels.map((l, index) => ({ index, height: l.height, label: describeLevel(l) }));
  // hls.js's currentLevel is the level of what plays now.
  handle.level = () => {
    const l = hls.levels[hls.currentLevel];
    return l ? { index: hls.currentLevel, label: describeLevel(l), height: l.height, auto: hls.autoLevelEnabled } : null;
  };
  // Setting currentLevel switches at once (the buffer is flushed); -1
  // hands the choice back to ABR.
  handle.pin = (index) => { hls.currentLevel = index; };
  hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
    if (data.payload) handle.bytes.push([performance.now(), data.payload.byteLength]);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    if (events.onLevels) events.onLevels(handle.levels());
    video.play().catch(() => {});
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, () => {
    if (events.onLevel) events.onLevel(handle.level());
  });
  let recovered = false;
  const ended = new Promise((resolve, reject) => {
    video.addEventListener("ended", resolve, { once: true });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      // A decoding hiccup: hls.js can rebuild its MSE side once.
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true;
        hls.recoverMediaError();
        return;
      }
      reject(new Error(`hls.js: ${data.details}`));
    });
  });
  hls.loadSource(playback.url);
  hls.attachMedia(video);
  return ended;
}

/** How many variants the multivariant playlist at `url` lists now (0: none). */
async function variantCount(url) {
  try {
    const resp = await fetch(url, { credentials: "same-origin" });
    if (!resp.ok) return 0;
    return (await resp.text()).split("\n").filter((l) => l.startsWith("#EXT-X-STREAM-INF:")).length;
  } catch (_) {
    return 0;
  }
}

/** The MIME type with codecs for a stream view, if the server sent no header. */
function mimeOf(stream) {
  const codecs = [stream.video && stream.video.codec_string, stream.audio && stream.audio.codec_string]
    .filter(Boolean);
  return codecs.length ? `video/mp4; codecs="${codecs.join(",")}"` : null;
}

/**
 * The chat panel beside the video: weir's chat client (/chat.js) lists the
 * room's messages, flies them over the video as danmaku and shows the
 * connection state; the button turns the danmaku on and off. Without the
 * client (chat not served) the panel is hidden.
 */
function attachChat(app, stream, video) {
  const panel = document.getElementById("chat-panel");
  if (!window.WeirChat) {
    panel.classList.add("hidden");
    return null;
  }
  const chat = WeirChat.attach({
    app,
    stream,
    video,
    list: document.getElementById("chat"),
    input: document.getElementById("say"),
    status: document.getElementById("chat-state"),
  });
  const toggle = document.getElementById("danmaku");
  toggle.addEventListener("click", () => {
    const on = chat.toggleDanmaku();
    toggle.classList.toggle("active", on);
    toggle.setAttribute("aria-pressed", String(on));
  });
  // For the browser test and for debugging from the console.
  window.weirChat = chat;
  return chat;
}

/**
 * The stream's recordings under the player, each a button that plays it.
 * The listing (`/api/v1/recordings`) is an operator route: this page is on
 * the server's own origin and reads it like any other page of it, and
 * when it is not there (no recorder: 404) or refused, the section stays
 * hidden. A recording plays from its `url` (the file under /vod/, with
 * ranges, so the video element seeks in it), with the access parameters
 * of this page's own URL (`?key=...`): a keyed stream's recordings need
 * its key, like the stream.
 */
function attachRecordings(app, stream, onPick) {
  const section = document.getElementById("recordings-section");
  const list = document.getElementById("recordings");
  const access = new URLSearchParams(location.search);
  access.delete("via");
  const suffix = access.toString() ? "?" + access.toString() : "";
  let shown = "";
  const load = async () => {
    let recs;
    try {
      const q = new URLSearchParams({ app, stream });
      recs = (await api(`/api/v1/recordings?${q}`)).recordings || [];
    } catch (_) {
      section.classList.add("hidden");
      return;
    }
    // Redrawn only when something changed, so a button is never replaced
    // under the pointer.
    const key = JSON.stringify(recs.map((r) => [r.id, r.duration_secs, r.recording]));
    section.classList.toggle("hidden", recs.length === 0);
    if (key === shown) return;
    shown = key;
    // Newest first: what a viewer most likely came back for.
    list.replaceChildren(...recs.slice().reverse().map((r) => el("button", {
      type: "button",
      "data-id": r.id,
      title: r.id,
      onclick: () => onPick(Object.assign({}, r, { url: r.url + suffix })),
    }, `${fmtStart(r.start)} · ${fmtDuration(r.duration_secs)}${r.recording ? " · recording" : ""}`)));
  };
  load();
  setInterval(load, 10000);
}

/** The /play/{app}/{stream} page. */
async function playPage() {
  const m = location.pathname.match(/^\/play\/([^/]+)\/([^/]+)\/?$/);
  if (!m) return;
  const [app, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
  const key = `${app}/${name}`;
  const video = document.getElementById("video");
  const status = document.getElementById("status");
  const formats = document.getElementById("formats");
  const levelBox = document.getElementById("level-box");
  const levelPick = document.getElementById("level");
  const rendition = document.getElementById("rendition");
  document.getElementById("title").textContent = key;
  document.title = `${key} · weir`;
  let player = null;
  let stream = null;
  // The recording being played instead of the live stream, if any.
  let recording = null;
  let via = new URLSearchParams(location.search).get("via");
  // The access parameters of this page's URL (`?key=...`) go with the
  // media URLs: a keyed stream plays with its key.
  const access = new URLSearchParams(location.search);
  access.delete("via");
  const suffix = access.toString() ? "?" + access.toString() : "";
  const streamPath = `/${encodeURIComponent(app)}/${encodeURIComponent(name)}`;

  const show = (text) => { status.textContent = text; };

  // The stream's multivariant playlist for an HLS way: LL-HLS variants
  // for LL-HLS, TS ones for classic HLS.
  const masterOf = (way) =>
    `${streamPath}/${way.format === "llhls" ? "llhls-master.m3u8" : "master.m3u8"}${suffix}`;

  // Whether the API lists a transcoding ladder for this stream (an
  // operator route like the recordings; refused or absent: no ladder).
  async function hasLadder() {
    try {
      const list = (await api("/api/v1/transcodes")).transcodes || [];
      return list.some((l) => l.stream === key && (l.renditions || []).length > 0);
    } catch (_) {
      return false;
    }
  }

  // hls.js's levels: a picker (automatic, or one pinned) when there are
  // several; what plays is shown in the Rendition card.
  function showLevels(levels) {
    levelBox.classList.toggle("hidden", levels.length < 2);
    const byHeight = levels.slice().sort((a, b) => (b.height || 0) - (a.height || 0));
    levelPick.replaceChildren(
      el("option", { value: "-1" }, "Auto"),
      ...byHeight.map((l) => el("option", { value: String(l.index), "data-height": l.height || null }, l.label)));
    levelPick.value = "-1";
  }
  function showRendition() {
    const level = player && player.level && player.levels().length > 1 ? player.level() : null;
    rendition.textContent = level ? `${level.label}${level.auto ? " (auto)" : ""}` : "–";
  }
  levelPick.addEventListener("change", () => {
    if (player && player.pin) player.pin(Number(levelPick.value));
    showRendition();
  });

  function describe(way) {
    if (way.engine === "mse") return "fMP4 over MSE";
    if (way.engine === "native") return `${way.label === "Native HLS" ? "HLS" : way.label}, the browser's own player`;
    return `${way.label} (hls.js)`;
  }

  async function start() {
    if (recording) return;
    try {
      stream = await api(`/api/v1/streams/${encodeURIComponent(app)}/${encodeURIComponent(name)}`);
    } catch (e) {
      stream = null;
    }
    if (recording) return;
    if (!stream || !stream.live) {
      show("Waiting for the stream to go live…");
      setTimeout(start, 2000);
      return;
    }
    const usable = playableFormats(stream.playback);
    // Without a choice in the URL: with a transcoding ladder LL-HLS, where
    // hls.js picks the rendition for the viewer's bandwidth about 1 s
    // behind live; otherwise fMP4 over MSE, the lowest latency.
    const ladder = !via && (await hasLadder());
    const chosen = usable.find((w) => w.via === via) ||
      (ladder && usable.find((w) => w.via === "llhls")) || usable[0];
    formats.replaceChildren(...usable.map((w) => el("button", {
      type: "button",
      "data-via": w.via,
      class: w === chosen ? "active" : null,
      onclick: () => { via = w.via; access.set("via", w.via); history.replaceState(null, "", `?${access}`); access.delete("via"); restart(); },
    }, w.label)));
    const links = document.getElementById("links");
    links.replaceChildren(...stream.playback.map((p) =>
      el("a", { href: p.url + suffix, class: "button" }, (p.format === "llhls" ? "LL-HLS" : p.format.toUpperCase()) + " URL")));
    if (!chosen) {
      show("This browser plays neither live fMP4 (MSE) nor HLS; use a URL below in a player such as VLC or ffplay.");
      return;
    }
    let url = chosen.url + suffix;
    const hlsWay = chosen.format === "hls" || chosen.format === "llhls";
    // With renditions live, the multivariant playlist: hls.js (or Safari)
    // switches between them by bandwidth.
    const master = hlsWay ? masterOf(chosen) : null;
    const abr = master != null && (await variantCount(master)) > 1;
    if (abr) url = master;
    if (recording || player) return;
    show(`Playing ${key} via ${describe(chosen)}${abr ? ", renditions chosen by bandwidth" : ""}`);
    player = startPlayback(video, Object.assign({}, chosen, { url }), mimeOf(stream), {
      onLevels: showLevels,
      onLevel: showRendition,
    });
    const current = player;
    // Renditions can come after the start (a ladder's ffmpeg starts with
    // its source): move to the multivariant playlist once they are live.
    if (hlsWay && !abr) {
      current.watch = setInterval(async () => {
        if (player === current && (await variantCount(master)) > 1 && player === current) restart();
      }, 10000);
    }
    // Only the player that plays now restarts: an older one's video
    // listeners can still fire.
    const live = () => player === current && !current.stopped;
    current.ended.then(
      () => { if (live()) { show("Stream ended; waiting for it to come back…"); restart(2000); } },
      (e) => { if (live()) { show(`Playback failed: ${e.message}; retrying…`); restart(3000); } });
  }

  function stopPlayer() {
    if (player) {
      clearInterval(player.watch);
      player.stop();
    }
    player = null;
    levelBox.classList.add("hidden");
    rendition.textContent = "–";
  }

  function restart(delay) {
    stopPlayer();
    setTimeout(start, delay || 0);
  }

  attachChat(app, name, video);

  const backLive = document.getElementById("back-live");
  attachRecordings(app, name, (rec) => {
    stopPlayer();
    recording = rec;
    video.src = rec.url;
    video.play().catch(() => {});
    for (const b of document.querySelectorAll("#recordings button")) {
      b.classList.toggle("active", b.dataset.id === rec.id);
    }
    backLive.classList.remove("hidden");
    show(`Playing the recording of ${fmtStart(rec.start)} (${fmtDuration(rec.duration_secs)})`);
  });
  backLive.addEventListener("click", () => {
    recording = null;
    video.removeAttribute("src");
    video.load();
    backLive.classList.add("hidden");
    for (const b of document.querySelectorAll("#recordings button")) b.classList.remove("active");
    start();
  });

  setInterval(async () => {
    if (player) {
      const s = player.stats();
      document.getElementById("latency").textContent = s.latency == null ? "–" : s.latency.toFixed(2) + " s";
      document.getElementById("recv").textContent = fmtBits(s.recvBps);
      document.getElementById("size").textContent = video.videoWidth ? `${video.videoWidth}x${video.videoHeight}` : "–";
      document.getElementById("time").textContent = video.currentTime.toFixed(1) + " s";
      showRendition();
    } else if (recording) {
      document.getElementById("latency").textContent = "–";
      document.getElementById("recv").textContent = "–";
      document.getElementById("size").textContent = video.videoWidth ? `${video.videoWidth}x${video.videoHeight}` : "–";
      document.getElementById("time").textContent = video.currentTime.toFixed(1) + " s";
    }
  }, 500);
  setInterval(async () => {
    try {
      const s = await api(`/api/v1/streams/${encodeURIComponent(app)}/${encodeURIComponent(name)}`);
      document.getElementById("bitrate").textContent = fmtBits(s.bitrate_in_bps);
      document.getElementById("viewers").textContent = describeViewers(s.viewers);
    } catch (_) { /* the status line already says it is not live */ }
  }, 3000);
  start();
}

if (document.body.dataset.page === "play") playPage();
