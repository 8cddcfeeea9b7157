"""Renaming a group or a resource (S19; WSFC's ``(Get-ClusterGroup X).Name = "Y"``), pure.

A name is a key in the configuration and in the observed state, and other objects name it:
a group's resources by their ``group``, a resource's dependents in their dependency
expressions, pending requests by their subject. :func:`renamed` rewrites the configuration;
the store moves the status (and a group's failover history) to the new key in the same
transaction. :func:`rename_refusal` says when a rename must wait:

* a resource that may be running somewhere (Online, pending, or Failed on a node): its
  node's agent state, process records, cgroup and disk claim carry the old name, so it is
  renamed offline (take it offline, rename, bring it online);
* a group on its way to another node (a move or failover under way): the coordinator and
  the nodes are acting on its old name; wait until it has arrived;
* a pending request that names it: it would lose its subject.

A stable group — online or offline — renames at once: its resources keep their names and
their processes, and every node and the coordinator re-read the one transaction that moved
its configuration and its status together.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from wolfpack.errors import AlreadyExistsError, NotFoundError, RejectedError
from wolfpack.model.config import ClusterConfig
from wolfpack.model.snapshot import Snapshot
from wolfpack.model.states import ResourceState

__all__ = ["Renamable", "rename_refusal", "renamed"]

Renamable = Literal["groups", "resources"]


def renamed(cfg: ClusterConfig, kind: Renamable, old: str, new: str) -> ClusterConfig:
    """``cfg`` with object ``old`` of ``kind`` called ``new`` and every reference to it
    rewritten. NotFoundError / AlreadyExistsError for a missing source or a taken name."""
    objects = getattr(cfg, kind)
    label = kind[:-1]
    if old not in objects:
        raise NotFoundError(label, old)
    if new in objects:
        raise AlreadyExistsError(label, new)
    if kind == "groups":
        groups = {(new if n == old else n): g for n, g in cfg.groups.items()}
        groups[new] = dataclasses.replace(cfg.groups[old], name=new)
        resources = {
            n: dataclasses.replace(r, group=new) if r.group == old else r
            for n, r in cfg.resources.items()
        }
        return dataclasses.replace(cfg, groups=groups, resources=resources)
    resources = {}
    for name, res in cfg.resources.items():
        if name == old:
            resources[new] = dataclasses.replace(res, name=new)
            continue
        if old in res.depends_on:
            deps = tuple(
                tuple(new if d == old else d for d in clause) for clause in res.dependencies
            )
            res = dataclasses.replace(res, dependencies=deps)
        resources[name] = res
    return dataclasses.replace(cfg, resources=resources)


def rename_refusal(snap: Snapshot, kind: Renamable, name: str) -> RejectedError | None:
    """Why ``name`` may not be renamed now (see the module), or None."""
    pending = [
        i for i in snap.intents if i.subject == name and i.kind.is_group == (kind == "groups")
    ]
    if pending:
        return RejectedError(
            "REQUEST_PENDING",
            f"{kind[:-1]} {name!r} has a pending request ({pending[0].kind}): wait for its "
            "outcome (wolfpack intent list) or delete it, then rename",
        )
    if kind == "resources":
        status = snap.resource(name)
        if status.state.active and (status.state is not ResourceState.FAILED or status.node):
            where = f" on {status.node}" if status.node else ""
            return RejectedError(
                "RESOURCE_ACTIVE",
                f"resource {name!r} is {status.state}{where}: take it offline first "
                f"(wolfpack resource offline {name!r}), rename it, then bring it online",
            )
        return None
    transition = snap.group(name).transition
    if transition is not None:
        return RejectedError(
            "GROUP_IN_TRANSITION",
            f"group {name!r} is on its way to {transition.target} ({transition.kind}): "
            "rename it once it has arrived",
        )
    return None
