"""Attacks on the lab's cluster database (C1, issue 11), from its ``client`` host (a plain
client of the web site: no certificate) and from a node with that node's own credentials.

Every attempt is refused and the database is the same before and after (compared key by key
as the administrator sees it). The administrator's certificate works from any host: it is the
certificate and the password, not the address, that let one in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wolfpack.lab import access, layout, world
from wolfpack.lab.driver import LabDriver
from wolfpack.store.pki import ClusterCA

from .conftest import lab_skip_reason

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(lab_skip_reason() is not None, reason=str(lab_skip_reason())),
]

#: node1's member, as the client host reaches it (the public network)
MEMBER = "198.51.100.11:2379"
#: POST bodies: the whole /wolfpack/ range, and a Generic Application (runs as root)
RANGE = '{"key": "L3dvbGZwYWNrLw==", "range_end": "L3dvbGZwYWNrMA=="}'
EVIL = (
    '{"key": "L3dvbGZwYWNrL2NvbmZpZy9yZXNvdXJjZXMvZXZpbA==", '  # /wolfpack/config/resources/evil
    '"value": "eyJ0eXBlIjogIkdlbmVyaWMgQXBwbGljYXRpb24ifQ=="}'
)

#: Run in a node's namespace with that node's credentials: try each key, report each outcome.
ATTEMPT = """
import json, sys
from pathlib import Path
from wolfpack.errors import StoreError
from wolfpack.store import EtcdStore
from wolfpack.store.etcd_tls import EtcdCredentials
creds = EtcdCredentials.from_dir(Path(sys.argv[1]), "node")
store = EtcdStore(sys.argv[2], timeout=3.0, credentials=creds)
doc = b'{"type": "Generic Application", "properties": {"command": "touch /tmp/pwned"}}'
out = {"user": creds.user}
for key in sys.argv[3:]:
    try:
        store.put(key, doc)
        out[key] = "written"
    except StoreError as exc:
        out[key] = str(exc)
