// Endpoints: their health, and what can be done to one (test, enable, pause, rotate,
// replay, edit filters and headers).
import { get, post, api } from "./api.js";
import { h, mount, table, time, badge, percent, act, toast, field, copyButton, errorBox, submitter, endpointStatus, lastAnswer } from "./ui.js";

function secretOnce(secret) {
  return h(
    "div",
    { class: "secret", id: "new-secret" },
    h("strong", {}, "Signing secret, shown once: "),
    h("code", {}, secret),
    " ",
    copyButton(secret),
  );
}

export async function endpoints() {
  const [list, stats] = await Promise.all([get("/v1/webhooks"), get("/v1/stats?bucket=1h&only=endpoints")]);
  const health = new Map(stats.endpoints.map((e) => [e.id, e]));
  const created = h("div");
  const url = h("input", { type: "url", name: "url", required: true, placeholder: "https://example.com/webhooks", id: "new-url" });
  const filters = h("input", { type: "text", name: "events", value: "*", id: "new-events" });
  const form = h(
    "form",
    {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        const ep = await act(submitter(e), () =>
          post("/v1/webhooks", { url: url.value, events: splitList(filters.value) }),
        );
        if (ep) {
          await endpoints();
          document.getElementById("created").replaceChildren(h("p", {}, "Created ", h("a", { href: `#/endpoints/${ep.id}` }, ep.url)), secretOnce(ep.secret));
        }
      },
    },
    field("URL", url),
    field("Events", filters, "comma-separated: order.created, stripe.*, or *"),
    h("button", { type: "submit" }, "Add endpoint"),
  );
  created.id = "created";
  mount(
    h("h1", {}, "Endpoints"),
    h("section", { class: "card" }, form, created),
    h(
      "section",
      { class: "card" },
      table(
        [
          ["URL", (ep) => h("a", { href: `#/endpoints/${ep.id}`, class: "ep-link" }, ep.url)],
          ["Events", (ep) => h("code", {}, ep.events.join(", "))],
          ["Status", (ep) => endpointStatus(ep, health.get(ep.id))],
          ["Success (24h)", (ep) => percent(health.get(ep.id)?.success_rate)],
          ["Last answer", (ep) => (health.get(ep.id) ? lastAnswer(health.get(ep.id)) : "—")],
        ],
        list.data,
        "No endpoints yet.",
      ),
    ),
  );
}

export function splitList(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

export async function endpoint(ctx, id) {
  const [ep, logs, stats] = await Promise.all([
    get(`/v1/webhooks/${encodeURIComponent(id)}`),
    get(`/v1/webhooks/${encodeURIComponent(id)}/logs?limit=50`),
    get(`/v1/stats?bucket=1h&endpoint=${encodeURIComponent(id)}`),
  ]);
  const health = stats.endpoints[0];
  const out = h("div", { id: "action-result" });
  const button = (label, idName, action) => h("button", { type: "button", id: idName, onclick: (e) => act(e.target, action) }, label);
  const actions = h(
    "div",
    { class: "actions" },
    button("Send test", "send-test", async () => {
      const a = await post(`/v1/webhooks/${ep.id}/test`);
      out.replaceChildren(h("p", {}, "Test: ", badge(a.status), " ", a.response_code ?? "no answer", a.error ? ` · ${a.error}` : ""));
    }),
    ep.status === "disabled" ? button("Enable", "enable", async () => (await post(`/v1/webhooks/${ep.id}/enable`), reload(id))) : null,
    ep.status === "active" ? button("Pause", "pause", async () => (await post(`/v1/webhooks/${ep.id}/pause`), reload(id))) : null,
    ep.status === "paused" ? button("Resume", "resume", async () => (await post(`/v1/webhooks/${ep.id}/resume`), reload(id))) : null,
    button("Rotate secret", "rotate", async () => {
      if (!confirm("Rotate the signing secret? The current one keeps signing for a grace period.")) return;
      const r = await post(`/v1/webhooks/${ep.id}/rotate-secret`);
      out.replaceChildren(secretOnce(r.secret));
    }),
  );
  const since = h("input", { type: "datetime-local", id: "replay-since", value: localInput(new Date(Date.now() - 3600000)) });
  const replay = h(
    "form",
    {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        const r = await act(submitter(e), () => post(`/v1/webhooks/${ep.id}/replay`, { since: new Date(since.value).toISOString() }));
        if (r) toast(`Replaying ${r.replayed} failed deliveries`);
      },
    },
    field("Replay failed deliveries since", since),
    h("button", { type: "submit" }, "Replay"),
  );
  const events = h("input", { type: "text", id: "edit-events", value: ep.events.join(", ") });
  const headers = h("textarea", { id: "edit-headers", rows: 3, spellcheck: "false" });
  headers.value = JSON.stringify(ep.headers, null, 2);
  const edit = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        let parsed;
        try {
          parsed = JSON.parse(headers.value || "{}");
        } catch {
          return toast("Headers: not JSON", true);
        }
        const r = await act(submitter(e), () => api("PATCH", `/v1/webhooks/${ep.id}`, { events: splitList(events.value), headers: parsed }));
        if (r) toast("Saved");
      },
    },
    field("Events", events, "comma-separated"),
    field("Headers", headers, 'sent with every delivery, as JSON: {"X-Team": "billing"}'),
    h("button", { type: "submit", id: "save" }, "Save"),
  );
  mount(
    h("p", {}, h("a", { href: "#/endpoints" }, "← Endpoints")),
    h("h1", { class: "url" }, ep.url),
    h(
      "section",
      { class: "card grid" },
      h("div", {}, h("h3", {}, "Status"), endpointStatus(ep, health)),
      h("div", {}, h("h3", {}, "Success (24h)"), percent(health?.success_rate)),
      h("div", {}, h("h3", {}, "Last answer"), health ? lastAnswer(health) : "—"),
      h("div", {}, h("h3", {}, "Failing since"), time(ep.failure?.failing_since)),
      h("div", {}, h("h3", {}, "Id"), h("code", {}, ep.id)),
    ),
    h("section", { class: "card" }, actions, out, replay),
    h("section", { class: "card" }, h("h2", {}, "Edit"), edit),
    h("section", { class: "card" }, h("h2", {}, "Recent deliveries"), attemptsTable(logs.data, true)),
    ep.description ? h("p", { class: "muted" }, ep.description) : null,
  );
}

async function reload(id) {
  try {
    await endpoint({}, id);
  } catch (e) {
    mount(errorBox(e));
  }
}

function localInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function attemptsTable(attempts, withEvent) {
  return table(
    [
      ["Time", (a) => time(a.created_at)],
      ...(withEvent ? [["Event", (a) => h("span", {}, h("a", { href: `#/events/${a.event_id}` }, a.event_type), h("br"), h("small", { class: "muted mono" }, a.event_id))]] : []),
      ["Status", (a) => badge(a.status)],
      ["Code", (a) => h("span", { class: "code" }, a.response_code ?? "—")],
      ["Duration", (a) => `${a.duration_ms} ms`],
      ["Attempt", (a) => String(a.attempt)],
      ["Error", (a) => a.error ?? ""],
      ["Response", (a) => (a.response_body ? h("pre", { class: "body" }, a.response_body) : "")],
    ],
    attempts,
    "No deliveries yet.",
  );
}
