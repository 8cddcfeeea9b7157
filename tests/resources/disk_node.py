"""A stand-in for one node's wolfpackd, driving one Physical Disk agent (tests only).

Run it inside ``unshare --mount --propagation private`` so that everything the agent mounts
lives in this process's own mount namespace and vanishes with it; the host's mount table is
never touched. It holds a real node lease in a real etcd (:class:`NodeLease`) and gives the
agent real claims (:class:`LeaseClaims`), as the daemon does.

Protocol: argv[1] is a JSON document (endpoint, prefix, node, run_dir, resource, properties);
then one JSON request per stdin line, one JSON answer per stdout line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wolfpack.errors import WolfpackError
from wolfpack.model.builtin_types import PHYSICAL_DISK, builtin_types
from wolfpack.model.config import Resource
from wolfpack.node.claims import LeaseClaims
from wolfpack.node.lease import NodeLease
from wolfpack.resources import Agent, AgentContext, AgentError, create_agent
from wolfpack.store import EtcdStore, KeySpace
from wolfpack.store.etcd_tls import EtcdCredentials


class Node:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        env = cfg["etcd"]
        creds = None
        if "WOLFPACK_ETCD_CA" in env:
            creds = EtcdCredentials.load(
                Path(env["WOLFPACK_ETCD_CA"]),
                Path(env["WOLFPACK_ETCD_CERT"]),
                Path(env["WOLFPACK_ETCD_KEY"]),
            )
        self.store = EtcdStore(cfg["endpoint"], timeout=2.0, credentials=creds)
        self.keys = KeySpace(cfg["prefix"])
        self.events: list[tuple[str, dict[str, object]]] = []
        self.holders: list[subprocess.Popen[bytes]] = []
        self.lease = self._lease()
        self.agent = self._agent()

    def _lease(self) -> NodeLease:
        lease = NodeLease(self.store, self.keys, self.cfg["node"], {"pid": os.getpid()}, ttl_s=5)
        lease.acquire()
        lease.start()
        return lease

    def _agent(self) -> Agent:
        lease = self.lease
        ctx = AgentContext(
            node=self.cfg["node"],
            run_dir=Path(self.cfg["run_dir"]),
            log=lambda event, fields: self.events.append((event, fields)),
            on_failure=lambda name, why: None,
            register_pid=lambda pid: None,
            unregister_pid=lambda pid: None,
            claims=LeaseClaims(
                self.store,
                self.keys,
                self.cfg["node"],
                lambda: lease.lease_id if lease.valid() else 0,
            ),
        )
        res = Resource(self.cfg["resource"], PHYSICAL_DISK, "g", properties=self.cfg["properties"])
        return create_agent(res, builtin_types()[PHYSICAL_DISK], ctx)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "start":
            self.agent.start(timeout_s=req.get("timeout", 60))
        elif op == "stop":
            self.agent.stop(timeout_s=req.get("timeout", 30))
        elif op in ("looks_alive", "is_alive", "adopt"):
            return {"value": getattr(self.agent, op)()}
        elif op == "restart":  # the daemon dies and comes back: new lease, new agent
            self.lease.stop(revoke=False)
            self.lease = self._lease()
            self.agent = self._agent()
            return {"value": self.agent.adopt(), "lease": self.lease.lease_id}
        elif op == "lease":
            return {"value": self.lease.lease_id}
        elif op == "hold":  # a process with its working directory on the disk
            proc = subprocess.Popen(["sleep", "120"], cwd=req["cwd"])
            self.holders.append(proc)
            return {"value": proc.pid}
        elif op == "unhold":
            for proc in self.holders:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
            self.holders.clear()
        elif op == "events":
            return {"value": self.events}
        else:
            raise ValueError(f"unknown op {op!r}")
        return {}

    def close(self) -> None:
        for proc in self.holders:
            proc.kill()
            proc.wait(10)
        self.lease.stop(revoke=True)
        self.store.close()


def main() -> None:
    node = Node(json.loads(sys.argv[1]))
    print(json.dumps({"ready": os.getpid()}), flush=True)
    try:
        for line in sys.stdin:
            req = json.loads(line)
            if req["op"] == "quit":
                break
            t0 = time.monotonic()
            try:
                answer: dict[str, Any] = {"ok": True, **node.handle(req)}
            except AgentError as exc:
                answer = {"ok": False, "code": str(exc.code), "error": str(exc)}
            except WolfpackError as exc:
                answer = {"ok": False, "code": "wolfpack", "error": str(exc)}
            answer["elapsed"] = time.monotonic() - t0
            print(json.dumps(answer, default=str), flush=True)
    finally:
        node.close()


if __name__ == "__main__":
    main()
