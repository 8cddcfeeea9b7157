"""``wolfpack witness``: a vote-only etcd member on a small third host (issue 10; the file
share witness of MSCS, S7, S13). It holds no groups and runs no wolfpackd: a two-node
cluster with a witness keeps its quorum when either node or the witness is lost."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.cli import install, output
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import ValidationError
from wolfpack.node.install import Layout
from wolfpack.node.secret import read_secret

app = typer.Typer(help="The witness: a vote-only etcd member (join, run).", no_args_is_help=True)
DEFAULT_SECRET = Path("/etc/wolfpack/secret")


@verb(app, "join")
def join(
    name: Annotated[str, typer.Argument(help="The cluster's name (resolved through DNS).")],
    secret_file: Annotated[
        Path, typer.Option("--secret-file", help="The cluster secret, copied from a node.")
    ] = DEFAULT_SECRET,
    server: Annotated[
        str | None, typer.Option("--server", help="A node's API as ADDRESS:PORT.")
    ] = None,
    node: install.NodeName = "",
    addresses: install.Addresses = None,
    peer_address: install.PeerAddress = "",
    etcd_port: install.EtcdPort = 2379,
    peer_port: install.PeerPort = 2380,
    api_port: install.ApiPort = 9443,
    config_dir: install.ConfigDir = Path("/etc/wolfpack"),
    data_dir: install.DataDir = Path("/var/lib/wolfpack"),
    as_json: JsonFlag = False,
) -> None:
    """Make this host the cluster's witness: it becomes an etcd member (a voter once caught
    up) with no node in the configuration. Then run 'wolfpack witness run' (its unit)."""
    from wolfpack.cli.cluster import _server_url
    from wolfpack.node.join_client import join as join_api

    plan = install.plan(
        name, node, addresses, None, peer_address=peer_address, etcd_port=etcd_port,
        peer_port=peer_port, api_port=api_port, heartbeat_port=0,
        layout=Layout(config_dir, data_dir), need_fence=False,
    )  # fmt: skip
    url = _server_url(server, api_port) if server else install.resolve_api(name, api_port)
    summary = join_api(plan, url, read_secret(secret_file), witness=True,
                       progress=(lambda _: None) if as_json else typer.echo)  # fmt: skip
    if as_json:
        output.print_json(summary)
    else:
        typer.echo(
            f"{plan.node} is the witness of {summary['cluster']}: run 'wolfpack witness run'"
        )


@verb(app, "run")
def run(
    config_dir: install.ConfigDir = Path("/etc/wolfpack"),
) -> None:
    """Run the witness's etcd member in the foreground until SIGTERM (its systemd unit);
    restarted with backoff when it dies. One JSON line per event on standard output."""
    import yaml

    from wolfpack.node.etcd_member import ManagedMember, MemberSection
    from wolfpack.resources.priority import DAEMON_NICE, raise_own

    path = Layout(config_dir).witness_settings
    if not path.exists():
        raise ValidationError.single(
            "--config-dir", f"{path} does not exist: run 'wolfpack witness join NAME' first"
        )
    section = MemberSection.model_validate((yaml.safe_load(path.read_text()) or {})["etcd_member"])

    def log(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}, default=str), flush=True)

    problem = raise_own(DAEMON_NICE)  # the vote must not starve either (before any thread)
    if problem is not None:
        log("priority_not_raised", why=problem)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    member = ManagedMember(section, log=log)
    member.start()
    try:
        done.wait()
    finally:
        member.stop()
    sys.exit(0)
