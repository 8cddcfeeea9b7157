"""The peers' lab for bench/compare.py: Wolfpack's lab network without Wolfpack.

The same topology as ``wolfpack lab`` (:func:`wolfpack.lab.world.build_network`: node1..3
on a public 198.51.100.0/24 and a private 203.0.113.0/24 bridge, a ``client`` host on the
public one, no uplink, no default route), the same power-off
(:func:`wolfpack.lab.power.power_off`: every process of the node's namespace killed, its
addresses flushed and its links down) and the same probe
(:meth:`wolfpack.lab.driver.LabDriver.probe`). Everything is recorded in a
:class:`~wolfpack.lab.state.LabState`, so :func:`wolfpack.lab.teardown.down` removes exactly
that, also after a failure half-way.

Each node's programs run under one "node shell" in the node's network namespace and a
mount namespace of its own (``ip netns exec`` makes one), in which the node's own
directories are bind-mounted over ``/run`` (pid files, the resource agents' state), the
lab's ``local`` directory (the page naming the node) and whatever else the system needs
(Pacemaker: ``/etc/corosync``, ``/var/lib/pacemaker``, ...): several copies of a daemon
that expects to be alone on a machine then run side by side.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from wolfpack.errors import WolfpackError
from wolfpack.lab import world
from wolfpack.lab.driver import LabDriver
from wolfpack.lab.power import links_up, power_off
from wolfpack.lab.state import LabState, locked

#: the address every system moves (Wolfpack's Web address in the demo)
VIP = "198.51.100.20"
URL = f"http://{VIP}/"
NODES = ["node1", "node2", "node3"]
#: where each peer lab's logs are kept after it is removed
LOGS = Path("/tmp/wolfpack-compare-logs")
#: upper bound of any wait for a cluster to form, settle or answer
WAIT_S = 90.0


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


@dataclass(frozen=True)
class Mount:
    """``source`` (a directory of the node's own, under its node directory) over ``target``."""

    source: str
    target: str


class PeerLab:
    """A lab for one peer system; a context manager that always takes it down."""

    def __init__(self, lab_dir: Path, name: str) -> None:
        self.dir = lab_dir.resolve()
        self.name = name
        self.state: LabState | None = None

    # -- up and down -----------------------------------------------------------------------
    def __enter__(self) -> PeerLab:
        if LabState.exists(self.dir):
            say(f"a lab was left in {self.dir}: removing it first")
            world.down(self.dir, say)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        state = LabState(
            dir=str(self.dir),
            prefix=f"wpc-{secrets.token_hex(3)}-",
            nodes=list(NODES),
            cluster=self.name,
        )
        state.save()
        self.state = state
        try:
            world.build_network(state, ["client"], say)
            state.phase = "up"
            state.save()
            self._write_pages()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.state is not None:
            self.keep_logs()
            world.down(self.dir, say)
            self.state = None

    def keep_logs(self) -> None:
        """Copy the nodes' logs to :data:`LOGS` before the lab is removed (what went wrong)."""
        dest = LOGS / self.dir.name
        shutil.rmtree(dest, ignore_errors=True)
        for log in sorted((self.dir / "nodes").glob("*/**/*.log")):
            if log.is_file():
                target = dest / log.relative_to(self.dir / "nodes")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, target)

    @property
    def lab_state(self) -> LabState:
        if self.state is None:
            raise WolfpackError(f"the {self.name} lab is not up")
        return self.state

    def driver(self) -> LabDriver:
        """For the probe (the same client as Wolfpack's lab bench)."""
        return LabDriver(self.dir)

    # -- nodes -----------------------------------------------------------------------------
    def node_dir(self, node: str) -> Path:
        return world.node_dir(self.lab_state, node)

    def own(self, node: str, name: str, copy_of: str | None = None) -> Path:
        """The node's own directory ``name``: empty, or a copy of ``copy_of`` (owners and
        modes kept, e.g. ``/var/lib/pacemaker``), made once."""
        path = self.node_dir(node) / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if copy_of is not None and Path(copy_of).is_dir():
                subprocess.run(["cp", "-a", copy_of, str(path)], check=True, timeout=30)
            else:
                path.mkdir(mode=0o755)
        return path

    def _write_pages(self) -> None:
        for node in NODES:
            www = self.own(node, "local") / "www"
            www.mkdir(mode=0o755, exist_ok=True)
            (www / "index.html").write_text(f"<h1>{self.name}: served by {node}</h1>\n")
        local = world.local_dir(self.lab_state)
        local.mkdir(mode=0o755, exist_ok=True)
        (self.dir / "nodes").chmod(0o755)
        nginx = self.nginx_conf()
        nginx.write_text(
            "# bench/compare.py: the same page on every node, naming the node\n"
            "worker_processes 1;\npid /run/nginx-compare.pid;\n"
            f"error_log {local}/nginx-error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n  access_log off;\n"
            "  server {\n    listen 80;\n"
            f"    root {local}/www;\n    index index.html;\n  }}\n}}\n"
        )

    def nginx_conf(self) -> Path:
        """One nginx.conf for every node; what it serves is each node's own (``local``)."""
        return self.dir / "nginx.conf"

    def start(self, node: str, role: str, script: str, mounts: list[Mount]) -> int:
        """Run ``script`` (sh) as ``node``'s node shell: in its namespace, with ``mounts``
        and its own ``/run`` and ``local`` bind-mounted; recorded in the lab state."""
        state = self.lab_state
        binds = [
            Mount(str(self.own(node, "sysrun")), "/run"),
            Mount(str(self.own(node, "local")), str(world.local_dir(state))),
            *mounts,
        ]
        setup = "".join(
            f"mount --bind {shlex.quote(m.source)} {shlex.quote(m.target)} && " for m in binds
        )
        log = self.node_dir(node) / f"{role}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [*world.netns_exec(state, node), "/bin/sh", "-c", f"{setup}{script}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with locked(self.dir):
            state.add_process(node, role, proc.pid)
        return proc.pid

    def run(self, node: str, argv: list[str], timeout_s: float = 20.0) -> str:
        """``argv`` in ``node``'s namespace *and* its node shell's mounts (the tools of a
        daemon that lives there, such as ``crm_mon``, find it only there)."""
        pid = self.shell_pid(node)
        prefix = (
            ["nsenter", "-t", str(pid), "-m", "-n", "--"]
            if pid is not None
            else world.netns_exec(self.lab_state, node)
        )
        result = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if result.returncode != 0:
            raise WolfpackError(
                f"on {node}: {' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def shell_pid(self, node: str) -> int | None:
        """A running process of ``node``'s node shell (its mount namespace)."""
        for proc in self.lab_state.processes_of(node):
            if proc.running:
                return proc.pid
        return None

    # -- power -----------------------------------------------------------------------------
    def power_off(self, node: str) -> None:
        power_off(self.dir, node)
        self.state = LabState.load(self.dir)

    def power_on(self, node: str, start: Callable[[str], None]) -> None:
        """Links up with the node's addresses, then ``start(node)`` its programs, with an
        empty /run as after a real power cycle (keepalived refuses to start over a pid file
        whose number another process has taken meanwhile)."""
        sysrun = self.node_dir(node) / "sysrun"
        shutil.rmtree(sysrun, ignore_errors=True)
        with locked(self.dir):
            state = LabState.load(self.dir)
            links_up(state, node)
            if node in state.powered_off:
                state.powered_off.remove(node)
            state.save()
        self.state = LabState.load(self.dir)
        start(node)


def wait(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    """:meth:`LabDriver.wait`, a failing look (a tool not answering yet) counting as no."""

    def look() -> bool:
        try:
            return bool(predicate())
        except (WolfpackError, subprocess.SubprocessError, OSError):
            return False

    LabDriver.wait(look, timeout_s, what)


# -- installing the peers -----------------------------------------------------------------------
PACKAGES = ["keepalived", "pacemaker", "corosync", "resource-agents", "pacemaker-cli-utils"]
PROGRAMS = ["keepalived", "pacemakerd", "corosync", "crm_mon", "cibadmin"]
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
UNITS = ["keepalived", "corosync", "pacemaker"]


@contextlib.contextmanager
def services_never_start() -> Iterator[None]:
    """While installing: Debian's maintainer scripts start nothing (policy-rc.d answers 101,
    "action forbidden"); a policy-rc.d already there is left as it is."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text(
        "#!/bin/sh\n# bench/compare.py: no service starts while installing\nexit 101\n"
    )
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def install_peers() -> list[str]:
    """Install keepalived, Pacemaker and Corosync from Debian if a program is missing; the
    packages installed (none if all were there). With systemd running, their units are
    disabled and stopped: the lab starts its own copies in namespaces."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if not missing:
        return []
    say(f"installing {', '.join(PACKAGES)} from Debian (missing: {', '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with services_never_start():
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise WolfpackError(f"{' '.join(argv)} failed: {result.stderr.strip()[-500:]}")
    if Path("/run/systemd/system").exists():
        subprocess.run(
            ["systemctl", "disable", "--now", *UNITS], capture_output=True, timeout=60, check=False
        )
    return PACKAGES
