"""The lab's way in for its administrator: an admin API token, and the web Cluster
Administrator forwarded to this machine's loopback.

Every node's API listens on all its lab addresses (port ``API_PORT``), so the cluster's
management address (198.51.100.10, which moves with the Cluster Group) always reaches a
node's API. A forwarder on 127.0.0.1 of the machine that runs the lab connects to it from
the admin host (:mod:`wolfpack.lab.forward`): a browser there opens
``https://127.0.0.1:PORT/`` (trusting ``<lab dir>/api-ca.pem``) and signs in with the
token in ``<lab dir>/admin.token``, which
``wolfpack lab exec admin -- wolfpack log`` also uses (``WOLFPACK_TOKEN``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.lab.layout import API_PORT, MANAGEMENT_ADDRESS, lab_env, netns_exec, token_file
from wolfpack.lab.state import LabState

TOKEN_NAME = "lab-admin"
FORWARD_ROLE = "ui-forward"


def ui_file(state: LabState) -> Path:
    return Path(state.dir) / "ui.json"


def start(state: LabState, progress: Any) -> None:
    """Make the admin token (once) and start the forwarder (called outside the admin
    namespace: the forwarder's listening socket belongs to this machine's loopback)."""
    _make_token(state)
    _fetch_ca(state)
    port = _free_loopback_port()
    target = f"{MANAGEMENT_ADDRESS}:{API_PORT}"
    argv = [sys.executable, "-m", "wolfpack.lab.forward", "--listen", f"127.0.0.1:{port}",
            "--netns", state.prefix + "admin", "--to", target]  # fmt: skip
    log = Path(state.dir) / "ui-forward.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    state.add_process("admin", FORWARD_ROLE, proc.pid)
    # HTTPS (the API's default): the node certificates name 127.0.0.1, so a client here
    # verifies the forwarded address against the cluster CA (a browser: import the file)
    doc = {"url": f"https://127.0.0.1:{port}/", "ca": str(ca_file(state))}
    ui_file(state).write_text(json.dumps(doc) + "\n")
    progress(
        f"web Cluster Administrator: https://127.0.0.1:{port}/ (forwarded from the lab; "
        f"its CA: {ca_file(state)})"
    )


def ca_file(state: LabState) -> Path:
    """The REST API's cluster CA (PEM), fetched at start (``wolfpack cluster certs api-ca``)."""
    return Path(state.dir) / "api-ca.pem"


def _fetch_ca(state: LabState) -> None:
    wolfpack = [str(Path(sys.executable).parent / "wolfpack")]
    env = {**os.environ, **lab_env(state)}
    done = subprocess.run(
        [*netns_exec(state, "admin"), *wolfpack, "cluster", "certs", "api-ca", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise WolfpackError(f"could not read the API's cluster CA: {done.stdout}{done.stderr}")
    ca_file(state).write_text(str(json.loads(done.stdout)["pem"]))


def _make_token(state: LabState) -> None:
    """``wolfpack token create`` on the admin host (a token lost with its file is replaced)."""
    path = token_file(state)
    if path.exists():
        return
    wolfpack = [str(Path(sys.executable).parent / "wolfpack")]  # the CLI beside this Python
    env = {**os.environ, **lab_env(state)}
    on_admin = netns_exec(state, "admin")
    subprocess.run(
        [*on_admin, *wolfpack, "token", "delete", TOKEN_NAME, "--json"],
        env=env, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    made = subprocess.run(
        [*on_admin, *wolfpack, "token", "create", TOKEN_NAME, "--role", "admin", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise WolfpackError(f"could not make the lab's admin token: {made.stdout}{made.stderr}")
    text = str(json.loads(made.stdout)["token"])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def sign_in(state: LabState) -> tuple[str, str] | None:
    """The web UI's URL on this machine and the token to sign in with, once made."""
    try:
        url = json.loads(ui_file(state).read_text())["url"]
        token = token_file(state).read_text().strip()
    except (OSError, ValueError, KeyError):
        return None
    return str(url), token
