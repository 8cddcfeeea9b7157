"""One chaos run on the lab (issue 9 items 3 and 4): seeded faults, overlapping, while an
independent observer and two clients watch; then the verdict.

What watches, none of it asking the cluster about itself:

* the safety observer (:mod:`wolfpack.lab.safety_observer`, its own RT process): Web's,
  SQL's and the Cluster Group's processes, addresses and mounts per node namespace, read
  from the kernel throughout; any instant two nodes hold one is a double owner;
* on the client host, an HTTP client of ``www.cluster.test`` and a SQL writer through
  ``sql.cluster.test`` (:mod:`wolfpack.lab.probe_client`, every 100 ms): what clients saw
  of each fault, and every row the database acknowledged, all read back at the end;
* the exported configuration before and after (nothing may change that nobody asked for);
* after the last fault is undone, every node Up and every group Online within
  :data:`RECOVER_S`.

The faults come from :func:`wolfpack.lab.chaos_lab_plan.plan`; each is injected by the
main thread and held and undone by a thread of its own, so the next can come before the
cluster settled. A service manager thread starts a node's etcd or wolfpackd again if it
exited by itself while no fault holds that node (systemd's ``Restart=on-failure``).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.lab import demo, world
from wolfpack.lab.chaos_lab_faults import ADMIN_LOCK, Injector, NotInjectable, Undo
from wolfpack.lab.chaos_lab_judge import (
    config_changes,
    fault_outage,
    lost_rows,
    per_kind,
    unfenced,
)
from wolfpack.lab.chaos_lab_plan import (
    CLUSTER,
    GROUP_KINDS,
    LIGHT,
    NOT_DONE,
    Fault,
    Kind,
    may_share_node,
    may_start,
)
from wolfpack.lab.driver import LabDriver, Probe
from wolfpack.lab.layout import pki_dir
from wolfpack.lab.safety_observer import SafetyObserver, Watched
from wolfpack.lab.safety_record import KINDS
from wolfpack.model.snapshot import Snapshot
from wolfpack.policy import explain, plan

__all__ = ["RECOVER_S", "FaultRecord", "run"]

#: after the faults, every node Up and every group Online within this
RECOVER_S = 180.0
#: how long a fault may wait for its turn (the previous node back, its target found)
SLOT_WAIT_S = 120.0
#: a node the cluster fenced (powered off) outside any fault is powered on after this (a
#: fence agent's reboot: power off, then on)
REBOOT_S = 3.0
PROBE_INTERVAL_S = 0.1
#: how long the rows' read-back may wait for the database (a failback after the settle)
READ_BACK_S = 60.0
#: after a clock jumped back, how long its node is still watched
JUMP_BACK_WATCH_S = 5.0
SERVICES = ("Web", "SQL")
TABLE = "wolfpack_chaos_rows"


@dataclass
class FaultRecord:
    fault: Fault
    nodes: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # whose clients it could hurt
    t_in: float = 0.0
    t_out: float | None = None
    skipped: str = ""
    error: str = ""
    fenced: bool | None = None  # all-paths-cut only
    intent: str = ""  # failed-start-on-move: the move request
    ended_on: str | None = None  # failed-start-on-move: where the group was Online after it
    disturbed: str = ""  # clock-jump: the node fenced or its daemon gone meanwhile
    daemon: int | None = None  # clock-jump: the node's wolfpackd when it jumped
    notes: list[str] = field(default_factory=list)
    outage_s: float = 0.0
    thread: threading.Thread | None = None

    @property
    def injected(self) -> bool:
        """Made, not skipped nor refused (a fault whose injection failed is no fault)."""
        return not self.skipped and self.t_in > 0 and not self.error.startswith("inject:")

    def as_json(self, origin: float) -> dict[str, Any]:
        return {
            "index": self.fault.index, "kind": self.fault.kind.value,
            "what": self.fault.describe(), "nodes": self.nodes, "groups": self.groups,
            "injected": self.injected, "skipped": self.skipped or None,
            "at_s": round(self.t_in - origin, 3) if self.injected else None,
            "held_s": None if self.t_out is None else round(self.t_out - self.t_in, 3),
            "outage_s": round(self.outage_s, 3), "fenced": self.fenced,
            "ended_on": self.ended_on, "disturbed": self.disturbed or None,
            "error": self.error or None, "notes": self.notes,
        }  # fmt: skip


class _Run:
    def __init__(self, lab_dir: Path, seed: int, faults: list[Fault], work: Path,
                 progress: Callable[[str], None]) -> None:  # fmt: skip
        self.dir, self.seed, self.work, self.say = lab_dir.resolve(), seed, work, progress
        self.lab = LabDriver(self.dir)
        self.inj = Injector(self.dir, self._note)
        self.records = [FaultRecord(f) for f in faults]
        self.rng = random.Random(seed)
        self.t0 = time.monotonic()
        self.restarts: list[str] = []
        self._current: FaultRecord | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- output ------------------------------------------------------------------------------
    def _line(self, text: str) -> None:
        self.say(f"+{time.monotonic() - self.t0:7.1f}s {text}")

    def _note(self, text: str) -> None:
        rec = getattr(threading.current_thread(), "record", None)
        if isinstance(rec, FaultRecord):
            rec.notes.append(text)
        self._line(f"    {text}")

    def active(self) -> list[FaultRecord]:
        return [r for r in self.records if r.thread is not None and r.thread.is_alive()]

    # -- the cluster -------------------------------------------------------------------------
    def settled(self) -> bool:
        snap = self.inj.snapshot()
        if snap is None or not self.inj.nodes_up(snap):
            return False
        return all(self._group_settled(snap, g) for g in snap.config.groups)

    def _group_settled(self, snap: Snapshot, group: str) -> bool:
        """Online, and not moving."""
        return snap.group(group).transition is None and self.inj.online(snap, group) is not None

    def stuck(self) -> list[str]:
        """Why the cluster is not settled, for a reader of a failed run: every node not Up,
        every group not Online or still moving (owner, transition, each resource's state),
        and what the policy would do now and why (``wolfpack plan --explain``)."""
        snap = self.inj.snapshot()
        if snap is None:
            return ["the cluster database cannot be read"]
        lines = [f"node {n}: {snap.node(n).state.value}" for n in self.inj.state.nodes
                 if snap.node(n).state.value != "Up"]  # fmt: skip
        for g in snap.config.groups:
            if self._group_settled(snap, g):
                continue
            status = snap.group(g)
            states = ", ".join(f"{r.name} {st.state.value} on {st.node}"
                               for r in snap.config.group_resources(g)
                               for st in [snap.resource(r.name)])  # fmt: skip
            t = status.transition
            moving = "settled" if t is None else f"{t.kind.value} {t.source}->{t.target} {t.code}"
            lines.append(f"group {g}: owner {status.owner}, {moving}; {states}")
        return lines + explain(plan(snap, time.time()))

    def lift_thresholds(self) -> None:
        """Hundreds of failovers in a row: every group's threshold lifted before the
        configuration is exported for the comparison."""
        with ADMIN_LOCK:
            self.lab.lift_failover_thresholds()

    def export(self) -> str:
        return self.lab.wolfpack("config", "export").stdout

    # -- the service manager -----------------------------------------------------------------
    def _supervise(self) -> None:
        """systemd's part: a crashed etcd member or wolfpackd is started again after
        RestartSec; and a fence agent's reboot: a node the cluster fenced (the lab's agent
        powers it off) while no fault holds it is powered on after :data:`REBOOT_S`, as a
        real fence's default action (reboot) would bring it back."""
        off_since: dict[str, float] = {}
        while not self._stop.wait(1.0):
            held = {n for r in self.active() for n in r.nodes}
            if any(r.fault.scope == CLUSTER for r in self.active()):
                off_since.clear()
                continue
            state = self.inj.state
            for node in state.nodes:
                if node in held:
                    off_since.pop(node, None)
                    continue
                if node in state.powered_off:
                    since = off_since.setdefault(node, time.monotonic())
                    if time.monotonic() - since >= REBOOT_S:
                        with ADMIN_LOCK, contextlib.suppress(WolfpackError):
                            if self._stop.is_set():  # the run is over: the lab may be gone
                                return
                            world.power_on(self.dir, node, wait=False)
                            self.restarts.append(f"{node} rebooted after a fence")
                            self._line(f"fence reboot: {node} was fenced; powered on again")
                        off_since.pop(node, None)
                    continue
                off_since.pop(node, None)
                for role in ("etcd", "wolfpackd"):
                    if role == "etcd" and node not in world.members(state):
                        continue
                    if world.role_pid(state, node, role) is None:
                        time.sleep(2.0)  # RestartSec
                        with ADMIN_LOCK, contextlib.suppress(WolfpackError):
                            if self._stop.is_set():
                                return
                            if world.restart(self.dir, node, role):
                                self.restarts.append(f"{node} {role}")
                                self._line(f"service manager: {node}'s {role} exited; started")

    # -- one fault ---------------------------------------------------------------------------
    def _resolve(self, f: Fault) -> list[str] | None:
        """The nodes the fault hits now, or None if it cannot be made yet."""
        state = self.inj.state
        if f.kind is Kind.ETCD_LEADER_KILL:
            leader = self.inj.etcd_leader()
            return [leader] if leader else None
        if f.kind is Kind.ETCD_QUORUM_LOSS:
            return sorted(self.rng.sample(world.members(state), 2))
        if f.kind is Kind.CLUSTER_POWER_CYCLE:
            return list(state.nodes)
        if f.kind is Kind.FAILED_START_ON_MOVE:
            return self._move_target(f.group)
        group = f.group or f.target.removeprefix("owner:")
        node = self.inj.owner(group) if f.group or f.target.startswith("owner:") else f.target
        if node is None or node in state.powered_off:
            return None
        if f.kind in GROUP_KINDS and not self.inj.app_pids(node, group):
            return None
        return [node]

    def _move_target(self, group: str) -> list[str] | None:
        """[target, owner] for a move of ``group``, Online and not moving, to another node
        that is Up; None while there is none."""
        snap = self.inj.snapshot()
        owner = None if snap is None else self.inj.online(snap, group)
        if snap is None or owner is None or snap.group(group).transition is not None:
            return None
        up = [n for n in self.inj.state.nodes if n != owner and snap.node(n).state.value == "Up"]
        return [self.rng.choice(up), owner] if up else None

    def _clash(self, f: Fault, nodes: list[str]) -> bool:
        """Whether ``f`` on ``nodes`` would share a node with an active fault it may not
        (:func:`~wolfpack.lab.chaos_lab_plan.may_share_node`)."""
        return any(set(nodes) & set(r.nodes) and not may_share_node(f, r.fault)
                   for r in self.active())  # fmt: skip

    def _wait_turn(self, rec: FaultRecord) -> bool:
        f = rec.fault
        deadline = time.monotonic() + SLOT_WAIT_S
        while time.monotonic() < deadline:
            if may_start(f, [r.fault for r in self.active()]):
                whole = f.scope == LIGHT or self.inj.nodes_up(self.inj.snapshot())
                nodes = self._resolve(f) if whole else None
                if nodes is not None and not self._clash(f, nodes):
                    rec.nodes = nodes
                    return True
            time.sleep(0.2)
        rec.skipped = f"no turn within {SLOT_WAIT_S:g} s"
        return False

    def _inject(self, rec: FaultRecord) -> Undo | None:
        f, i, node = rec.fault, self.inj, rec.nodes[0]
        k = f.kind
        if k is Kind.POWER_OFF:
            return i.power_off(node)
        if k is Kind.DAEMON_KILL:
            return i.daemon_kill(node)
        if k is Kind.DAEMON_FREEZE:
            return i.daemon_freeze(node)
        if k is Kind.NODE_FREEZE:
            return i.node_freeze(node)
        if k is Kind.PATH_CUT:
            return i.path_cut(node, f.network)
        if k is Kind.ALL_PATHS_CUT:
            return i.all_paths_cut(node)
        if k is Kind.ETCD_CUT:
            return i.etcd_cut(node)
        if k is Kind.ASYMMETRIC:
            return i.asymmetric(node, f.network)
        if k is Kind.PACKET_LOSS:
            return i.packet_loss(node, f.network)
        if k in (Kind.ETCD_LEADER_KILL, Kind.ETCD_QUORUM_LOSS):
            return i.etcd_kill(rec.nodes)
        if k is Kind.RESOURCE_CRASH:
            rec.notes.append(f"SIGKILL {i.resource_crash(node, f.group)}")
            return None
        if k is Kind.RESOURCE_HANG:
            return i.resource_hang(node, f.group)
        if k is Kind.DISK_FULL:
            return i.disk_full(node)
        if k is Kind.FAILED_START_ON_MOVE:
            rec.intent, undo = i.failed_start_on_move(node, f.group)
            return undo
        if k is Kind.CLOCK_JUMP:
            rec.daemon = i.daemon(node)
            return i.clock_jump(node, f.jump_s)
        return i.power_cycle()

    def _hold(self, rec: FaultRecord, undo: Undo | None) -> None:
        """Hold the fault, then undo it: the undo runs however the hold ended."""
        threading.current_thread().record = rec  # type: ignore[attr-defined]
        f = rec.fault
        try:
            try:
                self._held(rec)
            finally:
                if undo is not None:
                    undo()
            if f.kind is Kind.CLOCK_JUMP:  # the jump back is a jump too
                self._watch(rec, time.monotonic() + JUMP_BACK_WATCH_S)
        except Exception as exc:  # recorded: a fault that could not be undone fails the run
            rec.error = f"{type(exc).__name__}: {exc}"
            self._line(f"[{f.index}] undo failed: {rec.error}")
        finally:
            rec.t_out = time.monotonic()
            self._line(f"[{f.index}] {f.kind.value} undone after {rec.t_out - rec.t_in:.1f} s")

    def _held(self, rec: FaultRecord) -> None:
        f, deadline = rec.fault, rec.t_in + rec.fault.hold_s
        if f.kind is Kind.ALL_PATHS_CUT:  # held until it is fenced, at most hold_s
            while rec.nodes[0] not in self.inj.state.powered_off:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            rec.fenced = rec.nodes[0] in self.inj.state.powered_off
            idle = "" if rec.fenced or rec.groups else " (it held no group: nothing to fence for)"
            rec.notes.append(f"{'fenced' if rec.fenced else 'NOT fenced'} after "
                             f"{time.monotonic() - rec.t_in:.1f} s{idle}")  # fmt: skip
        elif f.kind is Kind.FAILED_START_ON_MOVE:  # held until the move settled
            rec.ended_on = self.inj.move_settled(rec.intent, f.group, deadline)
        elif f.kind is Kind.CLOCK_JUMP:
            self._watch(rec, deadline)
        else:
            time.sleep(max(0.0, deadline - time.monotonic()))

    def _watch(self, rec: FaultRecord, until: float) -> None:
        """A clock jump's node, until ``until``: fenced, or its daemon gone, is noted."""
        node = rec.nodes[0]
        while not rec.disturbed and time.monotonic() < until:
            rec.disturbed = self.inj.disturbance(node, rec.daemon)
            time.sleep(0.25)
        if rec.disturbed:
            self._note(f"after the clock jump: {rec.disturbed}")

    def _affected(self, rec: FaultRecord) -> list[str]:
        snap = self.inj.snapshot()
        if rec.fault.group:
            return [rec.fault.group]
        if snap is None or rec.fault.scope == CLUSTER:
            return list(SERVICES)
        return [g for g in SERVICES if snap.group(g).owner in rec.nodes]

    def faults(self) -> bool:
        """Inject every fault in turn; False if the cluster got stuck (no turn for a node
        fault: a node did not come back)."""
        total = len(self.records)
        for rec in self.records:
            f = rec.fault
            time.sleep(f.after_s)
            if not self._wait_turn(rec):
                self._line(f"[{f.index}/{total}] {f.describe()}: SKIPPED ({rec.skipped})")
                if f.scope != LIGHT:
                    return False
                continue
            rec.groups = self._affected(rec)
            rec.t_in = time.monotonic()
            try:
                undo = self._inject(rec)
            except NotInjectable as exc:
                rec.skipped = f"not injectable: {exc}"
                self._line(f"[{f.index}/{total}] {f.describe()}: SKIPPED ({rec.skipped})")
                continue
            except Exception as exc:
                rec.error = f"inject: {type(exc).__name__}: {exc}"
                undo = None
            on = ",".join(rec.nodes)
            self._line(f"[{f.index}/{total}] {f.describe()} -> {on}"
                       f"{' ERROR ' + rec.error if rec.error else ''}")  # fmt: skip
            rec.thread = threading.Thread(target=self._hold, args=(rec, undo), daemon=True)
            rec.thread.start()
        return True


