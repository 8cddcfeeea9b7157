"""The agent interface: how the resource manager starts, stops and watches one resource.

One :class:`Agent` instance serves one resource on one node (the MSCS resource DLL's
Open/Online/Offline/Terminate/LooksAlive/IsAlive, DESIGN §3). Contract for implementers:

* ``validate()`` checks, on this node, what the cluster database cannot: the program exists,
  the account exists, the directory exists. It changes nothing.
* ``start(timeout_s)`` returns once the resource is online, or raises :class:`AgentError`
  having left nothing of it running. Starting a running resource does nothing.
* ``stop(timeout_s)`` returns once nothing of the resource runs; stopping a stopped resource
  is fine. It is also the MSCS *Terminate*: the manager calls it after a failure.
* ``looks_alive()`` is cheap (no process spawned); ``is_alive()`` is thorough. Neither raises
  for an unhealthy resource: they return False.
* A failure noticed without being asked (a supervised process exiting) is reported at once
  through ``ctx.on_failure(resource, why)``, from the agent's own thread.
* ``adopt()`` re-attaches, after a daemon restart, to what an earlier instance started.
* A resource that must never be active on two nodes at once (a disk) also holds a claim in
  the cluster database, through ``ctx.claims``, bound to the node's lease.
* Only processes the agent started itself are ever signalled (recorded by PID, start time and
  boot id; see :mod:`wolfpack.resources.process`).

Every error is an :class:`AgentError` whose message names the resource, the node and the
property at fault; nothing else escapes an agent's public methods.
"""

from __future__ import annotations

import ipaddress
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wolfpack.errors import AgentError
from wolfpack.errors import AgentResult as AgentResult  # its home is the error tree
from wolfpack.model.config import PropertyValue, Resource, ResourceType
from wolfpack.resources.confine import Cgroup, Confinement
from wolfpack.resources.holdings import CGROUP, Holdings

__all__ = [
    "Agent",
    "AgentContext",
    "AgentError",
    "AgentResult",
    "Claims",
    "LinkWatch",
    "error_fields",
]


def error_fields(exc: BaseException) -> dict[str, object]:
    """Log fields for a failed agent call: the message, and the agent's result code when it
    has one (docs/resource-types.md: the code and the message go to the node log)."""
    fields: dict[str, object] = {"error": str(exc)}
    if isinstance(exc, AgentError):
        fields["code"] = str(exc.code)
    return fields


class Claims(Protocol):
    """Exclusive claims in the cluster database, held for this node while its lease lives.

    A claim is named ``kind``/``name`` (``disks``/<filesystem UUID>) and records the
    ``owner`` resource. Claims vanish with the node's lease, so a node that was fenced or
    lost its lease holds none. Every method raises :class:`~wolfpack.errors.StoreError` if
    the database cannot be asked.
    """

    def claim(self, kind: str, name: str, owner: str) -> None:
        """Hold the claim for ``owner`` on this node; doing so again is fine.
        :class:`~wolfpack.errors.ClaimHeld` (naming the holder) if another node or
        resource holds it."""
        ...

    def release(self, kind: str, name: str, owner: str) -> None:
        """Give it up if this node holds it for ``owner``; otherwise do nothing."""
        ...

    def holds(self, kind: str, name: str, owner: str) -> bool:
        """Whether this node holds it for ``owner`` under its current lease."""
        ...


class LinkWatch(Protocol):
    """The node's media sense (S41, :mod:`wolfpack.node.links`): a resource that lives on a
    network link asks to be told when that link is lost, so it fails at once instead of at
    its next IsAlive. A flap shorter than the node's window is never reported."""

    def watch(self, owner: str, ifname: str, on_lost: Callable[[str], None]) -> None:
        """Call ``on_lost(why)`` (from the monitor's thread) once when link ``ifname`` of the
        node's network namespace has been unusable for the window; again only after it
        came back. Watching again replaces ``owner``'s earlier watch."""
        ...

    def unwatch(self, owner: str) -> None:
        """Forget ``owner``'s watch; nothing if there is none."""
        ...


@dataclass(frozen=True)
class AgentContext:
    """What an agent gets from the node it runs on."""

    node: str
    #: per-node runtime directory; an agent keeps its files in run_dir/resources/<resource>
    run_dir: Path
    #: structured log: (event, fields)
    log: Callable[[str, dict[str, object]], None]
    #: (resource name, why): a supervised process exited unasked; called from a watch thread
    on_failure: Callable[[str, str], None]
    #: the node's registry of processes its watchdog kills on self-fence
    register_pid: Callable[[int], None]
    unregister_pid: Callable[[int], None]
    #: the node's claims in the cluster database (None where there is none, as in tests of
    #: agents that need none: an agent that needs claims then refuses to start)
    claims: Claims | None = None
    #: whether this node may still run resources (its lease is valid by its own clock):
    #: asked once more just before a started process is let run
    may_run: Callable[[], bool] = lambda: True
    #: the node's cgroup subtree (None: confinement off, processes are tracked by their
    #: process groups only); see :mod:`wolfpack.resources.confine`
    confine: Confinement | None = None
    #: where resources' output goes, log_dir/<resource>/ (programs' output, nginx's access
    #: and error logs, fsck and OCF agent runs): a persistent, rotated place such as
    #: /var/log/wolfpack/resources. None: beside the agent's other files in run_dir.
    log_dir: Path | None = None
    #: the node's media sense (None: not watched; the IP Address then notices a lost link
    #: at its next IsAlive only)
    links: LinkWatch | None = None


