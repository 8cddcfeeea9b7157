"""Generic Script (agent ``script``): a script that implements ``start``, ``stop`` and
``status``, called as ``<script> start|stop|status`` the way an LSB init script is.

* ``start`` / ``stop`` succeed with exit 0; ``stop`` of a stopped resource must succeed too
  (a non-zero ``stop`` is forgiven if ``status`` then says 3, stopped).
* ``status``: 0 running, 3 stopped cleanly, anything else (or no answer within
  ``status_timeout_s``) failed. LooksAlive and IsAlive both ask it: a script cannot be
  watched for failure between two calls.
* Each call is bounded by its timeout; a call that overruns has its process group killed and
  fails. After a successful ``start``, the status must report running before the timeout.
* What ``start`` left running in its process group (a daemon started with ``&``) is
  recorded in ``<run_dir>/resources/<name>/start.json`` and registered with the node's
  watchdog; ``stop`` kills whatever of it outlives the script's own ``stop``.

The script runs as the daemon's account, in ``/``, with a clean environment plus
``WOLFPACK_RESOURCE``, ``WOLFPACK_NODE`` and ``WOLFPACK_STATE_DIR`` (a directory it may keep
its pid file in). Its output is appended to ``script.log`` in that directory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from wolfpack.errors import AgentError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources.base import AgentContext, AgentResult, spawn_error_code
from wolfpack.resources.commands import Account, RunResult, find_program, run_bounded
from wolfpack.resources.confine import Cgroup
from wolfpack.resources.leftovers import LeftoverTracking
from wolfpack.resources.process import boot_id, describe_exit

__all__ = ["ScriptAgent"]

DEFAULT_STATUS_TIMEOUT_S = 10
#: pause between two status calls while waiting for a start to take effect
STATUS_EVERY_S = 0.1
#: SIGTERM grace for what a script left behind when nothing else bounds it
LEFTOVER_GRACE_S = 5.0
#: LSB: "program is not running"
LSB_NOT_RUNNING = 3


class ScriptAgent(LeftoverTracking):
    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        self._account = Account.current()

    @property
    def state_file(self) -> Path:
        return self.state_dir / "start.json"

    @property
    def script_log(self) -> Path:
        return self.log_path("script.log")

    def validate(self) -> None:
        self._script()

    def _script(self) -> str:
        path = self.prop_str("script", required=True)
        assert path is not None
        if not path.startswith("/") or find_program(path, "/") is None:
            raise self.error(
                AgentResult.ERR_INSTALLED,
                f"{path!r} is not an executable file on this node",
                "script",
            )
        return path

    def _status_timeout_s(self) -> int:
        return self.prop_int("status_timeout_s", DEFAULT_STATUS_TIMEOUT_S) or 1

    # -- one call of the script ------------------------------------------------------------------
    def _run(
        self,
        action: str,
        timeout_s: float,
        *,
        keep_group: bool = False,
        before_run: Callable[[int], bool] | None = None,
        cgroup: Cgroup | None = None,
    ) -> RunResult:
        script = self._script()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = None
        if action != "status":  # polled often: its output only goes into messages
            log = self.script_log
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            with log.open("a") as f:
                f.write(f"--- {stamp} {self.ctx.node}: {script} {action}\n")
        env = self._account.environment(
            {
                "WOLFPACK_RESOURCE": self.name,
                "WOLFPACK_NODE": self.ctx.node,
                "WOLFPACK_STATE_DIR": str(self.state_dir),
            }
        )
        try:
            return run_bounded(
                self._account,
                [script, action],
                timeout_s=timeout_s,
                cwd="/",
                env=env,
                log_path=log,
                keep_group=keep_group,
                before_run=before_run,
                cgroup=cgroup,
            )
        except OSError as exc:
            raise self.error(
                spawn_error_code(exc), f"cannot run {script!r}: {exc.strerror or exc}", "script"
            ) from exc

    def _failure(self, action: str, result: RunResult, timeout_s: float) -> str | None:
        """What went wrong with ``script action``, or None if it exited 0."""
        if result.returncode is None:
            return f"{action} did not finish within {timeout_s:g} s; its process group was killed"
        if result.returncode != 0:
            said = f"; it said: {result.output}" if result.output else ""
            return f"{action} {describe_exit(result.returncode)}{said}"
        return None

    def status(self, timeout_s: float | None = None) -> AgentResult:
        """OK (running), NOT_RUNNING (cleanly stopped) or ERR_GENERIC (failed, or no answer)."""
        bound = self._status_timeout_s() if timeout_s is None else timeout_s
        result = self._run("status", bound)
        if result.returncode == 0:
            return AgentResult.OK
        if result.returncode == LSB_NOT_RUNNING:
            return AgentResult.NOT_RUNNING
        self.log("agent_status_failed", why=self._failure("status", result, bound))
        return AgentResult.ERR_GENERIC

    # -- start / stop ----------------------------------------------------------------------------
    def start(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self.log("agent_starting", script=self._script())
        result = self._run(
            "start", timeout_s, keep_group=True, before_run=self._admit, cgroup=self.open_cgroup()
        )
        problem = self._failure("start", result, timeout_s)
        if problem is None and result.group is not None:
            self._record(result.group)
        while problem is None:
            left = deadline - time.monotonic()
            last = self.status(max(0.1, min(self._status_timeout_s(), left)))
            if last is AgentResult.OK:
                self.log("agent_online", pids=self.pids())
                return
            if deadline - time.monotonic() <= 0:
                problem = f"status still says {last} at the end of the start timeout"
            else:
                time.sleep(STATUS_EVERY_S)
        self.log("agent_start_failed", error=problem)
        with contextlib.suppress(AgentError):  # undo as far as it goes; report the start
            self._stop(timeout_s)
        raise self.error(AgentResult.ERR_GENERIC, problem, "script")

    def stop(self, timeout_s: float) -> None:
        self.log("agent_stopping")
        self._stop(timeout_s)
        self.log("agent_offline")

    def _stop(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        try:
            result = self._run("stop", timeout_s)
            problem = self._failure("stop", result, timeout_s)
            if problem is not None and result.returncode is not None:
                left = max(0.1, min(self._status_timeout_s(), deadline - time.monotonic()))
                if self.status(left) is AgentResult.NOT_RUNNING:
                    self.log("agent_stop_forgiven", why=problem)
                    problem = None
        finally:
            self._forget(max(0.0, deadline - time.monotonic()))
        if problem is not None:
            raise self.error(AgentResult.ERR_GENERIC, problem, "script")

    # -- what start left running -----------------------------------------------------------------

    # -- health and adoption ---------------------------------------------------------------------
    def looks_alive(self) -> bool:
        try:
            return self.status() is AgentResult.OK
        except AgentError as exc:
            self.log("agent_status_failed", why=str(exc))
            return False

    def is_alive(self) -> bool:
        return self.looks_alive()

    def adopt(self) -> bool:
        """True if the script says it runs; what it left running is registered again."""
        if not self.looks_alive():
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
