"""
The PostgreSQL storage backend: a shared database server for many processes and hosts.

``PostgreSQLStorage("postgresql://user:password@host:5432/dbname")`` opens a database on
a PostgreSQL server (``postgres://`` works too). Every libpq connection parameter may be
given in the URL's query string (``?sslmode=require&connect_timeout=5``); civiccrm's own
parameter, ``schema=NAME`` (default ``public``), puts every table in that PostgreSQL
schema, which is created if it is missing, so that several CRM databases (or test runs)
can share one PostgreSQL database. It is removed from the URL before the URL reaches
the driver.

It needs psycopg 3 and psycopg_pool: ``pip install 'civiccrm[postgresql]'``.

Layout of a schema (the *storage layout*, versioned by :data:`LAYOUT_VERSION`):

- ``civiccrm_meta(key, value)``: the storage layout version, the application's
  :attr:`Schema.version`, and a JSON description of the kinds, columns and indexes
  that were applied.
- ``rec_<kind>(id, version, doc, <one column per ColumnSpec>)``: one table per kind.
  ``doc`` is TEXT, so that a document comes back byte for byte as it was written
  (JSONB would reorder keys, drop duplicates and rewrite numbers). TEXT columns are
  ``TEXT COLLATE "C"`` (code point order, as the contract orders text), INTEGER
  columns (timestamps included, in microseconds) ``BIGINT``, REAL columns ``DOUBLE
  PRECISION``. The key column has a unique index; an ``indexed`` column an index on
  ``(column, id)``; an :class:`IndexSpec` an index on ``(columns..., id)``, partial when
  it has filters. Index names are ``rec_<kind>__c__<column>``, ``rec_<kind>__k__<column>``
  and ``rec_<kind>__i__<name>`` (shortened with a hash beyond 63 bytes).
- ``civiccrm_tasks`` (and the sequence ``civiccrm_task_seq``), ``civiccrm_audit`` and
  ``civiccrm_keys``: the work queue, the audit log and the wrapped data keys. A task's
  row is deleted when it is completed (rows marked ``done`` by an older civiccrm are
  left as they are, and queued afresh when their key is enqueued again).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import operator
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeAlias
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

try:
    import psycopg
    import psycopg.errors
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import TransactionStatus
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as _exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the PostgreSQL backend needs psycopg 3 and psycopg_pool: "
        "pip install 'civiccrm[postgresql]'"
    ) from _exc

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
    wrapped_keys,
)
from civiccrm.errors import ConflictError, Problem, StorageError, ValidationError

__all__ = ["LAYOUT_VERSION", "PostgreSQLStorage"]

#: The version of this module's table layout (not the application's Schema.version).
LAYOUT_VERSION: Final = 1

_BACKEND: Final = "postgresql"
_SCHEMES: Final = ("postgresql://", "postgres://")
#: civiccrm's own URL parameters, removed before the URL reaches libpq.
_OWN_PARAMS: Final = frozenset({"schema"})
_DEFAULT_SCHEMA: Final = "public"
_CONNECT_TIMEOUT: Final = 10
#: Records per COPY chunk in bulk_upsert (bounds memory for huge iterables).
_BULK_CHUNK: Final = 5000
#: An IN list longer than this is sent as one array parameter when it can be.
_IN_LIST: Final = 1000
#: An enqueue adding this many tasks refreshes the queue table's statistics.
_ANALYZE_AFTER: Final = 1000
#: Rows per batch when a migration fills a new column from the documents.
_FILL_BATCH: Final = 1000
_MAX_IDENT: Final = 63
_INT64: Final = (-(2**63), 2**63 - 1)

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
#: Column names the tables use themselves, and PostgreSQL's system columns.
_RESERVED: Final = frozenset(
    {"id", "version", "doc", "rowid", "oid", "_rowid_"}
    | {"tableoid", "xmin", "xmax", "cmin", "cmax", "ctid"}
)
_SQL_TYPE: Final = {
    ColumnType.TEXT: 'TEXT COLLATE "C"',
    ColumnType.INTEGER: "BIGINT",
    ColumnType.REAL: "DOUBLE PRECISION",
}
#: The type a column is converted to when its ColumnType changes.
_CAST_TYPE: Final = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.REAL: "float8",
}
#: What information_schema.columns.data_type says for each column type.
_CATALOG_TYPE: Final = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.REAL: "double precision",
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

_log = logging.getLogger(__name__)

_Conn: TypeAlias = "psycopg.Connection[TupleRow]"


def _q(name: str) -> str:
    """Quote an identifier (names are checked against ``_IDENT`` before they get here)."""
    return f'"{name}"'


def _ident(name: str) -> str:
    """``name``, shortened with a hash if PostgreSQL would cut it (63 bytes at most)."""
    if len(name.encode()) <= _MAX_IDENT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[:50]}_{digest}"


def _lock_key(purpose: str, schema: str) -> int:
    """A 64-bit advisory lock key for ``purpose`` in ``schema``."""
    digest = hashlib.sha256(f"civiccrm:{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _literal(value: object, path: str) -> str:
    """
    A value as an SQL literal, for partial-index predicates (CREATE INDEX takes no
    parameters): ints, finite floats and strings only. A string is quoted with ``'``
    doubled, and written as an ``E''`` string (backslashes doubled too) if it holds a
    backslash, so that it means the same whatever ``standard_conforming_strings`` says.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        raise ValidationError.at(path, f"{value!r} cannot be used in an index filter")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError.at(path, f"{value!r} cannot be used in an index filter")
        return f"{value!r}::float8"
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError.at(path, "a NUL character cannot be used in an index filter")
        quoted = value.replace("'", "''")
        if "\\" in quoted:
            return "E'" + quoted.replace("\\", "\\\\") + "'"
        return f"'{quoted}'"
    raise ValidationError.at(
        path, f"{value!r} cannot be used in an index filter (only int, float, str)"
    )


# --------------------------------------------------------------------------------------
# URLs


@attrs.frozen
class _Target:
    """What a URL names: the libpq URL (with any password), the schema, and words for errors."""

    conninfo: str = attrs.field(repr=False)
    schema: str
    #: host:port/dbname, for messages (never the password).
    where: str
    #: The URL with its password masked.
    redacted: str
    password: str | None = attrs.field(repr=False)


