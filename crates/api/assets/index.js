// "/": the live streams, refreshed every few seconds.
"use strict";

async function refreshIndex() {
  const box = document.getElementById("streams");
  let streams = [];
  try {
    streams = (await api("/api/v1/streams")).streams.filter((s) => s.live);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, "cannot load streams: " + e.message));
    return;
  }
  document.getElementById("empty").classList.toggle("hidden", streams.length > 0);
  box.replaceChildren(...streams.map((s) => {
    const href = `/play/${encodeURIComponent(s.app)}/${encodeURIComponent(s.stream)}`;
    return el("div", { class: "card stream-card" },
      el("a", { class: "title", href }, s.key),
      el("div", { class: "muted" }, describeVideo(s.video), " · ", describeAudio(s.audio)),
      el("div", {}, el("span", { class: "live" }, "● live"), " ",
        `${s.viewers.total} watching · ${fmtBits(s.bitrate_in_bps)}`),
      el("div", {}, el("a", { class: "button", href }, "Watch")));
  }));
}

document.getElementById("host").textContent = location.hostname;
refreshIndex();
setInterval(refreshIndex, 5000);
