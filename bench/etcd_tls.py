"""What TLS and etcd authentication cost the cluster database (C1, issue 11), side by side.

    python bench/etcd_tls.py --ops 500 --json

Starts two private etcd members on 127.0.0.1 with Wolfpack's settings: one plain (``http``,
no authentication, as before issue 11), one secure (TLS with client certificates, JWT
authentication on, the client a node's etcd user whose role is checked on every request).
On each, one ``EtcdStore`` (the daemon's 1 s request timeout) does ``--ops`` of each of: a
``get``, a ``put``, a guarded ``txn`` (the coordinator's kind of write), a lease keep-alive
(the daemon's heartbeat to etcd), and a put seen by a watch (the latency to every daemon).
Also: the first request of a new store (connection, TLS handshake and, secure, the token:
etcd checks the password with bcrypt), the cost each daemon and CLI call pays once.

Prints a table (p50/p99 in ms, plain and secure), writes bench/results/etcd_tls.json, and
with --json prints a JSON object as the last line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchlib

from wolfpack.store import Compare, EtcdProcess, EtcdStore, KeySpace, Put, etcd_auth

RESULTS = Path(__file__).parent / "results" / "etcd_tls.json"
KEYS = KeySpace("/wolfpack/")


def timed(ops: int, step: Callable[[int], object]) -> dict[str, float]:
    took = []
    for i in range(ops):
        t0 = time.perf_counter()
        step(i)
        took.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": round(statistics.median(took), 3),
        "p99_ms": round(benchlib.percentile(took, 99), 3),
    }


def client(etcd: EtcdProcess) -> EtcdStore:
    if not etcd.tls:
        return EtcdStore(etcd.endpoint, timeout=1.0)
    return EtcdStore(etcd.endpoint, timeout=1.0, credentials=etcd.pki.principal("node", "n1"))


def measure(etcd: EtcdProcess, ops: int) -> dict[str, Any]:
    if etcd.tls:
        admin = etcd.store()
        creds = etcd.pki.principal("node", "n1")
        assert creds.user is not None and creds.password is not None
        etcd_auth.add_user(admin, KEYS, creds.user, creds.password)
        admin.close()
    first = []
    for _ in range(5):
        store = client(etcd)
        t0 = time.perf_counter()
        store.get(KEYS.cluster)
        first.append((time.perf_counter() - t0) * 1000)
        store.close()
    store = client(etcd)
    key = KEYS.state("groups", "bench")
    lease = store.lease_grant(30)
    store.put(KEYS.node_lease("n1"), b"{}", lease=lease)
    guard = Compare(KEYS.node_lease("n1"), "lease", "==", lease)
    watcher = client(etcd)
    watch = watcher.watch_prefix(key)

    def watched(i: int) -> None:
        store.put(key, str(i).encode())
        event = watch.get(timeout=2.0)
        assert event is not None

    try:
        result = {
            "first_request_ms": round(statistics.median(first), 2),
            "get": timed(ops, lambda i: store.get(key)),
            "put": timed(ops, lambda i: store.put(key, str(i).encode())),
            "guarded_txn": timed(ops, lambda i: store.txn([guard], [Put(key, b"x")])),
            "keepalive": timed(ops, lambda i: store.lease_keepalive(lease)),
            "put_to_watch": timed(ops, watched),
        }
    finally:
        watch.cancel()
        watcher.close()
        store.close()
    return result


def run(ops: int, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"ops": ops}
    for name, tls in (("plain", False), ("secure", True)):
        with EtcdProcess(workdir / name, tls=tls) as etcd:
            out[name] = measure(etcd, ops)
    return out


def flatten(result: dict[str, Any]) -> dict[str, Any]:
    """``op: plain p50/p99 -> secure p50/p99`` lines for the table."""
    flat: dict[str, Any] = {"ops": result["ops"]}
    plain, secure = result["plain"], result["secure"]
    flat["first_request_ms"] = f"{plain['first_request_ms']} -> {secure['first_request_ms']}"
    for op in ("get", "put", "guarded_txn", "keepalive", "put_to_watch"):
        a, b = plain[op], secure[op]
        flat[f"{op}_p50_ms"] = f"{a['p50_ms']} -> {b['p50_ms']}"
        flat[f"{op}_p99_ms"] = f"{a['p99_ms']} -> {b['p99_ms']}"
    return flat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ops", type=int, default=500, help="operations of each kind (50-5000)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 50 <= args.ops <= 5000:
        ap.error("--ops must be 50-5000")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wolfpack-bench-tls-") as tmp:
        result = run(args.ops, Path(tmp))
    result["load_avg_1m"] = round(max(load_before, os.getloadavg()[0]), 2)
    result["machine"] = benchlib.machine()
    benchlib.report(result, RESULTS, as_json=args.json)
    if not args.json:
        print("plain -> secure:")
        for key, value in flatten(result).items():
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
