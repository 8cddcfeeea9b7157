// What can be done to each object: the items of its context menu. Read-only sessions get only
// the items that change nothing (S34: Take Offline is an administrator's request, not a failure).
import { enc, post, del } from "./api.js";
import { byName, changeGroupBlocker, groupOwner, groupResources, nodeState, nodeDraining, groupState } from "./model.js";
import { state, canWrite, act } from "./ui.js";
import { groupProperties, resourceProperties, nodeProperties, networkProperties, newGroup, newResource, validateCluster } from "./dialogs.js";

function confirmDelete(kind, name) {
  return window.confirm(`Delete ${kind} ${name}? This cannot be undone.`);
}

export function groupMenu(group) {
  const write = canWrite();
  const doc = state.doc;
  const owner = groupOwner(group);
  const items = [];
  if (write) {
    const st = groupState(group);
    items.push(
      { id: "online", label: "Bring Online", disabled: st === "Online", reason: st === "Online" ? "already online" : null,
        run: () => act(`Bring ${group.name} online`, () => post(`/groups/${enc(group.name)}/online`)) },
      { id: "offline", label: "Take Offline", disabled: st === "Offline", reason: st === "Offline" ? "already offline" : null,
        run: () => act(`Take ${group.name} offline`, () => post(`/groups/${enc(group.name)}/offline`)) },
      { separator: true },
      { heading: "Move Group to" },
    );
    const resources = groupResources(doc, group.name);
    for (const node of byName(doc.nodes)) {
      const ns = nodeState(node);
      const here = node.name === owner;
      // S28: every resource of the group must be allowed on the node.
      const barred = resources.filter((r) => Array.isArray(r.possible_owners) && !r.possible_owners.includes(node.name));
      const reason = here ? "it is the owner"
        : ns !== "Up" ? `node is ${ns}`
          : barred.length ? `not a possible owner of ${barred.map((r) => r.name).join(", ")}` : null;
      items.push({
        id: `move:${node.name}`,
        label: `↪ ${node.name}`,
        disabled: Boolean(reason),
        reason,
        run: () => act(`Move ${group.name} to ${node.name}`, () => post(`/groups/${enc(group.name)}/move`, { node: node.name })),
      });
    }
    items.push(
      { id: "move:best", label: "↪ best possible node",
        run: () => act(`Move ${group.name}`, () => post(`/groups/${enc(group.name)}/move`, { node: null })) },
      { separator: true },
      { id: "new-resource", label: "New Resource…", run: () => newResource(group.name) },
      { id: "delete", label: "Delete",
        run: () => confirmDelete("group", group.name) && act(`Delete group ${group.name}`, () => del(`/groups/${enc(group.name)}`)) },
      { separator: true },
    );
  }
  items.push({ id: "properties", label: "Properties", run: () => groupProperties(group.name) });
  return items;
}

export function resourceMenu(res) {
  const write = canWrite();
  const doc = state.doc;
  const items = [];
  if (write) {
    const path = `/resources/${enc(res.name)}`;
    const blocker = changeGroupBlocker(doc, res);
    items.push(
      { id: "online", label: "Bring Online", run: () => act(`Bring ${res.name} online`, () => post(`${path}/online`)) },
      { id: "offline", label: "Take Offline", run: () => act(`Take ${res.name} offline`, () => post(`${path}/offline`)) },
      { id: "fail", label: "Initiate Failure", run: () => act(`Initiate failure of ${res.name}`, () => post(`${path}/fail`)) },
      { separator: true },
      { heading: "Change Group to" },
    );
    const others = byName(doc.groups).filter((g) => g.name !== res.group);
    if (!others.length) items.push({ id: "change-group", label: "(no other group)", disabled: true, reason: "create another group first" });
    for (const g of others) {
      items.push({
        id: `change-group:${g.name}`,
        label: `⇢ ${g.name}`,
        disabled: Boolean(blocker),
        reason: blocker,
        run: () => act(`Change group of ${res.name} to ${g.name}`, () => post(`${path}/move`, { group: g.name })),
      });
    }
    items.push(
      { separator: true },
      { id: "delete", label: "Delete",
        run: () => confirmDelete("resource", res.name) && act(`Delete resource ${res.name}`, () => del(path)) },
      { separator: true },
    );
  }
  items.push({ id: "properties", label: "Properties", run: () => resourceProperties(res.name) });
  return items;
}

export function nodeMenu(node) {
  const items = [];
  if (canWrite()) {
    const st = nodeState(node);
    const path = `/nodes/${enc(node.name)}`;
    items.push(
      { id: "pause", label: "Pause Node", disabled: st !== "Up", reason: st !== "Up" ? `node is ${st}` : null,
        run: () => act(`Pause ${node.name}`, () => post(`${path}/pause`)) },
      { id: "resume", label: "Resume Node", disabled: st !== "Paused", reason: st !== "Paused" ? "node is not paused" : null,
        run: () => act(`Resume ${node.name}`, () => post(`${path}/resume`)) },
      { id: "drain", label: "Drain Node (move its groups away)", disabled: st !== "Up" && !(st === "Paused" && !nodeDraining(node)),
        run: () => act(`Drain ${node.name}`, () => post(`${path}/drain`)) },
      { separator: true },
    );
  }
  items.push({ id: "properties", label: "Properties", run: () => nodeProperties(node.name) });
  return items;
}

export function networkMenu(net) {
  return [{ id: "properties", label: "Properties", run: () => networkProperties(net.name) }];
}

export function folderMenu(id) {
  // Validating changes nothing: every role may.
  const validate = { id: "validate", label: "Validate Cluster…", run: () => validateCluster() };
  if (id === "cluster") return canWrite() ? [{ id: "new-group", label: "New Group…", run: () => newGroup() }, { separator: true }, validate] : [validate];
  if (!canWrite()) return [];
  if (id === "groups") return [{ id: "new-group", label: "New Group…", run: () => newGroup() }];
  if (id === "resources") return [{ id: "new-resource", label: "New Resource…", run: () => newResource(null) }];
  return [];
}

export function menuFor(kind, obj) {
  switch (kind) {
    case "groups":
      return groupMenu(obj);
    case "resources":
      return resourceMenu(obj);
    case "nodes":
      return nodeMenu(obj);
    case "networks":
      return networkMenu(obj);
    default:
      return [];
  }
}
