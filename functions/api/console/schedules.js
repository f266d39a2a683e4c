// Schedules: one-off, cron and recurring jobs, with their next runs in the viewer's time
// zone and in UTC.
import { get, api, query } from "./api.js";
import { h, mount, table, bothTimes, badge, act, toast, zone } from "./ui.js";

export async function schedules(ctx, cursor, rows = []) {
  const page = await get(`/v1/schedules${query({ limit: 100, cursor })}`);
  rows.push(...page.data);
  mount(
    h("h1", {}, "Schedules"),
    h("p", { class: "muted" }, `Times in ${zone}, with UTC below.`),
    h(
      "section",
      { class: "card" },
      table(
        [
          ["Job", (j) => h("span", {}, h("strong", {}, j.type), h("br"), h("small", { class: "muted mono" }, j.id), j.name ? h("small", { class: "muted" }, h("br"), `${j.name} · ${j.thing}`) : null)],
          ["When", when],
          ["Status", (j) => badge(j.status)],
          ["Next run", (j) => bothTimes(j.next_run_at)],
          ["Then", (j) => h("small", {}, j.upcoming.slice(1, 3).map((t) => h("span", {}, new Date(t).toLocaleString(), h("br"))))],
          ["Last run", (j) => bothTimes(j.last_run_at)],
          ["Runs", (j) => String(j.runs)],
          ["", (j) => (j.status === "completed" ? "" : h("button", { type: "button", class: "danger small", onclick: (e) => cancel(e.target, j, ctx) }, "Cancel"))],
        ],
        rows,
        "No scheduled jobs.",
        (j) => ({ dataset: { job: j.id } }),
      ),
      page.next_cursor ? h("button", { type: "button", class: "more", onclick: () => schedules(ctx, page.next_cursor, rows) }, "Load more") : null,
    ),
  );
}

function when(j) {
  if (j.at) return h("span", {}, "once");
  if (j.cron) return h("span", {}, h("code", {}, j.cron), h("br"), h("small", { class: "muted" }, j.timezone));
  return h("span", {}, "every ", h("code", {}, j.rate));
}

async function cancel(button, job, ctx) {
  if (!confirm(`Cancel ${job.type} (${job.id})? It will not run again.`)) return;
  const done = await act(button, () => api("DELETE", `/v1/schedules/${job.id}`));
  if (done !== undefined) {
    toast("Cancelled");
    await schedules(ctx);
  }
}
