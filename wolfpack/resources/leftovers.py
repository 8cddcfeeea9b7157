"""What a command-running agent's ``start`` left running in its process group.

A Generic Script's or an OCF agent's ``start`` may leave a daemon behind in its process group
(``cmd &``). Those processes are registered with the node's watchdog (so self-fencing kills
them too), recorded in the agent's state file (so a restarted daemon still knows them), and
killed after ``stop`` if the agent's own stop forgot them. With confinement on, the start
action runs in the resource's cgroup (:mod:`wolfpack.resources.confine`), so what it
daemonises out of its process group (``setsid``, a double fork) is killed at ``stop`` too.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from pathlib import Path

from wolfpack.resources.base import Agent, AgentResult
from wolfpack.resources.commands import read_json, write_json
from wolfpack.resources.process import ProcessGroup, Stopped


class LeftoverTracking(Agent):
    @property
    @abstractmethod
    def state_file(self) -> Path: ...

    def _admit(self, pid: int) -> bool:
        """``before_run`` of a start action: its session leader is recorded (registry and
        state file) before it runs, so whatever it starts is within reach of the watchdog,
        the fence agent and a restarted daemon even if this daemon dies meanwhile; and it
        runs only while the node may still run resources."""
        group = ProcessGroup.of(pid)
        if group is not None:
            self._record(group)
        return self.ctx.may_run()

    def _record(self, group: ProcessGroup) -> None:
        registered = []
        for pid in group.members():
            with contextlib.suppress(ProcessLookupError):
                self.ctx.register_pid(pid)
                registered.append(pid)
        recorded = self._recorded()
        if recorded is not None and recorded[0] == group:
            # The start action's leader, recorded by _admit and gone now: what it left in its
            # group is registered itself.
            for pid in set(recorded[1]) - set(registered):
                self.ctx.unregister_pid(pid)
        if registered:
            write_json(self.state_file, {**group.to_doc(), "registered": registered})

    def _recorded(self) -> tuple[ProcessGroup, list[int]] | None:
        doc = read_json(self.state_file)
        group = None if doc is None else ProcessGroup.from_doc(doc)
        if doc is None or group is None:
            return None
        pids = doc.get("registered")
        return group, [p for p in pids if isinstance(p, int)] if isinstance(pids, list) else []

    def _forget(self, grace_s: float) -> None:
        """Kill what start left in its group and outlived stop; forget the record."""
        recorded = self._recorded()
        if recorded is not None:
            group, registered = recorded
            left = group.members()
            if left:
                outcome = group.terminate(grace_s)
                self.log("agent_leftovers_killed", pids=left, outcome=str(outcome))
                if outcome is Stopped.STUCK:
                    raise self.error(
                        AgentResult.ERR_GENERIC, f"processes {group.members()} survive SIGKILL"
                    )
            for pid in registered:
                self.ctx.unregister_pid(pid)
        self.close_cgroup()  # what it daemonised out of its group (setsid, double fork)
        self.state_file.unlink(missing_ok=True)
