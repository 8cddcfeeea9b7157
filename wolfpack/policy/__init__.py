"""Pure decisions: ``plan(snapshot, now) -> Plan``. Imports only :mod:`wolfpack.model`."""

from wolfpack.policy.engine import plan
from wolfpack.policy.explain import check_move, explain

__all__ = ["check_move", "explain", "plan"]
