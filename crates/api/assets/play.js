// Live playback without libraries: fragmented MP4 over Media Source
// Extensions (lowest latency a browser offers without WebRTC), or HLS where
// the browser plays it natively. Used by /play/{app}/{stream} and by the
// console's preview. The player page also lists the stream's recordings
// and plays one on request.
"use strict";

/** Formats this browser can play from a stream's `playback` list, best first. */
function playableFormats(playback) {
  const video = document.createElement("video");
  return playback.filter((p) =>
    (p.format === "fmp4" && "MediaSource" in window) ||
    (p.format === "hls" && video.canPlayType("application/vnd.apple.mpegurl") !== ""));
}

/** Resolves when `target` fires `name` once. */
function once(target, name) {
  return new Promise((resolve) => target.addEventListener(name, resolve, { once: true }));
}

/**
 * Plays `playback` ({format, url}) into `video`. Returns a handle with
 * `stats()` ({format, latency, recvBps}), `ended` (a promise that resolves
 * when the stream stops) and `stop()`.
 */
function startPlayback(video, playback, fallbackMime) {
  const handle = { format: playback.format, bytes: [], stopped: false };
  const abort = new AbortController();
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;

  const liveEdge = () => {
    if (playback.format === "hls") {
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
    const edge = liveEdge();
    return {
      format: playback.format,
      latency: edge == null ? null : Math.max(0, edge - video.currentTime),
      recvBps: playback.format === "fmp4" ? (total * 8) / 5 : null,
    };
  };

  handle.stop = () => {
    handle.stopped = true;
    abort.abort();
    clearInterval(handle.chase);
    video.removeAttribute("src");
    video.load();
  };

  if (playback.format === "hls") {
    video.src = playback.url;
    video.play().catch(() => {});
    handle.ended = once(video, "ended");
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
  document.getElementById("title").textContent = key;
  document.title = `${key} · weir`;
  let player = null;
  let stream = null;
  // The recording being played instead of the live stream, if any.
  let recording = null;
  let via = new URLSearchParams(location.search).get("via");

  const show = (text) => { status.textContent = text; };

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
    formats.replaceChildren(...usable.map((p) => el("button", {
      class: p.format === via || (!via && p === usable[0]) ? "active" : null,
      onclick: () => { via = p.format; history.replaceState(null, "", `?via=${p.format}`); restart(); },
    }, p.format === "fmp4" ? "fMP4 (MSE)" : "HLS")));
    const links = document.getElementById("links");
    links.replaceChildren(...stream.playback.map((p) =>
      el("a", { href: p.url, class: "button" }, p.format.toUpperCase() + " URL")));
    const chosen = usable.find((p) => p.format === via) || usable[0];
    if (!chosen) {
      show("This browser plays neither live fMP4 (MSE) nor HLS; use a URL below in a player such as VLC or ffplay.");
      return;
    }
    show(`Playing ${key} via ${chosen.format === "fmp4" ? "fMP4 over MSE" : "native HLS"}`);
    player = startPlayback(video, chosen, mimeOf(stream));
    player.ended.then(
      () => { if (player && !player.stopped) { show("Stream ended; waiting for it to come back…"); restart(2000); } },
      (e) => { if (player && !player.stopped) { show(`Playback failed: ${e.message}; retrying…`); restart(3000); } });
  }

  function restart(delay) {
    if (player) player.stop();
    player = null;
    setTimeout(start, delay || 0);
  }

  attachChat(app, name, video);

  const backLive = document.getElementById("back-live");
  attachRecordings(app, name, (rec) => {
    if (player) player.stop();
    player = null;
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