@contextlib.contextmanager
def _clients(lab: LabDriver, work: Path, run_id: str) -> Iterator[tuple[Probe, Probe]]:
    insert = f"INSERT INTO {TABLE} (run, id) VALUES ('{run_id}', {{n}}) RETURNING id"
    every = ("--interval", str(PROBE_INTERVAL_S), "--duration", "3600")
    with lab.probe("http", "http://www.cluster.test/", work / "web.jsonl", *every) as web, \
            lab.probe("write", "sql.cluster.test", work / "rows.jsonl", *every,
                      "--password", demo.SQL_PASSWORD, "--query", insert) as rows:  # fmt: skip
        yield web, rows


def observer(lab: LabDriver) -> SafetyObserver:
    st = lab.state
    mounts = {g: (str(world.mount_point(st, d)),) for g, d in (("Web", "web"), ("SQL", "sql"))}
    return SafetyObserver(
        {n: st.prefix + n for n in st.nodes},
        [Watched("Web", comms=("nginx",), addresses=(demo.WEB_ADDRESS,), mounts=mounts["Web"]),
         Watched("SQL", comms=("postgres",), addresses=(demo.SQL_ADDRESS,),
                 mounts=mounts["SQL"]),
         Watched("Cluster Group", cmdline=f"--port {world.DTC_PORT}",
                 addresses=(world.MANAGEMENT_ADDRESS,))],
        admin_netns=st.prefix + "admin", lease_keys={}, admin_dir=pki_dir(st) / "admin",
    )  # fmt: skip


