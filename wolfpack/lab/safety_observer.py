"""An observer of the lab that trusts nothing the cluster says about itself (issue 8).

Where a group is active is read from the kernel, per node namespace, every ``period_s``:

* **processes**: every process whose network namespace (``/proc/PID/ns/net``) is a node's
  and whose name or command line is one of the group's. Each gets a pidfd, watched by a
  thread of its own, so its end is the moment the kernel says it exited; its start is the
  kernel's start time. Zombies do not count: they run nothing.
* **addresses**: the group's virtual addresses on the node's interfaces (netlink sockets
  opened in each node's namespace); a change is pushed by the kernel and read at once.
* **mounts**: the group's mount points in any mount namespace of a process of the node
  (each ``wolfpackd`` has its own; its resources inherit it), from ``/proc/PID/mountinfo``,
  read every sample and at once after a watched process exits, each node's at a moment
  of its own (the namespaces found by the sample's walk of /proc, read after it). (No file
  stays open there: an open mountinfo would keep a dead node's mount namespace, and its
  disk, alive.)
* **leases**: every node's liveness key, read through the members of etcd's majority side
  (linearizable reads from the admin host), the faulted node's every 10 ms, and every 2 ms
  for half a second once one of its processes exits (a fence has begun): when the quorum
  lets a node's lease go, another node may take its groups, so that is the deadline a fence
  or self-fence must beat.

It runs as a process of its own (``python -m wolfpack.lab.safety_observer``), scheduled
ahead of ordinary work (SCHED_FIFO 1, it sleeps between samples): a test's own threads, or
a loaded machine, must not make it late, since lateness only widens its intervals, and
wide enough ones look like overlaps. :class:`SafetyObserver` starts it and asks it for a
:class:`~wolfpack.lab.safety_record.Record` (one JSON line per request on its pipes).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.lab.safety_record import (
    ADDRESS,
    INF,
    MOUNT,
    PROCESS,
    Interval,
    LeaseRun,
    Record,
    Run,
    Track,
    add_read,
    union,
)
from wolfpack.node.pidregistry import proc_stat
from wolfpack.store import EtcdStore
from wolfpack.store.etcd_tls import EtcdCredentials

__all__ = ["PERIOD_S", "SafetyObserver", "Watched"]

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE, RTMGRP_IPV4_IFADDR = 0, 0x10
REPLY_TIMEOUT_S = 30.0
#: a sample every PERIOD_S (and at once on a change); the focus node's liveness key is
#: read every FOCUS_S; two samples are at least MIN_GAP_S apart
PERIOD_S, FOCUS_S, MIN_GAP_S = 0.05, 0.01, 0.002
#: once a process of the focus node exits (a fence, a watchdog), its key is read every
#: BURST_S for BURST_FOR_S: a fence confirms within milliseconds and the lease goes right
#: after, so the last read that still saw the lease must be close to its end
BURST_S, BURST_FOR_S = 0.002, 0.5


@dataclass(frozen=True)
class Watched:
    """How to recognise a group's resources in the kernel: processes by name
    (``/proc/PID/comm``) or by a substring of their command line, virtual addresses and
    mount points; ``each_process``: keep every process's run, not only their union."""

    group: str
    comms: tuple[str, ...] = ()
    cmdline: str = ""
    addresses: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    each_process: bool = False

    def is_mine(self, comm: str, cmdline: str) -> bool:
        return comm in self.comms or (bool(self.cmdline) and self.cmdline in cmdline)


@dataclass
class _Proc:
    group: str
    node: str
    pid: int
    start: float  # from the kernel's start time
    seen_from: float
    seen_to: float
    fd: int | None = field(default=None, repr=False)
    exited: float | None = None

    def span(self) -> Interval:
        end = INF if self.exited is None else self.exited
        return Interval(self.start, end, self.seen_from, self.seen_to)


def _link_inode(pid: str, ns: str) -> int | None:
    try:
        link = os.readlink(f"/proc/{pid}/ns/{ns}")  # "net:[4026532511]"
    except OSError:
        return None
    return int(link[link.index("[") + 1 : -1])


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def mount_points(mountinfo: str) -> set[str]:
    """The mount points in a ``/proc/PID/mountinfo`` text (field 5; octal escapes kept)."""
    return {parts[4] for line in mountinfo.splitlines() if len(parts := line.split()) > 4}


