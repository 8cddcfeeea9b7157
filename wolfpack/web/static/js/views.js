// The right pane: a list for whatever is selected in the tree, every row with its state,
// owner and a "⋯" button (the same menu as a right click).
import {
  byName, find, groupResources, nodeState, nodeDraining, groupState, resourceState, objState,
  groupOwner, formatDependencies, stateBadge, linkText,
} from "./model.js";
import { state, el, canWrite } from "./ui.js";
import { openMenu } from "./menu.js";
import { menuFor, folderMenu } from "./actions.js";
import { groupProperties, resourceProperties, nodeProperties, networkProperties, newGroup, newResource, validateCluster } from "./dialogs.js";
import { topology } from "./topology.js";

const PROPERTIES = { groups: groupProperties, resources: resourceProperties, nodes: nodeProperties, networks: networkProperties };

function moreButton(kind, obj) {
  const button = el("button", {
    type: "button", class: "more", "aria-haspopup": "menu", "aria-expanded": "false",
    "aria-label": `Actions for ${kind.replace(/s$/, "")} ${obj.name}`,
    dataset: { focusKey: `more:${kind}:${obj.name}` },
  }, "⋯");
  button.addEventListener("click", (e) => {
    e.stopPropagation();
    openMenu(menuFor(kind, obj), `Actions for ${obj.name}`, button);
  });
  return button;
}

// columns: [[header, (obj) => cell]]
function table(kind, objects, columns, caption) {
  const cls = (i) => (columns[i][2] ? "wide-only" : null);
  const head = el("tr", {}, ...columns.map(([h], i) => el("th", { scope: "col", class: cls(i) }, h)), el("th", { scope: "col", class: "col-more" }, el("span", { class: "sr-only" }, "Actions")));
  const rows = objects.map((obj) => {
    const tr = el("tr", { dataset: { kind, name: obj.name }, tabindex: "-1" },
      ...columns.map(([, cell], i) => (i === 0 ? el("th", { scope: "row" }, cell(obj)) : el("td", { class: cls(i) }, cell(obj)))),
      el("td", { class: "col-more" }, moreButton(kind, obj)),
    );
    tr.addEventListener("contextmenu", (e) => {
      e.preventDefault();
      openMenu(menuFor(kind, obj), `Actions for ${obj.name}`, tr.querySelector(".more"), { x: e.clientX, y: e.clientY });
    });
    if (PROPERTIES[kind]) tr.addEventListener("dblclick", () => PROPERTIES[kind](obj.name));
    return tr;
  });
  const t = el("table", { class: "list", "aria-label": caption },
    el("thead", {}, head),
    el("tbody", {}, ...rows));
  if (!objects.length) return el("div", {}, t, el("p", { class: "empty" }, `None (${caption}).`));
  return el("div", { class: "table-wrap" }, t);
}

const owner = (g) => groupOwner(g) || "—";
const list = (xs) => (xs && xs.length ? xs.join(", ") : "—");

function groupsTable(groups, caption = "Groups") {
  return table("groups", groups, [
    ["Name", (g) => g.name],
    ["State", (g) => stateBadge(groupState(g))],
    ["Owner", owner],
    ["Preferred owners", (g) => (g.preferred_owners && g.preferred_owners.length ? g.preferred_owners.join(", ") : "any node"), true],
    ["Resources", (g) => String(groupResources(state.doc, g.name).length), true],
    ["Description", (g) => g.description || "", true],
  ], caption);
}

function resourcesTable(resources, caption = "Resources") {
  return table("resources", resources, [
    ["Name", (r) => r.name],
    ["State", (r) => stateBadge(resourceState(r))],
    ["Owner", (r) => r.node || "—"],
    ["Group", (r) => r.group, true],
    ["Type", (r) => r.type, true],
    ["Restarts", (r) => String(((r.status && r.status.restarts) || []).length)],
    ["Depends on", (r) => formatDependencies(r.dependencies) || "—", true],
  ], caption);
}

