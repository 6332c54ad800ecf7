// The operators' console: summary, streams with bit-rate charts, clients,
// kick and drop buttons, preview, recordings (play, delete). Refreshes
// itself every 2 s.
"use strict";

const PER_PAGE = 50;
const HISTORY_SECS = 600;
const state = {
  canMutate: false,
  page: 1,
  selected: null,        // stream key whose chart is large
  history: new Map(),    // key -> [[unixSecs, bps], ...]
  seeded: new Set(),     // keys whose server-side history was loaded
  preview: null,         // {key, player}
};

const $ = (id) => document.getElementById(id);

async function boot() {
  const s = await api("/console/session");
  $("version").textContent = "v" + s.version;
  if (s.login_enabled && !s.logged_in) {
    $("login").classList.remove("hidden");
    $("dashboard").classList.add("hidden");
    $("user").focus();
    return;
  }
  $("login").classList.add("hidden");
  $("dashboard").classList.remove("hidden");
  state.canMutate = s.logged_in;
  $("no-password").classList.toggle("hidden", s.login_enabled);
  $("logout").classList.toggle("hidden", !s.logged_in);
  $("who").textContent = s.logged_in ? s.user : "";
  refresh();
  setInterval(refresh, 2000);
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("/console/login", {
      method: "POST",
      body: new URLSearchParams({ user: $("user").value, password: $("password").value }),
    });
    location.reload();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

$("logout").addEventListener("click", async () => {
  await api("/console/logout", { method: "POST" });
  location.reload();
});
$("prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); refresh(); });
$("next").addEventListener("click", () => { state.page += 1; refresh(); });

async function act(what, path) {
  if (!confirm(what + "?")) return;
  $("action-error").textContent = "";
  try {
    await api(path, { method: "DELETE" });
  } catch (e) {
    $("action-error").textContent = `${what}: ${e.message}`;
  }
  refresh();
}

function stat(label, value) {
  return el("div", { class: "card stat" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
}

function renderSummary(s) {
  const conns = Object.entries(s.connections).map(([p, n]) => `${p} ${n}`).join(", ");
  $("summary").replaceChildren(
    stat("Uptime", fmtDuration(s.uptime_secs)),
    stat("Live streams", s.streams_live),
    stat("Connections", s.connections_total),
    stat("In", fmtBits(s.bandwidth_in_bps)),
    stat("Out", fmtBits(s.bandwidth_out_bps)),
    stat("CPU", s.cpu_percent.toFixed(1) + " %"),
    stat("Memory", fmtBytes(s.rss_bytes)),
  );
  $("summary").title = conns;
}

async function seedHistory(key) {
  state.seeded.add(key);
  try {
    const s = await api("/api/v1/streams/" + key);
    const mine = state.history.get(key) || [];
    const first = mine.length ? mine[0][0] : Infinity;
    state.history.set(key, s.bitrate_history.filter(([t]) => t < first).concat(mine));
  } catch (_) { /* gone meanwhile */ }
}

function renderStreams(streams) {
  const now = Date.now() / 1000;
  const live = new Set();
  for (const s of streams.filter((s) => s.live)) {
    live.add(s.key);
    const h = state.history.get(s.key) || [];
    h.push([now, s.bitrate_in_bps]);
    while (h.length && h[0][0] < now - HISTORY_SECS) h.shift();
    state.history.set(s.key, h);
    if (!state.seeded.has(s.key)) seedHistory(s.key);
  }
  for (const key of [...state.history.keys()]) {
    if (!live.has(key)) { state.history.delete(key); state.seeded.delete(key); }
  }
  if (!state.selected || !live.has(state.selected)) state.selected = live.values().next().value || null;

  const rows = streams.map((s) => {
    const spark = el("canvas", { class: "spark" });
    const pub = s.publisher ? `${s.publisher.protocol || "?"} ${s.publisher.address || ""}` : "waiting";
    const actions = el("td", { class: "actions" },
      s.live ? el("button", { onclick: () => preview(s) }, "Preview") : null, " ",
      s.live ? el("a", { class: "button", href: `/play/${s.key}` }, "Open") : null, " ",
      s.live && state.canMutate
        ? el("button", { class: "danger", onclick: () => act(`Drop publisher of ${s.key}`, `/api/v1/streams/${s.key}`) }, "Kick")
        : null);
    const row = el("tr", { "data-key": s.key },
      el("td", {}, s.live ? el("span", { class: "live" }, "● ") : "○ ",
        el("a", { href: "#", onclick: (e) => { e.preventDefault(); state.selected = s.key; drawSelected(); } }, s.key)),
      el("td", {}, pub),
      el("td", {}, describeVideo(s.video)),
      el("td", {}, describeAudio(s.audio)),
      el("td", {}, fmtBits(s.bitrate_in_bps)),
      el("td", {}, spark),
      el("td", { class: "viewers" }, describeViewers(s.viewers)),
      el("td", {}, s.dropped_frames),
      actions);
    return { row, spark, key: s.key };
  });
  $("streams").replaceChildren(...(rows.length ? rows.map((r) => r.row)
    : [el("tr", {}, el("td", { class: "empty", colspan: 9 }, "No streams. Publish one with RTMP."))]));
  for (const r of rows) drawChart(r.spark, state.history.get(r.key) || []);
  drawSelected();
  if (state.preview && !live.has(state.preview.key)) stopPreview("The previewed stream ended.");
}

function drawSelected() {
  $("chart-title").textContent = state.selected || "";
  drawChart($("chart"), state.history.get(state.selected) || [], { axes: true });
}

function renderClients(page) {
  const rows = page.clients.map((c) => el("tr", {},
    el("td", {}, c.id),
    el("td", {}, c.address),
    el("td", {}, el("span", { class: "pill" }, c.transport ? `${c.protocol}/${c.transport}` : c.protocol)),
    el("td", {}, c.role || "–"),
    el("td", {}, c.app ? `${c.app}/${c.stream}` : "–"),
    el("td", {}, fmtDuration(c.connected_secs)),
    el("td", {}, fmtBits(c.in_bps)),
    el("td", {}, fmtBits(c.out_bps)),
    el("td", {}, c.dropped_frames),
    el("td", {}, c.packets
      ? `${c.packets.total} · ${c.packets.lost} lost · ${c.packets.jitter_ms} ms jitter`
      : "–"),
    el("td", {}, state.canMutate
      ? el("button", { class: "danger", onclick: () => act(`Kick client ${c.id}`, `/api/v1/clients/${c.id}`) }, "Kick")
      : null)));
  $("clients").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { class: "empty", colspan: 11 }, "No clients connected."))]));
  $("page").textContent = `page ${page.page} of ${Math.max(1, page.pages)} · ${page.total} clients`;
  $("prev").disabled = page.page <= 1;
  $("next").disabled = page.page >= page.pages;
}

