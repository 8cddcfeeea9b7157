"""The metric families of ``/metrics``: per object from the cluster read (every node exports
the same values: aggregate with ``max without(instance)``), and this node's own health.

ha_cluster_exporter and Patroni are the anchors: a series per named object, so an alert can
say *which* group is Failed or who owns it; state sets as one 0/1 series per state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from wolfpack.model.fsm import derived_state
from wolfpack.model.health import NodeHealth
from wolfpack.model.states import GroupState, NodeState, ResourceState


def cluster_families(built: Any, now: float) -> Iterator[Any]:
    """Nodes, groups and resources as the cluster database has them (``built``: the API's
    cached read, :class:`wolfpack.api.cache.Built`)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    snap = built.snapshot
    cfg = snap.config
    node_states = {n: snap.node(n).state for n in sorted(cfg.nodes)}
    group_states = {g: derived_state(snap, g) for g in sorted(cfg.groups)}

    counts = Counter(node_states.values())
    by_state = GaugeMetricFamily("wolfpack_nodes", "Configured nodes by state", labels=["state"])
    for state in NodeState:
        by_state.add_metric([str(state)], counts.get(state, 0))
    yield by_state
    up = GaugeMetricFamily("wolfpack_nodes_up", "Nodes that are Up")
    up.add_metric([], counts.get(NodeState.UP, 0))
    yield up
    node_state = GaugeMetricFamily(
        "wolfpack_node_state", "1 for the state each node is in", labels=["node", "state"]
    )
    for name, current in node_states.items():
        for state in NodeState:
            node_state.add_metric([name, str(state)], int(state is current))
    yield node_state

    gcounts = Counter(group_states.values())
    groups = GaugeMetricFamily("wolfpack_groups", "Groups by state", labels=["state"])
    for gstate in GroupState:
        groups.add_metric([str(gstate)], gcounts.get(gstate, 0))
    yield groups
    group_state = GaugeMetricFamily(
        "wolfpack_group_state", "1 for the state each group is in", labels=["group", "state"]
    )
    owner = GaugeMetricFamily(
        "wolfpack_group_owner", "1 for the node that owns each group", labels=["group", "node"]
    )
    total = CounterMetricFamily(
        "wolfpack_group_failovers",
        "Failovers of each group since it was created",
        labels=["group"],
    )
    in_period = GaugeMetricFamily(
        "wolfpack_group_failovers_in_period",
        "Failovers within the group's failover period (what the failover threshold counts)",
        labels=["group"],
    )
    duration = GaugeMetricFamily(
        "wolfpack_group_last_failover_duration_seconds",
        "The last completed failover, from the coordinator's decision until every resource"
        " was Online on the new owner",
        labels=["group"],
    )
    when = GaugeMetricFamily(
        "wolfpack_group_last_failover_timestamp_seconds",
        "When the last failover completed (seconds since the epoch)",
        labels=["group"],
    )
    for name, current_g in group_states.items():
        for gstate in GroupState:
            group_state.add_metric([name, str(gstate)], int(gstate is current_g))
        st = snap.group(name)
        if st.owner is not None:
            owner.add_metric([name, st.owner], 1)
        total.add_metric([name], st.failovers_total)
        period = cfg.groups[name].failover_period_s
        in_period.add_metric([name], sum(1 for t in st.failovers if now - t < period))
        if st.last_failover_at:
            duration.add_metric([name], st.last_failover_s)
            when.add_metric([name], st.last_failover_at)
    yield from (group_state, owner, total, in_period, duration, when)

    res_state = GaugeMetricFamily(
        "wolfpack_resource_state",
        "1 for the state each resource is in",
        labels=["resource", "group", "type", "state"],
    )
    restarts = CounterMetricFamily(
        "wolfpack_resource_restarts",
        "Restarts in place granted to each resource since it was created",
        labels=["resource", "group"],
    )
    for res in sorted(cfg.resources.values(), key=lambda r: r.name):
        rst = snap.resource(res.name)
        for rstate in ResourceState:
            labels = [res.name, res.group, res.type, str(rstate)]
            res_state.add_metric(labels, int(rstate is rst.state))
        restarts.add_metric([res.name, res.group], rst.restarts_total)
    yield res_state
    yield restarts

    coordinator = GaugeMetricFamily(
        "wolfpack_coordinator", "1 for the node that is coordinator", labels=["node"]
    )
    if built.view.coordinator:
        coordinator.add_metric([built.view.coordinator], 1)
    yield coordinator
    revision = GaugeMetricFamily("wolfpack_store_revision", "Store revision of the read")
    revision.add_metric([], built.revision)
    yield revision


def node_families(h: NodeHealth) -> Iterator[Any]:
    """This node as only its daemon knows it: lease, heartbeat paths, watchdog, checks."""
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    def gauge(name: str, doc: str, value: float) -> Any:
        family = GaugeMetricFamily(name, doc)
        family.add_metric([], value)
        return family

    yield gauge(
        "wolfpack_lease_valid",
        "1 while this node holds a valid lease (may run resources)",
        int(h.lease_valid),
    )
    yield gauge(
        "wolfpack_lease_remaining_seconds",
        "Until this node must stop its resources unless its lease is renewed",
        h.lease_remaining_s,
    )
    yield gauge(
        "wolfpack_fencing_grace_seconds",
        "How long a peer silent on every heartbeat path has to answer in etcd before it is"
        " Down (sized from this node's etcd round trips unless heartbeat.grace_s is set)",
        h.fencing_grace_s,
    )
    yield gauge(
        "wolfpack_watchdog_running", "1 while the watchdog process runs", int(h.watchdog_running)
    )
    yield gauge(
        "wolfpack_watchdog_armed",
        "1 while the watchdog holds a lease deadline to enforce",
        int(h.watchdog_armed),
    )
    yield gauge(
        "wolfpack_heartbeats_listening",
        "1 once the heartbeat service has run long enough for silence to mean something",
        int(h.heartbeats_listening),
    )
    path_up = GaugeMetricFamily(
        "wolfpack_heartbeat_path_up",
        "1 while this node hears the peer on the network",
        labels=["peer", "network"],
    )
    lost = CounterMetricFamily(
        "wolfpack_heartbeats_lost",
        "Heartbeats of the peer on the network that never arrived (gaps in its sequence)",
        labels=["peer", "network"],
    )
    for p in h.paths:
        path_up.add_metric([p.peer, p.network], int(p.up))
        lost.add_metric([p.peer, p.network], p.lost)
    yield path_up
    yield lost
    packets = CounterMetricFamily(
        "wolfpack_heartbeat_packets",
        "Heartbeat packets by outcome (sent, received, dropped_*, send_errors)",
        labels=["outcome"],
    )
    for outcome, n in sorted(h.heartbeat_counters.items()):
        packets.add_metric([outcome], n)
    yield packets
    checks = HistogramMetricFamily(
        "wolfpack_resource_check_duration_seconds",
        "Health checks run on this node (looks_alive, is_alive) by resource",
        labels=["resource", "check"],
    )
    for (resource, check), hist in sorted(h.checks.items()):
        checks.add_metric([resource, check], hist.cumulative(), hist.total)
    yield checks
