"""
The SQLite storage backend: embedded, zero-configuration, the default.

``SQLiteStorage("sqlite:///path/to/crm.db")`` opens (or creates) a database file;
``sqlite:////abs/path.db`` names an absolute path and ``sqlite:///:memory:`` a private
in-memory database. Only the standard library's :mod:`sqlite3` is used.

Layout of a database file (the *storage layout*, versioned by :data:`LAYOUT_VERSION`):

- ``civiccrm_meta(key, value)``: the storage layout version, the application's
  :attr:`Schema.version`, and a JSON description of the kinds, columns and indexes
  that were applied.
- ``rec_<kind>(id, version, doc, <one column per ColumnSpec>)``: one table per kind.
  The key column has a unique index; an ``indexed`` column has an index on
  ``(column, id)`` (so that ``ORDER BY column, id`` reads the index in order); an
  :class:`IndexSpec` becomes an index on ``(columns..., id)``, partial when it has
  filters. Index names are ``rec_<kind>__c__<column>``, ``rec_<kind>__k__<column>``
  and ``rec_<kind>__i__<name>``, which is why kind names may not contain ``__``.
- ``civiccrm_tasks``, ``civiccrm_audit``: the work queue and the audit log.

Wrapped data keys are not in the database file: they live in a file of their own beside
it, ``<database>.keys`` (see :mod:`civiccrm.adapters._sqlite_keys`), so that a copy of
the database holds no key. Layout 1 kept them in a ``civiccrm_keys`` table; opening such
a file moves them out (layout 2).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import operator
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Final

import attrs

from civiccrm.adapters import _aggregate
from civiccrm.adapters._base import (
    Aggregate,
    AggregateRow,
    Capabilities,
    ColumnSpec,
    ColumnType,
    Cursor,
    Filter,
    IndexSpec,
    KindSpec,
    Order,
    Page,
    Query,
    Record,
    Scalar,
    Schema,
    Task,
    UpsertResult,
)
from civiccrm.adapters._evaluate import (
    pages,
    source_problems,
    validate_columns,
    validate_filters,
    validate_query,
)
from civiccrm.adapters._sqlite_keys import SQLiteKeyStore, key_file_path
from civiccrm.errors import ConflictError, Problem, StorageError, ValidationError

__all__ = ["LAYOUT_VERSION", "SQLiteStorage"]

#: The version of this module's table layout (not the application's Schema.version).
#: Raise it, and add an upgrade step to ``_upgrade_layout``, whenever the layout of the
#: tables this module owns changes.
LAYOUT_VERSION: Final = 2

_BACKEND: Final = "sqlite"
_PREFIX: Final = "sqlite:///"
_MEMORY: Final = ":memory:"
_DEFAULT_BUSY_TIMEOUT: Final = 30.0
#: Values per ``IN (...)`` list (SQLite allows 32766 parameters; keep statements small).
_IN_CHUNK: Final = 500
#: Records per executemany in bulk_upsert (bounds memory for huge iterables).
_BULK_CHUNK: Final = 5000
#: Connection settings for the length of an ``aggregate`` call: map the file into
#: memory (SQLite caps the size at its compile-time maximum), and give temporary
#: tables 128 MiB of page cache.
_AGGREGATE_PRAGMAS: Final = {"mmap_size": 2**40, "temp.cache_size": -131_072}

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_RESERVED: Final = frozenset({"id", "version", "doc", "rowid", "oid", "_rowid_"})
_SQL_TYPE: Final = {
    ColumnType.TEXT: "TEXT",
    ColumnType.INTEGER: "INTEGER",
    ColumnType.REAL: "REAL",
}
_FAST_TYPES: Final[dict[ColumnType, frozenset[type]]] = {
    ColumnType.TEXT: frozenset({str, type(None)}),
    ColumnType.INTEGER: frozenset({int, type(None)}),
    ColumnType.REAL: frozenset({int, float, type(None)}),
}
_COLUMNS: Final = operator.attrgetter("columns")
_ID: Final = operator.attrgetter("id")
_DOC: Final = operator.attrgetter("doc")
_KIND: Final = operator.attrgetter("kind")
_COMPARE: Final = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_OPS: Final = frozenset({*_COMPARE, "in", "not_in", "is_null", "not_null"})

_META_LAYOUT: Final = "storage_layout"
_META_SCHEMA_VERSION: Final = "schema_version"
_META_SCHEMA: Final = "schema"

_SYSTEM_TABLES: Final = ("civiccrm_meta", "civiccrm_tasks", "civiccrm_audit")
_SYSTEM_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS civiccrm_meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS civiccrm_tasks ("
    " topic TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '',"
    " attempts INTEGER NOT NULL DEFAULT 0, lease_until INTEGER, worker TEXT,"
    " done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (topic, key))",
    # Pending tasks of a topic in insertion (rowid) order: what claim() scans.
    "CREATE INDEX IF NOT EXISTS civiccrm_tasks_pending ON civiccrm_tasks (topic) WHERE done = 0",
    "CREATE TABLE IF NOT EXISTS civiccrm_audit ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)",
)


def _q(name: str) -> str:
    """Quote an identifier (names are checked against ``_IDENT`` before they get here)."""
    return f'"{name}"'


def _literal(value: object, path: str) -> str:
    """
    A value as an SQL literal, for partial-index WHERE clauses (CREATE INDEX takes no
    parameters). Only ints, finite floats and strings; strings are quoted with ``'``
    doubled, which is the whole of SQL string escaping.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError.at(path, f"{value!r} cannot be used in an index filter")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError.at(path, "a NUL character cannot be used in an index filter")
        return "'" + value.replace("'", "''") + "'"
    raise ValidationError.at(
        path, f"{value!r} cannot be used in an index filter (only int, float, str)"
    )


# --------------------------------------------------------------------------------------
# Kinds: the SQL of each kind of record, built once


class _Batch:
    """
    A chunk of a bulk upsert, column by column. Its rows (``?1`` id, ``?2`` doc, then the
    columns) are made one at a time as ``executemany`` reads them: a list of 5,000
    tuples would set off the garbage collector, which then walks every object of the
    program, again and again.
    """

    __slots__ = ("docs", "ids", "key_at", "values")

    def __init__(
        self, ids: list[Any], docs: list[Any], values: list[list[Scalar]], key_at: int
    ) -> None:
        self.ids = ids
        self.docs = docs
        self.values = values
        self.key_at = key_at

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def keys(self) -> list[Scalar]:
        return self.values[self.key_at]

    def rows(self, select: Iterable[bool] | None = None) -> Iterator[tuple[Any, ...]]:
        """The parameter rows, or those where ``select`` is true."""
        rows = zip(self.ids, self.docs, *self.values, strict=True)
        return rows if select is None else itertools.compress(rows, select)


