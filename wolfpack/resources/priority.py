"""Scheduling priority: the daemon, and the etcd member it starts, above the workloads;
the resources' own programs at the normal priority.

Why: a node's heartbeats, its lease renewals and its etcd member are what keep it a member.
If they wait for the CPU behind the workloads they protect, a busy node looks dead: on this
2-core lab with a CPU hog in every node, the lab's etcd at the hogs' priority timed out 137
of 150 reads and leases were lost, so groups moved and a node was fenced with nothing
failed (bench/false_failover.py, issue 12). Corosync runs real-time (SCHED_RR) for the same
reason; a Python daemon spinning by mistake at real-time priority could take a core from
everything, so wolfpackd takes a high nice value instead (default -10: about 9 times a
normal process's share whenever both want the CPU), which is enough to be scheduled first
and is still fair.

Nice values are per thread on Linux and threads inherit their creator's: the daemon sets
its own before it starts any thread (:func:`raise_own`), and every thread, and the etcd
member it spawns, has it. A resource's program would inherit it too, so every program an
agent starts is put back to :data:`RESOURCE_NICE` from its first instruction
(:func:`resource_prefix`: ``nice -n``, which exec's it, so the PID is the program's).
"""

from __future__ import annotations

import os

__all__ = ["DAEMON_NICE", "RESOURCE_NICE", "raise_own", "resource_prefix"]

#: the daemon's nice value by default (wolfpackd.yaml ``nice``)
DAEMON_NICE = -10
#: the nice value of every program a resource runs (the normal one)
RESOURCE_NICE = 0
#: coreutils' nice, in the clean PATH every resource runs with
NICE = "/usr/bin/nice"


def current() -> int:
    """This thread's nice value."""
    return os.getpriority(os.PRIO_PROCESS, 0)


def raise_own(nice: int) -> str | None:
    """Set this thread's nice value (call it before any thread starts); why it could not,
    or None (lowering a nice value below the current one needs root or CAP_SYS_NICE)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:
        return f"cannot set the nice value to {nice}: {exc.strerror or exc}"
    return None


def resource_prefix() -> list[str]:
    """What to put before a resource's argv to run it at :data:`RESOURCE_NICE` whatever
    this thread's nice value is (nothing when they are the same)."""
    delta = RESOURCE_NICE - current()
    if delta == 0 or not os.access(NICE, os.X_OK):
        return []
    return [NICE, "-n", str(delta), "--"]
