"""Conformance: aggregate queries (the optional ``capabilities.aggregates``)."""

from __future__ import annotations

import math
import random
import zoneinfo
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import pytest

from civiccrm.adapters._base import (
    Aggregate,
    AggregateRow,
    Filter,
    GroupBy,
    Measure,
    Record,
    Scalar,
    Storage,
    SupportsAggregates,
)
from civiccrm.adapters._evaluate import matches
from civiccrm.errors import ValidationError
from civiccrm.testing._fixtures import case

__all__ = ["AggregateConformance"]

_FRACTIONS: Final = (0.01, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _aggregator(storage: Storage) -> SupportsAggregates:
    """``storage`` as an aggregating backend; skips unless it declares the capability."""
    if not storage.capabilities.aggregates:
        pytest.skip(f"needs capabilities.aggregates; {type(storage).__name__} declares it False")
    assert isinstance(storage, SupportsAggregates), (
        f"{type(storage).__name__} declares capabilities.aggregates but has no "
        "aggregate(queries) method (see docs/plugins.md)"
    )
    return storage


def _load(storage: Storage, records: Sequence[Record]) -> None:
    with storage.transaction():
        for r in records:
            storage.put(r, expected_version=0)


def _dataset(n: int = 80, *, seed: int = 4242) -> list[Record]:
    """Cases with NULLs, ties, negative and fractional numbers, and shared text values."""
    rng = random.Random(seed)
    start = _us(datetime(2026, 3, 1, tzinfo=UTC))
    return [
        case(
            f"a{i:04d}",
            status=rng.choice(("new", "open", "in_progress", "closed", None)),
            queue=rng.choice(("roads", "parks", "water", None)),
            priority=rng.choice((1, 2, 3, 3, 4, -2, None)),
            due_at=rng.choice((None, rng.randrange(0, 10**6))),
            opened_at=rng.choice((None, start + rng.randrange(0, 60 * 86_400 * 10**6))),
            requester=rng.choice(("ann", "bob", "Cy", "zoë", "", None)),
            score=rng.choice((None, -1.5, 0.0, 0.25, 2.5, 10.0)),
            external_id=f"ext-{i}",
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------------------
# The plain reference: what every figure means, computed the obvious way


def _local_day(value: int, zone: str, bucket: str) -> str:
    local = (_EPOCH + timedelta(microseconds=value)).astimezone(zoneinfo.ZoneInfo(zone))
    day = local.date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def _key_part(g: GroupBy, columns: dict[str, Scalar]) -> Scalar:
    value = columns.get(g.column)
    if value is None:
        return None
    if g.bucket is not None:
        assert isinstance(value, int)
        return _local_day(value, g.time_zone, g.bucket)
    if g.labels:
        return dict(g.labels).get(value)
    if g.bins:
        return sum(value >= b for b in g.bins)  # type: ignore[operator]
    return value


def _figure(m: Measure, rows: list[dict[str, Scalar]]) -> Any:
    rows = [r for r in rows if matches(r, m.where)]
    if m.function == "count":
        return len(rows) if m.column is None else sum(r.get(m.column) is not None for r in rows)
    assert m.column is not None
    values: list[Any] = [r[m.column] for r in rows if r.get(m.column) is not None]
    if not values:
        return None
    if m.function == "sum":
        return sum(values)
    if m.function == "avg":
        return sum(values) / len(values)
    if m.function == "min":
        return min(values)
    if m.function == "max":
        return max(values)
    assert m.fraction is not None
    k = max(1, math.ceil(m.fraction * len(values)))
    return sorted(values)[k - 1]


def _expected(query: Aggregate, records: Sequence[Record]) -> list[AggregateRow]:
    rows = [dict(r.columns) for r in records if r.kind == query.kind]
    rows = [r for r in rows if matches(r, query.where)]
    groups: dict[tuple[Scalar, ...], list[dict[str, Scalar]]] = {}
    for r in rows:
        groups.setdefault(tuple(_key_part(g, r) for g in query.group_by), []).append(r)
    if not query.group_by:
        groups.setdefault((), [])
    out = [
        AggregateRow(key, {m.name: _figure(m, members) for m in query.measures})
        for key, members in groups.items()
    ]
    out.sort(key=lambda row: tuple((v is None, 0 if v is None else v) for v in row.key))
    return out


def _same(actual: Sequence[AggregateRow], expected: Sequence[AggregateRow]) -> None:
    """Equal figures: exact, except float sums and averages to 1e-9 relative."""
    assert [r.key for r in actual] == [r.key for r in expected]
    for a, e in zip(actual, expected, strict=True):
        assert set(a.values) == set(e.values), a.key
        for name, want in e.values.items():
            got = a.values[name]
            if isinstance(want, float) or isinstance(got, float):
                assert isinstance(got, int | float), (a.key, name)
                assert isinstance(want, int | float), (a.key, name)
                assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (a.key, name)
            else:
                assert got == want, (a.key, name, got, want)
                assert type(got) is type(want), (a.key, name, got, want)


def _every_measure(where: tuple[Filter, ...] = ()) -> tuple[Measure, ...]:
    measures = [
        Measure("rows", "count", where=where),
        Measure("priorities", "count", "priority", where=where),
        Measure("priority_sum", "sum", "priority", where=where),
        Measure("priority_avg", "avg", "priority", where=where),
        Measure("priority_min", "min", "priority", where=where),
        Measure("priority_max", "max", "priority", where=where),
        Measure("score_sum", "sum", "score", where=where),
        Measure("score_avg", "avg", "score", where=where),
        Measure("score_max", "max", "score", where=where),
        Measure("requester_min", "min", "requester", where=where),
        Measure("requester_max", "max", "requester", where=where),
    ]
    for f in _FRACTIONS:
        measures.append(Measure(f"due_p{f}", "percentile", "due_at", fraction=f, where=where))
    measures.append(Measure("requester_p50", "percentile", "requester", fraction=0.5, where=where))
    measures.append(Measure("score_p90", "percentile", "score", fraction=0.9, where=where))
    return tuple(measures)


class AggregateConformance:
    """
    ``aggregate``, for a backend that declares ``capabilities.aggregates`` (the tests
    skip otherwise): every measure function with SQL NULL semantics, measure filters,
    grouping by values, labels and calendar buckets in a time zone, exact nearest-rank
    percentiles, batches of queries, and ValidationError for bad queries.

    .. versionadded:: 0.1.0
    """

    def test_nothing_to_aggregate(self, storage: Storage) -> None:
        """An ungrouped query over no records is one row: counts 0, everything else None."""
        agg = _aggregator(storage)
        query = Aggregate("case", _every_measure())
        [rows] = agg.aggregate([query])
        assert list(rows) == _expected(query, [])
        assert rows[0].values["rows"] == 0
        grouped = Aggregate("case", (Measure("n", "count"),), group_by=(GroupBy("queue"),))
        assert agg.aggregate([grouped]) == [()]

    def test_every_function(self, storage: Storage) -> None:
        """count, sum, avg, min, max and percentiles over INTEGER, REAL and TEXT columns."""
        agg = _aggregator(storage)
        records = _dataset()
        _load(storage, records)
        query = Aggregate("case", _every_measure())
        [rows] = agg.aggregate([query])
        _same(rows, _expected(query, records))

    @pytest.mark.parametrize(
        "where",
        [
            (Filter("status", "in", ("open", "new")),),
            (Filter("priority", "ge", 2), Filter("queue", "ne", "parks")),
            (Filter("requester", "not_in", ()),),
            (Filter("requester", "in", ()),),
            (Filter("score", "is_null"),),
            (Filter("status", "not_in", ("open", None)),),
        ],
        ids=["in", "and", "not-in-empty", "in-empty", "is-null", "not-in-null"],
    )
    def test_where_and_measure_filters(self, storage: Storage, where: tuple[Filter, ...]) -> None:
        """A query's where, and the same conditions as each measure's own filter."""
        agg = _aggregator(storage)
        records = _dataset()
        _load(storage, records)
        queries = [
            Aggregate("case", _every_measure(), where=where),
            Aggregate("case", _every_measure(where), group_by=(GroupBy("status"),)),
        ]
        for query, rows in zip(queries, agg.aggregate(queries), strict=True):
            _same(rows, _expected(query, records))

    @pytest.mark.parametrize(
        "group_by",
        [
            (GroupBy("queue"),),
            (GroupBy("priority"),),
            (GroupBy("status"), GroupBy("queue")),
            (GroupBy("score"),),
            (
                GroupBy(
                    "queue", labels=(("roads", "works"), ("water", "works"), ("parks", "leisure"))
                ),
            ),
            (GroupBy("priority", bins=(0, 2, 3)),),
            (GroupBy("score", bins=(0.0, 2.5)),),
            (GroupBy("due_at", bins=(100_000, 500_000.5)), GroupBy("queue")),
        ],
        ids=[
            "text",
            "integer",
            "two-columns",
            "real",
            "labels",
            "bins",
            "real-bins",
            "bins-and-text",
        ],
    )
    def test_groups(self, storage: Storage, group_by: tuple[GroupBy, ...]) -> None:
        """One row per key that occurs (NULL a group of its own), in key order, NULL last."""
        agg = _aggregator(storage)
        records = _dataset()
        _load(storage, records)
        query = Aggregate("case", _every_measure(), group_by=group_by)
        [rows] = agg.aggregate([query])
        _same(rows, _expected(query, records))
        assert rows[-1].key[0] is None

    @pytest.mark.parametrize(
        ("zone", "around"),
        [
            ("UTC", datetime(2026, 3, 8, tzinfo=UTC)),
            ("America/Chicago", datetime(2026, 3, 8, 8, tzinfo=UTC)),
            ("America/Chicago", datetime(2026, 11, 1, 7, tzinfo=UTC)),
            ("Europe/Berlin", datetime(2026, 3, 29, 1, tzinfo=UTC)),
            ("Asia/Kolkata", datetime(2026, 1, 4, 18, 30, tzinfo=UTC)),
            ("Australia/Lord_Howe", datetime(2026, 4, 4, 14, 30, tzinfo=UTC)),
            ("Pacific/Kiritimati", datetime(2026, 1, 4, 10, tzinfo=UTC)),
        ],
        ids=["utc", "chicago-spring", "chicago-fall", "berlin", "kolkata", "lord-howe", "plus-14"],
    )
    @pytest.mark.parametrize("bucket", ["day", "week"])
    def test_calendar_buckets(
        self, storage: Storage, zone: str, around: datetime, bucket: str
    ) -> None:
        """
        Timestamps fall in the local day or ISO week (from Monday) of the zone, around
        midnights, week starts and daylight-saving changes, with or without a range.
        """
        agg = _aggregator(storage)
        rng = random.Random(f"{zone}{around}")
        base = _us(around)
        hour = 3_600_000_000
        instants = [base + k * hour // 4 + d for k in range(-200, 200, 3) for d in (-1, 0, 1)]
        instants += [base + rng.randrange(-40 * 24 * hour, 40 * 24 * hour) for _ in range(60)]
        records = [
            case(f"t{i:05d}", opened_at=v, priority=i % 5, external_id=f"t-{i}")
            for i, v in enumerate(instants)
        ]
        records.append(case("tnull", opened_at=None, priority=1, external_id="t-null"))
        _load(storage, records)
        by = (GroupBy("opened_at", bucket=bucket, time_zone=zone),)  # type: ignore[arg-type]
        ranged = (Filter("opened_at", "ge", base - 10 * 24 * hour), Filter("opened_at", "lt", base))
        queries = [
            Aggregate(
                "case", (Measure("n", "count"), Measure("p", "sum", "priority")), group_by=by
            ),
            Aggregate("case", (Measure("n", "count"),), where=ranged, group_by=by),
            Aggregate(
                "case",
                (Measure("n", "count"), Measure("p50", "percentile", "priority", fraction=0.5)),
                group_by=(*by, GroupBy("priority")),
            ),
        ]
        for query, rows in zip(queries, agg.aggregate(queries), strict=True):
            _same(rows, _expected(query, records))
            for row in rows:
                if row.key[0] is not None:
                    day = date.fromisoformat(str(row.key[0]))
                    assert bucket == "day" or day.weekday() == 0

    def test_nearest_rank(self, storage: Storage) -> None:
        """
        The k-th of n sorted values, k = max(1, ceil(fraction * n)) in IEEE doubles:
        0.28 of 25 values is the 8th (0.28 * 25 is 7.000000000000001), as PostgreSQL's
        percentile_disc says.
        """
        agg = _aggregator(storage)
        _load(storage, [case(f"r{i:02d}", priority=i, external_id=f"r-{i}") for i in range(1, 26)])
        fractions = {0.01: 1, 0.04: 1, 0.2: 5, 0.28: 8, 0.5: 13, 0.56: 15, 0.9: 23, 1.0: 25}
        measures = tuple(Measure(str(f), "percentile", "priority", fraction=f) for f in fractions)
        [rows] = agg.aggregate([Aggregate("case", measures)])
        assert dict(rows[0].values) == {str(f): k for f, k in fractions.items()}

    def test_a_batch_is_answered_in_order(self, storage: Storage) -> None:
        """Several queries, of several kinds, in one call: each as if asked alone."""
        agg = _aggregator(storage)
        records = _dataset(50)
        parties = [
            case(f"p{i}", kind="party", email_hash=("h1", "h2", None)[i % 3], external_id=f"p-{i}")
            for i in range(7)
        ]
        _load(storage, records + parties)
        queries = [
            Aggregate("case", _every_measure(), where=(Filter("priority", "gt", 1),)),
            Aggregate("party", (Measure("n", "count"),), group_by=(GroupBy("email_hash"),)),
            Aggregate("case", (Measure("n", "count"),), group_by=(GroupBy("queue"),)),
            Aggregate("case", _every_measure((Filter("status", "eq", "closed"),))),
            Aggregate("party", (Measure("all", "count"),)),
        ]
        batch = agg.aggregate(queries)
        assert len(batch) == len(queries)
        for query, rows in zip(queries, batch, strict=True):
            _same(rows, _expected(query, records + parties))
            assert agg.aggregate([query]) == [rows]

    @pytest.mark.parametrize(
        ("query", "path"),
        [
            (Aggregate("nope", (Measure("n", "count"),)), "queries[1].kind"),
            (Aggregate("case", ()), "queries[1].measures"),
            (Aggregate("case", (Measure("n", "sum", "bogus"),)), "queries[1].measures[0].column"),
            (Aggregate("case", (Measure("n", "sum", "status"),)), "queries[1].measures[0].column"),
            (Aggregate("case", (Measure("n", "max"),)), "queries[1].measures[0].column"),
            (
                Aggregate("case", (Measure("n", "median", "priority"),)),  # type: ignore[arg-type]
                "queries[1].measures[0].function",
            ),
            (
                Aggregate("case", (Measure("n", "percentile", "priority", fraction=0.0),)),
                "queries[1].measures[0].fraction",
            ),
            (
                Aggregate("case", (Measure("n", "percentile", "priority", fraction=1.5),)),
                "queries[1].measures[0].fraction",
            ),
            (
                Aggregate("case", (Measure("n", "percentile", "priority"),)),
                "queries[1].measures[0].fraction",
            ),
            (
                Aggregate("case", (Measure("n", "count"), Measure("n", "count", "queue"))),
                "queries[1].measures[1].name",
            ),
            (
                Aggregate("case", (Measure("n", "count", where=(Filter("x;drop", "eq", 1),)),)),
                "queries[1].measures[0].where[0].column",
            ),
            (
                Aggregate(
                    "case", (Measure("n", "count"),), where=(Filter("priority", "eq", "one"),)
                ),
                "queries[1].where[0].value",
            ),
            (
                Aggregate("case", (Measure("n", "count"),), group_by=(GroupBy('queue" --'),)),
                "queries[1].group_by[0].column",
            ),
            (
                Aggregate(
                    "case", (Measure("n", "count"),), group_by=(GroupBy("status", bucket="week"),)
                ),
                "queries[1].group_by[0].bucket",
            ),
            (
                Aggregate(
                    "case",
                    (Measure("n", "count"),),
                    group_by=(GroupBy("opened_at", bucket="week", time_zone="Mars/Olympus"),),
                ),
                "queries[1].group_by[0].time_zone",
            ),
            (
                Aggregate(
                    "case",
                    (Measure("n", "count"),),
                    group_by=(GroupBy("queue", labels=((1, "x"),)),),
                ),
                "queries[1].group_by[0].labels[0][0]",
            ),
            (
                Aggregate(
                    "case", (Measure("n", "count"),), group_by=(GroupBy("queue", bins=(1, 2)),)
                ),
                "queries[1].group_by[0].bins",
            ),
            (
                Aggregate(
                    "case", (Measure("n", "count"),), group_by=(GroupBy("priority", bins=(2, 1)),)
                ),
                "queries[1].group_by[0].bins",
            ),
        ],
    )
    def test_bad_queries_are_refused(self, storage: Storage, query: Aggregate, path: str) -> None:
        """ValidationError names the field (never SQL text), and nothing is computed."""
        agg = _aggregator(storage)
        _load(storage, _dataset(5))
        with pytest.raises(ValidationError) as info:
            agg.aggregate([Aggregate("case", (Measure("n", "count"),)), query])
        assert path in [p.path for p in info.value.problems], info.value.problems

    def test_reads_inside_a_transaction_see_its_writes(self, storage: Storage) -> None:
        """Inside a transaction, aggregates count what the transaction wrote."""
        agg = _aggregator(storage)
        _load(storage, _dataset(10))
        query = Aggregate("case", (Measure("n", "count"),))
        with storage.transaction():
            storage.put(case("inside", external_id="inside"), expected_version=0)
            [rows] = agg.aggregate([query, query])[:1]
            assert rows[0].values["n"] == 11
