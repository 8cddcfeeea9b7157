// The History tab of a group's Properties: its failover timelines (GET /groups/{name}/history).
// Each one: a bar of its phases in proportion to their time, then every event with its
// wall-clock time (UTC), its offset from the first and the step from the one before.
import { get, enc } from "./api.js";
import { el } from "./ui.js";

const SHOWN = 5; // finished timelines shown, newest first

const clock = (at) => new Date(at * 1000).toISOString().slice(11, 23);
const seconds = (ms) => `${(ms / 1000).toFixed(3)} s`;
const phaseName = (key) => key.replace("_to_", " → ");

function heading(t) {
  return `${t.kind} ${t.source || "–"} → ${t.target} · ${t.ending} · ${seconds(t.duration_ms)}`;
}

// One segment per phase, as wide as its share of the time between the first and the last
// milestone; negative durations (clocks of two machines) are drawn as nothing.
function bar(t) {
  const entries = Object.entries(t.phases_ms);
  const total = entries.reduce((sum, [, ms]) => sum + Math.max(0, ms), 0);
  if (!entries.length || total <= 0) return null;
  return el("div", { class: "phase-bar", role: "img", "aria-label": `Phases: ${entries.map(([k, ms]) => `${phaseName(k)} ${ms} ms`).join(", ")}` },
    ...entries.map(([key, ms], i) => el("span", {
      class: `phase phase-${i % 6}`,
      style: `flex-grow: ${Math.max(0, ms)}`,
      title: `${phaseName(key)}: ${ms} ms`,
      dataset: { phase: key },
    })));
}

function phaseList(t) {
  const entries = Object.entries(t.phases_ms);
  if (!entries.length) return null;
  return el("ul", { class: "phase-list" },
    ...entries.map(([key, ms], i) => el("li", { dataset: { phase: key } },
      el("span", { class: `swatch phase-${i % 6}`, "aria-hidden": "true" }), `${phaseName(key)} `, el("strong", {}, `${ms} ms`))));
}

function events(t) {
  const head = ["Time (UTC)", "+ms", "Step ms", "Phase", "Node", "Resource", "Detail"];
  return el("div", { class: "table-wrap" },
    el("table", { class: "list timeline-events" },
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...t.events.map((e) => el("tr", { dataset: { phase: e.phase } },
        el("td", {}, clock(e.at)), el("td", {}, e.offset_ms), el("td", {}, e.step_ms),
        el("td", {}, e.phase), el("td", {}, e.node || "—"), el("td", {}, e.resource || "—"),
        el("td", {}, e.detail))))));
}

function timeline(t, current) {
  return el("section", { class: "timeline", dataset: { kind: t.kind, ending: t.ending, current: current ? "yes" : "no" } },
    el("h3", {}, current ? `Under way: ${heading(t)}` : heading(t)),
    el("p", { class: "muted" }, `${t.code || "no reason code"}${t.why ? `: ${t.why}` : ""}`),
    bar(t), phaseList(t), events(t));
}

// The History page; it loads when built and again on Refresh.
export function historyPage(name) {
  const body = el("div", { class: "history-body", "aria-live": "polite" }, el("p", { class: "muted" }, "Loading…"));
  const load = async () => {
    try {
      const doc = await get(`/groups/${enc(name)}/history`);
      const shown = doc.timelines.slice(0, SHOWN);
      body.replaceChildren(
        ...(doc.current ? [timeline(doc.current, true)] : []),
        ...shown.map((t) => timeline(t, false)));
      if (!doc.current && !shown.length) body.replaceChildren(el("p", {}, "No failover or move recorded yet."));
    } catch (err) {
      body.replaceChildren(el("p", { class: "dialog-error history-error", role: "alert" }, `Could not load the history: ${err.message || err}`));
    }
  };
  load();
  return el("div", {},
    el("p", { class: "help" }, "Where the time of each failover and move went. Times are the wall clocks of the nodes where things happened (keep them in sync with NTP)."),
    el("button", { type: "button", class: "refresh-history", onclick: load }, "Refresh"),
    body);
}
