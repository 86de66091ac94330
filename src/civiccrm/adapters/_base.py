"""
The storage SPI: what a storage backend implements.

A backend stores *records*: a JSON document plus the few indexed columns that queries
need. It never sees model classes, and (from the data-at-rest release on) never sees
plaintext personal data: the CRM facade serializes, encrypts and extracts columns
before a record reaches the backend.

The contract, in one place:

- :class:`Schema` says which kinds of record exist, their columns and indexes.
  ``migrate(schema)`` makes the backend ready for it (idempotent).
- Timestamps in columns are integers: microseconds since the Unix epoch, UTC.
- ``put(record, expected_version=n)`` writes version ``n + 1`` only if the stored version
  is ``n`` (``0``: the record must not exist yet); otherwise :class:`ConflictError`.
  A stale write never silently wins.
- ``bulk_upsert`` inserts or updates by the kind's key column (an external id),
  idempotently: the same batch twice changes nothing the second time.
- Queries are declarative (:class:`Query`): filters, one order column (ties broken by
  id), limit, and keyset pagination with an opaque :class:`Cursor`. NULLs sort last
  in both directions.
- ``transaction()`` makes everything inside atomic; nested transactions join the
  outer one. Work outside a transaction is committed per call.
- A work queue (``enqueue``, ``claim``, ``complete``) hands each task to one worker at
  a time under a lease; an expired lease makes the task claimable again.
- An append-only audit log of opaque entries (only retention prunes its oldest
  entries, with ``prune_audit``), and a store of wrapped data keys.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import attrs

__all__ = [
    "Aggregate",
    "AggregateFunction",
    "AggregateRow",
    "Capabilities",
    "ColumnSpec",
    "ColumnType",
    "Cursor",
    "Filter",
    "GroupBy",
    "IndexSpec",
    "KindSpec",
    "Measure",
    "Op",
    "Order",
    "Page",
    "Query",
    "Record",
    "Scalar",
    "Schema",
    "Storage",
    "SupportsAggregates",
    "Task",
    "TimeBucket",
    "UpsertResult",
]

#: A column value.
Scalar: TypeAlias = str | int | float | None


class ColumnType(enum.StrEnum):
    """
    The type of an indexed column. Timestamps are INTEGER microseconds since the epoch.

    .. versionadded:: 0.1.0
    """

    TEXT = "text"
    INTEGER = "integer"
    REAL = "real"


@attrs.frozen
class ColumnSpec:
    """
    One indexed column of a kind of record.

    .. versionadded:: 0.1.0
    """

    name: str
    type: ColumnType
    #: Whether queries filter or order on it on their own (a single-column index).
    indexed: bool = False
    #: The top-level field of the JSON document that this column copies, if any.
    #: When a migration adds the column to a kind that already holds records, the
    #: backend fills it in from each stored document: a JSON string for a TEXT column,
    #: an integer for INTEGER, a number for REAL; anything else (or no such field, or a
    #: document that is not JSON) leaves it NULL.
    #:
    #: .. versionadded:: 0.1.0
    source: str | None = None


Op: TypeAlias = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "not_null"]


@attrs.frozen
class Filter:
    """
    One condition on a column. ``in``/``not_in`` take a tuple; ``is_null``/``not_null``
    take no value. Comparisons with NULL columns are false (SQL semantics), except
    ``is_null``. ``ne`` is false for NULL columns too.

    .. versionadded:: 0.1.0
    """

    column: str
    op: Op
    value: Scalar | tuple[Scalar, ...] = None


@attrs.frozen
class IndexSpec:
    """
    A composite or partial index a kind needs for its hot queries, such as the due times
    of open cases only. Backends without partial indexes may index every row.

    .. versionadded:: 0.1.0
    """

    name: str
    columns: tuple[str, ...]
    #: Only rows matching every filter are indexed (a partial index).
    where: tuple[Filter, ...] = ()


@attrs.frozen
class KindSpec:
    """
    A kind of record (``case``, ``citizen`` ...) with its columns and indexes.

    .. versionadded:: 0.1.0
    """

    kind: str
    columns: tuple[ColumnSpec, ...] = ()
    indexes: tuple[IndexSpec, ...] = ()
    #: A TEXT column that is unique when not NULL, used by ``bulk_upsert`` and
    #: ``get_by_key`` (an id in the system the records came from).
    key_column: str | None = None

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name``; KeyError if there is none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@attrs.frozen
class Schema:
    """
    Every kind of record, and the schema's version (raised whenever columns or indexes
    change, so that a backend can migrate an older database).

    .. versionadded:: 0.1.0
    """

    version: int
    kinds: tuple[KindSpec, ...]

    def kind(self, name: str) -> KindSpec:
        """The kind called ``name``; KeyError if there is none."""
        for k in self.kinds:
            if k.kind == name:
                return k
        raise KeyError(name)


@attrs.frozen
class Record:
    """
    What a backend stores: a document and its indexed columns.

    ``columns`` holds a value (possibly None) for every column of the kind; a column
    missing from the mapping is stored as NULL.

    .. versionadded:: 0.1.0
    """

    kind: str
    id: str
    version: int
    #: The serialized document (JSON text).
    doc: str
    columns: Mapping[str, Scalar] = attrs.field(factory=dict, eq=True)


@attrs.frozen
class Order:
    """
    Order by one column (ties broken by id, ascending). NULLs sort last.

    .. versionadded:: 0.1.0
    """

    column: str
    descending: bool = False


@attrs.frozen
class Cursor:
    """
    Where a page ended: the order column's value and the id of the last record.
    Opaque to callers; pass it back as ``Query.after``.

    .. versionadded:: 0.1.0
    """

    value: Scalar
    id: str


@attrs.frozen
class Query:
    """
    A declarative query over one kind of record.

    .. versionadded:: 0.1.0
    """

    kind: str
    where: tuple[Filter, ...] = ()
    #: None orders by id.
    order_by: Order | None = None
    limit: int | None = None
    after: Cursor | None = None
    #: None: whole records. A tuple of column names: records with an empty ``doc`` and
    #: only these columns, so that the backend need not read documents at all (work
    #: lists and sweeps that need only indexed columns). The order column, if any, must
    #: be one of them.
    #:
    #: .. versionadded:: 0.1.0
    columns: tuple[str, ...] | None = None


@attrs.frozen
class Page:
    """
    One page of query results, and the cursor of the next page (None when this page
    is the last one).

    .. versionadded:: 0.1.0
    """

    records: tuple[Record, ...]
    next: Cursor | None


@attrs.frozen
class UpsertResult:
    """
    What a bulk upsert did.

    .. versionadded:: 0.1.0
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@attrs.frozen
class Task:
    """
    A claimed work-queue task.

    .. versionadded:: 0.1.0
    """

    topic: str
    key: str
    payload: str
    attempts: int
    lease_until: int


