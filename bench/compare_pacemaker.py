"""Pacemaker + Corosync for bench/compare.py: a group of IPaddr2 and nginx, three nodes.

Each node runs ``corosync -f`` and ``pacemakerd -f`` in its node shell
(:meth:`compare_lab.PeerLab.start`): its network namespace (libqb's IPC uses abstract unix
sockets, one set per network namespace) and its own mount namespace in which private
copies of ``/etc/corosync``, ``/var/lib/corosync``, ``/var/lib/pacemaker``,
``/var/log/pacemaker``, ``/var/log/corosync`` and ``/run`` are bind-mounted and ``/dev/shm``
is a tmpfs of its own (libqb's ring buffers). Corosync speaks knet over UDP on the private
network (no crypto: a lab).

The cluster: ``stonith-enabled=false`` but in ``fenced`` (a node that vanishes is assumed
to be off, which in this lab it is), ``no-quorum-policy`` at its default (stop),
``resource-stickiness=100`` so that nothing moves back when a node is powered on again
(the next run powers off wherever the group is; a stickiness changes no failover time), and
group ``web``: ``ocf:heartbeat:IPaddr2`` 198.51.100.20/24 on eth0, then
``ocf:heartbeat:nginx`` with the lab's nginx.conf (the pid file is under the node's own
/run, so a probe on another node never sees this node's nginx), each with a 10 s monitor.

- ``defaults``: Corosync's own timings (``token`` 3000 ms, plus ``token_coefficient`` 650 ms
  for the third node; ``consensus`` 1.2 x token).
- ``tuned``: ``token: 1000``, ``token_coefficient: 0`` (corosync.conf(5): "applications may
  require faster failure detection times which can be achieved by reducing the token
  timeout"). Pacemaker has no setting on this path: a lost node is acted on as soon as
  Corosync reports it.
- ``fenced``: the defaults' timings with fencing, as Wolfpack's lab runs:
  ``stonith-enabled=true``, ``stonith-action=off`` and a stonith device whose agent
  (bench/compare_fence.py) does the lab's power-off, so the survivors start ``web`` only
  once the lost node is confirmed off.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from compare_lab import NODES, VIP, Mount, PeerLab, wait

from wolfpack.errors import WolfpackError
from wolfpack.lab.layout import PUB_IF, node_number, private_address
from wolfpack.lab.state import locked

TUNED_TOTEM = "  token: 1000\n  token_coefficient: 0\n"
#: configuration -> (what it adds to corosync.conf's totem section, whether it fences)
CONFIGS = {"defaults": ("", False), "tuned": (TUNED_TOTEM, False), "fenced": ("", True)}
#: the lab fence agent's command (bench/compare_fence.py), where Pacemaker's fencer looks
AGENT = Path("/usr/sbin/fence_wolfpack_compare")
#: system directory -> (the node's own copy, made from the system's on first use)
PRIVATE = {
    "/etc/corosync": "etc-corosync",
    "/var/lib/corosync": "var-lib-corosync",
    "/var/lib/pacemaker": "var-lib-pacemaker",
    "/var/log/pacemaker": "var-log-pacemaker",
    "/var/log/corosync": "var-log-corosync",
}
FORM_S = 120.0  # Pacemaker's dc-deadtime alone is 20 s at the first start


def resources_xml(nginx_conf: str) -> str:
    def nv(rsc: str, name: str, value: str) -> str:
        return f'<nvpair id="{rsc}-{name}" name="{name}" value="{value}"/>'

    def primitive(rsc: str, agent: str, params: list[tuple[str, str]]) -> str:
        pairs = "".join(nv(rsc, k, v) for k, v in params)
        return (
            f'<primitive id="{rsc}" class="ocf" provider="heartbeat" type="{agent}">'
            f'<instance_attributes id="{rsc}-ia">{pairs}</instance_attributes>'
            f'<operations><op id="{rsc}-mon" name="monitor" interval="10s"/></operations>'
            "</primitive>"
        )

    return (
        '<group id="web">'
        + primitive("vip", "IPaddr2", [("ip", VIP), ("cidr_netmask", "24"), ("nic", PUB_IF)])
        + primitive("nginx", "nginx", [("configfile", nginx_conf), ("httpd", "/usr/sbin/nginx")])
        + "</group>"
    )


FENCE_XML = (
    f'<primitive id="fence-lab" class="stonith" type="{AGENT.name}">'
    '<instance_attributes id="fence-lab-ia">'
    '<nvpair id="fence-lab-hosts" name="pcmk_host_list" value="node1 node2 node3"/>'
    "</instance_attributes>"
    '<operations><op id="fence-lab-mon" name="monitor" interval="60s"/></operations>'
    "</primitive>"
)


class Pacemaker:
    name = "pacemaker"

    def __init__(self, lab: PeerLab, config: str) -> None:
        self.lab = lab
        self.totem, self.fenced = CONFIGS[config]

    def corosync_conf(self) -> str:
        nodes = "".join(
            f"  node {{\n    ring0_addr: {private_address(n)}\n    name: {n}\n"
            f"    nodeid: {node_number(n)}\n  }}\n"
            for n in NODES
        )
        return (
            "# bench/compare.py\n"
            "totem {\n  version: 2\n  cluster_name: compare\n  transport: knet\n"
            f"  crypto_cipher: none\n  crypto_hash: none\n{self.totem}}}\n"
            f"nodelist {{\n{nodes}}}\n"
            "quorum {\n  provider: corosync_votequorum\n}\n"
            "logging {\n  to_logfile: yes\n  logfile: /var/log/corosync/corosync.log\n"
            "  to_syslog: no\n  to_stderr: no\n  timestamp: on\n}\n"
        )

    def start(self, node: str) -> None:
        mounts = [Mount(str(self.lab.own(node, own, system)), system)
                  for system, own in PRIVATE.items()]  # fmt: skip
        (self.lab.own(node, "etc-corosync", "/etc/corosync") / "corosync.conf").write_text(
            self.corosync_conf()
        )
        script = (
            "mount -t tmpfs -o mode=1777 tmpfs /dev/shm && "
            "install -d -o hacluster -g haclient -m 0750 /run/crm && "
            "install -d -m 0755 /run/resource-agents && "
            "{ corosync -f & } && i=0 && "
            "until corosync-cfgtool -s >/dev/null 2>&1; do "
            "i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done && "
            "exec pacemakerd"
        )
        self.lab.start(node, "pacemaker", script, mounts)

    def status(self, node: str) -> ET.Element:
        """``crm_mon``'s XML as ``node`` sees it."""
        return ET.fromstring(self.lab.run(node, ["crm_mon", "-1", "--output-as=xml"]))

    def view(self, node: str) -> tuple[list[str], str | None, str | None]:
        """(online nodes, the node ``web``'s nginx is started on, the DC) as ``node`` sees."""
        doc = self.status(node)
        online = [n.get("name", "") for n in doc.iter("node") if n.get("online") == "true"]
        owner = None
        for rsc in doc.iter("resource"):
            if rsc.get("id") == "nginx" and rsc.get("role") == "Started":
                where = rsc.find("node")
                owner = None if where is None else where.get("name")
        dc = doc.find("summary/current_dc")
        dc_name = None if dc is None or dc.get("present") != "true" else dc.get("name")
        return sorted(online), owner, dc_name

    def up(self) -> None:
        for node in NODES:
            self.start(node)
        wait(lambda: self.view("node1")[0] == NODES and self.view("node1")[2], FORM_S,
             "pacemaker: 3 nodes online and a DC")  # fmt: skip
        properties = {"stonith-enabled": "false"}
        if self.fenced:
            self.install_agent()
            properties = {"stonith-enabled": "true", "stonith-action": "off"}
            self.lab.run("node1", ["cibadmin", "--create", "--scope", "resources",
                                   "--xml-text", FENCE_XML])  # fmt: skip
        for key, value in properties.items():
            self.lab.run("node1", ["crm_attribute", "--type", "crm_config", "--name", key,
                                   "--update", value])  # fmt: skip
        self.lab.run("node1", ["crm_attribute", "--type", "rsc_defaults", "--name",
                               "resource-stickiness", "--update", "100"])  # fmt: skip
        xml = resources_xml(str(self.lab.nginx_conf()))
        self.lab.run("node1", ["cibadmin", "--create", "--scope", "resources", "--xml-text", xml])

    def install_agent(self) -> None:
        """``/usr/sbin/fence_wolfpack_compare``, recorded in the lab state (removed with the
        lab) before it is written; refused if someone else's is there."""
        state = self.lab.lab_state
        if AGENT.exists():
            raise WolfpackError(f"{AGENT} exists (an earlier run's?): remove it, then retry")
        with locked(self.lab.dir):
            state.files.append(str(AGENT))
            state.save()
        fence = Path(__file__).with_name("compare_fence.py")
        AGENT.write_text(
            f"#!/bin/sh\n# bench/compare.py: removed with the lab in {state.dir}\n"
            f"exec nsenter --mount=/proc/{os.getpid()}/ns/mnt -- {sys.executable} {fence}"
            f' --dir {state.dir} --name {AGENT.name} "$@"\n'
        )
        AGENT.chmod(0o755)

    def settled(self) -> str:
        """The node running ``web``, once every node is online, sees it there and the
        cluster is idle (no transition in progress)."""
        found: list[str] = []

        def check() -> bool:
            views = [self.view(n) for n in NODES]
            owners = {v[1] for v in views}
            if any(v[0] != NODES for v in views) or len(owners) != 1 or None in owners:
                return False
            dc = views[0][2]
            if dc is None:
                return False
            said = self.lab.run("node1", ["crmadmin", "--quiet", f"--status={dc}"])
            if "S_IDLE" not in said:
                return False
            found[:] = [str(next(iter(owners)))]
            return True

        wait(check, FORM_S, "pacemaker: web started and every node online")
        owner = found[0]
        dc = self.view(owner)[2]
        print(f"  pacemaker: web on {owner}, DC {dc}", flush=True)
        if owner not in NODES:
            raise WolfpackError(f"pacemaker: web is on {owner!r}, not a lab node")
        return owner
