"""The daemons' promotion round (issue 10) probes the members only when someone could be
promoted: every member node runs it every 2 s, and a probe is a TLS connection to each
member (measured: with 5 voters and a learner that stays one, probing every round took the
idle daemons of an 8-node lab to 4 % of a core)."""

from __future__ import annotations

import pytest

from wolfpack.admin import members
from wolfpack.policy.voters import Member
from wolfpack.store.etcd_members import EtcdMember


def listed(count: int, learner: bool) -> list[EtcdMember]:
    return [
        EtcdMember(i, f"node{i}", (f"https://203.0.113.1{i}:2380",),
                   (f"https://198.51.100.1{i}:2379",), learner and i == count)
        for i in range(1, count + 1)
    ]  # fmt: skip


class Store:
    credentials = None


@pytest.mark.parametrize(
    ("count", "learner", "reason"),
    [(3, False, "NO_LEARNER"), (3, True, "PROMOTE"), (4, True, "WAIT_FOR_ODD"),
     (6, True, "VOTERS_FULL")],
)  # fmt: skip
def test_members_are_probed_only_when_someone_could_be_promoted(
    monkeypatch: pytest.MonkeyPatch, count: int, learner: bool, reason: str
) -> None:
    probed: list[int] = []
    promoted: list[int] = []

    def health(found: list[EtcdMember], credentials: object) -> list[Member]:
        probed.extend(m.id for m in found)
        return [Member(m.id, m.label, m.learner, True) for m in found]

    monkeypatch.setattr(members.etcd_members, "members", lambda store: listed(count, learner))
    monkeypatch.setattr(members.etcd_members, "promote", lambda store, i: promoted.append(i))
    monkeypatch.setattr(members, "health", health)
    decision, done = members.promote_ready(Store())  # type: ignore[arg-type]
    assert decision.reason == reason
    if reason == "PROMOTE":
        assert probed == [1, 2, 3] and done == ["node3"] and promoted == [3]
    else:
        assert probed == [] and done == [] and promoted == []
