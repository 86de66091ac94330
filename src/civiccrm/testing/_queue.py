"""Conformance: the work queue (enqueue, claim under a lease, complete)."""

from __future__ import annotations

import threading

from civiccrm.adapters._base import Storage, Task
from civiccrm.testing._concurrency import run_threads
from civiccrm.testing._fixtures import require

__all__ = ["WorkQueueConformance"]

_LEASE = 60_000_000  # one minute, in microseconds
_T0 = 1_700_000_000_000_000  # a realistic "now", in microseconds since the epoch


class WorkQueueConformance:
    """
    ``enqueue``/``claim``/``complete``: each task goes to one worker at a time under a
    lease, an expired lease makes it claimable again, and only the holder completes it.

    .. versionadded:: 0.1.0
    """

    def test_enqueue_is_idempotent(self, storage: Storage) -> None:
        """A (topic, key) that is queued and not done is not added again."""
        assert storage.enqueue("sla", ["a", "b", "c"]) == 3
        assert storage.enqueue("sla", ["a", "b", "c"]) == 0
        assert storage.enqueue("sla", ["c", "d"]) == 1
        assert storage.enqueue("sla", []) == 0
        claimed = storage.claim("sla", worker="w", limit=100, lease_us=_LEASE, now_us=_T0)
        assert sorted(t.key for t in claimed) == ["a", "b", "c", "d"]

    def test_claim_returns_leased_tasks(self, storage: Storage) -> None:
        """A claimed task carries its topic, key, payload, attempt count and lease end."""
        storage.enqueue("sla", ["a"], payload='{"case": "c1"}')
        claimed = storage.claim("sla", worker="w1", limit=10, lease_us=_LEASE, now_us=_T0)
        assert [Task("sla", "a", '{"case": "c1"}', 1, _T0 + _LEASE)] == claimed

    def test_claim_respects_limit_and_topic(self, storage: Storage) -> None:
        """claim returns at most limit tasks, all from the topic asked for."""
        storage.enqueue("sla", [f"k{i}" for i in range(10)])
        storage.enqueue("purge", ["p"])
        first = storage.claim("sla", worker="w", limit=4, lease_us=_LEASE, now_us=_T0)
        second = storage.claim("sla", worker="w", limit=100, lease_us=_LEASE, now_us=_T0)
        assert (len(first), len(second)) == (4, 6)
        keys = [t.key for t in first + second]
        assert sorted(f"k{i}" for i in range(10)) == sorted(keys)
        assert {"sla"} == {t.topic for t in first + second}
        assert storage.claim("nothing", worker="w", limit=5, lease_us=_LEASE, now_us=_T0) == []

    def test_claim_is_exclusive_while_leased(self, storage: Storage) -> None:
        """Nobody else can claim a task until its lease has expired."""
        storage.enqueue("sla", ["a", "b"])
        mine = storage.claim("sla", worker="w1", limit=1, lease_us=_LEASE, now_us=_T0)
        assert len(mine) == 1
        theirs = storage.claim("sla", worker="w2", limit=10, lease_us=_LEASE, now_us=_T0 + 1)
        assert [t.key for t in theirs] != [t.key for t in mine]
        assert len(theirs) == 1
        late = _T0 + _LEASE - 1
        assert storage.claim("sla", worker="w3", limit=10, lease_us=_LEASE, now_us=late) == []

    def test_expired_lease_is_claimable_again(self, storage: Storage) -> None:
        """After its lease ends the task can be claimed again, with one more attempt."""
        storage.enqueue("sla", ["a"], payload="p")
        storage.claim("sla", worker="w1", limit=1, lease_us=_LEASE, now_us=_T0)
        later = _T0 + _LEASE + 1
        again = storage.claim("sla", worker="w2", limit=1, lease_us=_LEASE, now_us=later)
        assert [Task("sla", "a", "p", 2, later + _LEASE)] == again

    def test_complete_only_by_the_holder(self, storage: Storage) -> None:
        """Only the worker holding the lease completes a task; a done task is never claimed."""
        storage.enqueue("sla", ["a", "b"])
        storage.claim("sla", worker="w1", limit=2, lease_us=_LEASE, now_us=_T0)
        assert storage.complete("sla", ["a", "b"], worker="intruder") == 0
        later = _T0 + _LEASE + 1
        stolen = storage.claim("sla", worker="w2", limit=1, lease_us=_LEASE, now_us=later)
        assert len(stolen) == 1
        taken, left = stolen[0].key, ({"a", "b"} - {stolen[0].key}).pop()
        assert storage.complete("sla", [taken], worker="w1") == 0
        assert storage.complete("sla", [left], worker="w1") == 1
        assert storage.complete("sla", [taken, "unknown"], worker="w2") == 1
        assert storage.complete("sla", [taken], worker="w2") == 0
        much_later = later + 10 * _LEASE
        assert storage.claim("sla", worker="w3", limit=10, lease_us=_LEASE, now_us=much_later) == []

    def test_a_done_task_can_be_enqueued_again(self, storage: Storage) -> None:
        """Once a task is done, enqueueing its key adds it anew."""
        storage.enqueue("sla", ["a"])
        storage.claim("sla", worker="w", limit=1, lease_us=_LEASE, now_us=_T0)
        assert storage.complete("sla", ["a"], worker="w") == 1
        assert storage.enqueue("sla", ["a"], payload="again") == 1
        claimed = storage.claim("sla", worker="w", limit=1, lease_us=_LEASE, now_us=_T0 + 1)
        assert [(t.key, t.payload) for t in claimed] == [("a", "again")]

    def test_threads_claim_each_task_exactly_once(self, storage: Storage) -> None:
        """4 threads claiming and completing 1,000 tasks get every task exactly once."""
        require(storage, "thread_safe")
        keys = [f"task-{i:04d}" for i in range(1000)]
        assert storage.enqueue("bulk", keys) == 1000

        def work(i: int, barrier: threading.Barrier) -> list[str]:
            mine: list[str] = []
            barrier.wait()
            while True:
                tasks = storage.claim(
                    "bulk", worker=f"w{i}", limit=25, lease_us=_LEASE * 60, now_us=_T0
                )
                if not tasks:
                    return mine
                got = [t.key for t in tasks]
                assert len(got) == storage.complete("bulk", got, worker=f"w{i}")
                mine.extend(got)

        claimed = [key for mine in run_threads(4, work) for key in mine]
        assert keys == sorted(claimed)
        assert storage.claim("bulk", worker="late", limit=10, lease_us=1, now_us=_T0 * 2) == []
