"""wolfpackd: one per node. Wires membership, lease, watchdog, resource manager, coordinator.

Start order matters for safety: the watchdog runs before any resource can, the lease exists
before the resource manager starts anything, and on shutdown the groups are moved away
(drain) before resources stop, so a planned stop is not an outage. A node in maintenance
stops or restarts its daemon without either: its resources keep running (in the unit's
cgroup, ``KillMode=process``) and the next daemon adopts them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wolfpack import __version__
from wolfpack.errors import StoreError, ValidationError, WolfpackError
from wolfpack.model.health import NodeHealth
from wolfpack.node import etcd_endpoints, inventory, systemd
from wolfpack.node.claims import LeaseClaims
from wolfpack.node.coordinator import Coordinator
from wolfpack.node.daemon_api import DaemonApi
from wolfpack.node.dbaccess import log_access, open_stores
from wolfpack.node.etcd_member import ManagedMember
from wolfpack.node.execute import Executor
from wolfpack.node.fence_setup import FENCING_DISABLED_COST, build_fencer, unfence_self
from wolfpack.node.grace import CEILING as GRACE_CEILING
from wolfpack.node.grace import RoundTrips
from wolfpack.node.health import CheckTimes, node_health
from wolfpack.node.heartbeat_tracker import heartbeat_paths
from wolfpack.node.jsonlog import JsonLog
from wolfpack.node.key_rotation import KeyFollower, adopt_at_start
from wolfpack.node.lease import NodeLease, boottime
from wolfpack.node.links import LinkMonitor, heard_by_network, own_interfaces
from wolfpack.node.liveness import NodeAdmin
from wolfpack.node.manager import ResourceManager
from wolfpack.node.membership import (
    HeartbeatSettings,
    Membership,
    MembershipView,
    next_incarnation,
)
from wolfpack.node.memory import limit_malloc_arenas, release_free_memory
from wolfpack.node.pidregistry import PidRegistry
from wolfpack.node.secret import check as check_secret
from wolfpack.node.secret import read_secret
from wolfpack.node.settings import DaemonSettings, load_settings
from wolfpack.node.views import ViewPublisher
from wolfpack.node.watchdog import WatchdogClient
from wolfpack.resources import AgentContext
from wolfpack.resources.confine import Confinement
from wolfpack.resources.priority import raise_own
from wolfpack.store import (
    Delete,
    EtcdStore,
    KeySpace,
    Op,
    Put,
    Store,
    WatchEvent,
    mod_revision_is,
)
from wolfpack.store.mirror import RootMirror
from wolfpack.store.repository import ClusterDB, encode
from wolfpack.store.view import ClusterReader

if TYPE_CHECKING:
    from wolfpack.api.server import ApiServer

LOG_FILE = "wolfpackd.log"
#: threads whose death stops the systemd watchdog pings (with ``membership-<node>``)
VITAL_THREADS = ("lease", "lease-fence", "manager", "monitor", "coordinator", "views", "links")
#: how often the supervisor looks at the component threads when systemd does not ask
SUPERVISE_EVERY_S = 1.0
#: how often the heartbeat counters are logged (``membership_counters``), if they changed
COUNTERS_EVERY_S = 5.0


class Daemon(DaemonApi):
    """One node's daemon; the REST API's part is :class:`~wolfpack.node.daemon_api.DaemonApi`."""

    def __init__(self, settings: DaemonSettings, store: Store | None = None) -> None:
        self.settings = s = settings
        # bad or missing certificates stop the daemon here, naming the field, before any
        # file is written (C1: the database is reached over TLS as this node's etcd user)
        self._api_store: EtcdStore | None = None
        if store is None:
            store, self._api_store = open_stores(s)
        self.log = JsonLog(
            s.node,
            path=s.log_file or (s.run_dir / LOG_FILE if s.api.active else None),
            max_bytes=None if s.log_file else s.api.log_max_bytes,  # logrotate's job
        )
        self.store: Store = store
        self.keys = KeySpace(s.prefix)
        #: the root's copy the watch thread keeps current: the coordinator and the resource
        #: manager read it on every pass instead of the whole root (a range read of etcd
        #: on every wake-up, on the path of every start: issue 12). Their writes go through
        #: ``tracking``, so a read waits until the copy holds them; a write decided on a
        #: copy that is behind fails its compares (mod revisions, the lease), never succeeds
        self.mirror = RootMirror(self.store, self.keys.root)
        self.reader = ClusterReader(self.mirror.tracking(self.store), self.keys, mirror=self.mirror)
        self.db = ClusterDB(self.store, self.keys)
        #: what the REST API writes with, and the coordinator's configuration changes (the
        #: API's etcd user; the node's own, which may not change the configuration, if none)
        self.api_db = ClusterDB(self._api_store or self.store, self.keys)
        self.run_dir = s.run_dir
        self.pids = PidRegistry(self.run_dir)
        self._stop = threading.Event()
        self._membership_started = float("inf")
        self._last_membership: tuple[dict[str, str], list[str]] = ({}, [])
        self.watchdog: WatchdogClient | None = None
        self.confine: Confinement | None = None
        self.membership: Membership | None = None
        self.lease: NodeLease | None = None
        self.manager: ResourceManager | None = None
        self.coordinator: Coordinator | None = None
        self.views: ViewPublisher | None = None
        self.links: LinkMonitor | None = None
        self.api: ApiServer | None = None
        self.checks = CheckTimes()  # health-check latency per resource, for /metrics
        #: this node's etcd round trips, which size the fencing grace (docs/fencing.md)
        timeout = s.heartbeat.interval_s * s.heartbeat.threshold
        self.round_trips = RoundTrips(
            fallback_s=timeout, ceiling_s=GRACE_CEILING * timeout, fixed_s=s.heartbeat.grace_s
        )
        self._secret = b""
        self.key_follower: KeyFollower | None = None
        self._own_threads: list[threading.Thread] = []  # joined at shutdown
        self.member: ManagedMember | None = None  # this node's etcd member, if it runs one

    def start(self) -> None:
        """Start the node's own etcd member first, if it has one (``etcd_member:``), and
        stop it again if the rest cannot start."""
        if self.settings.etcd_member is not None:
            self.member = ManagedMember(
                self.settings.etcd_member, log=self.log, promote_via=self.settings.endpoints
            )
            self.member.start()
        try:
            self._start()
        except BaseException:
            if self.member is not None:
                self.member.stop()
            raise

    def _start(self) -> None:
        s = self.settings
        fencer = build_fencer(s)  # bad input fails here, before anything has started
        if fencer is None:
            self.log("fencing_disabled", level="warning", cost=FENCING_DISABLED_COST)
        log_access(s, self.store, self._api_store, self.log)
        # a key rotation that finished while this node was down: adopt its secret first
        secret = adopt_at_start(self.store, self.keys, read_secret(s.secret_file),
                                s.secret_file, self.log)  # fmt: skip
        check_secret(self.store, self.keys, secret)
        self._secret = secret
        cfg = self.reader.read().snapshot.config
        node = cfg.nodes.get(s.node)
        if node is None:
            raise WolfpackError(
                f"node {s.node!r} is not a member of this cluster: add it with "
                f"'wolfpack cluster join' (known nodes: {', '.join(sorted(cfg.nodes)) or 'none'})"
            )
        self.lease = NodeLease(
            self.store,
            self.keys,
            s.node,
            {"id": node.id, "started": time.time()},  # and who we are: boot, machine, pid
            ttl_s=s.lease.ttl_s,
            renew_every_s=s.lease.renew_every_s,
            margin_s=s.lease.margin_s,
            clock=boottime,
            on_deadline=self._arm_watchdog,
            on_lost=self._lease_lost,
            on_round_trip=self.round_trips.observe,
            log=self.log,
        )
        # M4: another live daemon with this node name (a cloned VM) stops us here, before
        # anything has started (NodeIdentityConflict: exit status 2)
        self.lease.wait_until_free()
        unfence_self(s, fencer, self.log)  # before anything can run here
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pids.add(os.getpid(), "daemon")
        self.confine = Confinement.for_node(s.node, self.run_dir)
        if self.confine.enabled:
            self.log("confinement", cgroups=str(self.confine.root))
        else:  # once, loudly: what a resource daemonises may then outlive a self-fence
            self.log(
                "confinement_off",
                level="warning",
                why=self.confine.reason,
                detail="resource processes are tracked by process group only; one that"
                " leaves its group (setsid, double fork) escapes the watchdog",
            )
        self.db.write_inventory(inventory.probe(s.node, time.time()))
        self.watchdog = WatchdogClient.start(self.run_dir, s.watchdog_margin_s)
        self.membership = Membership(
            s.node,
            node.id,
            secret,
            heartbeat_paths(cfg, s.node, s.heartbeat.port),
            HeartbeatSettings(s.heartbeat.interval_s, s.heartbeat.threshold),
            on_change=self._membership_changed,
            log=self.log,
            incarnation=next_incarnation(self.run_dir / "incarnation", time.time_ns()),
        )
        self.membership.start()
        self.key_follower = KeyFollower(
            self.store, self.keys, s.node, s.secret_file, secret,
            apply=self._apply_keys, certificate=self._rotation_certificate, log=self.log,
        )  # fmt: skip
        self._membership_started = time.monotonic()
        self.lease.acquire()
        self.lease.start()
        lease = self.lease
        self.views = ViewPublisher(
            self.store,
            self.keys,
            s.node,
            self._peers,
            self._listening,
            self._valid_lease_id,
            lease.guard,
            grace=self.round_trips.grace,
            on_grace=self._wake,
            on_round_trip=self.round_trips.observe,
            log=self.log,
        )
        self.views.start()
        hb = s.heartbeat
        self.links = LinkMonitor(
            self.store,
            self.keys,
            s.node,
            window_s=hb.interval_s * hb.threshold,  # media sense: the heartbeat miss window
            heard=self._heard_by_network,
            listening=self._listening,
            lease=self._valid_lease_id,
            guard=lease.guard,
            log=self.log,
        )
        self.links.set_interfaces(own_interfaces(cfg, s.node))
        self.links.start()
        context = AgentContext(
            node=s.node,
            run_dir=self.run_dir,
            log=lambda event, fields: self.log(event, **fields),
            on_failure=lambda name, why: None,
            register_pid=self._register_resource_pid,
            unregister_pid=self.pids.remove,
            claims=LeaseClaims(self.store, self.keys, s.node, self._valid_lease_id),
            may_run=self.lease.valid,
            confine=self.confine,
            log_dir=s.resource_log_dir,
            links=self.links,
        )
        self.manager = ResourceManager(
            self.reader,
            s.node,
            self.lease.valid,
            self.lease.guard,
            context,
            log=self.log,
            checks=self.checks,
        )
        self.manager.start()
        # the coordinator's writes are noted by the mirror, so its next read waits for them
        store = self.mirror.tracking(self.store)
        executor = Executor(store, self.keys, fencer, self.api_db.update_config, log=self.log)
        self.coordinator = Coordinator(
            store,
            ClusterReader(store, self.keys, mirror=self.mirror, cache=self.reader.cache),
            s.node,
            self._valid_lease_id,
            self._heard,
            executor,
            self._lost,
            self._listening,
            silence=self.views.silence,
            last_heard=self._last_heard,
            grace=self.round_trips.grace,
            tick_s=s.tick_s,
            dump_dir=s.dump_dir,
            log=self.log,
        )
        self.coordinator.start()
        threads = [(self._watch, "watch"), (self._log_counters, "counters")]
        if s.follows_members and isinstance(self.store, EtcdStore):
            threads.append((self._follow_members, "etcd-endpoints"))
        for target, name in threads:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._own_threads.append(thread)
        self._start_api()
        self.key_follower.follow()  # a rotation under way when this node started
        release_free_memory()
        self.log("started", pid=os.getpid(), endpoints=s.endpoints)

    def health(self) -> NodeHealth:
        return node_health(self)

    def _membership_changed(self, view: MembershipView) -> None:
        """A peer or a path changed: decide again now, and say what the heartbeats see (a
        Partitioned network is reported, never failed over: S14, S41)."""
        self._wake()
        if self.views is not None:
            self.views.wake()
        if self.links is not None:
            self.links.wake()
        networks = {name: str(state) for name, state in view.networks.items()}
        peers = sorted(view.up())
        if (networks, peers) != self._last_membership:
            self._last_membership = (networks, peers)
            self.log("membership", peers_up=peers, networks=networks)

    def _log_counters(self) -> None:
        """The heartbeat counters (docs/membership.md) in the log every few seconds, so a
        growing ``dropped_*`` or ``send_errors`` shows in ``wolfpack log`` and the journal;
        and the fencing grace when etcd's round trips changed it, with the suspicion time
        that follows it (docs/fencing.md)."""
        last: dict[str, int] = {}
        grace = self.round_trips.grace()
        while not self._stop.wait(COUNTERS_EVERY_S):
            now = self.round_trips.grace()
            if self.membership is None:
                continue
            suspect = self.membership.settings.suspect_within(now)
            if self.membership.set_suspect_s(suspect) or abs(now - grace) >= 0.05:
                grace = now  # etcd got slower or faster
                self.log("fencing_grace", grace_s=round(grace, 3), suspect_s=round(suspect, 3))
            counters = dict(self.membership.counters)
            if counters != last:
                self.log("membership_counters", counters=counters)
                last = counters

    def _listening(self) -> bool:
        """Has membership run long enough, and without a stall, for silence to mean
        something?"""
        hb = self.settings.heartbeat
        started = time.monotonic() - self._membership_started > 2 * hb.interval_s * hb.threshold
        return started and self.membership is not None and self.membership.listening()

    def _peers(self) -> dict[str, bool]:
        """Every configured peer -> heard lately on some heartbeat path (not suspected): what
        our published view says we hear. Left out at the suspicion time, half the heartbeat
        timeout, so a silent peer's fencing grace is running by the time it is Down."""
        if self.membership is None:
            return {}
        return {name: not peer.suspected for name, peer in self.membership.view().peers.items()}

    def _heard_by_network(self) -> dict[str, list[str]]:
        return heard_by_network(self.membership.view()) if self.membership else {}

    def _lost(self) -> frozenset[str]:
        """Peers heard before and now silent on every heartbeat path."""
        if self.membership is None:
            return frozenset()
        peers = self.membership.view().peers
        return frozenset(n for n, p in peers.items() if not p.up and p.last_heard is not None)

    def _last_heard(self) -> dict[str, dict[str, float]]:
        """The failover timeline's "last heard", by the wall clock."""
        view = self.membership.view() if self.membership else None
        return view.last_heard(time.time() - time.monotonic()) if view else {}

    def _valid_lease_id(self) -> int:
        """The lease a claim may be attached to: none once it is no longer valid by our clock."""
        return self.lease.lease_id if self.lease is not None and self.lease.valid() else 0

    def _register_resource_pid(self, pid: int) -> None:
        self.pids.add(pid, "resource")

    def _heard(self) -> frozenset[str]:
        if self.membership is None:
            return frozenset()
        return frozenset(name for name, peer in self.membership.view().peers.items() if peer.up)

    def _arm_watchdog(self, deadline: float) -> None:
        """A new lease deadline (``CLOCK_BOOTTIME``) for the watchdog, which counts on
        ``CLOCK_MONOTONIC`` (and converts back to BOOTTIME itself)."""
        if self.watchdog is not None:
            self.watchdog.arm(deadline - boottime() + time.monotonic())

    def _lease_lost(self, why: str) -> None:
        """Self-fencing, on the lease's fence thread at ``deadline - margin``: stop every
        resource within the time left before the lease could expire, without etcd."""
        if self.coordinator is not None:
            self.coordinator.token = 0
        if self.manager is not None and self.lease is not None:
            budget = self.lease.deadline - self.lease.clock()
            self.manager.stop_everything(f"self-fencing: {why}", budget_s=budget)

    def _wake(self) -> None:
        for part in (self.manager, self.coordinator):
            if part is not None:
                part.wake.set()

    def _watch(self) -> None:
        """Keep the coordinator's copy of the root current, and wake the loops on every
        change in the cluster database (one watch: :meth:`RootMirror.follow`)."""
        self.mirror.follow(self._stop, self._changed, log=self.log)

    def _follow_members(self) -> None:
        """Ask every voting etcd member, not only the configured ones
        (:mod:`wolfpack.node.etcd_endpoints`)."""
        stores = [st for st in (self.store, self._api_store) if isinstance(st, EtcdStore)]
        configured = [e.strip() for e in self.settings.endpoints.split(",") if e.strip()]
        member = self.settings.etcd_member
        own = member.client_urls if member is not None else []
        etcd_endpoints.follow(
            stores, configured, self._stop, self.log, own=own, on_preferred=self.mirror.rewatch
        )

    def _changed(self, events: list[WatchEvent]) -> None:
        self._wake()
        keys = {event.key for event in events}
        if self.keys.rotation in keys and self.key_follower:
            self.key_follower.follow()
        if self.views is not None and any(
            k.startswith((self.keys.views_prefix, self.keys.node_leases_prefix)) for k in keys
        ):
            self.views.wake()
        if any(k.startswith(self._topology_prefixes) for k in keys):
            self._refresh_peers()

    @property
    def _topology_prefixes(self) -> tuple[str, ...]:
        return tuple(self.keys.config_prefix(k) for k in ("nodes", "networks", "interfaces"))

    def _refresh_peers(self) -> None:
        """Nodes join and interfaces change at runtime: follow them with the heartbeats."""
        if self.membership is None:
            return
        cfg = self.reader.read().snapshot.config
        if self.links is not None:
            self.links.set_interfaces(own_interfaces(cfg, self.settings.node))
        paths = heartbeat_paths(cfg, self.settings.node, self.settings.heartbeat.port)
        try:
            self.membership.set_peers(paths)
        except WolfpackError as exc:
            self.log("heartbeat_paths_refused", error=str(exc))
        else:
            self.log("heartbeat_paths", networks=[p.network for p in paths])

    def drain(self) -> None:
        """Move this node's groups away before stopping (DrainOnShutdown), then give back the
        administrator's own flags (L7: a ``node pause`` outlives a restart), unless someone
        changed them meanwhile."""
        s = self.settings
        key = self.keys.node_admin(s.node)
        before = self.store.get(key)
        ours = self.store.put(key, encode(NodeAdmin(paused=True, draining=True)))
        deadline = time.monotonic() + s.drain_timeout_s
        while time.monotonic() < deadline:
            snap = self.reader.read().snapshot
            if (
                not any(g.owner == s.node for g in snap.groups.values())
                or len(snap.config.nodes) < 2
            ):
                break
            time.sleep(0.1)
        restore: list[Op] = [Put(key, before.value) if before is not None else Delete(key)]
        self.store.txn([mod_revision_is(key, ours)], restore)

    def _in_maintenance(self) -> bool:
        """Is this node in maintenance (unmanaged)? Read now; if etcd cannot say, the
        manager's last reading."""
        try:
            view = self.reader.read()
        except StoreError:
            return self.manager is not None and self.manager.maintenance
        return view.admin.get(self.settings.node, NodeAdmin()).maintenance

    def shutdown(self) -> None:
        unmanaged = self._in_maintenance()
        drain = self.settings.drain_on_shutdown and not unmanaged
        self.log("stopping", drain=drain, maintenance=unmanaged)
        if drain:
            try:
                self.drain()
            except WolfpackError as exc:
                self.log("drain_failed", error=str(exc))
        self._stop.set()
        if self.api is not None:
            self.api.stop()
        if self.coordinator is not None:
            self.coordinator.stop()
        if self.manager is not None:
            self.manager.stop()
            if unmanaged:
                self.log("resources_left_running", resources=sorted(self.manager.running))
            else:
                self.manager.stop_everything("shutdown")
        if self.views is not None:
            self.views.stop()
        if self.links is not None:
            self.links.stop()
        if self.lease is not None:
            self.lease.stop(revoke=True)
        if self.membership is not None:
            self.membership.stop()
        if self.watchdog is not None:
            self.watchdog.disarm()
            self.watchdog.stop()
        for thread in self._own_threads:
            thread.join(timeout=2)
        if self._api_store is not None:
            self._api_store.close()
        self.pids.remove(os.getpid())
        if self.confine is not None:
            self.confine.remove_root()
        if self.member is not None:  # last: the lease is revoked, resources are stopped
            self.member.stop()
        self.log("stopped")

    def run_forever(self) -> bool:
        """Start, tell systemd READY, then supervise: ping systemd's watchdog from this loop
        while the daemon's own threads live. A component thread that died (a bug) is noticed
        here: it is logged (``thread_died``), the daemon shuts down and returns False, so
        wolfpackd exits with a failure and systemd starts it afresh. On SIGTERM say STOPPING
        and shut down; True."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        systemd.notify(f"READY=1\nSTATUS=running as node {self.settings.node}")
        every = systemd.watchdog_interval() or SUPERVISE_EVERY_S
        vital = {*VITAL_THREADS, f"membership-{self.settings.node}"}
        healthy = True
        while not done.wait(every):
            died = dead_threads(vital, threading.enumerate())
            if died:
                self.log("thread_died", threads=sorted(died), level="error")
                healthy = False
                break
            if self.watchdog is None or self.watchdog.alive():
                systemd.notify("WATCHDOG=1")
        systemd.notify("STOPPING=1")
        self.shutdown()
        return healthy


def dead_threads(vital: set[str], threads: list[threading.Thread]) -> set[str]:
    """The vital component threads that are not running (pure, for the supervisor)."""
    return vital - {t.name for t in threads if t.is_alive()}


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 stopped, 78 (EX_CONFIG) bad settings or configuration (the unit does
    not restart on it), 2 any other failure (etcd unreachable, ...: restarted)."""
    ap = argparse.ArgumentParser(prog="wolfpackd", description="The Wolfpack node daemon.")
    ap.add_argument("--version", action="version", version=f"wolfpackd {__version__}")
    ap.add_argument("--config", type=Path, help="settings file (YAML)")
    ap.add_argument("--node", help="this node's name in the cluster")
    ap.add_argument("--endpoints", help="etcd endpoints, comma separated")
    ap.add_argument("--prefix", help="key prefix in etcd (default /wolfpack/)")
    ap.add_argument("--secret-file", type=Path)
    ap.add_argument("--run-dir", type=Path)
    ap.add_argument("--fence-agent", help="none, test, or a fence_* program")
    ap.add_argument("--no-drain", action="store_true", help="do not move groups away on stop")
    args = ap.parse_args(argv)
    limit_malloc_arenas()  # before any thread starts: see wolfpack.node.memory
    overrides: dict[str, Any] = {
        "node": args.node,
        "endpoints": args.endpoints,
        "prefix": args.prefix,
        "secret_file": args.secret_file,
        "run_dir": args.run_dir,
        "drain_on_shutdown": False if args.no_drain else None,
        "fence.agent": args.fence_agent,
    }
    try:
        settings = load_settings(args.config, overrides)
        priority_problem = raise_own(settings.nice)  # before any thread starts
        daemon = Daemon(settings)
        if priority_problem is not None:
            daemon.log("priority_not_raised", level="warning", why=priority_problem)
        if not daemon.run_forever():
            return systemd.EX_FAILURE
    except ValidationError as exc:
        print(f"wolfpackd: {exc}", file=sys.stderr)
        return systemd.EX_CONFIG
    except WolfpackError as exc:
        print(f"wolfpackd: {exc}", file=sys.stderr)
        return systemd.EX_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
