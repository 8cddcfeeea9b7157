"""Generic Service (agent ``service``): a system service started on the owner node only.

Where systemd runs (``/run/systemd/system`` exists, as ``sd_booted()`` checks), the service
is the systemd unit named by ``service``: *start* is ``systemctl start``, *stop* ``systemctl
stop``, *is_alive* ``systemctl is-active``; *looks_alive* reads the unit's control group
(``cgroup.procs`` not empty) without spawning anything. The unit must not be enabled at boot:
the cluster starts it, on one node.

Where systemd does not run (containers, the lab), the same resource is a supervised program
from ``command``, ``user``, ``directory`` and ``environment``: exactly a Generic Application
(:mod:`wolfpack.resources.application` does the work; nothing is copied here).

In systemd mode the unit runs in a cgroup of systemd's: its path (``systemctl show -p
ControlGroup``) is recorded with the node's holdings (:mod:`wolfpack.resources.holdings`,
``owned: false``), so that the node's watchdog and a restarted daemon can kill the unit
through its ``cgroup.kill`` without asking systemd.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from wolfpack.errors import AgentError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources.application import ApplicationAgent
from wolfpack.resources.base import Agent, AgentContext, AgentResult
from wolfpack.resources.commands import RunResult, find_tool, run_tool
from wolfpack.resources.holdings import CGROUP

__all__ = ["SYSTEMD_RUN_DIR", "ServiceAgent", "SystemdUnit", "systemd_running", "unit_name"]

#: exists only when systemd is the init system (sd_booted(3))
SYSTEMD_RUN_DIR = Path("/run/systemd/system")
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: bound of the quick systemctl queries (is-active, show)
QUERY_TIMEOUT_S = 10.0

Runner = Callable[[Sequence[str], float], RunResult]
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")
_SUFFIXES = (".service", ".socket", ".target", ".timer", ".mount", ".path")


def systemd_running(run_dir: Path = SYSTEMD_RUN_DIR) -> bool:
    return run_dir.is_dir()


def unit_name(service: str) -> str | None:
    """``nginx`` -> ``nginx.service``; None if it cannot be a unit name."""
    if not _UNIT.match(service) or service.startswith("-"):
        return None
    return service if service.endswith(_SUFFIXES) else f"{service}.service"


def _run(argv: Sequence[str], timeout_s: float) -> RunResult:
    return run_tool(list(argv), timeout_s)


class SystemdUnit:
    """One systemd unit driven through ``systemctl``; ``runner`` runs one command, bounded
    (replaced by a fake in unit tests)."""

    def __init__(
        self,
        unit: str,
        fail: Callable[[AgentResult, str], AgentError],
        *,
        runner: Runner = _run,
        cgroup_root: Path = CGROUP_ROOT,
    ) -> None:
        self.unit, self.fail, self.runner, self.cgroup_root = unit, fail, runner, cgroup_root
        self._cgroup: Path | None = None

    def systemctl(self, *args: str, timeout_s: float = QUERY_TIMEOUT_S) -> RunResult:
        return self.runner(["systemctl", *args], timeout_s)

    def start(self, timeout_s: float) -> None:
        result = self.systemctl("start", "--", self.unit, timeout_s=timeout_s)
        if result.returncode != 0 or not self.active():
            said = result.output or "it is not active afterwards"
            raise self.fail(AgentResult.ERR_GENERIC, f"systemctl start {self.unit}: {said}")
        self._cgroup = self.control_group()

    def stop(self, timeout_s: float) -> None:
        result = self.systemctl("stop", "--", self.unit, timeout_s=timeout_s)
        if result.returncode != 0 and self.active():
            said = result.output or "timed out"
            raise self.fail(AgentResult.ERR_GENERIC, f"systemctl stop {self.unit}: {said}")
        self._cgroup = None

    def active(self) -> bool:
        return self.systemctl("is-active", "--quiet", "--", self.unit).returncode == 0

    def control_group(self) -> Path | None:
        """The unit's cgroup directory (cgroup v2), or None if systemd names none."""
        result = self.systemctl("show", "--property=ControlGroup", "--value", "--", self.unit)
        group = result.output.strip() if result.returncode == 0 else ""
        if not group.startswith("/"):
            return None
        return self.cgroup_root / group.lstrip("/")

    def pids(self) -> list[int]:
        if self._cgroup is None:
            return []
        try:
            text = (self._cgroup / "cgroup.procs").read_text()
        except OSError:
            return []
        return sorted(int(p) for p in text.split())

    @property
    def cgroup(self) -> Path | None:
        """The unit's cgroup directory, as read at start or adoption."""
        return self._cgroup

    def looks_alive(self) -> bool:
        """Processes in the unit's cgroup (no process spawned); is-active if its cgroup is
        not known."""
        return bool(self.pids()) if self._cgroup is not None else self.active()

    def adopt(self) -> bool:
        if not self.active():
            return False
        self._cgroup = self.control_group()
        return True


