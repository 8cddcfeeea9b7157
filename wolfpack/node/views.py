"""Membership views published in etcd: the quorum arbitrates heartbeat silence (H5).

Heartbeats tell who hears whom; etcd tells who is on the quorum side. Each node publishes
what its heartbeats hear under ``views/<node>``, on its own lease and guarded by its liveness
key, so a view exists only while its writer holds its lease. It is written

- when the set of peers it hears changes (a new *epoch*), and
- to **answer** a peer whose current view says it does not hear us: one write per epoch of
  that peer (answers do not start a new epoch, so two nodes that cannot hear each other
  exchange at most two answers, never a ping-pong),

never periodically. A node that answers after our view said we do not hear it is alive and
talks to the quorum: its silence is a network partition of the heartbeat paths, not a death
(see :func:`wolfpack.node.liveness.node_statuses` and docs/fencing.md).

:class:`ViewPublisher` is the shell: a thread woken by membership changes and by writes under
``views/``, which records, for each peer, the etcd revision of our first published view
without it (a :class:`Silence`): the moment from which an answer counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from wolfpack.errors import StoreError
from wolfpack.model.views import PublishedView, Silence
from wolfpack.store import Compare, KeySpace, Put, Store

Log = Callable[..., None]

_IDLE_S = 5.0  # with nothing to do, look again this often (a read, never a write)
_QUIET_POLL_S = 0.1  # while not listening yet: publish as soon as it is


def answers(
    me: str, others: Mapping[str, PublishedView], acked: Mapping[str, int]
) -> dict[str, int]:
    """The epochs we must answer: of each peer whose current view says it does not hear us
    and that we have not answered yet (pure)."""
    return {
        peer: view.epoch
        for peer, view in others.items()
        if peer != me and me not in view.heard and acked.get(peer) != view.epoch
    }


def read_views(store: Store, keys: KeySpace) -> dict[str, PublishedView]:
    kvs, _ = store.get_prefix(keys.views_prefix)
    out = {}
    for kv in kvs:
        name = kv.key[len(keys.views_prefix) :]
        if name and "/" not in name:
            out[name] = PublishedView.decode(kv.value, kv.mod_revision)
    return out


class ViewPublisher:
    """Publishes this node's view when it changes and answers peers that do not hear us.

    - ``peers()``: every configured peer -> heard now on some heartbeat path.
    - ``listening()``: False while silence says nothing (membership just started, or the
      daemon stalled): then a peer already published as heard is not dropped.
    - ``lease()``: our valid lease id (0: none, publish nothing); ``guard()``: a compare that
      holds while our liveness key is ours.
    - ``grace()``: how long a peer missing from our view has to answer it (:mod:`.grace`);
      ``on_grace()`` is called that long after a peer first went missing from our view, so
      the coordinator judges it on time.
    - ``on_round_trip(seconds)``: told how long each of our view writes took.
    """

    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        node: str,
        peers: Callable[[], Mapping[str, bool]],
        listening: Callable[[], bool],
        lease: Callable[[], int],
        guard: Callable[[], Compare],
        *,
        grace: Callable[[], float],
        on_grace: Callable[[], None] = lambda: None,
        on_round_trip: Callable[[float], None] = lambda seconds: None,
        clock: Callable[[], float] = time.monotonic,
        log: Log = lambda event, **fields: None,
    ) -> None:
        self.store, self.keys, self.node = store, keys, node
        self.peers, self.listening = peers, listening
        self.lease, self.guard = lease, guard
        self.grace, self.on_grace, self.on_round_trip = grace, on_grace, on_round_trip
        self.clock, self.log = clock, log
        self.published: PublishedView | None = None
        self._published_lease = 0
        self._epoch = 0
        self._marks: dict[str, tuple[int, float]] = {}  # peer -> (revision, clock) missing since
        self._graces: list[float] = []  # clock times at which to call on_grace
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def silence(self) -> dict[str, Silence]:
        """Peers missing from our published view, and since when (for the coordinator)."""
        now = self.clock()
        with self._lock:
            return {p: Silence(rev, now - t) for p, (rev, t) in self._marks.items()}

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="views", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._pause())
            self._wake.clear()
            if self._stop.is_set():
                break
            self._due_graces()
            try:
                self.publish_once()
            except StoreError as exc:
                self.log("view_publish_failed", error=str(exc))
                self._stop.wait(0.2)
            except Exception as exc:  # one catch-all per loop: log and keep running
                self.log("view_publisher_crash", error=repr(exc))
                self._stop.wait(0.2)

    def _pause(self) -> float:
        """Until the next grace ends; while not listening (just started, or stalled), look
        often, so that the view is published as soon as silence means something again."""
        idle = _IDLE_S if self.listening() and self.published is not None else _QUIET_POLL_S
        with self._lock:
            nearest = min(self._graces, default=None)
        return idle if nearest is None else max(0.0, min(idle, nearest - self.clock()))

    def _due_graces(self) -> None:
        now = self.clock()
        with self._lock:
            due = [t for t in self._graces if t <= now]
            self._graces = [t for t in self._graces if t > now]
        if due:
            self.on_grace()

    def publish_once(self) -> PublishedView | None:
        """One round: read the peers' views, write ours if it changed or owes an answer.
        Returns what was written (None: nothing)."""
        lease = self.lease()
        if lease == 0:
            return None
        peers = self.peers()
        heard = frozenset(p for p, up in peers.items() if up)
        before = self.published if self._published_lease == lease else None
        if before is None and not self.listening():
            return None  # nothing heard for long enough to say anything yet
        if before is not None and not self.listening():
            heard |= before.heard & set(peers)  # silence after a stall is no evidence
        others = {n: v for n, v in read_views(self.store, self.keys).items() if n != self.node}
        acked = dict(before.acks) if before is not None else {}
        owed = answers(self.node, others, acked)
        changed = before is None or heard != before.heard
        if not changed and not owed:
            return None
        epoch = self._epoch + 1 if changed else self._epoch
        acks = {p: e for p, e in {**acked, **owed}.items() if p in others}
        view = PublishedView(heard, epoch, MappingProxyType(acks))
        sent = self.clock()
        result = self.store.txn(
            [self.guard()], [Put(self.keys.view(self.node), view.encode(), lease=lease)]
        )
        now = self.clock()
        self.on_round_trip(now - sent)
        if not result.succeeded:
            return None  # our liveness key is not ours any more: the lease thread handles it
        written = PublishedView(heard, epoch, view.acks, result.revision)
        with self._lock:
            self._epoch, self.published, self._published_lease = epoch, written, lease
            for peer in set(peers) | set(self._marks):
                if peer in heard:
                    self._marks.pop(peer, None)
                elif peer not in self._marks:
                    self._marks[peer] = (result.revision, now)
                    self._graces.append(now + self.grace())
        if changed:
            self.log("view_published", heard=sorted(heard), epoch=epoch, revision=result.revision)
        return written
