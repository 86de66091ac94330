"""
The in-memory storage backend: the reference implementation of the storage contract,
and the test double users get (``memory://``).

It is simple on purpose: plain dictionaries behind one re-entrant lock, queries
evaluated in Python by :mod:`civiccrm.adapters._evaluate`. Everything is lost when the
object goes away.

- Thread safety: every call holds the lock; a thread inside :meth:`transaction` holds
  it until the transaction ends, so other threads wait and never see its uncommitted
  work.
- Transactions snapshot the whole state on entry and restore it if the block raises,
  so a failed transaction leaves nothing behind. A nested transaction joins the outer
  one.
- Strict input: an unknown kind or column, or a column value of the wrong type, raises
  :class:`~civiccrm.errors.ValidationError` naming it, so that tests running on memory
  catch what a database would reject.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Final

import attrs

from civiccrm.adapters import _aggregate, _evaluate
from civiccrm.adapters._base import (
    Aggregate,
    AggregateRow,
    Capabilities,
    Filter,
    KindSpec,
    Page,
    Query,
    Record,
    Scalar,
    Schema,
    Task,
    UpsertResult,
)
from civiccrm.adapters._evaluate import wrapped_keys
from civiccrm.errors import ConflictError, Problem, StorageError, ValidationError

if TYPE_CHECKING:
    from civiccrm.adapters._base import Storage

__all__ = ["MemoryStorage"]

_BACKEND: Final = "memory"


@attrs.frozen
class _QueuedTask:
    payload: str
    attempts: int = 0
    lease_until: int | None = None
    worker: str | None = None


@attrs.define
class _State:
    """Everything a memory backend holds; copied whole for a transaction's snapshot."""

    schema_version: int | None = None
    kinds: dict[str, KindSpec] = attrs.Factory(dict)
    #: kind -> id -> record (records are frozen and their columns never mutated).
    records: dict[str, dict[str, Record]] = attrs.Factory(dict)
    #: kind -> key column value -> id.
    by_key: dict[str, dict[str, str]] = attrs.Factory(dict)
    #: topic -> key -> task (insertion order is enqueue order); done tasks are removed.
    queue: dict[str, dict[str, _QueuedTask]] = attrs.Factory(dict)
    audit: list[str] = attrs.Factory(list)
    #: How many entries were pruned from the front of the audit log.
    audit_pruned: int = 0

    def copy(self) -> _State:
        return _State(
            schema_version=self.schema_version,
            kinds=dict(self.kinds),
            records={k: dict(v) for k, v in self.records.items()},
            by_key={k: dict(v) for k, v in self.by_key.items()},
            queue={k: dict(v) for k, v in self.queue.items()},
            audit=list(self.audit),
            audit_pruned=self.audit_pruned,
        )


def _check_schema(schema: Schema) -> list[Problem]:
    problems: list[Problem] = []
    seen_kinds: set[str] = set()
    for i, spec in enumerate(schema.kinds):
        at = f"kinds[{i}]"
        if not spec.kind:
            problems.append(Problem(f"{at}.kind", "a kind needs a name"))
        if spec.kind in seen_kinds:
            problems.append(Problem(f"{at}.kind", f"kind {spec.kind!r} is declared twice"))
        seen_kinds.add(spec.kind)
        names: set[str] = set()
        for j, c in enumerate(spec.columns):
            if c.name in names:
                problems.append(
                    Problem(f"{at}.columns[{j}].name", f"column {c.name!r} is declared twice")
                )
            names.add(c.name)
        if spec.key_column is not None:
            if spec.key_column not in names:
                problems.append(
                    Problem(f"{at}.key_column", f"no column {spec.key_column!r} in {spec.kind!r}")
                )
            elif spec.column(spec.key_column).type.value != "text":
                problems.append(
                    Problem(f"{at}.key_column", f"key column {spec.key_column!r} must be TEXT")
                )
        problems.extend(_evaluate.source_problems(spec, at))
        for j, index in enumerate(spec.indexes):
            for name in index.columns:
                if name not in names:
                    problems.append(
                        Problem(
                            f"{at}.indexes[{j}].columns",
                            f"unknown column {name!r} of kind {spec.kind!r}",
                        )
                    )
            problems.extend(
                _evaluate.validate_filters(spec, index.where, path=f"{at}.indexes[{j}].where")
            )
    return problems


