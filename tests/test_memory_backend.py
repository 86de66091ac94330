"""
What is specific to the in-memory backend, the Python query evaluator it is built on
(civiccrm.adapters._evaluate), and the shape of the civiccrm.testing package.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import civiccrm.testing
from civiccrm.adapters import _evaluate
from civiccrm.adapters._base import (
    ColumnSpec,
    ColumnType,
    Cursor,
    Filter,
    IndexSpec,
    KindSpec,
    Op,
    Order,
    Query,
    Record,
    Scalar,
    Schema,
    Storage,
)
from civiccrm.adapters._memory import MemoryStorage
from civiccrm.errors import StorageError, ValidationError
from civiccrm.testing import CONFORMANCE_SCHEMA
from civiccrm.testing._fixtures import case, expected_order

pytest_plugins = ["pytester"]

_KIND = KindSpec(
    "row",
    columns=(
        ColumnSpec("n", ColumnType.INTEGER),
        ColumnSpec("x", ColumnType.REAL),
        ColumnSpec("t", ColumnType.TEXT),
    ),
)


@pytest.fixture
def storage() -> MemoryStorage:
    s = MemoryStorage()
    s.migrate(CONFORMANCE_SCHEMA)
    return s


# --------------------------------------------------------------------------------------
# Hypothesis: the evaluator


ints_with_nulls = st.none() | st.integers(-3, 3)
numbers_with_nulls = st.none() | st.integers(-2, 2) | st.sampled_from([-1.5, 0.0, 0.5, 2.0])
texts_with_nulls = st.none() | st.text(alphabet="abc", max_size=2)


@st.composite
def rows(draw: st.DrawFn) -> list[Record]:
    """Records of kind "row" with unique ids and many NULLs and ties in every column."""
    found_ids = draw(st.lists(st.text(alphabet="pqrs", min_size=1, max_size=3), unique=True))
    return [
        Record(
            "row",
            rid,
            1,
            "{}",
            {
                "n": draw(ints_with_nulls),
                "x": draw(numbers_with_nulls),
                "t": draw(texts_with_nulls),
            },
        )
        for rid in found_ids
    ]


orders = st.none() | st.builds(Order, st.sampled_from(["n", "x", "t"]), st.booleans())


def _walk(records: list[Record], query: Query) -> list[str]:
    collected: list[str] = []
    for _ in range(len(records) + 2):
        page = _evaluate.select(records, query)
        collected.extend(r.id for r in page.records)
        if page.next is None:
            return collected
        assert query.limit is not None
        assert len(page.records) == query.limit
        query = Query(query.kind, query.where, query.order_by, query.limit, page.next)
    raise AssertionError("pagination did not end")


@given(rows(), orders, st.integers(1, 10))
def test_keyset_pagination_yields_the_sorted_list(
    records: list[Record], order: Order | None, size: int
) -> None:
    """Walking every page, for any order column and page size, yields exactly the sorted list."""
    column = None if order is None else order.column
    descending = False if order is None else order.descending
    expected = expected_order(records, column, descending)
    assert expected == [
        r.id for r in _evaluate.select(records, Query("row", order_by=order)).records
    ]
    assert expected == _walk(records, Query("row", order_by=order, limit=size))


@given(rows(), orders, st.integers(1, 6))
def test_keyset_pagination_through_memory_storage(
    records: list[Record], order: Order | None, size: int
) -> None:
    """The same holds through MemoryStorage.query, with records inserted in any order."""
    storage = MemoryStorage()
    storage.migrate(Schema(1, (_KIND,)))
    for r in reversed(records):
        storage.put(r, expected_version=0)
    column = None if order is None else order.column
    descending = False if order is None else order.descending
    query = Query("row", order_by=order, limit=size)
    pages: list[str] = []
    for _ in range(len(records) + 2):
        page = storage.query(query)
        pages.extend(r.id for r in page.records)
        if page.next is None:
            break
        query = Query("row", order_by=order, limit=size, after=page.next)
    assert expected_order(records, column, descending) == pages


@given(rows(), orders, st.data())
def test_after_cursor_is_the_sort_order(
    records: list[Record], order: Order | None, data: st.DataObject
) -> None:
    """A record is after a cursor exactly when it sorts after the cursor's record."""
    if not records:
        return
    pivot = data.draw(st.sampled_from(records))
    cursor = _evaluate.cursor_of(pivot, order)
    column = None if order is None else order.column
    descending = False if order is None else order.descending
    ordered = expected_order(records, column, descending)
    expected_after = set(ordered[ordered.index(pivot.id) + 1 :])
    assert expected_after == {r.id for r in records if _evaluate.after_cursor(r, order, cursor)}