def _redact(url: str) -> str:
    """``url`` with the password (in the user part or a ``password=`` parameter) masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hosts}"
    query = "&".join(
        f"{item.split('=', 1)[0]}=***" if unquote(item.split("=", 1)[0]) == "password" else item
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _parse_url(url: object) -> _Target:
    if not isinstance(url, str) or not url.startswith(_SCHEMES):
        shown = _redact(url) if isinstance(url, str) else repr(url)
        raise ValidationError.at(
            "url",
            f"{shown!r} is not a PostgreSQL URL "
            "(postgresql://user:password@host:port/dbname?schema=NAME)",
        )
    redacted = _redact(url)
    parts = urlsplit(url)
    schema = _DEFAULT_SCHEMA
    kept: list[str] = []
    seen: set[str] = set()
    for item in parts.query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = unquote(name)
        if name not in _OWN_PARAMS:
            kept.append(item)
            continue
        if name in seen:
            raise ValidationError.at("url", f"{redacted!r} gives {name}= twice")
        seen.add(name)
        schema = unquote(value)
    if not _IDENT.match(schema) or schema.lower().startswith("pg_"):
        raise ValidationError.at(
            "url",
            f"schema={schema!r} is not a schema name civiccrm uses (letters, digits and _, "
            "at most 63, not starting with pg_)",
        )
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), ""))
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        text = str(exc)
        raw = parts.password
        for secret in {raw, unquote(raw)} if raw else ():
            text = text.replace(secret, "***")
        raise ValidationError.at(
            "url", f"{redacted!r} is not a valid PostgreSQL URL: {text}"
        ) from None
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "(the user's database)")
    where = f"{host} (port {port})/{dbname}" if "," in host else f"{host}:{port}/{dbname}"
    password = params.get("password")
    return _Target(
        conninfo=conninfo,
        schema=schema,
        where=where,
        redacted=redacted,
        password=str(password) if password else None,
    )


# --------------------------------------------------------------------------------------
# Kinds: the SQL of each kind of record, built once


class _Kind:
    """A kind of record as this backend stores it, with its SQL prepared."""

    def __init__(self, spec: KindSpec, schema: str) -> None:
        self.spec = spec
        self.name = spec.kind
        self.schema = schema
        self.table_name = f"rec_{spec.kind}"
        self.table = f"{_q(schema)}.{_q(self.table_name)}"
        self.columns: tuple[str, ...] = tuple(c.name for c in spec.columns)
        self.known: frozenset[str] = frozenset(self.columns)
        self.key = spec.key_column
        self.key_at = -1 if self.key is None else self.columns.index(self.key)
        self.fast_types: tuple[frozenset[type], ...] = tuple(
            _FAST_TYPES[c.type] for c in spec.columns
        )
        #: Filters used by partial indexes: a query with the very same filter gets it
        #: as a literal, so that PostgreSQL can prove the partial index applies.
        self.index_filters: frozenset[Filter] = frozenset(
            f for ix in spec.indexes for f in ix.where
        )
        t = self.table
        n = len(self.columns)
        cols = "".join(f", {_q(c)}" for c in self.columns)
        self.select = f"SELECT id, version, doc{cols} FROM {t}"
        self._projections: dict[tuple[str, ...], str] = {}
        self.insert = (
            f"INSERT INTO {t} (id, version, doc{cols}) VALUES (%s, 1, %s{', %s' * n})"
            " ON CONFLICT DO NOTHING"
        )
        sets = "".join(f", {_q(c)} = %s" for c in self.columns)
        self.update = f"UPDATE {t} SET version = %s, doc = %s{sets} WHERE id = %s AND version = %s"
        self.stage_ddl = ""
        self.copy = ""
        self.upsert = ""
        if self.key is not None:
            stage_cols = "".join(
                f", c{i} {'TEXT' if c.type is ColumnType.TEXT else _SQL_TYPE[c.type]}"
                for i, c in enumerate(spec.columns)
            )
            self.stage_ddl = (
                "DROP TABLE IF EXISTS pg_temp.civiccrm_stage; "
                "CREATE TEMP TABLE civiccrm_stage (ord BIGINT NOT NULL, gen INTEGER NOT NULL,"
                f" id TEXT NOT NULL, doc TEXT NOT NULL{stage_cols}) ON COMMIT DROP"
            )
            numbered = "".join(f", c{i}" for i in range(n))
            self.copy = f"COPY pg_temp.civiccrm_stage (ord, gen, id, doc{numbered}) FROM STDIN"
            others = [c for c in self.columns if c != self.key]
            set_cols = "".join(f", {_q(c)} = EXCLUDED.{_q(c)}" for c in others)
            old = ", ".join(["t.doc", *(f"t.{_q(c)}" for c in others)])
            new = ", ".join(["EXCLUDED.doc", *(f"EXCLUDED.{_q(c)}" for c in others)])
            self.upsert = (
                f"WITH w AS (INSERT INTO {t} AS t (id, version, doc{cols})"
                f" SELECT id, 1, doc{numbered} FROM pg_temp.civiccrm_stage"
                " WHERE gen = %s ORDER BY ord"
                f" ON CONFLICT ({_q(self.key)}) DO UPDATE SET version = t.version + 1,"
                f" doc = EXCLUDED.doc{set_cols}"
                f" WHERE ({old}) IS DISTINCT FROM ({new})"
                " RETURNING t.version)"
                " SELECT count(*) FILTER (WHERE version = 1), count(*) FROM w"
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

    def index_defs(self) -> dict[str, str]:
        """
        Every index this kind needs: name -> what follows ``ON <table>`` (with UNIQUE
        first for the key). Kept in the schema description to tell a changed index.
        """
        out: dict[str, str] = {}
        base = self.table_name
        if self.key is not None:
            out[_ident(f"{base}__k__{self.key}")] = f"UNIQUE ({_q(self.key)})"
        for c in self.spec.columns:
            if c.indexed and c.name != self.key:
                out[_ident(f"{base}__c__{c.name}")] = f"({_q(c.name)}, id)"
        for i, ix in enumerate(self.spec.indexes):
            cols = ", ".join(_q(c) for c in ix.columns)
            if "id" not in ix.columns:
                cols += ", id"
            definition = f"({cols})"
            if ix.where:
                terms, _ = _filters_sql(
                    self, ix.where, f"kinds.{self.name}.indexes[{i}].where", literal=True
                )
                definition += " WHERE " + " AND ".join(terms)
            out[_ident(f"{base}__i__{ix.name}")] = definition
        return out

    def index_sql(self, name: str, definition: str) -> str:
        unique = definition.startswith("UNIQUE ")
        body = definition[len("UNIQUE ") :] if unique else definition
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return f"CREATE {kind} IF NOT EXISTS {_q(name)} ON {self.table} {body}"

    def fast_rows(self, records: list[Record], kind: str) -> _Rows | None:
        """
        The columns of ``records`` for COPY, if every record is plainly valid: of
        ``kind``, a non-empty string id, a string document, known columns only, values
        of exactly the types the columns take (no NaN), a key value. None otherwise
        (then each record is checked on its own, slowly, to name every problem).
        """
        colss = list(map(_COLUMNS, records))
        try:
            if not self.known.issuperset(itertools.chain.from_iterable(colss)):
                return None
            values = [list(map(dict.get, colss, itertools.repeat(c))) for c in self.columns]
        except (TypeError, AttributeError):  # columns that are not a dict
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
        return _Rows(ids, docs, values, self.key_at)

    def slow_rows(self, records: list[Record]) -> _Rows:
        """The columns of ``records``, which were checked one by one."""
        return _Rows(
            [r.id for r in records],
            [r.doc for r in records],
            [[r.columns.get(c) for r in records] for c in self.columns],
            self.key_at,
        )


class _Rows:
    """A chunk of a bulk upsert, column by column."""

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


def _array(column: ColumnSpec, values: tuple[Scalar, ...]) -> tuple[str, list[Any]] | None:
    """A long IN list as one array parameter (its SQL type and items), when it can be."""
    if column.type is ColumnType.TEXT:
        if all(v is None or isinstance(v, str) for v in values):
            return "text[]", list(values)
        return None
    if column.type is ColumnType.INTEGER:
        if all(
            v is None
            or (isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1])
            for v in values
        ):
            return "bigint[]", list(values)
        return None
    if all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 2**53)
        for v in values
    ):
        return "float8[]", [None if v is None else float(v) for v in values]
    return None


def _filters_sql(
    kind: _Kind, filters: Iterable[Filter], path: str, *, literal: bool = False
) -> tuple[list[str], list[Any]]:
    """
    SQL terms (to be joined with AND) and their parameters. Column names are checked
    against the kind's columns; values are parameters, or (``literal=True``, for index
    definitions, and for a filter identical to a partial index's) safe literals. In a
    query (not an index), a literal's ``%`` is doubled for the driver's placeholders.
    """
    terms: list[str] = []
    params: list[Any] = []

    def lit(value: object, at: str) -> str:
        text = _literal(value, at)
        return text if literal else text.replace("%", "%%")

    for i, f in enumerate(filters):
        here = f"{path}[{i}]"
        if not isinstance(f, Filter):
            raise ValidationError.at(here, f"not a Filter: {f!r}")
        col = _column_sql(kind, f.column, f"{here}.column")
        op = f.op
        value = f.value
        if op not in _OPS:
            raise ValidationError.at(f"{here}.op", f"unknown operator {op!r}")
        inline = literal or _is_index_filter(kind, f)
        if op in ("in", "not_in"):
            if not isinstance(value, tuple | list):
                raise ValidationError.at(f"{here}.value", f"{op} needs a tuple of values")
            values = tuple(value)
            if not values:
                # in (): nothing matches. not_in (): every non-NULL value.
                terms.append("FALSE" if op == "in" else f"{col} IS NOT NULL")
                continue
            array = None
            if not inline and len(values) > _IN_LIST:
                array = _array(kind.spec.column(f.column), values)
            if inline:
                items = ", ".join(lit(v, f"{here}.value") for v in values)
                terms.append(f"{col} {'IN' if op == 'in' else 'NOT IN'} ({items})")
            elif array is not None:
                sql_type, items_list = array
                terms.append(
                    f"{col} = ANY(%s::{sql_type})"
                    if op == "in"
                    else f"{col} <> ALL(%s::{sql_type})"
                )
                params.append(items_list)
            else:
                marks = ", ".join(["%s"] * len(values))
                terms.append(f"{col} {'IN' if op == 'in' else 'NOT IN'} ({marks})")
                params.extend(values)
        elif op in ("is_null", "not_null"):
            terms.append(f"{col} IS {'NULL' if op == 'is_null' else 'NOT NULL'}")
        else:
            if isinstance(value, tuple | list):
                raise ValidationError.at(f"{here}.value", f"{op} needs a single value")
            if inline:
                terms.append(f"{col} {_COMPARE[op]} {lit(value, f'{here}.value')}")
            else:
                terms.append(f"{col} {_COMPARE[op]} %s")
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
    if (
        k.key is not None
        and isinstance(record.columns, Mapping)
        and (record.columns.get(k.key) is None)
    ):
        problems.append(Problem(f"[{i}].columns.{k.key}", "no value for the key column"))
    return problems


def _chunk_problems(k: _Kind, records: list[Record], start: int, kind: str) -> list[Problem]:
    return [p for i, r in enumerate(records, start) for p in _upsert_problems(k, r, i, kind)]


def _check_schema(schema: Schema, db_schema: str) -> None:
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
        if (
            not isinstance(k.kind, str)
            or not _IDENT.match(k.kind)
            or "__" in k.kind
            or len(k.kind) > _MAX_IDENT - len("rec_")
        ):
            bad(
                f"{kp}.kind",
                f"{k.kind!r} is not a valid kind name (letters, digits, single _, "
                f"at most {_MAX_IDENT - len('rec_')})",
            )
            continue
        if k.kind.lower() in seen_kinds:
            bad(f"{kp}.kind", f"kind {k.kind!r} is declared twice")
        seen_kinds.add(k.kind.lower())
        seen_cols: set[str] = set()
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
            seen_cols.add(c.name.lower())
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
            _check_shapes(ix.where, f"{ip}.where")
            problems.extend(validate_filters(k, ix.where, path=f"{ip}.where"))
    if problems:
        raise ValidationError(problems, record_type="schema")
    # The filters of partial indexes (columns, operators and literals).
    for k in schema.kinds:
        _Kind(k, db_schema).index_defs()


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
                "sql_indexes": kinds[k.kind].index_defs(),
            }
            for k in schema.kinds
        ],
    }


def _kinds_from_description(desc: Mapping[str, Any], db_schema: str) -> dict[str, _Kind]:
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
        out[spec.kind] = _Kind(spec, db_schema)
    return out


def _source_values(columns: Sequence[ColumnSpec], doc: str) -> list[Scalar]:
    """
    The values of new ``columns`` copied from the document ``doc`` (each column's
    ``source`` field), as :func:`civiccrm.adapters._evaluate.from_source` reads them,
    parsing the document once; integers beyond 64 bits and non-finite numbers are NULL.
    """
    try:
        data = json.loads(doc)
    except (ValueError, RecursionError):
        return [None] * len(columns)
    if not isinstance(data, dict):
        return [None] * len(columns)
    out: list[Scalar] = []
    for c in columns:
        value = data.get(c.source) if c.source is not None else None
        got: Scalar = None
        if isinstance(value, bool) or value is None:
            got = None
        elif c.type is ColumnType.TEXT:
            got = value if isinstance(value, str) else None
        elif c.type is ColumnType.INTEGER:
            if isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
                got = value
        elif isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            got = number if math.isfinite(number) else None
        out.append(got)
    return out


# --------------------------------------------------------------------------------------
# Connections


class _ThreadState:
    """One thread's transaction: its connection (held while it lasts) and depth."""

    __slots__ = ("conn", "depth", "vacuum")

    def __init__(self) -> None:
        self.conn: _Conn | None = None
        self.depth = 0
        #: A key was deleted inside the transaction: vacuum the key table after it.
        self.vacuum = False


