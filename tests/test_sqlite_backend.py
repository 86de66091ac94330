"""
What only the SQLite backend has to prove: WAL and pragmas, the file on disk
(reopening, migrations versioned inside it, refusing newer or foreign files), errors
in words, and concurrency across threads and connections.

The generic contract (CRUD, queries, transactions) is the conformance suite's.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from civiccrm.adapters._base import (
    Capabilities,
    ColumnSpec,
    ColumnType,
    Cursor,
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
from civiccrm.adapters._sqlite import LAYOUT_VERSION, SQLiteStorage
from civiccrm.errors import ConflictError, StorageError, ValidationError

T, INT = ColumnType.TEXT, ColumnType.INTEGER
OPEN = ("new", "assigned")

CASE_V1 = KindSpec(
    "case",
    (
        ColumnSpec("status", T, indexed=True),
        ColumnSpec("due_at", INT),
        ColumnSpec("queue", T),
        ColumnSpec("external_id", T),
    ),
    (IndexSpec("open_due", ("due_at",), (Filter("status", "in", OPEN),)),),
    key_column="external_id",
)
V1 = Schema(1, (CASE_V1,))
V2 = Schema(
    2,
    (
        KindSpec(
            "case",
            (*CASE_V1.columns, ColumnSpec("priority", INT, indexed=True)),
            (*CASE_V1.indexes, IndexSpec("queue_due", ("queue", "due_at"))),
            key_column="external_id",
        ),
        KindSpec("note", (ColumnSpec("case_id", T, indexed=True),)),
    ),
)


def rec(record_id: str, doc: object = None, *, kind: str = "case", **columns: object) -> Record:
    text = json.dumps({"id": record_id} if doc is None else doc)
    return Record(kind, record_id, 0, text, columns)  # type: ignore[arg-type]


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "crm.db"


@pytest.fixture
def storage(db: Path) -> Iterator[SQLiteStorage]:
    s = SQLiteStorage(url_of(db))
    s.migrate(V1)
    yield s
    s.close()


def meta(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM civiccrm_meta").fetchall())
    finally:
        conn.close()


def set_meta(path: Path, key: str, value: str) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("UPDATE civiccrm_meta SET value = ? WHERE key = ?", (value, key))
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# Opening, URLs, pragmas


def test_is_a_storage_with_capabilities(storage: SQLiteStorage) -> None:
    assert isinstance(storage, Storage)
    expected = Capabilities(persistent=True, thread_safe=True, multi_process=True, aggregates=True)
    assert expected == storage.capabilities
    memory = SQLiteStorage("sqlite:///:memory:")
    try:
        expected = Capabilities(
            persistent=False, thread_safe=True, multi_process=False, aggregates=True
        )
        assert expected == memory.capabilities
    finally:
        memory.close()


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    relative = SQLiteStorage("sqlite:///rel/a.db")
    absolute = SQLiteStorage(f"sqlite:///{tmp_path}/b.db")  # sqlite:////tmp/...
    relative.close()
    absolute.close()
    assert (tmp_path / "rel" / "a.db").is_file()
    assert (tmp_path / "b.db").is_file()
    for bad in ("postgresql://x/y", "sqlite://rel/a.db", "sqlite:///"):
        with pytest.raises(ValidationError):
            SQLiteStorage(bad)


def test_wal_and_pragmas(storage: SQLiteStorage, db: Path) -> None:
    assert storage.journal_mode == "wal"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    own = storage._state().conn
    assert own.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert own.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert str(LAYOUT_VERSION) == meta(db)["storage_layout"]


def test_memory_databases_are_private(tmp_path: Path) -> None:
    a = SQLiteStorage("sqlite:///:memory:")
    b = SQLiteStorage("sqlite:///:memory:")
    try:
        a.migrate(V1)
        b.migrate(V1)
        a.put(rec("c1"), expected_version=0)
        assert a.get("case", "c1") is not None
        assert b.get("case", "c1") is None
        assert not list(tmp_path.iterdir())
    finally:
        a.close()
        b.close()


def test_data_survives_close_and_reopen(db: Path) -> None:
    s = SQLiteStorage(url_of(db))
    s.migrate(V1)
    stored = s.put(rec("c1", {"t": "pothole"}, status="new", due_at=5), expected_version=0)
    s.bulk_upsert("case", [rec("c2", external_id="x2"), rec("c3", external_id="x3")])
    s.enqueue("sla", ["c1"])
    seqs = s.append_audit(["one", "two"])
    s.put_key("k1", b"\x00wrapped\xff")
    s.close()
    assert not Path(f"{db}-wal").exists()  # checkpointed into the file on close

    again = SQLiteStorage(url_of(db))  # no migrate: the schema is read from the file
    try:
        assert stored == again.get("case", "c1")
        assert [r.id for r in again.query(Query("case", limit=5)).records[1:]] == ["c2", "c3"]
        assert getattr(again.get_by_key("case", "x3"), "id", None) == "c3"
        assert [t.key for t in again.claim("sla", worker="w", limit=5, lease_us=1, now_us=0)] == [
            "c1"
        ]
        assert list(zip(seqs, ["one", "two"], strict=True)) == again.read_audit()
        assert again.get_key("k1") == b"\x00wrapped\xff"
        again.migrate(V1)
        assert stored == again.get("case", "c1")
    finally:
        again.close()


def test_closed_storage_raises_storage_error(storage: SQLiteStorage) -> None:
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.get("case", "c1")
    with pytest.raises(StorageError, match="closed"), storage.transaction():
        pass
    storage.close()  # twice is fine


def test_connections_of_finished_threads_are_closed(storage: SQLiteStorage) -> None:
    def work() -> None:
        storage.get("case", "c1")

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert len(storage._registry) == 1  # only this thread's


# --------------------------------------------------------------------------------------
# Migrations


def test_migration_keeps_rows_and_adds_columns_indexes_and_kinds(db: Path) -> None:
    s = SQLiteStorage(url_of(db))
    s.migrate(V1)
    s.bulk_upsert(
        "case",
        [
            rec(f"c{i:02}", {"n": i}, status=OPEN[i % 2], due_at=i, external_id=f"x{i}")
            for i in range(50)
        ],
    )
    s.put(rec("c01", {"n": "changed"}, status="closed", external_id="x1"), expected_version=1)
    before = {r.id: r for r in s.stream(Query("case"))}
    s.close()

    s = SQLiteStorage(url_of(db))
    try:
        s.migrate(V2)
        after = {r.id: r for r in s.stream(Query("case"))}
        assert before.keys() == after.keys()
        for rid, old in before.items():
            new = after[rid]
            assert (old.version, old.doc) == (new.version, new.doc)
            assert {**old.columns, "priority": None} == dict(new.columns)
        assert {"storage_layout": "2", "schema_version": "2"}.items() <= meta(db).items()
        description = json.loads(meta(db)["schema"])
        assert [k["kind"] for k in description["kinds"]] == ["case", "note"]
        conn = s._state().conn
        indexes = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {
            "rec_case__c__priority",
            "rec_case__i__queue_due",
            "rec_case__i__open_due",
            "rec_note__c__case_id",
        } <= indexes
        # The new column and kind work.
        s.put(
            rec("c02", {"n": 2}, status="new", due_at=2, external_id="x2", priority=9),
            expected_version=1,
        )
        assert [r.id for r in s.query(Query("case", (Filter("priority", "eq", 9),))).records] == [
            "c02"
        ]
        s.put(rec("n1", kind="note", case_id="c02"), expected_version=0)
        assert s.count("note") == {None: 1}
        # Idempotent, and an older schema is refused.
        s.migrate(V2)
        with pytest.raises(StorageError, match="newer civiccrm"):
            s.migrate(V1)
        assert meta(db)["schema_version"] == "2"
    finally:
        s.close()


def test_migration_rebuilds_a_changed_index_and_drops_a_removed_one(storage: SQLiteStorage) -> None:
    changed = Schema(
        2,
        (
            KindSpec(
                "case",
                CASE_V1.columns,
                (IndexSpec("open_due", ("due_at",), (Filter("status", "eq", "new"),)),),
                key_column="external_id",
            ),
        ),
    )
    storage.migrate(changed)
    conn = storage._state().conn
    sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'rec_case__i__open_due'"
    ).fetchone()[0]
    assert "\"status\" = 'new'" in sql
    plain = tuple(ColumnSpec(c.name, c.type) for c in CASE_V1.columns)
    storage.migrate(Schema(3, (KindSpec("case", plain, key_column="external_id"),)))
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "rec_case__i__open_due" not in names
    assert "rec_case__c__status" not in names  # no longer indexed
    assert "rec_case__k__external_id" in names


def test_a_newer_storage_layout_is_refused_and_left_alone(db: Path) -> None:
    s = SQLiteStorage(url_of(db))
    s.migrate(V1)
    s.put(rec("c1"), expected_version=0)
    s.close()
    set_meta(db, "storage_layout", str(LAYOUT_VERSION + 1))
    original = db.read_bytes()
    with pytest.raises(StorageError) as info:
        SQLiteStorage(url_of(db))
    message = str(info.value)
    assert "newer civiccrm" in message
    assert f"layout {LAYOUT_VERSION + 1}, this version understands {LAYOUT_VERSION}" in message
    assert str(db) in message
    assert original == db.read_bytes()
    assert str(LAYOUT_VERSION + 1) == meta(db)["storage_layout"]


def test_a_newer_schema_version_is_refused_and_left_alone(db: Path) -> None:
    s = SQLiteStorage(url_of(db))
    s.migrate(V2)
    s.put(rec("c1"), expected_version=0)
    s.close()
    original = db.read_bytes()
    before = meta(db)
    s = SQLiteStorage(url_of(db))
    try:
        with pytest.raises(StorageError, match=r"newer civiccrm \(schema version 2"):
            s.migrate(V1)
    finally:
        s.close()
    assert before == meta(db)
    assert original == db.read_bytes()


def test_bad_schemas_are_refused_with_every_problem(storage: SQLiteStorage) -> None:
    bad = Schema(
        2,
        (
            KindSpec("bad kind", ()),
            KindSpec(
                "case",
                (ColumnSpec("id", T), ColumnSpec("x; DROP TABLE y", T), ColumnSpec("n", INT)),
                (IndexSpec("ix", ("nope",)),),
                key_column="n",
            ),
        ),
    )
    with pytest.raises(ValidationError) as info:
        storage.migrate(bad)
    paths = [p.path for p in info.value.problems]
    assert paths == [
        "kinds[0].kind",
        "kinds[1].columns[0].name",
        "kinds[1].columns[1].name",
        "kinds[1].key_column",
        "kinds[1].indexes[0].columns[0]",
    ]
    assert (
        storage._state()
        .conn.execute("SELECT value FROM civiccrm_meta WHERE key = 'schema_version'")
        .fetchone()[0]
        == "1"
    )


# --------------------------------------------------------------------------------------
# Errors in words


def test_a_file_that_is_not_a_database(db: Path) -> None:
    db.write_bytes(b"this is not a database, just some text\n" * 200)
    original = db.read_bytes()
    with pytest.raises(StorageError) as info:
        SQLiteStorage(url_of(db))
    assert "not a SQLite database" in str(info.value)
    assert str(db) in str(info.value)
    assert info.value.backend == "sqlite"
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert original == db.read_bytes()


def test_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(StorageError) as info:
        SQLiteStorage(url_of(missing / "crm.db"))
    assert f"directory {missing} does not exist" in str(info.value)
    assert not (tmp_path / "no").exists()


def test_locked_beyond_the_timeout(db: Path) -> None:
    s = SQLiteStorage(url_of(db), busy_timeout=0.2)
    s.migrate(V1)
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StorageError) as info:
            s.put(rec("c1"), expected_version=0)
        assert time.monotonic() - started >= 0.15
        assert "locked" in str(info.value)
        assert str(db) in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert s.get("case", "c1") is None  # readers are not blocked (WAL)
        other.execute("ROLLBACK")
        s.put(rec("c1"), expected_version=0)
    finally:
        other.close()
        s.close()


def test_disk_full_is_a_storage_error_and_rolls_back(storage: SQLiteStorage) -> None:
    conn = storage._state().conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 8}")
    big = "x" * 20_000
    batch = [rec(f"c{i}", {"big": big}, external_id=f"x{i}") for i in range(50)]
    with pytest.raises(StorageError, match="disk is full") as info:
        storage.bulk_upsert("case", batch)
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert storage.count("case") == {None: 0}
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert UpsertResult(inserted=50) == storage.bulk_upsert("case", batch)


def test_bad_values_are_validation_errors(storage: SQLiteStorage) -> None:
    with pytest.raises(ValidationError):
        storage.put(rec("c1", due_at=2**64), expected_version=0)
    with pytest.raises(ValidationError):
        storage.put(rec("c1", due_at=[1, 2]), expected_version=0)
    with pytest.raises(ValidationError):
        storage.put(rec("c1"), expected_version=-1)
    assert storage.get("case", "c1") is None


# --------------------------------------------------------------------------------------
# Transactions and concurrency


def test_transactions_are_per_thread(storage: SQLiteStorage) -> None:
    """A rollback on one thread does not take another thread's write with it."""
    inside = threading.Event()

    def write() -> None:
        inside.wait()
        storage.put(rec("b"), expected_version=0)  # waits for the main thread's write lock

    def read() -> Record | None:
        inside.wait()
        return storage.get("case", "a")  # WAL: never blocked, never sees uncommitted data

    def write_then_fail() -> None:
        with storage.transaction():
            storage.put(rec("a"), expected_version=0)
            inside.set()
            time.sleep(0.3)
            raise RuntimeError("roll back")

    with ThreadPoolExecutor(2) as pool:
        writer = pool.submit(write)
        reader = pool.submit(read)
        with pytest.raises(RuntimeError):
            write_then_fail()
        writer.result()
        assert reader.result() is None
    assert storage.get("case", "a") is None
    assert storage.get("case", "b") is not None