class _Kind:
    """A kind of record as this backend stores it, with its SQL prepared."""

    def __init__(self, spec: KindSpec) -> None:
        self.spec = spec
        self.name = spec.kind
        self.table = _q(f"rec_{spec.kind}")
        self.columns: tuple[str, ...] = tuple(c.name for c in spec.columns)
        self.known: frozenset[str] = frozenset(self.columns)
        self.key = spec.key_column
        self.key_at = -1 if self.key is None else self.columns.index(self.key)
        #: The exact Python types each column takes without further checks (the fast
        #: path of bulk_upsert; anything else goes through ``validate_columns``).
        self.fast_types: tuple[frozenset[type], ...] = tuple(
            _FAST_TYPES[c.type] for c in spec.columns
        )
        #: Filters used by partial indexes: a query with the very same filter gets it
        #: as a literal, so that SQLite can prove the partial index applies.
        self.index_filters: frozenset[Filter] = frozenset(
            f for ix in spec.indexes for f in ix.where
        )
        t = self.table
        n = len(self.columns)
        cols = "".join(f", {_q(c)}" for c in self.columns)
        self.select = f"SELECT id, version, doc{cols} FROM {t}"
        #: SELECT statements of projections (``Query.columns``), made when first used.
        self._projections: dict[tuple[str, ...], str] = {}
        self.insert = f"INSERT INTO {t} (id, version, doc{cols}) VALUES (?, ?, ?{', ?' * n})"
        sets = "".join(f", {_q(c)} = ?" for c in self.columns)
        self.update = f"UPDATE {t} SET version = ?, doc = ?{sets} WHERE id = ? AND version = ?"
        self.bulk_insert = ""
        self.bulk_update = ""
        self.select_keys = ""
        if self.key is not None:
            # One parameter tuple per record serves both statements: ?1 id, ?2 doc,
            # ?3... the columns in order (an unused ?1 is fine: SQLite counts up to the
            # highest number used).
            numbered = {c: f"?{i + 3}" for i, c in enumerate(self.columns)}
            values = "".join(f", {numbered[c]}" for c in self.columns)
            self.bulk_insert = (
                f"INSERT INTO {t} (id, version, doc{cols}) VALUES (?1, 1, ?2{values})"
            )
            self.select_keys = f"SELECT {_q(self.key)} FROM {t} WHERE {_q(self.key)} IN"
            others = [c for c in self.columns if c != self.key]
            set_cols = "".join(f", {_q(c)} = {numbered[c]}" for c in others)
            differs = "".join(f" OR {_q(c)} IS NOT {numbered[c]}" for c in others)
            self.bulk_update = (
                f"UPDATE {t} SET version = version + 1, doc = ?2{set_cols}"
                f" WHERE {_q(self.key)} = {numbered[self.key]} AND (doc IS NOT ?2{differs})"
            )

    def fast_batch(self, records: list[Record], kind: str) -> _Batch | None:
        """
        The parameters of ``records`` for the bulk statements, if every record is
        plainly valid: of ``kind``, a non-empty string id, a string document, known
        columns only, values of exactly the types the columns take (no NaN), a key
        value. None otherwise (then each record is checked on its own, slowly).

        Every check runs column by column in C (``map``, ``set``), not record by record
        in Python, and no row tuple is kept (see :class:`_Batch`): this is what keeps
        bulk_upsert close to a raw ``executemany``.
        """
        colss = list(map(_COLUMNS, records))
        try:
            if not self.known.issuperset(itertools.chain.from_iterable(colss)):
                return None
            # dict.get unbound: much faster than a methodcaller; other mappings fail here.
            values = [list(map(dict.get, colss, itertools.repeat(c))) for c in self.columns]
        except (TypeError, AttributeError):  # columns that are not a mapping
            return None
        for column, ok in zip(values, self.fast_types, strict=True):
            types = set(map(type, column))
            if not types <= ok:
                return None
            if float in types and any(map(math.isnan, filter(None, column))):
                return None
        if None in values[self.key_at]:
            return None
        ids = list(map(_ID, records))
        docs = list(map(_DOC, records))
        if (
            set(map(type, ids)) != {str}
            or not all(ids)
            or set(map(type, docs)) != {str}
            or set(map(_KIND, records)) != {kind}
        ):
            return None
        return _Batch(ids, docs, values, self.key_at)

    def slow_batch(self, records: list[Record]) -> _Batch:
        """The parameters of ``records``, which were checked one by one."""
        return _Batch(
            [r.id for r in records],
            [r.doc for r in records],
            [[r.columns.get(c) for r in records] for c in self.columns],
            self.key_at,
        )

    def record(self, row: Sequence[Any]) -> Record:
        return Record(
            self.name, row[0], row[1], row[2], dict(zip(self.columns, row[3:], strict=True))
        )

    def projection(self, columns: tuple[str, ...]) -> str:
        """The SELECT of ``columns`` only, with an empty doc (names already validated)."""
        sql = self._projections.get(columns)
        if sql is None:
            cols = "".join(f", {_q(c)}" for c in columns)
            sql = self._projections[columns] = f"SELECT id, version, ''{cols} FROM {self.table}"
        return sql

    def index_sql(self) -> dict[str, str]:
        """Every index this kind needs: name -> CREATE INDEX statement."""
        out: dict[str, str] = {}
        base = f"rec_{self.name}"
        t = self.table
        if self.key is not None:
            name = f"{base}__k__{self.key}"
            out[name] = f"CREATE UNIQUE INDEX IF NOT EXISTS {_q(name)} ON {t} ({_q(self.key)})"
        for c in self.spec.columns:
            if c.indexed and c.name != self.key:
                name = f"{base}__c__{c.name}"
                out[name] = f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {t} ({_q(c.name)}, id)"
        for i, ix in enumerate(self.spec.indexes):
            name = f"{base}__i__{ix.name}"
            cols = ", ".join(_q(c) for c in ix.columns)
            if "id" not in ix.columns:
                cols += ", id"
            sql = f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {t} ({cols})"
            if ix.where:
                terms, _ = _filters_sql(
                    self, ix.where, f"kinds.{self.name}.indexes[{i}].where", literal=True
                )
                sql += " WHERE " + " AND ".join(terms)
            out[name] = sql
        return out


def _column_sql(kind: _Kind, name: object, path: str) -> str:
    """The quoted column ``name`` of ``kind``; ValidationError for any other name."""
    if isinstance(name, str) and name in kind.known:
        return _q(name)
    raise ValidationError.at(path, f"unknown column {name!r} for kind {kind.name!r}")


def _is_index_filter(kind: _Kind, f: Filter) -> bool:
    try:
        return f in kind.index_filters
    except TypeError:  # an unhashable value: not one of the index's filters
        return False


def _filters_sql(
    kind: _Kind, filters: Iterable[Filter], path: str, *, literal: bool = False
) -> tuple[list[str], list[Scalar]]:
    """
    SQL terms (to be joined with AND) and their parameters. Column names are checked
    against the kind's columns; values are parameters, or (``literal=True``, for index
    definitions, and for a filter identical to a partial index's) safe literals.
    """
    terms: list[str] = []
    params: list[Scalar] = []
    for i, f in enumerate(filters):
        here = f"{path}[{i}]"
        if not isinstance(f, Filter):
            raise ValidationError.at(here, f"not a Filter: {f!r}")
        col = _column_sql(kind, f.column, f"{here}.column")
        op = f.op
        value = f.value
        if op not in _OPS:
            raise ValidationError.at(f"{here}.op", f"unknown operator {op!r}")
        if op in ("in", "not_in"):
            if not isinstance(value, tuple | list):
                raise ValidationError.at(f"{here}.value", f"{op} needs a tuple of values")
            values = tuple(value)
            if not values:
                # in (): nothing matches. not_in (): every non-NULL value (a NULL column
                # fails every operator but is_null).
                terms.append("0" if op == "in" else f"{col} IS NOT NULL")
                continue
            if literal or _is_index_filter(kind, f):
                items = ", ".join(_literal(v, f"{here}.value") for v in values)
            else:
                items = ", ".join("?" * len(values))
                params.extend(values)
            terms.append(f"{col} {'IN' if op == 'in' else 'NOT IN'} ({items})")
        elif op in ("is_null", "not_null"):
            terms.append(f"{col} IS {'NULL' if op == 'is_null' else 'NOT NULL'}")
        else:
            if isinstance(value, tuple | list):
                raise ValidationError.at(f"{here}.value", f"{op} needs a single value")
            if literal or _is_index_filter(kind, f):
                terms.append(f"{col} {_COMPARE[op]} {_literal(value, f'{here}.value')}")
            else:
                terms.append(f"{col} {_COMPARE[op]} ?")
                params.append(value)
    return terms, params


