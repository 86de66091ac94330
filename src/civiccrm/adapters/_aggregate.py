"""
Aggregate queries (:class:`~civiccrm.adapters._base.Aggregate`): checked, evaluated in
Python, and translated to SQL, in one place.

- :func:`problems` checks a query against its kind's :class:`KindSpec`: every column
  it names must be one of the kind's (so that no caller text ever reaches SQL), every
  measure must fit its column, every time zone must exist.
- :func:`evaluate` computes a batch of queries over one kind in Python, in one pass
  over the records' columns: what the in-memory backend does, and what
  :func:`evaluate_streamed` does for a backend without ``capabilities.aggregates``
  (it streams only the columns the queries need).
- :class:`SQLPlan` turns one query into SQL for SQLite (exact percentiles with
  ``ROW_NUMBER()`` window queries, once the group sizes are known) or PostgreSQL
  (``percentile_disc``), and assembles the rows the database returns into the same
  :class:`~civiccrm.adapters._base.AggregateRow` objects :func:`evaluate` makes.

The two ways agree exactly for INTEGER and TEXT columns (every figure of a report);
sums and averages of REAL columns may differ in their last bits between databases,
which add floating-point numbers in their own order.

Calendar buckets (:attr:`GroupBy.bucket`) follow the time zone's clock: local time is
UTC plus the zone's offset at that instant, read from a table of the zone's offset
changes from 1970 to 2099 (:func:`zone_offsets`, made a year at a time as needed) that
both ways share; SQL gets the offsets of the queried time range as a balanced ``CASE``
(a few comparisons a row).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import calendar
import functools
import itertools
import math
import operator
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeAlias

import attrs

from civiccrm.adapters._base import (
    Aggregate,
    AggregateRow,
    ColumnSpec,
    ColumnType,
    Filter,
    GroupBy,
    KindSpec,
    Measure,
    Query,
    Scalar,
    Schema,
    Storage,
)
from civiccrm.adapters._evaluate import validate_filters, validate_value
from civiccrm.errors import Problem, ValidationError

__all__ = [
    "FUNCTIONS",
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "Execute",
    "SQLPlan",
    "answer",
    "check",
    "evaluate",
    "evaluate_streamed",
    "needed_columns",
    "problems",
    "rank",
    "zone_offsets",
]

#: Every measure function.
FUNCTIONS: Final = frozenset({"count", "sum", "avg", "min", "max", "percentile"})
_BUCKETS: Final = frozenset({"day", "week"})
_DAY_US: Final = 86_400_000_000
#: Added to local times before dividing by a day, so that SQL's truncating division
#: floors (timestamps are later than this many days before the epoch): a multiple of
#: 7 days, so that weekdays stay where they are.
_SHIFT_DAYS: Final = 7 * 100_000
_SHIFT_US: Final = _SHIFT_DAYS * _DAY_US
_EPOCH_DAY: Final = date(1970, 1, 1)
#: The UTC years over which zone offsets are tabulated.
_FIRST_YEAR: Final = 1970
_LAST_YEAR: Final = 2099
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_COMPARE: Final = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


# --------------------------------------------------------------------------------------
# Checking


def _column(spec: KindSpec, name: object) -> ColumnSpec | None:
    for c in spec.columns:
        if c.name == name:
            return c
    return None


def _unknown(spec: KindSpec, name: object, path: str) -> Problem:
    known = ", ".join(c.name for c in spec.columns) or "none"
    return Problem(path, f"unknown column {name!r} of kind {spec.kind!r} (columns: {known})")


def _filters_problems(spec: KindSpec, filters: object, path: str) -> list[Problem]:
    if not isinstance(filters, tuple | list):
        return [Problem(path, f"must be a tuple of Filter, not {filters!r}")]
    bad = [
        Problem(f"{path}[{i}]", f"not a Filter: {f!r}")
        for i, f in enumerate(filters)
        if not isinstance(f, Filter)
    ]
    return bad or validate_filters(spec, filters, path=path)


def _measure_problems(spec: KindSpec, m: object, path: str) -> list[Problem]:
    if not isinstance(m, Measure):
        return [Problem(path, f"not a Measure: {m!r}")]
    found: list[Problem] = []
    if not isinstance(m.name, str) or not m.name:
        found.append(Problem(f"{path}.name", "a measure needs a name"))
    fn: object = m.function
    if fn not in FUNCTIONS:
        known = ", ".join(sorted(FUNCTIONS))
        found.append(Problem(f"{path}.function", f"unknown function {fn!r} (functions: {known})"))
        return found
    if m.column is None:
        if fn != "count":
            found.append(Problem(f"{path}.column", f"{fn} needs a column"))
    else:
        column = _column(spec, m.column)
        if column is None:
            found.append(_unknown(spec, m.column, f"{path}.column"))
        elif fn in ("sum", "avg") and column.type is ColumnType.TEXT:
            found.append(
                Problem(f"{path}.column", f"{fn} needs a number column; {m.column!r} is text")
            )
    fraction: object = m.fraction
    if fn == "percentile":
        if (
            not isinstance(fraction, int | float)
            or isinstance(fraction, bool)
            or not math.isfinite(fraction)
            or not 0 < fraction <= 1
        ):
            found.append(
                Problem(
                    f"{path}.fraction", f"a percentile needs 0 < fraction <= 1, not {fraction!r}"
                )
            )
    elif fraction is not None:
        found.append(Problem(f"{path}.fraction", f"only a percentile takes a fraction, not {fn}"))
    found.extend(_filters_problems(spec, m.where, f"{path}.where"))
    return found


def _zone_problem(name: object, path: str) -> Problem | None:
    if not isinstance(name, str) or not name:
        return Problem(path, f"not a time zone name: {name!r}")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return Problem(path, f"unknown time zone {name!r} (an IANA name such as 'America/Chicago')")
    return None


def _group_problems(spec: KindSpec, g: object, path: str) -> list[Problem]:
    if not isinstance(g, GroupBy):
        return [Problem(path, f"not a GroupBy: {g!r}")]
    column = _column(spec, g.column)
    if column is None:
        return [_unknown(spec, g.column, f"{path}.column")]
    found: list[Problem] = []
    bucket: object = g.bucket
    if bucket is not None:
        if bucket not in _BUCKETS:
            found.append(Problem(f"{path}.bucket", f"unknown bucket {bucket!r} (day, week)"))
        elif column.type is not ColumnType.INTEGER:
            found.append(
                Problem(f"{path}.bucket", f"a {bucket} needs a timestamp (INTEGER) column")
            )
        zone = _zone_problem(g.time_zone, f"{path}.time_zone")
        if zone is not None:
            found.append(zone)
    bins: object = g.bins
    if not isinstance(bins, tuple | list):
        found.append(Problem(f"{path}.bins", "must be a tuple of numbers"))
    elif bins:
        if bucket is not None:
            found.append(Problem(f"{path}.bins", "a time bucket takes no bins"))
        if column.type is ColumnType.TEXT:
            found.append(Problem(f"{path}.bins", "bins need a number column"))
        numbers = [
            b
            for b in bins
            if isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b)
        ]
        if len(numbers) != len(bins):
            found.append(Problem(f"{path}.bins", "boundaries are finite numbers"))
        elif any(a >= b for a, b in itertools.pairwise(numbers)):
            found.append(Problem(f"{path}.bins", "boundaries must be strictly ascending"))
    labels: object = g.labels
    if not isinstance(labels, tuple | list):
        return [*found, Problem(f"{path}.labels", "must be a tuple of (value, label) pairs")]
    if labels and (bucket is not None or bins):
        found.append(Problem(f"{path}.labels", "labels go with neither a time bucket nor bins"))
    seen: set[Any] = set()
    for i, pair in enumerate(labels):
        at = f"{path}.labels[{i}]"
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            found.append(Problem(at, f"not a (value, label) pair: {pair!r}"))
            continue
        value, label = pair
        if value is None:
            found.append(Problem(f"{at}[0]", "NULL cannot be labelled (it is never listed)"))
        else:
            p = validate_value(column, value, f"{at}[0]")
            if p is not None:
                found.append(p)
            elif value in seen:
                found.append(Problem(f"{at}[0]", f"{value!r} is labelled twice"))
            seen.add(value)
        if not isinstance(label, str):
            found.append(Problem(f"{at}[1]", f"a label is text, not {label!r}"))
    return found


def problems(spec: KindSpec, query: object, path: str = "") -> list[Problem]:
    """
    Every problem with ``query`` for the kind ``spec`` (whose name it must carry), each
    at ``path`` plus its field (``queries[1].measures[0].column``).
    """
    at = f"{path}." if path else ""
    if not isinstance(query, Aggregate):
        return [Problem(path, f"not an Aggregate: {query!r}")]
    if query.kind != spec.kind:
        return [Problem(f"{at}kind", f"expected kind {spec.kind!r}, not {query.kind!r}")]
    found = _filters_problems(spec, query.where, f"{at}where")
    measures: object = query.measures
    if not isinstance(measures, tuple | list) or not measures:
        found.append(Problem(f"{at}measures", "an aggregate needs at least one Measure"))
    else:
        names: set[object] = set()
        for i, m in enumerate(measures):
            found.extend(_measure_problems(spec, m, f"{at}measures[{i}]"))
            name = getattr(m, "name", None)
            if name in names:
                found.append(Problem(f"{at}measures[{i}].name", f"{name!r} is named twice"))
            names.add(name)
    groups: object = query.group_by
    if not isinstance(groups, tuple | list):
        found.append(Problem(f"{at}group_by", "must be a tuple of GroupBy"))
    else:
        for i, g in enumerate(groups):
            found.extend(_group_problems(spec, g, f"{at}group_by[{i}]"))
    return found


def check(spec_of: Callable[[str], KindSpec | None], queries: object) -> None:
    """
    Raise :class:`ValidationError` listing every problem of a batch of queries
    (``queries[i]...``); ``spec_of`` gives a kind's spec, or None for an unknown kind.
    """
    if not isinstance(queries, tuple | list):
        raise ValidationError.at("queries", f"must be a sequence of Aggregate, not {queries!r}")
    found: list[Problem] = []
    for i, q in enumerate(queries):
        path = f"queries[{i}]"
        kind = getattr(q, "kind", None)
        spec = spec_of(kind) if isinstance(kind, str) and isinstance(q, Aggregate) else None
        if not isinstance(q, Aggregate):
            found.append(Problem(path, f"not an Aggregate: {q!r}"))
        elif spec is None:
            found.append(Problem(f"{path}.kind", f"unknown kind {kind!r}"))
        else:
            found.extend(problems(spec, q, path))
    if found:
        raise ValidationError(found, record_type="aggregate query")


def needed_columns(queries: Iterable[Aggregate]) -> tuple[str, ...]:
    """Every column the queries read, in first-use order (queries already checked)."""
    out: dict[str, None] = {}
    for q in queries:
        for f in q.where:
            out[f.column] = None
        for g in q.group_by:
            out[g.column] = None
        for m in q.measures:
            if m.column is not None:
                out[m.column] = None
            for f in m.where:
                out[f.column] = None
    return tuple(out)


# --------------------------------------------------------------------------------------
# Time zones and buckets


def _year_start(year: int) -> int:
    """The first second of a UTC year."""
    return calendar.timegm((year, 1, 1, 0, 0, 0))


@functools.lru_cache(maxsize=4096)
def _year_offsets(name: str, year: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """
    The zone's UTC offset when the UTC year ``year`` begins, and its changes in the
    year, as ``(base, ((instant, offset), ...))`` in microseconds. The zone is probed
    once a day and each change found is placed to the second (offsets change on whole
    seconds, and no zone changes twice in a day).
    """
    zone = zoneinfo.ZoneInfo(name)

    def offset(second: int) -> int:
        delta = datetime.fromtimestamp(second, zone).utcoffset()
        return 0 if delta is None else round(delta.total_seconds())

    start, end = _year_start(year), _year_start(year + 1)
    base = current = offset(start)
    changes = []
    step = 86_400
    t = start
    while t < end:
        nxt = min(t + step, end)
        after = offset(nxt)
        if after != current:
            lo, hi = t, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            if hi < end:  # a change as the next year begins is that year's base
                changes.append((hi * 1_000_000, after * 1_000_000))
            current = after
        t = nxt
    return base * 1_000_000, tuple(changes)


def _clamp_year(year: int) -> int:
    return min(max(year, _FIRST_YEAR), _LAST_YEAR)


@functools.lru_cache(maxsize=1024)
def zone_offsets(
    name: str, first_year: int = 1970, last_year: int = 2099
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """
    The UTC offsets of the zone ``name`` over the UTC years ``first_year`` to
    ``last_year`` (within 1970 to 2099), as ``(starts, offsets)`` in microseconds:
    ``offsets[i]`` applies from ``starts[i]`` to the next start; ``starts[0]`` is the
    lowest 64-bit integer (the first offset applies to everything before), and the
    last offset to everything after. Python's evaluation and SQL read the same table.
    """
    first, last = _clamp_year(first_year), _clamp_year(last_year)
    base, _ = _year_offsets(name, first)
    starts, offsets = [-(2**63)], [base]
    for year in range(first, last + 1):
        year_base, changes = _year_offsets(name, year)
        for at, value in ((_year_start(year) * 1_000_000, year_base), *changes):
            if value != offsets[-1]:
                starts.append(at)
                offsets.append(value)
    return tuple(starts), tuple(offsets)


def _offset_at(name: str, value: int) -> int:
    """The zone's offset at ``value`` (µs), as :func:`zone_offsets` tabulates it."""
    try:
        year = _clamp_year((_EPOCH + timedelta(microseconds=value)).year)
    except OverflowError:
        year = _FIRST_YEAR if value < 0 else _LAST_YEAR
    starts, offsets = zone_offsets(name, year, year)
    return offsets[bisect.bisect_right(starts, value) - 1]


