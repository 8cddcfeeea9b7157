"""Web Server agent against a real nginx on 127.0.0.1 (free ports, temporary directories)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from wolfpack.model.builtin_types import WEB_SERVER, builtin_types
from wolfpack.model.config import PropertyValue, Resource
from wolfpack.resources import Agent, AgentError, AgentResult, agent_class
from wolfpack.resources.nginx import HEALTH_PATH, WebServerAgent

from . import MAX_WAIT, Recorder, alive, free_port, running_in_group, running_with, wait_until

RTYPE = builtin_types()[WEB_SERVER]
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin")

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


class Harness:
    """Agents for a resource ``web``; the directories are world-readable (nginx's workers
    run as www-data) and removed afterwards."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.run_dir = base / "run"
        self.docroot = base / "disk" / "www"
        self.docroot.mkdir(parents=True)
        (self.docroot / "index.html").write_text("<h1>wolfpack web</h1>\n")
        self.agents: list[Agent] = []

    def agent(self, node: str = "node1", **props: PropertyValue) -> tuple[Agent, Recorder]:
        rec = Recorder(self.run_dir, node=node)
        values: dict[str, PropertyValue] = {
            "docroot": str(self.docroot),
            "listen_address": "127.0.0.1",
            "port": free_port(),
        }
        values.update(props)
        agent = WebServerAgent(Resource("web", WEB_SERVER, "g", properties=values), RTYPE, rec.ctx)
        self.agents.append(agent)
        return agent, rec

    def masters(self) -> list[int]:
        """nginx masters whose configuration lives under this harness's directories."""
        return running_with(f" -c {self.base}/")


@pytest.fixture
def h() -> Iterator[Harness]:
    base = Path(tempfile.mkdtemp(prefix="wp-nginx-"))
    base.chmod(0o755)
    harness = Harness(base)
    try:
        yield harness
    finally:
        for agent in harness.agents:  # leave nothing running, whatever the test did
            agent.stop(timeout_s=5)
        for pid in harness.masters():  # should never happen; a test asserts it
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def get(port: int, path: str = "/") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def port_of(agent: Agent) -> int:
    port = agent.resource.properties["port"]
    assert isinstance(port, int)
    return port


def test_serves_the_docroot_and_stops_cleanly(h: Harness) -> None:
    agent, rec = h.agent()
    agent.validate()
    started = time.monotonic()
    agent.start(timeout_s=MAX_WAIT)
    assert time.monotonic() - started < 5
    port = port_of(agent)
    assert get(port) == (200, "<h1>wolfpack web</h1>\n")  # served at once: start waited
    assert get(port, HEALTH_PATH) == (200, "ok\n")
    assert agent.looks_alive() and agent.is_alive()
    pids = agent.pids()
    master = pids[0]
    assert len(pids) >= 2 and rec.registered == {master}  # master + workers, master watched
    conf = (h.run_dir / "resources" / "web" / "nginx.conf").read_text()
    assert f"listen 127.0.0.1:{port};" in conf and str(h.docroot) in conf
    agent.start(timeout_s=MAX_WAIT)  # starting a running resource does nothing
    assert agent.pids()[0] == master

    agent.stop(timeout_s=MAX_WAIT)
    assert not any(alive(p) for p in pids) and running_in_group(master) == []
    assert h.masters() == [] and rec.failures == [] and rec.registered == set()
    assert not agent.looks_alive() and not agent.is_alive()
    with pytest.raises(OSError):
        get(port)
    agent.stop(timeout_s=MAX_WAIT)  # stopping a stopped resource is fine
    assert "agent_signal" in rec.names()  # the graceful SIGQUIT was used


def test_a_killed_master_is_reported_within_a_second(h: Harness) -> None:
    agent, rec = h.agent()
    agent.start(timeout_s=MAX_WAIT)
    pids = agent.pids()
    killed = time.monotonic()
    os.kill(pids[0], signal.SIGKILL)
    assert rec.failed.wait(1.0)
    name, why, when = rec.failures[0]
    assert name == "web" and "SIGKILL" in why and when - killed < 1.0
    assert not agent.looks_alive() and not agent.is_alive()
    agent.stop(timeout_s=MAX_WAIT)  # the workers it left are ours and go too
    assert wait_until(lambda: not any(alive(p) for p in pids), 2)
    assert h.masters() == [] and len(rec.failures) == 1


