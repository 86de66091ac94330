"""
The PostgreSQL backend: the conformance suite (every test in a fresh PostgreSQL schema,
dropped afterwards), and what only PostgreSQL has to prove: migrations and claims from
several processes at once, the password kept out of every message, the schema= URL
parameter, savepoints inside transactions, and the CRM facade on top of it.

Needs a server: ``eval "$(bash .ci/postgres)"`` starts one on 127.0.0.1 and sets
``CIVICCRM_TEST_POSTGRESQL_URL``. Without that variable the module is skipped; with it,
a server that cannot be reached fails the tests (CI must not skip them silently).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL", "")
if not URL:
    pytest.skip(
        'no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"` (starts one on '
        "127.0.0.1) and set CIVICCRM_TEST_POSTGRESQL_URL",
        allow_module_level=True,
    )

import psycopg  # noqa: E402 - only once the module is known to run

import civiccrm  # noqa: E402
from civiccrm import LocalKeyProvider  # noqa: E402
from civiccrm.adapters._base import (  # noqa: E402
    ColumnSpec,
    ColumnType,
    Filter,
    IndexSpec,
    KindSpec,
    Order,
    Query,
    Record,
    Schema,
    Storage,
    UpsertResult,
)
from civiccrm.adapters._postgresql import LAYOUT_VERSION, PostgreSQLStorage  # noqa: E402
from civiccrm.errors import ConflictError, StorageError, ValidationError  # noqa: E402
from civiccrm.models import Citizen  # noqa: E402
from civiccrm.plugins import open_storage  # noqa: E402
from civiccrm.profile import load_profile, springfield_path  # noqa: E402
from civiccrm.testing import (  # noqa: E402
    CONFORMANCE_SCHEMA,
    AggregateConformance,
    AuditKeyConformance,
    BulkUpsertConformance,
    ConcurrencyConformance,
    CRUDConformance,
    PersistenceConformance,
    QueryConformance,
    StorageFactory,
    StorageFixtures,
    TransactionConformance,
    WorkQueueConformance,
)
from civiccrm.testing._fixtures import case  # noqa: E402

#: A password that must never show up anywhere (the test server trusts local users,
#: so it is accepted and ignored).
SECRET = "s3cret-Pa55word-do-not-show"


def with_schema(url: str, schema: str) -> str:
    """``url`` with the civiccrm parameter ``schema=`` added."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in its user part (the user part must name a user)."""
    scheme, rest = url.split("://", 1)
    userinfo, hosts = rest.split("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{password}@{hosts}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module", autouse=True)
