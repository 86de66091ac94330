"""
Evaluate a :class:`~civiccrm.adapters._base.Query` in Python, with exactly the storage
contract's semantics.

The in-memory backend is built on these functions, and any backend that cannot push a
query down to its database (a key-value store, a document store without ranges) may
reuse them:

- :func:`validate_query` (and :func:`validate_filters`, :func:`validate_columns`)
  reject unknown columns and values of the wrong type with a
  :class:`~civiccrm.errors.ValidationError` that names the column. Validate first: the
  evaluation functions assume valid input.
- :func:`matches` tests one record's columns against filters with SQL NULL semantics:
  every operator except ``is_null`` is false on a NULL column (``ne`` and ``not_in``
  too), a comparison with a NULL value is false, ``x in ()`` is false and
  ``x not_in ()`` is true for a non-NULL ``x``, and ``x not_in (..., NULL)`` is false
  (as in SQL).
- :func:`sort_key` orders records by one column (NULLs last in both directions), ties
  broken by id ascending; :func:`cursor_key`, :func:`after_cursor` and
  :func:`cursor_of` implement keyset pagination with the same key, so that a cursor
  whose value is NULL works too.
- :func:`select` returns one :class:`~civiccrm.adapters._base.Page` (it looks at
  ``limit + 1`` records to know whether this page is the last one, so ``next`` is
  None on the last page, even when it is full); :func:`count` counts, grouped or not.
- :func:`source_problems` checks the ``source`` of every column of a schema, and
  :func:`from_source` reads a column's value out of a document, for migrations that
  add a column with a ``source``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import heapq
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeAlias

import attrs

from civiccrm.adapters._base import (
    ColumnSpec,
    ColumnType,
    Cursor,
    Filter,
    KindSpec,
    Order,
    Page,
    Query,
    Record,
    Scalar,
)
from civiccrm.errors import Problem, ValidationError

__all__ = [
    "OPS",
    "SortKey",
    "after_cursor",
    "count",
    "cursor_key",
    "cursor_of",
    "from_source",
    "matches",
    "pages",
    "project",
    "select",
    "source_problems",
    "sort_key",
    "validate_columns",
    "validate_filters",
    "validate_query",
    "validate_value",
]

#: Every filter operator, in the order the contract lists them.
OPS: Final = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "not_null")

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


# --------------------------------------------------------------------------------------
# Validation


def validate_value(column: ColumnSpec, value: object, path: str) -> Problem | None:
    """
    Check that ``value`` fits ``column``: None, a ``str`` for TEXT, an ``int`` for
    INTEGER, an ``int`` or ``float`` for REAL (never a ``bool``, never NaN).

    Returns the problem, or None if the value is fine.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return Problem(path, f"a bool is not a {column.type.value} value")
    if column.type is ColumnType.TEXT:
        if not isinstance(value, str):
            return Problem(path, f"expected text for column {column.name!r}, got {value!r}")
        return None
    if column.type is ColumnType.INTEGER and not isinstance(value, int):
        return Problem(path, f"expected an integer for column {column.name!r}, got {value!r}")
    if not isinstance(value, int | float):
        return Problem(path, f"expected a number for column {column.name!r}, got {value!r}")
    if isinstance(value, float) and math.isnan(value):
        return Problem(path, f"NaN is not a value for column {column.name!r}")
    return None


