"""``wolfpack cluster rotate-keys``: a new cluster secret and a new API CA (with new node
certificates) without downtime (issue 11 item 4; the phases: :mod:`wolfpack.node.keyring`).

Every live node (one holding a lease) must apply each phase before the next begins; the
verb waits for their acknowledgements, bounded by ``--timeout``. A node that is down is
not waited for: it adopts the new secret when it starts. If a node does not answer in
time the rotation stops where it is, which is safe (both secrets are accepted, both CAs
trusted), and running the verb again starts a new rotation from the secret in the file.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.cli import output
from wolfpack.cli.context import open_db
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import StoreUnavailable, ValidationError
from wolfpack.model.durations import duration
from wolfpack.node import keyring
from wolfpack.node.key_rotation import read_rotation, write_secret
from wolfpack.node.secret import check_verifier, new_secret, read_secret, verifier
from wolfpack.store.base import Put
from wolfpack.store.repository import ClusterDB

POLL_S = 0.1


def live_nodes(db: ClusterDB) -> set[str]:
    kvs, _ = db.store.get_prefix(db.keys.node_leases_prefix)
    return {db.keys.name_of(kv.key, db.keys.node_leases_prefix) for kv in kvs}


def waiting_for(db: ClusterDB, rotation: keyring.Rotation) -> set[str]:
    """Live nodes that have not yet applied ``rotation``'s phase."""
    kvs, _ = db.store.get_prefix(db.keys.rotation_acks_prefix)
    done = set()
    for kv in kvs:
        try:
            ack = json.loads(kv.value)
        except ValueError:
            continue
        if ack.get("id") == rotation.id and ack.get("phase") == rotation.phase:
            done.add(db.keys.name_of(kv.key, db.keys.rotation_acks_prefix))
    return live_nodes(db) - done


def wait_phase(db: ClusterDB, rotation: keyring.Rotation, timeout_s: float) -> float:
    """Seconds until every live node applied the phase; StoreUnavailable after the timeout."""
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        missing = waiting_for(db, rotation)
        if not missing:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise StoreUnavailable(
                f"key rotation {rotation.id}: {', '.join(sorted(missing))} did not apply phase "
                f"{rotation.phase!r} within {timeout_s:g} s (both secrets stay accepted; check "
                "those daemons, then run 'wolfpack cluster rotate-keys' again)"
            )
        time.sleep(POLL_S)


def rotate(db: ClusterDB, secret_file: Path, overlap_s: float, timeout_s: float) -> dict[str, Any]:
    from wolfpack.admin import tls  # lazy: cryptography only here

    held = read_secret(secret_file)
    held = keyring.keys_for(held, read_rotation(db.store, db.keys)).current  # a stale file
    stored = db.store.get(db.keys.secret_verifier)
    check_verifier(stored.value if stored is not None else None, held)
    new = new_secret()
    cluster = db.load_config()[0].cluster.name
    rotation = keyring.start(secrets.token_hex(8), held, new, time.time())
    tls.begin_ca_rotation(db, held, new, cluster)  # clients trust the old and the next CA
    took: dict[str, float] = {}
    for phase in keyring.PHASES:
        rotation = keyring.Rotation(**{**rotation.__dict__, "phase": phase})
        if phase == "done":  # one transaction: the new verifier, the new CA alone, the phase
            ops = [
                Put(db.keys.secret_verifier, verifier(new)),
                *tls.finish_ca_rotation_ops(db, new),
                Put(db.keys.rotation, rotation.dump()),
            ]
            db.store.txn([], ops)
            write_secret(secret_file, new)  # before waiting: this copy is current now
        else:
            db.store.put(db.keys.rotation, rotation.dump())
        took[phase] = round(wait_phase(db, rotation, timeout_s), 3)
        if phase != "done":
            time.sleep(overlap_s)  # heartbeats already in flight under the previous keys
    return {"rotation": rotation.id, "nodes": sorted(live_nodes(db)), "phase_seconds": took}


SecretFile = Annotated[
    Path,
    typer.Option(
        "--secret-file",
        envvar="WOLFPACK_SECRET_FILE",
        help="The cluster secret (rewritten with the new one at the end).",
    ),
]


def register(app: typer.Typer) -> None:
    @verb(app, "rotate-keys")
    def rotate_keys(
        secret_file: SecretFile = Path("/etc/wolfpack/secret"),
        overlap: Annotated[
            str, typer.Option(help="Pause after every node applied a phase: e.g. 2s.")
        ] = "2s",
        timeout: Annotated[
            str, typer.Option(help="How long to wait for every live node, per phase.")
        ] = "60s",
        as_json: JsonFlag = False,
    ) -> None:
        """Rotate the cluster secret and the REST API's CA and node certificates without
        downtime: both secrets and both CAs are accepted while the nodes switch, then only
        the new ones (docs/security.md). Tokens: 'wolfpack token rotate'."""
        overlap_s = duration(overlap, "overlap", unit="ms") / 1000
        timeout_s = duration(timeout, "timeout", unit="ms") / 1000
        if timeout_s <= 0:
            raise ValidationError.single("timeout", "must be more than 0")
        with open_db("key rotation") as db:
            report = rotate(db, secret_file, overlap_s, timeout_s)
        if as_json:
            output.print_json(report)
        else:
            output.message(
                f"rotated the cluster secret and the API CA (rotation {report['rotation']}) on "
                f"{', '.join(report['nodes']) or 'no live node'}; {secret_file} holds the new "
                "secret, as every node's file does now"
            )
