"""Issue 8's lab reproductions, run against the demo lab and judged by what the kernel shows
and what etcd's quorum holds (:mod:`wolfpack.lab.safety_observer`: processes, addresses and
mounts per node namespace; the nodes' liveness keys read through etcd's majority), never
by the cluster's own account of itself.

* :func:`fail_slow_app`: a group whose one Generic Application takes 3 s to exit on SIGTERM,
  failed by the administrator until it fails over (restart threshold 3). Zero overlap of
  its runs; afterwards Online on the new node, its status naming that node, nothing planned.
* :func:`freeze_daemon`: SIGSTOP of Web's owner's ``wolfpackd`` only. With the lab fence
  agent the survivors power the node off (confirmed :data:`POWER_WAIT_S` later); with
  ``fenced=False`` the fence device is unreachable and the node's own watchdog must stop
  Web. Either way Web's processes, address and mount are gone before the quorum lets the
  lease go.
* :func:`etcd_cut`: Web's owner cut from etcd (its heartbeats still flow) for ``cut_s``;
  by default its etcd member leads at the cut, the hard case: that member acknowledges
  keep-alives until it finds it lost the quorum. Web's resources gone before the quorum
  lets the lease go, Web served by another node within 6 s, SQL answering throughout, and
  no other node fencing itself, before or after the cut heals.

Each returns a :class:`Result`: measures in seconds after the fault, named checks (the
must-shows), and a timeline for a reader. Faults are undone on the way out whatever
happens (nft rules removed, the daemon continued, the fence agent restored, the node
powered on).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wolfpack
from wolfpack.lab import access, demo, world
from wolfpack.lab.driver import LabDriver, Probe
from wolfpack.lab.layout import pki_dir
from wolfpack.lab.safety_faults import (
    daemon_events,
    etcd_leader,
    fence_confirms_after,
    fence_device_unreachable,
    frozen,
    member_endpoint,
    move_leader,
)
from wolfpack.lab.safety_faults import etcd_cut as cut_etcd
from wolfpack.lab.safety_observer import SafetyObserver, Watched
from wolfpack.lab.safety_record import INF, KINDS, Record, Run, covering
from wolfpack.model.builtin_types import GENERIC_APPLICATION
from wolfpack.model.states import ResourceState
from wolfpack.node.settings import LeaseSection
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

__all__ = ["Result", "etcd_cut", "fail_slow_app", "freeze_daemon", "observer_for", "prepare"]

WAIT_S = 60.0
#: the issue's must-show: Web served by another node this soon after an etcd cut
WEB_ELSEWHERE_S = 6.0
#: the slow application's mark on its command line (the observer finds its processes by it)
SLOW_MARK = "--term-delay"
SLOW_PORT = 18088
LEASE = LeaseSection()
#: the fenced freeze's device confirms an off this long after it (fence-agents'
#: ``power_wait``; a BMC's or PDU's confirmation takes longer still). The node is off at
#: once; the confirmation, and so the lease's end, comes this much later. The lab's device
#: confirms in about a millisecond otherwise, and the lease then goes within a few more:
#: closer than the observer can time two things reliably on a loaded machine. A lease let
#: go before the confirmation would still end before the node's resources do (the off
#: itself takes tens of milliseconds); with the wait, the right order has a margin the
#: observer can see.
POWER_WAIT_S = 0.1
WEB_HOME, SQL_HOME = demo.GROUPS["Web"][0], demo.GROUPS["SQL"][0]


@dataclass
class Result:
    scenario: str
    node: str  # where the fault was
    measures: dict[str, Any] = field(default_factory=dict)  # seconds after the fault
    checks: dict[str, bool] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    timeline: str = ""

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks[name] = bool(ok)
        if not ok:
            self.details.append(f"{name}: {detail}")

    @property
    def failed(self) -> list[str]:
        return [n for n, ok in self.checks.items() if not ok]

    def report(self) -> str:
        lines = [f"{self.scenario} on {self.node}: {json.dumps(self.measures)}", *self.details]
        return "\n".join([*lines, self.timeline])

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "timeline"}


def observer_for(lab: LabDriver) -> SafetyObserver:
    """An observer of the demo's groups (and the slow application's) on every node."""
    st = lab.state
    return SafetyObserver(
        {n: st.prefix + n for n in st.nodes},
        [
            Watched("Web", comms=("nginx",), addresses=(demo.WEB_ADDRESS,),
                    mounts=(str(world.mount_point(st, "web")),)),
            Watched("SQL", comms=("postgres",), addresses=(demo.SQL_ADDRESS,),
                    mounts=(str(world.mount_point(st, "sql")),)),
            Watched("Cluster Group", cmdline=f"--port {world.DTC_PORT}",
                    addresses=(world.MANAGEMENT_ADDRESS,)),
            Watched("Slow", cmdline=SLOW_MARK, each_process=True),
        ],
        admin_netns=st.prefix + "admin",
        lease_keys={n: KeySpace(world.KEY_ROOT).node_lease(n) for n in st.nodes},
        admin_dir=pki_dir(st) / "admin",
    )  # fmt: skip


# -- the cluster, settled ------------------------------------------------------------------------
def settled(lab: LabDriver) -> bool:
    snap = lab.snapshot()
    if any(snap.node(n).state.value != "Up" for n in lab.state.nodes):
        return False
    return all(
        snap.group(g).transition is None and lab.online_on(g) is not None for g in demo.GROUPS
    )


def prepare(lab: LabDriver) -> None:
    """Every node Up, Web on its home node2 and SQL on node1, both Online and still."""
    lab.reload()
    for node in list(lab.state.powered_off):
        lab.power("on", node)
    lab.wait(lambda: settled(lab), WAIT_S, "the cluster settles")
    if lab.online_on("Web") != WEB_HOME:  # failback is prevented: bring it home
        lab.wolfpack("group", "move", "Web", WEB_HOME)
    lab.wait(lambda: settled(lab) and lab.online_on("SQL") == SQL_HOME
             and lab.online_on("Web") == WEB_HOME, WAIT_S, "Web and SQL at home")  # fmt: skip


@contextmanager
def clients(lab: LabDriver, work: Path) -> Iterator[tuple[Probe, Probe]]:
    """HTTP to www and SQL (the postmaster's start time: a restart changes the answer)."""
    sql = ("--password", demo.SQL_PASSWORD, "--query", "SELECT pg_postmaster_start_time()")
    with lab.probe("http", "http://www.cluster.test/", work / "web.jsonl") as web, \
            lab.probe("sql", "sql.cluster.test", work / "sql.jsonl", *sql) as db:  # fmt: skip
        yield web, db


def _rel(t: float | None, origin: float) -> float | None:
    return None if t is None or abs(t) == INF else round(t - origin, 3)


def judge_gone(r: Result, rec: Record, group: str, node: str, lease: int, t: float) -> None:
    """Every kind of ``group`` on ``node`` at ``t`` gone before the quorum let ``lease`` go."""
    expiry = rec.expiry(node, lease)
    r.measures["quorum_expiry_s"] = _rel(expiry[0] if expiry else None, t)
    r.check("quorum let the lease go", expiry is not None, f"lease {lease:x} still held")
    for kind in KINDS:
        iv = covering(rec.intervals(group, node, kind), t)
        if iv is None:
            continue  # not present at the fault (a group without mounts, say)
        r.measures[f"gone_{kind}_s"] = _rel(iv.end, t)
        if expiry is not None and iv.end < INF:
            r.measures[f"margin_{kind}_s"] = round(expiry[0] - iv.end, 3)
        ok = expiry is not None and iv.end < expiry[0]
        r.check(f"{kind} gone before the quorum expiry", ok, f"{iv.describe(t)} vs {expiry}")


def judge_own_deadline(r: Result, lab: LabDriver, node: str, t: float) -> float | None:
    """The node's own deadline (its last acknowledged renewal's send time + TTL), as its
    watchdog logged it when it fired; resources gone by then."""
    fired = daemon_events(lab, node, t, "watchdog_fired")
    if not fired:
        return None
    deadline = float(fired[0]["deadline"])
    r.measures["node_deadline_s"] = _rel(deadline, t)
    # > 0: a member acknowledged a keep-alive sent after the fault (an isolated leader)
    r.measures["renewed_after_fault_s"] = _rel(deadline - LEASE.ttl_s, t)
    gone = [v for k, v in r.measures.items() if k.startswith("gone_") and v is not None]
    r.check("gone by the node's own deadline", bool(gone) and max(gone) + t <= deadline,
            f"gone at {max(gone, default=None)} s, deadline {deadline - t:.3f} s")  # fmt: skip
    return deadline


def first_answer_from_other(probe: Probe, old: str, t: float) -> float | None:
    ends = [s.end for s in probe.samples() if s.ok and s.t >= t and s.answer not in ("", old)]
    return min(ends, default=None)


def judge_sql(r: Result, db: Probe, t0: float, t1: float) -> None:
    """SQL answered throughout [t0, t1], always by the same postmaster."""
    tries = [s for s in db.samples() if t0 <= s.t <= t1]
    answers = sorted((s for s in tries if s.ok), key=lambda s: s.end)
    gaps = [b.end - a.end for a, b in itertools.pairwise(answers)]
    r.measures["sql_longest_gap_s"] = round(max(gaps, default=0.0), 3)
    r.measures["sql_failed_tries"] = failed = sum(1 for s in tries if not s.ok)
    r.check("SQL answered throughout", answers != [] and failed == 0,
            f"{failed} of {len(tries)} tries failed")  # fmt: skip
    r.check("SQL never restarted", len({s.answer for s in answers}) <= 1,
            f"answers {sorted({s.answer for s in answers})}")  # fmt: skip


def judge_others(r: Result, lab: LabDriver, rec: Record, victim: str, t0: float, t1: float) -> None:
    """No other node fenced itself, and no group on another node was interrupted."""
    for node in lab.state.nodes:
        if node == victim:
            continue
        fenced = daemon_events(lab, node, t0, "lease_lost", "stop_everything")
        r.check(f"{node} did not fence itself", not fenced, json.dumps(fenced)[:300])
        for group in ("SQL", "Cluster Group"):
            for kind in KINDS:
                iv = covering(rec.intervals(group, node, kind), t0)
                if iv is not None:
                    r.check(f"{group} {kind} on {node} uninterrupted", iv.end > t1,
                            iv.describe(t0))  # fmt: skip


def judge_overlaps(r: Result, rec: Record, group: str, origin: float) -> None:
    found = rec.overlaps(group)
    r.measures[f"{group.lower()}_overlap_s"] = round(sum(o.seconds for o in found), 3)
    r.check(f"{group} never on two nodes", not found,
            "; ".join(o.describe(origin) for o in found))  # fmt: skip


# -- fail_slow_app -------------------------------------------------------------------------------
def slow_doc(lab: LabDriver, group: str) -> dict[str, Any]:
    """The group: one Generic Application that takes 3 s to exit on SIGTERM. It runs this
    very ``wolfpack`` (PYTHONPATH), whichever the daemons import."""
    record = world.shared_dir(lab.state) / f"{group}.log"
    command = (f"{sys.executable} -m wolfpack.lab.probe_app --port {SLOW_PORT} "
               f"--record {record} {SLOW_MARK} 3")  # fmt: skip
    source = Path(wolfpack.__file__).resolve().parent.parent
    properties = {"command": command, "environment": [f"PYTHONPATH={source}"]}
    return {
        "groups": {group: {"description": "issue 8: an application slow to stop",
                           "preferred_owners": ["node1", "node2", "node3"]}},
        "resources": {f"{group}-app": {"type": GENERIC_APPLICATION, "group": group,
                                       "properties": properties}},
    }  # fmt: skip


def _alive_runs(obs: SafetyObserver, since: float) -> list[Run]:
    return [run for run in obs.record().process_runs("Slow")
            if run.span.end == INF and run.span.start >= since]  # fmt: skip


def fail_slow_app(
    lab: LabDriver, obs: SafetyObserver, group: str = "slow", fails: int = 6
) -> Result:
    """Fail the slow application until its group fails over (the 4th failure, with the
    restart threshold 3), then judge its runs and its status."""
    app = f"{group}-app"
    with world.in_admin(lab.state):
        store = access.admin_store(lab.state, timeout=2.0)
        try:
            world.add_config(ClusterDB(store, KeySpace(world.KEY_ROOT)), slow_doc(lab, group))
        finally:
            store.close()
    try:
        first = lab.wait(lambda: lab.online_on(group), WAIT_S, f"{group} Online")
        lab.wait(lambda: _alive_runs(obs, 0), 10, "the observer sees the application")
        r = Result("fail_slow_app", first)
        t = time.monotonic()
        for i in range(1, fails + 1):
            since = time.monotonic()
            lab.wolfpack("resource", "fail", app)

            def running_again(since: float = since) -> list[Run] | None:
                return _alive_runs(obs, since) if lab.online_on(group) else None

            runs = lab.wait(running_again, WAIT_S, f"{app} running again after failure {i}")
            if runs[0].node != first:
                r.measures["failures_until_failover"] = i
                break
        new = lab.wait(lambda: lab.online_on(group), WAIT_S, f"{group} Online")
        time.sleep(2.0)  # it must stay Online, not fall back to Failed (H2)
        judge_slow(r, lab, obs.record(), group, first, new, t)
        return r
    finally:
        lab.wolfpack("group", "offline", group, check=False)
        lab.wolfpack("resource", "delete", app, check=False)
        lab.wolfpack("group", "delete", group, check=False)


def judge_slow(
    r: Result, lab: LabDriver, rec: Record, group: str, first: str, new: str, t: float
) -> None:
    app = f"{group}-app"
    runs = [run for run in rec.process_runs("Slow") if run.span.end >= t]
    r.measures["runs"] = len(runs)
    twice = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]
             if b.span.start <= a.span.end]  # fmt: skip
    r.check("no two runs at once", not twice, "; ".join(
        f"{a.node}/{a.pid} {a.span.describe(t)} and {b.node}/{b.pid} {b.span.describe(t)}"
        for a, b in twice))  # fmt: skip
    gaps = [b.span.start - a.span.end for a, b in itertools.pairwise(runs)]
    r.measures["shortest_gap_between_runs_s"] = round(min(gaps, default=0.0), 3)
    judge_overlaps(r, rec, "Slow", t)
    snap = lab.snapshot()
    status = snap.resource(app)
    alive = [run.node for run in runs if run.span.end == INF]
    r.measures["new_owner"] = new
    r.check("failed over", new != first, f"still on {first}")
    r.check("Online on the owner, where its one process runs",
            alive == [snap.group(group).owner] == [new], f"{alive} vs {new}")  # fmt: skip
    r.check("the resource's status names the owner",
            status.state is ResourceState.ONLINE and status.node == new, repr(status))  # fmt: skip
    plan = json.loads(lab.wolfpack("plan", "--json").stdout)
    pending = [a for a in plan.get("actions", []) if a.get("subject") in (group, app)]
    r.check("nothing planned for it", not pending, json.dumps(pending))
    r.timeline = rec.timeline(["Slow"], origin=t)


