"""Which link a packet to an address would leave by, and whether that link is usable: so a
best-effort call over a network this node has just lost (a Network Name's deregistration
after the client cable was pulled) is skipped at once instead of waiting seconds for ARP
to give up (S41)."""

from __future__ import annotations

from wolfpack.resources.netlink import IPRoute, NetlinkError

__all__ = ["lost_link_toward"]

_IFF_UP = 0x1
_IFF_LOWER_UP = 0x10000


def lost_link_toward(address: str) -> str | None:
    """The name of the link the route to ``address`` uses, if it is down or has no carrier
    (this node's own network namespace); None when it is usable, there is no such route,
    or netlink cannot say (then the caller just tries)."""
    try:
        with IPRoute() as ipr:
            routes = ipr.route("get", dst=address)
            oif = routes[0].get_attr("RTA_OIF") if routes else None
            if oif is None:
                return None
            (link,) = ipr.link("get", index=int(oif))
    except (OSError, NetlinkError, ValueError):
        return None
    flags = int(link["flags"])
    if flags & (_IFF_UP | _IFF_LOWER_UP) == (_IFF_UP | _IFF_LOWER_UP):
        return None
    return str(link.get_attr("IFLA_IFNAME"))
