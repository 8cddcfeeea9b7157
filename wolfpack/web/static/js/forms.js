// Form fields for the properties dialogs and wizards. Every field knows its API path
// ("failback.window_start", "properties.command"), how to read its value, and where to show
// the message of a 422 that names it.
import { el } from "./ui.js";

let seq = 0;
const uid = (p) => `${p}-${++seq}`;

export class Form {
  constructor(readonly = false) {
    this.fields = new Map();
    this.readonly = readonly;
  }

  add(path, field) {
    this.fields.set(path, field);
    return field.element;
  }

  values() {
    const out = {};
    for (const [path, field] of this.fields) {
      if (field.skip && field.skip()) continue;
      setPath(out, path, field.get());
    }
    return out;
  }

  clearErrors() {
    for (const f of this.fields.values()) f.error("");
  }

  // Put each message next to its field; returns the messages no field claimed.
  showErrors(fields, prefix) {
    const rest = [];
    let first = null;
    for (const f of fields || []) {
      const path = f.field.startsWith(prefix) ? f.field.slice(prefix.length) : f.field;
      const target = this.match(path);
      if (target) {
        target.error(f.message);
        first = first || target;
      } else rest.push(f);
    }
    return { rest, first };
  }

  match(path) {
    let p = path;
    while (p) {
      if (this.fields.has(p)) return this.fields.get(p);
      const cut = p.lastIndexOf(".");
      if (cut < 0) break;
      p = p.slice(0, cut);
    }
    return null;
  }
}

function setPath(obj, path, value) {
  const parts = path.split(".");
  let o = obj;
  for (const part of parts.slice(0, -1)) o = o[part] = o[part] || {};
  o[parts[parts.length - 1]] = value;
}

function wrap(label, input, help, id, required = false) {
  const err = el("p", { class: "field-error", id: `${id}-err`, "aria-live": "polite" });
  const element = el("div", { class: "field" },
    el("label", { for: id, class: required ? "required" : null }, label),
    input,
    help ? el("p", { class: "help", id: `${id}-help` }, help) : null,
    err);
  input.setAttribute("aria-describedby", [help ? `${id}-help` : null, `${id}-err`].filter(Boolean).join(" "));
  return {
    element,
    error: (msg) => {
      err.textContent = msg;
      input.setAttribute("aria-invalid", msg ? "true" : "false");
      element.classList.toggle("invalid", Boolean(msg));
    },
    focus: () => input.focus(),
  };
}

export function text(form, path, label, value, opts = {}) {
  const id = uid("f");
  const input = el(opts.multiline ? "textarea" : "input", {
    id, name: path, type: opts.multiline ? null : opts.type || "text", value: opts.multiline ? null : value ?? "",
    required: opts.required, disabled: form.readonly || opts.readonly, placeholder: opts.placeholder,
    min: opts.min, max: opts.max, rows: opts.multiline ? 3 : null, spellcheck: "false", autocomplete: "off",
    dataset: { field: path },
  });
  if (opts.multiline) input.value = value ?? "";
  const w = wrap(label, input, opts.help, id, opts.required);
  const field = {
    ...w,
    input,
    get: () => (opts.parse ? opts.parse(input.value) : input.value),
    skip: opts.skip ? () => opts.skip(input.value) : null,
  };
  form.add(path, field);
  return field;
}

export const int = (form, path, label, value, opts = {}) =>
  text(form, path, label, value, {
    ...opts, type: "number",
    parse: (v) => (v.trim() === "" ? (opts.emptyIs === undefined ? "" : opts.emptyIs) : Number(v)),
  });

export function checkbox(form, path, label, value, opts = {}) {
  const id = uid("f");
  const input = el("input", { id, type: "checkbox", checked: Boolean(value), disabled: form.readonly, dataset: { field: path } });
  const err = el("p", { class: "field-error", "aria-live": "polite" });
  const element = el("div", { class: "field field-check" }, input, el("label", { for: id }, label), opts.help ? el("p", { class: "help" }, opts.help) : null, err);
  const field = { element, input, get: () => input.checked, error: (m) => { err.textContent = m; }, focus: () => input.focus() };
  form.add(path, field);
  return field;
}

export function select(form, path, label, value, options, opts = {}) {
  const id = uid("f");
  const input = el("select", { id, name: path, disabled: form.readonly || opts.readonly, required: opts.required, dataset: { field: path } },
    ...options.map(([v, l]) => el("option", { value: v, selected: v === value }, l)));
  if (opts.onchange) input.addEventListener("change", () => opts.onchange(input.value));
  const w = wrap(label, input, opts.help, id, opts.required);
  const field = { ...w, input, get: () => input.value };
  form.add(path, field);
  return field;
}