// Camera pulls: shown only when the server runs any (the list answers 404
// on a server without pulls).
function renderPulls(pulls) {
  $("pulls-section").hidden = !pulls || !pulls.length;
  if (!pulls) return;
  $("pulls").replaceChildren(...pulls.map((p) => el("tr", {},
    el("td", {}, `${p.app}/${p.stream}`),
    el("td", {}, p.url),
    el("td", {}, p.transport),
    el("td", {}, p.on_demand ? `on demand (${p.close_after_secs} s)` : "always on"),
    el("td", {}, el("span", { class: "pill" }, p.state)),
    el("td", {}, fmtBits(p.bitrate_kbps * 1000)),
    el("td", {}, p.retries),
    el("td", {}, p.last_error || "–"),
    el("td", {}, state.canMutate && p.from_api
      ? el("button", { class: "danger", onclick: () => act(`Remove pull ${p.app}/${p.stream}`, `/api/v1/pulls/${p.app}/${p.stream}`) }, "Remove")
      : null))));
}

// Pushes (restreams): shown only when the server runs any (the list
// answers 404 on a server without pushes). Only those added through the
// API can be removed here; `[[push]]` ones belong to the configuration.
function renderPushes(pushes) {
  $("pushes-section").hidden = !pushes || !pushes.length;
  if (!pushes) return;
  $("pushes").replaceChildren(...pushes.map((p) => el("tr", {},
    el("td", {}, p.id),
    el("td", {}, `${p.app}/${p.stream}`),
    el("td", {}, p.url),
    el("td", {}, el("span", { class: "pill" }, p.state)),
    el("td", {}, fmtBits(p.bitrate_kbps * 1000)),
    el("td", { class: "size" }, fmtBytes(p.bytes)),
    el("td", {}, p.reconnects),
    el("td", {}, p.last_error || "–"),
    el("td", {}, state.canMutate && p.from_api
      ? el("button", { class: "danger", onclick: () => act(`Remove push ${p.id}`, `/api/v1/pushes/${p.id}`) }, "Remove")
      : null))));
}