def server() -> None:
    """Fail (not skip) every test when the configured server cannot be reached."""
    try:
        with psycopg.connect(URL, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(
            f"CIVICCRM_TEST_POSTGRESQL_URL is set, but the server cannot be reached: {exc}",
            pytrace=False,
        )


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema name, dropped (with everything in it) afterwards."""
    name = f"civiccrm_t_{uuid.uuid4().hex[:16]}"
    yield name
    drop_schema(name)


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    return with_schema(URL, pg_schema)


# --------------------------------------------------------------------------------------
# The conformance suite


class PostgreSQLFixtures(StorageFixtures):
    """A fresh schema per test, opened again by the reopener."""

    @pytest.fixture
    def storage_factory(self, pg_url: str) -> StorageFactory:
        return lambda: PostgreSQLStorage(pg_url)

    @pytest.fixture
    def storage_reopener(self, pg_url: str) -> StorageFactory:
        return lambda: PostgreSQLStorage(pg_url)


class TestPostgreSQLCRUD(CRUDConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLTransactions(TransactionConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLQueries(QueryConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLBulkUpsert(BulkUpsertConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLConcurrency(ConcurrencyConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLWorkQueue(WorkQueueConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLAuditAndKeys(AuditKeyConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLPersistence(PersistenceConformance, PostgreSQLFixtures):
    pass


class TestPostgreSQLAggregates(AggregateConformance, PostgreSQLFixtures):
    pass


# --------------------------------------------------------------------------------------
# Opening, URLs, the password


def test_is_a_storage_in_its_own_schema(pg_url: str, pg_schema: str) -> None:
    """The schema= parameter puts every table in that schema (created); url is kept."""
    with PostgreSQLStorage(pg_url) as storage:
        assert isinstance(storage, Storage)
        assert (storage.capabilities.persistent, storage.capabilities.thread_safe) == (True, True)
        assert storage.capabilities.multi_process
        assert storage.url == pg_url
        assert repr(storage) == f"PostgreSQLStorage({pg_url!r})"
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.put(case("c1"), expected_version=0)
    with psycopg.connect(URL) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (pg_schema,),
            )
        }
        layout = conn.execute(
            f"SELECT value FROM \"{pg_schema}\".civiccrm_meta WHERE key = 'storage_layout'"
        ).fetchone()
    assert tables == {
        "civiccrm_meta",
        "civiccrm_tasks",
        "civiccrm_audit",
        "civiccrm_keys",
        "rec_case",
        "rec_party",
    }
    assert layout == (str(LAYOUT_VERSION),)


def test_schemas_are_separate(pg_url: str) -> None:
    """Two schemas of one database are two CRM databases."""
    other_schema = f"civiccrm_t_{uuid.uuid4().hex[:16]}"
    try:
        with (
            PostgreSQLStorage(pg_url) as one,
            PostgreSQLStorage(with_schema(URL, other_schema)) as two,
        ):
            one.migrate(CONFORMANCE_SCHEMA)
            two.migrate(CONFORMANCE_SCHEMA)
            one.put(case("c1", {"in": "one"}), expected_version=0)
            one.put_key("k", b"one")
            one.append_audit(["one"])
            assert two.get("case", "c1") is None
            assert (two.get_key("k"), two.read_audit()) == (None, [])
            two.put(case("c1", {"in": "two"}), expected_version=0)
            got = one.get("case", "c1")
            assert got is not None
            assert json.loads(got.doc) == {"in": "one"}
    finally:
        drop_schema(other_schema)


def test_the_scheme_is_registered(pg_url: str) -> None:
    """postgresql:// and postgres:// URLs open through the plugin hook."""
    for url in (pg_url, "postgres://" + pg_url.split("://", 1)[1]):
        storage = open_storage(url)
        try:
            assert isinstance(storage, PostgreSQLStorage)
        finally:
            storage.close()


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing psycopg is a StorageError that says which extra to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "civiccrm.adapters._postgresql")
    with pytest.raises(StorageError, match=r"pip install 'civiccrm\[postgresql\]'"):
        open_storage("postgresql://nobody@127.0.0.1:1/nothing")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x@localhost/db",
        f"{URL.split('?')[0]}?schema=pg_catalog",
        f"{URL.split('?')[0]}?schema=bad-name",
        f"{URL.split('?')[0]}?schema=a&schema=b",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        PostgreSQLStorage(url)


def _no_secret(exc: BaseException) -> str:
    """Everything a traceback of ``exc`` shows, checked for the password."""
    shown = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    assert SECRET not in shown
    return shown


def test_an_unreachable_server_is_a_storage_error_naming_it() -> None:
    """A connection failure names host, port and database, never the password."""
    url = f"postgresql://someone:{SECRET}@127.0.0.1:1/somedb?connect_timeout=3&schema=x"
    with pytest.raises(StorageError) as info:
        PostgreSQLStorage(url)
    shown = _no_secret(info.value)
    assert "127.0.0.1:1/somedb" in str(info.value)
    assert "cannot connect" in shown


def test_the_password_never_shows(pg_schema: str) -> None:
    """Neither url, repr, str, nor any error of an open storage holds the password."""
    for n, url in enumerate(
        (
            with_schema(with_password(URL, SECRET), pg_schema),
            with_schema(f"{URL}{'&' if '?' in URL else '?'}password={SECRET}", pg_schema),
        )
    ):
        storage = PostgreSQLStorage(url)
        try:
            assert SECRET not in storage.url + repr(storage) + str(storage)
            assert "***" in storage.url
            storage.migrate(CONFORMANCE_SCHEMA)
            storage.put(case(f"c{n}"), expected_version=0)
            failures: list[tuple[Any, ...]] = [
                (storage.get, "nope", "x"),
                (storage.put, case(f"c{n}")),
                (storage.put, case("big", priority=2**64)),
                (storage.put, Record("case", "nul", 0, "a\x00b", {})),
            ]
            for call, *args in failures:
                kwargs = {"expected_version": 0} if call == storage.put else {}
                with pytest.raises((StorageError, ConflictError, ValidationError)) as info:
                    call(*args, **kwargs)
                _no_secret(info.value)
        finally:
            storage.close()
        with pytest.raises(StorageError) as closed:
            storage.get("case", "c1")
        _no_secret(closed.value)
        assert "closed" in str(closed.value)