# -- freeze and etcd cut -------------------------------------------------------------------------
def _watch_majority(
    lab: LabDriver, obs: SafetyObserver, victim: str, *, focus: bool = True
) -> None:
    """Read the liveness keys through the members other than ``victim``'s, from now on,
    ``victim``'s back to back while ``focus`` (until its lease is gone)."""
    others = [n for n in world.members(lab.state) if n != victim]
    since = time.monotonic()
    obs.watch_leases([member_endpoint(n) for n in others], focus=victim if focus else None)
    lab.wait(lambda: any(run[3] >= since for run in obs.record().leases.get(victim, [])),
             10, "lease reads through the majority")  # fmt: skip


def freeze_daemon(
    lab: LabDriver, obs: SafetyObserver, work: Path, *, fenced: bool = True
) -> Result:
    """SIGSTOP of Web's owner's wolfpackd (only); thawed once its lease is gone. With
    ``fenced=False`` the fence device is unreachable meanwhile; fenced, the device confirms
    :data:`POWER_WAIT_S` after it powered the node off (see there)."""
    prepare(lab)
    victim = WEB_HOME
    r = Result("freeze_daemon" if fenced else "freeze_unfenced", victim)
    _watch_majority(lab, obs, victim)
    with clients(lab, work) as (web, db), ExitStack() as stack:
        time.sleep(0.3)
        if not fenced:
            stack.enter_context(fence_device_unreachable(lab))
        else:
            stack.enter_context(fence_confirms_after(lab, POWER_WAIT_S))
            r.measures["fence_power_wait_s"] = POWER_WAIT_S
        t = time.monotonic()
        stack.enter_context(frozen(lab, victim))
        lease = obs.record().lease_at(victim, t)
        lab.wait(lambda: first_answer_from_other(web, victim, t), WAIT_S, "Web elsewhere")
        lab.wait(lambda: obs.record().expiry(victim, lease), WAIT_S, "the lease gone")
        _watch_majority(lab, obs, victim, focus=False)
        time.sleep(0.5)
        stack.close()  # thawed (if not powered off) and the fence agent back
        t_end = time.monotonic()
        judge_sql(r, db, t, t_end)
    r.measures["web_elsewhere_s"] = _rel(first_answer_from_other(web, victim, t), t)
    r.measures["fenced_by_power_off"] = victim in lab.reload().powered_off
    rec = obs.record()
    judge_gone(r, rec, "Web", victim, lease, t)
    fired = judge_own_deadline(r, lab, victim, t)
    if not fenced:
        r.check("its watchdog fired", fired is not None, "no watchdog_fired in its log")
    prepare(lab)  # powered on again if fenced; Web home
    rec = obs.record()
    judge_overlaps(r, rec, "Web", t)
    r.timeline = rec.timeline(["Web"], origin=t)
    return r


