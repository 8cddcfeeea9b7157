"""A client that asks a clustered service every 50 ms and records each answer (lab, bench).

    python -m wolfpack.lab.probe_client http http://www.cluster.test/ --out web.jsonl
    python -m wolfpack.lab.probe_client sql sql.cluster.test --password PW --out sql.jsonl
    python -m wolfpack.lab.probe_client write sql.cluster.test --password PW --out rows.jsonl \
        --query "INSERT INTO t (id) VALUES ({n}) RETURNING id"

Run on the lab's ``client`` host (``wolfpack lab exec client -- ...``), it sees the service
as a client would: the name resolved through the lab's DNS on every try, a fresh connection
each time (a connection to a node that lost power would hang, not fail). A try starts every
interval whether or not the earlier ones have finished (each in a thread, bounded by
:data:`TRY_TIMEOUT_S`), so a try hanging on a dead address does not blur the record: its
resolution is the interval. One JSON line per try, in the order they end:
``{"t": <start>, "ok": true, "answer": "node2", "end": <end>}`` (monotonic seconds;
``answer``: the node a page names, or the SQL query's first column). ``write`` is the
SQL writer of the chaos suite: try ``n`` runs the query with ``{n}`` replaced by ``n``
(1, 2, ...) in a transaction of its own, and its line (``"answer": "<n>"``) is written
only once the commit was acknowledged: the rows the client was told are committed. Stops after
``--duration`` seconds or on SIGTERM.

:func:`outages` turns such a record into the gaps a client saw.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

__all__ = ["Gap", "Sample", "changeover", "outages", "read_samples"]

INTERVAL_S = 0.05
TRY_TIMEOUT_S = 1.0
#: tries that may be under way at once (a hanging try ends at its timeout)
MAX_TRIES = 64
_NODE = re.compile(r"\bnode\d+\b")


#: a silence between two answers this long is an outage even if no try failed in it (the
#: tries sent meanwhile hung and were answered late); shorter ones are scheduling noise
SILENCE_S = 0.3


@dataclass(frozen=True)
class Sample:
    t: float  # when the try started
    ok: bool
    answer: str
    end: float  # when it ended: for an answer, when the client had it


@dataclass(frozen=True)
class Gap:
    """From the last answer the client had before an outage to the first one after it."""

    start: float
    end: float
    before: str
    after: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def read_samples(path: Path) -> list[Sample]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            doc = json.loads(line)
            t = float(doc["t"])
            end = float(doc.get("end", t))
            out.append(Sample(t, bool(doc["ok"]), str(doc.get("answer", "")), end))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a kill
    return sorted(out, key=lambda s: s.t)


def outages(samples: Sequence[Sample], after: float = float("-inf")) -> list[Gap]:
    """The outages a client saw, ending after ``after``: between two answers in a row (by
    when they arrived) where a try that started failed, or nothing arrived for
    :data:`SILENCE_S` (tries that hung and were answered late do not hide an outage)."""
    answers = sorted((s for s in samples if s.ok), key=lambda s: s.end)
    failed = sorted(s.t for s in samples if not s.ok)
    gaps: list[Gap] = []
    for a, b in itertools.pairwise(answers):
        if b.end < after:
            continue
        i = bisect.bisect_left(failed, a.end)
        if (i < len(failed) and failed[i] < b.end) or b.end - a.end >= SILENCE_S:
            gaps.append(Gap(a.end, b.end, a.answer, b.answer))
    return gaps


def changeover(samples: Sequence[Sample], after: float) -> Gap | None:
    """From the last answer as it was before ``after`` to the first different one (by
    arrival): what a client saw of a failover that began at ``after``, however short.
    None if the answer never changed (the service did not move, or the record stops)."""
    answers = sorted((s for s in samples if s.ok), key=lambda s: s.end)
    before = [s for s in answers if s.end < after]
    if not before:
        return None
    old = before[-1].answer
    last_old = max((s for s in answers if s.answer == old), key=lambda s: s.end)
    new = next((s for s in answers if s.end > last_old.end and s.answer != old), None)
    return None if new is None else Gap(last_old.end, new.end, old, new.answer)


def http_try(url: str) -> str:
    """The node a page names (or its first 40 characters). A reply cut short is a failure,
    not an answer: a server killed mid-reply (a power-off) closes the connection after the
    headers, and ``read(4096)`` returned the empty rest as an answer '' (CI22: a power-off's
    gap then began with '' instead of the old node). The whole body is read (the lab's pages
    are a few hundred bytes), so a cut one raises ``IncompleteRead``; an empty body raises
    too (every lab page has content)."""
    with urllib.request.urlopen(url, timeout=TRY_TIMEOUT_S) as reply:
        body = reply.read().decode(errors="replace")
    if not body.strip():
        raise OSError("an empty reply (the server went away mid-reply)")
    match = _NODE.search(body)
    return match.group(0) if match else body.strip()[:40]


def sql_try(host: str, port: int, password: str, query: str) -> str:
    import psycopg  # only the SQL client needs it

    # A TCP connect bounded by our own timeout first: libpq's connect_timeout is >= 2 s.
    address = socket.gethostbyname(host)
    with socket.create_connection((address, port), timeout=TRY_TIMEOUT_S):
        pass
    with psycopg.connect(
        host=address, port=port, user="postgres", password=password, dbname="postgres",
        connect_timeout=2, options=f"-c statement_timeout={int(TRY_TIMEOUT_S * 1000)}",
    ) as conn:  # fmt: skip
        row = conn.execute(query).fetchone()
    return "" if row is None else str(row[0])


def run(attempt: Callable[[], str], out: Path, duration_s: float, interval_s: float) -> None:
    stop = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    end = time.monotonic() + duration_s
    lock = threading.Lock()

    def one(f: TextIO, t: float) -> None:
        try:
            doc: dict[str, object] = {"t": t, "ok": True, "answer": attempt()}
        except Exception as exc:  # any failure of a try is a data point, not an end
            doc = {"t": t, "ok": False, "error": type(exc).__name__}
        doc["end"] = time.monotonic()
        with lock:
            f.write(json.dumps(doc) + "\n")

    with out.open("a", buffering=1) as f, ThreadPoolExecutor(MAX_TRIES) as pool:
        while not stop and time.monotonic() < end:
            t = time.monotonic()
            pool.submit(one, f, t)
            time.sleep(max(0.0, t + interval_s - time.monotonic()))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wolfpack.lab.probe_client", description=__doc__)
    ap.add_argument("kind", choices=("http", "sql", "write"))
    ap.add_argument("target", help="URL (http) or host name (sql)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--interval", type=float, default=INTERVAL_S)
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--password", default="")
    ap.add_argument("--query", default="SELECT 1")
    args = ap.parse_args(argv)
    if not 0 < args.duration <= 3600 or not 0.01 <= args.interval <= 10:
        print("probe_client: --duration must be in (0, 3600], --interval in [0.01, 10]")
        return 2
    if args.kind == "http":
        target: str = args.target

        def attempt() -> str:
            return http_try(target)
    elif args.kind == "write":
        if "{n}" not in args.query:
            print("probe_client: --query: a write needs {n} where the row's number goes")
            return 2
        numbers, lock = itertools.count(1), threading.Lock()

        def attempt() -> str:
            with lock:
                n = next(numbers)
            return sql_try(args.target, args.port, args.password, args.query.replace("{n}", str(n)))
    else:

        def attempt() -> str:
            return sql_try(args.target, args.port, args.password, args.query)

    run(attempt, args.out, args.duration, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