#: What a :class:`Measure` computes.
AggregateFunction: TypeAlias = Literal["count", "sum", "avg", "min", "max", "percentile"]

#: A calendar unit that groups timestamps (:attr:`GroupBy.bucket`).
TimeBucket: TypeAlias = Literal["day", "week"]


@attrs.frozen
class Measure:
    """
    One figure an :class:`Aggregate` computes for each group, over the group's records
    that also match the measure's own ``where`` (all of them when it is empty):

    - ``count``: with no column, how many records; with a column, how many non-NULL
      values. An ``int``, 0 when there are none.
    - ``sum``: the sum of the non-NULL values of an INTEGER (an ``int``, exact) or REAL
      (a ``float``) column.
    - ``avg``: that sum divided by the number of values, a ``float``.
    - ``min``, ``max``: the least and greatest non-NULL value (TEXT in code point order).
    - ``percentile``: the exact nearest-rank percentile ``fraction`` (0 < fraction <= 1)
      of the non-NULL values: with ``n`` values sorted ascending, the ``k``-th, where
      ``k = max(1, ceil(fraction * n))`` and the product is an IEEE double (as
      PostgreSQL's ``percentile_disc`` computes it). Always one of the values.

    Every function but ``count`` gives None when there are no values.

    .. versionadded:: 0.1.0
    """

    #: The name of the figure in :attr:`AggregateRow.values` (unique in the query).
    name: str
    function: AggregateFunction
    #: The column it reads; None only for ``count`` (count the records).
    column: str | None = None
    #: For ``percentile``: which one (0.5 is the median, 0.9 the 90th percentile).
    fraction: float | None = None
    #: Conditions on the records this measure counts, on top of the query's ``where``
    #: (SQL's ``FILTER (WHERE ...)``).
    where: tuple[Filter, ...] = ()