// The cluster: shown only when this node is one of several (a node
// alone answers `enabled: false`). Which node publishes what, the load
// each heartbeat carries, and the streams this node pulls as an edge.
function renderCluster(c) {
  $("cluster-section").hidden = !c || !c.enabled;
  if (!c || !c.enabled) return;
  $("cluster-state").textContent = c.connected ? `node ${c.node_id} · redis ok` : `node ${c.node_id} · redis unreachable`;
  $("cluster-state").className = c.connected ? "pill" : "pill danger";
  $("cluster-nodes").replaceChildren(...c.nodes.map((n) => el("tr", { "data-node": n.node },
    el("td", {}, n.self ? `${n.node} (this node)` : n.node),
    el("td", {}, n.rtmp),
    el("td", {}, n.http),
    el("td", {}, n.connections),
    el("td", {}, n.viewers),
    el("td", {}, n.chat_members),
    el("td", {}, fmtBits(n.egress_mbps * 1e6)),
    el("td", {}, `${Math.round(n.cpu * 100)} %`),
    el("td", {}, n.streams.join(", ") || "–"),
    el("td", {}, `${(n.beat_age_ms / 1000).toFixed(1)} s ago`))));
  $("cluster-pulls").textContent = c.pulls.length
    ? "Pulled here from their origin: " + c.pulls.map((p) => `${p.stream} ← ${p.url}`).join(", ")
    : "";
}

// Transcoding ladders and their ffmpeg: shown only when the server runs
// any (the list answers 404 without `[[transcode]]`).
function renderTranscodes(ladders) {
  $("transcodes-section").hidden = !ladders || !ladders.length;
  if (!ladders) return;
  $("transcodes").replaceChildren(...ladders.map((l) => el("tr", {},
    el("td", {}, l.stream),
    el("td", {}, l.renditions.join(", ")),
    el("td", {}, el("span", { class: "pill" }, l.on_demand ? `${l.state} (on demand)` : l.state)),
    el("td", {}, l.pid ?? "–"),
    el("td", {}, l.restarts),
    el("td", {}, l.last_error || "–"))));
}

// Recordings, newest first: shown only when the server has a recorder
// (the list answers 404 without one). Deleting goes through `act` like
// every other change: the session cookie from this origin.
const MAX_RECORDINGS = 200;
function renderRecordings(recs) {
  $("recordings-section").hidden = !recs;
  if (!recs) return;
  const newest = recs.slice().reverse().slice(0, MAX_RECORDINGS);
  $("recordings-count").textContent = recs.length > newest.length
    ? `newest ${newest.length} of ${recs.length}` : `${recs.length}`;
  const path = (id) => id.split("/").map(encodeURIComponent).join("/");
  $("recordings").replaceChildren(...(newest.length ? newest.map((r) => el("tr", { "data-id": r.id },
    el("td", {}, `${r.app}/${r.stream}`),
    el("td", { title: r.id }, fmtStart(r.start)),
    el("td", {}, fmtDuration(r.duration_secs)),
    el("td", { class: "size" }, fmtBytes(r.bytes)),
    el("td", {}, el("span", { class: "pill" },
      r.recording ? "recording" : r.complete ? r.format : `${r.format}, cut off`)),
    el("td", { class: "actions" },
      el("a", { class: "button", href: r.url, target: "_blank", rel: "noopener" }, "Play"), " ",
      state.canMutate && !r.recording
        ? el("button", { class: "danger", onclick: () => act(`Delete recording ${r.id}`, `/api/v1/recordings/${path(r.id)}`) }, "Delete")
        : null)))
    : [el("tr", {}, el("td", { class: "empty", colspan: 6 }, "No recordings."))]));
}

function preview(s) {
  stopPreview("");
  const usable = playableFormats(s.playback);
  $("preview-title").textContent = s.key;
  if (!usable.length) {
    $("preview-status").textContent = "No format this browser can preview (needs MSE or native HLS).";
    return;
  }
  const player = startPlayback($("preview"), usable[0], mimeOf(s));
  state.preview = { key: s.key, player };
  $("preview-status").textContent = `Previewing via ${usable[0].format}.`;
  player.ended.catch((e) => { $("preview-status").textContent = "Preview failed: " + e.message; });
}

function stopPreview(message) {
  if (state.preview) state.preview.player.stop();
  state.preview = null;
  if (message) $("preview-status").textContent = message;
}

async function refresh() {
  try {
    const [summary, streams, clients] = await Promise.all([
      api("/api/v1/summary"),
      api("/api/v1/streams"),
      api(`/api/v1/clients?page=${state.page}&per_page=${PER_PAGE}`),
    ]);
    if (clients.pages && state.page > clients.pages) { state.page = clients.pages; }
    renderSummary(summary);
    renderStreams(streams.streams);
    renderClients(clients);
    renderPulls(await api("/api/v1/pulls").then((r) => r.pulls, () => null));
    renderCluster(await api("/api/v1/cluster").catch(() => null));
    renderPushes(await api("/api/v1/pushes").then((r) => r.pushes, () => null));
    renderTranscodes(await api("/api/v1/transcodes").then((r) => r.transcodes, () => null));
    renderRecordings(await api("/api/v1/recordings").then((r) => r.recordings, () => null));
  } catch (e) {
    $("action-error").textContent = "refresh failed: " + e.message;
  }
}

boot().catch((e) => { document.body.append(el("p", { class: "error" }, "console failed: " + e.message)); });
