"""The node's API certificate, checked or made in a child process, so that ``wolfpackd``
itself never loads cryptography (issue 12: its Rust core alone keeps about 9 MB resident
for the daemon's whole life, for work done once at start).

The daemon calls :func:`in_child` when the certificate in its run directory is not one it
already found good (:mod:`wolfpack.admin.cert_memo`): the first start, a renewal, a new
address or CA. The child, ``python -m wolfpack.admin.cert_child``, reads one JSON request on
stdin (the CA certificate, the CA key as stored, encrypted with the cluster secret, the
secret, the node, its addresses, the directory), runs
:func:`wolfpack.admin.tls.certificate_for` and leaves the verdict remembered; nothing
secret crosses a command line or the environment.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from wolfpack.admin.json_child import last_words, run_module
from wolfpack.errors import WolfpackError

__all__ = ["CHILD_TIMEOUT_S", "in_child", "main"]

#: a child that takes longer (a machine stalled) is given up: the daemon then does it itself
CHILD_TIMEOUT_S = 60.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def in_child(
    ca_pem: bytes,
    encrypted_ca_key: bytes,
    secret: bytes,
    node: str,
    addresses: Sequence[str],
    where: Path,
) -> None:
    """Check or make ``where/api.crt`` and ``api.key`` in a child process; raises
    :class:`WolfpackError` with the child's reason if it could not."""
    request = {
        "ca_pem": _b64(ca_pem),
        "ca_key": _b64(encrypted_ca_key),
        "secret": _b64(secret),
        "node": node,
        "addresses": list(addresses),
        "where": str(where),
    }
    done = run_module("wolfpack.admin.cert_child", request, timeout=CHILD_TIMEOUT_S,
                      what="the API certificate's child process")  # fmt: skip
    if done.returncode != 0:
        reason = last_words(done)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            reason = str(json.loads(reason)["error"])
        raise WolfpackError(f"cannot make this node's API certificate: {reason}")


def main() -> int:
    request = json.loads(sys.stdin.read())
    from wolfpack.admin import tls  # here, in the child: cryptography

    secret = base64.b64decode(request["secret"])
    key_pem = base64.b64decode(request["ca_key"])
    try:
        tls.certificate_for(
            base64.b64decode(request["ca_pem"]),
            lambda: tls.decrypted_ca_key(key_pem, secret),
            request["node"],
            request["addresses"],
            Path(request["where"]),
        )
    except (WolfpackError, OSError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
