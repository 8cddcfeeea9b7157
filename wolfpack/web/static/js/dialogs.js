// Properties dialogs (S35, S37, S38) and the New Group / New Resource wizards (S25, S26, S28).
// A save sends PATCH with the changed fields only; a 422 puts its message next to the field
// it names, and nothing has changed.
import { get, post, patch, enc, hint } from "./api.js";
import { byName, find, groupResources, nodeState, groupState, resourceState, groupOwner } from "./model.js";
import { state, el, canWrite, say, clearError } from "./ui.js";
import * as F from "./forms.js";
import { historyPage } from "./timeline.js";
import { validationPage } from "./validation.js";

const dialog = () => document.getElementById("dialog");
let returnFocus = null;

function closeDialog() {
  const d = dialog();
  if (d.open) d.close();
}

function setup(title, body, buttons, errorBox, size = "") {
  const d = dialog();
  if (d.open) d.close();
  d.className = size;
  returnFocus = document.activeElement;
  d.replaceChildren(
    el("div", { class: "dialog-head" },
      el("h2", { id: "dialog-title" }, title),
      el("button", { type: "button", class: "icon-button", "aria-label": "Close the dialog", onclick: closeDialog }, "✕")),
    errorBox,
    el("div", { class: "dialog-body" }, body),
    el("div", { class: "dialog-buttons" }, ...buttons));
  d.onclose = () => {
    d.replaceChildren();
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
  };
  d.showModal();
  const first = d.querySelector("[role=tab][aria-selected=true], input:not([disabled]), select:not([disabled]), textarea:not([disabled])");
  (first || d.querySelector(".dialog-buttons button"))?.focus();
}

function errorBox() {
  const box = el("div", { class: "dialog-error", role: "alert", hidden: true });
  return {
    element: box,
    show(err, rest) {
      const fields = rest || [];
      box.replaceChildren(
        el("strong", {}, `${err.status ? `${err.status} ` : ""}${err.type || "Error"}: `),
        fields.length && err.fields && fields.length === err.fields.length ? "" : err.message || String(err),
        fields.length ? el("ul", {}, ...fields.map((f) => el("li", {}, el("code", {}, f.field), ": ", f.message))) : null,
        el("div", { class: "banner-hint" }, hint(err)));
      box.hidden = false;
    },
    clear() { box.hidden = true; box.replaceChildren(); },
  };
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// The PATCH body: a JSON merge patch (RFC 7386) of the fields that changed. Nested objects
// (failback, properties) merge on the server, so a property that was removed is sent as null.
export function changed(values, original, nested = false) {
  const out = {};
  for (const [k, v] of Object.entries(values)) {
    const was = original[k] === undefined ? null : original[k];
    if (isObject(v) && isObject(was)) {
      const inner = changed(v, was, true);
      if (Object.keys(inner).length) out[k] = inner;
    } else if (JSON.stringify(v) !== JSON.stringify(was)) out[k] = v;
  }
  if (nested) for (const k of Object.keys(original)) if (!(k in values)) out[k] = null;
  return out;
}

// A properties sheet: tabs of fields, OK / Apply / Cancel (Close only for read-only).
function propertiesDialog({ kind, name, title, pages, form, original }) {
  const errors = errorBox();
  const tabset = F.tabs(pages);
  const prefix = `${kind}.${name}.`;
  const save = async (close) => {
    form.clearErrors();
    errors.clear();
    const body = changed(form.values(), original);
    if (!Object.keys(body).length) {
      if (close) closeDialog();
      return;
    }
    try {
      const updated = await patch(`/${kind}/${enc(name)}`, body);
      Object.assign(original, updated || body);
      clearError();
      say(`Saved ${name}: ${Object.keys(body).join(", ")}`);
      if (close) closeDialog();
      await state.refresh();
    } catch (err) {
      const { rest, first } = form.showErrors(err.fields, prefix);
      if (first && first.element) {
        const page = tabset.panelOf(first.element);
        if (page >= 0) tabset.show(page, false);
        first.focus && first.focus();
      }
      if (rest.length || !first || err.status !== 422) errors.show(err, rest);
    }
  };
  const buttons = canWrite()
    ? [
      el("button", { type: "button", class: "primary", onclick: () => save(true) }, "OK"),
      el("button", { type: "button", onclick: () => save(false) }, "Apply"),
      el("button", { type: "button", onclick: closeDialog }, "Cancel"),
    ]
    : [el("button", { type: "button", onclick: closeDialog }, "Close")];
  const note = canWrite() ? null : el("p", { class: "muted" }, "Read-only: your role can look, not change.");
  setup(title, el("div", {}, note, tabset.element), buttons, errors.element);
}

function info(rows) {
  return el("dl", { class: "facts" }, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "—")]));
}