def _bucket_day(g: GroupBy, value: int) -> int:
    """The local day number (days since 1970-01-01) of the bucket holding ``value``."""
    day = (value + _offset_at(g.time_zone, value)) // _DAY_US
    if g.bucket == "week":
        return day - (day + 3) % 7  # 1970-01-01 was a Thursday: back to Monday
    return day


def _iso_day(day: int) -> str:
    return (_EPOCH_DAY + timedelta(days=day)).isoformat()


# --------------------------------------------------------------------------------------
# Python evaluation


#: A record's columns.
Row: TypeAlias = Mapping[str, Scalar]
#: A test of a record's columns.
Test: TypeAlias = Callable[[Row], bool]

_CMP: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _never(row: Row) -> bool:
    return False


def _test(f: Filter) -> Test:
    """One filter as a function, with SQL's NULL semantics (see ``_evaluate.matches``)."""
    col, op, value = f.column, f.op, f.value
    if op == "is_null":
        return lambda r: r.get(col) is None
    if op == "not_null":
        return lambda r: r.get(col) is not None
    if op in ("in", "not_in"):
        values = tuple(value) if isinstance(value, tuple | list) else ()
        if op == "in":
            allowed = frozenset(v for v in values if v is not None)
            return lambda r: (v := r.get(col)) is not None and v in allowed
        if any(v is None for v in values):
            return _never  # x NOT IN (..., NULL) is never true
        banned = frozenset(values)
        return lambda r: (v := r.get(col)) is not None and v not in banned
    if value is None or isinstance(value, tuple | list):
        return _never  # a comparison with NULL is never true
    compare = _CMP[op]
    return lambda r: (v := r.get(col)) is not None and bool(compare(v, value))


