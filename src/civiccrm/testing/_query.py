"""Conformance: declarative queries, ordering, keyset pagination, stream and count."""

from __future__ import annotations

import random
from collections import Counter
from typing import Final

import pytest

from civiccrm.adapters._base import Filter, Op, Order, Query, Record, Scalar, Storage
from civiccrm.errors import ValidationError
from civiccrm.testing._fixtures import case, expected_order, ids, paginate

__all__ = ["QueryConformance"]

#: Orders the pagination tests walk: by id, and by each column type in both directions.
_ORDERS: Final = (
    None,
    Order("priority"),
    Order("priority", descending=True),
    Order("due_at"),
    Order("due_at", descending=True),
    Order("status"),
    Order("status", descending=True),
    Order("score", descending=True),
)

_SMALL: Final = (
    case("a", priority=1, status="open", score=1.5),
    case("b", priority=2, status="closed", score=None),
    case("c", priority=3, status=None, score=-0.5),
    case("d", priority=None, status="new", score=2.0),
    case("e", priority=2, status="open", score=0.0),
)

#: (column, op, value, the ids of _SMALL that match).
_OP_CASES: Final[tuple[tuple[str, Op, Scalar | tuple[Scalar, ...], str], ...]] = (
    ("priority", "eq", 2, "be"),
    ("priority", "ne", 2, "ac"),
    ("priority", "lt", 2, "a"),
    ("priority", "le", 2, "abe"),
    ("priority", "gt", 2, "c"),
    ("priority", "ge", 2, "bce"),
    ("priority", "gt", 1.5, "bce"),
    ("priority", "in", (1, 3), "ac"),
    ("priority", "in", (3,), "c"),
    ("priority", "in", (), ""),
    ("priority", "not_in", (1, 3), "be"),
    ("priority", "not_in", (), "abce"),
    ("priority", "is_null", None, "d"),
    ("priority", "not_null", None, "abce"),
    ("status", "eq", "open", "ae"),
    ("status", "ne", "open", "bd"),
    ("status", "lt", "new", "b"),
    ("status", "ge", "new", "ade"),
    ("status", "in", ("open", "new"), "ade"),
    ("status", "in", (), ""),
    ("status", "not_in", ("open",), "bd"),
    ("status", "not_in", (), "abde"),
    ("status", "is_null", None, "c"),
    ("status", "not_null", None, "abde"),
    ("score", "eq", 0, "e"),
    ("score", "gt", 0.0, "ad"),
    ("score", "le", 0.0, "ce"),
    ("score", "ne", 1.5, "cde"),
)


def _dataset(n: int = 60, *, seed: int = 1729) -> list[Record]:
    """Cases with many NULLs and ties, in a shuffled order (not the order of their ids)."""
    rng = random.Random(seed)
    records = [
        case(
            f"c{i:04d}",
            {"i": i},
            status=rng.choice(("new", "open", "in_progress", "closed", None)),
            queue=rng.choice(("roads", "parks", None)),
            priority=rng.choice((1, 2, 3, None)),
            due_at=rng.choice((None, 100, 200, 300, 400, 500)),
            opened_at=1_000 + (i * 37) % n,
            requester=rng.choice(("ann", "bob", "cy", None)),
            score=rng.choice((None, -1.5, 0.0, 2.25, 10.0)),
            external_id=f"ext-{i}",
        )
        for i in range(n)
    ]
    rng.shuffle(records)
    return records


def _load(storage: Storage, records: list[Record]) -> list[Record]:
    with storage.transaction():
        return [storage.put(r, expected_version=0) for r in records]


def _order_name(order: Order | None) -> str:
    if order is None:
        return "id"
    return f"{order.column}-{'desc' if order.descending else 'asc'}"