def _record_problems(k: _Kind, record: Record, path: str) -> list[Problem]:
    """Every problem with a record for kind ``k``: its id, document and columns."""
    prefix = f"{path}." if path else ""
    problems: list[Problem] = []
    if not isinstance(record.id, str) or not record.id:
        problems.append(Problem(f"{prefix}id", "a record id must be a non-empty string"))
    doc: object = record.doc  # typed str, but callers may pass anything at runtime
    if not isinstance(doc, str):
        problems.append(Problem(f"{prefix}doc", "a document must be a string (JSON text)"))
    columns: object = record.columns
    if not isinstance(columns, Mapping):
        problems.append(Problem(f"{prefix}columns", "must be a mapping of column names"))
        return problems
    problems.extend(validate_columns(k.spec, columns, path=f"{prefix}columns"))
    return problems


def _check_shapes(filters: object, path: str) -> None:
    """ValidationError unless ``filters`` is a sequence of Filter objects."""
    if not isinstance(filters, tuple | list):
        raise ValidationError.at(path, f"must be a tuple of Filter, not {filters!r}")
    for i, f in enumerate(filters):
        if not isinstance(f, Filter):
            raise ValidationError.at(f"{path}[{i}]", f"not a Filter: {f!r}")


def _query_problems(k: _Kind, query: Query) -> list[Problem]:
    try:
        validate_query(k.spec, query)
    except ValidationError as exc:
        return list(exc.problems)
    return []


def _upsert_problems(k: _Kind, record: Record, i: int, kind: str) -> list[Problem]:
    """Every problem with the ``i``-th record of a bulk upsert into ``kind``."""
    problems = _record_problems(k, record, f"[{i}]")
    if record.kind != kind:
        problems.append(Problem(f"[{i}].kind", f"expected {kind!r}, got {record.kind!r}"))
    if k.key is not None and record.columns.get(k.key) is None:
        problems.append(Problem(f"[{i}].columns.{k.key}", "no value for the key column"))
    return problems


def _chunk_problems(k: _Kind, records: list[Record], start: int, kind: str) -> list[Problem]:
    return [p for i, r in enumerate(records, start) for p in _upsert_problems(k, r, i, kind)]


def _check_schema(schema: Schema) -> None:
    """Every problem with the names and shapes of ``schema``, as one ValidationError."""
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, message))

    if not isinstance(schema, Schema):
        raise ValidationError.at("", f"not a Schema: {schema!r}")
    if not isinstance(schema.version, int) or schema.version < 1:
        bad("version", "must be an integer >= 1")
    seen_kinds: set[str] = set()
    for i, k in enumerate(schema.kinds):
        kp = f"kinds[{i}]"
        if not isinstance(k.kind, str) or not _IDENT.match(k.kind) or "__" in k.kind:
            bad(f"{kp}.kind", f"{k.kind!r} is not a valid kind name (letters, digits, single _)")
            continue
        if k.kind.lower() in seen_kinds:
            bad(f"{kp}.kind", f"kind {k.kind!r} is declared twice")
        seen_kinds.add(k.kind.lower())
        seen_cols: dict[str, ColumnSpec] = {}
        for j, c in enumerate(k.columns):
            cp = f"{kp}.columns[{j}]"
            if not isinstance(c.name, str) or not _IDENT.match(c.name):
                bad(f"{cp}.name", f"{c.name!r} is not a valid column name")
                continue
            if c.name.lower() in _RESERVED:
                bad(f"{cp}.name", f"{c.name!r} is reserved")
            if c.name.lower() in seen_cols:
                bad(f"{cp}.name", f"column {c.name!r} is declared twice")
            if c.type not in _SQL_TYPE:
                bad(f"{cp}.type", f"{c.type!r} is not a ColumnType")
            seen_cols[c.name.lower()] = c
        problems.extend(source_problems(k, kp))
        names = {c.name for c in k.columns}
        if k.key_column is not None:
            if k.key_column not in names:
                bad(f"{kp}.key_column", f"{k.key_column!r} is not a column of {k.kind!r}")
            elif k.column(k.key_column).type != ColumnType.TEXT:
                bad(f"{kp}.key_column", f"{k.key_column!r} must be a TEXT column")
        seen_ix: set[str] = set()
        for j, ix in enumerate(k.indexes):
            ip = f"{kp}.indexes[{j}]"
            if not isinstance(ix.name, str) or not _IDENT.match(ix.name):
                bad(f"{ip}.name", f"{ix.name!r} is not a valid index name")
            elif ix.name.lower() in seen_ix:
                bad(f"{ip}.name", f"index {ix.name!r} is declared twice")
            else:
                seen_ix.add(ix.name.lower())
            if not ix.columns:
                bad(f"{ip}.columns", "an index needs at least one column")
            for m, col in enumerate(ix.columns):
                if col not in names and col != "id":
                    bad(f"{ip}.columns[{m}]", f"{col!r} is not a column of {k.kind!r}")
    if problems:
        raise ValidationError(problems, record_type="schema")
    # The filters of partial indexes (columns, operators and literals).
    for k in schema.kinds:
        _Kind(k).index_sql()


def _describe(schema: Schema, kinds: Mapping[str, _Kind]) -> dict[str, Any]:
    """The JSON description of an applied schema, stored in ``civiccrm_meta``."""

    def value(v: Scalar | tuple[Scalar, ...]) -> Any:
        return list(v) if isinstance(v, tuple) else v

    return {
        "version": schema.version,
        "kinds": [
            {
                "kind": k.kind,
                "table": f"rec_{k.kind}",
                "key_column": k.key_column,
                "columns": [
                    {"name": c.name, "type": c.type.value, "indexed": c.indexed} for c in k.columns
                ],
                "indexes": [
                    {
                        "name": ix.name,
                        "columns": list(ix.columns),
                        "where": [
                            {"column": f.column, "op": f.op, "value": value(f.value)}
                            for f in ix.where
                        ],
                    }
                    for ix in k.indexes
                ],
                "sql_indexes": kinds[k.kind].index_sql(),
            }
            for k in schema.kinds
        ],
    }


