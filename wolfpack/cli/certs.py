"""``wolfpack cluster certs``: the cluster database's CA, certificates and etcd users (C1).

The order an administrator follows (docs/install.md section 4): ``init`` the CA once on an
administrator's host; ``member`` for each etcd member (server and peer certificates); ``issue
--admin NAME --offline`` for oneself; start etcd with TLS; ``enable-auth`` (as that admin);
then ``issue --node N`` for each node (its daemon's and its REST API's users are created in
etcd at once) and ``revoke`` to take a node's or an admin's access away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wolfpack.cli import output
from wolfpack.cli.context import keyspace, open_db, open_store
from wolfpack.cli.runner import JsonFlag, verb
from wolfpack.errors import ValidationError
from wolfpack.store import etcd_auth
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.pki_names import PrincipalKind

app = typer.Typer(
    help="The cluster database's CA, certificates and etcd users.", no_args_is_help=True
)

PkiDir = Annotated[
    Path,
    typer.Option(
        "--dir",
        envvar="WOLFPACK_PKI",
        help="The cluster database CA's directory (an administrator's host, never a node's).",
    ),
]
DEFAULT_PKI = Path("~/wolfpack-pki")
Node = Annotated[str | None, typer.Option("--node", help="A node: its daemon and its REST API.")]
Admin = Annotated[str | None, typer.Option("--admin", help="An administrator (etcd root).")]
Out = Annotated[
    Path | None,
    typer.Option("--out", help="Where to write (default: under --dir); copy it to the host."),
]
WithApi = Annotated[
    bool,
    typer.Option("--api/--no-api", help="With --node: its REST API's user too (config writes)."),
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Only write the files; add the etcd users later.")
]
Cluster = Annotated[str, typer.Option("--cluster", help="The cluster's name (in the CA's).")]


def _ca(directory: Path) -> Any:
    from wolfpack.store.pki import ClusterCA  # lazy: cryptography only for these verbs

    return ClusterCA.load(directory.expanduser())


def _done(as_json: bool, doc: dict[str, Any], text: str) -> None:
    if as_json:
        output.print_json(doc)
    else:
        output.message(text)


@verb(app, "init")
def init(
    cluster: Cluster,
    directory: PkiDir = DEFAULT_PKI,
    as_json: JsonFlag = False,
) -> None:
    """Make the cluster database CA and etcd's token-signing key in --dir (mode 0700)."""
    from wolfpack.store.pki import ClusterCA

    ca = ClusterCA.create(directory.expanduser(), cluster)
    doc = {"dir": str(ca.directory), "ca": str(ca.cert_path)}
    _done(as_json, doc, f"made the cluster database CA in {ca.directory}: keep ca.key there")


@verb(app, "member")
def member(
    name: Annotated[str, typer.Argument(help="The etcd member's name (its --name).")],
    addresses: Annotated[
        list[str], typer.Option("--address", help="An IP address clients or peers use; repeat.")
    ],
    out: Out = None,
    directory: PkiDir = DEFAULT_PKI,
    as_json: JsonFlag = False,
) -> None:
    """An etcd member's server and peer certificates and the token-signing keys, for its
    /etc/etcd/pki (etcd's flags: docs/install.md section 4)."""
    ca = _ca(directory)
    target = (out or ca.directory / "members" / name).expanduser()
    issued = ca.issue_member(name, addresses, target)
    doc = {"member": name, "files": [str(f) for f in issued.files]}
    _done(as_json, doc, f"etcd member {name}: {len(issued.files)} files in {target}")


def _principals(node: str | None, admin: str | None, api: bool) -> list[tuple[PrincipalKind, str]]:
    if (node is None) == (admin is None):
        raise ValidationError.single("--node", "give exactly one of --node NAME or --admin NAME")
    if admin is not None:
        return [("admin", admin)]
    assert node is not None
    return [("node", node), ("api", node)] if api else [("node", node)]


@verb(app, "issue")
def issue(
    node: Node = None,
    admin: Admin = None,
    out: Out = None,
    api: WithApi = True,
    offline: Offline = False,
    directory: PkiDir = DEFAULT_PKI,
    as_json: JsonFlag = False,
) -> None:
    """Certificates, keys and passwords for a node or an administrator, and their etcd users
    (as this administrator; issuing again gives new passwords: the old ones stop working)."""
    wanted = _principals(node, admin, api)
    ca = _ca(directory)
    target = (out or ca.directory / (node if node is not None else f"admin-{admin}")).expanduser()
    issued = [ca.issue_principal(kind, name, target) for kind, name in wanted]
    added: list[str] = []
    if not offline:
        with open_store() as store:
            for files, password in issued:
                assert files.user is not None
                etcd_auth.add_user(store, keyspace(), files.user, password)
                added.append(files.user)
    doc = {
        "issued": [{"user": f.user, "files": [str(p) for p in f.files]} for f, _ in issued],
        "users_added": added,
    }
    users = ", ".join(str(f.user) for f, _ in issued)
    _done(as_json, doc, f"issued {users} in {target}" + ("; etcd users added" if added else ""))