class QueryConformance:
    """
    ``query``, ``stream`` and ``count``: every operator with SQL NULL semantics, one
    order column with NULLs last and ties broken by id, keyset pagination that never
    skips or repeats a record, and ValidationError for unknown columns.

    .. versionadded:: 0.1.0
    """

    @pytest.mark.parametrize(
        ("column", "op", "value", "expected"),
        _OP_CASES,
        ids=[f"{c}-{op}-{v!r}" for c, op, v, _ in _OP_CASES],
    )
    def test_operator(
        self,
        storage: Storage,
        column: str,
        op: Op,
        value: Scalar | tuple[Scalar, ...],
        expected: str,
    ) -> None:
        """Each operator selects exactly the matching records; NULL columns match only is_null."""
        _load(storage, list(_SMALL))
        page = storage.query(Query("case", (Filter(column, op, value),)))
        assert list(expected) == ids(page.records)
        assert {None: len(expected)} == storage.count("case", [Filter(column, op, value)])

    def test_filters_are_combined_with_and(self, storage: Storage) -> None:
        """Several filters must all hold."""
        _load(storage, list(_SMALL))
        where = (Filter("status", "eq", "open"), Filter("priority", "ge", 2))
        assert ids(storage.query(Query("case", where)).records) == ["e"]
        where = (Filter("score", "not_null"), Filter("status", "ne", "closed"))
        assert ids(storage.query(Query("case", where)).records) == ["a", "d", "e"]

    def test_comparison_with_null_value_matches_nothing(self, storage: Storage) -> None:
        """eq, ne, lt ... with a NULL value match no record, as in SQL."""
        _load(storage, list(_SMALL))
        for op in ("eq", "ne", "lt", "le", "gt", "ge"):
            query = Query("case", (Filter("priority", op, None),))
            assert ids(storage.query(query).records) == [], op

    def test_nulls_sort_last_in_both_directions(self, storage: Storage) -> None:
        """NULLs come after every value ascending and descending; ties go by id ascending."""
        _load(
            storage,
            [
                case("r5", priority=2),
                case("r4", priority=None),
                case("r3", priority=1),
                case("r2", priority=None),
                case("r1", priority=2),
            ],
        )
        asc = storage.query(Query("case", order_by=Order("priority")))
        desc = storage.query(Query("case", order_by=Order("priority", descending=True)))
        assert ids(asc.records) == ["r3", "r1", "r5", "r2", "r4"]
        assert ids(desc.records) == ["r1", "r5", "r3", "r2", "r4"]
        assert (asc.next, desc.next) == (None, None)

    def test_no_order_means_by_id(self, storage: Storage) -> None:
        """Without order_by, records come by id ascending, whatever the insertion order."""
        records = _load(storage, _dataset())
        page = storage.query(Query("case"))
        assert sorted(r.id for r in records) == ids(page.records)

    @pytest.mark.parametrize("order", _ORDERS, ids=_order_name)
    def test_order(self, storage: Storage, order: Order | None) -> None:
        """A whole result comes in the contract's order (NULLs last, ties by id)."""
        records = _load(storage, _dataset())
        column = None if order is None else order.column
        descending = False if order is None else order.descending
        page = storage.query(Query("case", order_by=order))
        assert expected_order(records, column, descending) == ids(page.records)
        assert page.next is None

    def test_records_come_back_whole(self, storage: Storage) -> None:
        """Query results are the stored records: id, version, document and columns."""
        _load(storage, list(_SMALL))
        storage.put(case("a", {"updated": True}, priority=1, status="open"), expected_version=1)
        page = storage.query(Query("case", (Filter("priority", "eq", 1),)))
        assert [storage.get("case", "a")] == list(page.records)

    @pytest.mark.parametrize(
        ("order", "columns"),
        [
            (None, ("queue",)),
            (Order("due_at"), ("due_at", "status", "score")),
            (Order("priority", descending=True), ("external_id", "priority")),
            (None, ()),
        ],
    )
    def test_projection(
        self, storage: Storage, order: Order | None, columns: tuple[str, ...]
    ) -> None:
        """columns=(...): the same records, pages and cursors, with only those columns and no doc."""
        _load(storage, _dataset(30))
        where = (Filter("status", "in", ("new", "open", "in_progress")),)
        full = paginate(storage, Query("case", where, order, 7), max_pages=10)
        bare = paginate(storage, Query("case", where, order, 7, columns=columns), max_pages=10)
        assert full == bare
        page = storage.query(Query("case", where, order, columns=columns))
        assert page.records
        for r in page.records:
            whole = storage.get("case", r.id)
            assert whole is not None
            assert (r.kind, r.id, r.version, r.doc) == (whole.kind, whole.id, whole.version, "")
            assert dict(r.columns) == {c: whole.columns[c] for c in columns}
        streamed = list(storage.stream(Query("case", where, order, columns=columns), batch_size=4))
        assert streamed == list(page.records)

    @pytest.mark.parametrize(
        ("query", "path"),
        [
            (Query("case", columns=("nope",)), "columns[0]"),
            (Query("case", columns=("queue", "queue")), "columns[1]"),
            (Query("case", columns="queue"), "columns"),  # type: ignore[arg-type]
            (Query("case", order_by=Order("due_at"), columns=("queue",)), "columns"),
        ],
    )
    def test_a_bad_projection_is_refused(self, storage: Storage, query: Query, path: str) -> None:
        """Unknown or repeated columns, or a projection without the order column."""
        with pytest.raises(ValidationError) as info:
            storage.query(query)
        assert path in [p.path for p in info.value.problems]

    def test_limit(self, storage: Storage) -> None:
        """limit cuts the page; next is None only when no record follows, even on a full page."""
        records = _load(storage, _dataset(20))
        everything = expected_order(records, "due_at", False)
        order = Order("due_at")
        first = storage.query(Query("case", order_by=order, limit=5))
        assert everything[:5] == ids(first.records)
        assert first.next is not None
        exact = storage.query(Query("case", order_by=order, limit=20))
        assert everything == ids(exact.records)
        assert exact.next is None
        more = storage.query(Query("case", order_by=order, limit=21))
        assert everything == ids(more.records)
        assert more.next is None
        one = storage.query(Query("case", order_by=order, limit=19))
        assert one.next is not None
        last = storage.query(Query("case", order_by=order, limit=19, after=one.next))
        assert everything[19:] == ids(last.records)
        assert last.next is None

    def test_empty_result(self, storage: Storage) -> None:
        """A query that matches nothing returns an empty last page."""
        page = storage.query(Query("case", limit=10))
        assert (page.records, page.next) == ((), None)

    @pytest.mark.parametrize("size", [1, 7, 60, 100])
    @pytest.mark.parametrize("order", _ORDERS, ids=_order_name)
    def test_keyset_pagination_equals_the_full_result(
        self, storage: Storage, order: Order | None, size: int
    ) -> None:
        """Following next cursors page by page yields the whole ordered result, once each."""
        records = _load(storage, _dataset())
        column = None if order is None else order.column
        descending = False if order is None else order.descending
        pages = paginate(storage, Query("case", order_by=order, limit=size), max_pages=70)
        assert expected_order(records, column, descending) == [i for p in pages for i in p]
        assert all(len(p) == size for p in pages[:-1])
        assert 0 < len(pages[-1]) <= size
        assert -(-len(records) // size) == len(pages)

    @pytest.mark.parametrize("order", _ORDERS, ids=_order_name)
    def test_keyset_pagination_with_filters(self, storage: Storage, order: Order | None) -> None:
        """Pagination of a filtered query yields exactly the matching records in order."""
        records = _load(storage, _dataset())
        where = (Filter("status", "ne", "closed"), Filter("queue", "not_null"))
        wanted = [
            r
            for r in records
            if r.columns["status"] not in (None, "closed") and r.columns["queue"] is not None
        ]
        column = None if order is None else order.column
        descending = False if order is None else order.descending
        pages = paginate(storage, Query("case", where, order, limit=4), max_pages=70)
        assert expected_order(wanted, column, descending) == [i for p in pages for i in p]

    @pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
    def test_pagination_is_stable_under_writes(self, storage: Storage, descending: bool) -> None:
        """
        Records inserted before the cursor during pagination never appear, records after
        it do, and records already returned never come again (even when updated or
        deleted, including the record the cursor points at).
        """
        records = _load(storage, _dataset())
        order = Order("priority", descending=descending)
        first = storage.query(Query("case", order_by=order, limit=10))
        assert first.next is not None
        seen = ids(first.records)
        last = first.records[-1]
        value = last.columns["priority"]
        assert isinstance(value, int)
        beyond = -5 if not descending else 99
        behind = 99 if not descending else -5
        before = [case("a-before-tie", priority=value), case("z-before", priority=beyond)]
        after = [
            case("z-after-tie", priority=value),
            case("a-after-null", priority=None),
            case("a-after-value", priority=behind),
        ]
        _load(storage, before + after)
        # An update that keeps the order value, and a delete of the cursor's own record.
        kept = first.records[0].columns["priority"]
        storage.put(case(seen[0], {"updated": True}, priority=kept), expected_version=1)
        storage.delete("case", last.id, expected_version=1)
        rest = paginate(
            storage, Query("case", order_by=order, limit=10, after=first.next), max_pages=20
        )
        collected = seen + [i for p in rest for i in p]
        assert len(collected) == len(set(collected))
        assert not {r.id for r in before} & set(collected)
        assert expected_order(records + after, "priority", descending) == collected

    def test_stream_yields_everything_in_order(self, storage: Storage) -> None:
        """stream ignores limit and yields every matching record, in order, across batches."""
        records = _load(storage, _dataset())
        where = (Filter("requester", "not_in", ("bob",)),)
        order = Order("due_at", descending=True)
        wanted = [r for r in records if r.columns["requester"] not in (None, "bob")]
        expected = expected_order(wanted, "due_at", True)
        for batch_size in (1, 7, 1000):
            streamed = storage.stream(Query("case", where, order, limit=3), batch_size=batch_size)
            assert expected == [r.id for r in streamed], batch_size
        by_id = list(storage.stream(Query("case"), batch_size=9))
        assert [storage.get("case", r.id) for r in by_id] == by_id
        assert sorted(r.id for r in records) == [r.id for r in by_id]
        assert list(storage.stream(Query("case", (Filter("status", "in", ()),)))) == []

    def test_count(self, storage: Storage) -> None:
        """count is {None: n} without group_by, and per value (NULL included) with it."""
        records = _load(storage, _dataset())
        assert {None: len(records)} == storage.count("case")
        where = [Filter("priority", "ge", 2)]
        matching = [r for r in records if r.columns["priority"] in (2, 3)]
        assert {None: len(matching)} == storage.count("case", where)
        assert dict(Counter(r.columns["status"] for r in records)) == storage.count(
            "case", group_by="status"
        )
        assert dict(Counter(r.columns["queue"] for r in matching)) == storage.count(
            "case", where, group_by="queue"
        )
        nothing = [Filter("status", "eq", "no such status")]
        assert storage.count("case", nothing) == {None: 0}
        assert storage.count("case", nothing, group_by="status") == {}
        assert storage.count("party") == {None: 0}

    @pytest.mark.parametrize(
        "query",
        [
            Query("case", (Filter("colour", "eq", "red"),)),
            Query("case", (Filter("status", "eq", "open"), Filter("colour", "is_null"))),
            Query("case", order_by=Order("colour")),
            Query("party", (Filter("status", "eq", "open"),)),
        ],
        ids=["filter", "second-filter", "order", "other-kinds-column"],
    )
    def test_unknown_column_raises_validation_error(self, storage: Storage, query: Query) -> None:
        """A column the kind does not declare raises ValidationError naming it."""
        storage.put(case("c1", status="open"), expected_version=0)
        name = "status" if query.kind == "party" else "colour"
        with pytest.raises(ValidationError, match=name):
            storage.query(query)
        with pytest.raises(ValidationError, match=name):
            list(storage.stream(query))
        if query.order_by is None:
            with pytest.raises(ValidationError, match=name):
                storage.count(query.kind, query.where)

    def test_unknown_group_by_raises_validation_error(self, storage: Storage) -> None:
        """count grouped by a column the kind does not declare raises ValidationError naming it."""
        with pytest.raises(ValidationError, match="colour"):
            storage.count("case", group_by="colour")
