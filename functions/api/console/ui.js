// DOM helpers. Everything shown is set as text (createTextNode, textContent): payloads,
// response bodies and names never become markup.

// h("a", {href: "#/x", class: "c", onclick: f}, "text", child...)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "href") el.setAttribute("href", String(v).startsWith("#") ? v : "#");
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof el[k] === "boolean") el[k] = Boolean(v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function mount(...children) {
  const main = document.getElementById("main");
  main.replaceChildren();
  append(main, children);
}

// A table of `rows` with `columns` [[heading, row => cell]]; `rowProps(row)` gives each
// row's attributes.
export function table(columns, rows, empty = "Nothing yet.", rowProps = () => ({})) {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map(([name]) => h("th", {}, name)))),
    h("tbody", {}, rows.map((r) => h("tr", rowProps(r), columns.map(([, cell]) => h("td", {}, cell(r)))))),
  );
}

const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

// A time in the viewer's zone, with UTC on hover.
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  return h("time", { datetime: iso, title: `${d.toISOString()} (UTC)` }, local.format(d));
}

// A time in the viewer's zone and in UTC, both shown.
export function bothTimes(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  return h("span", {}, local.format(d), h("br"), h("small", { class: "muted" }, d.toISOString().replace(".000Z", "Z"), " UTC"));
}

export function ago(iso) {
  const s = Math.round((Date.now() - new Date(iso)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function badge(status, title) {
  return h("span", { class: `badge ${status}`, title }, status);
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(rate === 1 ? 0 : 1)}%`;
}

export function copyButton(text, label = "Copy") {
  return h("button", {
    type: "button",
    class: "small",
    onclick: async (e) => {
      try {
        await navigator.clipboard.writeText(text);
        toast("Copied");
      } catch {
        toast("Copy failed: select the text instead");
      }
      e.target.blur();
    },
  }, label);
}

// Pretty JSON as text.
export function jsonBlock(value, cls = "json") {
  return h("pre", { class: cls }, JSON.stringify(value, null, 2));
}

let toastTimer;
export function toast(message, error = false) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = error ? "error" : "";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 4000);
}

export function errorBox(err) {
  return h("p", { class: "error-box" }, err?.message ?? String(err), err?.status ? ` (${err.status})` : "");
}

// Run `action`, report its error in a toast, and keep the button from double clicks.
export async function act(button, action) {
  button.disabled = true;
  try {
    return await action();
  } catch (e) {
    toast(`${e.message}${e.status ? ` (${e.status})` : ""}`, true);
  } finally {
    button.disabled = false;
  }
}

export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

// The button that submitted a form.
export function submitter(e) {
  return e.submitter ?? e.target.querySelector("button[type=submit]");
}

// An endpoint's status; an active one whose newest attempt failed is shown as failing.
export function endpointStatus(ep, health) {
  if (ep.status === "disabled") return h("span", {}, badge("disabled"), h("br"), h("small", { class: "muted" }, ep.disabled_reason));
  if (ep.status === "active" && health?.last_status && health.last_status !== "delivered") {
    return badge("failing", `the newest attempt: ${health.last_status}, ${health.last_response_code ?? "no answer"}`);
  }
  return badge(ep.status);
}

// An endpoint's newest attempt: its outcome, the code it answered and when.
export function lastAnswer(e) {
  if (!e.last_attempt_at) return h("span", { class: "muted" }, "—");
  return h("span", {}, badge(e.last_status), " ", e.last_response_code ?? "no answer", " · ", time(e.last_attempt_at));
}