def _filter_value_problem(column: ColumnSpec, value: object, path: str) -> Problem | None:
    # A filter may compare an INTEGER column with a float and the reverse: both numeric.
    if (
        column.type is not ColumnType.TEXT
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        if isinstance(value, float) and math.isnan(value):
            return Problem(path, f"NaN is not a value for column {column.name!r}")
        return None
    return validate_value(column, value, path)


def _unknown_column(spec: KindSpec, name: object, path: str) -> Problem:
    known = ", ".join(c.name for c in spec.columns) or "none"
    return Problem(path, f"unknown column {name!r} of kind {spec.kind!r} (columns: {known})")


def _column(spec: KindSpec, name: str) -> ColumnSpec | None:
    for c in spec.columns:
        if c.name == name:
            return c
    return None


def validate_filters(
    spec: KindSpec, filters: Sequence[Filter], *, path: str = "where"
) -> list[Problem]:
    """
    Every problem with ``filters`` on a kind: unknown columns and operators, a missing
    or extra value, values of the wrong type.
    """
    problems: list[Problem] = []
    for i, f in enumerate(filters):
        at = f"{path}[{i}]"
        column = _column(spec, f.column)
        if column is None:
            problems.append(_unknown_column(spec, f.column, f"{at}.column"))
            continue
        if f.op not in OPS:
            problems.append(Problem(f"{at}.op", f"unknown operator {f.op!r}"))
            continue
        if f.op in ("is_null", "not_null"):
            if f.value is not None:
                problems.append(Problem(f"{at}.value", f"{f.op} takes no value"))
        elif f.op in ("in", "not_in"):
            if not isinstance(f.value, tuple | list):
                problems.append(Problem(f"{at}.value", f"{f.op} takes a tuple of values"))
                continue
            for j, v in enumerate(f.value):
                p = _filter_value_problem(column, v, f"{at}.value[{j}]")
                if p is not None:
                    problems.append(p)
        else:
            if isinstance(f.value, tuple | list):
                problems.append(Problem(f"{at}.value", f"{f.op} takes one value, not a tuple"))
                continue
            p = _filter_value_problem(column, f.value, f"{at}.value")
            if p is not None:
                problems.append(p)
    return problems


def wrapped_keys(keys: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """
    The ``(key id, wrapped key)`` pairs of a ``put_keys`` call as a list, each checked
    (a non-empty string id, bytes): a :class:`ValidationError` naming the first bad
    pair's place (``keys[2][1]``) before anything is stored.
    """
    items = list(keys)
    for i, (key_id, wrapped) in enumerate(items):
        if not isinstance(key_id, str) or not key_id:
            raise ValidationError.at(f"keys[{i}][0]", "a key id is a non-empty string")
        if not isinstance(wrapped, bytes | bytearray | memoryview):
            raise ValidationError.at(f"keys[{i}][1]", "a wrapped key is bytes")
    return items


def validate_columns(
    spec: KindSpec, columns: Mapping[str, object], *, path: str = "columns"
) -> list[Problem]:
    """Every problem with a record's columns: unknown names, values of the wrong type."""
    problems: list[Problem] = []
    for name, value in columns.items():
        column = _column(spec, name)
        if column is None:
            problems.append(_unknown_column(spec, name, f"{path}.{name}"))
            continue
        p = validate_value(column, value, f"{path}.{name}")
        if p is not None:
            problems.append(p)
    return problems


def validate_query(spec: KindSpec, query: Query) -> None:
    """
    Raise :class:`~civiccrm.errors.ValidationError` listing every problem with
    ``query`` on the kind ``spec``: unknown columns (named in the message), bad
    operators or values, a non-positive limit, a cursor value of the wrong type.
    """
    problems = validate_filters(spec, query.where, path="where")
    order_column: ColumnSpec | None = None
    if query.order_by is not None:
        order_column = _column(spec, query.order_by.column)
        if order_column is None:
            problems.append(_unknown_column(spec, query.order_by.column, "order_by.column"))
    if query.limit is not None and (
        isinstance(query.limit, bool) or not isinstance(query.limit, int) or query.limit < 1
    ):
        problems.append(
            Problem("limit", f"must be a positive integer or None, not {query.limit!r}")
        )
    problems.extend(_projection_problems(spec, query))
    if query.after is not None and order_column is not None:
        p = _filter_value_problem(order_column, query.after.value, "after.value")
        if p is not None:
            problems.append(p)
    if problems:
        raise ValidationError(problems, record_type=f"{spec.kind} query")


def _projection_problems(spec: KindSpec, query: Query) -> list[Problem]:
    columns: object = query.columns  # typed, but callers may pass anything
    if columns is None:
        return []
    if not isinstance(columns, tuple):
        return [Problem("columns", f"must be a tuple of column names or None, not {columns!r}")]
    problems: list[Problem] = []
    seen: set[object] = set()
    for i, name in enumerate(columns):
        if not isinstance(name, str) or _column(spec, name) is None:
            problems.append(_unknown_column(spec, name, f"columns[{i}]"))
        elif name in seen:
            problems.append(Problem(f"columns[{i}]", f"column {name!r} is named twice"))
        seen.add(name)
    order = query.order_by
    if order is not None and order.column not in columns:
        problems.append(Problem("columns", f"must include the order column {order.column!r}"))
    return problems


def project(record: Record, columns: tuple[str, ...] | None) -> Record:
    """``record`` as a query with ``columns`` returns it (itself when ``columns`` is None)."""
    if columns is None:
        return record
    return Record(
        record.kind, record.id, record.version, "", {c: record.columns.get(c) for c in columns}
    )


_SOURCE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


def source_problems(spec: KindSpec, path: str) -> list[Problem]:
    """Problems with the ``source`` of ``spec``'s columns (a top-level field name)."""
    problems: list[Problem] = []
    for j, c in enumerate(spec.columns):
        if c.source is not None and (not isinstance(c.source, str) or not _SOURCE.match(c.source)):
            problems.append(
                Problem(
                    f"{path}.columns[{j}].source",
                    f"{c.source!r} is not a field name (letters, digits and _)",
                )
            )
    return problems


def from_source(column: ColumnSpec, doc: str) -> Scalar:
    """
    The value of ``column`` copied from the document ``doc`` (its ``source`` field): a
    JSON string for TEXT, an integer for INTEGER, a number for REAL; otherwise None.
    """
    if column.source is None:
        return None
    try:
        data = json.loads(doc)
    except ValueError:
        return None
    value = data.get(column.source) if isinstance(data, dict) else None
    if isinstance(value, bool):
        return None
    if column.type is ColumnType.TEXT:
        return value if isinstance(value, str) else None
    if column.type is ColumnType.INTEGER:
        return value if isinstance(value, int) else None
    return float(value) if isinstance(value, int | float) else None


# --------------------------------------------------------------------------------------
# Filtering


def _test(value: Scalar, f: Filter) -> bool:
    op = f.op
    if op == "is_null":
        return value is None
    if op == "not_null":
        return value is not None
    if value is None:
        # SQL: every comparison with NULL is unknown, and unknown is not true.
        return False
    if op == "in":
        assert isinstance(f.value, tuple | list)
        return any(v is not None and v == value for v in f.value)
    if op == "not_in":
        assert isinstance(f.value, tuple | list)
        # SQL: x NOT IN (a, NULL) is false or unknown, never true.
        return all(v is not None and v != value for v in f.value)
    target = f.value
    if target is None or isinstance(target, tuple | list):
        return False
    return _COMPARE[op](value, target)


def matches(columns: Mapping[str, Scalar], filters: Iterable[Filter]) -> bool:
    """
    Whether a record's ``columns`` satisfy every filter (a missing column is NULL).

    >>> matches({"status": None}, [Filter("status", "ne", "closed")])
    False
    >>> matches({"status": "open"}, [Filter("status", "not_in", ())])
    True
    """
    return all(_test(columns.get(f.column), f) for f in filters)


# --------------------------------------------------------------------------------------
# Ordering and keyset pagination


class _Ordered:
    """A non-NULL column value that sorts ascending or descending."""

    __slots__ = ("descending", "value")

    def __init__(self, value: Scalar, descending: bool) -> None:
        self.value = value
        self.descending = descending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ordered) and bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: _Ordered) -> bool:
        a: Any = self.value
        b: Any = other.value
        if a is None or b is None:  # both NULL: equal (the NULL flag sorts them first)
            return False
        return bool(b < a) if self.descending else bool(a < b)

    def __repr__(self) -> str:
        return f"_Ordered({self.value!r}, descending={self.descending})"


