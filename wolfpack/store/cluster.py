"""The cluster as the CLI and :mod:`wolfpack.admin` use it: local or over the REST API.

Two implementations: :class:`~wolfpack.store.repository.ClusterDB` (the cluster database
itself) and :class:`~wolfpack.cli.remote.ApiCluster` (any node's REST API, which runs
the same ``admin`` functions on its own ``ClusterDB``). What only the database can do
(create the cluster, tokens, import, watches) is not here: those verbs open a ``ClusterDB``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias

from wolfpack.model.config import ClusterConfig
from wolfpack.model.rename import Renamable
from wolfpack.model.snapshot import Intent, IntentKind, NodeAdmin, Outcome, Snapshot
from wolfpack.store.base import Compare
from wolfpack.store.repository import DatabaseRead, RequestCheck

__all__ = ["Cluster", "ConfigCheck", "RequestCheck"]

#: Judges the read a configuration change starts from: raises if the change may not happen,
#: else returns the conditions (compares) under which that verdict holds.
ConfigCheck: TypeAlias = Callable[[DatabaseRead], Sequence[Compare]]


class Cluster(Protocol):
    def read_snapshot(self) -> Snapshot:
        """Configuration, observed state and pending requests, from one consistent read."""
        ...

    def load_config(self) -> tuple[ClusterConfig, int]:
        """The configuration and its epoch (a later ``update_config`` may require it)."""
        ...

    def list_intents(self) -> tuple[Intent, ...]:
        """Pending requests, oldest first."""
        ...

    def update_config(
        self,
        change: Callable[[ClusterConfig], ClusterConfig],
        *,
        expected_epoch: int | None = None,
        check: ConfigCheck | None = None,
    ) -> ClusterConfig:
        """Apply ``change`` to the current configuration; the whole result is validated and
        a bad one changes nothing (over the API: per object, see ``ApiCluster``). ``check``
        judges the read the change starts from and returns the conditions its verdict
        needs in the transaction (a delete guard, M5); over the API the server runs its
        own (the same ``admin`` function)."""
        ...

    def rename(self, kind: Renamable, old: str, new: str) -> object:
        """Rename a group or resource with every reference to it and its status, in one
        transaction (:mod:`wolfpack.model.rename`; over the API the server does it). What
        it returns is the implementation's (the database: the configuration as stored)."""
        ...

    def add_intent(
        self,
        kind: IntentKind,
        subject: str,
        target: str | None = None,
        *,
        check: RequestCheck | None = None,
    ) -> Intent:
        """Record a request for the coordinator once ``check`` passed on the current
        snapshot. Over the API the server runs its own check (the same
        :func:`wolfpack.admin.requests.check_request`), so the client reads nothing first."""
        ...

    def outcome(self, intent_id: str) -> Outcome | None:
        """The coordinator's answer, or None yet."""
        ...

    def write_node_admin(self, name: str, admin: NodeAdmin) -> None:
        """Store a configured node's pause/drain flags (``NotFoundError``: no such node)."""
        ...

    def group_history(self, group: str) -> dict[str, Any]:
        """The group's failover timelines: the one under way and the kept ones
        (:func:`wolfpack.model.timeline.history_document`; ``NotFoundError``: no such group)."""
        ...
