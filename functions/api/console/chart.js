// A stacked bar chart of attempts per bucket, drawn on a canvas.
export const COLORS = { delivered: "#2f9e44", retrying: "#f08c00", failed: "#e03131", exhausted: "#862e9c" };
const ORDER = ["delivered", "retrying", "failed", "exhausted"];

export function drawChart(canvas, stats) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 900;
  const height = canvas.clientHeight || 220;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const since = new Date(stats.since).getTime();
  const until = new Date(stats.until).getTime();
  const step = stats.bucket_secs * 1000;
  const count = Math.max(1, Math.ceil((until - since) / step));
  const max = Math.max(1, ...stats.series.map((b) => ORDER.reduce((n, k) => n + b[k], 0)));
  const pad = { left: 44, right: 8, top: 8, bottom: 22 };
  const w = width - pad.left - pad.right - 2;
  const hgt = height - pad.top - pad.bottom;
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#868e96";
  ctx.strokeStyle = "#dee2e6";
  for (const frac of [0, 0.5, 1]) {
    const y = pad.top + hgt * (1 - frac);
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(width - pad.right, y);
    ctx.stroke();
    ctx.fillText(String(Math.round(max * frac)), 4, y + 4);
  }
  const barW = w / count;
  for (const b of stats.series) {
    const i = Math.floor((new Date(b.start).getTime() - since) / step);
    let y = pad.top + hgt;
    for (const k of ORDER) {
      if (!b[k]) continue;
      const bh = (b[k] / max) * hgt;
      ctx.fillStyle = COLORS[k];
      ctx.fillRect(pad.left + i * barW, y - bh, Math.max(2, barW - (barW > 3 ? 1 : 0)), bh);
      y -= bh;
    }
  }
  ctx.fillStyle = "#868e96";
  const hours = (until - since) / 3600000;
  const tickEvery = hours > 12 ? 4 : hours > 3 ? 1 : 0.25;
  const first = Math.ceil(since / (tickEvery * 3600000)) * tickEvery * 3600000;
  for (let t = first; t <= until; t += tickEvery * 3600000) {
    const x = pad.left + ((t - since) / (until - since)) * w;
    const label = new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    ctx.fillText(label, Math.min(x - 14, width - pad.right - ctx.measureText(label).width), height - 6);
  }
}
