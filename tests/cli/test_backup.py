"""``wolfpack cluster backup|restore`` (issue 13 item 7) on a real etcd: a backup restored
into a fresh database gives the same configuration, administrator settings, tokens and
identity, and no observed state (no owner, no status beyond what was wanted offline);
a non-empty target is refused unless --force; a bad file changes nothing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from wolfpack.admin import tokens
from wolfpack.model import codec
from wolfpack.model.snapshot import GroupStatus, NodeAdmin, ResourceStatus
from wolfpack.model.states import ResourceState, Wanted
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

from .conftest import JEAN, Cli


def database(cli: Cli) -> ClusterDB:
    return ClusterDB(cli.store(), KeySpace(cli.prefix))


def everything(cli: Cli) -> dict[str, bytes]:
    """Every key under the cluster's root, by its path below the root."""
    db = database(cli)
    kvs, _ = db.store.get_prefix(db.keys.root)
    return {kv.key[len(db.keys.root) :]: kv.value for kv in kvs}


@pytest.fixture
def source(cli: Cli) -> Cli:
    """The demo cluster with what a backup must carry: a paused node, a group and a
    resource taken offline, a token, the secret's verifier and the CA; and observed
    state (owners, an Online resource) that it must not."""
    cli.ok("cluster", "create", "jean")
    cli.ok("config", "import", str(JEAN))
    db = database(cli)
    db.write_node_admin("node2", NodeAdmin(paused=True))
    db.write_status("groups", "Web", GroupStatus(owner="node1"))
    db.write_status("groups", "SQL", GroupStatus(owner="node2", wanted=Wanted.OFFLINE))
    db.write_status("resources", "www", ResourceStatus(state=ResourceState.ONLINE, node="node1"))
    db.write_status("resources", "sql", ResourceStatus(wanted=Wanted.OFFLINE))
    tokens.create(db, "alice", "admin")
    return cli


def test_restore_into_a_fresh_cluster_gives_the_same_configuration(
    source: Cli, tmp_path: Path
) -> None:
    file = tmp_path / "jean.backup"
    made = source.json("cluster", "backup", str(file))
    assert (made["written"], made["groups"], made["tokens"]) == (str(file), 3, 1)
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600  # token hashes, the encrypted CA key
    assert json.loads(file.read_text())["format"] == "wolfpack-backup"

    fresh = Cli(source.endpoint, source.etcd_env)
    done = fresh.json("cluster", "restore", str(file))
    assert (done["identity"], done["resources"], done["running"]) == ("restored", 10, [])

    assert fresh.ok("config", "export").stdout == source.ok("config", "export").stdout
    before, after = everything(source), everything(fresh)
    for key in ("secret_verifier", "tls/ca.crt", "tls/ca.key", "tokens/alice", "admin/nodes/node2"):
        assert after[key] == before[key], key
    # configuration keys are the same set; observed state is not carried over
    assert {k for k in after if k.startswith("config/")} == {
        k for k in before if k.startswith("config/")
    }
    state = {k: json.loads(v) for k, v in after.items() if k.startswith("state/")}
    assert set(state) == {"state/groups/SQL", "state/resources/sql"}
    assert codec.parse(GroupStatus, state["state/groups/SQL"]) == GroupStatus(wanted=Wanted.OFFLINE)
    assert codec.parse(ResourceStatus, state["state/resources/sql"]) == ResourceStatus(
        wanted=Wanted.OFFLINE
    )
    snap = database(fresh).read_snapshot()
    assert all(g.owner is None for g in snap.groups.values())
    assert snap.resource("www").state is ResourceState.OFFLINE

    # a token restored by its hash works for the same secret: nothing new was issued
    assert [t["name"] for t in fresh.json("token", "list")] == ["alice"]


def test_restore_refuses_a_cluster_with_objects_unless_forced(source: Cli, tmp_path: Path) -> None:
    file = tmp_path / "jean.backup"
    source.ok("cluster", "backup", str(file))
    target = Cli(source.endpoint, source.etcd_env)
    target.ok("cluster", "create", "other")
    target.ok("node", "create", "nodeX", "--id", "9")
    before = everything(target)
    error = target.fails("cluster", "restore", str(file), code=1)
    assert error.get("code") == "CLUSTER_NOT_EMPTY" and "--force" in error["message"]
    assert everything(target) == before  # nothing changed
    # an empty cluster made with another secret: its nodes would no longer be admitted
    other = Cli(source.endpoint, source.etcd_env)
    other.ok("cluster", "create", "other")
    empty = everything(other)
    error = other.fails("cluster", "restore", str(file), code=1)
    assert error.get("code") == "IDENTITY_MISMATCH"
    assert everything(other) == empty
    # forced: the backup's configuration and identity replace the target's
    done = target.json("cluster", "restore", str(file), "--force")
    assert done["identity"] == "replaced"
    assert target.ok("config", "export").stdout == source.ok("config", "export").stdout
    assert everything(target)["secret_verifier"] == everything(source)["secret_verifier"]


def test_forced_restore_replaces_the_configuration_and_never_an_owner(
    source: Cli, tmp_path: Path
) -> None:
    file = tmp_path / "jean.backup"
    source.ok("cluster", "backup", str(file))
    db = database(source)
    source.ok("group", "create", "Extra")
    db.write_status("groups", "Extra", GroupStatus(wanted=Wanted.OFFLINE))
    before = database(source).read_snapshot()
    done = source.json("cluster", "restore", str(file), "--force")
    assert done["identity"] == "unchanged" and done["tokens_kept"] == ["alice"]
    after = database(source).read_snapshot()
    assert "Extra" not in after.config.groups  # the backup did not have it
    # observed state stays as the daemons wrote it: owners are neither made nor moved
    assert {n: g.owner for n, g in after.groups.items() if n in after.config.groups} == {
        n: g.owner for n, g in before.groups.items() if n in after.config.groups
    }


def test_a_bad_backup_changes_nothing(source: Cli, tmp_path: Path) -> None:
    file = tmp_path / "jean.backup"
    source.ok("cluster", "backup", str(file))
    data: dict[str, Any] = json.loads(file.read_text())
    data["config"]["groups"]["Web"]["failover_threshold"] = "many"
    data["identity"]["ca_key"] = "not base64!"
    bad = tmp_path / "bad.backup"
    bad.write_text(json.dumps(data))
    fresh = Cli(source.endpoint, source.etcd_env)
    error = fresh.fails("cluster", "restore", str(bad))
    assert {f["field"] for f in error["fields"]} == {
        "config.groups.Web.failover_threshold",
        "identity.ca_key",
    }
    assert everything(fresh) == {}
    not_one = tmp_path / "config.yaml"
    not_one.write_text(yaml.safe_dump({"cluster": {"name": "x"}}))
    assert [f["field"] for f in fresh.fails("cluster", "restore", str(not_one))["fields"]] == [
        "format"
    ]


def test_backup_of_no_cluster_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    error = cli.fails("cluster", "backup", str(tmp_path / "x"), code=1)
    assert error["type"] == "NoClusterError"
    assert not (tmp_path / "x").exists()
