"""OCF Resource Agent (agent ``ocf``): any OCF 1.1 resource agent, e.g. ``heartbeat:Dummy``.

The agent ``<provider>:<type>`` is the executable ``$OCF_ROOT/resource.d/<provider>/<type>``,
called as ``<agent> <action>`` with the OCF environment: ``OCF_ROOT``,
``OCF_RESOURCE_INSTANCE`` (the resource's name, made shell-safe by :func:`instance_name`:
agents break on ``Cluster IP``), ``OCF_RESOURCE_TYPE``,
``OCF_RESOURCE_PROVIDER``, ``OCF_RA_VERSION_MAJOR``/``MINOR`` (1.1), one
``OCF_RESKEY_<name>=value`` per parameter, and Pacemaker's ``OCF_RESKEY_CRM_meta_timeout``
(ms) and ``OCF_RESKEY_CRM_meta_interval`` (ms; 0 marks a probe) that many agents read.

* ``start`` / ``stop``: exit 0 is success; ``stop`` exiting 7 (not running) is success too.
  A failed start is undone with ``stop`` before the error is raised.
* LooksAlive is ``monitor`` with ``OCF_CHECK_LEVEL=0``, IsAlive ``monitor`` with
  ``OCF_CHECK_LEVEL=10`` (the "deeper depth"); 0 means running, 7 cleanly stopped, anything
  else (or no answer in time) failed and is logged. ``adopt()`` is a probe: ``monitor`` is 0.
* ``validate()``: the agent is an executable file on this node, then ``validate-all`` if the
  agent's meta-data lists it.
* Every call is bounded: by the timeout the agent's meta-data advises for the action (never
  longer than the caller's), else by the resource's pending timeout. A call that overruns has
  its process group killed and fails.
* Exit codes map to :class:`AgentResult` (:data:`OCF_RESULTS`): 1 generic, 2 (invalid
  parameters) and 6 (not configured) ``ERR_CONFIGURED``, 3 (unimplemented) ``ERR_ARGS``,
  4 ``ERR_PERM``, 5 ``ERR_INSTALLED``; the agent's ``ocf-exit-reason:`` line is quoted.

Properties of the type: ``agent``, ``parameters`` (``name=value`` entries), ``ocf_root``
(default ``/usr/lib/ocf``) and ``netns``: run the agent inside that named network namespace
(``ip netns exec``). A type made by :func:`resource_type_from_metadata` (named
``ocf:<provider>:<type>``) has the agent's parameters as its properties instead.

What ``start`` left running in its process group is recorded in
``<run_dir>/resources/<name>/start.json`` and registered with the node's watchdog, as the
Generic Script agent does; ``stop`` kills what outlives the agent's own ``stop``. The agent's
output is appended to ``ocf.log`` in that directory.

Its meta-data (:func:`parse_metadata`, :func:`schema_from_metadata`,
:func:`resource_type_from_metadata`, :func:`installed_agents`) is read in
:mod:`wolfpack.resources.ocf_metadata`; the names stay importable from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from wolfpack.errors import AgentError
from wolfpack.model.config import PropertyValue, Resource, ResourceType
from wolfpack.resources.base import AgentContext, AgentResult, error_fields, spawn_error_code
from wolfpack.resources.commands import Account, RunResult, find_program, run_bounded
from wolfpack.resources.confine import Cgroup
from wolfpack.resources.leftovers import LeftoverTracking
from wolfpack.resources.ocf_metadata import (
    DEFAULT_OCF_ROOT,
    RUN_PROPERTIES,
    TYPE_PREFIX,
    OcfAction,
    OcfMetadata,
    OcfParameter,
    installed_agents,
    metadata_document,
    parse_duration,
    parse_metadata,
    resource_type_from_metadata,
    schema_from_metadata,
    split_agent,
)
from wolfpack.resources.process import boot_id, describe_exit

__all__ = [
    "DEFAULT_OCF_ROOT",
    "OCF_RESULTS",
    "OcfAction",
    "OcfAgent",
    "OcfMetadata",
    "OcfParameter",
    "installed_agents",
    "instance_name",
    "parse_duration",
    "parse_metadata",
    "resource_type_from_metadata",
    "schema_from_metadata",
]

OCF_SUCCESS = 0
OCF_NOT_RUNNING = 7
#: OCF exit code -> result, for every code but success and "not running"
OCF_RESULTS: dict[int, AgentResult] = {
    1: AgentResult.ERR_GENERIC,
    2: AgentResult.ERR_CONFIGURED,  # OCF_ERR_ARGS: parameter values wrong for this node
    3: AgentResult.ERR_ARGS,  # OCF_ERR_UNIMPLEMENTED: the agent was called wrongly
    4: AgentResult.ERR_PERM,
    5: AgentResult.ERR_INSTALLED,
    6: AgentResult.ERR_CONFIGURED,
}
_OCF_NAMES = {
    1: "generic error",
    2: "invalid parameters",
    3: "unimplemented action",
    4: "insufficient privileges",
    5: "not installed",
    6: "not configured",
    7: "not running",
    8: "running promoted",
    9: "failed promoted",
}
#: OCF_CHECK_LEVEL of LooksAlive and IsAlive
LOOKS_ALIVE_DEPTH = 0
IS_ALIVE_DEPTH = 10
#: SIGTERM grace for what start left behind when nothing else bounds it
LEFTOVER_GRACE_S = 5.0
#: properties of the generic type that are not parameters of the agent
CONTROL_PROPERTIES = frozenset({"agent", "parameters", "ocf_root", "netns"})

_INSTANCE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def instance_name(resource: str) -> str:
    """``OCF_RESOURCE_INSTANCE`` for a resource: its name if that is a safe word, as
    Pacemaker's XML ids are; else a stable safe form (``Cluster IP`` -> ``Cluster_IP-6f0c2a``).
    Agents put it in file names and shell commands, often unquoted."""
    if _INSTANCE.fullmatch(resource):
        return resource
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", resource).strip("_.-") or "resource"
    return f"{safe}-{hashlib.sha256(resource.encode()).hexdigest()[:6]}"


def _format_value(value: PropertyValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


# -- the agent --------------------------------------------------------------------------------
class OcfAgent(LeftoverTracking):
    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        self._account = Account.current()
        self._meta: OcfMetadata | None = None
        self._meta_lock = threading.Lock()

    @property
    def state_file(self) -> Path:
        return self.state_dir / "start.json"

    @property
    def agent_log(self) -> Path:
        return self.log_path("ocf.log")

    # -- configuration -----------------------------------------------------------------------
    def _ocf_root(self) -> str:
        root = self.prop_str("ocf_root") or DEFAULT_OCF_ROOT
        if not root.startswith("/"):
            raise self.error(AgentResult.ERR_CONFIGURED, f"{root!r} is not absolute", "ocf_root")
        return root

    @property
    def generic(self) -> bool:
        """The built-in type (``agent`` and ``parameters`` properties), not one made by
        :func:`resource_type_from_metadata` (named ``ocf:<provider>:<type>``)."""
        return not self.rtype.name.startswith(TYPE_PREFIX)

    def provider_type(self) -> tuple[str, str]:
        """(provider, type) from property ``agent``, or from a type named ``ocf:p:t``."""
        if self.generic:
            spec = self.prop_str("agent", required=True)
            assert spec is not None
        else:
            spec = self.rtype.name[len(TYPE_PREFIX) :]
        parts = split_agent(spec)
        if parts is None:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{spec!r} is not provider:type (e.g. heartbeat:Dummy)",
                "agent",
            )
        return parts

    def agent_path(self) -> str:
        """The agent's executable; ERR_INSTALLED if this node lacks it."""
        provider, kind = self.provider_type()
        path = os.path.join(self._ocf_root(), "resource.d", provider, kind)
        if find_program(path, "/") is None:
            raise self.error(
                AgentResult.ERR_INSTALLED,
                f"OCF agent '{provider}:{kind}' is not installed on this node"
                f" ({path} is not an executable file)",
                "agent",
            )
        return path

    def parameters(self) -> dict[str, str]:
        """name -> value for every ``OCF_RESKEY_`` variable."""
        out: dict[str, str] = {}
        if not self.generic:  # every property but ocf_root and netns, or its default
            for spec in self.rtype.properties:
                value = self._value(spec.name)
                if spec.name not in RUN_PROPERTIES and value is not None:
                    out[spec.name] = _format_value(value)
            return out
        for entry in self.prop_list("parameters"):
            name, sep, value = entry.partition("=")
            name = name.strip()
            if not sep or not _PARAM.fullmatch(name):
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"{entry!r} is not name=value with a name of letters, digits and _",
                    "parameters",
                )
            out[name] = value
        return out

    def _netns_prefix(self) -> list[str]:
        ns = self.prop_str("netns")
        if ns is None:
            return []
        if "/" in ns or ns in (".", "..") or not Path("/run/netns", ns).exists():
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"no network namespace {ns!r} on this node", "netns"
            )
        ip = find_program("ip", "/")
        if ip is None:
            raise self.error(AgentResult.ERR_INSTALLED, "needs the program ip", "netns")
        return [ip, "netns", "exec", ns]

    def _bound(self, action: str, depth: int | None = None, cap: float | None = None) -> float:
        advised = self.metadata().timeout_s(action, depth) if action != "meta-data" else None
        bound = advised if advised is not None else float(self.resource.pending_timeout_s)
        return bound if cap is None else min(bound, cap)

    # -- one call of the agent ---------------------------------------------------------------
    def _run(
        self,
        action: str,
        timeout_s: float,
        *,
        depth: int = 0,
        interval_ms: int = 0,
        keep_group: bool = False,
        output: Path | None = None,
        before_run: Callable[[int], bool] | None = None,
        cgroup: Cgroup | None = None,
    ) -> RunResult:
        path = self.agent_path()
        provider, kind = self.provider_type()
        root = self._ocf_root()
        env = {
            "OCF_ROOT": root,
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "1",
            "OCF_RESOURCE_INSTANCE": instance_name(self.name),
            "OCF_RESOURCE_TYPE": kind,
            "OCF_RESOURCE_PROVIDER": provider,
            "OCF_CHECK_LEVEL": str(depth),
            "OCF_RESKEY_CRM_meta_timeout": str(int(timeout_s * 1000)),
            "OCF_RESKEY_CRM_meta_interval": str(interval_ms),
        }
        env.update({f"OCF_RESKEY_{k}": v for k, v in self.parameters().items()})
        argv = [*self._netns_prefix(), path, action]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = output
        if action not in ("monitor", "meta-data"):  # polled often: output only in messages
            log = self.agent_log
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            with log.open("a") as f:
                f.write(f"--- {stamp} {self.ctx.node}: {' '.join(argv)}\n")
        try:
            return run_bounded(
                self._account,
                argv,
                timeout_s=timeout_s,
                cwd="/",
                env=self._account.environment(env),
                log_path=log,
                keep_group=keep_group,
                before_run=before_run,
                cgroup=cgroup,
            )
        except OSError as exc:
            raise self.error(
                spawn_error_code(exc), f"cannot run {path}: {exc.strerror or exc}", "agent"
            ) from exc

    def _failure(self, action: str, result: RunResult, timeout_s: float) -> AgentError:
        if result.returncode is None:
            return self.error(
                AgentResult.ERR_GENERIC,
                f"{action} did not finish within {timeout_s:g} s; its process group was killed",
                "agent",
            )
        code = result.returncode
        what = describe_exit(code)
        if code in _OCF_NAMES:
            what += f" ({_OCF_NAMES[code]})"
        reasons = [
            line.split("ocf-exit-reason:", 1)[1].strip()
            for line in result.output.splitlines()
            if "ocf-exit-reason:" in line
        ]
        said = (
            f": {reasons[-1]}"
            if reasons
            else (f"; it said: {result.output}" if result.output else "")
        )
        result_code = OCF_RESULTS.get(code, AgentResult.ERR_GENERIC)
        prop = "parameters" if result_code is AgentResult.ERR_CONFIGURED else "agent"
        return self.error(result_code, f"{action} {what}{said}", prop)

    def metadata(self) -> OcfMetadata:
        """The agent's meta-data, read once; empty (no advice) if the agent runs but gives
        none. AgentError if it cannot be run at all (not installed, properties wrong)."""
        with self._meta_lock:
            if self._meta is None:
                self._meta = self._read_metadata()
            return self._meta

    def _read_metadata(self) -> OcfMetadata:
        bound = float(self.resource.pending_timeout_s)
        out = self.state_dir / "meta-data.xml"  # all of it: a RunResult has only the tail
        out.unlink(missing_ok=True)
        result = self._run("meta-data", bound, output=out)
        try:
            if result.returncode != OCF_SUCCESS:
                raise self._failure("meta-data", result, bound)
            return parse_metadata(metadata_document(out.read_text(errors="replace")))
        except (AgentError, ValueError, OSError) as exc:
            self.log("agent_metadata_unreadable", why=str(exc))
            return OcfMetadata(name="")
        finally:
            out.unlink(missing_ok=True)

    # -- the interface -----------------------------------------------------------------------
    def validate(self) -> None:
        """The agent is installed here; then its own ``validate-all``, if it has one."""
        self.agent_path()
        self.parameters()
        self._netns_prefix()
        if not self.metadata().supports("validate-all"):
            return
        bound = self._bound("validate-all")
        result = self._run("validate-all", bound)
        if result.returncode != OCF_SUCCESS:
            raise self._failure("validate-all", result, bound)

    def start(self, timeout_s: float) -> None:
        bound = self._bound("start", cap=timeout_s)
        self.log("agent_starting", agent=":".join(self.provider_type()), timeout_s=bound)
        result = self._run(
            "start", bound, keep_group=True, before_run=self._admit, cgroup=self.open_cgroup()
        )
        if result.returncode == OCF_SUCCESS:
            if result.group is not None:
                self._record(result.group)
            self.log("agent_online", pids=self.pids())
            return
        error = self._failure("start", result, bound)
        self.log("agent_start_failed", **error_fields(error))
        with contextlib.suppress(AgentError):  # undo as far as it goes; report the start
            self._stop(timeout_s)
        raise error

    def stop(self, timeout_s: float) -> None:
        self.log("agent_stopping")
        self._stop(timeout_s)
        self.log("agent_offline")

    def _stop(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        bound = self._bound("stop", cap=timeout_s)
        try:
            result = self._run("stop", bound)
        finally:
            left = deadline - time.monotonic()
            self._forget(max(0.0, min(LEFTOVER_GRACE_S, left)))
        if result.returncode not in (OCF_SUCCESS, OCF_NOT_RUNNING):
            raise self._failure("stop", result, bound)

    def monitor(self, depth: int = LOOKS_ALIVE_DEPTH, interval_ms: int = 0) -> AgentResult:
        """OK (running), NOT_RUNNING (cleanly stopped) or the failure's result; logged."""
        bound = self._bound("monitor", depth)
        result = self._run("monitor", bound, depth=depth, interval_ms=interval_ms)
        if result.returncode == OCF_SUCCESS:
            return AgentResult.OK
        if result.returncode == OCF_NOT_RUNNING:
            return AgentResult.NOT_RUNNING
        error = self._failure("monitor", result, bound)
        self.log("agent_monitor_failed", depth=depth, why=str(error))
        return error.code

    def _alive(self, depth: int, interval_ms: int) -> bool:
        try:
            return self.monitor(depth, interval_ms) is AgentResult.OK
        except AgentError as exc:
            self.log("agent_monitor_failed", depth=depth, why=str(exc))
            return False

    def looks_alive(self) -> bool:
        ms = self.resource.looks_alive_ms or self.rtype.looks_alive_ms
        return self._alive(LOOKS_ALIVE_DEPTH, ms)

    def is_alive(self) -> bool:
        ms = self.resource.is_alive_ms or self.rtype.is_alive_ms
        return self._alive(IS_ALIVE_DEPTH, ms)

    def adopt(self) -> bool:
        """A probe: True if ``monitor`` says running; what start left is registered again."""
        if not self._alive(LOOKS_ALIVE_DEPTH, 0):
            with contextlib.suppress(AgentError):
                self._forget(LEFTOVER_GRACE_S)
            return False
        recorded = self._recorded()
        if recorded is not None and recorded[0].boot == boot_id():
            self._record(recorded[0])
        self.log("agent_adopted", pids=self.pids())
        return True

    def pids(self) -> list[int]:
        recorded = self._recorded()
        return [] if recorded is None else recorded[0].members()

    # -- what start left running -------------------------------------------------------------
