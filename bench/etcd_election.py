"""Node leases across etcd leader elections (safety review M6), on 127.0.0.1 only.

    python bench/etcd_election.py --kills 20 --json

Starts 3 etcd members the way Wolfpack runs them (heartbeat 50 ms, election timeout 500 ms,
--pre-vote), 3 node leases with the default lease settings, each renewing through its own
EtcdStore over every endpoint (1 s per request, as wolfpackd). Then N times: SIGKILL the
leader (by the PID this script started), wait for a new leader, start the killed member
again on its data, wait 1.5 s. Reports how many leases were lost (self-fences: must be 0),
the longest gap between two successful renewals of one lease (the self-fence comes once it
reaches ttl - margin), and the longest election. Writes bench/results/etcd_election.json
and with --json prints a JSON object as the last line. Bounded: every wait has a limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import benchlib

from wolfpack.lab import election

RESULTS = Path(__file__).parent / "results" / "etcd_election.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="leader kills (default 20)")
    ap.add_argument("--election-timeout-ms", type=int, default=500)
    ap.add_argument("--heartbeat-interval-ms", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="print the result as JSON last")
    args = ap.parse_args(argv)
    if not 1 <= args.kills <= 1000:
        ap.error("--kills must be between 1 and 1000")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wolfpack-election-") as work:
        result = election.run(
            Path(work),
            args.kills,
            election_timeout_ms=args.election_timeout_ms,
            heartbeat_interval_ms=args.heartbeat_interval_ms,
            progress=not args.json,
        )
    out = {
        "machine": benchlib.machine(),
        **dataclasses.asdict(result),
        "duration_s": round(time.monotonic() - started, 1),
    }
    benchlib.report(out, RESULTS, as_json=args.json)
    return 0 if result.lease_losses == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