const nodeNames = () => byName(state.doc.nodes).map((n) => n.name);

async function fresh(kind, name) {
  try {
    return await get(`/${kind}/${enc(name)}`);
  } catch {
    return find(state.doc, kind, name);
  }
}

function groupPages(form, g) {
  const general = el("div", {},
    info([["State", groupState(g)], ["Owner", groupOwner(g)], ["Resources", groupResources(state.doc, g.name).map((r) => r.name).join(", ") || "—"]]),
    F.text(form, "description", "Description", g.description).element,
    F.orderedOwners(form, "preferred_owners", "Preferred owners", nodeNames(), g.preferred_owners || [],
      "Checked nodes, in this order, are tried first. None checked: every node qualifies, in node-id order.").element);
  const failover = el("div", {},
    el("p", { class: "help" }, "If the group fails more often than this within the period, it stays offline instead of failing over again."),
    F.int(form, "failover_threshold", "Threshold (failovers)", g.failover_threshold, { min: 0 }).element,
    F.int(form, "failover_period_s", "Period (seconds)", g.failover_period_s, { min: 1, help: "MSCS default: 6 hours = 21600 s" }).element);
  const fb = g.failback || {};
  let windowFields;
  const setWindow = (mode) => windowFields.forEach((f) => { f.input.disabled = form.readonly || mode !== "window"; });
  const mode = F.radios(form, "failback.mode", "When the preferred owner is back", fb.mode || "prevent",
    [["prevent", "Prevent failback"], ["immediate", "Allow failback immediately"], ["window", "Allow failback only between the hours below"]], setWindow);
  const ws = F.int(form, "failback.window_start", "From hour (0-23, cluster time)", fb.window_start ?? "", { min: 0, max: 23, emptyIs: null });
  const we = F.int(form, "failback.window_end", "Until hour (0-23)", fb.window_end ?? "", { min: 0, max: 23, emptyIs: null });
  windowFields = [ws, we];
  setWindow(fb.mode || "prevent");
  const failback = el("div", {}, mode.element, el("div", { class: "row2" }, ws.element, we.element),
    F.int(form, "failback.stability_delay_s", "Stability delay (seconds)", fb.stability_delay_s ?? 60,
      { min: 0, help: "The preferred owner must have been Up this long, so a flapping node cannot bounce the group." }).element);
  const advanced = el("div", {},
    F.text(form, "anti_affinity", "Anti-affinity classes", (g.anti_affinity || []).join(", "), {
      help: "Groups sharing a class are kept on different nodes when possible (comma-separated).",
      parse: (v) => v.split(",").map((x) => x.trim()).filter(Boolean),
    }).element);
  return [["General", general], ["Failover", failover], ["Failback", failback], ["Advanced", advanced], ["History", historyPage(g.name)]];
}

export async function groupProperties(name) {
  const g = await fresh("groups", name);
  if (!g) return;
  const form = new F.Form(!canWrite());
  const pages = groupPages(form, g);
  const original = { ...g, failback: { mode: "prevent", window_start: null, window_end: null, stability_delay_s: 60, ...(g.failback || {}) } };
  propertiesDialog({ kind: "groups", name, title: `${name} Properties`, pages, form, original });
}

function resourcePages(form, r, type) {
  const others = groupResources(state.doc, r.group).map((x) => x.name).filter((n) => n !== r.name);
  const general = el("div", {},
    info([["Type", r.type], ["Group", r.group], ["State", resourceState(r)], ["Owner", r.node]]),
    F.text(form, "description", "Description", r.description).element,
    F.possibleOwners(form, "possible_owners", "Possible owners", nodeNames(), r.possible_owners).element);
  const deps = el("div", {}, F.dependencies(form, "dependencies", others, r.dependencies).element);
  const optionalMs = (v) => (v === null || v === undefined ? "" : v);
  const advanced = el("div", {},
    F.radios(form, "restart_action", "When it fails", r.restart_action || "restart-and-failover", [
      ["dont-restart", "Do not restart"],
      ["restart", "Restart, and never fail the group over"],
      ["restart-and-failover", "Restart; past the threshold, fail the group over (affect the group)"],
    ]).element,
    el("div", { class: "row2" },
      F.int(form, "restart_threshold", "Restart threshold", r.restart_threshold, { min: 0 }).element,
      F.int(form, "restart_period_s", "within (seconds)", r.restart_period_s, { min: 1 }).element),
    el("div", { class: "row2" },
      F.int(form, "restart_delay_ms", "Restart delay (ms)", r.restart_delay_ms, { min: 0 }).element,
      F.int(form, "pending_timeout_s", "Pending timeout (s)", r.pending_timeout_s, { min: 1 }).element),
    el("div", { class: "row2" },
      F.int(form, "looks_alive_ms", "LooksAlive poll (ms)", optionalMs(r.looks_alive_ms), { min: 1, emptyIs: null, help: type ? `empty: the type's ${type.looks_alive_ms} ms` : "" }).element,
      F.int(form, "is_alive_ms", "IsAlive poll (ms)", optionalMs(r.is_alive_ms), { min: 1, emptyIs: null, help: type ? `empty: the type's ${type.is_alive_ms} ms` : "" }).element));
  const params = el("div", {}, F.typeProperties(form, type, r.properties || {}));
  return [["General", general], ["Dependencies", deps], ["Advanced", advanced], ["Parameters", params]];
}

