// Events: newest first, by type or by endpoint, or one by id; an event's page shows its
// payload and every attempt per endpoint, with a replay to each.
import { get, post, query } from "./api.js";
import { h, mount, table, time, act, toast, field, copyButton, jsonBlock } from "./ui.js";
import { attemptsTable } from "./endpoints.js";

export async function events(ctx) {
  const portal = ctx.me.access === "portal";
  const endpoints = (await get("/v1/webhooks")).data;
  const type = ctx.params.get("type") ?? "";
  const endpointId = ctx.params.get("endpoint") ?? (portal ? endpoints[0]?.id ?? "" : "");
  const typeInput = h("input", { type: "text", id: "filter-type", value: type, placeholder: portal ? "order.created" : "order.created, or stripe.*" });
  const select = h(
    "select",
    { id: "filter-endpoint" },
    portal ? null : h("option", { value: "" }, "All events"),
    endpoints.map((ep) => h("option", { value: ep.id, selected: ep.id === endpointId }, `Sent to ${ep.url}`)),
  );
  const idInput = h("input", { type: "text", id: "find-id", placeholder: "evt_…" });
  const filters = h(
    "form",
    {
      class: "inline",
      onsubmit: (e) => {
        e.preventDefault();
        if (idInput.value.trim()) {
          location.hash = `#/events/${encodeURIComponent(idInput.value.trim())}`;
          return;
        }
        location.hash = `#/events${query({ type: typeInput.value.trim(), endpoint: select.value })}`;
      },
    },
    field("Type", typeInput),
    field("Endpoint", select),
    field("Event id", idInput),
    h("button", { type: "submit", id: "apply" }, "Show"),
  );
  const list = h("div", { id: "event-list" });
  mount(h("h1", {}, portal ? "Deliveries" : "Events"), h("section", { class: "card" }, filters), h("section", { class: "card" }, list));
  if (endpointId) await deliveries(list, endpointId, type);
  else if (!portal) await allEvents(list, type);
  else list.replaceChildren(h("p", { class: "muted empty" }, "No endpoints yet."));
}

// The org's events, newest first, a page at a time.
async function allEvents(list, type, cursor, rows = []) {
  // A type filter with `*` is matched here; the API filters exact types.
  const exact = type && !type.includes("*") ? type : "";
  const page = await get(`/v1/events${query({ limit: 50, type: exact, cursor })}`);
  rows.push(...page.data.filter((e) => matches(type, e.type)));
  list.replaceChildren(
    table(
      [
        ["Received", (e) => time(e.created_at)],
        ["Type", (e) => h("a", { href: `#/events/${e.id}`, class: "event-link" }, e.type)],
        ["Id", (e) => h("code", {}, e.id)],
        ["Source", (e) => (e.source ? h("code", {}, e.source) : h("span", { class: "muted" }, "published"))],
      ],
      rows,
      "No events yet.",
    ),
    page.next_cursor ? h("button", { type: "button", class: "more", onclick: () => allEvents(list, type, page.next_cursor, rows) }, "Load more") : null,
  );
}

// What was sent to one endpoint, newest first.
async function deliveries(list, endpointId, type, cursor, rows = []) {
  const page = await get(`/v1/webhooks/${encodeURIComponent(endpointId)}/logs${query({ limit: 50, cursor })}`);
  rows.push(...page.data.filter((a) => matches(type, a.event_type)));
  list.replaceChildren(
    attemptsTable(rows, true),
    page.next_cursor ? h("button", { type: "button", class: "more", onclick: () => deliveries(list, endpointId, type, page.next_cursor, rows) }, "Load more") : null,
  );
}

function matches(filter, type) {
  const f = filter.trim();
  if (!f || f === "*") return true;
  return f.endsWith(".*") ? type.startsWith(f.slice(0, -1)) : type === f;
}

export async function event(ctx, id) {
  const [e, endpoints] = await Promise.all([get(`/v1/events/${encodeURIComponent(id)}`), get("/v1/webhooks")]);
  const urls = new Map(endpoints.data.map((ep) => [ep.id, ep.url]));
  const byEndpoint = new Map();
  for (const a of e.attempts) {
    if (!byEndpoint.has(a.endpoint_id)) byEndpoint.set(a.endpoint_id, []);
    byEndpoint.get(a.endpoint_id).push(a);
  }
  const groups = [...byEndpoint.entries()].map(([epId, attempts]) =>
    h(
      "section",
      { class: "card attempts", dataset: { endpoint: epId } },
      h(
        "div",
        { class: "row" },
        h("h2", {}, urls.has(epId) ? h("a", { href: `#/endpoints/${epId}` }, urls.get(epId)) : h("code", {}, epId)),
        h(
          "button",
          {
            type: "button",
            class: "replay",
            onclick: async (ev) => {
              const r = await act(ev.target, () => post(`/v1/webhooks/${epId}/replay`, { event_id: e.id }));
              if (r) toast(`Sent again to ${urls.get(epId) ?? epId}: queued`);
            },
          },
          "Replay to this endpoint",
        ),
      ),
      attemptsTable([...attempts].reverse(), false),
    ),
  );
  mount(
    h("p", {}, h("a", { href: "#/events" }, "← Events")),
    h("h1", {}, e.type),
    h(
      "section",
      { class: "card grid" },
      h("div", {}, h("h3", {}, "Id"), h("code", {}, e.id), " ", copyButton(e.id)),
      h("div", {}, h("h3", {}, "Received"), time(e.created_at)),
      h("div", {}, h("h3", {}, "Source"), e.source ? h("code", {}, e.source) : "published"),
      h("div", {}, h("h3", {}, "Kept until"), time(e.expires_at)),
    ),
    h(
      "section",
      { class: "card" },
      h("div", { class: "row" }, h("h2", {}, "Payload"), copyButton(JSON.stringify(e.data, null, 2), "Copy JSON")),
      jsonBlock(e.data, "json payload"),
    ),
    h("h2", {}, "Attempts"),
    groups.length ? groups : h("p", { class: "muted empty" }, "Not delivered to any endpoint."),
  );
}