print(json.dumps(out))
"""


def database(lab: LabDriver) -> dict[str, bytes]:
    """Every key under /wolfpack/ but the ones that change by themselves (leases, views,
    observed state), as the administrator reads them."""
    with world.in_admin(lab.state):
        store = access.admin_store(lab.state)
        try:
            kvs = store.get_prefix(world.KEY_ROOT)[0]
        finally:
            store.close()
    moving = ("leases/", "views/", "state/", "claims/", "links/")
    return {
        kv.key: kv.value for kv in kvs if not kv.key.removeprefix(world.KEY_ROOT).startswith(moving)
    }


def curl(lab: LabDriver, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.run(host, ["curl", "-sS", "--max-time", "3", *args], check=False)


def test_plain_http_from_the_client_host_is_refused(demo_lab: LabDriver) -> None:
    before = database(demo_lab)
    read = curl(demo_lab, "client", "-d", RANGE, f"http://{MEMBER}/v3/kv/range")
    write = curl(demo_lab, "client", "-d", EVIL, f"http://{MEMBER}/v3/kv/put")
    for attempt in (read, write):
        assert attempt.returncode != 0, attempt.stdout  # etcd hangs up: "Empty reply"
        assert "kvs" not in attempt.stdout and "header" not in attempt.stdout
    assert database(demo_lab) == before


def test_tls_without_a_certificate_is_refused(demo_lab: LabDriver) -> None:
    ca = str(access.pki(demo_lab.state).ca_file)
    before = database(demo_lab)
    for verify in (["--cacert", ca], ["--insecure"]):
        for body, path in ((RANGE, "range"), (EVIL, "put")):
            attempt = curl(
                demo_lab, "client", *verify, "-d", body, f"https://{MEMBER}/v3/kv/{path}"
            )
            assert attempt.returncode != 0, attempt.stdout  # the TLS handshake fails
            assert "kvs" not in attempt.stdout and "header" not in attempt.stdout
    assert database(demo_lab) == before


def test_a_certificate_from_another_ca_is_refused(demo_lab: LabDriver, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    forged = ClusterCA.create(tmp_path / "ca", "intruder")
    forged.issue_principal("admin", "lab", tmp_path / "me")
    before = database(demo_lab)
    attempt = curl(
        demo_lab, "client", "--insecure",
        "--cert", str(tmp_path / "me" / "admin.crt"), "--key", str(tmp_path / "me" / "admin.key"),
        "-d", EVIL, f"https://{MEMBER}/v3/kv/put",
    )  # fmt: skip
    assert attempt.returncode != 0, attempt.stdout
    assert "header" not in attempt.stdout
    assert database(demo_lab) == before


def test_a_cluster_certificate_alone_is_not_a_user(demo_lab: LabDriver) -> None:
    """node1's certificate copied to the client host, without node1's password: etcd
    accepts the TLS connection, and refuses every request of a user it does not know."""
    files = layout.etcd_files(demo_lab.state, "node1")
    before = database(demo_lab)
    tls = ["--cacert", str(files / "ca.crt"), "--cert", str(files / "node.crt"),
           "--key", str(files / "node.key")]  # fmt: skip
    for body, path in ((RANGE, "range"), (EVIL, "put")):
        attempt = curl(demo_lab, "client", *tls, "-d", body, f"https://{MEMBER}/v3/kv/{path}")
        assert "user name is empty" in attempt.stdout, attempt.stdout + attempt.stderr
        assert "kvs" not in attempt.stdout
    assert database(demo_lab) == before


def test_a_node_cannot_write_the_configuration_or_another_nodes_keys(
    demo_lab: LabDriver,
) -> None:
    state = demo_lab.state
    root = world.KEY_ROOT
    forbidden = [
        f"{root}config/resources/evil",  # a Generic Application: root on every node
        f"{root}config/groups/Web",
        f"{root}tokens/evil",  # an admin API token
        f"{root}api/node2",  # where node2's API is: every /log call would send tokens there
        f"{root}inventory/node2",
        f"{root}admin/nodes/node2",
        f"{root}secret_verifier",
        f"{root[:-1]}.audit/evil",
    ]
    before = database(demo_lab)
    files = layout.etcd_files(state, "node1")
    result = demo_lab.run(
        "node1",
        [sys.executable, "-c", ATTEMPT, str(files), world.endpoints(state),
         *forbidden, f"{root}inventory/node1"],
    )  # fmt: skip
    outcome = json.loads(result.stdout)
    assert outcome["user"] == "node:node1"
    for key in forbidden:
        assert "permission denied" in outcome[key], (key, outcome[key])
    assert outcome[f"{root}inventory/node1"] == "written"  # its own key: the role is no blanket
    after = database(demo_lab)
    assert after.pop(f"{root}inventory/node1") != before.pop(f"{root}inventory/node1")
    assert after == before
    demo_lab.run("node1", ["true"])  # the node is still there (the lab is shared by the module)


def test_daemons_run_as_their_node_users_and_admins_get_in_from_anywhere(
    demo_lab: LabDriver,
) -> None:
    for node in demo_lab.state.nodes:
        log = world.node_dir(demo_lab.state, node) / "wolfpackd.log"
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        tls = [line for line in lines if line.get("event") == "etcd_tls"]
        assert tls and tls[-1]["user"] == f"node:{node}" and tls[-1]["api_user"] == f"api:{node}"
        assert not any(line.get("event") == "etcd_insecure" for line in lines)
    # the administrator's certificate and password work from the client host too
    status = demo_lab.run("client", ["wolfpack", "status", "--json"])
    assert json.loads(status.stdout)
    users = demo_lab.run("admin", [*access.etcdctl(demo_lab.state), "user", "list"]).stdout
    admin = access.pki(demo_lab.state).admin.user  # admin:cluster, made by cluster create
    assert {"root", admin, "node:node1", "api:node1"} <= set(users.split())