def _predicate(filters: Sequence[Filter]) -> Test | None:
    """A function testing a row against every filter (None: no filters)."""
    if not filters:
        return None
    tests = [_test(f) for f in filters]
    if len(tests) == 1:
        return tests[0]
    return lambda r: all(t(r) for t in tests)


def rank(fraction: float, n: int) -> int:
    """The nearest rank (1-based) of the ``fraction`` percentile of ``n`` values (n >= 1)."""
    return max(1, math.ceil(float(fraction) * n))


def _typed(column: ColumnSpec | None, value: Any) -> Scalar:
    """A value as its column's type (databases return ``Decimal`` sums, REAL ints)."""
    if value is None or column is None:
        return value  # type: ignore[no-any-return]
    if column.type is ColumnType.INTEGER:
        return int(value)
    if column.type is ColumnType.REAL:
        return float(value)
    return str(value)


class _Acc:
    """The running state of one measure in one group."""

    __slots__ = ("n", "total", "values")

    def __init__(self) -> None:
        self.n = 0
        self.total: Any = None
        self.values: list[Any] = []


def _add(m: Measure, acc: _Acc, value: Scalar) -> None:
    fn = m.function
    if m.column is None:
        acc.n += 1
        return
    if value is None:
        return
    acc.n += 1
    if fn in ("sum", "avg"):
        acc.total = value if acc.total is None else acc.total + value
    elif fn == "min":
        if acc.total is None or value < acc.total:
            acc.total = value
    elif fn == "max":
        if acc.total is None or value > acc.total:
            acc.total = value
    elif fn == "percentile":
        acc.values.append(value)


