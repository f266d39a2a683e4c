// Sources: where providers send, with what came in and what was refused lately.
import { get } from "./api.js";
import { h, mount, table, time, copyButton } from "./ui.js";

export async function sources() {
  const [list, stats] = await Promise.all([get("/v1/sources"), get("/v1/stats?bucket=1h&only=sources")]);
  const received = new Map((stats.sources ?? []).map((s) => [s.id, s.received]));
  const since = new Date(stats.since);
  // Refusals are kept per source (the newest 100 over 7 days).
  const rejections = await Promise.all(
    list.data.map((s) => get(`/v1/sources/${s.id}/rejections`).then((r) => r.data.filter((x) => new Date(x.at) >= since))),
  );
  const rows = list.data.map((s, i) => ({ ...s, received: received.get(s.id) ?? 0, rejected: rejections[i] }));
  mount(
    h("h1", {}, "Sources"),
    h(
      "section",
      { class: "card" },
      table(
        [
          ["Name", (s) => h("span", {}, s.name, h("br"), h("small", { class: "muted mono" }, s.id))],
          ["Provider", (s) => s.provider],
          ["Ingest URL", (s) => h("span", { class: "url" }, h("code", {}, s.ingest_url), " ", copyButton(s.ingest_url))],
          ["Received (24h)", (s) => h("span", { class: "num" }, s.received.toLocaleString())],
          ["Refused (24h)", (s) => refused(s.rejected)],
        ],
        rows,
        "No sources yet. Create one with the API or `hookline sources create`.",
      ),
      stats.truncated ? h("p", { class: "muted" }, "Counted over the newest events only.") : null,
    ),
  );
}

function refused(list) {
  if (!list.length) return h("span", { class: "num" }, "0");
  const last = list[0];
  return h("span", { class: "num bad" }, String(list.length), h("br"), h("small", { class: "muted" }, "last: ", last.reason, " · ", time(last.at)));
}