def _kinds_from_description(desc: Mapping[str, Any]) -> dict[str, _Kind]:
    """The kinds described by a stored JSON description (see :func:`_describe`)."""

    def value(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    out: dict[str, _Kind] = {}
    for k in desc.get("kinds", []):
        spec = KindSpec(
            kind=k["kind"],
            columns=tuple(
                ColumnSpec(c["name"], ColumnType(c["type"]), bool(c["indexed"]))
                for c in k["columns"]
            ),
            indexes=tuple(
                IndexSpec(
                    ix["name"],
                    tuple(ix["columns"]),
                    tuple(Filter(f["column"], f["op"], value(f["value"])) for f in ix["where"]),
                )
                for ix in k["indexes"]
            ),
            key_column=k["key_column"],
        )
        out[spec.kind] = _Kind(spec)
    return out


# --------------------------------------------------------------------------------------
# Connections


class _ThreadState:
    """One thread's connection and how deep it is in transaction()."""

    __slots__ = ("__weakref__", "conn", "depth")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0


def _close_quietly(conn: sqlite3.Connection, registry: set[sqlite3.Connection]) -> None:
    """Close a dead thread's connection (a weakref finalizer: never raises)."""
    registry.discard(conn)
    with contextlib.suppress(sqlite3.Error):
        conn.close()


def _parse_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(_PREFIX):
        raise ValidationError.at(
            "url",
            f"{url!r} is not a SQLite URL (sqlite:///relative/path.db or sqlite:////abs/path.db)",
        )
    path = url[len(_PREFIX) :]
    if not path:
        raise ValidationError.at("url", f"{url!r} names no file (sqlite:///path.db)")
    if path == _MEMORY:
        return path
    return os.path.abspath(path)


class SQLiteStorage:
    """
    **Storage backend** on a SQLite database file (or a private in-memory database).

    Args:
        url: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or
            ``sqlite:///:memory:``. A relative path is resolved against the current
            directory when the storage is opened.
        busy_timeout: how many seconds a writer waits for another connection's write
            transaction (another thread or process) before giving up with
            :class:`StorageError`.

    Durability: the file is in WAL mode with ``synchronous=NORMAL``. A commit is
    atomic and the database never becomes corrupt, but a power loss or OS crash (not
    a crash of the Python process) may lose the last few committed transactions,
    because the WAL is synced to disk at checkpoints rather than at every commit.
    Skipping that fsync per commit makes small transactions many times faster.

    Concurrency: every thread gets its own connection, so a thread's
    :meth:`transaction` holds only its own statements. Write transactions begin with
    ``BEGIN IMMEDIATE``, so they are serialized across threads and processes, and a
    version check followed by a write can never race; other writers wait up to
    ``busy_timeout``. Readers never wait (WAL). Work outside :meth:`transaction` is
    committed per call. ``sqlite:///:memory:`` shares one connection behind a lock.

    A database written by a newer civiccrm (a newer storage layout, or a newer
    :attr:`Schema.version`) is refused with :class:`StorageError`, untouched.

    Wrapped data keys live in a file of their own, ``<database>.keys``, never in the
    database file: a copy of the database holds no key. Key writes are not part of
    transactions (durable when :meth:`put_key` returns). Deleting a key
    (:meth:`delete_key`) overwrites it in the key file and empties its WAL; a backup
    of the key file taken before still holds it.

    .. versionadded:: 0.1.0
    """

    def __init__(self, url: str, *, busy_timeout: float = _DEFAULT_BUSY_TIMEOUT) -> None:
        self.url = url
        self.path = _parse_url(url)
        self.memory = self.path == _MEMORY
        self.capabilities = Capabilities(
            persistent=not self.memory,
            thread_safe=True,
            multi_process=not self.memory,
            aggregates=True,
        )
        self.busy_timeout = float(busy_timeout)
        self.journal_mode = "memory"
        self._closed = False
        self._pid = os.getpid()
        self._registry: set[sqlite3.Connection] = set()
        self._registry_lock = threading.Lock()
        self._finalizers: list[weakref.finalize[Any, Any]] = []
        self._inherited: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._kinds: dict[str, _Kind] = {}
        # In memory there is one connection (a second one would be another database):
        # this lock gives it to one thread at a time, for a call or a whole transaction.
        self._mutex: threading.RLock | None = threading.RLock() if self.memory else None
        self._shared: _ThreadState | None = None
        self._keys = SQLiteKeyStore(None if self.memory else key_file_path(self.path))
        if not self.memory:
            folder = os.path.dirname(self.path)
            if not os.path.isdir(folder):
                raise StorageError(
                    f"cannot open {self.path}: directory {folder} does not exist",
                    backend=_BACKEND,
                )
            if os.path.isdir(self.path):
                raise StorageError(f"cannot open {self.path}: it is a directory", backend=_BACKEND)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.url!r})"

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------
    # Opening, connections, errors

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("open", exc) from exc
        with self._registry_lock:
            self._registry.add(conn)
        return conn

    def _open(self) -> None:
        """Check the file, switch it to WAL, create the system tables, load the schema."""
        st = self._state()
        conn = st.conn
        with self._guard("open"):
            # The first read of the file: "file is not a database" shows up here.
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            meta: dict[str, str] = {}
            if "civiccrm_meta" in tables:
                meta = dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
            self._check_layout(meta)
            if not self.memory:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                self.journal_mode = str(mode).lower()
            stored_layout = int(meta.get(_META_LAYOUT, "0"))
            if not set(_SYSTEM_TABLES) <= tables or stored_layout < LAYOUT_VERSION:
                with self.transaction():
                    # Again, under the write lock: another process may be opening it too.
                    for ddl in _SYSTEM_DDL[:1]:
                        conn.execute(ddl)
                    meta = dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
                    self._check_layout(meta)
                    for ddl in _SYSTEM_DDL[1:]:
                        conn.execute(ddl)
                    self._upgrade_layout(conn, int(meta.get(_META_LAYOUT, "0")))
                    meta = dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
            self._load_kinds(meta)

    def _upgrade_layout(self, conn: sqlite3.Connection, stored: int) -> None:
        """Bring the storage layout from ``stored`` to LAYOUT_VERSION (inside a transaction)."""
        if stored >= LAYOUT_VERSION:
            return
        if stored < 2:
            # Layout 2: wrapped keys move from the civiccrm_keys table to the key file.
            # Copied first (durably), then securely deleted here: a crash in between
            # leaves them in both places, and opening again finishes the move.
            has_table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'civiccrm_keys'"
            ).fetchone()
            if has_table:
                for key_id, wrapped in conn.execute(
                    "SELECT key_id, wrapped FROM civiccrm_keys"
                ).fetchall():
                    self._keys.put(key_id, bytes(wrapped))
                conn.execute("PRAGMA secure_delete = ON")
                try:
                    conn.execute("DELETE FROM civiccrm_keys")
                    conn.execute("DROP TABLE civiccrm_keys")
                finally:
                    conn.execute("PRAGMA secure_delete = OFF")
        conn.execute(
            "INSERT OR REPLACE INTO civiccrm_meta (key, value) VALUES (?, ?)",
            (_META_LAYOUT, str(LAYOUT_VERSION)),
        )

    def _check_layout(self, meta: Mapping[str, str]) -> None:
        try:
            stored = int(meta.get(_META_LAYOUT, "0"))
        except ValueError:
            raise StorageError(
                f"{self.path}: civiccrm_meta holds a bad storage layout version "
                f"{meta.get(_META_LAYOUT)!r}",
                backend=_BACKEND,
            ) from None
        if stored > LAYOUT_VERSION:
            raise StorageError(
                f"{self.path} was written by a newer civiccrm (layout {stored}, this "
                f"version understands {LAYOUT_VERSION}); upgrade civiccrm",
                backend=_BACKEND,
            )

    def _load_kinds(self, meta: Mapping[str, str]) -> None:
        raw = meta.get(_META_SCHEMA)
        if raw is None:
            self._kinds = {}
            return
        try:
            self._kinds = _kinds_from_description(json.loads(raw))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise StorageError(
                f"{self.path}: the schema description in civiccrm_meta cannot be read: {exc}",
                backend=_BACKEND,
            ) from exc

    def _reload_kinds(self) -> None:
        """Reload the schema description (another process may have migrated)."""
        with self._guard("read schema") as conn:
            meta = dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
        self._load_kinds(meta)

    def _state(self) -> _ThreadState:
        """The calling thread's connection and transaction depth."""
        if self._closed:
            raise StorageError(f"{self.path}: the storage is closed", backend=_BACKEND)
        if self._pid != os.getpid():
            self._after_fork()
        if self._mutex is not None:
            if self._shared is None:
                self._shared = _ThreadState(self._connect())
            return self._shared
        st: _ThreadState | None = getattr(self._local, "state", None)
        if st is None:
            conn = self._connect()
            st = _ThreadState(conn)
            # When the thread ends, its state goes, and the connection is closed.
            done = weakref.finalize(st, _close_quietly, conn, self._registry)
            with self._registry_lock:
                self._finalizers = [f for f in self._finalizers if f.alive]
                self._finalizers.append(done)
            self._local.state = st
        return st

    def _after_fork(self) -> None:
        """
        In a child process: never use, nor close, the parent's connections to the file
        (SQLite forbids carrying a connection across fork); open new ones. A private
        in-memory database is the child's own copy: it keeps its connection.
        """
        self._pid = os.getpid()
        with self._registry_lock:
            for f in self._finalizers:
                f.detach()
            if self._mutex is None:
                # Kept referenced, so that no finalizer or garbage collection closes them.
                self._inherited = [*self._inherited, *self._registry]
                self._registry = set()
            self._finalizers = []
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        if self._mutex is not None:
            self._mutex = threading.RLock()

    def _lock(self) -> AbstractContextManager[Any]:
        return self._mutex if self._mutex is not None else nullcontext()

    def _error(self, action: str, exc: sqlite3.Error) -> StorageError:
        """A StorageError that says what went wrong, in words, naming the file."""
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        where = self.path
        if name.startswith("SQLITE_BUSY") or "locked" in text:
            msg = (
                f"{action} on {where}: the database is locked by another connection and "
                f"stayed locked for more than {self.busy_timeout:g} s ({text})"
            )
        elif name.startswith("SQLITE_FULL") or "disk is full" in text:
            msg = f"{action} on {where}: the disk is full (or the database hit its size limit)"
        elif name.startswith("SQLITE_NOTADB") or "not a database" in text:
            msg = f"{action} on {where}: the file is not a SQLite database ({text})"
        elif name.startswith("SQLITE_CORRUPT") or "malformed" in text:
            msg = f"{action} on {where}: the database file is corrupt ({text})"
        elif name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
            msg = f"{action} on {where}: the file cannot be opened ({text})"
        elif name.startswith("SQLITE_READONLY") or "readonly" in text:
            msg = f"{action} on {where}: the database is read-only ({text})"
        else:
            msg = f"{action} on {where} failed: {text}"
        return StorageError(msg, backend=_BACKEND)

    @contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        """Lock (in memory), give the thread's connection, and translate driver errors."""
        with self._lock():
            conn = self._state().conn
            try:
                yield conn
            except sqlite3.Error as exc:
                if "binding parameter" in str(exc):
                    raise ValidationError(f"a value SQLite cannot store: {exc}") from exc
                raise self._error(action, exc) from exc
            except OverflowError as exc:
                raise ValidationError(f"an integer does not fit in 64 bits: {exc}") from exc

    @contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        """Several statements that must see one snapshot (a read transaction)."""
        with self._guard(action) as conn:
            st = self._state()
            if st.depth:
                yield conn
                return
            conn.execute("BEGIN")
            st.depth = 1
            try:
                yield conn
            except BaseException:
                st.depth = 0
                self._rollback(conn)
                raise
            st.depth = 0
            conn.execute("COMMIT")

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """An atomic write: its own transaction, or a savepoint in the caller's."""
        with self._guard(action) as conn, self.transaction():
            yield conn

    def _kind(self, kind: str) -> _Kind:
        k = self._kinds.get(kind)
        if k is None:
            self._reload_kinds()
            k = self._kinds.get(kind)
            if k is None:
                raise ValidationError.at(
                    "kind", f"unknown kind {kind!r}: migrate a schema that declares it"
                )
        return k

    def _validated(self, kind: str, problems: Callable[[_Kind], list[Problem]], what: str) -> _Kind:
        """
        The kind, once ``problems`` finds nothing wrong with the input for it; else
        ValidationError listing them. Another process may have migrated to a schema
        this object has not seen yet: the schema is reloaded once before giving up.
        """
        k = self._kind(kind)
        found = problems(k)
        if found:
            self._reload_kinds()
            k = self._kind(kind)
            found = problems(k)
            if found:
                raise ValidationError(found, record_type=what)
        return k

    # ----------------------------------------------------------------------------------
    # Schema

    def migrate(self, schema: Schema) -> None:
        """
        Create or upgrade the tables and indexes ``schema`` needs, in one transaction.

        New kinds get tables, new columns are added (NULL in existing rows), new or
        changed indexes are (re)built and indexes the schema no longer declares are
        dropped. Tables and columns are never dropped (a column whose type changes
        keeps its SQLite affinity; values are checked against the new type). A
        database already migrated to a newer ``Schema.version``, or with a newer
        storage layout, is refused and left as it is.
        """
        _check_schema(schema)
        kinds = {k.kind: _Kind(k) for k in schema.kinds}
        desc = _describe(schema, kinds)
        text = json.dumps(desc, sort_keys=True, separators=(",", ":"))
        with self._guard("migrate") as conn:
            meta = dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
            if self._migrated(meta, schema, text):
                self._kinds = kinds
                return
            with self.transaction():
                meta = dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
                if self._migrated(meta, schema, text):
                    self._kinds = kinds
                    return
                old: dict[str, Any] = {}
                if _META_SCHEMA in meta:
                    try:
                        old = {k["kind"]: k for k in json.loads(meta[_META_SCHEMA])["kinds"]}
                    except (ValueError, KeyError, TypeError):
                        old = {}  # unreadable: every index is rebuilt
                for name, k in kinds.items():
                    self._migrate_kind(conn, k, old.get(name, {}).get("sql_indexes", {}))
                conn.executemany(
                    "INSERT OR REPLACE INTO civiccrm_meta (key, value) VALUES (?, ?)",
                    [
                        (_META_LAYOUT, str(LAYOUT_VERSION)),
                        (_META_SCHEMA_VERSION, str(schema.version)),
                        (_META_SCHEMA, text),
                    ],
                )
        self._kinds = kinds

    def _migrated(self, meta: Mapping[str, str], schema: Schema, text: str) -> bool:
        """Whether ``schema`` is applied already; StorageError if the file is newer."""
        self._check_layout(meta)
        raw = meta.get(_META_SCHEMA_VERSION)
        try:
            stored = int(raw) if raw is not None else 0
        except ValueError:
            raise StorageError(
                f"{self.path}: civiccrm_meta holds a bad schema version {raw!r}",
                backend=_BACKEND,
            ) from None
        if stored > schema.version:
            raise StorageError(
                f"{self.path} was written by a newer civiccrm (schema version {stored}, "
                f"this version understands {schema.version}); upgrade civiccrm",
                backend=_BACKEND,
            )
        return stored == schema.version and meta.get(_META_SCHEMA) == text

    def _migrate_kind(self, conn: sqlite3.Connection, k: _Kind, old_sql: Mapping[str, str]) -> None:
        cols = ", ".join(f"{_q(c.name)} {_SQL_TYPE[c.type]}" for c in k.spec.columns)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {k.table} (id TEXT PRIMARY KEY NOT NULL,"
            f" version INTEGER NOT NULL, doc TEXT NOT NULL{', ' if cols else ''}{cols})"
        )
        have = {r[1].lower() for r in conn.execute(f"PRAGMA table_info({k.table})")}
        for c in k.spec.columns:
            if c.name.lower() not in have:
                conn.execute(f"ALTER TABLE {k.table} ADD COLUMN {_q(c.name)} {_SQL_TYPE[c.type]}")
                if c.source is not None:
                    self._fill_from_source(conn, k, c)
        wanted = k.index_sql()
        prefix = f"rec_{k.name}__"
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                (f"rec_{k.name}",),
            )
            if r[0].startswith(prefix)
        }
        for name in sorted(existing):
            if name not in wanted or old_sql.get(name) != wanted[name]:
                conn.execute(f"DROP INDEX {_q(name)}")
        for sql in wanted.values():
            conn.execute(sql)

    @staticmethod
    def _fill_from_source(conn: sqlite3.Connection, k: _Kind, c: ColumnSpec) -> None:
        """Fill the new column ``c`` from each stored document's ``c.source`` field."""
        # The source is checked against _IDENT-like rules by _check_schema, so it can be
        # quoted into a JSON path; json_type tells a string from a number from an object.
        path = f'$."{c.source}"'
        types = {
            ColumnType.TEXT: "('text')",
            ColumnType.INTEGER: "('integer')",
            ColumnType.REAL: "('integer', 'real')",
        }[c.type]
        cast = "REAL" if c.type is ColumnType.REAL else _SQL_TYPE[c.type]
        conn.execute(
            f"UPDATE {k.table} SET {_q(c.name)} = CAST(json_extract(doc, ?) AS {cast})"
            f" WHERE json_valid(doc) AND json_type(doc, ?) IN {types}",
            (path, path),
        )

    # ----------------------------------------------------------------------------------
    # Transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """
        Make everything inside atomic. The outermost ``transaction()`` of a thread
        begins (``BEGIN IMMEDIATE``) and commits; a nested one joins it as a
        savepoint, so that an exception caught inside the outer block undoes only the
        nested block's writes. On an exception: roll back, and re-raise.
        """
        with self._lock():
            st = self._state()
            conn = st.conn
            if st.depth == 0:
                self._run(conn, "BEGIN IMMEDIATE", "begin a transaction")
                st.depth = 1
                try:
                    yield
                except BaseException:
                    st.depth = 0
                    self._rollback(conn)
                    raise
                st.depth = 0
                if not conn.in_transaction:
                    raise StorageError(
                        f"{self.path}: the transaction was rolled back by SQLite after an "
                        "error inside it; nothing was committed",
                        backend=_BACKEND,
                    )
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback(conn)
                    raise self._error("commit", exc) from exc
            else:
                name = f"civiccrm_sp{st.depth}"
                self._run(conn, f"SAVEPOINT {name}", "begin a nested transaction")
                st.depth += 1
                try:
                    yield
                except BaseException:
                    st.depth -= 1
                    if conn.in_transaction:
                        try:
                            conn.execute(f"ROLLBACK TO {name}")
                            conn.execute(f"RELEASE {name}")
                        except sqlite3.Error:  # pragma: no cover - the outer one rolls back
                            pass
                    raise
                st.depth -= 1
                self._run(conn, f"RELEASE {name}", "end a nested transaction")

    def _run(self, conn: sqlite3.Connection, sql: str, action: str) -> None:
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            raise self._error(action, exc) from exc

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")

    # ----------------------------------------------------------------------------------
    # Records

    def get(self, kind: str, record_id: str) -> Record | None:
        """The record, or None."""
        k = self._kind(kind)
        with self._guard("get") as conn:
            row = conn.execute(f"{k.select} WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else k.record(row)

    def get_many(self, kind: str, ids: Sequence[str]) -> list[Record]:
        """The records that exist among ``ids``, in the order of ``ids``."""
        k = self._kind(kind)
        wanted = list(ids)
        found: dict[str, Record] = {}
        unique = list(dict.fromkeys(wanted))
        reader = self._read if len(unique) > _IN_CHUNK else self._guard
        with reader("get_many") as conn:
            for i in range(0, len(unique), _IN_CHUNK):
                chunk = unique[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                for row in conn.execute(f"{k.select} WHERE id IN ({marks})", chunk):
                    found[row[0]] = k.record(row)
        return [found[i] for i in wanted if i in found]

    def get_by_key(self, kind: str, key: str) -> Record | None:
        """The record whose key column equals ``key``, or None."""
        k = self._kind(kind)
        if k.key is None:
            raise ValidationError.at("kind", f"kind {kind!r} has no key column")
        with self._guard("get_by_key") as conn:
            row = conn.execute(f"{k.select} WHERE {_q(k.key)} = ?", (key,)).fetchone()
        return None if row is None else k.record(row)

    def put(self, record: Record, *, expected_version: int) -> Record:
        """
        Write ``record`` as version ``expected_version + 1`` if the stored version is
        ``expected_version`` (0: it must not exist). Returns the record as stored.
        ConflictError otherwise; ValidationError if its key is another record's.
        """
        bad_version = (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        )

        def problems(k: _Kind) -> list[Problem]:
            found = _record_problems(k, record, "")
            if bad_version:
                found.append(Problem("expected_version", "must be an integer, 0 or more"))
            return found

        k = self._validated(record.kind, problems, record.kind)
        values = [record.columns.get(c) for c in k.columns]
        new_version = expected_version + 1
        with self._write("put") as conn:
            if expected_version == 0:
                row = conn.execute(
                    f"SELECT version FROM {k.table} WHERE id = ?", (record.id,)
                ).fetchone()
                if row is not None:
                    raise ConflictError(
                        k.name, record.id, expected_version=0, actual_version=row[0]
                    )
                try:
                    conn.execute(k.insert, (record.id, 1, record.doc, *values))
                except sqlite3.IntegrityError as exc:
                    raise self._key_taken(conn, k, record, exc) from exc
            else:
                try:
                    cur = conn.execute(
                        k.update,
                        (new_version, record.doc, *values, record.id, expected_version),
                    )
                except sqlite3.IntegrityError as exc:
                    raise self._key_taken(conn, k, record, exc) from exc
                if cur.rowcount != 1:
                    row = conn.execute(
                        f"SELECT version FROM {k.table} WHERE id = ?", (record.id,)
                    ).fetchone()
                    raise ConflictError(
                        k.name,
                        record.id,
                        expected_version=expected_version,
                        actual_version=None if row is None else row[0],
                    )
        return Record(
            k.name, record.id, new_version, record.doc, dict(zip(k.columns, values, strict=True))
        )

    def _key_taken(
        self, conn: sqlite3.Connection, k: _Kind, record: Record, exc: sqlite3.IntegrityError
    ) -> Exception:
        if k.key is not None:
            key = record.columns.get(k.key)
            row = conn.execute(
                f"SELECT id FROM {k.table} WHERE {_q(k.key)} = ? AND id <> ?", (key, record.id)
            ).fetchone()
            if row is not None:
                return ValidationError.at(
                    f"columns.{k.key}",
                    f"{key!r} is already the key of {k.name} {row[0]}",
                )
        return self._error("put", exc)

    def delete(self, kind: str, record_id: str, *, expected_version: int) -> None:
        """
        Delete the record if its stored version is ``expected_version``; ConflictError
        otherwise (``actual_version`` None if there is no such record).
        """
        k = self._kind(kind)
        with self._write("delete") as conn:
            cur = conn.execute(
                f"DELETE FROM {k.table} WHERE id = ? AND version = ?",
                (record_id, expected_version),
            )
            if cur.rowcount == 1:
                return
            row = conn.execute(
                f"SELECT version FROM {k.table} WHERE id = ?", (record_id,)
            ).fetchone()
            raise ConflictError(
                k.name,
                record_id,
                expected_version=expected_version,
                actual_version=None if row is None else row[0],
            )

    def bulk_upsert(self, kind: str, records: Iterable[Record]) -> UpsertResult:
        """
        Insert or update by the kind's key column, atomically for the whole batch
        (inside the caller's transaction if one is open). A record whose key exists
        keeps the stored id; its version goes up by one if its document or columns
        changed. Records are applied in order: the same key twice in a batch is an
        insert (or update) and then an update.

        ValidationError listing every problem, and nothing written, for records
        without a key value, of another kind, with an unknown column or a value of the
        wrong type, or (new key) with the id of another record.
        """
        k = self._kind(kind)
        if k.key is None:
            raise ValidationError.at("kind", f"kind {kind!r} has no key column to upsert by")
        inserted = updated = total = 0
        optimistic = True  # no key of this call has existed yet
        problems: list[Problem] = []
        reloaded = False
        records = iter(records)
        with self._write("bulk_upsert") as conn:
            while chunk := list(itertools.islice(records, _BULK_CHUNK)):
                batch = None if problems else k.fast_batch(chunk, kind)
                if batch is None:
                    # The slow way: every problem of every record, with its index.
                    found = _chunk_problems(k, chunk, total, kind)
                    if found and not reloaded and any(".columns." in p.path for p in found):
                        # Another process may have migrated to a schema with more columns.
                        reloaded = True
                        fresh = self._kind_reloaded(kind)
                        if fresh.spec != k.spec and fresh.key is not None:
                            k = fresh
                            found = _chunk_problems(k, chunk, total, kind)
                    problems.extend(found)
                    if not problems:
                        batch = k.slow_batch(chunk)
                if batch is not None and not problems:
                    ins, upd, optimistic = self._upsert_chunk(conn, k, batch, optimistic)
                    inserted += ins
                    updated += upd
                total += len(chunk)
            if problems:
                raise ValidationError(problems, record_type=kind)
        return UpsertResult(inserted, updated, total - inserted - updated)

    def _kind_reloaded(self, kind: str) -> _Kind:
        self._reload_kinds()
        return self._kind(kind)

    def _upsert_chunk(
        self, conn: sqlite3.Connection, k: _Kind, batch: _Batch, optimistic: bool
    ) -> tuple[int, int, bool]:
        """
        Write one chunk: insert the records with new keys, then update those whose key
        exists and whose document or columns differ. Returns (inserted, updated,
        whether the next chunk may be optimistic).

        Optimistic (no key of this call has existed so far, as in a first import): a
        plain ``executemany`` INSERT of the whole chunk, as fast as SQLite goes. If a
        key exists, it is undone (savepoint) and the chunk is sorted out instead: one
        indexed lookup of its keys, then the inserts, then the updates.
        """
        if optimistic:
            conn.execute("SAVEPOINT civiccrm_bulk")
            try:
                conn.executemany(k.bulk_insert, batch.rows())
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK TO civiccrm_bulk")
                conn.execute("RELEASE civiccrm_bulk")
            else:
                conn.execute("RELEASE civiccrm_bulk")
                return len(batch), 0, True
        keys = batch.keys
        unique = list(dict.fromkeys(keys))
        seen: set[Scalar] = set()
        for i in range(0, len(unique), _IN_CHUNK):
            chunk = unique[i : i + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            seen.update(r[0] for r in conn.execute(f"{k.select_keys} ({marks})", chunk))
        # A key not stored yet is an insert the first time, an update after that.
        is_new: list[bool] = []
        for key in keys:
            if key in seen:
                is_new.append(False)
            else:
                seen.add(key)
                is_new.append(True)
        inserted = sum(is_new)
        if inserted:
            try:
                conn.executemany(k.bulk_insert, batch.rows(is_new))
            except sqlite3.IntegrityError as exc:
                raise self._id_taken(conn, k, batch, is_new, exc) from exc
        updated = 0
        if inserted < len(batch):
            updated = conn.executemany(
                k.bulk_update, batch.rows(not new for new in is_new)
            ).rowcount
        return inserted, updated, False

    def _id_taken(
        self,
        conn: sqlite3.Connection,
        k: _Kind,
        batch: _Batch,
        is_new: list[bool],
        exc: sqlite3.IntegrityError,
    ) -> Exception:
        """The error for a failed insert of new keys: an id that is taken, or the driver's."""
        ids = list(itertools.compress(batch.ids, is_new))
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            row = conn.execute(f"SELECT id FROM {k.table} WHERE id IN ({marks})", chunk).fetchone()
            if row is not None:
                return ValidationError.at(
                    "id",
                    f"a record with a new key has the id of an existing {k.name} "
                    f"with another key: {row[0]}",
                )
        return self._error("bulk_upsert", exc)

    # ----------------------------------------------------------------------------------
    # Queries

    def query(self, query: Query) -> Page:
        """
        One page of records matching ``query``, in order (NULLs last, ties by id).

        Pages are read with keyset pagination: first the rows whose order value is
        not NULL, then (when those run out) the rows where it is NULL, in id order.
        Each part reads an index in order when the order column has one.
        """
        k = self._query_kind(query)
        order = query.order_by
        after = query.after
        limit = query.limit
        terms, params = _filters_sql(k, query.where, "where")
        columns = query.columns
        want = None if limit is None else limit + 1
        rows: list[Any] = []
        with self._guard("query") as conn:
            if order is None:
                where = list(terms)
                args = list(params)
                if after is not None:
                    where.append("id > ?")
                    args.append(after.id)
                rows = self._select(conn, k, where, args, "id", want, columns=columns)
            else:
                col = _column_sql(k, order.column, "order_by.column")
                if after is None or after.value is not None:
                    # First the rows whose order value is not NULL ...
                    where = [*terms, f"{col} IS NOT NULL"]
                    args = list(params)
                    if after is not None:
                        if order.descending:
                            where.append(f"({col} < ? OR ({col} = ? AND id > ?))")
                            args += [after.value, after.value, after.id]
                        else:
                            where.append(f"({col}, id) > (?, ?)")
                            args += [after.value, after.id]
                    by = f"{col} DESC, id" if order.descending else f"{col}, id"
                    rows = self._select(conn, k, where, args, by, want, columns=columns)
                if want is None or len(rows) < want:
                    # ... then the rows where it is NULL, in id order.
                    where = [*terms, f"{col} IS NULL"]
                    args = list(params)
                    if after is not None and after.value is None:
                        where.append("id > ?")
                        args.append(after.id)
                    more = None if want is None else want - len(rows)
                    rows += self._select(conn, k, where, args, "id", more, columns=columns)
        if columns is None:
            records = tuple(k.record(r) for r in rows[:limit])
        else:
            name = k.name
            records = tuple(
                Record(name, r[0], r[1], "", dict(zip(columns, r[3:], strict=True)))
                for r in rows[:limit]
            )
        nxt: Cursor | None = None
        if limit is not None and len(rows) > limit:
            last = records[-1]
            value = None if order is None else last.columns[order.column]
            nxt = Cursor(value, last.id)
        return Page(records, nxt)

    def _query_kind(self, query: Query) -> _Kind:
        """The kind ``query`` reads, once the query is known to be valid for it."""
        if not isinstance(query, Query):
            raise ValidationError.at("", f"not a Query: {query!r}")
        _check_shapes(query.where, "where")
        after = query.after
        if after is not None and (not isinstance(after, Cursor) or not isinstance(after.id, str)):
            raise ValidationError.at("after", f"not a cursor: {after!r}")
        order = query.order_by
        if order is not None and not isinstance(order, Order):
            raise ValidationError.at("order_by", f"not an Order: {order!r}")
        return self._validated(
            query.kind, lambda k: _query_problems(k, query), f"{query.kind} query"
        )

    def _select(
        self,
        conn: sqlite3.Connection,
        k: _Kind,
        where: list[str],
        args: list[Scalar],
        order_by: str,
        limit: int | None,
        *,
        columns: tuple[str, ...] | None = None,
    ) -> list[Any]:
        sql = k.select if columns is None else k.projection(columns)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += " LIMIT ?"
            args = [*args, limit]
        return conn.execute(sql, args).fetchall()

    def stream(self, query: Query, *, batch_size: int = 1000) -> Iterator[Record]:
        """Every record matching ``query`` (its limit ignored), page by page."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError.at("batch_size", "must be an integer, 1 or more")
        paged = attrs.evolve(query, limit=batch_size)
        self._query_kind(paged)  # validate now, not at the first next()
        return pages(self.query, paged)

    def count(
        self, kind: str, where: Sequence[Filter] = (), *, group_by: str | None = None
    ) -> dict[Scalar, int]:
        """Counts of matching records: ``{None: n}`` ungrouped, else per value of ``group_by``."""
        _check_shapes(where, "where")

        def problems(k: _Kind) -> list[Problem]:
            found = validate_filters(k.spec, where)
            if group_by is not None and group_by not in k.known:
                found.append(Problem("group_by", f"unknown column {group_by!r} of kind {k.name!r}"))
            return found

        k = self._validated(kind, problems, f"{kind} count")
        terms, params = _filters_sql(k, where, "where")
        col = None if group_by is None else _column_sql(k, group_by, "group_by")
        cond = (" WHERE " + " AND ".join(terms)) if terms else ""
        with self._guard("count") as conn:
            if col is None:
                n = conn.execute(f"SELECT COUNT(*) FROM {k.table}{cond}", params).fetchone()[0]
                return {None: n}
            rows = conn.execute(
                f"SELECT {col}, COUNT(*) FROM {k.table}{cond} GROUP BY {col}", params
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def aggregate(self, queries: Sequence[Aggregate]) -> list[tuple[AggregateRow, ...]]:
        """
        Answer aggregate queries (see :class:`~civiccrm.adapters._base.Aggregate`) in
        one read transaction. Two or more queries of a kind first copy the columns they
        read into a temporary table, so that the kind's table is scanned once; exact
        percentiles are ``ROW_NUMBER()`` window queries (see
        :mod:`civiccrm.adapters._aggregate`). For the call, the connection reads the
        file through a memory map and gives temporary tables a larger page cache (both
        settings are put back afterwards): a scan of a large table is CPU-bound.
        """

        def spec_of(kind: str) -> KindSpec | None:
            k = self._kinds.get(kind)
            return None if k is None else k.spec

        try:
            _aggregate.check(spec_of, queries)
        except ValidationError:
            self._reload_kinds()  # another process may have migrated
            _aggregate.check(spec_of, queries)
        with self._guard("aggregate") as conn:
            settings = {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in _AGGREGATE_PRAGMAS}
            for pragma, value in _AGGREGATE_PRAGMAS.items():
                conn.execute(f"PRAGMA {pragma} = {value}")
            try:
                with self._read("aggregate"):
                    return _aggregate.answer(
                        spec_of,
                        lambda kind: self._kinds[kind].table,
                        queries,
                        _aggregate.SQLITE,
                        lambda sql, params: conn.execute(sql, params).fetchall(),
                        temp='temp."civiccrm_aggregate"',
                    )
            finally:
                for pragma, value in settings.items():
                    conn.execute(f"PRAGMA {pragma} = {int(value)}")

    # ----------------------------------------------------------------------------------
    # Work queue

    def enqueue(self, topic: str, keys: Sequence[str], *, payload: str = "") -> int:
        """
        Add tasks; a (topic, key) already queued and not done is left as it is, and a
        done one is queued afresh (no attempts, last in line). Returns how many were
        added.
        """
        rows = [(topic, key) for key in keys]
        if not rows:
            return 0
        with self._write("enqueue") as conn:
            conn.executemany(
                "DELETE FROM civiccrm_tasks WHERE topic = ? AND key = ? AND done <> 0", rows
            )
            cur = conn.executemany(
                "INSERT INTO civiccrm_tasks (topic, key, payload) VALUES (?, ?, ?)"
                " ON CONFLICT (topic, key) DO NOTHING",
                [(topic, key, payload) for key in keys],
            )
            return cur.rowcount

    def claim(
        self, topic: str, *, worker: str, limit: int, lease_us: int, now_us: int
    ) -> list[Task]:
        """
        Claim up to ``limit`` tasks, oldest first, that are not done and not under a
        lease ending after ``now_us``; lease them to ``worker`` until
        ``now_us + lease_us``. Atomic across threads and processes (the whole claim is
        one write transaction), so that a task is never handed to two workers at once.
        """
        problems: list[Problem] = []
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            problems.append(Problem("limit", "must be 1 or more"))
        if isinstance(lease_us, bool) or not isinstance(lease_us, int) or lease_us < 1:
            problems.append(Problem("lease_us", "must be 1 or more"))
        if isinstance(now_us, bool) or not isinstance(now_us, int):
            problems.append(Problem("now_us", "must be an integer (microseconds)"))
        if problems:
            raise ValidationError(problems, record_type="claim")
        lease_until = now_us + lease_us
        with self._write("claim") as conn:
            rows = conn.execute(
                "SELECT rowid, key, payload, attempts FROM civiccrm_tasks"
                " WHERE topic = ? AND done = 0 AND (lease_until IS NULL OR lease_until <= ?)"
                " ORDER BY rowid LIMIT ?",
                (topic, now_us, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE civiccrm_tasks SET worker = ?, lease_until = ?, attempts = attempts + 1"
                " WHERE rowid = ?",
                [(worker, lease_until, r[0]) for r in rows],
            )
        return [Task(topic, r[1], r[2], r[3] + 1, lease_until) for r in rows]

    def complete(self, topic: str, keys: Sequence[str], *, worker: str) -> int:
        """
        Mark tasks done if ``worker`` still holds their lease: it is the last worker
        that claimed them (an expired lease still counts until another worker claims
        the task). Returns how many were marked.
        """
        rows = [(topic, key, worker) for key in keys]
        if not rows:
            return 0
        with self._write("complete") as conn:
            cur = conn.executemany(
                "UPDATE civiccrm_tasks SET done = 1, lease_until = NULL"
                " WHERE topic = ? AND key = ? AND worker = ? AND done = 0",
                rows,
            )
            return cur.rowcount

    # ----------------------------------------------------------------------------------
    # Audit log and keys

    def append_audit(self, entries: Sequence[str]) -> list[int]:
        """Append opaque audit entries; returns their sequence numbers (increasing)."""
        rows = [(e,) for e in entries]
        if not rows:
            return []
        with self._write("append_audit") as conn:
            conn.executemany("INSERT INTO civiccrm_audit (entry) VALUES (?)", rows)
            # Inside a write transaction nobody else inserts: the numbers are consecutive.
            last: int = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))

    def read_audit(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """Audit entries with a sequence number above ``after``, in order."""
        if limit <= 0:
            return []
        with self._guard("read_audit") as conn:
            rows = conn.execute(
                "SELECT seq, entry FROM civiccrm_audit WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def prune_audit(self, through: int) -> int:
        """Delete the audit entries numbered up to ``through``; returns how many.
        Sequence numbers are never reused (the table is AUTOINCREMENT)."""
        with self._write("prune_audit") as conn:
            cur = conn.execute("DELETE FROM civiccrm_audit WHERE seq <= ?", (through,))
            return cur.rowcount

    def put_key(self, key_id: str, wrapped: bytes) -> None:
        """
        Store a wrapped data key (replacing one with the same id), in the key file,
        durably, now: not part of any open transaction.
        """
        self._keys.put(key_id, wrapped)

    def add_keys(self, keys: Sequence[tuple[str, bytes]]) -> set[str]:
        """
        Store each wrapped key of an id not stored yet (not even as an erased key), all
        in one transaction, durably, now; the ids it stored. Of two processes adding one
        key at once, exactly one stores it.
        """
        return self._keys.add_many(keys)

    def put_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Store many wrapped keys at once, all or none, durably, now."""
        self._keys.put_many(keys)

    def get_key(self, key_id: str) -> bytes | None:
        """A wrapped data key, or None."""
        return self._keys.get(key_id)

    def get_keys(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        """The wrapped keys that exist among ``key_ids``."""
        return self._keys.get_many(key_ids)

    def delete_key(self, key_id: str) -> bool:
        """Destroy a wrapped data key (overwritten in the key file, now); True if it existed."""
        return self._keys.delete(key_id)

    def list_keys(self, *, after: str = "", limit: int = 1000) -> list[str]:
        """Key ids greater than ``after``, in order, at most ``limit``."""
        return self._keys.list(after=after, limit=limit)

    # ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection (of every thread). The storage is unusable afterwards."""
        self._closed = True
        with self._registry_lock:
            conns = list(self._registry)
            self._registry.clear()
            for f in self._finalizers:
                f.detach()
            self._finalizers = []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._shared = None
        keys = getattr(self, "_keys", None)
        if keys is not None:
            keys.close()