def enter_netns(name: str) -> None:
    """Move the calling thread (only) into network namespace ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def address_events(netns: str) -> socket.socket:
    """A non-blocking netlink socket in ``netns`` that receives its IPv4 address changes
    (made by a short-lived thread that enters the namespace; the socket stays in it)."""
    made: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            enter_netns(netns)
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            sock.bind((0, RTMGRP_IPV4_IFADDR))
            sock.setblocking(False)
            made.append(sock)
        except BaseException as exc:
            made.append(exc)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


# -- inside the observer's process ---------------------------------------------------------------
class Sampler:
    """The sampling threads; :meth:`record` is what they saw so far."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.nodes: dict[str, str] = dict(spec["nodes"])  # node -> netns
        self.watched = [Watched(**{**w, **{k: tuple(w.get(k, ())) for k in
                        ("comms", "addresses", "mounts")}}) for w in spec["watched"]]  # fmt: skip
        self.period_s = float(spec.get("period_s", PERIOD_S))
        self.admin_netns: str = spec["admin_netns"]
        self.lease_keys: dict[str, str] = dict(spec["lease_keys"])  # node -> key
        #: the lab administrator's etcd credentials (the database is TLS-only, C1)
        self.admin = EtcdCredentials.from_dir(Path(spec["admin_dir"]), "admin", field="admin")
        self.lease_endpoints: list[str] = []
        #: a node whose key is read back to back (every FOCUS_S), the others every period
        self.lease_focus: str | None = None
        self.tracks: dict[tuple[str, str, str], Track] = {}
        self.leases: dict[str, list[LeaseRun]] = {n: [] for n in self.lease_keys}
        self.samples, self.longest_gap_s, self.errors = 0, 0.0, list[str]()
        self._last = 0.0
        self._procs: dict[tuple[str, int, int], _Proc] = {}  # (node, pid, start time)
        self._inodes = {os.stat(f"/run/netns/{ns}").st_ino: n for n, ns in self.nodes.items()}
        self._ipr = {n: IPRoute(netns=ns) for n, ns in self.nodes.items()}
        # address changes are pushed (netlink): a change is read at once, not at the next
        # sample, so an address's end is known within a millisecond or so
        self._events = {s.fileno(): s for s in (address_events(ns) for ns in self.nodes.values())}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # the exit watcher wakes the sampler: what a process leaves behind (its mounts, a
        # whole namespace at a power-off) is read right after it exits
        self._kick_r, self._kick_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._burst_until = 0.0  # monotonic: the focus node's key read every BURST_S till then
        self._threads = [threading.Thread(target=t, daemon=True)
                         for t in (self._loop, self._watch_exits, self._watch_leases)]  # fmt: skip

    def start(self) -> None:
        self._sample()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for fd in (self._wake_w, self._kick_w):
            os.write(fd, b"x")
        for t in self._threads:
            t.join(timeout=5)
        for sock in self._events.values():
            sock.close()

    def record(self) -> Record:
        with self._lock:
            presence = {k: t.intervals() for k, t in self.tracks.items()}
            each = {w.group for w in self.watched if w.each_process}
            runs = [Run(p.group, p.node, p.pid, p.span()) for p in self._procs.values()]
            leases = {n: list(r) for n, r in self.leases.items()}
        for g, n in {(r.group, r.node) for r in runs}:
            presence[(g, n, PROCESS)] = union(r.span for r in runs if (r.group, r.node) == (g, n))
        return Record(list(self.nodes), presence, [r for r in runs if r.group in each], leases,
                      self.samples, self.longest_gap_s, list(self.errors))  # fmt: skip

    def _loop(self) -> None:
        """A sample every period, and one at once after an address change or an exit."""
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._sample()
            except Exception as exc:  # keep sampling; the record names what went wrong
                if len(self.errors) < 20:
                    self.errors.append(repr(exc))
            time.sleep(MIN_GAP_S)  # a storm of events cannot make it spin
            left = max(0.0, began + self.period_s - time.monotonic())
            try:
                ready, _, _ = select.select([self._kick_r, *self._events], [], [], left)
            except (OSError, ValueError):
                continue
            for fd in ready:
                if fd == self._kick_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 4096)
                else:
                    with contextlib.suppress(OSError):  # ENOBUFS: missed some, read anew
                        while self._events[fd].recv(65536):  # drained: the addresses are
                            pass  # read anew by the next sample, not parsed from these

    def _watch_exits(self) -> None:
        """Note the moment each watched process exits (its pidfd becomes readable)."""
        while not self._stop.is_set():
            with self._lock:
                fds = {p.fd: p for p in self._procs.values() if p.fd is not None}
            try:
                ready, _, _ = select.select([self._wake_r, *fds], [], [], 1.0)
            except (OSError, ValueError):
                continue
            now = time.monotonic()
            with self._lock:
                for fd in ready:
                    if fd == self._wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 4096)
                    elif fds[fd].fd == fd:
                        fds[fd].exited, fds[fd].fd = now, None
                        os.close(fd)
                        if fds[fd].node == self.lease_focus:
                            self._burst_until = now + BURST_FOR_S
                        with contextlib.suppress(OSError):
                            os.write(self._kick_w, b"x")

    def _watch_leases(self) -> None:
        """Read the liveness keys through ``lease_endpoints``: the focus node's every
        :data:`FOCUS_S`, every node's every period."""
        enter_netns(self.admin_netns)  # this thread only, for its lifetime
        store: EtcdStore | None = None
        using: list[str] = []
        every = 0.0
        while not self._stop.is_set():
            began = time.monotonic()
            if self.lease_endpoints != using:
                if store is not None:
                    store.close()
                using = list(self.lease_endpoints)
                store = EtcdStore(using, timeout=0.5, credentials=self.admin) if using else None
            nodes = [self.lease_focus] if self.lease_focus in self.lease_keys else []
            if began >= every:
                nodes, every = list(self.lease_keys), began + self.period_s
            for node in nodes if store is not None else []:
                self._read_lease(store, str(node))
            every_s = BURST_S if began < self._burst_until else FOCUS_S
            self._stop.wait(max(0.0, began + every_s - time.monotonic()))

    def _read_lease(self, store: EtcdStore | None, node: str) -> None:
        t0 = time.monotonic()
        lease: int | None
        try:
            kv = store.get(self.lease_keys[node]) if store is not None else None
            lease = kv.lease if kv is not None else 0
        except StoreError:
            lease = None
        with self._lock:
            add_read(self.leases[node], t0, time.monotonic(), lease)

    def _sample(self) -> None:
        """Addresses first, then mounts, then processes: a sample that follows a kick (an
        exit, an address change) reads what the change may have ended before the slower
        walk of every process (a fence that confirms within a few milliseconds leaves no
        more than that between a node's end and its lease's)."""
        t0 = time.monotonic()
        if self._last:
            self.longest_gap_s = max(self.longest_gap_s, t0 - self._last)
        self._last = t0
        for name, ipr in self._ipr.items():
            a0 = time.monotonic()
            try:
                held: set[str] | None = {str(m.get("IFA_ADDRESS")) for m in ipr.get_addr(family=2)}
            except Exception:  # a read that failed says nothing
                held = None
            a1 = time.monotonic()
            with self._lock:
                for w in (w for w in self.watched if w.addresses):
                    present = None if held is None else any(a in held for a in w.addresses)
                    self._track(w.group, name, ADDRESS).observe(a0, a1, present)
        t1 = time.monotonic()
        mount_pids: dict[int, tuple[str, list[int]]] = {}  # mount ns -> (node, its pids)
        in_node: list[tuple[str, str]] = []  # (pid, node) of every process of a node
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            node = self._inodes.get(_link_inode(entry.name, "net") or 0)
            if node is None:
                continue
            in_node.append((entry.name, node))
            mnt = _link_inode(entry.name, "mnt")
            if mnt is not None:
                mount_pids.setdefault(mnt, (node, []))[1].append(int(entry.name))
        mounted: dict[str, set[str]] = {n: set() for n in self.nodes}
        # when each node's namespaces were read: a move's unmount on one node and mount on
        # the next can fall within one sample, and only these moments order them
        read_at: dict[str, tuple[float, float]] = {}
        for owner, pids in mount_pids.values():
            r0 = time.monotonic()
            # any process of the namespace shows its mounts; one that exited meanwhile (a
            # database backend, say) shows nothing, so the next one is asked
            for number in sorted(pids):
                if text := _read(f"/proc/{number}/mountinfo"):
                    mounted[owner] |= mount_points(text)
                    break
            lo, hi = read_at.get(owner, (r0, r0))
            read_at[owner] = (min(lo, r0), max(hi, time.monotonic()))
        t2 = time.monotonic()
        with self._lock:
            for w in (w for w in self.watched if w.mounts):
                for node in self.nodes:
                    present = any(m in mounted[node] for m in w.mounts)
                    # a node without a namespace (off) was found so by the walk
                    at = read_at.get(node, (t1, t2))
                    self._track(w.group, node, MOUNT).observe(*at, present)
        boot_offset = time.clock_gettime(time.CLOCK_BOOTTIME) - time.monotonic()
        seen: set[tuple[str, int, int]] = set()
        for proc, where in in_node:
            group = self._group_of(proc)
            st = proc_stat(int(proc)) if group is not None else None
            if group is None or st is None or not st.running:
                continue  # not watched, gone, or a zombie (which runs nothing)
            key = (where, int(proc), st.starttime)
            seen.add(key)
            self._saw_process(group, key, st.starttime / self._tick - boot_offset, t2)
        t3 = time.monotonic()
        with self._lock:
            for key, p in self._procs.items():
                if p.exited is None and p.fd is None and key not in seen:
                    p.exited = t3  # gone, and no pidfd said when: by this read at the latest
            self.samples += 1

    def _group_of(self, pid: str) -> str | None:
        comm = _read(f"/proc/{pid}/comm")
        watched = next((w for w in self.watched if w.is_mine(comm, "")), None)
        if watched is None and any(w.cmdline for w in self.watched):
            cmdline = _read(f"/proc/{pid}/cmdline")
            watched = next((w for w in self.watched if w.is_mine(comm, cmdline)), None)
        return None if watched is None else watched.group

    def _saw_process(self, group: str, key: tuple[str, int, int], start: float, t: float) -> None:
        with self._lock:
            if (p := self._procs.get(key)) is not None:
                p.seen_to = t
                return
        node, pid, starttime = key
        fd: int | None
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = None
        again = proc_stat(pid)
        if fd is not None and (again is None or again.starttime != starttime):
            os.close(fd)  # the PID was reused meanwhile
            fd = None
        with self._lock:
            self._procs[key] = _Proc(group, node, pid, min(start, t), t, t, fd)
        if fd is not None:
            os.write(self._wake_w, b"x")  # the exit watcher selects on it from now on

    def _track(self, group: str, node: str, kind: str) -> Track:
        return self.tracks.setdefault((group, node, kind), Track())