export function radios(form, path, label, value, options, onchange = null) {
  const name = uid("r");
  const err = el("p", { class: "field-error", "aria-live": "polite" });
  const inputs = options.map(([v, l]) => {
    const id = uid("f");
    const input = el("input", { type: "radio", id, name, value: v, checked: v === value, disabled: form.readonly });
    if (onchange) input.addEventListener("change", () => onchange(v));
    return el("div", { class: "radio" }, input, el("label", { for: id }, l));
  });
  const element = el("fieldset", { class: "field", dataset: { field: path } }, el("legend", {}, label), ...inputs, err);
  const field = {
    element,
    get: () => (element.querySelector("input:checked") || {}).value,
    error: (m) => { err.textContent = m; },
    focus: () => element.querySelector("input")?.focus(),
  };
  form.add(path, field);
  return field;
}

// S25/S37: an ordered choice of nodes (checked = preferred, in this order).
export function orderedOwners(form, path, label, nodes, chosen, help) {
  let order = [...chosen.filter((n) => nodes.includes(n)), ...nodes.filter((n) => !chosen.includes(n))];
  const checked = new Set(chosen);
  const list = el("ol", { class: "owners" });
  const err = el("p", { class: "field-error", "aria-live": "polite" });
  const draw = (focusKey = null) => {
    list.replaceChildren(...order.map((n, i) => {
      const id = uid("o");
      const box = el("input", { type: "checkbox", id, checked: checked.has(n), disabled: form.readonly, dataset: { node: n } });
      box.addEventListener("change", () => (box.checked ? checked.add(n) : checked.delete(n)));
      const up = el("button", { type: "button", class: "small", "aria-label": `Move ${n} up`, disabled: form.readonly || i === 0, dataset: { k: `up-${n}` } }, "▲");
      const down = el("button", { type: "button", class: "small", "aria-label": `Move ${n} down`, disabled: form.readonly || i === order.length - 1, dataset: { k: `down-${n}` } }, "▼");
      up.addEventListener("click", () => { order.splice(i - 1, 0, order.splice(i, 1)[0]); draw(`up-${n}`); });
      down.addEventListener("click", () => { order.splice(i + 1, 0, order.splice(i, 1)[0]); draw(`down-${n}`); });
      return el("li", {}, box, el("label", { for: id }, n), el("span", { class: "spacer" }), up, down);
    }));
    if (focusKey) (list.querySelector(`[data-k="${focusKey}"]:not([disabled])`) || list.querySelector("input"))?.focus();
  };
  draw();
  const element = el("fieldset", { class: "field", dataset: { field: path } }, el("legend", {}, label), help ? el("p", { class: "help" }, help) : null, list, err);
  const field = { element, get: () => order.filter((n) => checked.has(n)), error: (m) => { err.textContent = m; }, focus: () => list.querySelector("input")?.focus() };
  form.add(path, field);
  return field;
}

// S28: possible owners; every node checked means "every node" (null).
export function possibleOwners(form, path, label, nodes, chosen) {
  const all = chosen === null || chosen === undefined;
  const err = el("p", { class: "field-error", "aria-live": "polite" });
  const boxes = nodes.map((n) => {
    const id = uid("p");
    return el("div", { class: "radio" },
      el("input", { type: "checkbox", id, checked: all || chosen.includes(n), disabled: form.readonly, dataset: { node: n } }),
      el("label", { for: id }, n));
  });
  const element = el("fieldset", { class: "field", dataset: { field: path } }, el("legend", {}, label),
    el("p", { class: "help" }, "Nodes that may bring it online. All checked: every node, also nodes added later."), ...boxes, err);
  const field = {
    element,
    get: () => {
      const picked = [...element.querySelectorAll("input:checked")].map((i) => i.dataset.node);
      return picked.length === nodes.length ? null : picked;
    },
    error: (m) => { err.textContent = m; },
    focus: () => element.querySelector("input")?.focus(),
  };
  form.add(path, field);
  return field;
}

