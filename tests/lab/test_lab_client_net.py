"""The demo lab, client-observed: the owner's client network lost (S41, media sense).

Web (preferred node2) is asked for by its name from the lab's client host all along (the
probe client, every 50 ms). Each fault is made as a technician would (wolfpack.lab.cables):
node2's public cable pulled (carrier lost), or its interface set down; the heartbeats still
flow on the private network, so node2 stays Up and is never fenced. How long the client
waited is measured by bench/lab_client_net.py, not asserted here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.lab import cables, demo
from wolfpack.lab.driver import LabDriver, Probe
from wolfpack.model.networks import derive
from wolfpack.model.states import InterfaceState

from .conftest import lab_skip_reason

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=str(lab_skip_reason())),
]

HOME = demo.GROUPS["Web"][0]
URL = "http://www.cluster.test/"
WAIT_S = 60.0


@pytest.fixture
def web(demo_lab: LabDriver) -> Iterator[LabDriver]:
    """Web settled at home before the test; every cable mended and Web home after it."""
    lab = demo_lab
    home(lab)
    try:
        yield lab
    finally:
        for node in lab.state.nodes:
            for network in cables.IFNAMES:
                cables.mend(lab.state, node, network)
                cables.set_up(lab.state, node, network)
        lab.wait(lambda: all_interfaces_up(lab), WAIT_S, "every interface Up again")
        home(lab)


def home(lab: LabDriver) -> None:
    if lab.online_on("Web") != HOME:
        lab.wait(lambda: lab.online_on("Web"), WAIT_S, "Web online")
        if lab.online_on("Web") != HOME:
            lab.wolfpack("group", "move", "Web", HOME)
    lab.wait(lambda: lab.online_on("Web") == HOME, WAIT_S, "Web at home")


def all_interfaces_up(lab: LabDriver) -> bool:
    states = derive(lab.snapshot()).interfaces.values()
    return all(v.state is InterfaceState.UP for v in states)


def interface(lab: LabDriver, name: str) -> InterfaceState:
    return derive(lab.snapshot()).interfaces[name].state


def fenced(lab: LabDriver) -> bool:
    snap = lab.snapshot()
    return any(snap.node(n).fenced or snap.node(n).state.value != "Up" for n in lab.state.nodes)


def served_elsewhere(lab: LabDriver, probe: Probe, since: float) -> str | None:
    return next((a for a in probe.answers_since(since) if a != HOME), None)


@pytest.mark.parametrize("fault", ["cut", "down"])
def test_the_owners_client_network_lost_serves_web_elsewhere(
    web: LabDriver, tmp_path: Path, fault: str
) -> None:
    with web.probe("http", URL, tmp_path / "web.jsonl") as probe:
        time.sleep(0.5)
        t_fault = time.monotonic()
        cables.ACTIONS[fault](web.state, HOME, "public")
        new = web.wait(lambda: served_elsewhere(web, probe, t_fault), WAIT_S, "Web elsewhere")
    assert new != HOME and web.online_on("Web") == new
    assert interface(web, web.interface(HOME, "public")) is InterfaceState.FAILED
    assert interface(web, web.interface(new, "public")) is InterfaceState.UP
    snap = web.snapshot()
    assert snap.node(HOME).state.value == "Up" and not snap.node(HOME).fenced
    assert len(snap.group("Web").failovers) >= 1


def test_a_flap_shorter_than_the_window_moves_nothing(web: LabDriver, tmp_path: Path) -> None:
    before = web.snapshot().group("Web").failovers
    with web.probe("http", URL, tmp_path / "web.jsonl") as probe:
        time.sleep(0.5)
        t_fault = time.monotonic()
        cables.cut(web.state, HOME, "public")
        time.sleep(0.3)
        cables.mend(web.state, HOME, "public")
        time.sleep(3.0)
        answers = probe.answers_since(t_fault)
    assert answers and set(answers) == {HOME}
    snap = web.snapshot()
    assert snap.group("Web").owner == HOME and snap.group("Web").failovers == before
    assert interface(web, web.interface(HOME, "public")) is InterfaceState.UP


def test_the_private_network_cut_moves_nothing_and_fences_nobody(
    web: LabDriver, tmp_path: Path
) -> None:
    before = web.snapshot().group("Web").failovers
    with web.probe("http", URL, tmp_path / "web.jsonl") as probe:
        time.sleep(0.5)
        t_fault = time.monotonic()
        cables.cut(web.state, HOME, "private")
        web.wait(
            lambda: interface(web, web.interface(HOME, "private")) is InterfaceState.FAILED,
            WAIT_S,
            "the private interface Failed",
        )
        time.sleep(3.0)
        gaps = probe.gaps(t_fault)
        answers = probe.answers_since(t_fault)
    assert set(answers) == {HOME} and gaps == []  # no outage at all
    assert not fenced(web)
    assert web.snapshot().group("Web").failovers == before


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["explode", "node2", "public"], "ACTION"),
        (["cut", "node9", "public"], "NODE"),
        (["cut", "node2", "storage"], "NETWORK"),
    ],
)
def test_lab_cable_refuses_bad_input_naming_it(
    demo_lab: LabDriver, args: list[str], field: str
) -> None:
    result = demo_lab.lab("cable", *args, "--json", check=False)
    assert result.returncode == 2 and field in result.stdout + result.stderr
    assert all_interfaces_up(demo_lab)  # nothing was changed
