"""Network faults of a lab node's links, as a technician would make them (S41):

- :func:`cut`: pull the cable. The switch-side end of the node's veth (in the lab's fabric
  namespace) goes down, so the node's own interface loses carrier while staying up.
- :func:`set_down`: ``ip link set <ifname> down`` on the node itself (a failed or disabled
  NIC): the interface is administratively down.
- :func:`mend` / :func:`set_up`: undo them.

Only the lab's own namespaces are touched (its prefix), never the machine's links.
"""

from __future__ import annotations

from wolfpack.errors import ValidationError
from wolfpack.lab.layout import PRIV_IF, PUB_IF
from wolfpack.lab.netns import FABRIC, Lab
from wolfpack.lab.state import LabState

__all__ = ["ACTIONS", "IFNAMES", "cut", "ifname", "mend", "set_down", "set_up"]

#: the lab's cluster networks and each node's interface on them
IFNAMES = {"public": PUB_IF, "private": PRIV_IF}


def ifname(network: str) -> str:
    try:
        return IFNAMES[network]
    except KeyError:
        raise ValidationError.single(
            "NETWORK", f"{network!r} is not a lab network ({', '.join(IFNAMES)})"
        ) from None


def _check(state: LabState, node: str) -> None:
    if node not in state.nodes:
        known = ", ".join(state.nodes)
        raise ValidationError.single("NODE", f"{node!r} is not a node of this lab ({known})")


def _fabric_end(node: str, network: str) -> str:
    return f"{node}-{ifname(network)}"  # named by Lab.connect


def cut(state: LabState, node: str, network: str) -> None:
    """Pull ``node``'s cable on ``network``: its interface loses carrier."""
    _check(state, node)
    end = _fabric_end(node, network)
    Lab(state.prefix).ip(FABRIC, ["link", "set", end, "down"], what=f"cut {end}")


def mend(state: LabState, node: str, network: str) -> None:
    _check(state, node)
    end = _fabric_end(node, network)
    Lab(state.prefix).ip(FABRIC, ["link", "set", end, "up"], what=f"mend {end}")


def set_down(state: LabState, node: str, network: str) -> None:
    """``ip link set <if> down`` on ``node``."""
    _check(state, node)
    Lab(state.prefix).set_link(node, ifname(network), up=False)


def set_up(state: LabState, node: str, network: str) -> None:
    _check(state, node)
    Lab(state.prefix).set_link(node, ifname(network), up=True)


#: ``wolfpack lab cable ACTION``: what each does
ACTIONS = {"cut": cut, "mend": mend, "down": set_down, "up": set_up}