def _result(m: Measure, column: ColumnSpec | None, acc: _Acc | None) -> Scalar:
    fn = m.function
    if fn == "count":
        return 0 if acc is None else acc.n
    if acc is None or acc.n == 0:
        return None
    if fn == "avg":
        return acc.total / acc.n  # type: ignore[no-any-return]
    if fn == "percentile":
        acc.values.sort()
        assert m.fraction is not None
        return _typed(column, acc.values[rank(m.fraction, acc.n) - 1])
    return _typed(column, acc.total)


def _key_function(g: GroupBy) -> Callable[[Row], Scalar]:
    col = g.column
    if g.bucket is not None:

        def bucket(r: Row) -> Scalar:
            v = r.get(col)
            return None if v is None else _bucket_day(g, int(v))

        return bucket
    if g.labels:
        labels: dict[Scalar, str] = dict(g.labels)
        return lambda r: labels.get(r.get(col))
    if g.bins:
        bins = tuple(g.bins)

        def binned(r: Row) -> Scalar:
            v = r.get(col)
            return None if v is None else bisect.bisect_right(bins, v)

        return binned
    return lambda r: r.get(col)


def _sort_key(key: tuple[Scalar, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is None, 0 if v is None else v) for v in key)


def _finish(
    spec: KindSpec, query: Aggregate, groups: Mapping[tuple[Any, ...], Mapping[str, Scalar]]
) -> tuple[AggregateRow, ...]:
    """Rows in key order, bucket keys as ISO dates, key values as their column's type."""
    if not query.group_by:
        return (AggregateRow((), groups[()]),)
    rows = []
    for raw, values in groups.items():
        key: list[Scalar] = []
        for g, v in zip(query.group_by, raw, strict=True):
            if v is None:
                key.append(None)
            elif g.bucket is not None:
                key.append(_iso_day(int(v)))
            elif g.labels:
                key.append(str(v))
            elif g.bins:
                key.append(int(v))
            else:
                key.append(_typed(_column(spec, g.column), v))
        rows.append(AggregateRow(tuple(key), values))
    rows.sort(key=lambda r: _sort_key(r.key))
    return tuple(rows)


def _is_real(spec: KindSpec, m: Measure) -> bool:
    column = _column(spec, m.column) if m.column is not None else None
    return column is not None and column.type is ColumnType.REAL


def evaluate(
    spec: KindSpec, queries: Sequence[Aggregate], rows: Iterable[Mapping[str, Scalar]]
) -> list[tuple[AggregateRow, ...]]:
    """
    Answer ``queries`` (all of ``spec``'s kind, already checked with :func:`problems`)
    over ``rows`` (each record's columns), in one pass.
    """
    compiled: list[
        tuple[
            Test | None,
            list[Callable[[Row], Scalar]],
            list[tuple[Measure, str | None, Test | None, bool]],
            dict[tuple[Scalar, ...], list[_Acc]],
        ]
    ] = []
    for q in queries:
        where = _predicate(q.where)
        keys = [_key_function(g) for g in q.group_by]
        measures = [(m, m.column, _predicate(m.where), _is_real(spec, m)) for m in q.measures]
        compiled.append((where, keys, measures, {}))
    for row in rows:
        for where, keys, measures, groups in compiled:
            if where is not None and not where(row):
                continue
            key = tuple(k(row) for k in keys)
            accs = groups.get(key)
            if accs is None:
                accs = groups[key] = [_Acc() for _ in measures]
            for (m, col, test, real), acc in zip(measures, accs, strict=True):
                if test is None or test(row):
                    value = None if col is None else row.get(col)
                    # A REAL column holds floats (a database stores an int as one).
                    _add(m, acc, float(value) if real and value is not None else value)
    out = []
    for q, (_w, _k, measures, groups) in zip(queries, compiled, strict=True):
        if not q.group_by and () not in groups:
            groups[()] = [_Acc() for _ in measures]
        done = {
            key: {
                m.name: _result(m, _column(spec, m.column) if m.column else None, acc)
                for (m, _c, _t, _r), acc in zip(measures, accs, strict=True)
            }
            for key, accs in groups.items()
        }
        out.append(_finish(spec, q, done))
    return out