_SQL_OPS: dict[str, str] = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    """A filter on the integer column n (non-empty tuples for in/not_in)."""
    op: Op = draw(
        st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "not_null"])
    )
    if op in ("is_null", "not_null"):
        return Filter("n", op)
    if op in ("in", "not_in"):
        return Filter("n", op, tuple(draw(st.lists(ints_with_nulls, min_size=1, max_size=3))))
    return Filter("n", op, draw(ints_with_nulls))


def _sql(f: Filter) -> tuple[str, list[Scalar]]:
    if f.op == "is_null":
        return "n IS NULL", []
    if f.op == "not_null":
        return "n IS NOT NULL", []
    if f.op in ("in", "not_in"):
        assert isinstance(f.value, tuple)
        marks = ", ".join("?" * len(f.value))
        return f"n {'IN' if f.op == 'in' else 'NOT IN'} ({marks})", list(f.value)
    assert not isinstance(f.value, tuple)
    return f"n {_SQL_OPS[f.op]} ?", [f.value]


@given(st.lists(ints_with_nulls, max_size=8), st.lists(filters(), max_size=3))
def test_matches_agrees_with_sql(values: list[int | None], where: list[Filter]) -> None:
    """matches() selects what SQL's WHERE selects (three-valued logic, NULLs included)."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE TABLE t (i INTEGER, n INTEGER)")
        db.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
        clauses = [_sql(f) for f in where]
        sql = "SELECT i FROM t WHERE " + (" AND ".join(c for c, _ in clauses) or "1")
        params = [p for _, ps in clauses for p in ps]
        expected = sorted(i for (i,) in db.execute(sql, params))
    finally:
        db.close()
    assert expected == [i for i, v in enumerate(values) if _evaluate.matches({"n": v}, where)]


def test_null_semantics_beyond_sql_engines() -> None:
    """The contract, where SQLite differs: not_in () is false for NULL; in () matches nothing."""
    assert not _evaluate.matches({"n": None}, [Filter("n", "not_in", ())])
    assert _evaluate.matches({"n": 1}, [Filter("n", "not_in", ())])
    assert not _evaluate.matches({"n": 1}, [Filter("n", "in", ())])
    assert not _evaluate.matches({"n": 1}, [Filter("n", "not_in", (2, None))])
    assert not _evaluate.matches({}, [Filter("n", "ne", 1)])
    assert _evaluate.matches({}, [Filter("n", "is_null")])


def test_count_groups_nulls_under_none() -> None:
    """Grouped counts have one entry per value that occurs, NULL included."""
    records = [
        Record("row", "1", 1, "{}", {"t": "a"}),
        Record("row", "2", 1, "{}", {"t": "a"}),
        Record("row", "3", 1, "{}", {"t": None}),
    ]
    assert _evaluate.count(records, group_by="t") == {"a": 2, None: 1}
    assert _evaluate.count(records) == {None: 3}
    assert _evaluate.count(records, [Filter("t", "eq", "z")]) == {None: 0}


@pytest.mark.parametrize(
    ("query", "path"),
    [
        (Query("row", (Filter("nope", "eq", 1),)), "where[0].column"),
        (Query("row", (Filter("n", "like", 1),)), "where[0].op"),  # type: ignore[arg-type]
        (Query("row", (Filter("n", "eq", "1"),)), "where[0].value"),
        (Query("row", (Filter("t", "eq", 1),)), "where[0].value"),
        (Query("row", (Filter("n", "eq", True),)), "where[0].value"),
        (Query("row", (Filter("x", "gt", math.nan),)), "where[0].value"),
        (Query("row", (Filter("n", "in", 1),)), "where[0].value"),
        (Query("row", (Filter("n", "eq", (1,)),)), "where[0].value"),
        (Query("row", (Filter("n", "is_null", 1),)), "where[0].value"),
        (Query("row", order_by=Order("nope")), "order_by.column"),
        (Query("row", limit=0), "limit"),
        (Query("row", order_by=Order("n"), after=Cursor("text", "id")), "after.value"),
    ],
)
def test_validate_query_names_the_problem(query: Query, path: str) -> None:
    """Every invalid query raises ValidationError with the path of the bad part."""
    with pytest.raises(ValidationError) as info:
        _evaluate.validate_query(_KIND, query)
    assert [path] == [p.path for p in info.value.problems]


def test_validate_query_lists_every_problem() -> None:
    """All problems of a query are reported at once, unknown columns by name."""
    query = Query("row", (Filter("a", "eq", 1), Filter("b", "eq", 1)), Order("c"))
    with pytest.raises(ValidationError) as info:
        _evaluate.validate_query(_KIND, query)
    message = str(info.value)
    assert [name for name in ("'a'", "'b'", "'c'") if name in message] == ["'a'", "'b'", "'c'"]
    assert len(info.value.problems) == 3


# --------------------------------------------------------------------------------------
# MemoryStorage


def test_is_a_storage_with_the_documented_capabilities() -> None:
    """MemoryStorage satisfies the protocol: thread-safe, not persistent, one process."""
    storage = MemoryStorage()
    assert isinstance(storage, Storage)
    assert (
        storage.url,
        storage.capabilities.persistent,
        storage.capabilities.thread_safe,
        storage.capabilities.multi_process,
    ) == ("memory://", False, True, False)
    assert MemoryStorage("memory://x").url == "memory://x"
    with pytest.raises(ValidationError):
        MemoryStorage("sqlite:///x.db")


def test_every_object_is_its_own_store() -> None:
    """Two MemoryStorage objects never share data."""
    a, b = MemoryStorage(), MemoryStorage()
    for s in (a, b):
        s.migrate(CONFORMANCE_SCHEMA)
    a.put(case("c1"), expected_version=0)
    assert b.get("case", "c1") is None


def test_records_handed_out_are_copies(storage: MemoryStorage) -> None:
    """Changing a dict passed to put, or one returned by get, does not change the store."""
    columns: dict[str, Scalar] = {"status": "open"}
    stored = storage.put(Record("case", "c1", 0, "{}", columns), expected_version=0)
    columns["status"] = "changed"
    got = storage.get("case", "c1")
    assert got is not None
    got.columns["status"] = "changed too"  # type: ignore[index]
    stored.columns["status"] = "and again"  # type: ignore[index]
    again = storage.get("case", "c1")
    assert again is not None
    assert again.columns["status"] == "open"


def test_unknown_kind_is_a_validation_error_naming_it() -> None:
    """Before migrate, or for a kind the schema lacks, calls raise ValidationError naming the kind."""
    storage = MemoryStorage()
    with pytest.raises(ValidationError, match="'case'"):
        storage.get("case", "c1")
    storage.migrate(CONFORMANCE_SCHEMA)
    with pytest.raises(ValidationError, match="'citizen'"):
        storage.query(Query("citizen"))
    with pytest.raises(ValidationError, match="'citizen'"):
        storage.bulk_upsert("citizen", [])


@pytest.mark.parametrize(
    ("columns", "path"),
    [
        ({"colour": "red"}, "columns.colour"),
        ({"priority": "high"}, "columns.priority"),
        ({"priority": True}, "columns.priority"),
        ({"priority": 1.5}, "columns.priority"),
        ({"score": math.nan}, "columns.score"),
        ({"status": 3}, "columns.status"),
    ],
)
def test_put_checks_columns(storage: MemoryStorage, columns: dict[str, Scalar], path: str) -> None:
    """Unknown columns and values of the wrong type are refused with their path."""
    with pytest.raises(ValidationError) as info:
        storage.put(Record("case", "c1", 0, "{}", columns), expected_version=0)
    assert [path] == [p.path for p in info.value.problems]
    assert storage.get("case", "c1") is None


def test_real_columns_take_ints(storage: MemoryStorage) -> None:
    """A REAL column accepts an int (a number is a number)."""
    stored = storage.put(case("c1", score=3), expected_version=0)
    assert stored.columns["score"] == 3


def test_a_taken_key_is_a_validation_error(storage: MemoryStorage) -> None:
    """put of a second record with a taken key raises ValidationError naming the owner."""
    storage.put(case("c1", external_id="k"), expected_version=0)
    with pytest.raises(ValidationError, match="'c1'"):
        storage.put(case("c2", external_id="k"), expected_version=0)


def test_bulk_upsert_reports_every_bad_record(storage: MemoryStorage) -> None:
    """Every record without a key is reported by its index in the batch, and nothing is written."""
    batch = [case("a", external_id="1"), case("b"), case("c", external_id="3"), case("d")]
    with pytest.raises(ValidationError) as info:
        storage.bulk_upsert("case", batch)
    assert [p.path for p in info.value.problems] == [
        "[1].columns.external_id",
        "[3].columns.external_id",
    ]
    assert storage.count("case") == {None: 0}


def test_bulk_upsert_with_a_taken_id_rolls_back(storage: MemoryStorage) -> None:
    """A new key whose id belongs to another record raises ConflictError; the batch is undone."""
    storage.put(case("taken", external_id="old"), expected_version=0)
    batch = [case("fresh", external_id="new-1"), case("taken", external_id="new-2")]
    with pytest.raises(Exception, match="changed by someone else"):
        storage.bulk_upsert("case", batch)
    assert storage.get("case", "fresh") is None


def test_kinds_without_a_key_column(storage: MemoryStorage) -> None:
    """get_by_key and bulk_upsert on a kind without a key column raise ValidationError."""
    storage.migrate(Schema(2, (*CONFORMANCE_SCHEMA.kinds, _KIND)))
    with pytest.raises(ValidationError, match="no key column"):
        storage.get_by_key("row", "k")
    with pytest.raises(ValidationError, match="no key column"):
        storage.bulk_upsert("row", [])


def test_migrate_keeps_records_and_adds_columns_as_null(storage: MemoryStorage) -> None:
    """A newer schema keeps existing records; a new column is NULL on them."""
    storage.put(case("c1", status="open", external_id="x"), expected_version=0)
    spec = CONFORMANCE_SCHEMA.kind("case")
    wider = KindSpec(
        "case",
        (*spec.columns, ColumnSpec("assignee", ColumnType.TEXT)),
        spec.indexes,
        spec.key_column,
    )
    storage.migrate(Schema(2, (wider, CONFORMANCE_SCHEMA.kind("party"))))
    got = storage.get_by_key("case", "x")
    assert got is not None
    assert (got.columns["status"], got.columns["assignee"], got.version) == ("open", None, 1)
    with pytest.raises(StorageError, match="newer"):
        storage.migrate(CONFORMANCE_SCHEMA)


def test_migrate_refuses_a_bad_schema() -> None:
    """A key column that is missing or not TEXT, or an index on an unknown column, is refused."""
    bad = Schema(
        1,
        (
            KindSpec("a", (ColumnSpec("n", ColumnType.INTEGER),), key_column="n"),
            KindSpec("b", (), key_column="missing"),
            KindSpec("c", indexes=(IndexSpec("i", ("nope",)),)),
        ),
    )
    with pytest.raises(ValidationError) as info:
        MemoryStorage().migrate(bad)
    assert [p.path for p in info.value.problems] == [
        "kinds[0].key_column",
        "kinds[1].key_column",
        "kinds[2].indexes[0].columns",
    ]


def test_closed_storage_raises_storage_error(storage: MemoryStorage) -> None:
    """After close, every call raises StorageError; closing again is harmless."""
    storage.close()
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.get("case", "c1")
    with pytest.raises(StorageError, match="closed"), storage.transaction():
        pass


def test_stream_validates_before_iterating(storage: MemoryStorage) -> None:
    """stream raises ValidationError at the call, not at the first next()."""
    with pytest.raises(ValidationError, match="colour"):
        storage.stream(Query("case", order_by=Order("colour")))
    with pytest.raises(ValidationError, match="batch_size"):
        storage.stream(Query("case"), batch_size=0)


def test_other_threads_wait_for_a_transaction(storage: MemoryStorage) -> None:
    """A thread reading while another thread's transaction is open never sees its writes."""
    written = threading.Event()
    reader_started = threading.Event()
    seen: list[Record | None] = []

    def reader() -> None:
        written.wait()
        reader_started.set()
        seen.append(storage.get("case", "uncommitted"))

    thread = threading.Thread(target=reader)
    thread.start()

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), storage.transaction():  # noqa: PT012
        storage.put(case("uncommitted"), expected_version=0)
        written.set()
        assert reader_started.wait(timeout=30)
        raise Rollback
    thread.join()
    assert seen == [None]