// Dependencies: AND of ORs. Each row is "one of these"; every row must hold.
export function dependencies(form, path, candidates, value) {
  const rows = el("div", { class: "dep-rows" });
  const err = el("p", { class: "field-error", "aria-live": "polite" });
  const addRow = (alts = []) => {
    const n = rows.children.length + 1;
    const legendId = uid("d");
    const boxes = candidates.map((c) => {
      const id = uid("d");
      return el("span", { class: "radio" },
        el("input", { type: "checkbox", id, checked: alts.includes(c), disabled: form.readonly, dataset: { res: c } }),
        el("label", { for: id }, c));
    });
    const remove = el("button", { type: "button", class: "small", "aria-label": `Remove dependency ${n}`, hidden: form.readonly }, "Remove");
    const row = el("fieldset", { class: "dep-row", "aria-labelledby": legendId },
      el("legend", { id: legendId }, n === 1 ? "Depends on one of" : "and on one of"), ...boxes, remove);
    remove.addEventListener("click", () => { row.remove(); });
    rows.append(row);
  };
  for (const alts of value || []) addRow(alts);
  const add = el("button", { type: "button", hidden: form.readonly || !candidates.length, onclick: () => addRow() }, "Add dependency");
  const element = el("div", { class: "field", dataset: { field: path } },
    el("p", { class: "help" }, candidates.length
      ? "A resource comes online after what it depends on, and goes offline before it. Only resources of the same group."
      : "No other resource in this group to depend on."),
    rows, add, err);
  const field = {
    element,
    get: () => [...rows.querySelectorAll(".dep-row")]
      .map((r) => [...r.querySelectorAll("input:checked")].map((i) => i.dataset.res))
      .filter((alts) => alts.length),
    error: (m) => { err.textContent = m; },
    focus: () => (rows.querySelector("input") || add).focus(),
  };
  form.add(path, field);
  return field;
}

// A resource type's private properties (S26), from its schema.
export function typeProperties(form, type, values) {
  const out = el("div", {});
  if (!type) return out;
  for (const spec of type.properties || []) {
    const path = `properties.${spec.name}`;
    const current = values && spec.name in values ? values[spec.name] : undefined;
    const help = [spec.description, spec.default !== null && spec.default !== undefined && spec.default !== "" && !(Array.isArray(spec.default) && !spec.default.length) ? `default ${JSON.stringify(spec.default)}` : null]
      .filter(Boolean).join(" · ");
    const label = spec.name.replaceAll("_", " ");
    const skipEmpty = (v) => !spec.required && String(v).trim() === "";
    const placeholder = typeof spec.default === "string" || typeof spec.default === "number" ? String(spec.default) : null;
    if (spec.kind === "bool") {
      out.append(checkbox(form, path, label, current ?? spec.default ?? false, { help }).element);
    } else if (spec.choices && spec.choices.length) {
      out.append(select(form, path, label, current ?? spec.default ?? "", [["", "(default)"], ...spec.choices.map((c) => [c, c])], { help, required: spec.required }).element);
      form.fields.get(path).skip = () => form.fields.get(path).get() === "";
    } else if (spec.kind === "int") {
      const f = int(form, path, label, current ?? "", { help, placeholder, required: spec.required, min: spec.minimum, max: spec.maximum, skip: skipEmpty });
      out.append(f.element);
    } else if (spec.kind === "list") {
      const f = text(form, path, label, (current || []).join("\n"), {
        help: `${help ? `${help} · ` : ""}one entry a line`, multiline: true, skip: skipEmpty,
        parse: (v) => v.split("\n").map((x) => x.trim()).filter(Boolean),
      });
      out.append(f.element);
    } else {
      out.append(text(form, path, label, current ?? "", { help, placeholder, required: spec.required, skip: skipEmpty, multiline: spec.name.includes("command") }).element);
    }
  }
  if (!(type.properties || []).length) out.append(el("p", { class: "muted" }, "This type has no properties of its own."));
  return out;
}

// Tabs with the ARIA tabs pattern: arrows move between tabs.
export function tabs(pages) {
  const list = el("div", { role: "tablist", class: "tabs" });
  const panels = [];
  const buttons = pages.map(([name, content], i) => {
    const tabId = uid("tab");
    const panelId = uid("panel");
    const button = el("button", { type: "button", role: "tab", id: tabId, "aria-controls": panelId, "aria-selected": i === 0 ? "true" : "false", tabindex: i === 0 ? "0" : "-1" }, name);
    panels.push(el("div", { role: "tabpanel", id: panelId, "aria-labelledby": tabId, hidden: i !== 0, class: "tabpanel" }, content));
    return button;
  });
  const show = (i, focus = true) => {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      panels[j].hidden = i !== j;
    });
    if (focus) buttons[i].focus();
  };
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => show(i));
    b.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") { e.preventDefault(); show((i + 1) % buttons.length); }
      if (e.key === "ArrowLeft") { e.preventDefault(); show((i - 1 + buttons.length) % buttons.length); }
    });
  });
  list.append(...buttons);
  const element = el("div", { class: "tabset" }, list, ...panels);
  return { element, show, panelOf: (node) => panels.findIndex((p) => p.contains(node)) };
}