def test_a_second_instance_adopts_the_running_nginx(h: Harness) -> None:
    first, _ = h.agent()
    first.start(timeout_s=MAX_WAIT)
    master = first.pids()[0]
    second, rec2 = h.agent(port=port_of(first))  # same node, after a daemon restart
    assert second.adopt() and second.pids()[0] == master and second.is_alive()
    second.stop(timeout_s=MAX_WAIT)
    assert not alive(master) and h.masters() == [] and rec2.failures == []


def test_missing_docroot_is_err_configured(h: Harness) -> None:
    agent, _ = h.agent(docroot=str(h.base / "not-mounted"))
    for call in (agent.validate, lambda: agent.start(timeout_s=MAX_WAIT)):
        with pytest.raises(AgentError) as err:
            call()
        assert err.value.code is AgentResult.ERR_CONFIGURED
        msg = str(err.value)
        assert "'web' on node1" in msg and "property docroot" in msg and "not-mounted" in msg
    assert h.masters() == []


def test_a_docroot_the_workers_cannot_reach_is_err_configured(h: Harness) -> None:
    (h.base / "disk").chmod(0o700)  # www-data may not pass
    agent, _ = h.agent()
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED
    msg = str(err.value)
    assert "property docroot" in msg and "'www-data'" in msg and str(h.base / "disk") in msg


def test_port_in_use_is_err_configured_with_nginx_words(h: Harness) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        agent, rec = h.agent(port=taken.getsockname()[1])
        with pytest.raises(AgentError) as err:
            agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED
    msg = str(err.value)
    assert "'web' on node1" in msg and "property port" in msg
    assert "Address already in use" in msg  # nginx's own words
    assert h.masters() == [] and agent.pids() == [] and rec.registered == set()
    assert rec.failures == []


def test_config_nginx_rejects_is_err_configured(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, rec = h.agent(user="no-such-account-wp")  # caught before nginx is asked
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED and "property user" in str(err.value)

    agent, rec = h.agent(listen_address="127.0.0.1; include /etc/shadow")
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_CONFIGURED
    assert "property listen_address" in str(err.value)

    broken = h.base / "mime.types"  # a configuration nginx itself rejects
    broken.write_text("types { text/html html\n")
    monkeypatch.setattr("wolfpack.resources.nginx.MIME_TYPES", broken)
    agent, rec = h.agent()
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED
    msg = str(err.value)
    assert "'web' on node1" in msg and "nginx rejects the configuration" in msg
    assert "[emerg]" in msg and str(broken) in msg  # nginx's own words
    assert h.masters() == [] and agent.pids() == [] and rec.registered == set()
    assert not agent.looks_alive()


def test_an_accepted_config_is_not_tested_again_a_changed_one_is(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nginx -t`` is a process start on every failover's path: skipped for a
    configuration it accepted already, run again when the text or mime.types changed."""
    mime = h.base / "mime.types"
    mime.write_text("types { text/html html; }\n")
    monkeypatch.setattr("wolfpack.resources.nginx.MIME_TYPES", mime)
    agent, rec = h.agent()

    def tested() -> int:
        return sum(1 for event, _ in rec.events if event == "nginx_config_tested")

    for _ in range(2):
        agent.start(timeout_s=MAX_WAIT)
        agent.stop(timeout_s=MAX_WAIT)
    assert tested() == 1

    mime.write_text("types { text/html html\n")  # the same path, now broken
    with pytest.raises(AgentError) as err:
        agent.start(timeout_s=MAX_WAIT)
    assert err.value.code is AgentResult.ERR_CONFIGURED
    assert "nginx rejects the configuration" in str(err.value)
    assert h.masters() == []

    mime.write_text("types { text/html html htm; }\n")
    agent.start(timeout_s=MAX_WAIT)
    assert tested() == 2 and agent.is_alive()


def test_missing_nginx_is_err_installed(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wolfpack.resources.nginx.DEFAULT_PATH", str(h.base / "empty-bin"))
    agent, _ = h.agent(node="node3")
    with pytest.raises(AgentError) as err:
        agent.validate()
    assert err.value.code is AgentResult.ERR_INSTALLED
    assert "on node3" in str(err.value) and "nginx is not installed" in str(err.value)


def test_registered_as_the_nginx_agent() -> None:
    assert RTYPE.agent == "nginx" and agent_class("nginx") is WebServerAgent