def main() -> int:
    """The observer's process: a spec (JSON) on the first line of standard input, then one
    command per line (``{"cmd": "record"}``, ``{"cmd": "leases", "endpoints": [...]}``),
    each answered by one JSON line; end of input ends it."""
    with contextlib.suppress(OSError):  # root only; otherwise it runs as it is
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    sampler = Sampler(json.loads(sys.stdin.readline()))
    sampler.start()
    print(json.dumps({"started": True}), flush=True)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("cmd") == "leases":
                sampler.lease_endpoints = [str(e) for e in cmd["endpoints"]]
                sampler.lease_focus = cmd.get("focus")
                print(json.dumps({"ok": True}), flush=True)
            else:
                print(json.dumps(sampler.record().to_json()), flush=True)
    finally:
        sampler.stop()
    return 0


# -- the test's side -----------------------------------------------------------------------------
class SafetyObserver:
    """Starts the observer's process for ``nodes`` (node -> network namespace) and the
    ``watched`` groups, and asks it what it saw (a context manager)."""

    def __init__(
        self,
        nodes: Mapping[str, str],
        watched: Sequence[Watched],
        *,
        admin_netns: str,
        lease_keys: Mapping[str, str],
        admin_dir: Path,
        period_s: float = PERIOD_S,
    ) -> None:
        self.spec = {"nodes": dict(nodes), "watched": [asdict(w) for w in watched],
                     "admin_netns": admin_netns, "lease_keys": dict(lease_keys),
                     "admin_dir": str(admin_dir), "period_s": period_s}  # fmt: skip
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> SafetyObserver:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "wolfpack.lab.safety_observer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._ask(self.spec)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def _ask(self, doc: Mapping[str, Any]) -> Any:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None or proc.poll() is not None:
            raise WolfpackError("the safety observer is not running")
        with self._lock:
            proc.stdin.write(json.dumps(doc) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], REPLY_TIMEOUT_S)
            line = proc.stdout.readline() if ready else ""
        if not line:
            raise WolfpackError("the safety observer did not answer")
        return json.loads(line)

    def record(self) -> Record:
        return Record.from_json(self._ask({"cmd": "record"}))

    def watch_leases(self, endpoints: Sequence[str], focus: str | None = None) -> None:
        """Read the liveness keys through these etcd endpoints (the majority's) from now,
        ``focus``'s (the node about to be faulted) back to back."""
        self._ask({"cmd": "leases", "endpoints": list(endpoints), "focus": focus})


if __name__ == "__main__":
    sys.exit(main())
