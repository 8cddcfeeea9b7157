"""A node looks at itself for ``wolfpack cluster validate`` (S1): the impure half of
:mod:`wolfpack.policy.validate`, which says what to look at and judges what is found.

Every probe is bounded in time and runs in parallel with the others: addresses and link
flags from netlink (pyroute2), a TCP connection to each peer's address from this node's own
address on that network (a refused connection counts as reached: the peer answered; ICMP
needs no privilege this way), names through the system resolver (``getaddrinfo``, so
``/etc/hosts`` and nsswitch count as they do for everything else), programs with
``shutil.which`` or an executable check, block devices with ``stat`` (``UUID=``/``LABEL=``
through udev's links, else ``blkid``), a new TCP connection to every etcd endpoint and one
timed read of the cluster database, the fence agent and the watchdog process. A probe that
does not finish in time is reported as failed with "timed out", never waited for longer.

In the lab only, ``clock_skew_file`` holds a number of seconds added to the reported clock,
so a test can show a node whose clock is off without touching the machine's clock.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from wolfpack.model.config import ClusterConfig
from wolfpack.model.node_facts import (
    AddressFact,
    ClockFact,
    DiskFact,
    EndpointFact,
    EtcdFact,
    FenceFact,
    HeardFact,
    NameFact,
    NameTarget,
    NodeFacts,
    PeerTarget,
    ProgramFact,
    ProgramTarget,
    ReachFact,
    WatchdogFact,
)
from wolfpack.policy.validate import expectations
from wolfpack.store.etcd_wire import split_endpoint

T = TypeVar("T")
#: one connection, one name lookup, one program or disk: at most this long
PROBE_TIMEOUT_S = 1.5
#: the whole self-check, whatever hangs
TOTAL_TIMEOUT_S = 5.0
#: sbin directories are not on every daemon's PATH
SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
POSTGRES_GLOB = "/usr/lib/postgresql/*/bin/postgres"
_IFF_UP = 0x1
_IFF_LOWER_UP = 0x10000


@dataclass(frozen=True)
class SelfcheckSettings:
    node: str
    #: the TCP port the reachability probe connects to (the heartbeat port: UDP listens
    #: there, so TCP answers with a reset, which proves the path)
    port: int
    fence_agent: str
    endpoints: str = ""
    clock_skew_file: Path | None = None
    timeout_s: float = PROBE_TIMEOUT_S


# -- one probe each -------------------------------------------------------------------------------


def addresses() -> tuple[AddressFact, ...]:
    """Every IPv4 address of this network namespace, with its link's condition."""
    from wolfpack.resources.netlink import IPRoute  # lazy: netlink only when asked

    out = []
    with IPRoute() as ipr:
        links = {int(link["index"]): link for link in ipr.get_links()}
        for msg in ipr.get_addr(family=socket.AF_INET):
            link = links.get(int(msg["index"]))
            local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if link is None or not local:
                continue
            flags = int(link["flags"])
            up = bool(flags & _IFF_UP) and bool(flags & _IFF_LOWER_UP)
            ifname = str(link.get_attr("IFLA_IFNAME"))
            out.append(AddressFact(ifname, f"{local}/{int(msg['prefixlen'])}", up))
    return tuple(sorted(out, key=lambda a: (a.ifname, a.address)))