class _Taken(Exception):
    """A unique index refused a write (raised inside, turned into a ValidationError)."""

    def __init__(self, exc: psycopg.errors.UniqueViolation) -> None:
        super().__init__(str(exc))
        self.exc = exc


class PostgreSQLStorage:
    """
    **Storage backend** on a PostgreSQL server (psycopg 3, a connection pool).

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (or ``postgres://``), with
            any libpq parameter in the query string, and optionally ``schema=NAME``:
            the PostgreSQL schema that holds every table (default ``public``; created
            if missing). :attr:`url` keeps the URL with its password masked; the
            password appears in no message and no ``repr``.
        min_size: connections the pool keeps open.
        max_size: connections the pool opens at most (threads beyond wait for one).
        timeout: seconds a call waits for a free connection (or for the server) before
            :class:`StorageError`.
        vacuum_keys: run ``VACUUM`` on the key table after :meth:`delete_key` (see below).

    Concurrency: calls outside :meth:`transaction` borrow a pooled connection in
    autocommit mode, so each call is committed on its own (a call of several statements
    runs in a transaction of its own). A thread's :meth:`transaction` holds one
    connection until it ends, at READ COMMITTED: optimistic version checks are single
    ``UPDATE ... WHERE version = n`` statements, which PostgreSQL re-checks against the
    latest row version, so a stale write never wins, across threads, processes and
    hosts. Inside a transaction each write runs under a savepoint, so that a failed
    call (a key that is taken) undoes only itself, as with SQLite. The work queue claims
    with ``SELECT ... FOR UPDATE SKIP LOCKED``; appends to the audit log, and reads of it
    inside a transaction, take a transaction-level advisory lock, so that entries are
    numbered in commit order and a transaction that reads the log's end and appends
    after it is never interleaved with another. :meth:`migrate` runs under
    ``pg_advisory_xact_lock``: two processes migrating at once are safe. Forked child
    processes open their own connections.

    Wrapped data keys live in ``civiccrm_keys``, in the same schema, handled by a
    connection of their own in autocommit mode: a key is durable when :meth:`put_key`
    returns and is never part of a transaction. Unlike the SQLite backend's key file,
    the keys are in the same database as the records: a ``pg_dump`` of the schema
    holds both (dump with ``--exclude-table=civiccrm_keys``, or back the keys up apart).

    Deleting a key (:meth:`delete_key`) DELETEs its row, then (with ``vacuum_keys``)
    runs ``VACUUM`` on the key table, which removes the dead row version from the
    table's pages and index so that the space can be reused; a key deleted inside a
    :meth:`transaction` is vacuumed when the outermost transaction ends (an open
    transaction would keep the row version alive). PostgreSQL cannot guarantee that the
    old bytes are overwritten on disk at once: ``VACUUM`` cannot remove a row version
    that an older snapshot of another session may still see, freed space is not zeroed
    until reused, and the key stays in the write-ahead log (and in WAL archives,
    replicas and backups) until those are recycled. Crypto-shredding still holds for
    anyone without the key-encryption key, since stored keys are wrapped. ``VACUUM``
    needs the rights of the table's owner: if it fails, a warning is logged, the key
    is deleted all the same, and autovacuum removes the row version later.

    A schema written by a newer civiccrm (a newer storage layout, or a newer
    :attr:`Schema.version`) is refused with :class:`StorageError`, untouched.

    .. versionadded:: 0.1.0
    """

    url: str
    capabilities: Capabilities

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        vacuum_keys: bool = True,
    ) -> None:
        target = _parse_url(url)
        self._target = target
        self.url = target.redacted
        self.schema = target.schema
        self.capabilities = Capabilities(
            persistent=True, thread_safe=True, multi_process=True, aggregates=True
        )
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
            raise ValidationError.at("min_size", "must be an integer, 0 or more")
        if (
            isinstance(max_size, bool)
            or not isinstance(max_size, int)
            or max_size < max(min_size, 1)
        ):
            raise ValidationError.at("max_size", "must be an integer, at least 1 and min_size")
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = float(timeout)
        self.vacuum_keys = vacuum_keys
        self._s = _q(target.schema)
        self._closed = False
        self._pid = os.getpid()
        self._local = threading.local()
        self._kinds: dict[str, _Kind] = {}
        self._pool: ConnectionPool[_Conn] | None = None
        self._pool_lock = threading.Lock()
        self._keys_lock = threading.Lock()
        self._key_conn: _Conn | None = None
        self._inherited: list[object] = []
        self._migrate_lock = _lock_key("migrate", target.schema)
        self._audit_lock = _lock_key("audit", target.schema)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgreSQLStorage({self.url!r})"

    def __enter__(self) -> PostgreSQLStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------
    # Opening, connections, errors

    def _where(self) -> str:
        return f"{self._target.where} (schema {self._target.schema})"

    def _scrub(self, text: str) -> str:
        """``text`` without the password, should a driver message ever hold it."""
        password = self._target.password
        if password:
            text = text.replace(password, "***")
        return text

    def _connect_kwargs(self) -> dict[str, Any]:
        params = conninfo_to_dict(self._target.conninfo)
        extra: dict[str, Any] = {}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = _CONNECT_TIMEOUT
        return extra

    def _connect(self) -> _Conn:
        """A new connection in autocommit mode; StorageError naming the server if it fails."""
        try:
            return psycopg.connect(self._target.conninfo, autocommit=True, **self._connect_kwargs())
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL at {self._target.where}: "
                f"{self._scrub(str(exc).strip())}",
                backend=_BACKEND,
            ) from exc

    def _open(self) -> None:
        """Connect, create the schema and system tables if needed, load the schema."""
        conn = self._connect()
        self._key_conn = conn
        with self._translate("open"):
            meta = self._read_meta(conn)
            if meta is None or int(meta.get(_META_LAYOUT, "0") or 0) < LAYOUT_VERSION:
                conn.execute("BEGIN")
                try:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._migrate_lock,))
                    # Again, under the lock: another process may be opening it too.
                    meta = self._read_meta(conn)
                    self._check_layout(meta or {})
                    for ddl in self._system_ddl():
                        conn.execute(ddl)
                    conn.execute(
                        f"INSERT INTO {self._s}.civiccrm_meta (key, value) VALUES (%s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        (_META_LAYOUT, str(LAYOUT_VERSION)),
                    )
                except BaseException:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                meta = self._read_meta(conn)
            self._check_layout(meta or {})
        self._load_kinds(meta or {})
        self._make_pool()

    def _system_ddl(self) -> list[str]:
        s = self._s
        return [
            f"CREATE SCHEMA IF NOT EXISTS {s}",
            f"CREATE TABLE IF NOT EXISTS {s}.civiccrm_meta"
            ' (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)',
            f"CREATE SEQUENCE IF NOT EXISTS {s}.civiccrm_task_seq",
            f"CREATE TABLE IF NOT EXISTS {s}.civiccrm_tasks ("
            ' topic TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL,'
            " payload TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,"
            " lease_until BIGINT, worker TEXT, done BOOLEAN NOT NULL DEFAULT FALSE,"
            f" seq BIGINT NOT NULL DEFAULT nextval('{s}.civiccrm_task_seq'),"
            # Room on each page, so that a claim (which changes no indexed column) can
            # update a row in place (a HOT update, no new index entries).
            " PRIMARY KEY (topic, key)) WITH (fillfactor = 70)",
            # Pending tasks of a topic in queue order: what claim() scans.
            "CREATE INDEX IF NOT EXISTS civiccrm_tasks_pending"
            f" ON {s}.civiccrm_tasks (topic, seq) WHERE NOT done",
            f"CREATE TABLE IF NOT EXISTS {s}.civiccrm_audit ("
            " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, entry TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {s}.civiccrm_keys"
            ' (key_id TEXT COLLATE "C" PRIMARY KEY, wrapped BYTEA NOT NULL)',
        ]

    def _read_meta(self, conn: _Conn) -> dict[str, str] | None:
        """The meta table's rows, or None if there is no meta table (yet)."""
        row = conn.execute("SELECT to_regclass(%s)", (f"{self._s}.civiccrm_meta",)).fetchone()
        if row is None or row[0] is None:
            return None
        rows = conn.execute(f"SELECT key, value FROM {self._s}.civiccrm_meta").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def _make_pool(self) -> ConnectionPool[_Conn]:
        with self._pool_lock:
            if self._pool is None:
                kwargs: dict[str, Any] = {"autocommit": True, **self._connect_kwargs()}
                self._pool = ConnectionPool(
                    self._target.conninfo,
                    kwargs=kwargs,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    timeout=self.timeout,
                    name=f"civiccrm-{self._target.schema}",
                    open=True,
                )
            return self._pool

    def _check_layout(self, meta: Mapping[str, str]) -> None:
        try:
            stored = int(meta.get(_META_LAYOUT, "0") or 0)
        except ValueError:
            raise StorageError(
                f"{self._where()}: civiccrm_meta holds a bad storage layout version "
                f"{meta.get(_META_LAYOUT)!r}",
                backend=_BACKEND,
            ) from None
        if stored > LAYOUT_VERSION:
            raise StorageError(
                f"{self._where()} was written by a newer civiccrm (layout {stored}, this "
                f"version understands {LAYOUT_VERSION}); upgrade civiccrm",
                backend=_BACKEND,
            )

    def _load_kinds(self, meta: Mapping[str, str]) -> None:
        raw = meta.get(_META_SCHEMA)
        if raw is None:
            self._kinds = {}
            return
        try:
            self._kinds = _kinds_from_description(json.loads(raw), self._target.schema)
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise StorageError(
                f"{self._where()}: the schema description in civiccrm_meta cannot be read: {exc}",
                backend=_BACKEND,
            ) from exc

    def _reload_kinds(self) -> None:
        """Reload the schema description (another process may have migrated)."""
        with self._conn("read schema") as conn:
            meta = self._read_meta(conn) or {}
        self._load_kinds(meta)

    def _state(self) -> _ThreadState:
        """The calling thread's transaction state."""
        if self._closed:
            raise StorageError(f"{self._where()}: the storage is closed", backend=_BACKEND)
        if self._pid != os.getpid():
            self._after_fork()
        st: _ThreadState | None = getattr(self._local, "state", None)
        if st is None:
            st = self._local.state = _ThreadState()
        return st

    def _after_fork(self) -> None:
        """
        In a child process: never use, nor close, the parent's connections (their
        sockets are shared with the parent); open new ones when needed.
        """
        self._pid = os.getpid()
        self._inherited.extend(x for x in (self._pool, self._key_conn) if x is not None)
        self._pool = None
        self._key_conn = None
        self._local = threading.local()
        self._pool_lock = threading.Lock()
        self._keys_lock = threading.Lock()

    def _getconn(self) -> _Conn:
        pool = self._pool if self._pool is not None else self._make_pool()
        return pool.getconn(timeout=self.timeout)

    def _putconn(self, conn: _Conn) -> None:
        pool = self._pool
        if pool is None or self._pid != os.getpid():
            return
        try:
            pool.putconn(conn)
        except Exception:  # noqa: BLE001 - a closed pool: the connection goes anyway
            with contextlib.suppress(Exception):
                conn.close()

    def _error(self, action: str, exc: psycopg.Error) -> StorageError:
        """A StorageError that says what went wrong, in words, naming the server."""
        text = self._scrub(str(exc).strip())
        where = self._where()
        if isinstance(exc, PoolTimeout):
            msg = (
                f"{action} on {where}: no connection to PostgreSQL within {self.timeout:g} s "
                f"(the server is unreachable, or all {self.max_size} pooled connections are "
                f"busy): {text}"
            )
        elif isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.LockNotAvailable):
            msg = f"{action} on {where}: a lock could not be taken ({text})"
        elif isinstance(exc, psycopg.errors.DiskFull):
            msg = f"{action} on {where}: the server's disk is full ({text})"
        elif isinstance(exc, psycopg.errors.InsufficientPrivilege):
            msg = f"{action} on {where}: permission denied ({text})"
        elif isinstance(exc, psycopg.errors.UndefinedTable):
            msg = (
                f"{action} on {where}: a table is missing (was the schema dropped while "
                f"open?) ({text})"
            )
        elif isinstance(exc, psycopg.OperationalError):
            msg = f"{action} on {where}: the connection to PostgreSQL failed ({text})"
        else:
            msg = f"{action} on {where} failed: {text}"
        return StorageError(msg, backend=_BACKEND)

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn driver errors into civiccrm's (bad values are ValidationErrors)."""
        try:
            yield
        except psycopg.DataError as exc:
            raise ValidationError(
                f"a value PostgreSQL cannot store: {self._scrub(str(exc).strip())}"
            ) from exc
        except psycopg.Error as exc:
            raise self._error(action, exc) from exc
        except UnicodeEncodeError as exc:
            raise ValidationError(f"text that is not valid Unicode: {exc}") from exc

    @contextmanager
    def _conn(self, action: str) -> Iterator[_Conn]:
        """A connection for reads: the thread's transaction's, or a pooled one."""
        st = self._state()
        with self._translate(action):
            if st.conn is not None:
                yield st.conn
                return
            conn = self._getconn()
            try:
                yield conn
            finally:
                self._putconn(conn)

    @contextmanager
    def _write(self, action: str, *, atomic: bool = False) -> Iterator[_Conn]:
        """
        A connection for a write: inside the thread's transaction, under a savepoint
        (a failure undoes this call only); outside, a pooled connection in autocommit
        mode, in a transaction of its own when ``atomic`` (several statements).
        """
        st = self._state()
        with self._translate(action):
            conn = st.conn
            if conn is not None:
                conn.execute("SAVEPOINT civiccrm_call")
                try:
                    yield conn
                except BaseException:
                    self._undo_savepoint(conn, "civiccrm_call")
                    raise
                conn.execute("RELEASE SAVEPOINT civiccrm_call")
                return
            conn = self._getconn()
            try:
                if not atomic:
                    yield conn
                    return
                conn.execute("BEGIN")
                try:
                    yield conn
                except BaseException:
                    self._rollback(conn)
                    raise
                conn.execute("COMMIT")
            finally:
                self._putconn(conn)

    @staticmethod
    def _rollback(conn: _Conn) -> None:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")

    @staticmethod
    def _undo_savepoint(conn: _Conn, name: str) -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            conn.execute(f"RELEASE SAVEPOINT {name}")

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
        Create or upgrade the tables and indexes ``schema`` needs, in one transaction,
        under an advisory lock (``pg_advisory_xact_lock``), so that processes migrating
        at once take turns and the later ones find the work done.

        New kinds get tables, new columns are added (NULL in existing rows, or filled
        from each document's ``source`` field), new or changed indexes are (re)built and
        indexes the schema no longer declares are dropped. Tables and columns are never
        dropped; a column whose type changes is converted (``ALTER COLUMN ... TYPE``;
        values that cannot be converted fail the migration, which then changes
        nothing). A schema already migrated to a newer ``Schema.version``, or with a
        newer storage layout, is refused and left as it is.
        """
        _check_schema(schema, self._target.schema)
        kinds = {k.kind: _Kind(k, self._target.schema) for k in schema.kinds}
        desc = _describe(schema, kinds)
        text = json.dumps(desc, sort_keys=True, separators=(",", ":"))
        with self._conn("migrate") as conn:
            meta = self._read_meta(conn) or {}
        if self._migrated(meta, schema, text):
            self._kinds = kinds
            return
        with self._write("migrate", atomic=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._migrate_lock,))
            meta = self._read_meta(conn) or {}
            if not self._migrated(meta, schema, text):
                old: dict[str, Any] = {}
                if _META_SCHEMA in meta:
                    try:
                        old = {k["kind"]: k for k in json.loads(meta[_META_SCHEMA])["kinds"]}
                    except (ValueError, KeyError, TypeError):
                        old = {}  # unreadable: every index is rebuilt
                for name, k in kinds.items():
                    self._migrate_kind(conn, k, old.get(name, {}).get("sql_indexes", {}))
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {self._s}.civiccrm_meta (key, value) VALUES (%s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        [
                            (_META_LAYOUT, str(LAYOUT_VERSION)),
                            (_META_SCHEMA_VERSION, str(schema.version)),
                            (_META_SCHEMA, text),
                        ],
                    )
        self._kinds = kinds

    def _migrated(self, meta: Mapping[str, str], schema: Schema, text: str) -> bool:
        """Whether ``schema`` is applied already; StorageError if the database is newer."""
        self._check_layout(meta)
        raw = meta.get(_META_SCHEMA_VERSION)
        try:
            stored = int(raw) if raw is not None else 0
        except ValueError:
            raise StorageError(
                f"{self._where()}: civiccrm_meta holds a bad schema version {raw!r}",
                backend=_BACKEND,
            ) from None
        if stored > schema.version:
            raise StorageError(
                f"{self._where()} was written by a newer civiccrm (schema version {stored}, "
                f"this version understands {schema.version}); upgrade civiccrm",
                backend=_BACKEND,
            )
        return stored == schema.version and meta.get(_META_SCHEMA) == text

    def _migrate_kind(self, conn: _Conn, k: _Kind, old_defs: Mapping[str, str]) -> None:
        cols = "".join(f", {_q(c.name)} {_SQL_TYPE[c.type]}" for c in k.spec.columns)
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS {k.table} (id TEXT COLLATE "C" NOT NULL PRIMARY KEY,'
            f" version BIGINT NOT NULL, doc TEXT NOT NULL{cols})"
        )
        have = {
            str(r[0]): str(r[1])
            for r in conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (k.schema, k.table_name),
            )
        }
        fill: list[ColumnSpec] = []
        for c in k.spec.columns:
            current = have.get(c.name)
            if current is None:
                conn.execute(f"ALTER TABLE {k.table} ADD COLUMN {_q(c.name)} {_SQL_TYPE[c.type]}")
                if c.source is not None:
                    fill.append(c)
            elif current != _CATALOG_TYPE[c.type]:
                conn.execute(
                    f"ALTER TABLE {k.table} ALTER COLUMN {_q(c.name)} TYPE {_SQL_TYPE[c.type]}"
                    f" USING {_q(c.name)}::{_CAST_TYPE[c.type]}"
                )
        if fill:
            self._fill_from_source(conn, k, fill)
        wanted = k.index_defs()
        existing = [
            str(r[0])
            for r in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
                (k.table,),
            )
        ]
        for name in sorted(existing):
            if name not in wanted or old_defs.get(name) != wanted[name]:
                conn.execute(f"DROP INDEX {self._s}.{_q(name)}")
        for name, definition in wanted.items():
            conn.execute(k.index_sql(name, definition))

    @staticmethod
    def _fill_from_source(conn: _Conn, k: _Kind, columns: list[ColumnSpec]) -> None:
        """Fill the new ``columns`` from each stored document's ``source`` field."""
        sets = ", ".join(f"{_q(c.name)} = %s" for c in columns)
        update = f"UPDATE {k.table} SET {sets} WHERE id = %s"
        last = ""
        while True:
            rows = conn.execute(
                f"SELECT id, doc FROM {k.table} WHERE id > %s ORDER BY id LIMIT %s",
                (last, _FILL_BATCH),
            ).fetchall()
            if not rows:
                return
            changes = []
            for rid, doc in rows:
                values = _source_values(columns, doc)
                if any(v is not None for v in values):
                    changes.append((*values, rid))
            if changes:
                with conn.cursor() as cur:
                    cur.executemany(update, changes)
            last = rows[-1][0]

    # ----------------------------------------------------------------------------------
    # Transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """
        Make everything inside atomic. The outermost ``transaction()`` of a thread takes
        a pooled connection for its whole length, begins and commits; a nested one
        joins it as a savepoint, so that an exception caught inside the outer block
        undoes only the nested block's writes. On an exception: roll back, and re-raise.
        """
        st = self._state()
        if st.depth == 0:
            with self._translate("begin a transaction"):
                conn = self._getconn()
                try:
                    conn.execute("BEGIN")
                except BaseException:
                    self._putconn(conn)
                    raise
            st.conn = conn
            st.depth = 1
            try:
                try:
                    yield
                except BaseException:
                    st.depth = 0
                    self._rollback(conn)
                    raise
                st.depth = 0
                if conn.info.transaction_status == TransactionStatus.INERROR:
                    self._rollback(conn)
                    raise StorageError(
                        f"{self._where()}: the transaction was aborted by an error inside "
                        "it; nothing was committed",
                        backend=_BACKEND,
                    )
                try:
                    conn.execute("COMMIT")
                except psycopg.Error as exc:
                    self._rollback(conn)
                    raise self._error("commit", exc) from exc
            finally:
                st.depth = 0
                st.conn = None
                self._putconn(conn)
                if st.vacuum:
                    st.vacuum = False
                    self._vacuum_keys()
        else:
            held = st.conn
            assert held is not None
            name = f"civiccrm_sp{st.depth}"
            with self._translate("begin a nested transaction"):
                held.execute(f"SAVEPOINT {name}")
            st.depth += 1
            try:
                yield
            except BaseException:
                st.depth -= 1
                self._undo_savepoint(held, name)
                raise
            st.depth -= 1
            with self._translate("end a nested transaction"):
                held.execute(f"RELEASE SAVEPOINT {name}")

    # ----------------------------------------------------------------------------------
    # Records

    def get(self, kind: str, record_id: str) -> Record | None:
        """The record, or None."""
        k = self._kind(kind)
        with self._conn("get") as conn:
            row = conn.execute(f"{k.select} WHERE id = %s", (record_id,)).fetchone()
        return None if row is None else k.record(row)

    def get_many(self, kind: str, ids: Sequence[str]) -> list[Record]:
        """The records that exist among ``ids``, in the order of ``ids`` (one statement)."""
        k = self._kind(kind)
        wanted = list(ids)
        if not wanted:
            return []
        unique = list(dict.fromkeys(wanted))
        with self._conn("get_many") as conn:
            rows = conn.execute(f"{k.select} WHERE id = ANY(%s::text[])", (unique,)).fetchall()
        found = {r[0]: k.record(r) for r in rows}
        return [found[i] for i in wanted if i in found]

    def get_by_key(self, kind: str, key: str) -> Record | None:
        """The record whose key column equals ``key``, or None."""
        k = self._kind(kind)
        if k.key is None:
            raise ValidationError.at("kind", f"kind {kind!r} has no key column")
        with self._conn("get_by_key") as conn:
            row = conn.execute(f"{k.select} WHERE {_q(k.key)} = %s", (key,)).fetchone()
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
        try:
            with self._write("put") as conn:
                if expected_version == 0:
                    self._insert(conn, k, record, values)
                else:
                    try:
                        cur = conn.execute(
                            k.update,
                            (new_version, record.doc, *values, record.id, expected_version),
                        )
                    except psycopg.errors.UniqueViolation as exc:
                        raise _Taken(exc) from exc
                    if cur.rowcount != 1:
                        row = conn.execute(
                            f"SELECT version FROM {k.table} WHERE id = %s", (record.id,)
                        ).fetchone()
                        raise ConflictError(
                            k.name,
                            record.id,
                            expected_version=expected_version,
                            actual_version=None if row is None else row[0],
                        )
        except _Taken as taken:
            raise self._key_taken(k, record, taken.exc) from taken.exc
        return Record(
            k.name, record.id, new_version, record.doc, dict(zip(k.columns, values, strict=True))
        )

    def _insert(self, conn: _Conn, k: _Kind, record: Record, values: list[Scalar]) -> None:
        """Insert version 1, or find out why not: the id exists, or the key is taken."""
        for _ in range(3):
            cur = conn.execute(k.insert, (record.id, record.doc, *values))
            if cur.rowcount == 1:
                return
            row = conn.execute(
                f"SELECT version FROM {k.table} WHERE id = %s", (record.id,)
            ).fetchone()
            if row is not None:
                raise ConflictError(k.name, record.id, expected_version=0, actual_version=row[0])
            if k.key is not None and values[k.key_at] is not None:
                owner = conn.execute(
                    f"SELECT id FROM {k.table} WHERE {_q(k.key)} = %s", (values[k.key_at],)
                ).fetchone()
                if owner is not None:
                    raise ValidationError.at(
                        f"columns.{k.key}",
                        f"{values[k.key_at]!r} is already the key of {k.name} {owner[0]}",
                    )
            # The row in the way was deleted meanwhile: try again.
        raise StorageError(
            f"{self._where()}: inserting {k.name} {record.id} kept conflicting with rows "
            "that then disappeared",
            backend=_BACKEND,
        )

    def _key_taken(
        self, k: _Kind, record: Record, exc: psycopg.errors.UniqueViolation
    ) -> Exception:
        if k.key is not None:
            key = record.columns.get(k.key)
            with self._conn("put") as conn:
                row = conn.execute(
                    f"SELECT id FROM {k.table} WHERE {_q(k.key)} = %s AND id <> %s",
                    (key, record.id),
                ).fetchone()
            if row is not None:
                return ValidationError.at(
                    f"columns.{k.key}", f"{key!r} is already the key of {k.name} {row[0]}"
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
                f"DELETE FROM {k.table} WHERE id = %s AND version = %s",
                (record_id, expected_version),
            )
            if cur.rowcount == 1:
                return
            row = conn.execute(
                f"SELECT version FROM {k.table} WHERE id = %s", (record_id,)
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

        The batch is COPied into a temporary staging table, chunk by chunk, then moved
        with ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE`` something
        changed (once per repetition of a key in the batch, usually once).

        ValidationError listing every problem, and nothing written, for records
        without a key value, of another kind, with an unknown column or a value of the
        wrong type, or (new key) with the id of another record.
        """
        k = self._kind(kind)
        if k.key is None:
            raise ValidationError.at("kind", f"kind {kind!r} has no key column to upsert by")
        records = iter(records)
        first = list(itertools.islice(records, _BULK_CHUNK))
        if not first:
            return UpsertResult()
        problems: list[Problem] = []
        reloaded = False
        total = 0
        occurrences: dict[Scalar, int] = {}
        generations = 0
        try:
            with self._write("bulk_upsert", atomic=True) as conn:
                staged = False
                chunk = first
                while chunk:
                    rows = None if problems else k.fast_rows(chunk, kind)
                    if rows is None:
                        found = _chunk_problems(k, chunk, total, kind)
                        if (
                            found
                            and not reloaded
                            and not staged
                            and any(".columns." in p.path for p in found)
                        ):
                            # Another process may have migrated to a schema with more columns.
                            reloaded = True
                            self._reload_kinds()
                            fresh = self._kind(kind)
                            if fresh.spec != k.spec and fresh.key is not None:
                                k = fresh
                                found = _chunk_problems(k, chunk, total, kind)
                        problems.extend(found)
                        if not problems:
                            rows = k.slow_rows(chunk)
                    if rows is not None and not problems:
                        if not staged:
                            conn.execute(k.stage_ddl)
                            staged = True
                        gens: list[int] = []
                        for key in rows.keys:
                            n = occurrences.get(key, -1) + 1
                            occurrences[key] = n
                            gens.append(n)
                        generations = max(generations, max(gens) + 1)
                        with conn.cursor() as cur, cur.copy(k.copy) as copy:
                            for row in zip(
                                range(total, total + len(rows)),
                                gens,
                                rows.ids,
                                rows.docs,
                                *rows.values,
                                strict=True,
                            ):
                                copy.write_row(row)
                    total += len(chunk)
                    chunk = list(itertools.islice(records, _BULK_CHUNK))
                if problems:
                    raise ValidationError(problems, record_type=kind)
                inserted = changed = 0
                for gen in range(generations):
                    try:
                        counts = conn.execute(k.upsert, (gen,)).fetchone()
                    except psycopg.errors.UniqueViolation as exc:
                        raise _Taken(exc) from exc
                    assert counts is not None
                    inserted += int(counts[0])
                    changed += int(counts[1])
                conn.execute("DROP TABLE pg_temp.civiccrm_stage")
        except _Taken as taken:
            detail = taken.exc.diag.message_detail or ""
            match = re.search(r"\(id\)=\((.*)\) already exists", detail)
            which = f": {match.group(1)}" if match else ""
            raise ValidationError.at(
                "id",
                f"a record with a new key has the id of an existing {k.name} "
                f"with another key{which}",
            ) from taken.exc
        updated = changed - inserted
        return UpsertResult(inserted, updated, total - inserted - updated)

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
        with self._conn("query") as conn:
            if order is None:
                where = list(terms)
                args = list(params)
                if after is not None:
                    where.append("id > %s")
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
                            where.append(f"({col} < %s OR ({col} = %s AND id > %s))")
                            args += [after.value, after.value, after.id]
                        else:
                            where.append(f"({col}, id) > (%s, %s)")
                            args += [after.value, after.id]
                    by = f"{col} DESC, id" if order.descending else f"{col}, id"
                    rows = self._select(conn, k, where, args, by, want, columns=columns)
                if want is None or len(rows) < want:
                    # ... then the rows where it is NULL, in id order.
                    where = [*terms, f"{col} IS NULL"]
                    args = list(params)
                    if after is not None and after.value is None:
                        where.append("id > %s")
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

    @staticmethod
    def _select(
        conn: _Conn,
        k: _Kind,
        where: list[str],
        args: list[Any],
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
            sql += " LIMIT %s"
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
        with self._conn("count") as conn:
            if col is None:
                row = conn.execute(f"SELECT count(*) FROM {k.table}{cond}", params).fetchone()
                return {None: 0 if row is None else int(row[0])}
            rows = conn.execute(
                f"SELECT {col}, count(*) FROM {k.table}{cond} GROUP BY {col}", params
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def aggregate(self, queries: Sequence[Aggregate]) -> list[tuple[AggregateRow, ...]]:
        """
        Answer aggregate queries (see :class:`~civiccrm.adapters._base.Aggregate`), one
        statement each (exact percentiles by ``percentile_disc``), in one REPEATABLE
        READ transaction (or the caller's), so that they see one snapshot.
        """

        def spec_of(kind: str) -> KindSpec | None:
            k = self._kinds.get(kind)
            return None if k is None else k.spec

        try:
            _aggregate.check(spec_of, queries)
        except ValidationError:
            self._reload_kinds()  # another process may have migrated
            _aggregate.check(spec_of, queries)
        own = self._state().conn is None
        with self._conn("aggregate") as conn:
            if own:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                answers = _aggregate.answer(
                    spec_of,
                    lambda kind: self._kinds[kind].table,
                    queries,
                    _aggregate.POSTGRESQL,
                    lambda sql, params: conn.execute(sql, params).fetchall(),
                )
            except BaseException:
                if own:
                    self._rollback(conn)
                raise
            if own:
                conn.execute("COMMIT")
            return answers

    # ----------------------------------------------------------------------------------
    # Work queue

    def enqueue(self, topic: str, keys: Sequence[str], *, payload: str = "") -> int:
        """
        Add tasks; a (topic, key) already queued and not done is left as it is, and a
        done one is queued afresh (no attempts, last in line). Returns how many were
        added.
        """
        unique = list(dict.fromkeys(keys))
        if not unique:
            return 0
        s = self._s
        with self._write("enqueue") as conn:
            cur = conn.execute(
                f"INSERT INTO {s}.civiccrm_tasks AS t (topic, key, payload)"
                " SELECT %s, k, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n"
                " ON CONFLICT (topic, key) DO UPDATE SET payload = EXCLUDED.payload,"
                " attempts = 0, lease_until = NULL, worker = NULL, done = FALSE,"
                f" seq = nextval('{s}.civiccrm_task_seq')"
                " WHERE t.done",
                (topic, payload, unique),
            )
            added = cur.rowcount
            if added >= _ANALYZE_AFTER:
                # Fresh statistics, so that claims read the pending index in order and
                # completions look tasks up by key (a new table's estimates say "tiny").
                conn.execute(f"ANALYZE {s}.civiccrm_tasks")
            return added

    def claim(
        self, topic: str, *, worker: str, limit: int, lease_us: int, now_us: int
    ) -> list[Task]:
        """
        Claim up to ``limit`` tasks, oldest first, that are not done and not under a
        lease ending after ``now_us``; lease them to ``worker`` until
        ``now_us + lease_us``. One statement (``FOR UPDATE SKIP LOCKED``): concurrent
        claimers, in any process, skip each other's rows, and a row leased meanwhile is
        checked again, so that a task is never handed to two workers at once.
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
        s = self._s
        with self._write("claim") as conn:
            rows = conn.execute(
                f"WITH picked AS (SELECT topic, key FROM {s}.civiccrm_tasks"
                " WHERE topic = %s AND NOT done AND (lease_until IS NULL OR lease_until <= %s)"
                " ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED)"
                f" UPDATE {s}.civiccrm_tasks AS t SET worker = %s, lease_until = %s,"
                " attempts = t.attempts + 1 FROM picked"
                " WHERE t.topic = picked.topic AND t.key = picked.key"
                " RETURNING t.seq, t.key, t.payload, t.attempts",
                (topic, now_us, limit, worker, lease_until),
            ).fetchall()
        rows.sort(key=operator.itemgetter(0))
        return [Task(topic, r[1], r[2], r[3], lease_until) for r in rows]

    def complete(self, topic: str, keys: Sequence[str], *, worker: str) -> int:
        """
        Mark tasks done if ``worker`` still holds their lease: it is the last worker
        that claimed them (an expired lease still counts until another worker claims
        the task). Returns how many were marked. A done task is removed from the
        queue table.
        """
        unique = list(dict.fromkeys(keys))
        if not unique:
            return 0
        with self._write("complete") as conn:
            # A done task's row is deleted (one dead row version, no new one and no new
            # index entries, as an UPDATE would make); enqueueing its key again inserts
            # it afresh. A join on the keys: one primary-key look-up each, whatever the
            # statistics say.
            cur = conn.execute(
                f"DELETE FROM {self._s}.civiccrm_tasks AS t USING unnest(%s::text[]) AS u(k)"
                " WHERE t.topic = %s AND t.key = u.k AND t.worker = %s AND NOT t.done",
                (unique, topic, worker),
            )
            return cur.rowcount

    # ----------------------------------------------------------------------------------
    # Audit log

    def append_audit(self, entries: Sequence[str]) -> list[int]:
        """
        Append opaque audit entries; returns their sequence numbers (increasing).
        Appends take an advisory lock until their transaction ends, so that entries
        are numbered in the order they are committed.
        """
        items = list(entries)
        if not items:
            return []
        with self._write("append_audit", atomic=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._audit_lock,))
            rows = conn.execute(
                f"INSERT INTO {self._s}.civiccrm_audit (entry)"
                " SELECT e FROM unnest(%s::text[]) WITH ORDINALITY AS u(e, n) ORDER BY n"
                " RETURNING seq",
                (items,),
            ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def read_audit(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """
        Audit entries with a sequence number above ``after``, in order. Inside a
        transaction it first takes the audit log's lock (see :meth:`append_audit`):
        what it reads is the log's end until the transaction ends.
        """
        if limit <= 0:
            return []
        with self._conn("read_audit") as conn:
            if self._state().depth:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._audit_lock,))
            rows = conn.execute(
                f"SELECT seq, entry FROM {self._s}.civiccrm_audit WHERE seq > %s"
                " ORDER BY seq LIMIT %s",
                (after, limit),
            ).fetchall()
        return [(int(r[0]), r[1]) for r in rows]

    def prune_audit(self, through: int) -> int:
        """Delete the audit entries numbered up to ``through``; returns how many."""
        with self._write("prune_audit", atomic=True) as conn:
            cur = conn.execute(f"DELETE FROM {self._s}.civiccrm_audit WHERE seq <= %s", (through,))
            return int(cur.rowcount)

    # ----------------------------------------------------------------------------------
    # Keys: a connection of their own, in autocommit mode, never in a transaction

    @contextmanager
    def _keys(self, action: str) -> Iterator[_Conn]:
        self._state()  # closed? forked?
        with self._keys_lock, self._translate(action):
            conn = self._key_conn
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                conn = self._key_conn = self._connect()
            yield conn

    def put_key(self, key_id: str, wrapped: bytes) -> None:
        """
        Store a wrapped data key (replacing one with the same id), durably, now: not
        part of any open transaction.
        """
        if not isinstance(key_id, str) or not key_id:
            raise ValidationError.at("key_id", "a key id is a non-empty string")
        if not isinstance(wrapped, bytes | bytearray | memoryview):
            raise ValidationError.at(
                "wrapped", f"a wrapped key is bytes, not {type(wrapped).__name__}"
            )
        self._store_keys([(key_id, wrapped)])

    def put_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Store many wrapped keys at once, all or none (one statement), durably, now."""
        items = wrapped_keys(keys)
        if items:
            self._store_keys(items)

    def add_keys(self, keys: Sequence[tuple[str, bytes]]) -> set[str]:
        """
        Store each wrapped key of an id not stored yet (not even as an erased key), in
        one statement, durably, now; the ids it stored. Of two sessions adding one key
        at once, exactly one stores it.
        """
        items = wrapped_keys(keys)
        if not items:
            return set()
        first: dict[str, bytes] = {}
        for k, w in items:
            first.setdefault(k, bytes(w))  # the first one of an id
        with self._keys("store keys") as conn:
            rows = conn.execute(
                f"INSERT INTO {self._s}.civiccrm_keys (key_id, wrapped)"
                " SELECT * FROM unnest(%s::text[], %s::bytea[])"
                " ON CONFLICT (key_id) DO NOTHING RETURNING key_id",
                (list(first), list(first.values())),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def _store_keys(self, items: list[tuple[str, bytes]]) -> None:
        latest = {k: bytes(w) for k, w in items}  # the last one of an id wins
        with self._keys("store keys") as conn:
            conn.execute(
                f"INSERT INTO {self._s}.civiccrm_keys (key_id, wrapped)"
                " SELECT * FROM unnest(%s::text[], %s::bytea[])"
                " ON CONFLICT (key_id) DO UPDATE SET wrapped = EXCLUDED.wrapped",
                (list(latest), list(latest.values())),
            )

    def get_key(self, key_id: str) -> bytes | None:
        """A wrapped data key, or None."""
        with self._keys("read a key") as conn:
            row = conn.execute(
                f"SELECT wrapped FROM {self._s}.civiccrm_keys WHERE key_id = %s", (key_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def get_keys(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        """The wrapped keys that exist among ``key_ids``, by id (one statement)."""
        wanted = list(dict.fromkeys(key_ids))
        if not wanted:
            return {}
        with self._keys("read keys") as conn:
            rows = conn.execute(
                f"SELECT key_id, wrapped FROM {self._s}.civiccrm_keys"
                " WHERE key_id = ANY(%s::text[])",
                (wanted,),
            ).fetchall()
        return {r[0]: bytes(r[1]) for r in rows}

    def delete_key(self, key_id: str) -> bool:
        """
        Destroy a wrapped data key: DELETE its row, then VACUUM the key table (now, or
        when this thread's transaction ends); True if it existed. See the class
        docstring for what PostgreSQL does and does not overwrite.
        """
        with self._keys("delete a key") as conn:
            cur = conn.execute(f"DELETE FROM {self._s}.civiccrm_keys WHERE key_id = %s", (key_id,))
            existed = cur.rowcount > 0
        if existed and self.vacuum_keys:
            st = self._state()
            if st.depth:
                st.vacuum = True
            else:
                self._vacuum_keys()
        return existed

    def _vacuum_keys(self) -> None:
        """VACUUM the key table; a failure (no privilege, say) is logged, not raised."""
        try:
            with self._keys("vacuum the key table") as conn:
                conn.execute(f"VACUUM {self._s}.civiccrm_keys")
        except StorageError as exc:
            _log.warning("could not VACUUM the key table: %s", exc)

    def list_keys(self, *, after: str = "", limit: int = 1000) -> list[str]:
        """Key ids greater than ``after``, in code point order, at most ``limit``."""
        if limit <= 0:
            return []
        with self._keys("list keys") as conn:
            rows = conn.execute(
                f"SELECT key_id FROM {self._s}.civiccrm_keys WHERE key_id > %s"
                " ORDER BY key_id LIMIT %s",
                (after, limit),
            ).fetchall()
        return [r[0] for r in rows]

    # ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool and the key connection. The storage is unusable afterwards."""
        self._closed = True
        if self._pid != os.getpid():
            # A forked child: the parent's connections are the parent's to close.
            self._pool = None
            self._key_conn = None
            return
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()
        conn, self._key_conn = self._key_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