class Agent(ABC):
    """Base of every resource agent; see the module docstring for the contract."""

    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        self.resource, self.rtype, self.ctx = resource, rtype, ctx
        if resource.type != rtype.name:
            raise self.error(
                AgentResult.ERR_ARGS, f"is of type {resource.type!r}, not {rtype.name!r}"
            )
        if resource.name in (".", ".."):
            raise self.error(AgentResult.ERR_CONFIGURED, "is not a usable resource name")

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def state_dir(self) -> Path:
        """Where this agent keeps its pid and log files on this node."""
        return self.ctx.run_dir / "resources" / self.resource.name

    def log_path(self, name: str) -> Path:
        """A log file of this resource (``log_dir/<resource>/<name>``; the directory is made
        on first use): what it says outlives the node's reboot and a move elsewhere."""
        where = (
            self.state_dir if self.ctx.log_dir is None else self.ctx.log_dir / self.resource.name
        )
        where.mkdir(parents=True, exist_ok=True, mode=0o750)
        return where / name

    @property
    def holdings(self) -> Holdings:
        """The node's record of cgroups, addresses and mounts (:mod:`.holdings`)."""
        return Holdings(self.ctx.run_dir)

    def open_cgroup(self) -> Cgroup | None:
        """The resource's cgroup, recorded (for the watchdog) and created; None when
        confinement is off. AgentError if it cannot be created."""
        group = None if self.ctx.confine is None else self.ctx.confine.cgroup(self.name)
        if group is None:
            return None
        self.holdings.add(CGROUP, self.name, path=str(group.path), owned=True)
        try:
            group.create()
        except OSError as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"cannot create its cgroup {group.path}: {exc}"
            ) from exc
        return group

    def close_cgroup(self) -> None:
        """After the agent's own (graceful) stop: SIGKILL whatever is left in the resource's
        cgroup (what it forked, however it daemonised), remove the cgroup and forget it."""
        group = None if self.ctx.confine is None else self.ctx.confine.cgroup(self.name)
        if group is None:
            return
        left = group.pids()
        if not group.kill_and_remove():
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"processes {group.pids()} in {group.path} still run after SIGKILL",
            )
        if left:
            self.log("agent_cgroup_killed", pids=left, cgroup=str(group.path))
        self.holdings.remove(CGROUP, self.name)
        if self.ctx.confine is not None:
            self.ctx.confine.remove_root()

    # -- the interface ----------------------------------------------------------------------
    @abstractmethod
    def validate(self) -> None: ...

    @abstractmethod
    def start(self, timeout_s: float) -> None: ...

    @abstractmethod
    def stop(self, timeout_s: float) -> None: ...

    @abstractmethod
    def looks_alive(self) -> bool: ...

    @abstractmethod
    def is_alive(self) -> bool: ...

    @abstractmethod
    def adopt(self) -> bool: ...

    @abstractmethod
    def pids(self) -> list[int]: ...

    # -- helpers for implementations -----------------------------------------------------------
    def error(self, code: AgentResult, message: str, prop: str | None = None) -> AgentError:
        """``resource 'Web' on node1: property user: no account 'www' on this node``."""
        where = f"property {prop}: " if prop else ""
        return AgentError(code, f"resource {self.name!r} on {self.ctx.node}: {where}{message}")

    def listen_endpoint(self, default_port: int) -> tuple[str, int]:
        """The ``listen_address`` and ``port`` properties, checked (servers: nginx, PostgreSQL)."""
        address = self.prop_str("listen_address", required=True)
        assert address is not None
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{address!r} is not an IPv4 address", "listen_address"
            ) from None
        port = self.prop_int("port", default_port)
        if not 1 <= port <= 65535:
            raise self.error(AgentResult.ERR_CONFIGURED, f"{port} is not a TCP port", "port")
        return address, port

    def log(self, event: str, **fields: object) -> None:
        self.ctx.log(event, {"resource": self.name, "agent": self.rtype.agent, **fields})

    def _value(self, prop: str) -> PropertyValue | None:
        if prop in self.resource.properties:
            return self.resource.properties[prop]
        spec = self.rtype.spec(prop)
        return None if spec is None else spec.default

    def prop_str(self, prop: str, *, required: bool = False) -> str | None:
        """A string property (or its type's default); None if unset or empty."""
        value = self._value(prop)
        if value is None or value == "":
            if required:
                raise self.error(AgentResult.ERR_CONFIGURED, "is required", prop)
            return None
        if not isinstance(value, str):
            raise self.error(AgentResult.ERR_CONFIGURED, f"must be text, not {value!r}", prop)
        return value

    def prop_int(self, prop: str, default: int) -> int:
        value = self._value(prop)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"must be a whole number >= 0, not {value!r}", prop
            )
        return value

    def prop_bool(self, prop: str) -> bool:
        value = self._value(prop)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"must be true or false, not {value!r}", prop
            )
        return value

    def prop_list(self, prop: str) -> list[str]:
        value = self._value(prop)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"must be a list of strings, not {value!r}", prop
            )
        return list(value)

    def prop_argv(self, prop: str, *, required: bool = False) -> list[str] | None:
        """A command line property, split like a shell would but never run by one."""
        line = self.prop_str(prop, required=required)
        if line is None:
            return None
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"cannot split {line!r}: {exc}", prop
            ) from exc
        if not argv:
            raise self.error(AgentResult.ERR_CONFIGURED, "is an empty command", prop)
        return argv


def spawn_error_code(exc: OSError) -> AgentResult:
    """The result for a program that could not be started at all."""
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return AgentResult.ERR_INSTALLED
    if isinstance(exc, PermissionError):
        return AgentResult.ERR_PERM
    return AgentResult.ERR_GENERIC
