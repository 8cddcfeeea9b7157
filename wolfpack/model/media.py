"""Media sense (S41): when a link's loss, or its return, counts.

A link that loses carrier for a moment (a flapping cable, a switch port renegotiating, a
peer rebooting its NIC) must not move a group: a loss counts only once the link has been
unusable for ``window_s`` without a break, and a return only once it has been usable that
long. The node uses the heartbeat miss window (interval x threshold), so a cable cut is
acted on exactly when a silent heartbeat path would have been noticed anyway.

:class:`MediaSense` is pure (time is an argument, no I/O, not thread-safe): the node's link
monitor (:mod:`wolfpack.node.links`) feeds it what netlink says and asks what has settled.
"""

from __future__ import annotations

from dataclasses import dataclass

from wolfpack.errors import ValidationError
from wolfpack.model.links import LinkCondition


@dataclass(frozen=True)
class Change:
    """A settled change of one link: ``lasted_s`` is how long the new condition had held."""

    key: str
    old: LinkCondition
    new: LinkCondition
    lasted_s: float

    @property
    def lost(self) -> bool:
        """The link became unusable (the moment a dependent resource fails)."""
        return self.old.usable and not self.new.usable

    @property
    def restored(self) -> bool:
        return not self.old.usable and self.new.usable


@dataclass
class _Link:
    settled: LinkCondition
    raw: LinkCondition
    since: float  # when ``raw.usable`` last flipped


class MediaSense:
    """Debounces link conditions, by key (a link name, an interface name: any string)."""

    def __init__(self, window_s: float) -> None:
        if not window_s >= 0:
            raise ValidationError.single("window_s", f"{window_s} must not be negative")
        self.window_s = window_s
        self._links: dict[str, _Link] = {}

    def observe(self, key: str, raw: LinkCondition, now: float) -> None:
        """What the link is at ``now``. The first observation of a key settles at once:
        without a history there is no flap to wait out (a node that starts with a cable
        unplugged reports it unplugged)."""
        link = self._links.get(key)
        if link is None:
            self._links[key] = _Link(raw, raw, now)
            return
        if raw.usable != link.raw.usable:
            link.since = now
        link.raw = raw

    def settle(self, now: float) -> list[Change]:
        """The changes that have lasted the window by ``now``, each reported once. A change
        between two unusable conditions (no carrier, then set down) of a link already lost
        is only a new reason: it settles at once."""
        out: list[Change] = []
        for key, link in sorted(self._links.items()):
            if link.raw == link.settled:
                continue
            same_side = link.raw.usable == link.settled.usable
            if same_side or now - link.since >= self.window_s:
                out.append(Change(key, link.settled, link.raw, max(0.0, now - link.since)))
                link.settled = link.raw
        return out

    def condition(self, key: str) -> LinkCondition | None:
        """The settled condition (None: never observed)."""
        link = self._links.get(key)
        return link.settled if link is not None else None

    def next_deadline(self) -> float | None:
        """When the next pending change settles unless the link flips back first."""
        ends = [
            link.since + self.window_s
            for link in self._links.values()
            if link.raw.usable != link.settled.usable
        ]
        return min(ends, default=None)

    def forget(self, keep: set[str]) -> None:
        """Drop every key but ``keep`` (links no longer watched)."""
        for key in set(self._links) - keep:
            del self._links[key]