function nodesTable(nodes) {
  return table("nodes", nodes, [
    ["Name", (n) => n.name],
    ["State", (n) => stateBadge(nodeState(n), nodeDraining(n) ? " (draining)" : "")],
    ["Id", (n) => String(n.id), true],
    ["Active groups", (n) => list(activeGroups(n.name).map((g) => g.name))],
    ["Description", (n) => n.description || "", true],
  ], "Nodes");
}

function interfacesTable(interfaces, caption) {
  return table("interfaces", interfaces, [
    ["Name", (i) => i.name],
    ["State", (i) => (objState(i) ? stateBadge(objState(i)) : "—")],
    ["Node", (i) => i.node],
    ["Network", (i) => i.network],
    ["Address", (i) => i.address],
    ["Link", linkText, true],
    ["Why", (i) => i.reason || "", true],
  ], caption);
}

function activeGroups(node) {
  return byName(state.doc.groups).filter((g) => groupOwner(g) === node);
}

function button(label, onclick, extra = {}) {
  return el("button", { type: "button", onclick, dataset: { focusKey: `button:${label}` }, ...extra }, label);
}

export function detailView() {
  const doc = state.doc;
  const id = state.selected;
  const write = canWrite();
  const clusterName = (doc.cluster && doc.cluster.name) || "cluster";
  if (id === "cluster") {
    return {
      title: `Cluster ${clusterName}`,
      actions: [
        write ? button("New Group…", () => newGroup(), { id: "new-group" }) : null,
        button("Validate Cluster…", () => validateCluster(), { id: "validate-cluster" }),
      ].filter(Boolean),
      body: el("div", {},
        el("p", { class: "muted" }, `Coordinator: ${doc.coordinator || "—"} · revision ${doc.revision ?? "—"}`),
        el("h3", {}, "Nodes"), nodesTable(byName(doc.nodes)),
        el("h3", {}, "Groups"), groupsTable(byName(doc.groups))),
    };
  }
  if (id === "groups") {
    return { title: "Groups", actions: write ? [button("New Group…", () => newGroup(), { id: "new-group" })] : [], body: groupsTable(byName(doc.groups)) };
  }
  if (id.startsWith("group:")) {
    const g = find(doc, "groups", id.slice(6));
    if (!g) return { title: "Gone", actions: [], body: el("p", {}, "This group no longer exists.") };
    return {
      title: `Group ${g.name}`,
      subtitle: [stateBadge(groupState(g)), ` on ${owner(g)}`],
      actions: [
        write ? button("New Resource…", () => newResource(g.name), { id: "new-resource" }) : null,
        button("Properties", () => groupProperties(g.name)),
        moreButton("groups", g),
      ].filter(Boolean),
      body: resourcesTable(groupResources(doc, g.name), `Resources of ${g.name}`),
    };
  }
  if (id === "resources") {
    return { title: "Resources", actions: write ? [button("New Resource…", () => newResource(null), { id: "new-resource" })] : [], body: resourcesTable(byName(doc.resources)) };
  }
  if (id === "config") {
    return {
      title: "Cluster Configuration",
      actions: [],
      body: el("dl", { class: "facts" },
        ...Object.entries(doc.cluster || {}).flatMap(([k, v]) => [el("dt", {}, k.replaceAll("_", " ")), el("dd", {}, String(v))])),
    };
  }
  if (id === "types") {
    return {
      title: "Resource Types",
      actions: [],
      body: table("types", byName(doc.types), [
        ["Name", (t) => t.name],
        ["Agent", (t) => t.agent],
        ["Properties", (t) => (t.properties || []).map((p) => p.name + (p.required ? "*" : "")).join(", ")],
        ["Description", (t) => t.description || "", true],
      ], "Resource types"),
    };
  }
  if (id === "networks") {
    return {
      title: "Networks",
      actions: [],
      body: table("networks", byName(doc.networks), [
        ["Name", (n) => n.name],
        ["State", (n) => (objState(n) ? stateBadge(objState(n)) : "—")],
        ["Subnet", (n) => n.subnet],
        ["Role", (n) => n.role],
        ["Interfaces", (n) => list(byName(doc.interfaces).filter((i) => i.network === n.name).map((i) => i.name)), true],
      ], "Networks"),
    };
  }
  if (id === "interfaces") {
    return { title: "Network Interfaces", actions: [], body: interfacesTable(byName(doc.interfaces), "Network interfaces") };
  }
  if (id.startsWith("network:")) {
    const n = find(doc, "networks", id.slice(8));
    if (!n) return { title: "Gone", actions: [], body: el("p", {}, "This network no longer exists.") };
    return {
      title: `Network ${n.name}`,
      subtitle: [stateBadge(objState(n)), ` ${n.subnet} · ${n.role}`],
      actions: [button("Properties", () => networkProperties(n.name)), moreButton("networks", n)],
      body: el("div", {},
        n.reason ? el("p", { class: "muted" }, n.reason) : null,
        interfacesTable(byName(doc.interfaces).filter((i) => i.network === n.name), `Interfaces on ${n.name}`)),
    };
  }
  if (id.startsWith("interface:")) {
    const i = find(doc, "interfaces", id.slice(10));
    if (!i) return { title: "Gone", actions: [], body: el("p", {}, "This interface no longer exists.") };
    const heard = i.link && i.link.heard;
    const facts = [["State", objState(i) || "—"], ["Why", i.reason || "—"], ["Node", i.node],
      ["Network", i.network], ["Address", i.address], ["Link", linkText(i)],
      ["Heard on it", heard ? (heard.length ? heard.join(", ") : "nobody") : "— (no heartbeats)"]];
    return {
      title: `Interface ${i.name}`,
      subtitle: [stateBadge(objState(i))],
      actions: [],
      body: el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    };
  }
  if (id === "topology") {
    return { title: `Topology of ${clusterName}`, actions: [], body: topology(doc) };
  }
  if (id.startsWith("node:")) {
    const [, name, sub] = id.split(":");
    const n = find(doc, "nodes", name);
    if (!n) return { title: "Gone", actions: [], body: el("p", {}, "This node no longer exists.") };
    const groups = activeGroups(name);
    const resources = byName(doc.resources).filter((r) => r.node === name && resourceState(r) !== "Offline");
    if (sub === "groups") return { title: `Active Groups on ${name}`, actions: [], body: groupsTable(groups, `Active groups on ${name}`) };
    if (sub === "resources") return { title: `Active Resources on ${name}`, actions: [], body: resourcesTable(resources, `Active resources on ${name}`) };
    return {
      title: `Node ${name}`,
      subtitle: [stateBadge(nodeState(n), nodeDraining(n) ? " (draining)" : "")],
      actions: [button("Properties", () => nodeProperties(name)), moreButton("nodes", n)],
      body: el("div", {},
        el("h3", {}, "Active groups"), groupsTable(groups, `Active groups on ${name}`),
        el("h3", {}, "Active resources"), resourcesTable(resources, `Active resources on ${name}`),
        el("h3", {}, "Interfaces"),
        interfacesTable(byName(doc.interfaces).filter((i) => i.node === name), `Interfaces of ${name}`)),
    };
  }
  return { title: "", actions: [], body: el("p", {}, "Select an item in the tree.") };
}

export function renderDetail() {
  const view = detailView();
  const title = document.getElementById("detail-title");
  title.replaceChildren(view.title, ...(view.subtitle ? [el("span", { class: "subtitle" }, ...view.subtitle)] : []));
  document.getElementById("detail-actions").replaceChildren(...view.actions);
  document.getElementById("detail-body").replaceChildren(view.body);
  // The folder's own menu (New Group…) on a right click in the empty pane.
  document.getElementById("detail").oncontextmenu = (e) => {
    if (e.target.closest("tr,button")) return;
    const items = folderMenu(state.selected);
    if (!items.length) return;
    e.preventDefault();
    openMenu(items, `Actions for ${view.title}`, null, { x: e.clientX, y: e.clientY });
  };
}
