// A small line chart on <canvas>: bit rate over time. Written for weir.
"use strict";

/**
 * Draws `points` ([[unixSeconds, bitsPerSecond], ...], oldest first) into
 * `canvas`, scaled to the canvas's CSS size and the screen's pixel ratio.
 * `opts.axes` adds the peak value and time span as labels.
 */
function drawChart(canvas, points, opts) {
  opts = opts || {};
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pad = opts.axes ? { l: 4, r: 4, t: 18, b: 16 } : { l: 1, r: 1, t: 3, b: 1 };
  const iw = w - pad.l - pad.r, ih = h - pad.t - pad.b;
  const color = opts.color || "#1f6feb";

  ctx.strokeStyle = "#e3e6eb";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let i = 0; i <= 2; i++) {
    const y = Math.round(pad.t + (ih * i) / 2) + 0.5;
    ctx.moveTo(pad.l, y);
    ctx.lineTo(pad.l + iw, y);
  }
  ctx.stroke();

  if (points.length < 2) {
    if (opts.axes) {
      ctx.fillStyle = "#667085";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("collecting samples…", pad.l + 4, pad.t + ih / 2);
    }
    return;
  }
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const span = Math.max(1, t1 - t0);
  const peak = Math.max(1, ...points.map((p) => p[1]));
  const top = peak * 1.15;
  const x = (t) => pad.l + ((t - t0) / span) * iw;
  const y = (v) => pad.t + ih - (v / top) * ih;

  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.6;
  ctx.lineJoin = "round";
  ctx.stroke();
  ctx.lineTo(x(t1), pad.t + ih);
  ctx.lineTo(x(t0), pad.t + ih);
  ctx.closePath();
  ctx.globalAlpha = 0.12;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;

  if (opts.axes) {
    ctx.fillStyle = "#667085";
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText("peak " + fmtBits(peak) + "  ·  now " + fmtBits(points[points.length - 1][1]), pad.l + 2, 2);
    ctx.textBaseline = "bottom";
    ctx.fillText("last " + fmtDuration(span), pad.l + 2, h);
  }
}