def etcd_cut(
    lab: LabDriver, obs: SafetyObserver, work: Path, *, cut_s: float = 15.0,
    leader_on_victim: bool | None = True, settle_s: float = 5.0,
) -> Result:  # fmt: skip
    """Web's owner cut from etcd for ``cut_s`` (its etcd member the leader at the cut if
    ``leader_on_victim``; another if False; wherever it is if None)."""
    prepare(lab)
    victim = WEB_HOME
    members = world.members(lab.state)
    if leader_on_victim is True:
        move_leader(lab, victim)
    elif leader_on_victim is False and etcd_leader(lab) == victim:
        move_leader(lab, next(n for n in members if n != victim))
    r = Result("etcd_cut", victim)
    r.measures["leader_at_cut"] = etcd_leader(lab)
    _watch_majority(lab, obs, victim)
    with clients(lab, work) as (web, db):
        time.sleep(0.3)
        t = time.monotonic()
        lease = obs.record().lease_at(victim, t)
        with cut_etcd(lab, victim):
            lab.wait(lambda: obs.record().expiry(victim, lease), WAIT_S, "the lease gone")
            _watch_majority(lab, obs, victim, focus=False)
            lab.wait(lambda: first_answer_from_other(web, victim, t), WAIT_S, "Web elsewhere")
            majority = [n for n in members if n != victim]
            r.measures["leader_after_cut"] = etcd_leader(lab, majority)
            time.sleep(max(0.0, t + cut_s - time.monotonic()))
        r.measures["healed_s"] = _rel(time.monotonic(), t)
        lab.wait(lambda: settled(lab), WAIT_S, "every node Up again")
        time.sleep(settle_s)  # an election after the heal would show here
        t_end = time.monotonic()
        judge_sql(r, db, t, t_end)
    elsewhere = first_answer_from_other(web, victim, t)
    r.measures["web_elsewhere_s"] = _rel(elsewhere, t)
    r.check(f"Web served elsewhere within {WEB_ELSEWHERE_S:g} s",
            elsewhere is not None and elsewhere - t <= WEB_ELSEWHERE_S,
            f"after {r.measures['web_elsewhere_s']} s")  # fmt: skip
    rec = obs.record()
    judge_gone(r, rec, "Web", victim, lease, t)
    judge_own_deadline(r, lab, victim, t)
    lost = daemon_events(lab, victim, t, "lease_lost")
    r.measures["self_fence_s"] = _rel(lost[0]["t"] if lost else None, t)
    judge_others(r, lab, rec, victim, t, t_end)
    judge_overlaps(r, rec, "Web", t)
    r.timeline = rec.timeline(["Web", "SQL"], origin=t)
    return r


SCENARIOS: Sequence[str] = ("fail_slow_app", "freeze_daemon", "freeze_unfenced", "etcd_cut")
