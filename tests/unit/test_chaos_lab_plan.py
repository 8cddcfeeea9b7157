"""The lab chaos suite's pure parts (issue 9): its seeded plan and its judgement."""

from __future__ import annotations

from wolfpack.lab.chaos_lab_judge import (
    config_changes,
    fault_outage,
    lost_rows,
    per_kind,
    percentile,
    totals,
    unfenced,
)
from wolfpack.lab.chaos_lab_plan import (
    CI_WEIGHTS,
    JUMP_S,
    MAX_LIGHT,
    NOT_DONE,
    SCOPES,
    TTL_S,
    Fault,
    Kind,
    may_share_node,
    may_start,
    plan,
)

NODES, GROUPS = ["node1", "node2", "node3"], ["Web", "SQL"]


def test_a_seed_replays_the_same_faults_and_another_seed_does_not() -> None:
    assert plan(7, NODES, GROUPS, 50) == plan(7, NODES, GROUPS, 50)
    assert plan(7, NODES, GROUPS, 50) != plan(8, NODES, GROUPS, 50)


def test_every_kind_comes_once_and_targets_and_holds_fit_the_kind() -> None:
    faults = plan(3, NODES, GROUPS, 200)
    assert {f.kind for f in faults} == set(Kind)
    for f in faults:
        assert 0.5 <= f.after_s <= 4.0
        if f.kind is Kind.DAEMON_FREEZE:
            assert f.hold_s > TTL_S  # beyond the lease, or it proves nothing
        if f.kind in (Kind.PATH_CUT, Kind.ASYMMETRIC, Kind.PACKET_LOSS):
            assert f.network in ("public", "private")
        if f.kind in (Kind.RESOURCE_CRASH, Kind.RESOURCE_HANG):
            assert f.group in GROUPS and not f.target
        if f.kind is Kind.POWER_OFF:
            assert f.target in NODES or f.target.removeprefix("owner:") in GROUPS


def test_the_ci_profile_leaves_the_cluster_wide_kinds_out() -> None:
    kinds = {f.kind for f in plan(1, NODES, GROUPS, 300, CI_WEIGHTS)}
    assert Kind.ETCD_QUORUM_LOSS not in kinds and Kind.CLUSTER_POWER_CYCLE not in kinds
    assert Kind.POWER_OFF in kinds and Kind.ALL_PATHS_CUT in kinds


def test_scopes_one_node_fault_at_a_time_cluster_faults_alone_light_ones_beside() -> None:
    def f(kind: Kind) -> Fault:
        return Fault(1, kind, 1.0, 1.0)

    assert may_start(f(Kind.POWER_OFF), [f(Kind.PATH_CUT)])
    assert not may_start(f(Kind.POWER_OFF), [f(Kind.DAEMON_KILL)])
    assert not may_start(f(Kind.ETCD_QUORUM_LOSS), [f(Kind.ETCD_CUT)])
    assert not may_start(f(Kind.NODE_FREEZE), [f(Kind.CLUSTER_POWER_CYCLE)])
    assert may_start(f(Kind.RESOURCE_CRASH), [f(Kind.CLUSTER_POWER_CYCLE)])
    assert not may_start(f(Kind.RESOURCE_HANG), [f(Kind.PATH_CUT)] * MAX_LIGHT)


def test_an_outage_counts_the_gaps_of_the_groups_hit_within_its_window() -> None:
    gaps = {"Web": [(10.0, 12.0), (30.0, 31.0), (50.0, 60.0)], "SQL": [(11.0, 11.5)]}
    assert fault_outage(gaps, ["Web"], 9.0, 20.0, tail_s=10.0) == 3.0  # both touch [9, 30]
    assert fault_outage(gaps, ["SQL"], 9.0, 20.0) == 0.5
    assert fault_outage(gaps, [], 9.0, 20.0) == 0.0
    assert fault_outage(gaps, ["Web"], 61.0, 62.0) == 0.0


def test_percentiles_and_per_kind() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    doc = per_kind([{"kind": "a", "outage_s": 1.0}, {"kind": "a", "outage_s": 3.0},
                    {"kind": "b", "outage_s": 0.0}])  # fmt: skip
    assert doc["a"] == {"count": 2, "outage_p50_s": 1.0, "outage_p99_s": 3.0,
                        "outage_max_s": 3.0}  # fmt: skip
    assert doc["b"]["count"] == 1


def test_rows_lost_and_configuration_changes() -> None:
    assert lost_rows([1, 2, 3, 5], [1, 2, 3, 4, 5]) == []
    assert lost_rows([1, 2, 3], [1, 3]) == [2]
    assert config_changes("a: 1\nb: 2\n", "a: 1\nb: 2\n") == []
    assert config_changes("a: 1\nb: 2\n", "a: 1\nb: 3\n") == ["-b: 2", "+b: 3"]


