"""Carries out a :class:`~wolfpack.lab.chaos.ChaosPlan` against a LocalCluster.

Every action is logged with its monotonic time, so it lines up with the observer's runs in
the timeline printed on failure. An impairing fault is undone no sooner than its hold time
and only when the next impairing fault comes (or the plan ends); then the driver waits,
bounded, until the cluster is whole again (the node rejoined, or every node is back after
etcd), so a majority can always run.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass

from wolfpack.errors import WolfpackError
from wolfpack.lab.chaos import IMPAIRING, ChaosPlan, Fault, FaultKind
from wolfpack.lab.localcluster import LocalCluster, wait_for
from wolfpack.lab.observer import ProbeObserver
from wolfpack.model.snapshot import IntentKind

#: how long a restored node (or the whole cluster after etcd) may take to be Up again
REJOIN_S = 30.0
#: packaging/wolfpackd.service: Restart=on-failure, RestartSec=2
RESTART_SEC = 2.0


@dataclass
class _Active:
    fault: Fault
    node: str | None
    since: float


class ChaosDriver:
    def __init__(self, cluster: LocalCluster, observer: ProbeObserver, plan: ChaosPlan) -> None:
        self.cluster, self.observer, self.plan = cluster, observer, plan
        self.events: list[tuple[float, str]] = []
        self.exits: list[tuple[str, int]] = []  # daemons that exited by themselves: (node, code)

    def note(self, text: str) -> None:
        self.events.append((time.monotonic(), f"** {text}"))

    def run(self) -> None:
        active: _Active | None = None
        for i, fault in enumerate(self.plan.faults, start=1):
            time.sleep(fault.after_s)
            if fault.kind in IMPAIRING:
                if active is not None:
                    self._undo(active)
                active = self._impair(i, fault)
            else:
                self._light(i, fault)
        if active is not None:
            self._undo(active)

    # -- faults that take capacity away ------------------------------------------------------
    def _impair(self, i: int, fault: Fault) -> _Active:
        c = self.cluster
        node = fault.node
        if fault.kind is FaultKind.KILL_COORDINATOR:
            node = self._coordinator()
        elif node is None and fault.group is not None:
            node = self._owner(fault.group)
        self.note(f"fault {i}: {fault.kind} {node or ''}".rstrip())
        if fault.kind in (FaultKind.KILL_NODE, FaultKind.KILL_COORDINATOR) and node:
            c.kill_node(node)
        elif fault.kind is FaultKind.KILL_DAEMON and node:
            c.kill_daemon(node)
        elif fault.kind is FaultKind.FREEZE and node:
            c.freeze(node)
        elif fault.kind is FaultKind.RESTART_ETCD:
            c.etcd.kill()
        return _Active(fault, node, time.monotonic())

    def _undo(self, active: _Active) -> None:
        c, kind, node = self.cluster, active.fault.kind, active.node
        time.sleep(max(0.0, active.since + active.fault.hold_s - time.monotonic()))
        if kind is FaultKind.RESTART_ETCD:
            c.etcd.start()
            self.note("etcd started again")
        elif node is not None:
            if kind is FaultKind.FREEZE:
                c.thaw(node)
                self.note(f"{node} thawed")
                time.sleep(0.2)  # let it notice that its lease is gone, or go on
            code = c.daemons[node].poll()
            if code is not None:  # killed, or fenced while frozen
                if code != -signal.SIGKILL:
                    self.exits.append((node, code))
                    self.note(f"{node} daemon exited by itself with code {code}")
                c.start_node(node)
                self.note(f"{node} daemon started again")
        self._wait_whole()
        self.note("cluster whole again")

    def _wait_whole(self) -> None:
        """Until every node is back, restarting a daemon that exited by itself as its
        service would (a daemon that cannot reach etcd at start exits with code 2)."""
        deadline = time.monotonic() + REJOIN_S
        while not self._whole():
            for node, proc in self.cluster.daemons.items():
                code = proc.poll()
                if code is not None:
                    # SIGKILL is the test fence agent's: a daemon restarted after a kill can
                    # be fenced for its silence before it is heard again (never by itself)
                    if code != -signal.SIGKILL:
                        self.exits.append((node, code))
                    self.note(f"{node} daemon exited with code {code}")
                    time.sleep(RESTART_SEC)
                    self.cluster.start_node(node)
                    self.note(f"{node} daemon started again, as its service would")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster was not whole again within {REJOIN_S:.0f} s")
            time.sleep(0.05)

    def _whole(self) -> bool:
        """Every node's daemon runs and the coordinator sees it Up on the lease that daemon
        holds (not a stale Up from before the fault, nor its predecessor's lease)."""
        c = self.cluster
        try:
            if any(p.poll() is not None for p in c.daemons.values()):
                return False
            snap = c.snapshot()
            for node in c.names:
                kv = c.store.get(c.keys.node_lease(node))
                status = snap.node(node)
                if kv is None or json.loads(kv.value).get("pid") != c.daemons[node].pid:
                    return False
                if status.state.value != "Up" or status.lease != kv.lease:
                    return False
            return True
        except (WolfpackError, ValueError):
            return False

    def _owner(self, group: str) -> str | None:
        try:
            return self.cluster.owner(group)
        except WolfpackError:
            return None

    def _coordinator(self) -> str | None:
        try:
            return wait_for(self.cluster.coordinator, timeout=10)
        except (TimeoutError, WolfpackError):
            return None

    # -- faults that do not --------------------------------------------------------------------
    def _light(self, i: int, fault: Fault) -> None:
        assert fault.group is not None
        if fault.kind is FaultKind.MOVE_GROUP:
            try:
                self.cluster.db.add_intent(IntentKind.MOVE_GROUP, fault.group, fault.node)
                self.note(f"fault {i}: move {fault.group} to {fault.node} requested")
            except WolfpackError as exc:
                self.note(f"fault {i}: move {fault.group} to {fault.node} not requested: {exc}")
        elif fault.kind is FaultKind.CRASH_RESOURCE:
            killed = [
                r.describe()
                for r in self.observer.alive(fault.group)
                if self.observer.kill(r, signal.SIGKILL)
            ]
            self.note(f"fault {i}: crash {fault.group}: SIGKILL {', '.join(killed) or 'nothing'}")
