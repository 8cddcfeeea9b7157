// S4: the system diagram. Nodes in a row with the groups they own, each cluster network a bus
// below them, each interface a line from its node to its network labelled with its address;
// a group's virtual addresses (IP Address resources) are written on the group. Buses and
// links take the colour of their state: a Failed interface is a red dashed link, a Down
// network a red dashed bus, a Partitioned one amber.
import { byName, groupOwner, groupState, nodeState, groupResources, resourceState, objState } from "./model.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function groupAddresses(doc, group) {
  return groupResources(doc, group)
    .map((r) => (r.properties && r.properties.address) || null)
    .filter((a) => a && /^[0-9.]+$/.test(String(a)));
}

export function topology(doc) {
  const nodes = byName(doc.nodes);
  const networks = byName(doc.networks);
  const interfaces = doc.interfaces || [];
  const groups = byName(doc.groups);
  const colW = 220;
  const boxW = 180;
  const left = 150;
  const top = 50;
  const perNode = new Map(nodes.map((n) => [n.name, groups.filter((g) => groupOwner(g) === n.name)]));
  const unowned = groups.filter((g) => !groupOwner(g) || !perNode.has(groupOwner(g)));
  const maxGroups = Math.max(1, ...[...perNode.values()].map((g) => g.length));
  const boxH = 46 + maxGroups * 30;
  const busTop = top + boxH + 60;
  const busGap = 64;
  const width = left + Math.max(1, nodes.length) * colW + 20;
  const height = busTop + Math.max(0, networks.length - 1) * busGap + (unowned.length ? 90 : 30);
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "topology",
    "aria-label": `Topology: ${nodes.length} nodes, ${networks.length} networks, ${groups.length} groups`,
  });
  svg.append(s("title", {}, `Cluster ${(doc.cluster && doc.cluster.name) || ""} topology`));
  svg.append(s("text", { x: 10, y: 24, class: "topo-title" }, `Cluster ${(doc.cluster && doc.cluster.name) || ""}`));
  // Legend: the colour of each network role (S15).
  ["mixed", "private", "public"].forEach((role, i) => {
    const x = width - 250 + i * 80;
    svg.append(s("line", { x1: x, y1: 20, x2: x + 22, y2: 20, class: `topo-bus role-${role}` }));
    svg.append(s("text", { x: x + 28, y: 24, class: "topo-sub" }, role));
  });
  const nodeX = new Map();
  nodes.forEach((n, i) => nodeX.set(n.name, left + i * colW + (colW - boxW) / 2));

  // Networks first (underneath), then interface lines, then node boxes on top.
  networks.forEach((net, j) => {
    const y = busTop + j * busGap;
    const st = objState(net) || "Unknown";
    const bus = s("line", { x1: left - 10, y1: y, x2: width - 20, y2: y, class: `topo-bus role-${net.role} state-${st}` });
    bus.append(s("title", {}, `${net.name}: ${st}${net.reason ? ` (${net.reason})` : ""}`));
    svg.append(bus);
    svg.append(s("text", { x: 10, y: y - 6, class: "topo-net" }, net.name));
    svg.append(s("text", { x: 10, y: y + 14, class: `topo-sub topo-netstate state-${st}` }, `${net.subnet} · ${net.role} · ${st}`));
  });
  for (const itf of interfaces) {
    const x0 = nodeX.get(itf.node);
    const j = networks.findIndex((n) => n.name === itf.network);
    if (x0 === undefined || j < 0) continue;
    // Links to lower buses run further left, so no link crosses an address label.
    const x = x0 + 30 + (networks.length - 1 - j) * 24;
    const y = busTop + j * busGap;
    // A white halo under the link: where it crosses another network's bus, a gap shows
    // that it is not connected there.
    svg.append(s("line", { x1: x, y1: top + boxH, x2: x, y2: y - 4, class: "topo-halo" }));
    const st = objState(itf) || "Unknown";
    const g = s("g", { class: `topo-itf state-${st}`, "data-interface": itf.name });
    g.append(s("title", {}, `${itf.name}: ${st}${itf.reason ? ` (${itf.reason})` : ""}`));
    g.append(s("line", { x1: x, y1: top + boxH, x2: x, y2: y, class: "topo-link" }));
    g.append(s("circle", { cx: x, cy: y, r: 4, class: "topo-dot" }));
    g.append(s("text", { x: x + 6, y: y - 6, class: "topo-addr" }, itf.address));
    svg.append(g);
  }
  for (const n of nodes) {
    const x = nodeX.get(n.name);
    const st = nodeState(n);
    const g = s("g", { class: `topo-node state-${st}` });
    g.append(s("rect", { x, y: top, width: boxW, height: boxH, rx: 8, class: "topo-box" }));
    g.append(s("text", { x: x + 10, y: top + 22, class: "topo-name" }, n.name));
    g.append(s("text", { x: x + boxW - 10, y: top + 22, class: "topo-state", "text-anchor": "end" }, st));
    (perNode.get(n.name) || []).forEach((grp, k) => drawGroup(doc, g, grp, x + 10, top + 34 + k * 30, boxW - 20));
    svg.append(g);
  }
  if (unowned.length) {
    const y = height - 50;
    svg.append(s("text", { x: 10, y: y + 18, class: "topo-sub" }, "No owner:"));
    unowned.forEach((grp, k) => drawGroup(doc, svg, grp, left + k * 170, y, 160));
  }
  const wrap = document.createElement("div");
  wrap.className = "topology-wrap";
  wrap.append(svg);
  return wrap;
}

function drawGroup(doc, parent, grp, x, y, w) {
  const st = groupState(grp);
  const addrs = groupAddresses(doc, grp.name);
  const online = groupResources(doc, grp.name).filter((r) => resourceState(r) === "Online").length;
  const g = s("g", { class: `topo-group state-${st}` });
  g.append(s("rect", { x, y, width: w, height: 24, rx: 12, class: "topo-pill" }));
  const label = `${grp.name}${addrs.length ? ` · ${addrs.join(", ")}` : ""}`;
  g.append(s("text", { x: x + 10, y: y + 16, class: "topo-gname" }, label));
  g.append(s("title", {}, `${grp.name}: ${st}, ${online} of ${groupResources(doc, grp.name).length} resources online`));
  parent.append(g);
}