def test_totals_add_the_runs_up() -> None:
    run = {"faults": [{"kind": "power-off", "injected": True, "outage_s": 2.0},
                      {"kind": "path-cut", "injected": False, "outage_s": 0.0}],
           "double_owners": [], "lost_rows": [], "config_changes": ["-x"],
           "recovered_s": 3.0, "rows_acknowledged": 10}  # fmt: skip
    doc = totals([run, run])
    assert doc["faults_total"] == 2 and doc["run_count"] == 2
    assert (doc["double_owners"], doc["lost_rows"], doc["config_changes"]) == (0, 0, 2)
    assert doc["per_kind"]["power-off"]["count"] == 2 and "path-cut" not in doc["per_kind"]


def test_isolations_not_fenced_are_split_by_what_the_node_held() -> None:
    """Issue 9: a node with every path cut is fenced only when it may still run a group
    (policy/engine.py); one that held nothing staying unfenced is by design, counted apart."""
    cut = {"kind": "all-paths-cut", "injected": True, "outage_s": 0.0}
    faults = [{**cut, "fenced": True, "groups": ["Web"]},
              {**cut, "fenced": False, "groups": ["Web", "SQL"]},
              {**cut, "fenced": False, "groups": []},
              {**cut, "fenced": False, "groups": []},
              {"kind": "power-off", "injected": True, "outage_s": 1.0, "fenced": None}]  # fmt: skip
    assert unfenced(faults) == {"holding": 1, "idle": 2}
    run = {"faults": faults, "double_owners": [], "lost_rows": [], "config_changes": [],
           "recovered_s": 1.0, "rows_acknowledged": 0}  # fmt: skip
    assert totals([run, run])["unfenced_isolations"] == {"holding": 2, "idle": 4}


def test_the_new_kinds_aim_where_they_say() -> None:
    """Issue 9: a start failing on a move's target aims at a group (the target is chosen
    when it comes: another node that is Up); a clock jump at a node, by 30 s either way."""
    faults = plan(5, NODES, GROUPS, 300, CI_WEIGHTS)
    moves = [f for f in faults if f.kind is Kind.FAILED_START_ON_MOVE]
    jumps = [f for f in faults if f.kind is Kind.CLOCK_JUMP]
    assert moves and jumps
    assert all(f.group in GROUPS and not f.target and not f.jump_s for f in moves)
    assert {f.jump_s for f in jumps} == {JUMP_S, -JUMP_S}
    assert all(f.target in NODES or f.target.removeprefix("owner:") in GROUPS for f in jumps)
    assert all(f.jump_s == 0 for f in faults if f.kind is not Kind.CLOCK_JUMP)
    assert jumps[0].describe().endswith(f"{jumps[0].jump_s:+d} s for {jumps[0].hold_s:.1f} s")
    assert moves[0].describe().endswith("until the move settles (at most 60 s)")
    assert SCOPES[Kind.FAILED_START_ON_MOVE] == SCOPES[Kind.CLOCK_JUMP] == "light"
    assert may_start(moves[0], [jumps[0]]) and not may_start(moves[0], [jumps[0], moves[1]])


def test_only_the_packet_delay_is_left_undone_and_why() -> None:
    assert set(NOT_DONE) == {"packet-delay"}
    assert "CONFIG_NET_SCH_NETEM is not set" in NOT_DONE["packet-delay"]
    assert not {k.value for k in Kind} & set(NOT_DONE)


def test_which_faults_may_share_a_node() -> None:
    """Two network faults never (both change the node's links or nftables table); a node
    fault only beside a group's; a failed start on a move or a clock jump only beside a
    group's crash, hang or full disk (it judges what happens to its nodes), the failed start
    never beside a fault of its own group (CI: a hang of Web held the move of Web that was
    to fail its start, and the move never settled)."""

    def f(kind: Kind, group: str = "") -> Fault:
        return Fault(1, kind, 1.0, 1.0, group=group)

    assert not may_share_node(f(Kind.PATH_CUT), f(Kind.PACKET_LOSS))
    assert not may_share_node(f(Kind.POWER_OFF), f(Kind.DAEMON_FREEZE))
    assert may_share_node(f(Kind.POWER_OFF), f(Kind.RESOURCE_CRASH))
    assert may_share_node(f(Kind.RESOURCE_HANG), f(Kind.DISK_FULL))
    for alone in (Kind.FAILED_START_ON_MOVE, Kind.CLOCK_JUMP):
        assert may_share_node(f(alone, "Web"), f(Kind.RESOURCE_CRASH, "SQL"))
        assert may_share_node(f(Kind.DISK_FULL, "SQL"), f(alone, "Web"))
    for own in (Kind.RESOURCE_CRASH, Kind.RESOURCE_HANG, Kind.DISK_FULL):
        assert not may_share_node(f(Kind.FAILED_START_ON_MOVE, "Web"), f(own, "Web"))
        assert not may_share_node(f(own, "Web"), f(Kind.FAILED_START_ON_MOVE, "Web"))
        assert may_share_node(f(Kind.CLOCK_JUMP), f(own, "Web"))
        for other in (Kind.POWER_OFF, Kind.DAEMON_KILL, Kind.FAILED_START_ON_MOVE,
                      Kind.CLOCK_JUMP, Kind.PATH_CUT):  # fmt: skip
            assert not may_share_node(f(alone), f(other))
            assert not may_share_node(f(other), f(alone))
