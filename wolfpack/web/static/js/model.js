// Reading the /api/v1/cluster document: states, owners and who depends on whom.

export function nodeState(node) {
  if (!node) return "Down";
  const status = node.status && typeof node.status === "object" ? node.status : {};
  const state = node.state || status.state || "Down";
  return status.draining && state === "Paused" ? "Paused" : state;
}

export function nodeDraining(node) {
  return Boolean(node && node.status && node.status.draining);
}

export function groupState(group) {
  return (group && group.state) || "Offline";
}

export function resourceState(res) {
  return (res && res.state) || "Offline";
}

export function objState(obj) {
  if (!obj) return "";
  if (typeof obj.state === "string") return obj.state;
  if (obj.status && typeof obj.status === "object" && obj.status.state) return obj.status.state;
  if (typeof obj.status === "string") return obj.status;
  return "";
}

// One icon per state, as in Cluster Administrator: the shape says it without colour too.
const ICONS = {
  Online: "●",
  Up: "●",
  Offline: "○",
  Down: "▼",
  Failed: "✖",
  Pending: "◐",
  OnlinePending: "◐",
  OfflinePending: "◑",
  PartialOnline: "◒",
  Paused: "❚❚",
  Joining: "◐",
  Partitioned: "◒",
  Unreachable: "◒",
  Unavailable: "○",
};

// What an interface's node reports about its link: "eth0 no-carrier".
export function linkText(itf) {
  const link = itf && itf.link;
  return link ? `${link.ifname || "—"} ${link.condition}` : "—";
}

export function stateBadge(state, extra = "") {
  const span = document.createElement("span");
  const key = state || "Unknown";
  span.className = `state state-${key}`;
  const icon = document.createElement("span");
  icon.className = "state-icon";
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = ICONS[key] || "?";
  span.append(icon, document.createTextNode(` ${key}${extra}`));
  return span;
}

export function byName(list) {
  return [...(list || [])].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

export function find(doc, kind, name) {
  return (doc[kind] || []).find((o) => o.name === name) || null;
}

export function groupResources(doc, group) {
  return byName((doc.resources || []).filter((r) => r.group === group));
}

export function dependsOn(res) {
  return new Set((res.dependencies || []).flat());
}

export function dependents(doc, name) {
  return (doc.resources || []).filter((r) => dependsOn(r).has(name)).map((r) => r.name);
}

export function formatDependencies(deps) {
  return (deps || [])
    .map((alts) => (alts.length > 1 ? `(${alts.join(" | ")})` : alts[0]))
    .join(" & ");
}

// Why a resource may not change group (S36), or null when it may.
export function changeGroupBlocker(doc, res) {
  const mine = [...dependsOn(res)];
  const theirs = dependents(doc, res.name);
  const parts = [];
  if (mine.length) parts.push(`it depends on ${mine.join(", ")}`);
  if (theirs.length) parts.push(`${theirs.join(", ")} depend${theirs.length > 1 ? "" : "s"} on it`);
  return parts.length ? `Not possible: ${parts.join(" and ")} (remove the dependencies first)` : null;
}

export function groupOwner(group) {
  return (group && (group.owner || (group.status && group.status.owner))) || null;
}
