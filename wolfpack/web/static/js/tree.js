// The tree of the seed (S19, S21, S31–S33): the cluster with Groups, Resources and Cluster
// Configuration, then every node with its Active Groups and Active Resources. An ARIA tree
// with one tab stop: arrows move, Enter/Space select, Right/Left open and close.
import { byName, nodeState, groupState, objState, stateBadge } from "./model.js";
import { icon } from "./icons.js";
import { state, el } from "./ui.js";
import { openMenu } from "./menu.js";
import { folderMenu, menuFor } from "./actions.js";

export function treeModel(doc) {
  const name = (doc.cluster && doc.cluster.name) || "cluster";
  const groups = byName(doc.groups).map((g) => ({
    id: `group:${g.name}`, label: g.name, kind: "groups", obj: g, badge: groupState(g), icon: "group",
  }));
  // Each network and interface with its state (WSFC: Up, Partitioned, Down, Failed...).
  const networks = byName(doc.networks).map((n) => ({
    id: `network:${n.name}`, label: n.name, kind: "networks", obj: n, badge: objState(n) || null, icon: "network",
  }));
  const interfaces = byName(doc.interfaces).map((i) => ({
    id: `interface:${i.name}`, label: i.name, kind: "interfaces", obj: i, badge: objState(i) || null, icon: "interface",
  }));
  const nodes = byName(doc.nodes).map((n) => ({
    id: `node:${n.name}`, label: n.name, kind: "nodes", obj: n, badge: nodeState(n), icon: "node",
    children: [
      { id: `node:${n.name}:groups`, label: "Active Groups", icon: "group" },
      { id: `node:${n.name}:resources`, label: "Active Resources", icon: "resource" },
    ],
  }));
  return [
    {
      id: "cluster", label: name, icon: "cluster", children: [
        { id: "groups", label: "Groups", folder: true, children: groups },
        { id: "resources", label: "Resources", folder: true },
        { id: "config", label: "Cluster Configuration", folder: true, children: [
          { id: "types", label: "Resource Types", icon: "type" },
          { id: "networks", label: "Networks", icon: "network", children: networks },
          { id: "interfaces", label: "Network Interfaces", icon: "interface", children: interfaces },
        ] },
        { id: "topology", label: "Topology diagram", icon: "topology" },
      ],
    },
    ...nodes,
  ];
}

function flatten(items, out = [], parent = null) {
  for (const item of items) {
    item.parent = parent;
    out.push(item);
    if (item.children) flatten(item.children, out, item);
  }
  return out;
}

let index = new Map();

export function findItem(id) {
  return index.get(id) || null;
}

export function renderTree() {
  const tree = document.getElementById("tree");
  // A live update redraws the tree: the keyboard stays on the item it was on.
  const active = document.activeElement;
  const focusedLi = active && tree.contains(active) ? active.closest("[role=treeitem]") : null;
  const focusedId = focusedLi ? focusedLi.dataset.id : null;
  const items = treeModel(state.doc);
  index = new Map(flatten(items).map((i) => [i.id, i]));
  if (!index.has(state.selected)) state.selected = "cluster";
  tree.replaceChildren(...items.map((item) => renderItem(item, 1)));
  if (focusedId) focusItem(document.getElementById(`ti-${focusedId}`) ? focusedId : state.selected);
}

function renderItem(item, level) {
  const expandable = Boolean(item.children && item.children.length);
  const open = expandable && state.expanded.has(item.id);
  const selected = item.id === state.selected;
  const label = el("span", { class: "tree-label" }, item.label);
  const row = el(
    "div",
    { class: "tree-row", style: `padding-left:${(level - 1) * 14 + 4}px` },
    el("span", {
      class: "tree-twisty", "aria-hidden": "true",
      onclick: (e) => { e.stopPropagation(); toggle(item.id); },
    }, expandable ? (open ? "▾" : "▸") : ""),
    icon(item.icon || "folder"),
    label,
    item.badge ? stateBadge(item.badge) : null,
  );
  const li = el(
    "li",
    {
      role: "treeitem",
      id: `ti-${item.id}`,
      "aria-level": level,
      "aria-selected": selected ? "true" : "false",
      "aria-expanded": expandable ? String(open) : null,
      "aria-label": item.badge ? `${item.label}, ${item.badge}` : item.label,
      tabindex: selected ? "0" : "-1",
      dataset: { id: item.id },
      class: selected ? "selected" : null,
    },
    row,
  );
  row.addEventListener("click", () => select(item.id, true));
  li.addEventListener("contextmenu", (e) => {
    e.preventDefault();
    e.stopPropagation();
    select(item.id, false);
    itemMenu(item, li, { x: e.clientX, y: e.clientY });
  });
  if (open) {
    li.append(el("ul", { role: "group" }, ...item.children.map((c) => renderItem(c, level + 1))));
  }
  return li;
}

function itemMenu(item, anchor, point = null) {
  const items = item.obj ? menuFor(item.kind, item.obj) : folderMenu(item.id);
  openMenu(items, `Actions for ${item.label}`, anchor, point);
}

export function select(id, focus = true) {
  state.selected = id;
  document.dispatchEvent(new CustomEvent("wolfpack:selected"));
  state.render();
  if (focus) focusItem(id);
}

function toggle(id) {
  if (state.expanded.has(id)) state.expanded.delete(id);
  else state.expanded.add(id);
  renderTree();
  focusItem(id);
}

function focusItem(id) {
  const li = document.getElementById(`ti-${id}`);
  if (li) {
    for (const other of document.querySelectorAll("#tree [role=treeitem][tabindex='0']")) other.tabIndex = -1;
    li.tabIndex = 0;
    li.focus();
  }
}

function visibleIds() {
  return [...document.querySelectorAll("#tree [role=treeitem]")].map((li) => li.dataset.id);
}

function onKey(event) {
  const li = event.target.closest && event.target.closest("[role=treeitem]");
  if (!li || event.target !== li) return;
  const id = li.dataset.id;
  const item = findItem(id);
  const ids = visibleIds();
  const i = ids.indexOf(id);
  const expandable = item && item.children && item.children.length;
  const key = event.key;
  let handled = true;
  if (key === "ArrowDown") focusItem(ids[Math.min(i + 1, ids.length - 1)]);
  else if (key === "ArrowUp") focusItem(ids[Math.max(i - 1, 0)]);
  else if (key === "Home") focusItem(ids[0]);
  else if (key === "End") focusItem(ids[ids.length - 1]);
  else if (key === "ArrowRight") {
    if (expandable && !state.expanded.has(id)) toggle(id);
    else if (expandable) focusItem(item.children[0].id);
  } else if (key === "ArrowLeft") {
    if (expandable && state.expanded.has(id)) toggle(id);
    else if (item && item.parent) focusItem(item.parent.id);
  } else if (key === "Enter" || key === " ") select(id, true);
  else if (key === "ContextMenu" || (key === "F10" && event.shiftKey)) itemMenu(item, li);
  else handled = false;
  if (handled) event.preventDefault();
}

export function installTree() {
  document.getElementById("tree").addEventListener("keydown", onKey);
}