def _create_table(r: _Run) -> None:
    """The writer's table, through the name a client uses. Settled is the cluster's word;
    the client may need a moment more (up to 30 s, as the probes wait for their first
    answer), and whatever it got last is the error."""
    said: list[str] = []

    def created() -> bool:
        said[:] = [demo.sql_query(r.lab.state, f"CREATE TABLE IF NOT EXISTS {TABLE} "
                                  "(run text, id bigint, PRIMARY KEY (run, id))")]  # fmt: skip
        return "CREATE TABLE" in said[0]

    try:
        LabDriver.wait(created, 30, "the writer's table", every_s=0.5)
    except TimeoutError:
        raise WolfpackError(f"cannot create the writer's table: {said[0]}") from None


def run(
    lab_dir: Path, seed: int, faults: list[Fault], work: Path,
    progress: Callable[[str], None] = print, recover_s: float = RECOVER_S,
) -> dict[str, Any]:  # fmt: skip
    """One run of ``faults`` on the lab in ``lab_dir`` (up, with the demo's groups); its
    verdict and measures as a document (see :func:`wolfpack.lab.chaos_lab_judge.totals`)."""
    r = _Run(lab_dir, seed, faults, work, progress)
    r.say(f"chaos seed {seed}: {len(faults)} faults; waiting until the cluster is settled")
    for node in list(r.inj.state.powered_off):  # left off by an earlier run
        r.say(f"{node}: {r.inj.revive(node)}")
    LabDriver.wait(r.settled, SLOT_WAIT_S, "the cluster settled before the run", every_s=0.5)
    r.lift_thresholds()
    before = r.export()
    run_id = f"s{seed}-{int(time.time())}"
    _create_table(r)
    supervisor = threading.Thread(target=r._supervise, daemon=True)
    doc: dict[str, Any] = {"seed": seed, "faults_planned": len(faults), "not_done": NOT_DONE}
    with observer(r.lab) as obs, _clients(r.lab, work, run_id) as (web, rows), ExitStack() as st:
        st.callback(r._stop.set)
        supervisor.start()
        r.t0 = time.monotonic()
        completed = r.faults()
        for rec in r.records:
            if rec.thread is not None:
                rec.thread.join(timeout=600)
        t_end = time.monotonic()
        r._line("faults over: waiting until every node is Up and every group Online")
        recovered: float | None = None
        with contextlib.suppress(TimeoutError):
            LabDriver.wait(r.settled, recover_s, "recovery", every_s=0.5)
            recovered = time.monotonic() - t_end
        stuck = [] if recovered is not None else _diagnose(r)
        time.sleep(2.0)
        record = obs.record()
        r._stop.set()
        supervisor.join(timeout=60)  # nothing of the run touches the lab after it returns
    acked = [int(s.answer) for s in rows.samples() if s.ok and s.answer.isdigit()]
    readable, present_text = _read_back(r, run_id)
    present = [int(x) for x in present_text.split()] if readable else []
    gaps = {"Web": [(g.start, g.end) for g in web.gaps()],
            "SQL": [(g.start, g.end) for g in rows.gaps()]}  # fmt: skip
    for rec in r.records:
        if rec.injected:
            rec.outage_s = fault_outage(gaps, rec.groups, rec.t_in, rec.t_out or t_end)
    doubles = [o.describe(r.t0) for g in ("Web", "SQL", "Cluster Group")
               for o in record.overlaps(g, KINDS)]  # fmt: skip
    injected = [x.as_json(r.t0) for x in r.records]
    doc.update({
        "completed": completed,
        "faults_injected": sum(1 for x in r.records if x.injected),
        "took_s": round(time.monotonic() - r.t0, 1),
        "faults_s": round(t_end - r.t0, 1),
        "recovered_s": None if recovered is None else round(recovered, 1),
        "stuck": stuck,
        "double_owners": doubles,
        "rows_acknowledged": len(acked),
        "rows_read_back": len(present),
        "lost_rows": lost_rows(acked, present) if readable else [f"unreadable: {present_text}"],
        "config_changes": config_changes(before, r.export()),
        "errors": [f"[{x.fault.index}] {x.error}" for x in r.records if x.error],
        "unfenced_isolations": unfenced(injected),
        "clock_jumps_disturbed": [f"[{x.fault.index}] {x.disturbed}"
                                  for x in r.records if x.disturbed],
        "service_restarts": r.restarts,
        "observer": {"samples": record.samples, "longest_gap_s": round(record.longest_gap_s, 3),
                     "errors": record.errors},
        "per_kind": per_kind(f for f in injected if f["injected"]),
        "faults": injected,
    })  # fmt: skip
    return doc


