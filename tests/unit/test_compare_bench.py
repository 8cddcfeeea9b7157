"""bench/compare.py's pure parts (issue 12): the ratios it prints and the configurations it
gives each peer; the lab runs themselves are the benchmark (under the lab lock), not tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(autouse=True, scope="module")
def bench_path() -> object:
    sys.path.insert(0, str(BENCH))
    yield
    sys.path.remove(str(BENCH))


def test_ratio_is_wolfpacks_p50_over_the_peers_per_configuration() -> None:
    import compare

    stats = compare.summary(
        {
            "wolfpack_defaults": [1.0, 1.2, 1.4],
            "keepalived_defaults": [3.0, 3.6, 4.0],
            "wolfpack_tuned": [0.6],
            "keepalived_tuned": [0.4],
        }
    )
    assert stats["wolfpack_defaults"]["p50_s"] == 1.2
    ratio = compare.ratios(stats)
    assert ratio["ratio_keepalived_defaults"] == round(1.2 / 3.6, 3)
    assert ratio["ratio_keepalived_tuned"] == 1.5
    assert ratio["ratio_pacemaker_defaults"] is None  # not measured: no number invented


def test_keepalived_tuned_is_vrrp3_with_a_tenth_of_a_second() -> None:
    import compare_keepalived

    class Lab:
        pass

    tuned = compare_keepalived.Keepalived(Lab(), "tuned").conf("node1")  # type: ignore[arg-type]
    defaults = compare_keepalived.Keepalived(Lab(), "defaults").conf("node2")  # type: ignore[arg-type]
    assert "vrrp_version 3" in tuned and "advert_int 0.1" in tuned and "priority 150" in tuned
    assert "vrrp_version" not in defaults and "advert_int 1\n" in defaults


def test_corosync_tuned_shortens_the_token_and_defaults_keep_corosyncs() -> None:
    import compare_pacemaker

    tuned = compare_pacemaker.Pacemaker(None, "tuned").corosync_conf()  # type: ignore[arg-type]
    defaults = compare_pacemaker.Pacemaker(None, "defaults").corosync_conf()  # type: ignore[arg-type]
    assert "token: 1000" in tuned and "token_coefficient: 0" in tuned
    assert "token" not in defaults.replace("token_", "")
    assert "ring0_addr: 203.0.113.13" in defaults  # knet on the private network


def test_the_fence_agents_metadata_names_plug_and_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pacemaker's fencer reads the agent's metadata to know it takes ``plug``."""
    import xml.etree.ElementTree as ET

    import compare_fence

    assert compare_fence.main(["--dir", str(tmp_path), "-o", "metadata"]) == 0
    doc = ET.fromstring(capsys.readouterr().out)
    assert {p.get("name") for p in doc.iter("parameter")} >= {"action", "plug"}
    assert {"off", "monitor", "metadata"} <= {a.get("name") for a in doc.iter("action")}


def test_the_fence_agent_refuses_a_node_not_in_the_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import compare_fence

    from wolfpack.lab.state import LabState

    LabState(dir=str(tmp_path), prefix="wpc-x-", nodes=["node1"], cluster="c").save()
    assert compare_fence.main(["--dir", str(tmp_path), "-o", "off", "-n", "node9"]) == 1
    assert "not a node of the lab" in capsys.readouterr().err
