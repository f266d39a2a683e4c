// The console's shell: sign-in, navigation and the hash router. A portal link carries
// its token after `#portal=`; it is moved to sessionStorage and taken out of the URL.
import { api, session } from "./api.js";
import { h, mount, errorBox, field } from "./ui.js";
import { overview } from "./overview.js";
import { sources } from "./sources.js";
import { endpoints, endpoint } from "./endpoints.js";
import { events, event } from "./events.js";
import { schedules } from "./schedules.js";

const ORG_PAGES = [
  ["overview", "Overview"],
  ["sources", "Sources"],
  ["endpoints", "Endpoints"],
  ["events", "Events"],
  ["schedules", "Schedules"],
];
const PORTAL_PAGES = [
  ["endpoints", "Endpoints"],
  ["events", "Deliveries"],
];

let me = null;

function pages() {
  return me?.access === "portal" ? PORTAL_PAGES : ORG_PAGES;
}

function signInForm(message) {
  const input = h("input", { type: "password", name: "key", autocomplete: "off", placeholder: "hk_…", required: true, id: "key" });
  const form = h(
    "form",
    {
      class: "card signin",
      onsubmit: async (e) => {
        e.preventDefault();
        session.set(input.value.trim());
        input.value = "";
        await start();
      },
    },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "With an org API key. It is kept in this tab only, until the tab closes."),
    message ? errorBox(message) : null,
    field("API key", input),
    h("button", { type: "submit", id: "sign-in" }, "Sign in"),
  );
  document.getElementById("nav").replaceChildren();
  document.getElementById("who").textContent = "";
  document.getElementById("sign-out").hidden = true;
  mount(form);
  input.focus();
}

function shell() {
  const current = location.hash.split("/")[1]?.split("?")[0];
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    ...pages().map(([id, label]) => h("a", { href: `#/${id}`, class: id === current ? "active" : null, id: `nav-${id}` }, label)),
  );
  document.getElementById("who").textContent = me.access === "portal" ? `${me.name} · endpoints` : me.name;
  document.getElementById("sign-out").hidden = false;
}

async function route() {
  if (!me) return;
  const [path, search] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const allowed = pages().map(([id]) => id);
  if (!parts.length || !allowed.includes(parts[0])) {
    location.replace(`#/${allowed[0]}`);
    return;
  }
  shell();
  const params = new URLSearchParams(search ?? "");
  const ctx = { me, params };
  try {
    mount(h("p", { class: "muted" }, "Loading…"));
    const [page, id] = parts;
    if (page === "overview") await overview(ctx);
    else if (page === "sources") await sources(ctx);
    else if (page === "endpoints") await (id ? endpoint(ctx, decodeURIComponent(id)) : endpoints(ctx));
    else if (page === "events") await (id ? event(ctx, decodeURIComponent(id)) : events(ctx));
    else if (page === "schedules") await schedules(ctx);
  } catch (e) {
    if (e.status === 401) {
      session.clear();
      me = null;
      signInForm("The key or portal link is no longer valid.");
    } else {
      mount(errorBox(e));
    }
  }
}

async function start() {
  if (location.hash.startsWith("#portal=")) {
    session.set(decodeURIComponent(location.hash.slice("#portal=".length)));
    history.replaceState(null, "", `${location.pathname}#/endpoints`);
  }
  if (!session.get()) return signInForm();
  try {
    me = await api("GET", "/v1/me");
  } catch (e) {
    session.clear();
    return signInForm(e.status === 401 ? "That key was not accepted." : e.message);
  }
  await route();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  me = null;
  history.replaceState(null, "", location.pathname);
  signInForm();
});
window.addEventListener("hashchange", () => (location.hash.startsWith("#portal=") ? start() : route()));
start();