def _diagnose(r: _Run) -> list[str]:
    """:meth:`_Run.stuck`, never raising: a diagnosis must not hide the verdict."""
    try:
        lines = r.stuck()
    except Exception as e:  # any failure to diagnose is itself reported
        lines = [f"no diagnosis: {e!r}"]
    for line in lines:
        r._line(f"not settled: {line}")
    return lines


def _read_back(r: _Run, run_id: str) -> tuple[bool, str]:
    """(readable, text): the ids of the run's rows, read through sql.cluster.test. A
    failback may begin just after the cluster settled (SQL's, once a node back from a fence
    has been up 5 s) and take the database and its name away for a moment: an answer that
    is no list of ids (no connection, the name not registered yet) is asked again every
    second for at most :data:`READ_BACK_S`, then reported as unreadable (a failure)."""
    deadline = time.monotonic() + READ_BACK_S
    while True:
        text = demo.sql_query(r.lab.state, f"SELECT id FROM {TABLE} WHERE run = '{run_id}'")
        if all(x.isdigit() for x in text.split()):
            return True, text
        if time.monotonic() > deadline:
            return False, text
        r._line(f"reading the rows back: {text[:120]}; again in 1 s")
        time.sleep(1.0)


def failed(doc: dict[str, Any]) -> list[str]:
    """What makes a run fail, as readable lines (empty: it passed)."""
    out = []
    if doc["double_owners"]:
        out.append(f"double owners: {doc['double_owners'][:5]}")
    if doc["lost_rows"]:
        out.append(f"committed rows lost: {doc['lost_rows'][:20]}")
    if doc["config_changes"]:
        out.append(f"configuration changed: {doc['config_changes'][:10]}")
    if doc["recovered_s"] is None:
        out.append("not every group Online again within the bound")
    if not doc["completed"]:
        out.append("the run got stuck: a node fault found no turn")
    if doc["clock_jumps_disturbed"]:
        out.append(f"a wall-clock jump alone: {doc['clock_jumps_disturbed'][:5]}")
    return out + [f"fault error {e}" for e in doc["errors"]]