def reach(target: PeerTarget, port: int, timeout_s: float) -> ReachFact:
    """A TCP connection from our address on the network to the peer's: answered (accepted
    or refused) means reached."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.bind((target.source, 0))
        sock.connect((target.address, port))
    except ConnectionRefusedError:
        pass  # the peer's kernel answered: the path works
    except OSError as exc:
        error = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        return ReachFact(target.network, target.peer, target.address, False, error=error)
    finally:
        sock.close()
    ms = (time.monotonic() - start) * 1000
    return ReachFact(target.network, target.peer, target.address, True, round(ms, 2))


def resolve(target: NameTarget) -> NameFact:
    try:
        infos = socket.getaddrinfo(target.name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return NameFact(target.kind, target.name, error=getattr(exc, "strerror", None) or str(exc))
    found = sorted({str(info[4][0]) for info in infos})
    return NameFact(target.kind, target.name, tuple(found))


def disk(resource: str, device: str) -> DiskFact:
    """Does ``device`` (a path, ``UUID=…`` or ``LABEL=…``) name a block device here?"""
    path = device
    for tag, directory in (("UUID=", "/dev/disk/by-uuid/"), ("LABEL=", "/dev/disk/by-label/")):
        if device.startswith(tag):
            path = directory + device[len(tag) :]
            if not os.path.exists(path):  # no udev links (a container): ask blkid
                path = _blkid(device) or path
    try:
        real = os.path.realpath(path)
        mode = os.stat(real).st_mode
    except OSError as exc:
        return DiskFact(resource, device, error=exc.strerror or str(exc))
    if not stat.S_ISBLK(mode):
        return DiskFact(resource, device, real, False, f"{real} is not a block device")
    return DiskFact(resource, device, real, True)


def _blkid(tag: str) -> str:
    """The device holding ``UUID=…``/``LABEL=…``, probed now (no cache), or ""."""
    try:
        done = subprocess.run(
            ["blkid", "-c", "/dev/null", "-o", "device", "-t", tag],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = done.stdout.split()
    return lines[0] if done.returncode == 0 and lines else ""


def find_program(program: str) -> str:
    """Where ``program`` (a name or a path) is, executable; "" if nowhere."""
    if "/" in program:
        return program if os.path.isfile(program) and os.access(program, os.X_OK) else ""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SEARCH_PATH])
    found = shutil.which(program, path=search)
    if found is None and program == "postgres":  # Debian keeps it per major version
        found = next((p for p in sorted(glob.glob(POSTGRES_GLOB)) if os.access(p, os.X_OK)), None)
    return found or ""


def program(target: ProgramTarget) -> ProgramFact:
    return ProgramFact(target.resource, target.type, target.program, find_program(target.program))


def fence(agent: str) -> FenceFact:
    if agent in ("none", "test"):
        return FenceFact(agent, True, "built in")
    found = find_program(agent)
    return FenceFact(agent, bool(found), found or "not found or not executable")


def etcd(read: Callable[[], object], endpoints: str) -> EtcdFact:
    start = time.monotonic()
    try:
        read()
    except Exception as exc:  # any failure of the read is the finding
        return EtcdFact(False, endpoints, error=str(exc) or type(exc).__name__)
    return EtcdFact(True, endpoints, round((time.monotonic() - start) * 1000, 2))


def endpoint(url: str, timeout_s: float) -> EndpointFact:
    """A new TCP connection to one etcd endpoint (refused counts as not reached: nothing
    listens there)."""
    start = time.monotonic()
    try:
        _, host, port = split_endpoint(url)
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        error = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, TimeoutError):
            error = exc.strerror
        return EndpointFact(url, False, error=error)
    return EndpointFact(url, True, round((time.monotonic() - start) * 1000, 2))


def clock(skew_file: Path | None, now: Callable[[], float] = time.time) -> ClockFact:
    """This node's wall clock, plus the lab's simulated skew if its file says so."""
    skew = 0.0
    if skew_file is not None:
        try:
            skew = float(skew_file.read_text().strip() or 0)
        except (OSError, ValueError):
            skew = 0.0
    return ClockFact(now() + skew)


# -- all of them ---------------------------------------------------------------------------------


class _Batch:
    """Probes running in parallel, each waited for until one shared deadline: one that
    fails or is not done by then gives its fallback (what it found: the error)."""

    def __init__(self, pool: concurrent.futures.Executor, deadline: float) -> None:
        self.pool, self.deadline = pool, deadline

    def submit(self, probe: Callable[[], T], fallback: Callable[[str], T]) -> Callable[[], T]:
        future = self.pool.submit(probe)

        def result() -> T:
            try:
                return future.result(timeout=max(0.0, self.deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                return fallback("timed out")
            except Exception as exc:  # a probe's own failure is what it found
                return fallback(str(exc) or type(exc).__name__)

        return result


def _no_daemon_etcd(endpoints: str) -> EtcdFact:
    return EtcdFact(False, endpoints, error="no database handle")


def _no_daemon_watchdog() -> WatchdogFact:
    return WatchdogFact(False, "no daemon here")


def gather(
    cfg: ClusterConfig,
    settings: SelfcheckSettings,
    *,
    etcd_read: Callable[[], object] | None = None,
    watchdog: Callable[[], WatchdogFact] | None = None,
    heard: Callable[[], Mapping[str, Sequence[str]]] | None = None,
    wall: Callable[[], float] = time.time,
    total_timeout_s: float = TOTAL_TIMEOUT_S,
) -> NodeFacts:
    """This node's facts, in at most ``total_timeout_s``. ``heard``: the daemon's heartbeat
    view, network -> peers heard on it now (None: no heartbeats run here)."""
    start = time.monotonic()
    sampled = clock(settings.clock_skew_file, wall)  # first: the judge counts took_ms after it
    want = expectations(cfg, settings.node)
    s, t = settings, settings.timeout_s
    urls = [u.strip() for u in s.endpoints.split(",") if u.strip()]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="selfcheck")
    batch = _Batch(pool, start + total_timeout_s)
    try:
        got_addresses = batch.submit(addresses, lambda e: ())
        got_reach = [
            batch.submit(
                partial(reach, p, s.port, t),
                partial(lambda p, e: ReachFact(p.network, p.peer, p.address, False, error=e), p),
            )
            for p in want.peers
        ]
        got_names = [
            batch.submit(
                partial(resolve, n), partial(lambda n, e: NameFact(n.kind, n.name, error=e), n)
            )
            for n in want.names
        ]
        got_disks = [
            batch.submit(
                partial(disk, d.resource, d.device),
                partial(lambda d, e: DiskFact(d.resource, d.device, error=e), d),
            )
            for d in want.disks
        ]
        got_programs = [
            batch.submit(
                partial(program, p),
                partial(lambda p, e: ProgramFact(p.resource, p.type, p.program), p),
            )
            for p in want.programs
        ]
        got_endpoints = [
            batch.submit(
                partial(endpoint, u, t), partial(lambda u, e: EndpointFact(u, False, error=e), u)
            )
            for u in urls
        ]
        read = (
            partial(etcd, etcd_read, s.endpoints)
            if etcd_read
            else partial(_no_daemon_etcd, s.endpoints)
        )
        got_etcd = batch.submit(read, lambda e: EtcdFact(False, s.endpoints, error=e))
        got_fence = batch.submit(
            partial(fence, s.fence_agent), lambda e: FenceFact(s.fence_agent, False, e)
        )
        got_watchdog = batch.submit(
            watchdog or _no_daemon_watchdog, lambda e: WatchdogFact(False, e)
        )
        facts = NodeFacts(
            node=s.node,
            clock=sampled,
            addresses=got_addresses(),
            reach=tuple(g() for g in got_reach),
            heard=_heard(heard),
            names=tuple(g() for g in got_names),
            disks=tuple(g() for g in got_disks),
            programs=tuple(g() for g in got_programs),
            etcd=got_etcd(),
            etcd_endpoints=tuple(g() for g in got_endpoints),
            fence=got_fence(),
            watchdog=got_watchdog(),
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung probe is left behind
    return dataclasses.replace(facts, took_ms=round((time.monotonic() - start) * 1000, 1))


def _heard(heard: Callable[[], Mapping[str, Sequence[str]]] | None) -> tuple[HeardFact, ...]:
    if heard is None:
        return ()
    return tuple(HeardFact(n, tuple(sorted(peers))) for n, peers in sorted(heard().items()))
