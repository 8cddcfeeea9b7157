"""A tiny application for tests and benchmarks: answers HTTP with its node's name and leaves
an independent record of when it ran.

    python -m wolfpack.lab.probe_app --port 18080 --node node1 --record /tmp/runs.log

It binds with SO_REUSEPORT, so two copies *could* run at once; the record is how tests prove
they never do. Every 20 ms it appends ``<monotonic> <node> <pid>`` to the record file
(O_APPEND, one small write per line, so lines from several processes never interleave).
Its first line is ``<monotonic> <node> <pid> start <starttime>`` (the start time of
``/proc/self/stat``, so an observer can tell a reused PID from it), and on SIGTERM it writes
``<monotonic> <node> <pid> stop`` before it exits: :mod:`wolfpack.lab.observer` reads them.
``--fail-after S`` makes it exit with code 3 after S seconds (a crashing application);
``--fail-on NODE`` makes it refuse to start on that node (a broken installation there).
``--term-delay S`` makes it take S seconds to exit after SIGTERM, ticking and answering
meanwhile (an application with a slow shutdown, as in issue 8's reproduction).
The node name comes from ``--node`` or the ``WOLFPACK_NODE`` environment variable.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import sys
import threading
import time

from wolfpack.node.pidregistry import proc_stat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1", help="address to listen on")
    ap.add_argument("--node", default=os.environ.get("WOLFPACK_NODE", "unknown"))
    ap.add_argument("--fail-on", default="", help="exit at once with code 3 on this node")
    ap.add_argument("--record", required=True)
    ap.add_argument("--fail-after", type=float, default=0.0)
    ap.add_argument("--term-delay", type=float, default=0.0, help="seconds to exit on SIGTERM")
    args = ap.parse_args(argv)
    if args.fail_on and args.fail_on == args.node:
        print(f"probe_app: refusing to start on {args.node}", file=sys.stderr)
        return 3
    fd = os.open(args.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(what: str) -> None:
        os.write(fd, f"{time.monotonic():.4f} {args.node} {os.getpid()}{what}\n".encode())

    me = proc_stat(os.getpid())
    write(f" start {me.starttime if me else 0}")

    def stop(signum: int, frame: object) -> None:
        write(" stop")
        if args.term_delay > 0:  # a slow shutdown: still running (and ticking) meanwhile
            threading.Timer(args.term_delay, os._exit, (0,)).start()
            return
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    body = f"{args.node}\n".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def server_bind(self) -> None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    server = Server((args.address, args.port), Handler)

    def record() -> None:
        started = time.monotonic()
        while True:
            write("")
            if args.fail_after and time.monotonic() - started > args.fail_after:
                os._exit(3)
            time.sleep(0.02)

    threading.Thread(target=record, daemon=True).start()
    server.serve_forever()
    return 0


def overlaps(record_lines: list[str]) -> list[str]:
    """Pairs of runs on different nodes whose lifetimes overlap: proof of two owners.

    A run is one process (node, pid) from its first to its last recorded tick. Returns
    readable descriptions; empty means the application never ran in two places at once.
    """
    runs: dict[tuple[str, str], list[float]] = {}
    for line in record_lines:
        parts = line.split()
        if len(parts) == 3:
            span = runs.setdefault((parts[1], parts[2]), [float(parts[0]), float(parts[0])])
            span[0] = min(span[0], float(parts[0]))
            span[1] = max(span[1], float(parts[0]))
    found = []
    items = sorted(runs.items(), key=lambda kv: kv[1][0])
    for i, ((node_a, pid_a), (start_a, end_a)) in enumerate(items):
        for (node_b, pid_b), (start_b, end_b) in items[i + 1 :]:
            if node_a != node_b and start_b <= end_a:
                found.append(
                    f"{node_a} pid {pid_a} ran {start_a:.3f}-{end_a:.3f} while {node_b} "
                    f"pid {pid_b} ran {start_b:.3f}-{end_b:.3f}"
                )
    return found


if __name__ == "__main__":
    sys.exit(main())