# --------------------------------------------------------------------------------------
# Migrations


def _v2(extra_index: bool = True) -> Schema:
    """The conformance schema, one version on: a column filled from the documents."""
    party = CONFORMANCE_SCHEMA.kind("party")
    kinds = tuple(
        KindSpec(
            k.kind,
            (*k.columns, ColumnSpec("ref", ColumnType.TEXT, indexed=True, source="ref")),
            (*k.indexes, IndexSpec("by_ref", ("ref", "email_hash"))) if extra_index else k.indexes,
            k.key_column,
        )
        if k is party
        else k
        for k in CONFORMANCE_SCHEMA.kinds
    )
    return Schema(CONFORMANCE_SCHEMA.version + 1, kinds)


def _migrate_in_child(url: str, schema: Schema, barrier: Any) -> None:
    """Open (creating the schema) and migrate, in step with the other children."""
    barrier.wait(30)
    storage = PostgreSQLStorage(url)
    try:
        storage.migrate(schema)
        storage.migrate(schema)
    finally:
        storage.close()


def _run_children(target: Any, args_of: list[tuple[Any, ...]]) -> None:
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=target, args=args) for args in args_of]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0] * len(children)


def test_migrate_from_several_processes_at_once(pg_url: str, pg_schema: str) -> None:
    """Processes opening a new schema and migrating it at once take turns; all succeed."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    _run_children(_migrate_in_child, [(pg_url, CONFORMANCE_SCHEMA, barrier)] * 3)
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        for i in range(5):
            storage.put(
                case(f"p{i}", {"ref": f"R{i}"}, kind="party", external_id=f"x{i}"),
                expected_version=0,
            )
        barrier = ctx.Barrier(3)
        _run_children(_migrate_in_child, [(pg_url, _v2(), barrier)] * 3)
        # This handle sees the new column without migrating again.
        found = storage.query(Query("party", (Filter("ref", "eq", "R3"),)))
        assert [r.id for r in found.records] == ["p3"]
        with pytest.raises(StorageError, match="newer civiccrm"):
            storage.migrate(CONFORMANCE_SCHEMA)
    with psycopg.connect(URL) as conn:
        indexes = sorted(
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (pg_schema, "rec_party"),
            )
        )
    assert indexes == [
        "rec_party__c__email_hash",
        "rec_party__c__ref",
        "rec_party__i__by_ref",
        "rec_party__k__external_id",
        "rec_party_pkey",
    ]


def test_migrate_rebuilds_changed_indexes_and_drops_removed_ones(
    pg_url: str, pg_schema: str
) -> None:
    """A dropped IndexSpec goes; migrating the same schema twice rebuilds nothing."""

    def oids() -> dict[str, int]:
        with psycopg.connect(URL) as conn:
            return {
                r[0]: r[1]
                for r in conn.execute(
                    "SELECT c.relname, c.oid::int FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind = 'i'",
                    (pg_schema,),
                )
            }

    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(_v2())
        before = oids()
        storage.migrate(_v2())
        assert oids() == before
        storage.migrate(Schema(3, _v2(extra_index=False).kinds))
        after = oids()
    assert "rec_party__i__by_ref" in before
    assert "rec_party__i__by_ref" not in after
    assert {k: v for k, v in before.items() if k != "rec_party__i__by_ref"} == after


def test_long_names_are_shortened_stably(pg_url: str) -> None:
    """Index names beyond PostgreSQL's 63 bytes get a hash; migrating again is a no-op."""
    long_kind = "k" * 59
    long_index = "i" * 63
    schema = Schema(
        1,
        (
            KindSpec(
                long_kind,
                (ColumnSpec("c" * 63, ColumnType.TEXT, indexed=True),),
                (IndexSpec(long_index, ("c" * 63,)),),
            ),
        ),
    )
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(schema)
        storage.migrate(schema)
        storage.put(Record(long_kind, "r1", 0, "{}", {"c" * 63: "v"}), expected_version=0)
        page = storage.query(Query(long_kind, (Filter("c" * 63, "eq", "v"),)))
        assert [r.id for r in page.records] == ["r1"]
        with pytest.raises(ValidationError, match="kind"):
            storage.migrate(Schema(2, (KindSpec("k" * 60),)))


