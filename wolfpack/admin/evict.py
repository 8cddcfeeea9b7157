"""``wolfpack node evict`` (Remove-ClusterNode, issue 10): the node, its etcd member, its
etcd users and its state, in that order of checks and then of changes, so that a refusal
changes nothing.

Refused: a node that owns groups (drain it first: ``NODE_OWNS_GROUPS``), a resource only it
may own (the field is named), the last voting etcd member (``LAST_VOTER``: that is
``cluster destroy``) and a removal that would leave the remaining voters without quorum
(``WOULD_LOSE_QUORUM``). The evicted host's own files stay until ``wolfpack cluster
destroy`` is run there (its wolfpackd stops being able to reach etcd at once).
"""

from __future__ import annotations

from typing import Any

from wolfpack.admin import members
from wolfpack.errors import NotFoundError, RejectedError
from wolfpack.model.joining import without_node
from wolfpack.store import etcd_auth, etcd_members
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.repository import ClusterDB


def evict(store: EtcdStore, db: ClusterDB, node: str) -> dict[str, Any]:
    """Evict ``node`` with the administrator's ``store`` (root) and ``db``; what was done."""
    snap = db.read_snapshot()
    cfg = snap.config
    member = next((m for m in etcd_members.members(store) if m.label == node), None)
    if node not in cfg.nodes and member is None:
        raise NotFoundError("node", node)
    owned = sorted(name for name, g in snap.groups.items() if g.owner == node)
    if owned:
        raise RejectedError(
            "NODE_OWNS_GROUPS",
            f"{node} owns {', '.join(owned)}: move them away first ('wolfpack node drain "
            f"{node}'), then evict it",
        )
    without_node(cfg, node)  # a resource only it may own: refused here, naming the field
    removal, member = members.check_removal(store, node)
    removed = members.remove(store, member) if member is not None else False
    users = [u for u in (f"node:{node}", f"api:{node}") if etcd_auth.remove_user(store, u)]
    db.update_config(lambda c: without_node(c, node))
    keys = db.keys
    for key in (keys.inventory(node), keys.api(node), keys.node_admin(node)):
        store.delete(key)
    return {
        "node": node,
        "etcd_member_removed": removed,
        "reason": removal.reason,
        "users_removed": users,
    }