def test_nested_transaction_is_a_savepoint(storage: SQLiteStorage) -> None:
    def inner_fails() -> None:
        with storage.transaction():
            storage.put(rec("inner"), expected_version=0)
            raise RuntimeError

    with storage.transaction():
        storage.put(rec("outer"), expected_version=0)
        with pytest.raises(RuntimeError):
            inner_fails()
        storage.put(rec("after"), expected_version=0)
    assert [getattr(storage.get("case", i), "id", None) for i in ("inner", "outer", "after")] == [
        None,
        "outer",
        "after",
    ]


def _increment(storage: SQLiteStorage, times: int, conflicts: list[int]) -> None:
    for _ in range(times):
        while True:
            got = storage.get("case", "counter")
            assert got is not None
            n = json.loads(got.doc)["n"]
            try:
                storage.put(rec("counter", {"n": n + 1}), expected_version=got.version)
                break
            except ConflictError:
                conflicts.append(1)


def test_optimistic_increments_from_8_threads(storage: SQLiteStorage) -> None:
    storage.put(rec("counter", {"n": 0}), expected_version=0)
    conflicts: list[int] = []
    threads = [
        threading.Thread(target=_increment, args=(storage, 200, conflicts)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = storage.get("case", "counter")
    assert got is not None
    assert json.loads(got.doc)["n"] == 1600
    assert got.version == 1601


def test_increments_on_a_memory_database_from_threads() -> None:
    storage = SQLiteStorage("sqlite:///:memory:")
    try:
        storage.migrate(V1)
        storage.put(rec("counter", {"n": 0}), expected_version=0)
        conflicts: list[int] = []
        threads = [
            threading.Thread(target=_increment, args=(storage, 50, conflicts)) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = storage.get("case", "counter")
        assert got is not None
        assert json.loads(got.doc)["n"] == 200
    finally:
        storage.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_processes_increment_the_same_record(storage: SQLiteStorage) -> None:
    """Children inherit the storage object: each opens its own connections to the file."""
    storage.put(rec("counter", {"n": 0}), expected_version=0)
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_increment, args=(storage, 50, [])) for _ in range(2)]
    for child in children:
        child.start()
    _increment(storage, 50, [])
    for child in children:
        child.join(30)
    assert [child.exitcode for child in children] == [0, 0]
    got = storage.get("case", "counter")
    assert got is not None
    assert json.loads(got.doc)["n"] == 150


def test_two_storages_on_one_file(storage: SQLiteStorage, db: Path) -> None:
    other = SQLiteStorage(url_of(db))
    try:
        first = storage.put(rec("c1", {"n": 1}), expected_version=0)
        assert first == other.get("case", "c1")
        second = other.put(rec("c1", {"n": 2}), expected_version=1)
        assert second == storage.get("case", "c1")
        with pytest.raises(ConflictError) as info:
            storage.put(rec("c1", {"n": "stale"}), expected_version=1)
        assert (info.value.expected_version, info.value.actual_version) == (1, 2)
        # One of them migrates: the other sees the new kind and column without migrating.
        other.migrate(V2)
        storage.put(rec("n1", kind="note", case_id="c1"), expected_version=0)
        storage.put(rec("c2", priority=3), expected_version=0)
        assert other.get("case", "c2").columns["priority"] == 3  # type: ignore[union-attr]
    finally:
        other.close()


def test_claim_from_4_threads_hands_out_each_task_once(storage: SQLiteStorage) -> None:
    keys = [f"t{i:04}" for i in range(1000)]
    assert storage.enqueue("sla", keys) == 1000
    claimed: list[list[str]] = [[] for _ in range(4)]
    attempts: set[int] = set()

    def worker(n: int) -> None:
        while True:
            tasks = storage.claim("sla", worker=f"w{n}", limit=7, lease_us=10**12, now_us=1)
            if not tasks:
                return
            claimed[n].extend(t.key for t in tasks)
            attempts.update(t.attempts for t in tasks)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [k for c in claimed for k in c]
    assert sorted(everything) == keys  # every task, each exactly once
    assert {1} == attempts
    assert storage.claim("sla", worker="late", limit=10, lease_us=1, now_us=2) == []
    done = sum(storage.complete("sla", c, worker=f"w{n}") for n, c in enumerate(claimed))
    assert done == 1000


def test_an_expired_lease_makes_a_task_claimable_again(storage: SQLiteStorage) -> None:
    assert storage.enqueue("q", ["a"], payload="p") == 1
    first = storage.claim("q", worker="w1", limit=5, lease_us=100, now_us=1_000)
    assert [(t.key, t.payload, t.attempts, t.lease_until) for t in first] == [("a", "p", 1, 1_100)]
    assert storage.claim("q", worker="w2", limit=5, lease_us=100, now_us=1_050) == []
    again = storage.claim("q", worker="w2", limit=5, lease_us=100, now_us=1_101)
    assert [(t.key, t.attempts, t.lease_until) for t in again] == [("a", 2, 1_201)]
    assert storage.complete("q", ["a"], worker="w1") == 0  # lost the lease
    assert storage.complete("q", ["a"], worker="w2") == 1
    assert storage.claim("q", worker="w3", limit=5, lease_us=100, now_us=10**12) == []
    assert storage.enqueue("q", []) == 0
    assert storage.enqueue("q", ["a", "a"]) == 1  # done: queued again
    assert storage.enqueue("q", ["a"]) == 0  # pending: left as it is


def test_integrity_check_after_work(storage: SQLiteStorage, db: Path) -> None:
    storage.migrate(V2)
    storage.bulk_upsert(
        "case", [rec(f"c{i}", status="new", external_id=f"x{i}") for i in range(300)]
    )
    conflicts: list[int] = []
    storage.put(rec("counter", {"n": 0}), expected_version=0)
    threads = [threading.Thread(target=_increment, args=(storage, 20, conflicts)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(0, 300, 3):
        storage.delete("case", f"c{i}", expected_version=1)
    storage.enqueue("q", [str(i) for i in range(100)])
    storage.claim("q", worker="w", limit=50, lease_us=10, now_us=0)
    storage.append_audit([f"e{i}" for i in range(100)])
    storage.put_key("k", b"x" * 64)
    storage.delete_key("k")
    storage.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def _all_bytes(path: Path) -> bytes:
    """The file and its -wal/-shm companions, as raw bytes."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


def test_keys_live_in_their_own_file_and_a_deleted_key_is_gone(db: Path) -> None:
    secret = b"WRAPPED-KEY-MATERIAL-0123456789abcdef"
    keys = db.parent / (db.name + ".keys")
    s = SQLiteStorage(url_of(db))
    s.put_key("party-1", secret)
    s.put_key("party-2", b"other")
    s.close()
    assert secret not in b"".join(
        p.read_bytes() for p in db.parent.glob(db.name + "*") if ".keys" not in p.name
    )
    assert secret in _all_bytes(keys)
    s = SQLiteStorage(url_of(db))
    assert s.get_key("party-1") == secret
    assert s.delete_key("party-1")
    assert not s.delete_key("party-1")
    # Gone from the key file and its WAL at once, before the storage is closed.
    assert secret not in _all_bytes(keys)
    assert s.get_key("party-2") == b"other"
    s.close()
    assert secret not in _all_bytes(db)


def test_a_layout_1_file_has_its_keys_moved_out(db: Path) -> None:
    secret = b"OLD-LAYOUT-WRAPPED-KEY-0123456789"
    SQLiteStorage(url_of(db)).close()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE civiccrm_keys (key_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL)")
    conn.execute("INSERT INTO civiccrm_keys VALUES ('k1', ?)", (secret,))
    conn.execute("UPDATE civiccrm_meta SET value = '1' WHERE key = 'storage_layout'")
    conn.commit()
    conn.close()
    s = SQLiteStorage(url_of(db))
    try:
        assert s.get_key("k1") == secret
        assert meta(db)["storage_layout"] == str(LAYOUT_VERSION)
    finally:
        s.close()
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "civiccrm_keys" not in tables
    main_only = b"".join(
        p.read_bytes() for p in db.parent.glob(db.name + "*") if ".keys" not in p.name
    )
    assert secret not in main_only


# --------------------------------------------------------------------------------------
# Injection


def test_injection_looking_values_and_names(storage: SQLiteStorage) -> None:
    evil = "x'); DROP TABLE rec_case; --"
    stored = storage.put(
        rec(evil, {"t": evil}, status=evil, queue='" OR 1=1 --', external_id=evil),
        expected_version=0,
    )
    assert stored == storage.get("case", evil)
    assert stored == storage.get_by_key("case", evil)
    found = storage.query(Query("case", (Filter("status", "in", (evil, "?")),)))
    assert [evil] == [r.id for r in found.records]
    assert {evil: 1} == storage.count("case", group_by="status")
    name = "status; DROP TABLE"
    with pytest.raises(ValidationError, match="status; DROP TABLE") as info:
        storage.query(Query("case", (Filter(name, "eq", "new"),)))
    assert info.value.problems[0].path == "where[0].column"
    with pytest.raises(ValidationError, match="status; DROP TABLE"):
        storage.query(Query("case", order_by=Order(name)))
    with pytest.raises(ValidationError, match="status; DROP TABLE"):
        storage.count("case", group_by=name)
    with pytest.raises(ValidationError, match="status; DROP TABLE"):
        storage.put(rec("c2", **{name: "x"}), expected_version=0)
    with pytest.raises(ValidationError):
        storage.get("case; DROP TABLE rec_case", "c1")
    with pytest.raises(ValidationError):
        storage.query(Query("case", (Filter("status", "eq; DROP", "x"),)))  # type: ignore[arg-type]
    assert storage.count("case") == {None: 1}


def test_partial_index_literals_are_quoted_and_used(tmp_path: Path) -> None:
    odd = ("o'brien", 'say "hi"', "100% \\ _")
    kind = KindSpec(
        "case",
        CASE_V1.columns,
        (IndexSpec("odd_due", ("due_at",), (Filter("queue", "in", odd),)),),
        key_column="external_id",
    )
    s = SQLiteStorage(url_of(tmp_path / "odd.db"))
    try:
        s.migrate(Schema(1, (kind,)))
        for i, q in enumerate((*odd, "other")):
            s.put(rec(f"c{i}", queue=q, due_at=10 - i), expected_version=0)
        query = Query("case", (Filter("queue", "in", odd),), Order("due_at"))
        assert [r.id for r in s.query(query).records] == ["c2", "c1", "c0"]
        conn = s._state().conn
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM rec_case WHERE queue IN "
            "('o''brien', 'say \"hi\"', '100% \\ _') ORDER BY due_at, id"
        ).fetchall()
        assert "rec_case__i__odd_due" in " ".join(str(r[-1]) for r in plan)
        with pytest.raises(ValidationError):
            s.migrate(
                Schema(
                    2,
                    (
                        KindSpec(
                            "k",
                            (ColumnSpec("a", T),),
                            (IndexSpec("i", ("a",), (Filter("a", "eq", None),)),),
                        ),
                    ),
                )
            )
    finally:
        s.close()


# --------------------------------------------------------------------------------------
# Smoke tests of the SQL this backend writes


def test_order_nulls_last_and_keyset_pages(storage: SQLiteStorage) -> None:
    values = {"a": 3, "b": None, "c": 1, "d": 3, "e": None, "f": 2, "g": 1}
    for rid, due in values.items():
        storage.put(rec(rid, due_at=due, status="new"), expected_version=0)

    def pages(order: Order | None, limit: int) -> list[list[str]]:
        out: list[list[str]] = []
        after: Cursor | None = None
        while True:
            page = storage.query(Query("case", (), order, limit, after))
            out.append([r.id for r in page.records])
            if page.next is None:
                return out
            after = page.next

    assert pages(Order("due_at"), 2) == [["c", "g"], ["f", "a"], ["d", "b"], ["e"]]
    assert pages(Order("due_at", True), 3) == [["a", "d", "f"], ["c", "g", "b"], ["e"]]
    assert pages(None, 7) == [["a", "b", "c", "d", "e", "f", "g"]]  # exact fit: no next
    nulls_only = Query("case", (Filter("due_at", "is_null"),), Order("due_at"), 1)
    first = storage.query(nulls_only)
    assert (["b"], Cursor(None, "b")) == ([r.id for r in first.records], first.next)
    assert list(storage.query(Query("case", (Filter("status", "in", ()),))).records) == []
    assert len(storage.query(Query("case", (Filter("status", "not_in", ()),))).records) == 7
    assert list("cgfadbe") == [
        r.id for r in storage.stream(Query("case", order_by=Order("due_at")), batch_size=3)
    ]
    assert storage.count("case", group_by="due_at") == {1: 2, 2: 1, 3: 2, None: 2}


def test_bulk_upsert_counts_and_keeps_ids(storage: SQLiteStorage) -> None:
    batch = [rec(f"c{i}", {"n": i}, status="new", external_id=f"x{i}") for i in range(10)]
    assert UpsertResult(inserted=10) == storage.bulk_upsert("case", batch)
    assert UpsertResult(unchanged=10) == storage.bulk_upsert("case", batch)
    changed = [
        rec(f"other{i}", {"n": i}, status="closed" if i < 3 else "new", external_id=f"x{i}")
        for i in range(10)
    ]
    changed.append(rec("c99", external_id="x99"))
    changed.append(rec("c99", {"n": "twice"}, external_id="x99"))
    assert UpsertResult(inserted=1, updated=4, unchanged=7) == storage.bulk_upsert("case", changed)
    x1 = storage.get_by_key("case", "x1")
    assert x1 is not None
    assert (x1.id, x1.version, x1.columns["status"]) == ("c1", 2, "closed")
    x99 = storage.get("case", "c99")
    assert x99 is not None
    assert (x99.version, json.loads(x99.doc)) == (2, {"n": "twice"})
    with pytest.raises(ValidationError, match="key column") as info:
        storage.bulk_upsert("case", [rec("new1", external_id="n1"), rec("new2")])
    assert [p.path for p in info.value.problems] == ["[1].columns.external_id"]
    with pytest.raises(ValidationError) as info:
        storage.bulk_upsert(
            "case",
            [
                rec("new1", external_id="n1"),
                rec("new2", external_id="n2", due_at="soon"),
                rec("new3", kind="note", external_id="n3", colour="red"),
            ],
        )
    assert [p.path for p in info.value.problems] == [
        "[1].columns.due_at",
        "[2].columns.colour",
        "[2].kind",
    ]
    with pytest.raises(ValidationError, match="id"):
        storage.bulk_upsert("case", [rec("new3", external_id="n3"), rec("c5", external_id="n5")])
    assert storage.get_by_key("case", "n1") is None
    assert storage.get_by_key("case", "n3") is None
    with storage.transaction():
        assert UpsertResult(inserted=1) == storage.bulk_upsert(
            "case", [rec("in", external_id="in")]
        )
    assert storage.get("case", "in") is not None


def test_audit_and_keys(storage: SQLiteStorage) -> None:
    first = storage.append_audit(["a", "b", "c"])
    second = storage.append_audit(["d"])
    assert len(first) == 3
    assert first == sorted(first)
    assert second[0] > first[-1]
    assert [(second[0], "d")] == storage.read_audit(after=first[-1])
    assert [e for _, e in storage.read_audit(limit=2)] == ["a", "b"]
    assert storage.append_audit([]) == []
    storage.put_key("k", b"one")
    storage.put_key("k", b"two")
    assert storage.get_key("k") == b"two"
    assert storage.delete_key("k")
    assert storage.get_key("k") is None