class MemoryStorage:
    """
    A storage backend that keeps everything in memory (``memory://``).

    Use it in tests and for small throwaway sessions; it is thread-safe, not persistent,
    and not shared between processes (or between two objects: each
    ``MemoryStorage()`` is its own empty store).

    Args:
        url: ``memory://``, optionally followed by a name that is only kept for display.

    .. versionadded:: 0.1.0
    """

    url: str
    capabilities: Capabilities

    def __init__(self, url: str = "memory://") -> None:
        if not url.startswith("memory://"):
            raise ValidationError.at("url", f"not a memory:// URL: {url!r}")
        self.url = url
        self.capabilities = Capabilities(
            persistent=False, thread_safe=True, multi_process=False, aggregates=True
        )
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self._state = _State()
        #: Wrapped keys: not part of transactions (never rolled back).
        self._keys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryStorage({self.url!r})"

    # ----------------------------------------------------------------------------------
    # Helpers (call with the lock held)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the backend is closed", backend=_BACKEND)

    def _spec(self, kind: str) -> KindSpec:
        spec = self._state.kinds.get(kind)
        if spec is None:
            known = ", ".join(sorted(self._state.kinds)) or "none: call migrate() first"
            raise ValidationError.at("kind", f"unknown kind {kind!r} (kinds: {known})")
        return spec

    @staticmethod
    def _out(record: Record) -> Record:
        # Hand out a copy of the columns, so that callers cannot change what is stored.
        return attrs.evolve(record, columns=dict(record.columns))

    @staticmethod
    def _normalized(spec: KindSpec, columns: Mapping[str, Scalar]) -> dict[str, Scalar]:
        return {c.name: columns.get(c.name) for c in spec.columns}

    def _record_problems(self, spec: KindSpec, record: Record, path: str = "") -> list[Problem]:
        prefix = f"{path}." if path else ""
        problems: list[Problem] = []
        if not isinstance(record.id, str) or not record.id:
            problems.append(Problem(f"{prefix}id", "a record id must be a non-empty string"))
        doc: object = record.doc  # typed str, but callers may pass anything at runtime
        if not isinstance(doc, str):
            problems.append(Problem(f"{prefix}doc", "a document must be a string (JSON text)"))
        problems.extend(_evaluate.validate_columns(spec, record.columns, path=f"{prefix}columns"))
        return problems

    def _write(
        self,
        spec: KindSpec,
        record_id: str,
        doc: str,
        columns: dict[str, Scalar],
        expected_version: int,
    ) -> Record:
        store = self._state.records[spec.kind]
        current = store.get(record_id)
        actual = None if current is None else current.version
        if (expected_version == 0 and current is not None) or (
            expected_version != 0 and actual != expected_version
        ):
            raise ConflictError(
                spec.kind, record_id, expected_version=expected_version, actual_version=actual
            )
        if spec.key_column is not None:
            index = self._state.by_key[spec.kind]
            new_key = columns[spec.key_column]
            if new_key is not None:
                owner = index.get(str(new_key))
                if owner is not None and owner != record_id:
                    raise ValidationError.at(
                        f"columns.{spec.key_column}",
                        f"key {new_key!r} already belongs to {spec.kind} {owner!r}",
                    )
            old_key = None if current is None else current.columns.get(spec.key_column)
            if old_key is not None and old_key != new_key:
                del index[str(old_key)]
            if new_key is not None:
                index[str(new_key)] = record_id
        stored = Record(spec.kind, record_id, expected_version + 1, doc, columns)
        store[record_id] = stored
        return stored

    # ----------------------------------------------------------------------------------
    # Schema and transactions

    def migrate(self, schema: Schema) -> None:
        """Record ``schema``: new kinds start empty, existing records gain or lose columns."""
        problems = _check_schema(schema)
        if problems:
            raise ValidationError(problems, record_type="schema")
        with self._lock:
            self._check_open()
            st = self._state
            if st.schema_version is not None and schema.version < st.schema_version:
                raise StorageError(
                    f"the store is at schema version {st.schema_version}, "
                    f"newer than version {schema.version}",
                    backend=_BACKEND,
                )
            new = st.copy()
            new.schema_version = schema.version
            new.kinds = {spec.kind: spec for spec in schema.kinds}
            for spec in schema.kinds:
                old = st.records.get(spec.kind, {})
                known = st.kinds.get(spec.kind)
                had = set() if known is None else {c.name for c in known.columns}
                # New columns with a source are filled in from the documents.
                fill = [c for c in spec.columns if c.source is not None and c.name not in had]
                new.records[spec.kind] = {
                    rid: attrs.evolve(
                        r,
                        columns=self._normalized(
                            spec,
                            {
                                **r.columns,
                                **{c.name: _evaluate.from_source(c, r.doc) for c in fill},
                            },
                        ),
                    )
                    for rid, r in old.items()
                }
                index: dict[str, str] = {}
                if spec.key_column is not None:
                    for rid, r in new.records[spec.kind].items():
                        key = r.columns[spec.key_column]
                        if key is not None:
                            index[str(key)] = rid
                new.by_key[spec.kind] = index
            self._state = new

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._check_open()
            if self._depth:
                # Nested: join the outer transaction (it rolls back everything, or nothing).
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            snapshot = self._state.copy()
            self._depth = 1
            try:
                yield
            except BaseException:
                self._state = snapshot
                raise
            finally:
                self._depth = 0

    def transaction(self) -> AbstractContextManager[None]:
        """
        Make everything inside atomic. The calling thread holds the backend's lock until
        the block ends; if the block raises, every change made inside it is undone.
        """
        return self._transaction()

    # ----------------------------------------------------------------------------------
    # Records

    def get(self, kind: str, record_id: str) -> Record | None:
        """The record, or None."""
        with self._lock:
            self._check_open()
            self._spec(kind)
            found = self._state.records[kind].get(record_id)
            return None if found is None else self._out(found)

    def get_many(self, kind: str, ids: Sequence[str]) -> list[Record]:
        """The records that exist among ``ids``, in the order of ``ids``."""
        with self._lock:
            self._check_open()
            self._spec(kind)
            store = self._state.records[kind]
            return [self._out(store[i]) for i in ids if i in store]

    def get_by_key(self, kind: str, key: str) -> Record | None:
        """The record whose key column equals ``key``, or None."""
        with self._lock:
            self._check_open()
            spec = self._spec(kind)
            if spec.key_column is None:
                raise ValidationError.at("kind", f"kind {kind!r} has no key column")
            record_id = self._state.by_key[kind].get(key)
            if record_id is None:
                return None
            return self._out(self._state.records[kind][record_id])

    def put(self, record: Record, *, expected_version: int) -> Record:
        """
        Write ``record`` as version ``expected_version + 1`` if the stored version is
        ``expected_version`` (0: it must not exist); else raise ConflictError. A key
        already used by another record raises ValidationError.
        """
        with self._lock:
            self._check_open()
            spec = self._spec(record.kind)
            problems = self._record_problems(spec, record)
            if isinstance(expected_version, bool) or expected_version < 0:
                problems.append(Problem("expected_version", "must be 0 or more"))
            if problems:
                raise ValidationError(problems, record_type=record.kind)
            stored = self._write(
                spec,
                record.id,
                record.doc,
                self._normalized(spec, record.columns),
                expected_version,
            )
            return self._out(stored)

    def delete(self, kind: str, record_id: str, *, expected_version: int) -> None:
        """Delete the record if its stored version is ``expected_version``; else ConflictError."""
        with self._lock:
            self._check_open()
            spec = self._spec(kind)
            store = self._state.records[kind]
            current = store.get(record_id)
            if current is None or current.version != expected_version:
                raise ConflictError(
                    kind,
                    record_id,
                    expected_version=expected_version,
                    actual_version=None if current is None else current.version,
                )
            if spec.key_column is not None:
                key = current.columns.get(spec.key_column)
                if key is not None:
                    del self._state.by_key[kind][str(key)]
            del store[record_id]

    def bulk_upsert(self, kind: str, records: Iterable[Record]) -> UpsertResult:
        """
        Insert or update by the kind's key column, atomically. Every record must have
        a key value (else ValidationError, and nothing is written).
        """
        with self.transaction():
            spec = self._spec(kind)
            key_column = spec.key_column
            if key_column is None:
                raise ValidationError.at("kind", f"kind {kind!r} has no key column to upsert by")
            batch = list(records)
            problems: list[Problem] = []
            for i, r in enumerate(batch):
                if r.kind != kind:
                    problems.append(Problem(f"[{i}].kind", f"expected {kind!r}, got {r.kind!r}"))
                problems.extend(self._record_problems(spec, r, f"[{i}]"))
                if r.columns.get(key_column) is None:
                    problems.append(
                        Problem(f"[{i}].columns.{key_column}", "no value for the key column")
                    )
            if problems:
                raise ValidationError(problems, record_type=kind)
            inserted = updated = unchanged = 0
            for r in batch:
                columns = self._normalized(spec, r.columns)
                existing_id = self._state.by_key[kind].get(str(columns[key_column]))
                if existing_id is None:
                    self._write(spec, r.id, r.doc, columns, 0)
                    inserted += 1
                    continue
                current = self._state.records[kind][existing_id]
                if current.doc == r.doc and dict(current.columns) == columns:
                    unchanged += 1
                    continue
                self._write(spec, existing_id, r.doc, columns, current.version)
                updated += 1
            return UpsertResult(inserted=inserted, updated=updated, unchanged=unchanged)

    # ----------------------------------------------------------------------------------
    # Queries

    def query(self, query: Query) -> Page:
        """One page of records matching ``query``."""
        with self._lock:
            self._check_open()
            _evaluate.validate_query(self._spec(query.kind), query)
            page = _evaluate.select(self._state.records[query.kind].values(), query)
            if query.columns is not None:
                return Page(
                    tuple(_evaluate.project(r, query.columns) for r in page.records), page.next
                )
            return Page(tuple(self._out(r) for r in page.records), page.next)

    def stream(self, query: Query, *, batch_size: int = 1000) -> Iterator[Record]:
        """Every record matching ``query`` (its limit ignored), ``batch_size`` at a time."""
        if isinstance(batch_size, bool) or batch_size < 1:
            raise ValidationError.at("batch_size", "must be 1 or more")
        paged = attrs.evolve(query, limit=batch_size)
        # Validate now, not at the first next().
        with self._lock:
            self._check_open()
            _evaluate.validate_query(self._spec(query.kind), paged)
        return _evaluate.pages(self.query, paged)

    def count(
        self, kind: str, where: Sequence[Filter] = (), *, group_by: str | None = None
    ) -> dict[Scalar, int]:
        """Counts of matching records: ``{None: n}`` ungrouped, else per value of ``group_by``."""
        with self._lock:
            self._check_open()
            spec = self._spec(kind)
            problems = _evaluate.validate_filters(spec, where)
            if group_by is not None and group_by not in {c.name for c in spec.columns}:
                problems.append(
                    Problem("group_by", f"unknown column {group_by!r} of kind {kind!r}")
                )
            if problems:
                raise ValidationError(problems, record_type=f"{kind} count")
            return _evaluate.count(self._state.records[kind].values(), where, group_by=group_by)

    def aggregate(self, queries: Sequence[Aggregate]) -> list[tuple[AggregateRow, ...]]:
        """
        Answer aggregate queries (see :class:`~civiccrm.adapters._base.Aggregate`), in
        Python, under the lock: one snapshot, one pass over each kind's records.
        """
        with self._lock:
            self._check_open()
            kinds = self._state.kinds
            _aggregate.check(kinds.get, queries)
            answers: dict[int, tuple[AggregateRow, ...]] = {}
            by_kind: dict[str, list[int]] = {}
            for i, q in enumerate(queries):
                by_kind.setdefault(q.kind, []).append(i)
            for kind, positions in by_kind.items():
                rows = (r.columns for r in self._state.records[kind].values())
                batch = [queries[i] for i in positions]
                for i, answer in zip(
                    positions, _aggregate.evaluate(kinds[kind], batch, rows), strict=True
                ):
                    answers[i] = answer
            return [answers[i] for i in range(len(queries))]

    # ----------------------------------------------------------------------------------
    # Work queue

    def enqueue(self, topic: str, keys: Sequence[str], *, payload: str = "") -> int:
        """Add tasks; a (topic, key) already queued and not done is left as it is."""
        with self._lock:
            self._check_open()
            tasks = self._state.queue.setdefault(topic, {})
            added = 0
            for key in keys:
                if key not in tasks:
                    tasks[key] = _QueuedTask(payload)
                    added += 1
            return added

    def claim(
        self, topic: str, *, worker: str, limit: int, lease_us: int, now_us: int
    ) -> list[Task]:
        """
        Claim up to ``limit`` tasks (oldest first) that are not done and not under a
        lease ending after ``now_us``; lease them to ``worker`` until ``now_us + lease_us``.
        """
        problems: list[Problem] = []
        if isinstance(limit, bool) or limit < 1:
            problems.append(Problem("limit", "must be 1 or more"))
        if isinstance(lease_us, bool) or lease_us < 1:
            problems.append(Problem("lease_us", "must be 1 or more"))
        if problems:
            raise ValidationError(problems, record_type="claim")
        with self._lock:
            self._check_open()
            tasks = self._state.queue.get(topic, {})
            claimed: list[Task] = []
            lease_until = now_us + lease_us
            for key, task in tasks.items():
                if len(claimed) >= limit:
                    break
                if task.lease_until is not None and task.lease_until > now_us:
                    continue
                tasks[key] = attrs.evolve(
                    task, attempts=task.attempts + 1, lease_until=lease_until, worker=worker
                )
                claimed.append(Task(topic, key, task.payload, task.attempts + 1, lease_until))
            return claimed

    def complete(self, topic: str, keys: Sequence[str], *, worker: str) -> int:
        """Mark tasks done if ``worker`` was the last to claim them. Returns how many."""
        with self._lock:
            self._check_open()
            tasks = self._state.queue.get(topic, {})
            done = 0
            for key in keys:
                task = tasks.get(key)
                if task is not None and task.worker == worker:
                    del tasks[key]
                    done += 1
            return done

    # ----------------------------------------------------------------------------------
    # Audit log and key store

    def append_audit(self, entries: Sequence[str]) -> list[int]:
        """Append opaque audit entries; returns their sequence numbers (1, 2, 3 ...)."""
        with self._lock:
            self._check_open()
            state = self._state
            first = state.audit_pruned + len(state.audit) + 1
            state.audit.extend(entries)
            return list(range(first, state.audit_pruned + len(state.audit) + 1))

    def read_audit(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """Audit entries with a sequence number above ``after``, in order."""
        with self._lock:
            self._check_open()
            base = self._state.audit_pruned
            start = max(after - base, 0)
            chunk = self._state.audit[start : start + max(limit, 0)]
            return [(base + start + 1 + i, entry) for i, entry in enumerate(chunk)]

    def prune_audit(self, through: int) -> int:
        """Delete the audit entries numbered up to ``through``; returns how many."""
        with self._lock:
            self._check_open()
            state = self._state
            n = min(max(through - state.audit_pruned, 0), len(state.audit))
            del state.audit[:n]
            state.audit_pruned += n
            return n

    def put_key(self, key_id: str, wrapped: bytes) -> None:
        """Store a wrapped data key (replacing one with the same id)."""
        with self._lock:
            self._check_open()
            self._keys[key_id] = bytes(wrapped)

    def add_keys(self, keys: Sequence[tuple[str, bytes]]) -> set[str]:
        """Store each wrapped key of an id not stored yet; the ids it stored."""
        items = wrapped_keys(keys)
        with self._lock:
            self._check_open()
            added: set[str] = set()
            for key_id, wrapped in items:
                if key_id not in self._keys:
                    self._keys[key_id] = bytes(wrapped)
                    added.add(key_id)
            return added

    def get_key(self, key_id: str) -> bytes | None:
        """A wrapped data key, or None."""
        with self._lock:
            self._check_open()
            return self._keys.get(key_id)

    def put_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Store many wrapped keys at once."""
        items = wrapped_keys(keys)
        with self._lock:
            self._check_open()
            self._keys.update((k, bytes(w)) for k, w in items)

    def get_keys(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        """The wrapped keys that exist among ``key_ids``."""
        with self._lock:
            self._check_open()
            return {k: self._keys[k] for k in key_ids if k in self._keys}

    def list_keys(self, *, after: str = "", limit: int = 1000) -> list[str]:
        """Key ids greater than ``after``, in order, at most ``limit``."""
        with self._lock:
            self._check_open()
            if limit <= 0:
                return []
            return sorted(k for k in self._keys if k > after)[:limit]

    def delete_key(self, key_id: str) -> bool:
        """Destroy a wrapped data key; True if it existed."""
        with self._lock:
            self._check_open()
            return self._keys.pop(key_id, None) is not None

    def close(self) -> None:
        """Drop everything; the backend is unusable afterwards. Closing twice is fine."""
        with self._lock:
            self._closed = True
            self._state = _State()


if TYPE_CHECKING:

    def _conforms(storage: MemoryStorage) -> Storage:
        return storage