def evaluate_streamed(
    storage: Storage, schema: Schema, queries: Sequence[Aggregate], *, batch_size: int = 5000
) -> list[tuple[AggregateRow, ...]]:
    """
    Answer ``queries`` on a backend without aggregates: for each kind, stream once the
    columns the queries need (no documents), filtered by the conditions every query of
    that kind shares, and evaluate them in Python. ``schema`` gives the kinds' columns.
    """

    def spec_of(kind: str) -> KindSpec | None:
        try:
            return schema.kind(kind)
        except KeyError:
            return None

    check(spec_of, queries)
    results: dict[int, tuple[AggregateRow, ...]] = {}
    by_kind: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        by_kind.setdefault(q.kind, []).append(i)
    for kind, positions in by_kind.items():
        batch = [queries[i] for i in positions]
        shared = [f for f in batch[0].where if all(f in q.where for q in batch[1:])]
        stream = storage.stream(
            Query(kind, tuple(shared), columns=needed_columns(batch)), batch_size=batch_size
        )
        spec = schema.kind(kind)
        for i, rows in zip(
            positions, evaluate(spec, batch, (r.columns for r in stream)), strict=True
        ):
            results[i] = rows
    return [results[i] for i in range(len(queries))]


# --------------------------------------------------------------------------------------
# SQL


@attrs.frozen
class Dialect:
    """How a database spells what the SQL of aggregates needs."""

    #: The parameter placeholder (``?`` or ``%s``).
    param: str
    #: ``percentile_disc(f) WITHIN GROUP (ORDER BY x) FILTER (WHERE ...)`` exists.
    native_percentile: bool
    #: The false condition.
    false: str = "0"


def _q(name: str) -> str:
    return f'"{name}"'


def _bounds(column: str, filters: Sequence[Filter]) -> tuple[int | None, int | None]:
    """The narrowest ``[lo, hi]`` the filters allow a numeric column (None: open)."""
    lo: int | None = None
    hi: int | None = None

    def raise_lo(v: float) -> None:
        nonlocal lo
        x = math.floor(v)
        lo = x if lo is None else max(lo, x)

    def lower_hi(v: float) -> None:
        nonlocal hi
        x = math.ceil(v)
        hi = x if hi is None else min(hi, x)

    for f in filters:
        if f.column != column:
            continue
        v = f.value
        if f.op in ("ge", "gt") and isinstance(v, int | float):
            raise_lo(v)
        elif f.op in ("le", "lt") and isinstance(v, int | float):
            lower_hi(v)
        elif f.op == "eq" and isinstance(v, int | float):
            raise_lo(v)
            lower_hi(v)
        elif f.op == "in" and isinstance(v, tuple | list):
            numbers = [x for x in v if isinstance(x, int | float)]
            if numbers:
                raise_lo(min(numbers))
                lower_hi(max(numbers))
    return lo, hi


def _offset_sql(column: str, g: GroupBy, where: Sequence[Filter]) -> str:
    """The zone's offset at the column's instant, in microseconds, as SQL."""
    lo, hi = _bounds(g.column, where)
    years = []
    for bound, default in ((lo, _FIRST_YEAR), (hi, _LAST_YEAR)):
        try:
            years.append(
                default if bound is None else (_EPOCH + timedelta(microseconds=bound)).year
            )
        except OverflowError:
            years.append(_FIRST_YEAR if bound is not None and bound < 0 else _LAST_YEAR)
    starts, offsets = zone_offsets(g.time_zone, years[0], years[1])
    first = 0 if lo is None else bisect.bisect_right(starts, lo) - 1
    last = len(starts) - 1 if hi is None else bisect.bisect_right(starts, hi) - 1
    segments = list(range(first, max(first, last) + 1))

    def tree(items: list[int]) -> str:
        if len(items) == 1:
            return str(offsets[items[0]])
        mid = len(items) // 2
        return (
            f"CASE WHEN {column} < {starts[items[mid]]} THEN {tree(items[:mid])}"
            f" ELSE {tree(items[mid:])} END"
        )

    return tree(segments)


