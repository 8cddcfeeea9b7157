"""A failing fence device is retried with a growing pause, not on every coordinator tick;
a confirmed fence revokes the node's lease at once (DESIGN §2 safety)."""

from __future__ import annotations

from wolfpack.errors import FenceError
from wolfpack.model.config import ClusterConfig
from wolfpack.node.execute import FENCE_BACKOFF_MAX_S, Executor
from wolfpack.node.fencing import FenceKind
from wolfpack.store import KeySpace, MemoryStore


class FlakyFence:
    kind = FenceKind.POWER

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def fence(self, node: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise FenceError(f"{node}: the power switch did not answer")

    def unfence(self, node: str) -> None:
        pass


def executor(fencer: FlakyFence, now: list[float]) -> tuple[Executor, MemoryStore]:
    store = MemoryStore()

    def no_config_change(change: object) -> ClusterConfig:
        raise AssertionError("not expected")

    ex = Executor(store, KeySpace(), fencer, no_config_change, clock=lambda: now[0])
    return ex, store


def test_failed_fences_back_off_and_a_success_revokes_the_lease() -> None:
    now = [100.0]
    fencer = FlakyFence(failures=3)
    ex, store = executor(fencer, now)
    lease = store.lease_grant(30)
    store.put("/wolfpack/leases/nodes/node2", b"{}", lease=lease)
    ticks = 0
    while not ex.fence("node2", lease):  # the coordinator ticks ten times a second
        ticks += 1
        assert ticks < 200, "never fenced"
        now[0] += 0.1
    assert fencer.calls == 4  # three failures, pauses of 1, 2 and 4 s, then success
    assert store.get("/wolfpack/leases/nodes/node2") is None  # the lease is revoked
    # Each pause ends on the next tick after it: at most one tick late per pause.
    assert 100.0 + 1 + 2 + 4 <= now[0] <= 100.0 + 1 + 2 + 4 + 3 * 0.1 + 1e-9


def test_the_pause_is_bounded() -> None:
    now = [0.0]
    fencer = FlakyFence(failures=1000)
    ex, _ = executor(fencer, now)
    for _ in range(10):
        ex.fence("node2", 0)
        now[0] += 1000.0  # far past any pause
    ex.fence("node2", 0)
    calls = fencer.calls
    now[0] += FENCE_BACKOFF_MAX_S + 0.1
    ex.fence("node2", 0)
    assert fencer.calls == calls + 1  # never waits longer than the maximum
