"""A node joining a cluster whose etcd has all the voters it will have and a learner
waiting gets no member of its own (issue 10: clusters past six nodes, as WSFC's reach 64):
it is admitted, and its daemon uses the voters' client URLs. A witness exists only to
vote, so it is refused; any other refusal stands for nodes too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wolfpack.errors import RejectedError
from wolfpack.model.joining import HostAddress
from wolfpack.node import join_server
from wolfpack.node.etcd_member import MemberSection
from wolfpack.node.forming import NodePlan, daemon_settings
from wolfpack.node.install import Layout, parse_addresses
from wolfpack.node.join_wire import seal
from wolfpack.node.settings import DaemonSettings
from wolfpack.store.etcd_members import EtcdMember

LISTED = [
    EtcdMember(
        id=i,
        name=f"node{i}",
        peer_urls=(f"https://203.0.113.1{i}:2380",),
        client_urls=(f"https://198.51.100.1{i}:2379",),
        learner=i == 6,
    )
    for i in range(1, 7)
]


@pytest.fixture
def etcd(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """etcd with 5 voters and a learner: every add_learner is VOTERS_FULL; the log."""

    def full(store: object, peer_url: str) -> None:
        raise RejectedError("VOTERS_FULL", "5 voters and learner node6: no room")

    monkeypatch.setattr(join_server.members, "add_learner", full)
    monkeypatch.setattr(join_server.etcd_members, "members", lambda store: LISTED)
    return []


def test_a_node_past_the_voters_joins_without_a_member(
    etcd: list[tuple[str, dict[str, Any]]],
) -> None:
    member, listed = join_server._add_member(
        object(), "https://203.0.113.17:2380", "node7", False,  # type: ignore[arg-type]
        lambda event, **kw: etcd.append((event, kw)),
    )  # fmt: skip
    assert member is None and listed == LISTED
    assert etcd == [("join_without_member", {"joiner": "node7", "why": etcd[0][1]["why"]})]
    assert "VOTERS_FULL" not in etcd[0][1]["why"] and "no room" in etcd[0][1]["why"]


def test_a_witness_past_the_voters_is_refused(etcd: list[tuple[str, dict[str, Any]]]) -> None:
    with pytest.raises(RejectedError) as caught:
        join_server._add_member(
            object(), "https://203.0.113.4:2380", "witness", True,  # type: ignore[arg-type]
            lambda event, **kw: etcd.append((event, kw)),
        )  # fmt: skip
    assert caught.value.code == "VOTERS_FULL" and etcd == []


def test_another_refusal_stands_for_a_node(monkeypatch: pytest.MonkeyPatch) -> None:
    def behind(store: object, peer_url: str) -> None:
        raise RejectedError("LEARNER_BEHIND", "learner node6 has not caught up")

    monkeypatch.setattr(join_server.members, "add_learner", behind)
    with pytest.raises(RejectedError, match="caught up"):
        join_server._add_member(
            object(), "https://203.0.113.17:2380", "node7", False,  # type: ignore[arg-type]
            lambda event, **kw: None,
        )  # fmt: skip


def plan(tmp_path: Path) -> NodePlan:
    addresses: tuple[HostAddress, ...] = tuple(parse_addresses(["198.51.100.17/24"]))
    layout = Layout(tmp_path / "etc", tmp_path / "lib", tmp_path / "run")
    return NodePlan("jean", "node7", addresses, "/usr/sbin/fence_lab", layout=layout)


def test_a_memberless_nodes_settings_name_the_members_and_no_member_section(
    tmp_path: Path,
) -> None:
    urls = [u for m in LISTED for u in m.client_urls]
    without = daemon_settings(plan(tmp_path), urls, None)
    assert "etcd_member" not in without
    assert without["endpoints"] == ",".join(urls)
    # the voters of the day: it follows the member list (an evicted voter, a new one)
    assert DaemonSettings.model_validate(without).follows_members
    member = MemberSection(
        name="node7", data_dir=tmp_path / "lib" / "etcd", peer_url="https://203.0.113.17:2380",
        client_urls=["https://198.51.100.17:2379"], initial_cluster="node7=https://203.0.113.17:2380",
        initial_state="existing", token="t", pki_dir=tmp_path / "m", ca_dir=tmp_path / "ca",
        admin_dir=tmp_path / "admin",
    )  # fmt: skip
    with_member = daemon_settings(plan(tmp_path), urls, member)
    assert with_member["etcd_member"]["name"] == "node7" and "follow_members" not in with_member
    assert DaemonSettings.model_validate(with_member).follows_members


def test_a_daemon_on_an_etcd_someone_else_runs_follows_no_member_list() -> None:
    """Its members may advertise addresses only their own hosts can use."""
    external = DaemonSettings.model_validate({"node": "n1", "fence": {"agent": "none"}})
    assert not external.follows_members
    told = DaemonSettings.model_validate(
        {"node": "n1", "fence": {"agent": "none"}, "follow_members": True}
    )
    assert told.follows_members


def test_the_joining_node_writes_settings_without_a_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``cluster join`` writes when the answer says no member (the first version
    built the member section anyway, and failed on its empty peer URL)."""
    from wolfpack.node import join_client

    urls = [u for m in LISTED for u in m.client_urls]
    bundle = {
        "cluster": "jean", "node": "node7", "node_id": 7, "interfaces": {"network1": "x"},
        "member": False, "peer_url": "", "client_urls": [], "initial_cluster": "",
        "token": "t", "endpoints": urls, "admin": "admin:cluster",
        "files": {"etcd/node.crt": "pem", "etcd/node.key": "key"},
    }  # fmt: skip
    monkeypatch.setattr(join_client, "_post", lambda url, message: {})
    monkeypatch.setattr(join_client, "unseal", lambda secret, nonce, answer: bundle)
    summary = join_client.join(plan(tmp_path), "https://198.51.100.10:9443", b"s" * 32)
    assert summary["etcd_member"] is False and summary["id"] == 7
    written = yaml.safe_load((tmp_path / "etc" / "wolfpackd.yaml").read_text())
    assert "etcd_member" not in written and written["endpoints"] == ",".join(urls)
    assert (tmp_path / "etc" / "etcd" / "node.key").stat().st_mode & 0o777 == 0o600