export async function resourceProperties(name) {
  const r = await fresh("resources", name);
  if (!r) return;
  const type = find(state.doc, "types", r.type);
  const form = new F.Form(!canWrite());
  const pages = resourcePages(form, r, type);
  propertiesDialog({ kind: "resources", name, title: `${name} Properties`, pages, form, original: { ...r } });
}

export async function nodeProperties(name) {
  const n = await fresh("nodes", name);
  if (!n) return;
  const form = new F.Form(!canWrite());
  const owned = byName(state.doc.groups).filter((g) => groupOwner(g) === name).map((g) => g.name);
  const general = el("div", {},
    info([["Id", String(n.id)], ["State", nodeState(n)], ["Owns", owned.join(", ") || "—"],
      ["Interfaces", byName(state.doc.interfaces).filter((i) => i.node === name).map((i) => `${i.network} ${i.address}`).join(", ") || "—"]]),
    F.text(form, "description", "Description", n.description).element);
  propertiesDialog({ kind: "nodes", name, title: `${name} Properties`, pages: [["General", general]], form, original: { ...n } });
}

export async function networkProperties(name) {
  const n = await fresh("networks", name);
  if (!n) return;
  const form = new F.Form(!canWrite());
  const general = el("div", {},
    F.text(form, "subnet", "Subnet (CIDR)", n.subnet).element,
    F.select(form, "role", "Role (can change at any time)", n.role, [
      ["mixed", "mixed: clients and cluster traffic"], ["private", "private: cluster traffic only"],
      ["public", "public: clients only"], ["none", "none: not used by the cluster"]]).element,
    F.text(form, "description", "Description", n.description).element);
  propertiesDialog({ kind: "networks", name, title: `${name} Properties`, pages: [["General", general]], form, original: { ...n } });
}

// Validate Cluster… (S1): the validation report, in a wide dialog; any role may run it.
export function validateCluster() {
  const name = (state.doc && state.doc.cluster && state.doc.cluster.name) || "cluster";
  setup(`Validate Cluster ${name}`, validationPage(), [el("button", { type: "button", onclick: closeDialog }, "Close")],
    el("div", { hidden: true }), "wide");
}

// --- wizards ------------------------------------------------------------------------------

function wizard({ title, steps, finish, kind, name }) {
  const errors = errorBox();
  let at = 0;
  const holder = el("div", {});
  const progress = el("ol", { class: "steps", "aria-label": "Steps" });
  const back = el("button", { type: "button" }, "Back");
  const next = el("button", { type: "button", class: "primary" }, "Next");
  const cancel = el("button", { type: "button", onclick: closeDialog }, "Cancel");
  const pages = steps.map(() => null);
  const keys = steps.map(() => null);
  const draw = () => {
    const key = steps[at].key ? steps[at].key() : "";
    if (!pages[at] || keys[at] !== key) pages[at] = steps[at].build();
    keys[at] = key;
    holder.replaceChildren(pages[at]);
    progress.replaceChildren(...steps.map((s, i) => el("li", { "aria-current": i === at ? "step" : null, class: i === at ? "current" : "" }, s.title)));
    back.disabled = at === 0;
    next.textContent = at === steps.length - 1 ? "Finish" : "Next";
    (holder.querySelector("input:not([disabled]), select, textarea") || next).focus();
  };
  back.addEventListener("click", () => { if (at > 0) { at -= 1; draw(); } });
  next.addEventListener("click", async () => {
    errors.clear();
    const problem = steps[at].check ? steps[at].check() : null;
    if (problem) {
      errors.show({ type: "Missing", message: problem });
      return;
    }
    if (at < steps.length - 1) {
      at += 1;
      draw();
      return;
    }
    try {
      const made = await finish();
      clearError();
      say(`Created ${kind.replace(/s$/, "")} ${made && made.name ? made.name : ""}`);
      closeDialog();
      await state.refresh();
    } catch (err) {
      let rest = err.fields || [];
      let first = null;
      const seen = new Set();
      for (const step of steps) {
        if (!step.form || seen.has(step.form)) continue;
        seen.add(step.form);
        const shown = step.form.showErrors(rest, `${kind}.${name()}.`);
        first = first || shown.first;
        rest = shown.rest;
      }
      const page = first ? pages.findIndex((p) => p && p.contains(first.element)) : -1;
      if (page >= 0 && page !== at) {
        at = page;
        holder.replaceChildren(pages[at]);
        progress.replaceChildren(...steps.map((s, i) => el("li", { "aria-current": i === at ? "step" : null, class: i === at ? "current" : "" }, s.title)));
        back.disabled = at === 0;
        next.textContent = at === steps.length - 1 ? "Finish" : "Next";
      }
      if (first && first.focus) first.focus();
      errors.show(err, rest);
    }
  });
  setup(title, el("div", {}, progress, holder), [back, next, cancel], errors.element);
  draw();
}

