"""The lab chaos suite's faults, made on the lab's own namespaces only (issue 9 item 3).

Each :class:`Injector` method makes one fault and returns what undoes it; undoing brings
the node back as its service manager or a technician would (:meth:`Injector.revive`:
powered on if it was fenced, a crashed etcd or wolfpackd started again). Processes are
signalled through pidfds, so a PID reused meanwhile is never hit; nftables rules live in a
table of their own in the node's namespace and are removed by deleting that table.

``in_admin`` (:func:`wolfpack.lab.world.in_admin`) moves the calling thread into the admin
namespace through pyroute2's process-wide stack, so every use of it here is serialized by
:data:`ADMIN_LOCK` and kept short (no waiting inside it).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.lab import access, cables, faketime, world
from wolfpack.lab.driver import LabDriver
from wolfpack.lab.power import netns_pids
from wolfpack.lab.state import LabState
from wolfpack.model.fsm import group_state
from wolfpack.model.snapshot import Outcome, OutcomeStatus, Snapshot
from wolfpack.model.states import GroupState
from wolfpack.resources.pg_install import BIN_GLOB
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

__all__ = ["ADMIN_LOCK", "APP_BINARIES", "APP_COMMS", "Injector", "NotInjectable", "Undo"]

ADMIN_LOCK = threading.Lock()
Undo = Callable[[], None]
T = TypeVar("T")
#: a group's application processes, by name
APP_COMMS = {"Web": ("nginx",), "SQL": ("postgres",)}
#: a group's application binaries (glob patterns), as its agent runs them
APP_BINARIES = {"Web": ("/usr/sbin/nginx",), "SQL": (f"{BIN_GLOB}/postgres",)}
NFT_TABLE = "wolfpack_lab_chaos"
UP_WAIT_S = 90.0
#: packaging/wolfpackd.service: Restart=on-failure, RestartSec=2
RESTART_SEC = 2.0
FILL = ".wolfpack-chaos-fill"


class NotInjectable(WolfpackError):
    """The target changed between choosing it and injecting (a group moved): the fault is
    skipped, not failed."""


class Injector:
    def __init__(self, lab_dir: Path, note: Callable[[str], None]) -> None:
        self.dir = lab_dir.resolve()
        self.note = note

    @property
    def state(self) -> LabState:
        return LabState.load(self.dir)

    # -- the cluster, as the administrator reads it ----------------------------------------
    def _read(self, read: Callable[[ClusterDB], T]) -> T | None:
        """``read`` of the cluster database from the admin host; None if it cannot be."""
        state = self.state
        with ADMIN_LOCK, world.in_admin(state):
            try:
                store = access.admin_store(state, timeout=1.0)
            except StoreError:
                return None
            try:
                return read(ClusterDB(store, KeySpace(world.KEY_ROOT)))
            except StoreError:
                return None
            finally:
                store.close()

    def snapshot(self) -> Snapshot | None:
        return self._read(ClusterDB.read_snapshot)

    def outcome(self, intent_id: str) -> Outcome | None:
        return self._read(lambda db: db.outcome(intent_id))

    def owner(self, group: str) -> str | None:
        snap = self.snapshot()
        return None if snap is None else snap.group(group).owner

    def online(self, snap: Snapshot, group: str) -> str | None:
        states = (snap.resource(r.name).state for r in snap.config.group_resources(group))
        return snap.group(group).owner if group_state(states) == GroupState.ONLINE else None

    def nodes_up(self, snap: Snapshot | None) -> bool:
        return snap is not None and all(snap.node(n).state.value == "Up" for n in self.state.nodes)

    # -- processes ---------------------------------------------------------------------------
    def daemon(self, node: str) -> int | None:
        return self._role_pid(node, "wolfpackd")

    def _role_pid(self, node: str, role: str) -> int | None:
        return world.role_pid(self.state, node, role)

    def _signal(self, pids: Iterable[int], sig: signal.Signals) -> list[int]:
        done = []
        for pid in pids:
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(pid)
                try:
                    signal.pidfd_send_signal(fd, sig)
                    done.append(pid)
                finally:
                    os.close(fd)
        return done

    def _frozen(self, pids: list[int]) -> Undo:
        """SIGSTOP ``pids`` (each by a pidfd kept open); the undo sends SIGCONT to those
        still alive, and only to them."""
        fds = []
        for pid in pids:
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(pid)
                signal.pidfd_send_signal(fd, signal.SIGSTOP)
                fds.append(fd)

        def thaw() -> None:
            for fd in fds:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(fd, signal.SIGCONT)
                os.close(fd)

        return thaw

    def app_pids(self, node: str, group: str) -> list[int]:
        """The group's application processes in ``node``'s namespace."""
        out = []
        for pid in netns_pids(self.state.prefix + node):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm in APP_COMMS[group]:
                out.append(pid)
        return out

    # -- bringing a node back ----------------------------------------------------------------
    def revive(self, node: str) -> str:
        """Power ``node`` on if it is off, else start its crashed etcd member or wolfpackd
        (after RestartSec); then wait until it is Up with its processes running (bounded).
        A fence may still come meanwhile (the node had stopped heartbeating): then it is
        powered on again. What it did, as text."""
        did: list[str] = []
        deadline = time.monotonic() + UP_WAIT_S
        while True:
            if node in self.state.powered_off:
                with ADMIN_LOCK:
                    world.power_on(self.dir, node, wait=False)
                did.append("powered on")
            for role in self._roles(node):
                if self._role_pid(node, role) is None:
                    time.sleep(RESTART_SEC)
                    with ADMIN_LOCK:
                        if world.restart(self.dir, node, role):
                            did.append(f"{role} restarted")
            if self._node_up(node):
                return ", ".join(did) or "nothing to restart"
            if time.monotonic() > deadline:
                raise WolfpackError(f"{node} not Up within {UP_WAIT_S:g} s after the fault")
            time.sleep(0.25)

    def _roles(self, node: str) -> tuple[str, ...]:
        return ("etcd", "wolfpackd") if node in world.members(self.state) else ("wolfpackd",)

    def _node_up(self, node: str) -> bool:
        if any(self._role_pid(node, role) is None for role in self._roles(node)):
            return False
        snap = self.snapshot()
        return snap is not None and snap.node(node).state.value == "Up"

    # -- node faults -------------------------------------------------------------------------
    def power_off(self, node: str) -> Undo:
        world.power_off(self.dir, node)
        return lambda: self.note(f"{node}: {self.revive(node)}")

    def daemon_kill(self, node: str) -> Undo:
        pid = self._role_pid(node, "wolfpackd")
        self._signal([pid] if pid else [], signal.SIGKILL)
        return lambda: self.note(f"{node}: {self.revive(node)}")

    def daemon_freeze(self, node: str) -> Undo:
        pid = self._role_pid(node, "wolfpackd")
        thaw = self._frozen([pid] if pid else [])
        return self._then_revive(thaw, node)

    def node_freeze(self, node: str) -> Undo:
        pids = sorted(netns_pids(self.state.prefix + node) - {os.getpid()})
        thaw = self._frozen(pids)
        return self._then_revive(thaw, node)

    def _then_revive(self, first: Undo, node: str) -> Undo:
        def undo() -> None:
            first()
            self.note(f"{node}: {self.revive(node)}")

        return undo

    def all_paths_cut(self, node: str) -> Undo:
        """Both cables pulled while the node runs on (the runner waits for its fence)."""
        state = self.state
        for net in cables.IFNAMES:
            cables.cut(state, node, net)

        def undo() -> None:
            for net in cables.IFNAMES:
                cables.mend(self.state, node, net)
            self.note(f"{node}: {self.revive(node)}")

        return undo

    def path_cut(self, node: str, network: str) -> Undo:
        cables.cut(self.state, node, network)
        return lambda: cables.mend(self.state, node, network)

    def _nft(self, node: str, rules: str) -> Undo:
        ns = world.netns_exec(self.state, node)
        table = f"table inet {NFT_TABLE} {{\n{rules}\n}}\n"
        subprocess.run([*ns, "nft", "-f", "-"], input=table, text=True, check=True,
                       capture_output=True, timeout=10)  # fmt: skip

        def undo() -> None:
            # a node powered off meanwhile keeps its namespace (and this table): remove it
            subprocess.run([*ns, "nft", "delete", "table", "inet", NFT_TABLE],
                           capture_output=True, timeout=10, check=False)  # fmt: skip

        return undo

    def etcd_cut(self, node: str) -> Undo:
        """Its etcd traffic (TCP 2379, 2380) dropped on its interfaces, heartbeats flow."""
        ports = "{ 2379, 2380 }"
        rules = "\n".join(
            f"  chain {hook} {{ type filter hook {hook} priority -10; policy accept;"
            f' {way}ifname != "lo" tcp dport {ports} drop;'
            f' {way}ifname != "lo" tcp sport {ports} drop; }}'
            for hook, way in (("input", "i"), ("output", "o"))
        )
        drop = self._nft(node, rules)
        return self._then_revive(drop, node)

    def asymmetric(self, node: str, network: str) -> Undo:
        """Everything arriving on the node's ``network`` interface dropped; it still sends."""
        ifname = cables.ifname(network)
        drop = self._nft(node, "  chain input { type filter hook input priority -10;"
                               f' policy accept; iifname "{ifname}" drop; }}')  # fmt: skip
        return self._then_revive(drop, node)

    def packet_loss(
        self, node: str, network: str, percent: int = 30, *, inbound_only: bool = False,
        udp_port: int | None = None,
    ) -> Undo:  # fmt: skip
        """``percent`` of the packets on the node's ``network`` interface dropped, both ways;
        ``inbound_only``: only arriving ones (on every node, each packet between two nodes
        is then dropped once at ``percent``, not twice); ``udp_port``: only UDP packets to
        that port (the heartbeats, say), not etcd's or anything else on the network."""
        ifname = cables.ifname(network)
        hooks = (("input", "i"),) if inbound_only else (("input", "i"), ("output", "o"))
        only = f" udp dport {udp_port}" if udp_port is not None else ""
        rules = "\n".join(
            f"  chain {hook} {{ type filter hook {hook} priority -10; policy accept;"
            f' {way}ifname "{ifname}"{only} numgen random mod 100 < {percent} drop; }}'
            for hook, way in hooks
        )
        return self._nft(node, rules)

    # -- etcd --------------------------------------------------------------------------------
    def etcd_leader(self) -> str | None:
        state = self.state
        argv = [*world.netns_exec(state, "admin"), *access.etcdctl(state), "--dial-timeout",
                "1s", "--command-timeout", "2s", "-w", "json", "endpoint", "status"]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            for doc in json.loads(result.stdout or "[]"):
                st = doc["Status"]
                if st["header"]["member_id"] == st["leader"]:
                    host = str(doc["Endpoint"]).split("//")[1].split(":")[0]
                    return next(n for n in state.nodes if world.public_address(n) == host)
        return None

    def etcd_kill(self, nodes: list[str]) -> Undo:
        pids = [p for n in nodes if (p := self._role_pid(n, "etcd")) is not None]
        self._signal(pids, signal.SIGKILL)

        def undo() -> None:
            for node in nodes:
                self.note(f"{node}: {self.revive(node)}")

        return undo

    # -- groups ------------------------------------------------------------------------------
    def resource_crash(self, node: str, group: str) -> list[int]:
        return self._signal(self.app_pids(node, group), signal.SIGKILL)

    def resource_hang(self, node: str, group: str) -> Undo:
        return self._frozen(self.app_pids(node, group))

    def disk_full(self, node: str) -> Undo:
        """Fill the SQL disk (as root: the reserve too) where ``node`` has it mounted;
        the undo removes the file wherever the disk is mounted by then (bounded)."""
        where = str(world.mount_point(self.state, "sql"))
        if not self._on_node(node, 'mountpoint -q "$1"', where, check=False):
            raise NotInjectable(f"the SQL disk is not mounted on {node} (it moved meanwhile)")
        free = '$(( $(stat -f -c %f "$1") * $(stat -f -c %S "$1") ))'
        script = (f'mountpoint -q "$1" && free={free} && '
                  f'{{ fallocate -l $((free)) "$1/{FILL}" || true; }} && '
                  f'{{ dd if=/dev/zero of="$1/{FILL}2" bs=64k 2>/dev/null || true; }}')  # fmt: skip
        self._on_node(node, script, where)

        def undo() -> None:
            deadline = time.monotonic() + UP_WAIT_S
            while time.monotonic() < deadline:
                rm = f'mountpoint -q "$1" && rm -f "$1/{FILL}" "$1/{FILL}2"'
                if any(self._on_node(n, rm, where, check=False) for n in self.state.nodes
                       if n not in self.state.powered_off):  # fmt: skip
                    return
                time.sleep(0.5)
            raise WolfpackError("the SQL disk's fill file could not be removed")

        return undo

    def _on_node(self, node: str, script: str, *args: str, check: bool = True) -> bool:
        """``script`` in ``node``'s daemon's mount namespace (where its disks are mounted)."""
        argv = [*world.enter(self.state, node), "sh", "-c", script, "sh", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if check and result.returncode != 0:
            raise WolfpackError(f"on {node}: {script}: {result.stderr.strip()}")
        return result.returncode == 0

    def failed_start_on_move(self, node: str, group: str) -> tuple[str, Undo]:
        """The group's application binaries made /bin/false in ``node``'s daemon's mount
        namespace only (nothing configured changes), then the group's move to ``node``
        requested as an administrator would; (the request's id, the undo: unmount). A move
        refused at once is not injectable (the mount is undone first)."""
        paths = sorted({p for pattern in APP_BINARIES[group] for p in glob.glob(pattern)})
        if not paths:
            raise NotInjectable(f"no {group} application binary on this machine")
        self._on_node(node, 'for f in "$@"; do mount --bind /bin/false "$f" || exit 1; done',
                      *paths)  # fmt: skip

        def undo() -> None:
            # in the daemon's namespace as it is now: one started since never had the mount
            self._on_node(node, 'for f in "$@"; do umount "$f" 2>/dev/null; done; true',
                          *paths, check=False)  # fmt: skip

        try:
            moved = LabDriver(self.dir).wolfpack("group", "move", group, node, "--no-wait",
                                                 "--json", check=False)  # fmt: skip
            intent = str(json.loads(moved.stdout)["id"])
        except (ValueError, KeyError, TypeError):
            undo()
            why = f"{moved.stdout.strip()} {moved.stderr.strip()}"
            raise NotInjectable(f"move refused: {why}") from None
        except BaseException:  # the CLI timed out, say: the mount must not stay
            undo()
            raise
        self.note(f"{' '.join(map(shlex.quote, paths))} is /bin/false on {node}; "
                  f"move {group} there requested ({intent})")  # fmt: skip
        return intent, undo

    def move_settled(self, intent: str, group: str, deadline: float) -> str | None:
        """Wait (until ``deadline``, monotonic) for the move request ``intent`` to settle:
        answered, the group no longer moving and Online; where it is Online then, or None
        (refused, or not settled in time; noted)."""
        while time.monotonic() < deadline:
            outcome = self.outcome(intent)
            snap = self.snapshot() if outcome is not None else None
            if outcome is not None and outcome.status is not OutcomeStatus.ACCEPTED:
                self.note(f"move {outcome.status}: {outcome.code} {outcome.message}")
                return None
            if snap is not None and snap.group(group).transition is None:
                on = self.online(snap, group)
                if on is not None:
                    self.note(f"{group} Online on {on} after the move")
                    return on
            time.sleep(0.2)
        self.note(f"the move of {group} did not settle in time")
        return None

    def clock_jump(self, node: str, seconds: int) -> Undo:
        """``node``'s wolfpackd's wall clock ``seconds`` off (libfaketime: the lab must be up
        with --faketime); the undo sets it right again (a second jump)."""
        state = self.state
        pid = self.daemon(node)
        if not state.faketime or pid is None or not faketime.preloaded(pid):
            raise NotInjectable(f"{node}'s wolfpackd does not run under libfaketime "
                                "(the lab was not brought up with --faketime)")  # fmt: skip
        offset = world.faketime_file(state, node)
        faketime.set_offset(offset, seconds)
        return lambda: faketime.set_offset(offset, 0)

    def disturbance(self, node: str, daemon: int | None) -> str:
        """What happened to ``node`` since its wolfpackd was ``daemon``: powered off (fenced),
        the daemon gone; "" if neither."""
        if node in self.state.powered_off:
            return f"{node} was fenced (powered off)"
        if daemon is None or self.daemon(node) != daemon:
            return f"{node}'s wolfpackd exited"
        return ""

    def power_cycle(self) -> Undo:
        nodes = list(self.state.nodes)
        for node in nodes:
            world.power_off(self.dir, node)

        def undo() -> None:
            for node in nodes:
                if node in self.state.powered_off:
                    with ADMIN_LOCK:
                        world.power_on(self.dir, node, wait=False)
            for node in nodes:
                self.note(f"{node}: {self.revive(node)}")

        return undo