class _Params:
    """SQL fragments and their parameters, in the order they appear in the text."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return self.dialect.param


def _filter_sql(spec: KindSpec, f: Filter, p: _Params) -> str:
    column = _column(spec, f.column)
    assert column is not None  # checked before
    col = _q(column.name)
    op, value = f.op, f.value
    if op == "is_null":
        return f"{col} IS NULL"
    if op == "not_null":
        return f"{col} IS NOT NULL"
    if op in ("in", "not_in"):
        values = tuple(value)  # type: ignore[arg-type]
        if not values:
            return p.dialect.false if op == "in" else f"{col} IS NOT NULL"
        marks = ", ".join(p.add(v) for v in values)
        return f"{col} {'IN' if op == 'in' else 'NOT IN'} ({marks})"
    return f"{col} {_COMPARE[op]} {p.add(value)}"


def _where_sql(spec: KindSpec, filters: Sequence[Filter], p: _Params) -> str:
    """The conditions joined with AND ("" for none)."""
    return " AND ".join(f"({_filter_sql(spec, f, p)})" for f in filters)


def _alias(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name = "_" + name
    taken.add(name)
    return name


def _group_sql(spec: KindSpec, g: GroupBy, where: Sequence[Filter], p: _Params) -> str:
    col = _q(g.column)
    if g.bucket is not None:
        # Local time, shifted so that the truncating division of SQL floors: the day
        # number, or the Monday of the week (1970-01-01 was a Thursday: a week number
        # counted from Monday 1969-12-29 is floor((local + 3 days) / 7 days)).
        offset = _offset_sql(col, g, where)
        if g.bucket == "week":
            weeks = f"(({col} + {offset} + {_SHIFT_US + 3 * _DAY_US}) / {7 * _DAY_US})"
            return f"(7 * {weeks} - {3 + _SHIFT_DAYS})"
        return f"(({col} + {offset} + {_SHIFT_US}) / {_DAY_US} - {_SHIFT_DAYS})"
    if g.bins:
        ranges = " ".join(f"WHEN {col} < {p.add(b)} THEN {i}" for i, b in enumerate(g.bins))
        return f"CASE WHEN {col} IS NULL THEN NULL {ranges} ELSE {len(g.bins)} END"
    if g.labels:
        by_label: dict[str, list[Scalar]] = {}
        for value, label in g.labels:
            by_label.setdefault(label, []).append(value)
        whens = []
        for label, values in by_label.items():
            marks = ", ".join(p.add(v) for v in values)
            whens.append(f"WHEN {col} IN ({marks}) THEN {p.add(label)}")
        return f"CASE {' '.join(whens)} END"
    return col


@attrs.frozen
class _Part:
    """What one SELECT-list expression of the main statement holds."""

    measure: Measure
    #: "value", or for avg "sum"/"count", or for a window percentile "n".
    role: str


class SQLPlan:
    """
    The SQL of one aggregate query (already checked) against ``table`` (the quoted
    table name; its columns are the kind's), for ``dialect``:

    1. run :attr:`main` (and its :attr:`params`);
    2. give its rows to :meth:`windows`, run each statement it returns (SQLite's exact
       percentiles; none on PostgreSQL);
    3. give everything to :meth:`rows`.
    """

    def __init__(
        self,
        spec: KindSpec,
        query: Aggregate,
        table: str,
        dialect: Dialect,
        *,
        where: Sequence[Filter] | None = None,
    ) -> None:
        self.spec = spec
        self.query = query
        self.table = table
        self.dialect = dialect
        #: The filters applied in SQL (the query's own unless told otherwise).
        self.where = tuple(query.where if where is None else where)
        taken = {c.name for c in spec.columns}
        self.aliases = [_alias(f"g{i}", taken) for i in range(len(query.group_by))]
        self._taken = taken
        self.parts: list[_Part] = []
        #: The (column, filter) of each statement :meth:`windows` returned, in order.
        self._window_sets: list[tuple[str, tuple[Filter, ...]]] = []
        self.main, self.params = self._main()

    # --- the main statement -----------------------------------------------------------

    def _aggregate_sql(self, fn: str, column: str | None, m: Measure, p: _Params) -> str:
        cond = _where_sql(self.spec, m.where, p) if m.where else ""
        if column is None:
            return f"COUNT(CASE WHEN {cond} THEN 1 END)" if cond else "COUNT(*)"
        col = _q(column)
        arg = f"CASE WHEN {cond} THEN {col} END" if cond else col
        return f"{fn}({arg})"

    def _select_list(self, p: _Params) -> list[str]:
        out: list[str] = []
        for m in self.query.measures:
            fn = m.function
            if fn == "count":
                out.append(self._aggregate_sql("COUNT", m.column, m, p))
                self.parts.append(_Part(m, "value"))
            elif fn in ("sum", "min", "max"):
                out.append(self._aggregate_sql(fn.upper(), m.column, m, p))
                self.parts.append(_Part(m, "value"))
            elif fn == "avg":
                out.append(self._aggregate_sql("SUM", m.column, m, p))
                self.parts.append(_Part(m, "sum"))
                out.append(self._aggregate_sql("COUNT", m.column, m, p))
                self.parts.append(_Part(m, "count"))
            elif self.dialect.native_percentile:
                assert m.column is not None
                assert m.fraction is not None
                sql = (
                    f"percentile_disc({float(m.fraction)!r}) WITHIN GROUP (ORDER BY {_q(m.column)})"
                )
                if m.where:
                    sql += f" FILTER (WHERE {_where_sql(self.spec, m.where, p)})"
                out.append(sql)
                self.parts.append(_Part(m, "value"))
            else:
                out.append(self._aggregate_sql("COUNT", m.column, m, p))
                self.parts.append(_Part(m, "n"))
        return out

    def _main(self) -> tuple[str, list[Any]]:
        q = self.query
        p = _Params(self.dialect)
        select = self._select_list(p)
        measures = ", ".join(select)
        if not q.group_by:
            sql = f"SELECT {measures} FROM {self.table}"
            where = _where_sql(self.spec, self.where, p)
            return (sql + (f" WHERE {where}" if where else "")), p.values
        inner = self._inner(p, needed_columns([attrs.evolve(q, where=(), group_by=())]))
        aliases = ", ".join(self.aliases)
        sql = f"SELECT {aliases}, {measures} FROM ({inner}) AS civiccrm_s GROUP BY {aliases}"
        return sql, p.values

    def _inner(self, p: _Params, columns: Sequence[str], extra: str = "") -> str:
        """SELECT of the group keys (as the aliases) and ``columns``, filtered."""
        items = [
            f"{_group_sql(self.spec, g, self.where, p)} AS {a}"
            for g, a in zip(self.query.group_by, self.aliases, strict=True)
        ]
        items.extend(_q(c) for c in columns)
        terms = [t for t in (_where_sql(self.spec, self.where, p), extra) if t]
        sql = f"SELECT {', '.join(items)} FROM {self.table}"
        return sql + (f" WHERE {' AND '.join(terms)}" if terms else "")

    # --- percentiles by window (SQLite) -------------------------------------------------

    def _percentile_sets(self) -> dict[tuple[str, tuple[Filter, ...]], list[Measure]]:
        sets: dict[tuple[str, tuple[Filter, ...]], list[Measure]] = {}
        for part in self.parts:
            if part.role == "n":
                m = part.measure
                assert m.column is not None
                sets.setdefault((m.column, tuple(m.where)), []).append(m)
        return sets

    def _counts(self, rows: Sequence[Sequence[Any]]) -> dict[tuple[Any, ...], dict[str, int]]:
        """Per raw group key: the number of values of each window percentile."""
        width = len(self.aliases)
        out: dict[tuple[Any, ...], dict[str, int]] = {}
        for row in rows:
            key = tuple(row[:width])
            counts = out.setdefault(key, {})
            for part, value in zip(self.parts, row[width:], strict=True):
                if part.role == "n":
                    counts[part.measure.name] = int(value or 0)
        return out

    def windows(self, main_rows: Sequence[Sequence[Any]]) -> list[tuple[str, list[Any]]]:
        """
        The statements that find the exact percentiles the main statement could not
        (SQLite), given the main statement's rows: for each (column, filter) with
        values, the values at the ranks needed, by ``ROW_NUMBER()`` over each group
        ordered by the column. Each returns rows of (group key..., value, rank).
        """
        self._window_sets = []
        if self.dialect.native_percentile:
            return []
        counts = self._counts(main_rows)
        out: list[tuple[str, list[Any]]] = []
        for (column, where), measures in self._percentile_sets().items():
            ranks = sorted(
                {
                    rank(m.fraction, n)  # type: ignore[arg-type]
                    for by_measure in counts.values()
                    for m in measures
                    if (n := by_measure.get(m.name, 0)) > 0
                }
            )
            if not ranks:
                continue
            p = _Params(self.dialect)
            taken = set(self._taken) | set(self.aliases)
            value = _alias("v", taken)
            position = _alias("rn", taken)
            items = [
                f"{_group_sql(self.spec, g, self.where, p)} AS {a}"
                for g, a in zip(self.query.group_by, self.aliases, strict=True)
            ]
            items.append(f"{_q(column)} AS {value}")
            terms = [_where_sql(self.spec, self.where, p), f"{_q(column)} IS NOT NULL"]
            if where:
                terms.append(_where_sql(self.spec, where, p))
            inner = (
                f"SELECT {', '.join(items)} FROM {self.table}"
                f" WHERE {' AND '.join(t for t in terms if t)}"
            )
            keys = ", ".join(self.aliases)
            partition = f"PARTITION BY {keys} " if keys else ""
            lead = f"{keys}, " if keys else ""
            sql = (
                f"SELECT {lead}{value}, {position} FROM (SELECT {lead}{value},"
                f" ROW_NUMBER() OVER ({partition}ORDER BY {value}) AS {position}"
                f" FROM ({inner}) AS civiccrm_i) AS civiccrm_w"
                f" WHERE {position} IN ({', '.join(str(r) for r in ranks)})"
            )
            out.append((sql, p.values))
            self._window_sets.append((column, where))
        return out

    # --- assembling ---------------------------------------------------------------------

    def rows(
        self,
        main_rows: Sequence[Sequence[Any]],
        window_rows: Sequence[Sequence[Sequence[Any]]] = (),
    ) -> tuple[AggregateRow, ...]:
        """The answer, from the main statement's rows and each window statement's."""
        width = len(self.aliases)
        spec = self.spec
        # (column, filter) -> raw key -> rank -> value
        ranked: dict[tuple[str, tuple[Filter, ...]], dict[tuple[Any, ...], dict[int, Any]]] = {}
        if len(window_rows) != len(self._window_sets):
            raise ValueError("give the rows of every statement windows() returned, in order")
        for which, rows in zip(self._window_sets, window_rows, strict=True):
            found = ranked.setdefault(which, {})
            for row in rows:
                found.setdefault(tuple(row[:width]), {})[int(row[width + 1])] = row[width]
        groups: dict[tuple[Any, ...], dict[str, Scalar]] = {}
        for row in main_rows:
            key = tuple(row[:width])
            raw = row[width:]
            values: dict[str, Scalar] = {}
            sums: dict[str, Any] = {}
            for i, part in enumerate(self.parts):
                m = part.measure
                column = _column(spec, m.column) if m.column else None
                v = raw[i]
                if part.role == "value":
                    values[m.name] = int(v or 0) if m.function == "count" else _typed(column, v)
                elif part.role == "sum":
                    sums[m.name] = v
                elif part.role == "count":
                    n = int(v or 0)
                    total = sums[m.name]
                    if n == 0 or total is None:
                        values[m.name] = None
                    elif column is not None and column.type is ColumnType.INTEGER:
                        values[m.name] = int(total) / n
                    else:
                        values[m.name] = float(total) / n
                else:  # a window percentile: the value at its rank
                    n = int(v or 0)
                    assert m.column is not None
                    assert m.fraction is not None
                    at = ranked.get((m.column, tuple(m.where)), {}).get(key, {})
                    values[m.name] = None if n == 0 else _typed(column, at.get(rank(m.fraction, n)))
            groups[key] = {m.name: values[m.name] for m in self.query.measures}
        if not self.query.group_by and () not in groups:
            groups[()] = {
                m.name: (0 if m.function == "count" else None) for m in self.query.measures
            }
        return _finish(spec, self.query, groups)


#: SQLite: no percentile_disc (exact percentiles by ROW_NUMBER).
SQLITE: Final = Dialect(param="?", native_percentile=False)
#: PostgreSQL: percentile_disc (and no ``%`` in the SQL but placeholders: psycopg's).
POSTGRESQL: Final = Dialect(param="%s", native_percentile=True, false="FALSE")

#: Runs one statement with its parameters and returns every row.
Execute = Callable[[str, list[Any]], Sequence[Sequence[Any]]]


def _materialize(
    spec: KindSpec, table: str, temp: str, batch: Sequence[Aggregate], dialect: Dialect
) -> tuple[str, list[Any], KindSpec]:
    """
    The statement that copies into the temporary table ``temp`` the columns a batch of
    queries reads, of the records any of them matches; and the kind as ``temp`` has it.
    """
    columns = needed_columns(batch)
    p = _Params(dialect)
    alternatives: list[str] = []
    for q in batch:
        if not q.where:
            alternatives = []
            p.values.clear()
            break
        alternatives.append(f"({_where_sql(spec, q.where, p)})")
    sql = f"CREATE TEMP TABLE {temp} AS SELECT {', '.join(_q(c) for c in columns)} FROM {table}"
    if alternatives:
        sql += " WHERE " + " OR ".join(alternatives)
    narrow = KindSpec(spec.kind, tuple(c for c in spec.columns if c.name in columns))
    return sql, p.values, narrow


def answer(
    spec_of: Callable[[str], KindSpec | None],
    table_of: Callable[[str], str],
    queries: Sequence[Aggregate],
    dialect: Dialect,
    execute: Execute,
    *,
    temp: str | None = None,
) -> list[tuple[AggregateRow, ...]]:
    """
    Answer checked ``queries`` with SQL: ``spec_of`` and ``table_of`` give a kind's
    spec and quoted table, ``execute`` runs a statement (call this inside one read
    transaction, for one snapshot). With ``temp`` (a temporary table's name), the
    records two or more queries of a kind read are first copied there (their needed
    columns only), so that the kind's table, documents and all, is read once, not once
    a query; the table is dropped afterwards.
    """
    answers: dict[int, tuple[AggregateRow, ...]] = {}
    by_kind: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        by_kind.setdefault(q.kind, []).append(i)
    for kind, positions in by_kind.items():
        spec = spec_of(kind)
        assert spec is not None  # checked before
        table = table_of(kind)
        batch = [queries[i] for i in positions]
        # Worth a copy when several queries read the kind, and they read some column.
        copied = temp is not None and len(batch) > 1 and bool(needed_columns(batch))
        if copied:
            assert temp is not None
            execute(f"DROP TABLE IF EXISTS {temp}", [])
            sql, params, spec = _materialize(spec, table, temp, batch, dialect)
            execute(sql, params)
            table = temp
        try:
            for i, q in zip(positions, batch, strict=True):
                plan = SQLPlan(spec, q, table, dialect)
                main = execute(plan.main, plan.params)
                extra = [execute(sql, params) for sql, params in plan.windows(main)]
                answers[i] = plan.rows(main, extra)
        finally:
            if copied:
                execute(f"DROP TABLE IF EXISTS {temp}", [])
    return [answers[i] for i in range(len(queries))]
