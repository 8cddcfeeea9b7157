"""keepalived for bench/compare.py: a VRRP instance moving the VIP, nginx on every node.

The usual keepalived set-up: nginx runs on every node all the time (it listens on every
address, so it answers on the VIP wherever the VIP is) and keepalived moves only the
address. node1 has the highest priority and preempts (keepalived's default), so after each
power-on the VIP goes back to node1, which the next run powers off again.

- ``defaults``: VRRPv2, ``advert_int 1`` (keepalived.conf(5)'s default): a backup takes
  over after 3 missed adverts plus its skew time (measured: 3.0 s).
- ``tuned``: VRRPv3 (``vrrp_version 3``), whose advert interval is in centiseconds
  (RFC 5798; keepalived.conf(5): "VRRP Advert interval in seconds (e.g. 0.92)"),
  ``advert_int 0.1``: a backup takes over after 3 missed adverts plus its skew time
  (measured: 0.3-0.4 s). VRRPv3 allows down to 0.01 s; at 0.1 s keepalived's detection is
  of the order of Wolfpack's tuned one (0.2 s of silent heartbeats, then 0.2 s of grace).
  keepalived's ``max_auto_priority`` (real-time scheduling, which it suggests at start) is
  not set: on a shared 2-core machine neither system runs real-time.
"""

from __future__ import annotations

import json

from compare_lab import NODES, VIP, PeerLab, wait

from wolfpack.lab.layout import PUB_IF

CONFIGS = {
    "defaults": {"global": "", "advert_int": "1"},
    "tuned": {"global": "  vrrp_version 3\n", "advert_int": "0.1"},
}
PRIORITY = {"node1": 150, "node2": 100, "node3": 50}


class Keepalived:
    name = "keepalived"

    def __init__(self, lab: PeerLab, config: str) -> None:
        self.lab, self.config = lab, CONFIGS[config]

    def conf(self, node: str) -> str:
        return (
            f"# bench/compare.py: keepalived on {node}\n"
            f"global_defs {{\n  router_id {node}\n{self.config['global']}}}\n"
            "vrrp_instance web {\n  state BACKUP\n"
            f"  interface {PUB_IF}\n  virtual_router_id 51\n  priority {PRIORITY[node]}\n"
            f"  advert_int {self.config['advert_int']}\n"
            f"  virtual_ipaddress {{\n    {VIP}/24 dev {PUB_IF}\n  }}\n}}\n"
        )

    def start(self, node: str) -> None:
        conf = self.lab.own(node, "keepalived") / "keepalived.conf"
        conf.write_text(self.conf(node))
        script = (
            f"nginx -c {self.lab.nginx_conf()} && exec keepalived --dont-fork --log-console"
            f" --vrrp -f {conf} -p /run/keepalived.pid -r /run/keepalived-vrrp.pid"
        )
        self.lab.start(node, "keepalived", script, [])

    def holders(self) -> list[str]:
        """The nodes that have the VIP on their public interface."""
        state = self.lab.lab_state
        out = []
        for node in NODES:
            if node in state.powered_off:
                continue
            text = self.lab.run(node, ["ip", "-j", "addr", "show", "dev", PUB_IF])
            addrs = [a["local"] for i in json.loads(text) for a in i.get("addr_info", [])]
            if VIP in addrs:
                out.append(node)
        return out

    def up(self) -> None:
        for node in NODES:
            self.start(node)

    def settled(self) -> str:
        """node1, once it alone holds the VIP (preempted back after a power-on)."""
        wait(lambda: self.holders() == ["node1"], 60.0, "keepalived: the VIP on node1 alone")
        return "node1"
