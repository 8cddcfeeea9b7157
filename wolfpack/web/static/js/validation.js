// Validate Cluster… (S1, WSFC's Validate Configuration report): GET /cluster/validation asks
// every node what it sees and judges it. The report: a summary line, then per check a row per
// node with its status and what to fix, the checks and rows in trouble first; Rerun asks again.
import { get } from "./api.js";
import { el } from "./ui.js";

// The judge's checks, in its order (wolfpack.policy.validate.CHECKS), as a person reads them.
const CHECKS = {
  node: "Node answers",
  networks: "Networks and peers",
  names: "Name resolution",
  clock: "Clock",
  disks: "Shared disks",
  programs: "Resource type programs",
  etcd: "Cluster database (etcd)",
  fence: "Fence agent",
  watchdog: "Watchdog",
};
const LABEL = { unreachable: "Unreachable", failed: "Failed", warning: "Warning", ok: "Passed" };
const ICON = { unreachable: "⊘", failed: "✖", warning: "▲", ok: "✔" };
const RANK = { unreachable: 0, failed: 1, warning: 2, ok: 3 };
const TICK_MS = 200; // the progress line's clock

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// A node that could not be asked fails its one row; it is shown apart: its checks are unknown.
function status(row) {
  if (row.code === "NODE_NOT_ASKED") return "unreachable";
  return { fail: "failed", warn: "warning", pass: "ok" }[row.verdict] || "failed";
}

// [[check, rows]]: checks with the worst status first (then in the judge's order), and in
// each its rows worst first, then by node.
function byCheck(rows) {
  const groups = new Map();
  for (const row of rows) {
    if (!groups.has(row.check)) groups.set(row.check, []);
    groups.get(row.check).push(row);
  }
  const worst = (list) => Math.min(...list.map((r) => RANK[status(r)]));
  const order = [...groups.keys()];
  for (const list of groups.values()) {
    list.sort((a, b) => RANK[status(a)] - RANK[status(b)] || a.node.localeCompare(b.node));
  }
  return [...groups.entries()].sort(([a, x], [b, y]) => worst(x) - worst(y) || order.indexOf(a) - order.indexOf(b));
}

function summary(report, tookMs) {
  const count = (s) => report.rows.filter((r) => status(r) === s).length;
  const failed = count("failed");
  const unreachable = count("unreachable");
  const warnings = count("warning");
  const outcome = failed + unreachable ? "failed" : warnings ? "warning" : "ok";
  const headline = {
    failed: unreachable && !failed ? "Not every node could be asked" : "Validation failed: fix each failed row",
    warning: "Validation passed, with warnings",
    ok: "Validation passed",
  }[outcome];
  const parts = [plural(report.nodes.length, "node"), `${count("ok")} passed`, plural(warnings, "warning"), `${failed} failed`];
  if (unreachable) parts.push(`${unreachable} unreachable`);
  parts.push(`took ${seconds(tookMs)}`);
  return el("div", { class: `validation-summary status-${outcome}`, dataset: { outcome } },
    el("strong", {}, el("span", { "aria-hidden": "true" }, `${ICON[outcome]} `), headline),
    el("span", { class: "validation-counts" }, parts.join(" · ")));
}

function reportTable(report) {
  const head = ["Node", "Status", "Code", "Detail"];
  return el("div", { class: "table-wrap" },
    el("table", { class: "list validation-report", "aria-label": "Validation report" },
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
      ...byCheck(report.rows).map(([check, rows]) => el("tbody", { dataset: { check } },
        el("tr", { class: "check-head" },
          el("th", { scope: "rowgroup", colspan: String(head.length) }, CHECKS[check] || check)),
        ...rows.map((r) => {
          const s = status(r);
          return el("tr", { class: `status-${s}`, dataset: { check: r.check, node: r.node, status: s, code: r.code } },
            el("th", { scope: "row" }, r.node),
            el("td", { class: "validation-status" }, el("span", { "aria-hidden": "true" }, `${ICON[s]} `), LABEL[s]),
            el("td", {}, el("code", {}, r.code)),
            el("td", {}, r.message));
        })))));
}

// The page: it runs when built and again on Rerun; a line with the time so far while it runs.
export function validationPage() {
  const body = el("div", { class: "validation-body", "aria-live": "polite" });
  const rerun = el("button", { type: "button", class: "rerun-validation" }, "Rerun");
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    rerun.disabled = true;
    const started = performance.now();
    const clock = el("span", {}, "");
    const tick = () => { clock.textContent = seconds(performance.now() - started); };
    tick();
    const timer = setInterval(tick, TICK_MS);
    body.setAttribute("aria-busy", "true");
    body.replaceChildren(el("div", { class: "validation-progress", role: "status" },
      el("progress", { "aria-label": "Validating" }), " Asking every node what it sees… ", clock));
    try {
      const report = await get("/cluster/validation");
      body.replaceChildren(summary(report, performance.now() - started), reportTable(report),
        el("p", { class: "help" }, "How to fix each code: docs/troubleshooting.md, “Reading a validation report”."));
    } catch (err) {
      body.replaceChildren(el("p", { class: "dialog-error validation-error", role: "alert" },
        `Could not validate: ${err.message || err}`));
    } finally {
      clearInterval(timer);
      body.removeAttribute("aria-busy");
      rerun.disabled = false;
      running = false;
    }
  };
  rerun.addEventListener("click", run);
  run();
  return el("div", {},
    el("p", { class: "help" }, "Every node looks at itself (networks and peers, names, clock, shared disks, the programs of its resource types, etcd, fence agent, watchdog), and the answers are judged against the configuration. Nothing is changed."),
    rerun,
    body);
}
