"""What a node's resource manager does next (S30, S39 order; never two owners)."""

from __future__ import annotations

from dataclasses import replace

from wolfpack.model.config import ClusterConfig, Group, Node, Resource
from wolfpack.model.snapshot import GroupStatus, NodeStatus, ResourceStatus, Snapshot
from wolfpack.model.states import NodeState, ResourceState, Wanted
from wolfpack.policy.local import LocalKind, next_batch

ON, OFF, FAILED = ResourceState.ONLINE, ResourceState.OFFLINE, ResourceState.FAILED


def snap(owner: str = "n1", **resources: ResourceStatus) -> Snapshot:
    res = {
        "disk": Resource("disk", "T", "G"),
        "ip": Resource("ip", "T", "G"),
        "name": Resource("name", "T", "G", dependencies=(("ip",),)),
        "app": Resource("app", "T", "G", dependencies=(("disk",), ("ip",))),
    }
    cfg = ClusterConfig(
        nodes={"n1": Node("n1", 1), "n2": Node("n2", 2)}, groups={"G": Group("G")}, resources=res
    )
    return Snapshot(
        cfg,
        nodes={"n1": NodeStatus(), "n2": NodeStatus()},
        groups={"G": GroupStatus(owner=owner)},
        resources=resources,
    )


def batch(
    s: Snapshot, local: dict[str, ResourceState], lease_ok: bool = True
) -> set[tuple[str, str]]:
    return {(a.kind.value, a.resource) for a in next_batch(s, "n1", local, lease_ok=lease_ok)}


def test_start_dependencies_first_in_parallel() -> None:
    assert batch(snap(), {}) == {("start", "disk"), ("start", "ip")}
    assert batch(snap(), {"disk": ON, "ip": ON}) == {("start", "app"), ("start", "name")}
    assert batch(snap(), {"disk": ON, "ip": ON, "app": ON, "name": ON}) == set()


def test_not_ours_stops_dependents_first() -> None:
    local = {"disk": ON, "ip": ON, "app": ON, "name": ON}
    assert batch(snap(owner="n2"), local) == {("stop", "app"), ("stop", "name")}
    assert batch(snap(owner="n2"), {"disk": ON, "ip": ON}) == {("stop", "disk"), ("stop", "ip")}


def test_lost_lease_stops_everything_and_starts_nothing() -> None:
    assert batch(snap(), {"disk": ON}, lease_ok=False) == {("stop", "disk")}
    assert batch(snap(), {}, lease_ok=False) == set()


def test_waits_while_the_old_owner_still_runs_it() -> None:
    """A move stops on the old node before it starts on the new one (never two owners)."""
    s = snap(disk=ResourceStatus(ON, node="n2"))
    assert batch(s, {}) == set()


def test_old_owner_down_and_fenced_does_not_block() -> None:
    s = snap(disk=ResourceStatus(ON, node="n2"))
    s = Snapshot(
        s.config,
        {"n1": NodeStatus(), "n2": NodeStatus(NodeState.DOWN, fenced=True)},
        s.groups,
        s.resources,
    )
    assert ("start", "disk") in batch(s, {})


def test_failed_resource_waits_for_a_restart_grant() -> None:
    failed = ResourceStatus(FAILED, node="n1", since=50.0, failures=1)
    assert ("start", "ip") not in batch(snap(ip=failed), {"disk": ON, "ip": FAILED})
    granted = ResourceStatus(FAILED, node="n1", since=50.0, restarts=(51.0,), failures=1, granted=1)
    assert ("start", "ip") in batch(snap(ip=granted), {"disk": ON, "ip": FAILED})


def test_dependents_of_a_failed_resource_stop() -> None:
    local = {"disk": ON, "ip": FAILED, "app": ON, "name": ON}
    assert batch(snap(ip=ResourceStatus(FAILED, node="n1", since=5.0)), local) == {
        ("stop", "app"),
        ("stop", "name"),
    }


def test_resource_wanted_offline_stops_with_its_dependents() -> None:
    local = {"disk": ON, "ip": ON, "app": ON, "name": ON}
    s = snap(ip=ResourceStatus(ON, node="n1", wanted=Wanted.OFFLINE))
    assert batch(s, local) == {("stop", "app"), ("stop", "name")}
    kinds = {a.kind for a in next_batch(s, "n1", {"disk": ON, "ip": ON}, lease_ok=True)}
    assert kinds == {LocalKind.STOP}


def test_a_stale_local_failure_does_not_block_a_later_return() -> None:
    """The resource failed here once, the group failed over and later came back: the old
    local Failed must not wait for a restart grant that nobody will give (found in the lab
    by bench/lab_safety.py)."""
    elsewhere = ResourceStatus(OFF, node="n2", since=80.0)
    assert ("start", "ip") in batch(snap(ip=elsewhere), {"disk": ON, "ip": FAILED})


def offline_group(s: Snapshot) -> Snapshot:
    return replace(s, groups={"G": replace(s.group("G"), wanted=Wanted.OFFLINE)})


def test_failed_here_and_wanted_offline_is_taken_offline() -> None:
    """S34, WSFC: offline brings a Failed resource to Offline. Nothing of it runs, so the
    stop only confirms that and records Offline; before, nothing happened and it stayed
    Failed for ever (lab finding)."""
    failed = ResourceStatus(FAILED, node="n1", failures=2)
    s = offline_group(snap(ip=failed))
    assert batch(s, {"ip": FAILED}) == {("stop", "ip")}
    assert batch(s, {}) == {("stop", "ip")}  # after a daemon restart: nothing held here
    assert batch(s, {}, lease_ok=False) == set()  # no report without the lease
    # Whoever owns the group now (a failover was decided before the offline).
    assert batch(offline_group(snap(owner="n2", ip=failed)), {"ip": FAILED}) == {("stop", "ip")}
    # The resource alone taken offline, its group still online here.
    alone = snap(ip=ResourceStatus(FAILED, node="n1", wanted=Wanted.OFFLINE))
    assert ("stop", "ip") in batch(alone, {"disk": ON, "ip": FAILED})


def test_failed_stays_failed_unless_wanted_offline() -> None:
    """Wanted online, a Failed resource waits for the coordinator (restart, failover, or the
    failover limit, where the group shows Failed as in WSFC); another node's Failed report
    is that node's to take offline."""
    failed = ResourceStatus(FAILED, node="n1", failures=1)
    assert ("stop", "ip") not in batch(snap(ip=failed), {"disk": ON, "ip": FAILED})
    limit = replace(snap(ip=failed), groups={"G": GroupStatus(owner="n1", failed_over_limit=True)})
    assert batch(limit, {"ip": FAILED}) == set()
    theirs = offline_group(snap(ip=ResourceStatus(FAILED, node="n2", failures=1)))
    assert batch(theirs, {}) == set()