def test_a_newer_storage_layout_is_refused(pg_url: str, pg_schema: str) -> None:
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            f"UPDATE \"{pg_schema}\".civiccrm_meta SET value = '99' WHERE key = 'storage_layout'"
        )
    with pytest.raises(StorageError, match="newer civiccrm"):
        PostgreSQLStorage(pg_url)


# --------------------------------------------------------------------------------------
# Transactions, threads, processes


def test_a_failed_call_inside_a_transaction_undoes_only_itself(pg_url: str) -> None:
    """A taken key inside a transaction is a ValidationError; the transaction goes on."""
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.put(case("c1", external_id="k1"), expected_version=0)
        storage.put(case("c2", external_id="k2"), expected_version=0)
        with storage.transaction():
            storage.put(case("a"), expected_version=0)
            with pytest.raises(ValidationError, match="k1"):
                storage.put(case("c2", external_id="k1"), expected_version=1)
            with pytest.raises(ValidationError, match="id"):
                storage.bulk_upsert("case", [case("c1", external_id="new-key")])
            with pytest.raises(ValidationError):
                storage.put(case("c3", priority=2**64), expected_version=0)
            storage.put(case("b"), expected_version=0)
        assert storage.count("case") == {None: 4}
        c2 = storage.get("case", "c2")
        assert c2 is not None
        assert (c2.version, c2.columns["external_id"]) == (1, "k2")


def test_transactions_are_per_thread(pg_url: str) -> None:
    """Another thread sees nothing of a transaction until it commits."""
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        inside = threading.Event()
        checked = threading.Event()
        seen: list[object] = []

        def writer() -> None:
            with storage.transaction():
                storage.put(case("t1"), expected_version=0)
                inside.set()
                checked.wait(10)

        thread = threading.Thread(target=writer)
        thread.start()
        assert inside.wait(10)
        seen.append(storage.get("case", "t1"))
        checked.set()
        thread.join(10)
        assert seen == [None]
        assert storage.get("case", "t1") is not None


def test_bulk_upsert_applies_a_repeated_key_in_order(pg_url: str) -> None:
    """The same key twice in a batch: an insert, then an update (or nothing if the same)."""
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        batch = [
            case("r1", {"n": 1}, external_id="k"),
            case("r2", {"n": 2}, external_id="k"),
            case("r3", {"n": 2}, external_id="k"),
            case("s1", external_id="other"),
        ]
        assert UpsertResult(inserted=2, updated=1, unchanged=1) == storage.bulk_upsert(
            "case", batch
        )
        got = storage.get_by_key("case", "k")
        assert got is not None
        assert (got.id, got.version, json.loads(got.doc)) == ("r1", 2, {"n": 2})
        assert UpsertResult(unchanged=4) == storage.bulk_upsert("case", batch[2:] * 2)


def test_long_in_lists(pg_url: str) -> None:
    """IN lists beyond the array threshold keep SQL semantics (NULLs included)."""
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.bulk_upsert(
            "case",
            [
                case(f"c{i}", status=f"s{i}", priority=i, score=i / 2, external_id=f"e{i}")
                for i in range(20)
            ],
        )
        statuses = tuple(f"s{i}" for i in range(0, 3000, 2))
        priorities = tuple(range(5, 3000))
        scores = (*(i / 2 for i in range(10, 3000)), 1)
        for where, expected in [
            ((Filter("status", "in", statuses),), 10),
            ((Filter("status", "not_in", statuses),), 10),
            ((Filter("status", "not_in", (*statuses, None)),), 0),
            ((Filter("priority", "in", priorities),), 15),
            ((Filter("priority", "not_in", priorities),), 5),
            ((Filter("score", "in", scores),), 11),
        ]:
            assert storage.count("case", where) == {None: expected}, where
            assert len(storage.query(Query("case", where)).records) == expected


