// Helpers shared by weir's pages. Plain browser JavaScript, no build step.
"use strict";

/** Fetches a JSON API path; throws an Error with the server's message. */
async function api(path, options) {
  const resp = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: text }; }
  if (!resp.ok) {
    const err = new Error((body && body.error) || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

/** Bits per second for people: "2.31 Mbit/s". */
function fmtBits(bps) {
  if (bps == null) return "–";
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
  let v = bps, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
}

/** Bytes for people: "12.4 MB". */
function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}

/** Seconds as "3h 02m", "4m 05s" or "12s". */
function fmtDuration(secs) {
  secs = Math.max(0, Math.floor(secs));
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (h) return h + "h " + two(m) + "m";
  if (m) return m + "m " + two(s) + "s";
  return s + "s";
}

/** "2026-12-03 10:00:00 UTC" from an RFC 3339 time the API wrote (UTC). */
function fmtStart(rfc3339) {
  return rfc3339.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC");
}

/** Creates an element: el("td", {class: "x"}, "text", child). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** "h264 640x360 30 fps" from a stream's video view. */
function describeVideo(v) {
  if (!v) return "–";
  const size = v.width && v.height ? ` ${v.width}x${v.height}` : "";
  const fps = v.fps ? ` ${Math.round(v.fps)} fps` : "";
  const profile = v.profile ? ` ${v.profile}` : "";
  return v.codec + profile + size + fps;
}

/** "aac 44.1 kHz 2ch" from a stream's audio view. */
function describeAudio(a) {
  if (!a) return "–";
  const rate = a.sample_rate ? ` ${(a.sample_rate / 1000).toFixed(1).replace(/\.0$/, "")} kHz` : "";
  const ch = a.channels ? ` ${a.channels}ch` : "";
  return a.codec + rate + ch;
}

/** "2 (rtmp 1, http-flv 1)" from a stream's viewers view. */
function describeViewers(v) {
  const parts = Object.entries(v.by_protocol).map(([p, n]) => `${p} ${n}`);
  return parts.length ? `${v.total} (${parts.join(", ")})` : "0";
}
