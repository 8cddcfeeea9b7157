"""REST API throughput and write latency, on a local 3-node cluster (loopback only).

    python bench/api.py --seconds 10 --json

Starts etcd and three wolfpackd (each serving its API on its own 127.0.0.1 port), makes an
admin token, then runs 50 concurrent clients (asyncio + httpx, spread over the three APIs
and over --procs client processes so the clients are not the bottleneck):

- reads: the first half of the time, every client loops on GET /api/v1/cluster (the whole
  cluster document); reads_per_s counts the answers with status 200.
- writes: the second half, one client changes a group's description (PATCH, acknowledged:
  validated, stored in etcd, audited) over and over while the 49 others keep reading at
  1000 reads/s together (the read target, not flat out: latency under saturation only
  measures the queue); write_p50_ms / write_p99_ms are the latencies of those changes.
- writes alone: then a quarter of the time the same changes with no reader at all
  (write_alone_p50_ms / write_alone_p99_ms), the latency the cluster itself adds.

``--plain-etcd`` runs etcd without TLS or authentication, as before issue 11 (what they
cost, side by side). Prints a table, writes bench/results/api.json (api-plain-etcd.json),
and with --json prints a JSON object as the last line. Bounded: every phase and request has
a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import httpx

from wolfpack.admin import tokens
from wolfpack.lab.localcluster import LocalCluster, wait_for

RESULTS = Path(__file__).parent / "results" / "api.json"
GROUP = "Bench"
CLIENTS = 50
READ_LOAD = 1000.0  # reads/s the other 49 clients make together while writes are timed
REQUEST_TIMEOUT_S = 10.0


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET over asyncio streams, for the readers: httpx costs
    more CPU per request than the server does, and on a 2-core machine the clients would
    measure themselves. Writes go through httpx."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, token: str
    ) -> None:
        self.reader, self.writer = reader, writer
        self.head = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()

    @classmethod
    async def open(cls, host: str, port: int, token: str) -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host, token)

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.head)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        body = await self.reader.readexactly(length)
        if status == 200 and not body.startswith(b"{"):
            raise ValueError("not a JSON document")
        return status

    def close(self) -> None:
        self.writer.close()


async def _clients(
    urls: list[str],
    token: str,
    clients: int,
    start: float,
    stop: float,
    writer: bool,
    reader_rate: float,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    reads = errors = 0
    writes: list[float] = []
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S) as c:

        async def reader(i: int) -> None:
            nonlocal reads, errors
            host, port = urls[i % len(urls)].removeprefix("http://").rsplit(":", 1)
            conn = await RawClient.open(host, int(port), token)
            next_at = time.time()
            try:
                while time.time() < stop:
                    if reader_rate:
                        next_at += 1 / reader_rate
                        await asyncio.sleep(max(0.0, next_at - time.time()))
                    try:
                        status = await asyncio.wait_for(
                            conn.get("/api/v1/cluster"), REQUEST_TIMEOUT_S
                        )
                    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                        errors += 1
                        conn.close()
                        conn = await RawClient.open(host, int(port), token)
                        continue
                    if status == 200:
                        reads += 1
                    else:
                        errors += 1
            finally:
                conn.close()

        async def write_loop() -> None:
            nonlocal errors
            n = 0
            url = f"{urls[0]}/api/v1/groups/{GROUP}"
            while time.time() < stop:
                n += 1
                t0 = time.perf_counter()
                try:
                    r = await c.patch(url, json={"description": f"bench {os.getpid()} {n}"})
                except httpx.HTTPError:
                    errors += 1
                    continue
                if r.status_code == 200:
                    writes.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1

        # connect first, so connection set-up is not counted as reading time
        await asyncio.gather(*(c.get(f"{u}/healthz") for u in urls for _ in range(clients // 3)))
        late = max(0.0, time.time() - start)
        await asyncio.sleep(max(0.0, start - time.time()))
        tasks = [reader(i) for i in range(clients - (1 if writer else 0))]
        if writer:
            tasks.append(write_loop())
        await asyncio.gather(*tasks)
    return {"reads": reads, "errors": errors, "writes": writes, "late": late}


def _worker(args: tuple[list[str], str, int, float, float, bool, float], out: Any) -> None:
    out.put(asyncio.run(_clients(*args)))


def phase(
    urls: list[str], token: str, seconds: float, procs: int, *, writer: bool, read_rate: float = 0
) -> dict[str, Any]:
    """Run CLIENTS clients over ``procs`` processes for ``seconds``; merged counts. With
    ``read_rate`` the readers together make that many requests a second (else: flat out)."""
    reader_rate = read_rate / (CLIENTS - 1) if read_rate else 0.0
    start = time.time() + 5.0  # every process starts, connects and waits for the same start
    stop = start + seconds
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    per = [CLIENTS // procs + (1 if i < CLIENTS % procs else 0) for i in range(procs)]
    workers = [
        ctx.Process(
            target=_worker,
            args=((urls, token, n, start, stop, writer and i == 0, reader_rate), out),
        )
        for i, n in enumerate(per)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    return {
        "reads": sum(r["reads"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "writes": [x for r in results for x in r["writes"]],
        "seconds": seconds,
        "late_s": max(r["late"] for r in results),  # > 0: a client process started late
    }


def run(seconds: float, procs: int, workdir: Path, *, tls: bool = True) -> dict[str, Any]:
    # the API in plain HTTP, as measured before TLS became its default (issue 11): its
    # readers speak raw HTTP/1.1; the figures leave the TLS handshake and record costs out
    with LocalCluster(workdir, tls=tls, daemon_settings={"api": {"tls": False}}) as c:
        c.start_all(timeout=90)  # a busy machine starts daemons slowly
        c.add_app_group(GROUP, preferred=tuple(c.names))
        wait_for(lambda: c.answer(GROUP), timeout=90)
        _, token = tokens.create(c.db, "bench", "admin")
        urls = [c.api_url(n) for n in c.names]
        reads = phase(urls, token, seconds / 2, procs, writer=False)
        mixed = phase(urls, token, seconds / 2, procs, writer=True, read_rate=READ_LOAD)
        alone = asyncio.run(_clients(urls, token, 1, time.time(), time.time() + seconds / 4,
                                     True, 0.0))  # fmt: skip
    writes = mixed["writes"]
    solo = alone["writes"]
    return {
        "seconds": seconds,
        "clients": CLIENTS,
        "reads_per_s": round(reads["reads"] / reads["seconds"], 1),
        "reads_per_s_while_writing": round(mixed["reads"] / mixed["seconds"], 1),
        "read_load_while_writing": READ_LOAD,
        "writes": len(writes),
        "write_p50_ms": round(statistics.median(writes), 2) if writes else None,
        "write_p99_ms": round(benchlib.percentile(writes, 99), 2) if writes else None,
        "write_max_ms": round(max(writes), 2) if writes else None,
        "write_alone_p50_ms": round(statistics.median(solo), 2) if solo else None,
        "write_alone_p99_ms": round(benchlib.percentile(solo, 99), 2) if solo else None,
        "errors": reads["errors"] + mixed["errors"],
        "clients_late_s": max(reads["late_s"], mixed["late_s"]),
        "client_processes": procs,
        "etcd": "TLS, authentication on" if tls else "plain (--plain-etcd)",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--plain-etcd",
        action="store_true",
        help="etcd without TLS or authentication (etcd.insecure), to measure what they cost",
    )
    args = ap.parse_args()
    if not 2 <= args.seconds <= 300:
        ap.error("--seconds must be 2-300")
    if not 1 <= args.procs <= 8:
        ap.error("--procs must be 1-8")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wolfpack-bench-api-") as tmp:
        result = run(args.seconds, args.procs, Path(tmp), tls=not args.plain_etcd)
    # the machine may be shared: say how busy it was, the figures depend on it
    result["load_avg_1m"] = round(max(load_before, os.getloadavg()[0]), 2)
    result["machine"] = benchlib.machine()
    where = RESULTS.with_name("api-plain-etcd.json") if args.plain_etcd else RESULTS
    benchlib.report(result, where, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