class ServiceAgent(Agent):
    #: where to look for systemd; tests point it elsewhere
    systemd_run_dir: Path = SYSTEMD_RUN_DIR

    def __init__(
        self,
        resource: Resource,
        rtype: ResourceType,
        ctx: AgentContext,
        *,
        runner: Runner = _run,
        cgroup_root: Path = CGROUP_ROOT,
    ) -> None:
        super().__init__(resource, rtype, ctx)
        self.systemd = systemd_running(self.systemd_run_dir)
        self._runner, self._cgroup_root = runner, cgroup_root
        self._systemd_unit: SystemdUnit | None = None
        #: without systemd: the Generic Application agent supervises ``command``
        self._app = None if self.systemd else ApplicationAgent(resource, rtype, ctx)

    @property
    def mode(self) -> str:
        return "systemd" if self.systemd else "supervised"

    def unit(self) -> SystemdUnit:
        """The systemd unit (only where systemd runs); AgentError if ``service`` is no unit."""
        if self._systemd_unit is None:
            service = self.prop_str("service", required=True)
            assert service is not None
            unit = unit_name(service)
            if unit is None:
                raise self.error(
                    AgentResult.ERR_CONFIGURED, f"{service!r} is not a systemd unit name", "service"
                )
            self._systemd_unit = SystemdUnit(
                unit, self.error, runner=self._runner, cgroup_root=self._cgroup_root
            )
        return self._systemd_unit

    def validate(self) -> None:
        app = self._app
        if app is None:
            self.unit()
            if find_tool("systemctl") is None:
                raise self.error(
                    AgentResult.ERR_INSTALLED, "systemd runs but systemctl is not installed"
                )
            return
        if self.prop_str("command") is None:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                "systemd does not run on this node, so the service needs a command to"
                " supervise instead",
                "command",
            )
        app.validate()

    def start(self, timeout_s: float) -> None:
        self.log("service_starting", mode=self.mode)
        app = self._app
        if app is None:
            unit = self.unit()
            unit.start(timeout_s)
            self._hold(unit)
            self.log("service_online", unit=unit.unit)
            return
        self.validate()
        app.start(timeout_s)

    def stop(self, timeout_s: float) -> None:
        app = self._app
        if app is None:
            unit = self.unit()
            unit.stop(timeout_s)
            self.holdings.remove(CGROUP, self.name)
            self.log("service_offline", unit=unit.unit)
            return
        app.stop(timeout_s)

    def looks_alive(self) -> bool:
        app = self._app
        return self.unit().looks_alive() if app is None else app.looks_alive()

    def is_alive(self) -> bool:
        app = self._app
        return self.unit().active() if app is None else app.is_alive()

    def adopt(self) -> bool:
        app = self._app
        if app is not None:
            return app.adopt()
        unit = self.unit()
        adopted = unit.adopt()
        if adopted:
            self._hold(unit)
        return adopted

    def _hold(self, unit: SystemdUnit) -> None:
        """Record the unit's cgroup (systemd's, not ours: killed, never removed) so that the
        node's watchdog and a restarted daemon can end the unit without systemctl."""
        if unit.cgroup is not None:
            self.holdings.add(CGROUP, self.name, path=str(unit.cgroup), owned=False)

    def pids(self) -> list[int]:
        app = self._app
        return self.unit().pids() if app is None else app.pids()