@attrs.frozen
class GroupBy:
    """
    One part of an aggregate's group key.

    - By default, the column's value (NULL is a group of its own, ``None``).
    - ``labels``: values mapped to labels (text); a value not listed (or NULL) is the
      group ``None``. A department is its case types' label, for example.
    - ``bucket``: an INTEGER timestamp column (microseconds since the epoch, UTC) by
      the calendar ``day``, or the ISO ``week`` (Monday to Sunday), in which it falls
      in ``time_zone``. The key is the ISO date (``"2026-03-09"``) of the bucket's
      first day. Days follow the zone's clock, so a day of a daylight-saving change
      is 23 or 25 hours long.
    - ``bins``: a number column by ranges: ascending boundaries ``b1 < b2 < ...``; the
      key is how many boundaries are at or below the value (0 below ``b1``, 1 from
      ``b1`` to below ``b2`` ..., ``len(bins)`` from the last one up).

    Only one of ``bucket``, ``labels`` and ``bins`` may be given.

    .. versionadded:: 0.1.0
    """

    column: str
    bucket: TimeBucket | None = None
    #: An IANA time zone (``"America/Chicago"``) for ``bucket``.
    time_zone: str = "UTC"
    #: ``(value, label)`` pairs; empty for the values themselves.
    labels: tuple[tuple[Scalar, str], ...] = ()
    #: Ascending range boundaries; empty for the values themselves.
    bins: tuple[int | float, ...] = ()


@attrs.frozen
class Aggregate:
    """
    An aggregate query over one kind of record: the records matching every filter of
    ``where``, grouped by the ``group_by`` keys, each group giving every measure.

    Without ``group_by`` the answer is exactly one row, with key ``()``, even when no
    record matches (counts 0, the other measures None). With it, there is one row for
    each key that at least one matching record has, in ascending key order (``None``
    last in each part of the key).

    .. versionadded:: 0.1.0
    """

    kind: str
    measures: tuple[Measure, ...]
    where: tuple[Filter, ...] = ()
    group_by: tuple[GroupBy, ...] = ()


@attrs.frozen
class AggregateRow:
    """
    One group of an aggregate query's answer: its key (one value per
    :class:`GroupBy`) and its figures by measure name.

    .. versionadded:: 0.1.0
    """

    key: tuple[Scalar, ...]
    values: Mapping[str, Scalar]


@attrs.frozen
class Capabilities:
    """
    What a backend can do, so that callers and the conformance suite ask about
    abilities, never about backend names. Defaults are the conservative answer.

    .. versionadded:: 0.1.0
    """

    #: Data survives closing and reopening the same URL.
    persistent: bool = False
    #: Several threads may use one backend object at once.
    thread_safe: bool = False
    #: Several processes or hosts may write the same database at once.
    multi_process: bool = False
    #: It answers aggregate queries itself: it has an ``aggregate`` method (see
    #: :class:`SupportsAggregates`). Without it, callers stream the columns they need and
    #: compute the same figures in Python.
    #:
    #: .. versionadded:: 0.1.0
    aggregates: bool = False


