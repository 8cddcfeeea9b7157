"""The daemons' promotion round (issue 10) probes the members only when a learner waits:
every member node runs it every 2 s, and a probe is a TLS connection to each member."""

from __future__ import annotations

import pytest

from wolfpack.admin import members
from wolfpack.policy.voters import Member
from wolfpack.store.etcd_members import EtcdMember


def listed(learner: bool) -> list[EtcdMember]:
    return [
        EtcdMember(i, f"node{i}", (f"https://203.0.113.1{i}:2380",),
                   (f"https://198.51.100.1{i}:2379",), learner and i == 3)
        for i in (1, 2, 3)
    ]  # fmt: skip


class Store:
    credentials = None


@pytest.mark.parametrize("learner", [False, True])
def test_members_are_probed_only_when_a_learner_waits(
    monkeypatch: pytest.MonkeyPatch, learner: bool
) -> None:
    probed: list[int] = []
    promoted: list[int] = []

    def health(found: list[EtcdMember], credentials: object) -> list[Member]:
        probed.extend(m.id for m in found)
        return [Member(m.id, m.label, m.learner, True) for m in found]

    monkeypatch.setattr(members.etcd_members, "members", lambda store: listed(learner))
    monkeypatch.setattr(members.etcd_members, "promote", lambda store, i: promoted.append(i))
    monkeypatch.setattr(members, "health", health)
    decision, done = members.promote_ready(Store())  # type: ignore[arg-type]
    if learner:
        assert probed == [1, 2, 3] and done == ["node3"] and promoted == [3]
    else:
        assert probed == [] and done == [] and decision.reason == "NO_LEARNER"
