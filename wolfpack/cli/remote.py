"""The cluster through a node's REST API (``wolfpack --api URL[,URL...]``).

:class:`ApiCluster` implements :class:`~wolfpack.store.cluster.Cluster`, so every verb built
on it works unchanged over the API: reads are ``GET /api/v1/cluster`` (plus ``/intents``)
parsed back into a Snapshot; a request is one ``POST`` (the server checks it, once);
``update_config(change)`` computes ``change(current)`` here and sends the difference per
object (POST new ones, PATCH changed ones as a JSON merge patch, DELETE removed ones).

A multi-object change is therefore **not one transaction** over the API: each object is
(the server validates the whole configuration for each write and refuses a bad one with
nothing changed), so a change refused half-way leaves the objects before it written.
Cluster settings have no API route: changing them needs the cluster database.

The next URL is tried when one does not answer (connection error) or answers 5xx; the
API's error JSON becomes the same WolfpackError it was on the server, so the CLI prints the
same message and exit code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from wolfpack import errors
from wolfpack.admin.nouns import BY_KIND
from wolfpack.cli.apiclient import ApiTransport
from wolfpack.errors import ValidationError
from wolfpack.model import codec
from wolfpack.model.config import ClusterConfig, ClusterSettings
from wolfpack.model.rename import Renamable
from wolfpack.model.snapshot import Intent, IntentKind, NodeAdmin, Outcome, Snapshot
from wolfpack.store.cluster import ConfigCheck, RequestCheck
from wolfpack.store.repository import STATE_TYPES

#: objects are created in this order and deleted in the reverse one (a resource needs its
#: group and type, an interface its node and network)
CREATE_ORDER = ("types", "nodes", "networks", "interfaces", "groups", "resources")
_INTENT_ROUTES: Mapping[IntentKind, str] = {
    IntentKind.MOVE_GROUP: "groups/{}/move",
    IntentKind.ONLINE_GROUP: "groups/{}/online",
    IntentKind.OFFLINE_GROUP: "groups/{}/offline",
    IntentKind.ONLINE_RESOURCE: "resources/{}/online",
    IntentKind.OFFLINE_RESOURCE: "resources/{}/offline",
    IntentKind.FAIL_RESOURCE: "resources/{}/fail",
    IntentKind.CHANGE_GROUP: "resources/{}/move",
}


def needs_database(what: str) -> ValidationError:
    return ValidationError.single("api", f"{what} needs the cluster database: drop --api")


class ApiCluster:
    """The :class:`~wolfpack.store.cluster.Cluster` over the REST API that ``api`` reaches
    (any node that answers)."""

    def __init__(self, api: ApiTransport) -> None:
        self._api = api
        self.urls = api.urls

    def close(self) -> None:
        self._api.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """``method path`` on the first API that answers without a server error."""
        return self._api.call(method, path, body)

    # -- reads ----------------------------------------------------------------------------

    def read_snapshot(self) -> Snapshot:
        doc = self.call("GET", "cluster")
        pending = [d for d in self.call("GET", "intents") if d.get("status") == "pending"]
        return snapshot_from(doc, pending)

    def load_config(self) -> tuple[ClusterConfig, int]:
        snap = self.read_snapshot()
        return snap.config, snap.revision

    def list_intents(self) -> tuple[Intent, ...]:
        return self.read_snapshot().intents

    def outcome(self, intent_id: str) -> Outcome | None:
        doc = self.call("GET", f"intents/{intent_id}")
        result = doc.get("outcome") if isinstance(doc, dict) else None
        return codec.parse(Outcome, result) if isinstance(result, dict) else None

    # -- writes ---------------------------------------------------------------------------

    def update_config(
        self,
        change: Callable[[ClusterConfig], ClusterConfig],
        *,
        expected_epoch: int | None = None,
        check: ConfigCheck | None = None,
    ) -> ClusterConfig:
        """``change(current)`` sent as one request per changed object (see the module).
        ``check`` is the server's: each DELETE runs its guard there, in the server's own
        transaction."""
        current, epoch = self.load_config()
        if expected_epoch is not None and expected_epoch != epoch:
            raise errors.ConflictError(
                f"the configuration changed since revision {expected_epoch}: re-read and retry"
            )
        new = change(current)
        if new.cluster != current.cluster:
            raise needs_database("changing the cluster settings")
        for kind in reversed(CREATE_ORDER):
            old_objs, new_objs = getattr(current, kind), getattr(new, kind)
            for name in _delete_order(kind, current, set(old_objs) - set(new_objs)):
                self.call("DELETE", f"{kind}/{name}")
        for kind in CREATE_ORDER:
            old_objs, new_objs = getattr(current, kind), getattr(new, kind)
            for name in _create_order(kind, new, list(new_objs)):
                if name not in old_objs:
                    self.call("POST", kind, codec.dump(new_objs[name], exclude_defaults=False))
                elif new_objs[name] != old_objs[name]:
                    self.call(
                        "PATCH", f"{kind}/{name}", merge_patch_for(old_objs[name], new_objs[name])
                    )
        return new

    def rename(self, kind: Renamable, old: str, new: str) -> None:
        """One POST: the server checks and renames in its own transaction."""
        self.call("POST", f"{kind}/{quote(old, safe='')}/rename", {"name": new})

    def add_intent(
        self,
        kind: IntentKind,
        subject: str,
        target: str | None = None,
        *,
        check: RequestCheck | None = None,
    ) -> Intent:
        """One POST: the server checks the request (``check`` is not run here) and records
        it, or answers with the refusal."""
        route = _INTENT_ROUTES[IntentKind(kind)].format(subject)
        body: dict[str, Any] | None = None
        if kind is IntentKind.MOVE_GROUP:
            body = {"node": target}
        elif kind is IntentKind.CHANGE_GROUP:
            body = {"group": target}
        return _intent(self.call("POST", route, body))

    def write_node_admin(self, name: str, admin: NodeAdmin) -> None:
        verb = (
            "maintenance"
            if admin.maintenance
            else "drain"
            if admin.draining
            else "pause"
            if admin.paused
            else "resume"
        )
        self.call("POST", f"nodes/{name}/{verb}")

    def group_history(self, group: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.call("GET", f"groups/{quote(group, safe='')}/history")
        return doc


def _fields(cls: type[Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


def _intent(doc: Mapping[str, Any]) -> Intent:
    return codec.parse(Intent, _fields(Intent, doc))


def snapshot_from(doc: Mapping[str, Any], pending: Sequence[Mapping[str, Any]]) -> Snapshot:
    """The Snapshot from ``GET /api/v1/cluster`` (documents are codec dumps plus details)."""
    objects: dict[str, dict[str, Any]] = {}
    statuses: dict[str, dict[str, Any]] = {kind: {} for kind in STATE_TYPES}
    for kind, noun in BY_KIND.items():
        objects[kind] = {}
        for item in doc.get(kind, []):
            objects[kind][item["name"]] = codec.parse(noun.cls, _fields(noun.cls, item))
            if kind in STATE_TYPES and item.get("status") is not None:
                statuses[kind][item["name"]] = codec.parse(STATE_TYPES[kind], item["status"])
    cfg = ClusterConfig(cluster=codec.parse(ClusterSettings, doc.get("cluster", {})), **objects)
    intents = tuple(sorted((_intent(d) for d in pending), key=lambda i: i.id))
    return Snapshot(
        config=cfg,
        nodes=statuses["nodes"],
        groups=statuses["groups"],
        resources=statuses["resources"],
        intents=intents,
        revision=int(doc.get("revision", 0)),
    )


def merge_patch_for(old: Any, new: Any) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) from ``old``'s document to ``new``'s: ``null`` for a
    field or property that is gone."""
    return _diff(codec.dump(old, exclude_defaults=False), codec.dump(new, exclude_defaults=False))


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = _diff(before, value)
            if sub:
                patch[key] = sub
        elif value != before or key not in old:
            patch[key] = value
    return patch


def _create_order(kind: str, cfg: ClusterConfig, names: list[str]) -> list[str]:
    """Resources after what they depend on; other kinds by name."""
    if kind != "resources":
        return sorted(names)
    done: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in done or name in seen or name not in cfg.resources:
            return
        for dep in sorted(cfg.resources[name].depends_on):
            visit(dep, seen | {name})
        done.append(name)

    for name in sorted(names):
        visit(name, frozenset())
    return done


def _delete_order(kind: str, cfg: ClusterConfig, names: set[str]) -> list[str]:
    """Dependents before what they depend on."""
    return list(reversed(_create_order(kind, cfg, list(names))))