@runtime_checkable
class Storage(Protocol):
    """
    **Protocol:** a storage backend. See the module docstring for the contract, and
    ``docs/plugins.md`` for how to write and test one.

    Every method raises :class:`~civiccrm.errors.StorageError` for a failure of the
    backend itself (with the driver's exception as its cause), and
    :class:`~civiccrm.errors.ConflictError` for a stale write.

    .. versionadded:: 0.1.0
    """

    #: The URL it was opened with.
    url: str
    capabilities: Capabilities

    def migrate(self, schema: Schema) -> None:
        """Create or upgrade what ``schema`` needs. Idempotent."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Make everything inside atomic: all of it is committed, or none of it."""
        ...

    def get(self, kind: str, record_id: str) -> Record | None:
        """The record, or None."""
        ...

    def get_many(self, kind: str, ids: Sequence[str]) -> list[Record]:
        """The records that exist among ``ids``, in the order of ``ids``."""
        ...

    def get_by_key(self, kind: str, key: str) -> Record | None:
        """The record whose key column equals ``key``, or None."""
        ...

    def put(self, record: Record, *, expected_version: int) -> Record:
        """
        Write ``record`` as version ``expected_version + 1`` if the stored version is
        ``expected_version`` (0: it must not exist). Returns the record as stored.
        """
        ...

    def delete(self, kind: str, record_id: str, *, expected_version: int) -> None:
        """Delete the record if its stored version is ``expected_version``."""
        ...

    def bulk_upsert(self, kind: str, records: Iterable[Record]) -> UpsertResult:
        """
        Insert or update by the kind's key column, atomically for the whole batch.
        A record whose key exists keeps the stored id; its version goes up by one if
        its document or columns changed, and nothing happens if they did not.
        """
        ...

    def query(self, query: Query) -> Page:
        """One page of records matching ``query``."""
        ...

    def stream(self, query: Query, *, batch_size: int = 1000) -> Iterator[Record]:
        """Every record matching ``query`` (its limit ignored), in pages, in constant memory."""
        ...

    def count(
        self, kind: str, where: Sequence[Filter] = (), *, group_by: str | None = None
    ) -> dict[Scalar, int]:
        """Counts of matching records: ``{None: n}`` ungrouped, else per value of ``group_by``."""
        ...

    def enqueue(self, topic: str, keys: Sequence[str], *, payload: str = "") -> int:
        """Add tasks; a (topic, key) already queued and not done is left as it is. Returns how many were added."""
        ...

    def claim(
        self, topic: str, *, worker: str, limit: int, lease_us: int, now_us: int
    ) -> list[Task]:
        """Claim up to ``limit`` tasks not done and not under an unexpired lease."""
        ...

    def complete(self, topic: str, keys: Sequence[str], *, worker: str) -> int:
        """Mark tasks done if ``worker`` still holds their lease. Returns how many."""
        ...

    def append_audit(self, entries: Sequence[str]) -> list[int]:
        """Append opaque audit entries; returns their sequence numbers (increasing)."""
        ...

    def read_audit(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """Audit entries with a sequence number above ``after``, in order."""
        ...

    def prune_audit(self, through: int) -> int:
        """
        Delete the audit entries numbered up to ``through`` (retention of the audit
        trail); returns how many. Sequence numbers are never reused after a prune.
        Inside a transaction, undone with it.

        .. versionadded:: 0.1.0
        """
        ...

    def put_key(self, key_id: str, wrapped: bytes) -> None:
        """
        Store a wrapped data key (replacing one with the same id).

        Keys are not part of transactions: a key is stored durably when ``put_key``
        returns, and stays stored (or destroyed, by ``delete_key``) whatever happens to
        an open transaction. Keep keys apart from the records (SQLite: a file of its
        own), so that a copy of the records holds no key and destroying a key
        (crypto-shredding) makes every copy of the data sealed with it unreadable.
        """
        ...

    def put_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """
        Store many wrapped keys at once, all or none (as :meth:`put_key`: durable when
        it returns, not part of transactions). Bulk imports make thousands of keys.

        .. versionadded:: 0.1.0
        """
        ...

    def add_keys(self, keys: Sequence[tuple[str, bytes]]) -> set[str]:
        """
        Store each wrapped data key whose id is not stored yet, durably, now (like
        :meth:`put_keys`); return the ids it stored. Atomic per key: of two sessions or
        processes adding the same key at once, exactly one stores it, and the other
        reads it back. The CRM makes new keys with it, so that a key made twice at once
        is never replaced (what was sealed with the first would be lost).

        .. versionadded:: 0.1.0
        """
        ...

    def get_key(self, key_id: str) -> bytes | None:
        """A wrapped data key, or None."""
        ...

    def get_keys(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        """
        The wrapped keys that exist among ``key_ids``, by id (a bulk import looks up
        thousands at once).

        .. versionadded:: 0.1.0
        """
        ...

    def delete_key(self, key_id: str) -> bool:
        """Destroy a wrapped data key, leaving no copy in the backend; True if it existed."""
        ...

    def list_keys(self, *, after: str = "", limit: int = 1000) -> list[str]:
        """
        The ids of stored keys greater than ``after``, in ascending (code point) order,
        at most ``limit`` of them: how key rotation visits every key, resumably.

        .. versionadded:: 0.1.0
        """
        ...

    def close(self) -> None:
        """Release connections and files. The backend is unusable afterwards."""
        ...


@runtime_checkable
class SupportsAggregates(Protocol):
    """
    **Protocol:** the optional aggregate capability of a storage backend. A backend
    that has it says so with ``capabilities.aggregates = True``; the conformance suite's
    :class:`~civiccrm.testing.AggregateConformance` proves it gives the figures that
    :mod:`civiccrm.adapters._aggregate`'s Python evaluation gives.

    .. versionadded:: 0.1.0
    """

    def aggregate(self, queries: Sequence[Aggregate]) -> list[tuple[AggregateRow, ...]]:
        """
        Answer each query (see :class:`Aggregate` and :class:`Measure` for the exact
        meaning), in order, all from one consistent snapshot of the data, so that the
        figures of a report agree with each other. Raises
        :class:`~civiccrm.errors.ValidationError` naming the query and field of an
        unknown kind or column, a measure that does not fit its column, a bad time
        zone; nothing is computed then.
        """
        ...