#: What :func:`sort_key` returns: (value is NULL, the value, the id).
SortKey: TypeAlias = tuple[bool, _Ordered, str]


def _key(record_id: str, value: Scalar, descending: bool) -> SortKey:
    return (value is None, _Ordered(value, descending), record_id)


def sort_key(record: Record, order: Order | None) -> SortKey:
    """
    The key that puts records in ``order``: by the order column (ascending or
    descending), NULLs last in both directions, ties broken by id ascending.
    ``order=None`` orders by id.
    """
    if order is None:
        return _key(record.id, None, False)
    return _key(record.id, record.columns.get(order.column), order.descending)


def cursor_key(cursor: Cursor, order: Order | None) -> SortKey:
    """The :func:`sort_key` of the record a cursor points at (its value may be NULL)."""
    if order is None:
        return _key(cursor.id, None, False)
    return _key(cursor.id, cursor.value, order.descending)


def after_cursor(record: Record, order: Order | None, cursor: Cursor | None) -> bool:
    """Whether ``record`` comes strictly after ``cursor`` in ``order`` (True if no cursor)."""
    if cursor is None:
        return True
    return sort_key(record, order) > cursor_key(cursor, order)


def cursor_of(record: Record, order: Order | None) -> Cursor:
    """The cursor pointing at ``record`` (for ``order=None`` its value is None)."""
    if order is None:
        return Cursor(None, record.id)
    return Cursor(record.columns.get(order.column), record.id)


def select(records: Iterable[Record], query: Query) -> Page:
    """
    One page of ``records`` (all of one kind, already validated with
    :func:`validate_query`) that match ``query``: filtered, ordered, after the cursor,
    at most ``limit`` of them. ``next`` is None when no matching record follows the
    page (it looks at ``limit + 1`` records to know).
    """
    order = query.order_by
    rows = (
        r
        for r in records
        if matches(r.columns, query.where) and after_cursor(r, order, query.after)
    )

    def key(r: Record) -> SortKey:
        return sort_key(r, order)

    if query.limit is None:
        return Page(tuple(sorted(rows, key=key)), None)
    head = heapq.nsmallest(query.limit + 1, rows, key=key)
    if len(head) <= query.limit:
        return Page(tuple(head), None)
    page = head[: query.limit]
    return Page(tuple(page), cursor_of(page[-1], order))


def count(
    records: Iterable[Record], where: Sequence[Filter] = (), *, group_by: str | None = None
) -> dict[Scalar, int]:
    """
    Count the matching records: ``{None: n}`` without ``group_by`` (``n`` may be 0),
    else one entry per value of ``group_by`` that occurs (NULL included, as ``None``).
    """
    if group_by is None:
        return {None: sum(1 for r in records if matches(r.columns, where))}
    counts: dict[Scalar, int] = {}
    for r in records:
        if matches(r.columns, where):
            value = r.columns.get(group_by)
            counts[value] = counts.get(value, 0) + 1
    return counts


def pages(run: Callable[[Query], Page], query: Query) -> Iterator[Record]:
    """
    Every record of ``query``, fetched page by page with ``run`` (a backend's
    ``query``) and its keyset cursors: what ``Storage.stream`` does, in constant memory.
    """
    while True:
        page = run(query)
        yield from page.records
        if page.next is None:
            return
        query = attrs.evolve(query, after=page.next)
