"""A missing disk tool is reported with the Debian package that has it (S6): on Debian 12
mount and umount come from ``mount``, not util-linux. find_tool is faked: no test may
remove programs from the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from wolfpack.model.builtin_types import PHYSICAL_DISK, builtin_types
from wolfpack.model.config import Resource
from wolfpack.resources import AgentContext, AgentError, AgentResult, create_agent, disk


def _agent(tmp_path: Path) -> disk.DiskAgent:
    ctx = AgentContext(
        node="node1",
        run_dir=tmp_path,
        log=lambda event, fields: None,
        on_failure=lambda name, why: None,
        register_pid=lambda pid: None,
        unregister_pid=lambda pid: None,
    )
    props = {"device": "/dev/loop7", "mountpoint": "/srv/x"}
    agent = create_agent(
        Resource("d", PHYSICAL_DISK, "g", properties=props), builtin_types()[PHYSICAL_DISK], ctx
    )
    assert isinstance(agent, disk.DiskAgent)
    return agent


@pytest.mark.parametrize(
    ("missing", "packages"),
    [
        ({"mount", "umount"}, "Debian packages mount)"),
        ({"fuser", "e2fsck"}, "Debian packages e2fsprogs, psmisc)"),
    ],
)
def test_missing_programs_name_their_debian_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: set[str], packages: str
) -> None:
    monkeypatch.setattr(disk, "find_tool", lambda name: None if name in missing else "/x")
    with pytest.raises(AgentError) as err:
        _agent(tmp_path).validate()
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert packages in str(err.value) and "util-linux" not in str(err.value)
