"""TracedStorage: another backend, with every operation counted and timed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from civiccrm.adapters import (
    Aggregate,
    AggregateRow,
    Capabilities,
    Filter,
    Page,
    Query,
    Record,
    Scalar,
    Schema,
    Storage,
    SupportsAggregates,
    Task,
    UpsertResult,
)
from civiccrm.plugins import open_storage

PREFIX = "traced+"
T = TypeVar("T")


class TracedStorage:
    """
    Wraps the backend named by the rest of the URL (``traced+sqlite:///crm.db`` wraps
    ``sqlite:///crm.db``) and keeps, per operation, how many calls and how many seconds.
    It claims exactly the capabilities of the backend it wraps.
    """

    def __init__(self, url: str) -> None:
        if not url.startswith(PREFIX):
            raise ValueError(f"not a {PREFIX} URL: {url!r}")
        self.url = url
        self.inner: Storage = open_storage(url[len(PREFIX) :])
        self.capabilities: Capabilities = self.inner.capabilities
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"TracedStorage({self.inner!r})"

    def _timed(self, name: str, work: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return work()
        finally:
            spent = time.perf_counter() - start
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                self.seconds[name] = self.seconds.get(name, 0.0) + spent

    def report(self) -> str:
        """One line per operation: calls and total seconds, the most expensive first."""
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return "\n".join(
            f"{name:<14} {self.calls[name]:>8} calls {secs:>9.3f}s" for name, secs in rows
        )

    # The protocol, each method passed through and timed.

    def migrate(self, schema: Schema) -> None:
        self._timed("migrate", lambda: self.inner.migrate(schema))

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def get(self, kind: str, record_id: str) -> Record | None:
        return self._timed("get", lambda: self.inner.get(kind, record_id))

    def get_many(self, kind: str, ids: Sequence[str]) -> list[Record]:
        return self._timed("get_many", lambda: self.inner.get_many(kind, ids))

    def get_by_key(self, kind: str, key: str) -> Record | None:
        return self._timed("get_by_key", lambda: self.inner.get_by_key(kind, key))

    def put(self, record: Record, *, expected_version: int) -> Record:
        return self._timed("put", lambda: self.inner.put(record, expected_version=expected_version))

    def delete(self, kind: str, record_id: str, *, expected_version: int) -> None:
        self._timed(
            "delete", lambda: self.inner.delete(kind, record_id, expected_version=expected_version)
        )

    def bulk_upsert(self, kind: str, records: Iterable[Record]) -> UpsertResult:
        return self._timed("bulk_upsert", lambda: self.inner.bulk_upsert(kind, records))

    def query(self, query: Query) -> Page:
        return self._timed("query", lambda: self.inner.query(query))

    def stream(self, query: Query, *, batch_size: int = 1000) -> Iterator[Record]:
        return self.inner.stream(query, batch_size=batch_size)

    def count(
        self, kind: str, where: Sequence[Filter] = (), *, group_by: str | None = None
    ) -> dict[Scalar, int]:
        return self._timed("count", lambda: self.inner.count(kind, where, group_by=group_by))

    def enqueue(self, topic: str, keys: Sequence[str], *, payload: str = "") -> int:
        return self._timed("enqueue", lambda: self.inner.enqueue(topic, keys, payload=payload))

    def claim(
        self, topic: str, *, worker: str, limit: int, lease_us: int, now_us: int
    ) -> list[Task]:
        return self._timed(
            "claim",
            lambda: self.inner.claim(
                topic, worker=worker, limit=limit, lease_us=lease_us, now_us=now_us
            ),
        )

    def complete(self, topic: str, keys: Sequence[str], *, worker: str) -> int:
        return self._timed("complete", lambda: self.inner.complete(topic, keys, worker=worker))

    def append_audit(self, entries: Sequence[str]) -> list[int]:
        return self._timed("append_audit", lambda: self.inner.append_audit(entries))

    def read_audit(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        return self._timed("read_audit", lambda: self.inner.read_audit(after=after, limit=limit))

    def prune_audit(self, through: int) -> int:
        return self._timed("prune_audit", lambda: self.inner.prune_audit(through))

    def put_key(self, key_id: str, wrapped: bytes) -> None:
        self._timed("put_key", lambda: self.inner.put_key(key_id, wrapped))

    def add_keys(self, keys: Sequence[tuple[str, bytes]]) -> set[str]:
        return self._timed("add_keys", lambda: self.inner.add_keys(keys))

    def aggregate(self, queries: Sequence[Aggregate]) -> list[tuple[AggregateRow, ...]]:
        # Offered only when the wrapped backend has it (its capabilities say so).
        inner = self.inner
        if not isinstance(inner, SupportsAggregates):
            raise NotImplementedError("the wrapped backend has no aggregates")
        return self._timed("aggregate", lambda: inner.aggregate(queries))

    def put_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        self._timed("put_keys", lambda: self.inner.put_keys(keys))

    def get_keys(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        return self._timed("get_keys", lambda: self.inner.get_keys(key_ids))

    def get_key(self, key_id: str) -> bytes | None:
        return self._timed("get_key", lambda: self.inner.get_key(key_id))

    def delete_key(self, key_id: str) -> bool:
        return self._timed("delete_key", lambda: self.inner.delete_key(key_id))

    def list_keys(self, *, after: str = "", limit: int = 1000) -> list[str]:
        return self._timed("list_keys", lambda: self.inner.list_keys(after=after, limit=limit))

    def close(self) -> None:
        self.inner.close()