def _claim_in_child(url: str, barrier: Any, out: str) -> None:
    storage = PostgreSQLStorage(url)
    mine: list[str] = []
    try:
        barrier.wait(30)
        while tasks := storage.claim(
            "mp", worker=f"w{os.getpid()}", limit=7, lease_us=10**12, now_us=1
        ):
            keys = [t.key for t in tasks]
            assert storage.complete("mp", keys, worker=f"w{os.getpid()}") == len(keys)
            mine.extend(keys)
    finally:
        storage.close()
    Path(out).write_text(json.dumps(mine))


def test_processes_claim_each_task_exactly_once(pg_url: str, tmp_path: Path) -> None:
    """Three processes claiming from one queue get every task exactly once."""
    keys = [f"t{i:04d}" for i in range(600)]
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        assert storage.enqueue("mp", keys) == 600
        barrier = multiprocessing.get_context("spawn").Barrier(3)
        outs = [str(tmp_path / f"claimed-{i}.json") for i in range(3)]
        _run_children(_claim_in_child, [(pg_url, barrier, out) for out in outs])
        claimed = [k for out in outs for k in json.loads(Path(out).read_text())]
        assert sorted(claimed) == keys
        assert storage.claim("mp", worker="late", limit=10, lease_us=1, now_us=2**62) == []


def test_audit_entries_are_numbered_in_commit_order(pg_url: str) -> None:
    """A transaction that read the log's end appends right after it, whoever else writes."""
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.append_audit(["start"])

        def work(i: int) -> None:
            for _ in range(10):
                with storage.transaction():
                    last = storage.read_audit(after=0, limit=10_000)[-1]
                    storage.append_audit([json.dumps({"after": last[0], "by": i})])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        log = storage.read_audit(limit=10_000)
        assert len(log) == 41
        for (seq, _), (_, entry) in itertools.pairwise(log):
            assert json.loads(entry)["after"] == seq


# --------------------------------------------------------------------------------------
# Keys


def _row_versions(pg_schema: str) -> list[bytes] | None:
    """
    The data of every row version (live or dead) in the key table's first page, via
    the pageinspect extension; None without it.
    """
    with psycopg.connect(URL, autocommit=True) as conn:
        try:
            found = conn.execute(
                "SELECT n.nspname FROM pg_extension e"
                " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pageinspect'"
            ).fetchone()
            where = found[0] if found else pg_schema
            if not found:
                conn.execute(f'CREATE EXTENSION pageinspect SCHEMA "{where}"')
            rows = conn.execute(
                f'SELECT t_data FROM "{where}".heap_page_items("{where}".get_raw_page(%s, 0))'
                " WHERE t_data IS NOT NULL",
                (f'"{pg_schema}".civiccrm_keys',),
            ).fetchall()
        except psycopg.Error:
            return None
    return [bytes(r[0]) for r in rows]


def _held(versions: list[bytes] | None, material: bytes) -> bool:
    assert versions is not None
    return any(material in v for v in versions)


def test_a_deleted_key_is_vacuumed_out_of_the_table(pg_url: str, pg_schema: str) -> None:
    """
    delete_key leaves no row version (live or dead) holding the key: at once, or when
    the transaction it was deleted in ends. (Freed space is not zeroed: see the class
    docstring.)
    """
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.put_keys([("a", b"KEY-MATERIAL-AAAA"), ("b", b"KEY-MATERIAL-BBBB")])
        storage.put_key("c", b"KEY-MATERIAL-CCC1")
        storage.put_key("c", b"KEY-MATERIAL-CCC2")
        versions = _row_versions(pg_schema)
        if versions is None:
            pytest.skip("needs the pageinspect extension (a superuser creates it)")
        assert _held(versions, b"KEY-MATERIAL-AAAA")
        assert storage.delete_key("a")
        versions = _row_versions(pg_schema)
        assert not _held(versions, b"KEY-MATERIAL-AAAA")
        assert _held(versions, b"KEY-MATERIAL-BBBB")
        with storage.transaction():
            storage.put(case("x"), expected_version=0)
            assert storage.delete_key("c")
            assert storage.get_key("c") is None
            # The open transaction keeps the dead versions alive ...
            assert _held(_row_versions(pg_schema), b"KEY-MATERIAL-CCC2")
        # ... until it ends, and the key table is vacuumed.
        versions = _row_versions(pg_schema)
        assert not _held(versions, b"KEY-MATERIAL-CCC")
        assert storage.list_keys() == ["b"]