export function newGroup() {
  const form = new F.Form();
  let nameField;
  const name = () => nameField.get().trim();
  wizard({
    title: "New Group",
    kind: "groups",
    name,
    steps: [
      {
        title: "Name", form,
        build: () => {
          nameField = F.text(form, "name", "Name", "", { required: true, placeholder: "e.g. Web", help: "Free text, such as 'Cluster Group'." });
          return el("div", {}, nameField.element, F.text(form, "description", "Description", "").element);
        },
        check: () => (name() ? null : "Give the group a name."),
      },
      {
        title: "Preferred owners", form,
        build: () => el("div", {}, F.orderedOwners(form, "preferred_owners", "Preferred owners", nodeNames(), [],
          "Check the nodes that should own the group, most preferred first. None checked: every node qualifies.").element),
      },
    ],
    finish: () => post("/groups", { ...form.values(), name: name() }),
  });
}

export async function newResource(groupName) {
  const form = new F.Form();
  // The types and their property schemas (S26), fresh: a product may have added one.
  let types;
  try {
    types = byName(await get("/types"));
  } catch {
    types = byName(state.doc.types);
  }
  const groups = byName(state.doc.groups);
  let nameField;
  let typeField;
  let groupField;
  let paramsForm = new F.Form();
  let depsForm = new F.Form();
  const name = () => nameField.get().trim();
  const initialType = (types.find((t) => t.name === "Generic Application") || types[0] || {}).name;
  wizard({
    title: "New Resource",
    kind: "resources",
    name,
    steps: [
      {
        title: "Name and type", form,
        build: () => {
          nameField = F.text(form, "name", "Name", "", { required: true, placeholder: "e.g. web-app" });
          typeField = F.select(form, "type", "Resource type", initialType, types.map((t) => [t.name, t.name]), { required: true });
          groupField = F.select(form, "group", "Group", groupName || (groups[0] || {}).name, groups.map((g) => [g.name, g.name]), { required: true });
          return el("div", {}, nameField.element, F.text(form, "description", "Description", "").element, typeField.element, groupField.element);
        },
        check: () => (!name() ? "Give the resource a name." : !groupField.get() ? "Create a group first." : null),
      },
      {
        title: "Possible owners", form,
        build: () => el("div", {}, F.possibleOwners(form, "possible_owners", "Possible owners", nodeNames(), null).element),
      },
      {
        title: "Dependencies", key: () => groupField.get(),
        get form() { return depsForm; },
        build: () => {
          const candidates = groupResources(state.doc, groupField.get()).map((r) => r.name);
          depsForm = new F.Form();
          return el("div", {}, F.dependencies(depsForm, "dependencies", candidates, []).element);
        },
      },
      {
        title: "Parameters", key: () => typeField.get(),
        get form() { return paramsForm; },
        build: () => {
          paramsForm = new F.Form();
          const type = types.find((t) => t.name === typeField.get());
          return el("div", {}, el("p", { class: "help" }, `Properties of a ${typeField.get()}${type && type.description ? `: ${type.description}` : ""}.`), F.typeProperties(paramsForm, type, {}));
        },
      },
    ],
    finish: () => {
      const body = { ...form.values(), ...depsForm.values(), properties: paramsForm.values().properties || {}, name: name() };
      if (body.possible_owners === null) delete body.possible_owners;
      return post("/resources", body);
    },
  });
}

