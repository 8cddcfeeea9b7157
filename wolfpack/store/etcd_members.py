"""etcd's membership over the HTTP gateway: list, add a learner, promote, remove (issue 10).

With authentication on, etcd 3.4 lets only users with the ``root`` role change the
membership (and list it), so these calls need administrator credentials
(``admin:<name>``; where they live on a node: docs/security.md). A member is added as a
learner (it receives the log, does not vote) and promoted once it has caught up; which ones
to promote is :mod:`wolfpack.policy.voters`' decision (:mod:`wolfpack.admin.members`).

:func:`probe` says which members answer on their client URLs: a member that was added but
never started has no name and no client URL yet, and counts as unhealthy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from wolfpack.errors import StoreError
from wolfpack.store.etcd import EtcdStore
from wolfpack.store.etcd_tls import EtcdCredentials

#: how long one member's status may take in :func:`probe`
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class EtcdMember:
    """One member as ``/v3/cluster/member/list`` has it (``name`` is empty until the
    member first starts and publishes itself)."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    learner: bool

    @property
    def label(self) -> str:
        """Its name, or its peer URL while it has none yet."""
        return self.name or (self.peer_urls[0] if self.peer_urls else f"{self.id:x}")


def _member(raw: dict[str, object]) -> EtcdMember:
    def urls(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        return tuple(str(u) for u in value) if isinstance(value, list) else ()

    return EtcdMember(
        id=int(str(raw.get("ID", 0))),
        name=str(raw.get("name", "")),
        peer_urls=urls("peerURLs"),
        client_urls=urls("clientURLs"),
        learner=bool(raw.get("isLearner", False)),
    )


def members(store: EtcdStore) -> list[EtcdMember]:
    """Every member, voters and learners."""
    reply = store.call_api("cluster/member/list", {})
    raw = reply.get("members", [])
    return [_member(m) for m in raw if isinstance(m, dict)]


def find(store: EtcdStore, name: str) -> EtcdMember | None:
    """The member named ``name`` (or whose peer URL is ``name``)."""
    return next((m for m in members(store) if name in (m.name, *m.peer_urls)), None)


def add_learner(store: EtcdStore, peer_url: str) -> tuple[EtcdMember, list[EtcdMember]]:
    """Add a learner that will listen on ``peer_url``; the new member and the whole list
    after it (what ``--initial-cluster`` of the new member must name). Adding one whose peer
    URL is already a member returns that member (re-running a join that stopped half-way)."""
    existing = next((m for m in members(store) if peer_url in m.peer_urls), None)
    if existing is not None:
        return existing, members(store)
    reply = store.call_api("cluster/member/add", {"peerURLs": [peer_url], "isLearner": True})
    added = reply.get("member")
    if not isinstance(added, dict):
        raise StoreError(f"etcd did not say which member it added: {reply!r}")
    return _member(added), [_member(m) for m in reply.get("members", []) if isinstance(m, dict)]


def promote(store: EtcdStore, member_id: int) -> None:
    """Make a learner a voter; etcd refuses one that has not caught up with the leader
    (StoreError saying so)."""
    store.call_api("cluster/member/promote", {"ID": str(member_id)})


def remove(store: EtcdStore, member_id: int) -> bool:
    """Remove a member (False: there was no such member)."""
    try:
        store.call_api("cluster/member/remove", {"ID": str(member_id)})
    except StoreError as exc:
        if "member not found" in str(exc):
            return False
        raise
    return True


def initial_cluster(listed: Sequence[EtcdMember], name: str, peer_url: str) -> str:
    """``--initial-cluster`` for a member joining as ``name`` at ``peer_url``: every member
    that has a name, plus the new one (etcd matches the list against its membership)."""
    parts = [f"{m.name}={u}" for m in listed if m.name for u in m.peer_urls]
    mine = f"{name}={peer_url}"
    return ",".join(sorted({*parts, mine}))


def probe(
    listed: Sequence[EtcdMember], credentials: EtcdCredentials | None
) -> dict[int, tuple[bool, int]]:
    """Each member's (answers?, raft index) on its own client URLs, asked directly with
    the client certificate alone: a learner refuses to authenticate a user, and the status
    needs no user."""
    if credentials is not None:
        credentials = dataclasses.replace(credentials, user=None, password=None)
    out: dict[int, tuple[bool, int]] = {}
    for m in listed:
        if not m.client_urls:
            out[m.id] = (False, 0)
            continue
        store = EtcdStore(list(m.client_urls), timeout=PROBE_TIMEOUT_S, credentials=credentials)
        try:
            reply = store.call_api("maintenance/status", {})
            out[m.id] = (not reply.get("errors"), int(str(reply.get("raftIndex", 0))))
        except StoreError:
            out[m.id] = (False, 0)
        finally:
            store.close()
    return out
