// Overview: attempts per minute over the last 24 hours by outcome, and the endpoints
// most in trouble.
import { get } from "./api.js";
import { h, mount, table, time, percent, endpointStatus, lastAnswer } from "./ui.js";
import { drawChart, COLORS } from "./chart.js";

export async function overview() {
  const stats = await get("/v1/stats?bucket=1m&only=endpoints");
  const canvas = h("canvas", { id: "chart", "aria-label": "Delivery attempts per minute, last 24 hours" });
  const totals = h(
    "div",
    { class: "totals" },
    Object.entries(COLORS).map(([k]) =>
      h("div", { class: `total ${k}`, id: `total-${k}` }, h("span", { class: "swatch" }), h("strong", {}, stats.totals[k].toLocaleString()), ` ${k}`),
    ),
  );
  const trouble = stats.endpoints.filter((e) => e.status === "disabled" || e.retrying + e.failed + e.exhausted > 0).slice(0, 10);
  mount(
    h("h1", {}, "Overview"),
    h("section", { class: "card" }, h("h2", {}, "Delivery attempts per minute, last 24 hours"), totals, canvas,
      stats.truncated ? h("p", { class: "muted" }, "Busy endpoints: the chart counts their newest attempts only.") : null),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Endpoints in trouble"),
      table(
        [
          ["Endpoint", (e) => h("a", { href: `#/endpoints/${e.id}` }, e.url)],
          ["Status", (e) => endpointStatus(e, e)],
          ["Failing since", (e) => time(e.failing_since)],
          ["Failed (24h)", (e) => String(e.retrying + e.failed + e.exhausted)],
          ["Success", (e) => percent(e.success_rate)],
          ["Last answer", (e) => lastAnswer(e)],
        ],
        trouble,
        "No endpoint failed in the last 24 hours.",
      ),
    ),
  );
  drawChart(canvas, stats);
}
