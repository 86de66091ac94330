"""Conformance: optimistic concurrency under threads, and between two backend objects."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from civiccrm.adapters._base import Query, Storage
from civiccrm.errors import ConflictError
from civiccrm.testing._fixtures import Reopener, case, require

__all__ = ["ConcurrencyConformance", "run_threads"]

T = TypeVar("T")


def run_threads(n: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """
    Run ``work(i, barrier)`` in ``n`` threads at once and return their results; an
    exception in any thread is raised here. ``work`` should wait on the barrier before
    it starts, so that the threads really overlap.
    """
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(n)]
        return [f.result() for f in futures]


class _Rollback(Exception):
    """Raised on purpose to roll a transaction back."""


class ConcurrencyConformance:
    """
    Optimistic concurrency holds under contention: from many threads on one backend
    object (``capabilities.thread_safe``), and between two backend objects on the same
    database (``capabilities.multi_process``, with ``storage_reopener``).

    .. versionadded:: 0.1.0
    """

    def test_optimistic_increments_from_threads(self, storage: Storage) -> None:
        """8 threads x 100 read-increment-write loops, retrying on ConflictError, end at 800."""
        require(storage, "thread_safe")
        storage.put(case("counter", {"n": 0}, priority=0), expected_version=0)

        def work(_: int, barrier: threading.Barrier) -> int:
            conflicts = 0
            barrier.wait()
            for _ in range(100):
                while True:
                    current = storage.get("case", "counter")
                    assert current is not None
                    n = json.loads(current.doc)["n"]
                    try:
                        storage.put(
                            case("counter", {"n": n + 1}, priority=n + 1),
                            expected_version=current.version,
                        )
                        break
                    except ConflictError:
                        conflicts += 1
            return conflicts

        run_threads(8, work)
        final = storage.get("case", "counter")
        assert final is not None
        assert (
            json.loads(final.doc)["n"],
            final.columns["priority"],
            final.version,
        ) == (800, 800, 801)

    def test_concurrent_transactions(self, storage: Storage) -> None:
        """Threads running transactions at once: committed ones are whole, rolled-back ones gone."""
        require(storage, "thread_safe")

        def work(i: int, barrier: threading.Barrier) -> None:
            barrier.wait()
            for j in range(20):
                with storage.transaction():
                    storage.put(case(f"t{i}-{j}-a", queue=f"t{i}"), expected_version=0)
                    storage.put(case(f"t{i}-{j}-b", queue=f"t{i}"), expected_version=0)
                try:
                    with storage.transaction():
                        storage.put(case(f"t{i}-{j}-gone", queue="gone"), expected_version=0)
                        raise _Rollback
                except _Rollback:
                    pass
                found = storage.query(Query("case", limit=5))
                assert len(found.records) <= 5

        run_threads(4, work)
        assert {f"t{i}": 40 for i in range(4)} == storage.count("case", group_by="queue")

    def test_two_backend_objects_on_one_database(self, storage: Storage, reopen: Reopener) -> None:
        """
        Two backend objects on the same database see each other's committed writes, and
        a stale write through either raises ConflictError.
        """
        require(storage, "multi_process")
        other = reopen.another()
        first = storage.put(case("c1", {"n": 1}, external_id="x1"), expected_version=0)
        assert first == other.get("case", "c1")
        assert first == other.get_by_key("case", "x1")
        storage.put(case("c1", {"n": 2}, external_id="x1"), expected_version=1)
        with pytest.raises(ConflictError) as info:
            other.put(case("c1", {"n": "stale"}), expected_version=1)
        assert (info.value.expected_version, info.value.actual_version) == (1, 2)
        with pytest.raises(ConflictError):
            other.delete("case", "c1", expected_version=1)
        other.put(case("c2"), expected_version=0)
        with pytest.raises(ConflictError):
            storage.put(case("c2", {"second": True}), expected_version=0)
        assert storage.enqueue("topic", ["k"]) == 1
        assert other.enqueue("topic", ["k"]) == 0
        claimed = storage.claim("topic", worker="a", limit=5, lease_us=1_000, now_us=0)
        assert [t.key for t in claimed] == ["k"]
        assert other.claim("topic", worker="b", limit=5, lease_us=1_000, now_us=10) == []
        seqs = storage.append_audit(["one"]) + other.append_audit(["two"])
        assert seqs == sorted(set(seqs))
        got = other.get("case", "c1")
        assert got is not None
        assert (got.version, json.loads(got.doc)) == (2, {"n": 2})