def test_a_join_whose_answer_was_lost_is_asked_for_again_signed_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API did not answer (a busy first node, the cluster name moving): the join is
    sent again with a new nonce, at most ``ATTEMPTS`` times; a refusal is never retried."""
    from wolfpack.node import join_client

    bundle = {
        "cluster": "jean", "node": "node7", "node_id": 7, "interfaces": {}, "member": False,
        "peer_url": "", "client_urls": [], "initial_cluster": "", "token": "t",
        "endpoints": ["https://198.51.100.11:2379"], "admin": "admin:cluster", "files": {},
    }  # fmt: skip
    sent: list[str] = []

    def post(url: str, message: dict[str, Any]) -> dict[str, Any]:
        sent.append(message["request"]["nonce"])
        if len(sent) < join_client.ATTEMPTS:
            raise join_client.Unreachable("cannot reach the cluster's API (timed out)")
        return seal(b"s" * 32, message["request"]["nonce"], bundle)

    monkeypatch.setattr(join_client, "_post", post)
    monkeypatch.setattr(join_client, "RETRY_PAUSE_S", 0.0)
    said: list[str] = []
    summary = join_client.join(plan(tmp_path), "https://198.51.100.10:9443", b"s" * 32,
                               progress=said.append)  # fmt: skip
    assert summary["id"] == 7 and len(set(sent)) == len(sent) == join_client.ATTEMPTS
    assert sum("asking again" in line for line in said) == join_client.ATTEMPTS - 1

    sent.clear()

    def refuse(url: str, message: dict[str, Any]) -> dict[str, Any]:
        sent.append(message["request"]["nonce"])
        raise RejectedError("LEARNER_BEHIND", "learner node6 has not caught up")

    monkeypatch.setattr(join_client, "_post", refuse)
    with pytest.raises(RejectedError):
        join_client.join(plan(tmp_path / "again"), "https://198.51.100.10:9443", b"s" * 32)
    assert len(sent) == 1
