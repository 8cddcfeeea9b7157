"""Bad daemon settings stop ``wolfpackd`` with one line naming the field and start nothing
(docs/daemon.md; COMMON: bad input gets a clear error that names the field). The real
program runs; no etcd is needed, because nothing may get as far as talking to it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wolfpack.errors import ValidationError
from wolfpack.node.daemon import Daemon, JsonLog
from wolfpack.node.fence_setup import build_fencer
from wolfpack.node.fencing import ExternalFenceAgent, FenceKind
from wolfpack.node.settings import load_settings
from wolfpack.node.systemd import EX_CONFIG
from wolfpack.store import MemoryStore


def wolfpackd(tmp_path: Path, settings: dict[str, object], *flags: str) -> tuple[int, str]:
    """Run the daemon with ``settings`` (plus a run_dir in tmp_path); (exit status, stderr)."""
    path = tmp_path / "wolfpackd.yaml"
    base = {"node": "node1", "run_dir": str(tmp_path / "run"), "fence": {"agent": "none"}}
    path.write_text(yaml.safe_dump({**base, **settings}))
    proc = subprocess.run(
        [sys.executable, "-m", "wolfpack.node.daemon", "--config", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (
            {"fence": {"agent": "/usr/sbin/fence_virsh", "options": {"plug": "x"}}},
            "fence.options.plug",
        ),
        (
            {"fence": {"agent": "/usr/sbin/fence_virsh", "options": {"port": "x"}}},
            "fence.options.port",
        ),
        (
            {"fence": {"agent": "/usr/sbin/fence_virsh", "options": {"a b": "x"}}},
            "fence.options.a b",
        ),
        (
            {"fence": {"agent": "/usr/sbin/fence_virsh", "options": {"ip": "1\n2"}}},
            "fence.options.ip",
        ),
        (
            {"fence": {"agent": "/usr/sbin/fence_virsh", "host_map": {"node1": ""}}},
            "fence.host_map.node1",
        ),
        ({"fence": {"agent": ""}}, "fence.agent"),
        # C1: plain text is refused unless chosen; certificates are checked before anything
        ({"endpoints": "http://127.0.0.1:2379"}, "endpoints"),
        ({"endpoints": "https://127.0.0.1:2379,http://127.0.0.1:2380"}, "endpoints"),
        ({"etcd": {"ca": "/nonexistent/ca.crt"}}, "etcd.ca"),
        ({"etcd": {"insecure": "maybe"}}, "etcd.insecure"),
        ({"endpoints": "http://127.0.0.1:2379,ftp://127.0.0.1"}, "endpoints"),
        # L1/M6: the self-fence comes after two tries to renew, the watchdog after it
        ({"lease": {"ttl_s": 3, "margin_s": 3}}, "lease.margin_s"),
        ({"lease": {"renew_every_s": 1.5}}, "lease.renew_every_s"),
        ({"lease": {"ttl_s": 2, "margin_s": 1.5}}, "lease.renew_every_s"),
        ({"watchdog_margin_s": 0.5}, "watchdog_margin_s"),
        ({"lease": {"margin_s": 0.2}}, "watchdog_margin_s"),
    ],
)
def test_bad_settings_stop_wolfpackd_with_the_field_and_start_nothing(
    tmp_path: Path, settings: dict[str, object], field: str
) -> None:
    status, err = wolfpackd(tmp_path, settings)
    assert status == EX_CONFIG
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wolfpackd: {field}: "), err
    assert not (tmp_path / "run").exists()  # no run_dir: no watchdog, pid file or log


def test_settings_without_a_fence_agent_stop_wolfpackd_naming_the_choices(
    tmp_path: Path,
) -> None:
    """A safe default (issue item 7): running unfenced must be a choice. Settings that do
    not choose ``fence.agent`` (no fence section, or one without the agent) stop the daemon
    with one line naming the field and every choice, and start nothing."""
    path = tmp_path / "wolfpackd.yaml"
    for settings in ({}, {"fence": {"timeout_s": 5}}):
        path.write_text(
            yaml.safe_dump({"node": "node1", "run_dir": str(tmp_path / "run"), **settings})
        )
        proc = subprocess.run(
            [sys.executable, "-m", "wolfpack.node.daemon", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == EX_CONFIG and len(lines) == 1, proc.stderr
        assert lines[0].startswith("wolfpackd: fence.agent: must be set"), lines
        assert all(c in lines[0] for c in ("fence_*", "'test'", "'none'", "docs/fencing.md"))
        assert not (tmp_path / "run").exists()
    with pytest.raises(ValidationError) as err:
        load_settings(None, {"node": "node1"})
    assert [e.field for e in err.value.errors] == ["fence.agent"]
    chosen = load_settings(None, {"node": "node1", "fence.agent": "none"})  # the flag chooses
    assert chosen.fence.agent == "none"


def test_running_unfenced_logs_fencing_disabled_at_start(tmp_path: Path) -> None:
    """A safe default (issue item 7): with ``fence.agent: none`` the daemon's start says
    loudly what it costs (``fencing_disabled``), before anything else; with an agent, not."""
    for agent, warned in (("none", True), ("test", False)):
        settings = load_settings(
            None,
            {
                "node": "node1",
                "fence.agent": agent,
                "secret_file": str(tmp_path / "no-secret"),
                "run_dir": str(tmp_path / "run"),
            },
        )
        daemon = Daemon(settings, store=MemoryStore())
        out = io.StringIO()
        daemon.log = JsonLog("node1", stream=out)
        with pytest.raises(ValidationError, match="secret_file"):  # stops at the secret
            daemon.start()
        events = [json.loads(line) for line in out.getvalue().splitlines()]
        disabled = [e for e in events if e["event"] == "fencing_disabled"]
        assert bool(disabled) is warned, events
        if warned:
            assert disabled[0]["level"] == "warning"
            assert "two owners" in disabled[0]["cost"] and "lease" in disabled[0]["cost"]


def test_a_bad_fence_agent_flag_is_checked_like_the_file(tmp_path: Path) -> None:
    status, err = wolfpackd(tmp_path, {}, "--fence-agent", "")
    assert status == EX_CONFIG and err.startswith("wolfpackd: fence.agent: "), err


def test_fence_host_map_names_the_plug_of_each_node() -> None:
    """docs/fencing.md: ``fence.host_map`` maps a node to the plug its agent knows it by."""
    settings = load_settings(
        None,
        {
            "node": "node1",
            "fence": {"agent": "/usr/sbin/fence_virsh", "host_map": {"node2": "vm-node2"}},
        },
    )
    agent = build_fencer(settings)
    assert isinstance(agent, ExternalFenceAgent)
    assert agent.stdin_for("off", "node2").splitlines()[:3] == [
        "action=off",
        "plug=vm-node2",
        "nodename=node2",
    ]
    assert "plug=node3" in agent.stdin_for("off", "node3")


def test_h6_fence_kind_defaults_by_agent_and_is_checked() -> None:
    """H6: fence_scsi and fence_mpath are io fences (and cannot be called power); other
    agents are power by default; io needs an io agent; the agent built carries its kind."""

    def kind(**fence: str) -> FenceKind:
        overrides = {f"fence.{k}": v for k, v in fence.items()}
        settings = load_settings(None, {"node": "n1", **overrides})
        agent = build_fencer(settings)
        assert agent is not None
        return agent.kind

    assert kind(agent="/usr/sbin/fence_scsi") is FenceKind.IO
    assert kind(agent="/usr/sbin/fence_mpath", kind="io") is FenceKind.IO
    assert kind(agent="/usr/sbin/fence_ipmilan") is FenceKind.POWER
    assert kind(agent="/usr/local/sbin/my_scsi_wrapper", kind="io") is FenceKind.IO
    assert kind(agent="test") is FenceKind.POWER
    with pytest.raises(ValidationError, match=r"fence\.kind: fence_scsi .* io fence"):
        load_settings(None, {"node": "n1", "fence.agent": "fence_scsi", "fence.kind": "power"})
    with pytest.raises(ValidationError, match=r"fence\.kind: io needs an io fence agent"):
        load_settings(None, {"node": "n1", "fence.agent": "test", "fence.kind": "io"})
    with pytest.raises(ValidationError, match=r"fence\.kind"):
        load_settings(None, {"node": "n1", "fence.kind": "disk"})


def test_default_lease_fits_an_etcd_election_with_two_renewals() -> None:
    """M6: with the defaults, ``ttl - margin - renew_every`` (the longest a node may go
    without a renewal once the last one was due) covers three election timeouts of
    Wolfpack's etcd members (500 ms: randomised 1-2 timeouts, plus one failed round)."""
    from wolfpack.store.etcd_process import EtcdProcess

    s = load_settings(None, {"node": "node1", "fence.agent": "none"})
    election_s = EtcdProcess(".").election_timeout_ms / 1000
    assert s.lease.ttl_s - s.lease.margin_s - s.lease.renew_every_s >= 3 * election_s
    assert 2 * s.lease.renew_every_s + s.lease.margin_s < s.lease.ttl_s
    assert s.watchdog_margin_s < s.lease.margin_s < s.lease.ttl_s