@verb(app, "revoke")
def revoke(
    node: Node = None,
    admin: Admin = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete the etcd users of a node or an administrator: their passwords stop working at
    once (their certificates still pass TLS until they expire: docs/install.md)."""
    from wolfpack.store.pki import user_name

    wanted = _principals(node, admin, api=True)
    removed = []
    with open_store() as store:
        for kind, name in wanted:
            user = user_name(kind, name)
            if etcd_auth.remove_user(store, user):
                removed.append(user)
    _done(as_json, {"removed": removed}, f"removed etcd users: {', '.join(removed) or 'none'}")


@verb(app, "enable-auth")
def enable_auth(as_json: JsonFlag = False) -> None:
    """Turn etcd's authentication on (once, on a new database), adding this administrator's
    user (from the certificate given to the CLI) and etcd's root."""
    with open_store() as store:
        creds: EtcdCredentials | None = store.credentials
        if creds is None or creds.user is None or creds.password is None:
            raise ValidationError.single(
                "endpoint", "enable-auth needs https:// and your certificate"
            )
        if not creds.user.startswith("admin:"):
            raise ValidationError.single(
                "etcd_cert (WOLFPACK_ETCD_CERT)",
                f"{creds.user} is not an administrator: use a certificate from 'issue --admin'",
            )
        etcd_auth.enable(store, [(creds.user, creds.password)], keyspace())
    _done(
        as_json,
        {"enabled": True, "admin": creds.user},
        f"authentication is on; {creds.user} is root",
    )


@verb(app, "list")
def list_(as_json: JsonFlag = False) -> None:
    """etcd's users and their roles."""
    with open_store() as store:
        users = etcd_auth.status(store)
    if as_json:
        output.print_json({"users": users})
        return
    for user, roles in sorted(users.items()):
        output.message(f"{user}: {', '.join(map(str, roles)) or '-'}")  # type: ignore[call-overload]


@verb(app, "api-ca")
def api_ca(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the PEM here (default: print it).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The REST API's cluster CA certificate (PEM), for ``curl --cacert``, ``$WOLFPACK_CA``
    and browsers: every node's API certificate is signed by it (docs/security.md)."""
    with open_db("the API's CA") as db:
        pem = db.ca_certificate()
    if pem is None:
        raise ValidationError.single(
            "api-ca", "the cluster has no API CA yet: 'wolfpack cluster create' makes it"
        )
    if out is not None:
        out.expanduser().write_bytes(pem)
    if as_json:
        output.print_json({"pem": pem.decode(), "path": str(out) if out else None})
    elif out is None:
        output.message(pem.decode().rstrip())
    else:
        output.message(f"the API's cluster CA written to {out}")


@verb(app, "api")
def api_certificate(
    node: Annotated[str, typer.Argument(help="The node whose REST API the certificate is for.")],
    address: Annotated[
        list[str] | None, typer.Option("--address", help="An address it names (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for api.crt and api.key.")] = Path(
        "."
    ),
    secret_file: Annotated[
        Path,
        typer.Option("--secret-file", envvar="WOLFPACK_SECRET_FILE", help="The cluster secret."),
    ] = Path("/etc/wolfpack/secret"),
    as_json: JsonFlag = False,
) -> None:
    """Issue a REST API server certificate for a node from the cluster's API CA (its key
    is decrypted with the cluster secret). A daemon makes its own at start; this is for a
    proxy in front of a node, or to check what a node will get."""
    from wolfpack.admin import tls
    from wolfpack.node.secret import read_secret

    secret = read_secret(secret_file)
    with open_db("the API's CA") as db:
        cluster = db.load_config()[0].cluster.name
        cert, key = tls.node_certificate(db, secret, cluster, node, address or [], out.expanduser())
    _done(as_json, {"node": node, "cert": str(cert), "key": str(key)},
          f"API certificate of {node}: {cert} (key {key}, mode 0600)")  # fmt: skip
