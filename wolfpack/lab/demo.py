"""The demo: the lab plus the seed's cluster ``jean`` Active/Active (S5, S6), and a tour.

    python -m wolfpack.lab.demo up   [--dir DIR] [--faketime] [--nodes 2 --witness]
                                     # lab up, the groups, the tour
    python -m wolfpack.lab.demo down [--dir DIR]   # lab down

Group Web prefers node2: IP Address 198.51.100.20, Network Name ``www`` (registered in the
lab's BIND), Physical Disk ``web-disk`` and a Web Server (nginx) whose docroot is on that
disk; its page links into each node's own directory, so it names the node that serves it.
Group SQL prefers node1: IP Address 198.51.100.30, Network Name ``sql``, Physical Disk
``sql-disk`` and a PostgreSQL Server whose data directory is on that disk, so every node
that takes the group over sees the same database. SQL fails back to node1 (immediately,
once node1 has been up for 5 s, S38); Web keeps the default (failback prevented).

Web is added as a configuration document; SQL is made as an administrator makes it, with
the database wizard (``wolfpack db create``, S40) and ``wolfpack group set`` for its failback,
run on the lab's admin host.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from wolfpack.errors import StoreError, WolfpackError
from wolfpack.lab import access, webui, world
from wolfpack.lab.cluster_doc import public_network
from wolfpack.lab.layout import MANAGEMENT_ADDRESS, token_file
from wolfpack.lab.state import DEFAULT_DIR, LabState
from wolfpack.model.builtin_types import PHYSICAL_DISK, WEB_SERVER
from wolfpack.model.fsm import group_state
from wolfpack.model.states import GroupState
from wolfpack.store import KeySpace
from wolfpack.store.repository import ClusterDB

WEB_ADDRESS, SQL_ADDRESS = "198.51.100.20", "198.51.100.30"
#: the password of the database's ``postgres`` account over TCP (a lab, not a secret)
SQL_PASSWORD = "wolfpack-lab"
GROUPS = {"Web": ("node2", "node3", "node1"), "SQL": ("node1", "node3", "node2")}
ONLINE_WAIT_S = 120.0


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def docroot(state: LabState) -> Path:
    """On the web disk (its index.html links to the node's own page, see lab up)."""
    return world.mount_point(state, "web") / "htdocs"


def data_directory(state: LabState) -> Path:
    return world.mount_point(state, "sql") / "data"


def disk(state: LabState, group: str, name: str) -> dict[str, Any]:
    return {
        "type": PHYSICAL_DISK,
        "group": group,
        "properties": {
            "device": f"UUID={state.disks[name]['uuid']}",
            "mountpoint": str(world.mount_point(state, name)),
        },
    }


def preferred(state: LabState, group: str) -> list[str]:
    """``group``'s preferred owners among the lab's nodes (node1 and node2 in the two-node
    lab)."""
    return [n for n in GROUPS[group] if n in state.nodes]


def demo_doc(state: LabState, network: str = "public") -> dict[str, Any]:
    """The Web and SQL groups as a configuration document; ``network``: the public one's
    name (:func:`wolfpack.lab.cluster_doc.public_network`)."""
    return {
        "groups": {
            "Web": {
                "description": "the web server (IIS analog)",
                "preferred_owners": preferred(state, "Web"),
            },
        },
        "resources": {
            "web-disk": disk(state, "Web", "web"),
            **world.address_and_name(
                state, "Web", "web", WEB_ADDRESS, "www", name="www", network=network
            ),
            "web": {
                "type": WEB_SERVER,
                "group": "Web",
                "dependencies": [["web-disk"], ["web-ip"]],
                "properties": {"docroot": str(docroot(state)), "listen_address": WEB_ADDRESS},
            },
        },
    }


def database_wizard(state: LabState) -> list[list[str]]:
    """The administrator's commands that make the SQL group (S40): the database wizard, which
    finds the network, takes the DNS settings of the cluster's Network Names and checks every
    preferred owner for the PostgreSQL binaries; then SQL's failback policy (S38)."""
    return [
        ["wolfpack", "db", "create", "SQL", "--ip", SQL_ADDRESS,
         "--disk", disk(state, "SQL", "sql")["properties"]["device"],
         "--mountpoint", str(world.mount_point(state, "sql")), "--dns-name", "sql",
         "--preferred-owners", ",".join(preferred(state, "SQL")),
         "--description", "the database's virtual server (S40)"],
        ["wolfpack", "group", "set", "SQL", "--failback", "immediate", "--stability-delay", "5s"],
    ]  # fmt: skip


def write_pages(state: LabState) -> None:
    """Each node's own page (in the directory only that node's mount namespace shows)."""
    for node in state.nodes:
        www = world.node_dir(state, node) / "local" / "www"
        www.mkdir(mode=0o755, parents=True, exist_ok=True)
        (www / "index.html").write_text(
            f"<!doctype html><title>{state.cluster} Web</title>"
            f"<h1>Cluster {state.cluster}: Web is served by {node}</h1>\n"
        )


def install(state: LabState) -> None:
    """Add the groups (again: the same document changes nothing, and the wizard runs only
    if there is no SQL group yet) and wait until both serve."""
    write_pages(state)
    with world.in_admin(state):
        store = access.admin_store(state, timeout=2.0)
        try:
            db = ClusterDB(store, KeySpace(world.KEY_ROOT))
            cfg = db.load_config()[0]
            world.add_config(db, demo_doc(state, public_network(cfg)))
            if "SQL" not in cfg.groups:
                for argv in database_wizard(state):
                    say(" ".join(argv))
                    world.run_on(state, "admin", [*argv, "--json"])
            say("groups Web (preferred node2) and SQL (preferred node1): waiting until Online")
            _wait_online(db, list(GROUPS))
            owner = db.read_snapshot().group("SQL").owner
        finally:
            store.close()
    assert owner is not None
    prepare_sql(state, owner)


def _wait_online(db: ClusterDB, groups: list[str]) -> None:
    deadline = time.monotonic() + ONLINE_WAIT_S
    while True:
        try:
            snap = db.read_snapshot()
            states = {
                g: group_state(snap.resource(r.name).state for r in snap.config.group_resources(g))
                for g in groups
            }
            if all(s == GroupState.ONLINE for s in states.values()):
                return
        except StoreError:
            states = {}
        if time.monotonic() > deadline:
            raise WolfpackError(
                f"groups not Online after {ONLINE_WAIT_S:g} s: {states}; see the daemons' "
                "logs (wolfpack lab status shows where)"
            )
        time.sleep(0.2)


def prepare_sql(state: LabState, owner: str) -> None:
    """Let lab hosts log in over TCP with a password (initdb allowed only 127.0.0.1): a
    line in pg_hba.conf (on the shared data directory, so every node has it) and a
    password for ``postgres``."""
    hba = data_directory(state) / "pg_hba.conf"  # on the sql disk: mounted on the owner only
    line = f"host all all {world.PUBLIC_SUBNET} scram-sha-256"
    script = f'grep -qx "{line}" "$1" || printf "# the lab public network\\n%s\\n" "{line}" >> "$1"'
    subprocess.run(
        [*world.enter(state, owner), "sh", "-c", script, "sh", str(hba)],
        check=True, timeout=30, capture_output=True,
    )  # fmt: skip
    socket_dir = world.run_dir(state, owner) / "resources" / "sql" / "socket"
    with psycopg.connect(
        host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f"ALTER ROLE postgres PASSWORD '{SQL_PASSWORD}'")
        conn.execute("SELECT pg_reload_conf()")


def on_client(state: LabState, argv: list[str], timeout_s: float = 30) -> str:
    """Run ``argv`` on the lab's client host; its output (stderr too)."""
    result = subprocess.run(
        [*world.netns_exec(state, "client"), *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


def sql_query(state: LabState, query: str) -> str:
    """``query`` through sql.cluster.test from the client host (psql over TCP)."""
    return on_client(
        state,
        ["env", f"PGPASSWORD={SQL_PASSWORD}", "psql", "-h", "sql.cluster.test", "-U", "postgres",
         "-d", "postgres", "-tA", "-c", query],
    )  # fmt: skip


def tour(state: LabState) -> None:
    html = on_client(state, ["curl", "-s", "--max-time", "2", "http://www.cluster.test/"])
    page = re.sub(r"<[^>]*>", " ", html.split("</title>")[-1]).strip()
    db = sql_query(state, "SELECT 'PostgreSQL ' || current_setting('server_version')")
    # --dir belongs to each lab verb, so a lab elsewhere is named the way every verb reads it
    custom = Path(state.dir) != DEFAULT_DIR
    lab = f"WOLFPACK_LAB_DIR={state.dir} wolfpack lab" if custom else "wolfpack lab"
    wp = f"{lab} exec admin -- wolfpack"
    tries = [
        (f"{wp} status", "who owns what (S33)"),
        (f"{lab} exec client -- curl -s http://www.cluster.test/", "the page names the node"),
        (
            f"{wp} group move Web {state.nodes[-1] if len(state.nodes) > 2 else 'node1'}",
            "move a group (S39)",
        ),
        (f"{lab} power off node1", "SQL fails over (the lab fence powers node1 off)"),
        (f"{lab} exec client -- psql -h sql.cluster.test -U postgres", f"password {SQL_PASSWORD}"),
        (f"{wp} resource fail web", "Initiate Failure: restarted in place"),
        (f"{lab} power on node1", "SQL fails back once node1 is up 5 s (S38)"),
        (f"{wp} plan --explain", "why each group is where it is"),
        (f"{wp} log --since 5m", "the cluster log: every node's lines, merged"),
        (f"{wp} events --follow", "every change as it happens (Ctrl-C ends it)"),
        (f"{lab} status", "hosts, processes, disks, nodes, groups"),
        (
            f"{lab} down" if custom else "bash scripts/demo down",
            "removes the whole lab, and only the lab",
        ),
    ]
    width = max(len(c) for c, _ in tries)
    commands = "\n".join(f"  {c:<{width}}  # {why}" for c, why in tries)
    print(
        f"""
The cluster {state.cluster} runs Active/Active (S5, S6) in the lab ({state.dir}):
  from the client host: curl http://www.cluster.test/  ->  {page}
  from the client host: psql -h sql.cluster.test       ->  {db}

Try it (PATH={Path(sys.executable).parent}:$PATH; every command of the admin runs on the
admin host 198.51.100.1 with WOLFPACK_ENDPOINT set to the lab's etcd and WOLFPACK_TOKEN
to the lab's admin token):
{commands}
{_sign_in_text(state)}""",
        flush=True,
    )


def _sign_in_text(state: LabState) -> str:
    """Where a browser on this machine finds the web Cluster Administrator, and its token."""
    found = webui.sign_in(state)
    if found is None:
        return ""
    url, token = found
    return f"""
The web Cluster Administrator, from a browser on this machine (forwarded into the lab, to
the cluster's management address {MANAGEMENT_ADDRESS}):
  {url}
  (HTTPS with the cluster's own CA: import {webui.ca_file(state)} into the browser as a
  trusted authority, or accept the warning once)
  sign in with the token  {token}
  (also in {token_file(state)}; `wolfpack lab exec admin -- ...` uses it)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m wolfpack.lab.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("action", choices=("up", "down"))
    ap.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("WOLFPACK_LAB_DIR", DEFAULT_DIR))
    )
    ap.add_argument("--faketime", action="store_true", help="see 'wolfpack lab up --faketime'")
    ap.add_argument("--nodes", type=int, default=3, help="see 'wolfpack lab up --nodes'")
    ap.add_argument(
        "--witness", action="store_true", help="the seed's two nodes and a witness (--nodes 2)"
    )
    args = ap.parse_args(argv)
    try:
        if args.action == "down":
            world.down(args.dir, say)
            return 0
        pwd.getpwnam("postgres")  # KeyError: PostgreSQL is not installed
        state, _ = world.up(
            args.dir, args.nodes, progress=say, faketime=args.faketime, witness=args.witness
        )
        install(state)
        tour(state)
    except (WolfpackError, KeyError, psycopg.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