# --------------------------------------------------------------------------------------
# The facade


def test_the_crm_facade_on_postgresql(pg_url: str) -> None:
    """civiccrm.open on a postgresql:// URL: create, reopen, read back."""
    key = LocalKeyProvider.generate()
    profile = load_profile(springfield_path())
    with civiccrm.open(pg_url, profile=profile, key=key) as crm:
        ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
        opened = crm.cases.open("001", requester=ana, attributes={"size": "large"})
        assert opened.version == 1
    with civiccrm.open(pg_url, profile=profile, key=key) as crm:
        again = crm.citizens.get(ana.id)
        assert (again.given_name, again.family_name) == ("Ana", "Lima")
        got = crm.cases.get(opened.id)
        assert got.requester is not None
        assert (got.case_type, got.requester.id, got.queue) == ("001", ana.id, opened.queue)
        assert crm.storage.count("case", [Filter("status", "not_null")]) == {None: 1}
        assert len(crm.storage.read_audit()) > 0
        stored = crm.storage.query(Query("case", order_by=Order("opened_at"), limit=5))
        assert [r.id for r in stored.records] == [str(opened.id)]


def test_a_column_whose_type_changes_is_converted(pg_url: str) -> None:
    """INTEGER -> REAL -> TEXT: stored values are converted, and come back in the new type."""

    def schema(version: int, kind: ColumnType) -> Schema:
        return Schema(version, (KindSpec("thing", (ColumnSpec("n", kind, indexed=True),)),))

    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(schema(1, ColumnType.INTEGER))
        storage.put(Record("thing", "t1", 0, "{}", {"n": 7}), expected_version=0)
        storage.migrate(schema(2, ColumnType.REAL))
        got = storage.get("thing", "t1")
        assert got is not None
        assert (got.columns["n"], type(got.columns["n"])) == (7.0, float)
        storage.put(Record("thing", "t2", 0, "{}", {"n": 2.5}), expected_version=0)
        storage.migrate(schema(3, ColumnType.TEXT))
        assert [r.columns["n"] for r in storage.stream(Query("thing"))] == ["7", "2.5"]


def test_a_bad_url_does_not_show_its_password() -> None:
    url = f"postgresql://someone:{SECRET}%zz@127.0.0.1:1/db"
    with pytest.raises(ValidationError) as info:
        PostgreSQLStorage(url)
    _no_secret(info.value)


def _increment(storage: PostgreSQLStorage, n: int) -> None:
    for _ in range(n):
        while True:
            current = storage.get("case", "counter")
            assert current is not None
            count = json.loads(current.doc)["n"]
            try:
                storage.put(case("counter", {"n": count + 1}), expected_version=current.version)
                break
            except ConflictError:
                continue


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # Python 3.12+: threads
def test_forked_processes_use_connections_of_their_own(pg_url: str) -> None:
    """Children inherit the storage object: each opens its own connections."""
    with PostgreSQLStorage(pg_url) as storage:
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.put(case("counter", {"n": 0}), expected_version=0)
        storage.put_key("k", b"parent")
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=_increment, args=(storage, 30)) for _ in range(2)]
        for child in children:
            child.start()
        _increment(storage, 30)
        for child in children:
            child.join(60)
        assert [child.exitcode for child in children] == [0, 0]
        got = storage.get("case", "counter")
        assert got is not None
        assert json.loads(got.doc)["n"] == 90
        assert storage.get_key("k") == b"parent"
