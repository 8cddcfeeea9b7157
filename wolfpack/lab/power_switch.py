"""The lab's power switch: for the lab's nodes what a network PDU or a BMC is for real ones.

    python -m wolfpack.lab.power_switch --dir /run/wolfpack-lab

A real fence agent (``fence_ipmilan``, ``fence_apc``) is a short program that asks a device
which is always there to cut a machine's power. The lab's agent used to do the power-off
itself, so every fence paid for a Python start and the lab's imports (0.11-0.20 s of each
failover, issue 12). ``lab up`` starts this switch once, outside every node; the agent
(``<lab dir>/fence_lab``, :mod:`wolfpack.lab.fence_client`) starts in a few milliseconds and
asks it over ``<lab dir>/power.sock``.

A request is the agent's standard input (fence-agents ``name=value`` lines), sent whole and
then half-closed; the answer is one line, ``<exit status> <message>``, with the meaning of
:func:`wolfpack.lab.fence.act`. Requests are carried out one at a time, each logged to
``<lab dir>/power_switch.log`` with its duration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from wolfpack.lab.fence import act
from wolfpack.node.fencing import parse_stdin

__all__ = ["MAX_REQUEST", "SOCKET", "main", "socket_path"]

SOCKET = "power.sock"
#: a fence-agents request is a few short lines; more is not one
MAX_REQUEST = 64 * 1024


def socket_path(lab_dir: Path | str) -> Path:
    return Path(lab_dir) / SOCKET


class _Switch(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = lab_dir
        self.one_at_a_time = threading.Lock()
        self.log = (lab_dir / "power_switch.log").open("a", buffering=1)
        super().__init__(str(socket_path(lab_dir)), _Request)


class _Request(socketserver.StreamRequestHandler):
    server: _Switch

    def handle(self) -> None:
        self.request.settimeout(10.0)
        text = self.rfile.read(MAX_REQUEST + 1)
        if len(text) > MAX_REQUEST:
            code, message = 1, f"request longer than {MAX_REQUEST} bytes"
        else:
            opts = parse_stdin(text.decode(errors="replace"))
            started = time.monotonic()
            with self.server.one_at_a_time:
                code, message = act(self.server.lab_dir, opts)
            entry = {"ts": round(time.time(), 3), "action": opts.get("action"),
                     "plug": opts.get("plug") or opts.get("port") or opts.get("nodename"),
                     "status": code, "message": message,
                     "ms": round((time.monotonic() - started) * 1000, 1)}  # fmt: skip
            self.server.log.write(json.dumps(entry) + "\n")
        self.wfile.write(f"{code} {message}".replace("\n", " ").encode() + b"\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wolfpack.lab.power_switch", description=__doc__)
    ap.add_argument("--dir", type=Path, required=True, help="the lab's directory")
    args = ap.parse_args(argv)
    lab_dir = args.dir.resolve()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path(lab_dir))  # a switch that was killed leaves its socket
    with _Switch(lab_dir) as switch:
        os.chmod(socket_path(lab_dir), 0o600)  # root's daemons only
        print(f"power switch listening on {socket_path(lab_dir)}", flush=True)
        switch.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