# --------------------------------------------------------------------------------------
# The civiccrm.testing package


def test_testing_exports_are_sorted_and_complete() -> None:
    """__all__ is sorted, and a star import gives exactly those names."""
    names = civiccrm.testing.__all__
    assert sorted(names) == names
    namespace: dict[str, object] = {}
    exec("from civiccrm.testing import *", namespace)
    assert sorted(names) == sorted(k for k in namespace if k != "__builtins__")
    mixins = [n for n in names if n.endswith("Conformance")]
    assert len(mixins) == 9


def test_a_vendor_who_forgets_storage_factory_is_told_what_to_do(
    pytester: pytest.Pytester,
) -> None:
    """Without an override of storage_factory, the suite errors with a message saying what to do."""
    pytester.makepyfile(
        test_vendor="""
        from civiccrm.testing import AuditKeyConformance, StorageFixtures

        class TestVendor(AuditKeyConformance, StorageFixtures):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-k", "starts_empty")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*override storage_factory to return a callable*docs/plugins.md*"])


def test_the_vendor_bootstrap_runs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The one-file bootstrap from the package docstring collects and passes on memory://."""
    pytester.makepyfile(
        test_vendor="""
        import pytest

        from civiccrm.adapters._memory import MemoryStorage
        from civiccrm.testing import *


        class MyFixtures(StorageFixtures):
            @pytest.fixture
            def storage_factory(self):
                return MemoryStorage


        class TestMyAuditAndKeys(AuditKeyConformance, MyFixtures):
            pass


        class TestMyPersistence(PersistenceConformance, MyFixtures):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=11, skipped=2)
    result.stdout.fnmatch_lines(["*needs capabilities.persistent*"])
