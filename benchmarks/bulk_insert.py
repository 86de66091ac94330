"""
Bulk insert of cases into SQLite: civiccrm against raw ``sqlite3`` and the SQLAlchemy ORM.

    python benchmarks/bulk_insert.py [--cases N] [--repeat R] [--json]

N realistic cases (default 100,000) are generated once with civiccrm's
WorkloadGenerator (Springfield profile), each with ``external_ids={"bench": "B<n>"}``.
Then, each into a fresh SQLite file in a temporary directory, and timed side by side:

(a)  civiccrm: ``crm.cases.bulk_import(cases)`` through the facade (default batch size).
     This writes each case AND its ``opened`` event (two rows per case), with
     idempotent ids derived from the import key, in one transaction per batch.
(b)  raw sqlite3: each row built by hand from the same Case objects (a hand-written
     dict of the case's fields -> json.dumps, plus the same column values), inserted
     with one ``executemany`` into a table made with civiccrm's own DDL (read from
     ``sqlite_master`` of a civiccrm-built database: same columns, same indexes,
     partial ones included), in one transaction.
(b2) raw sqlite3, rows precomputed: serialization outside the timer; pure insert speed.
(b3) raw sqlite3 writing what civiccrm writes: the case rows and one opened-event row
     per case into civiccrm's event table, one transaction (informational).
(b4) as (b3), but committing every 10,000 cases as bulk_import does (informational:
     the rows and the transactions of (a), without civiccrm).
(c)  SQLAlchemy 2 ORM: a mapped class with the same columns (written out, checked
     against civiccrm's table) and indexes (declared from civiccrm's table: its schema
     is still changing; checked too), ``session.add_all(objects)`` + ``commit()``, one
     transaction; building the ORM objects (and their JSON docs) is timed.

Every database is in WAL mode with ``synchronous=NORMAL`` (civiccrm's own settings).
With ``--repeat R`` every side runs R times (fresh file each time) and the median is
reported. A breakdown then says where civiccrm's time goes: in the facade (making the
import ids, the records and the opened events) against the backend
(``storage.bulk_upsert``, and the transactions' begin and commit), timed as (a) ran;
and ``KINDS[Case].to_record`` over the cases is timed on its own, split into cattrs
unstructuring, ``json.dumps`` and the column values.

With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

import civiccrm
from civiccrm._records import KINDS
from civiccrm._workload import WorkloadGenerator
from civiccrm.adapters import _sqlite
from civiccrm.models import Case, make_converter
from civiccrm.profile import load_profile, springfield_path

try:
    import sqlalchemy
    from sqlalchemy import Index, Integer, Text, create_engine, event, text
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
except ImportError:  # pragma: no cover
    raise SystemExit("the ORM peer needs SQLAlchemy 2: pip install -e '.[bench]'") from None

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEED = 2026
TABLE = "rec_case"
EVENT_TABLE = "rec_case_event"
# The columns of civiccrm's case table, written out by hand as an application would
# (checked against the real table at start-up, so that drift fails loudly).
CASE_COLUMNS = (
    "id",
    "version",
    "doc",
    "status",
    "reference",
    "case_type",
    "queue",
    "assignee",
    "requester_id",
    "priority",
    "channel",
    "parent_id",
    "duplicate_of",
    "reported_at",
    "opened_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "response_due_at",
    "due_at",
    "sla_check_at",
    "external_key",
)
EVENT_COLUMNS = ("id", "version", "doc", "case_id", "at", "kind", "import_key")
BATCH = 10_000  # bulk_import's default batch size
TARGET_RAW = 1.5  # civiccrm time / raw time at most
TARGET_ORM = 5.0  # ORM time / civiccrm time at least

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


# --------------------------------------------------------------------------------------
# Helpers


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes (after a full collection, so no run pays for the last one)."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pragmas(conn: Any) -> None:
    """civiccrm's settings for a database file: WAL, synchronous=NORMAL."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")


def table_signature(path: Path, table: str) -> tuple[Any, ...]:
    """Columns (name, type, not null, pk) and indexes (unique, columns, partial WHERE)."""
    conn = sqlite3.connect(path)
    try:
        cols = tuple(
            (r[1], r[2].upper(), r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")
        )
        indexes = []
        for _, name, unique, _origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            ix_cols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{name}")'))
            where = ""
            if partial:
                sql = conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
                ).fetchone()[0]
                where = sql[sql.upper().index(" WHERE ") + 7 :]
                where = "".join(where.replace('"', "").lower().split())
            indexes.append((bool(unique), ix_cols, where))
        return cols, tuple(sorted(indexes))
    finally:
        conn.close()


def civiccrm_ddl(path: Path, table: str) -> list[str]:
    """The CREATE TABLE and CREATE INDEX statements of ``table``, as civiccrm made them."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL"
            " ORDER BY type = 'index', name",
            (table,),
        ).fetchall()
    finally:
        conn.close()
    return [sql for _, sql in rows]


# --------------------------------------------------------------------------------------
# The workload


def generate(n: int) -> list[Case]:
    profile = load_profile(springfield_path())
    gen = WorkloadGenerator(profile, seed=SEED, now=NOW)
    parties = list(gen.citizens(max(1, n // 20)))
    return [attrs.evolve(gen.case(parties), external_ids={"bench": f"B{i}"}) for i in range(n)]


# --------------------------------------------------------------------------------------
# The hand-written peer: rows as a careful developer would build them


def _s(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _us(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _US


def hand_doc(c: Case) -> str:
    req, loc = c.requester, c.location
    return json.dumps(
        {
            "id": str(c.id),
            "case_type": c.case_type,
            "reference": c.reference,
            "title": c.title,
            "description": c.description,
            "status": c.status.value,
            "priority": c.priority.value,
            "channel": c.channel.value,
            "requester": None if req is None else {"type": req.type.value, "id": str(req.id)},
            "location": None
            if loc is None
            else {
                "address": loc.address,
                "latitude": loc.latitude,
                "longitude": loc.longitude,
                "address_id": loc.address_id,
            },
            "queue": c.queue,
            "assignee": _s(c.assignee),
            "tags": c.tags,
            "attributes": c.attributes,
            "parent_id": _s(c.parent_id),
            "duplicate_of": _s(c.duplicate_of),
            "reported_at": _iso(c.reported_at),
            "opened_at": _iso(c.opened_at),
            "first_response_at": _iso(c.first_response_at),
            "resolved_at": _iso(c.resolved_at),
            "closed_at": _iso(c.closed_at),
            "updated_at": _iso(c.updated_at),
            "response_due_at": _iso(c.response_due_at),
            "due_at": _iso(c.due_at),
            "sla_check_at": _iso(c.sla_check_at),
            "resolution_code": c.resolution_code,
            "satisfaction": c.satisfaction,
            "reopen_count": c.reopen_count,
            "external_ids": c.external_ids,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def hand_values(c: Case) -> tuple[Any, ...]:
    """The indexed column values (everything after id, version, doc)."""
    source, ext = next(iter(c.external_ids.items()))
    return (
        c.status.value,
        c.reference,
        c.case_type,
        c.queue,
        _s(c.assignee),
        None if c.requester is None else str(c.requester.id),
        c.priority.rank,
        c.channel.value,
        _s(c.parent_id),
        _s(c.duplicate_of),
        _us(c.reported_at),
        _us(c.opened_at),
        _us(c.updated_at),
        _us(c.resolved_at),
        _us(c.closed_at),
        _us(c.response_due_at),
        _us(c.due_at),
        _us(c.sla_check_at),
        f"{source}:{ext}",
    )


def hand_row(c: Case) -> tuple[Any, ...]:
    return (str(c.id), 1, hand_doc(c), *hand_values(c))


def hand_event_row(c: Case) -> tuple[Any, ...]:
    event_id = str(uuid.uuid4())
    source, ext = next(iter(c.external_ids.items()))
    key = f"opened:{source}:{ext}"
    at = c.opened_at or NOW
    doc = json.dumps(
        {
            "id": event_id,
            "case_id": str(c.id),
            "kind": "opened",
            "at": at.isoformat(),
            "actor": None,
            "from_status": None,
            "to_status": "new",
            "note": None,
            "data": {"import_key": key},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return (event_id, 1, doc, str(c.id), _us(at), "opened", key)


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def raw_db(path: Path, ddl: Sequence[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    pragmas(conn)
    for sql in ddl:
        conn.execute(sql)
    return conn


def run_raw(path: Path, ddl: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> float:
    conn = raw_db(path, ddl)
    insert = _insert_sql(TABLE, CASE_COLUMNS)

    def work() -> None:
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")

    try:
        return timed(work)
    finally:
        conn.close()


def run_raw_with_events(
    path: Path, ddl: Sequence[str], cases: Sequence[Case], batch: int | None = None
) -> float:
    """Cases and their opened events: one transaction, or one per ``batch`` cases."""
    conn = raw_db(path, ddl)
    insert = _insert_sql(TABLE, CASE_COLUMNS)
    insert_event = _insert_sql(EVENT_TABLE, EVENT_COLUMNS)
    step = batch or len(cases)

    def work() -> None:
        for i in range(0, len(cases), step):
            part = cases[i : i + step]
            conn.execute("BEGIN")
            conn.executemany(insert, (hand_row(c) for c in part))
            conn.executemany(insert_event, (hand_event_row(c) for c in part))
            conn.execute("COMMIT")

    try:
        return timed(work)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# The ORM peer


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    """civiccrm's case table as an application would map it (checked at start-up)."""

    __tablename__ = TABLE
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    doc: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    case_type: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    requester_id: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[int | None] = mapped_column(Integer)
    response_due_at: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[int | None] = mapped_column(Integer)
    sla_check_at: Mapped[int | None] = mapped_column(Integer)
    external_key: Mapped[str | None] = mapped_column(Text)

    # The indexes are declared by orm_indexes(), from civiccrm's table: civiccrm's
    # schema is still moving, and the peer must keep the very same indexes.


def orm_indexes(schema_db: Path) -> None:
    """Declare on CaseRow every index civiccrm's case table has (names included)."""
    table = CaseRow.__table__
    if table.indexes:  # type: ignore[attr-defined]
        return
    conn = sqlite3.connect(schema_db)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",
            (TABLE,),
        ).fetchall()
        for name, sql in rows:
            cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
            unique = sql.upper().startswith("CREATE UNIQUE")
            where = None
            if " WHERE " in sql.upper():
                where = text(sql[sql.upper().index(" WHERE ") + 7 :])
            Index(
                name,
                *[table.c[c] for c in cols],  # type: ignore[attr-defined]
                unique=unique,
                sqlite_where=where,
            )
    finally:
        conn.close()


def orm_object(c: Case) -> CaseRow:
    values = dict(zip(CASE_COLUMNS[3:], hand_values(c), strict=True))
    return CaseRow(id=str(c.id), version=1, doc=hand_doc(c), **values)


def orm_engine(path: Path) -> Any:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        pragmas(cur)
        cur.close()

    return engine


def run_orm(path: Path, cases: Sequence[Case]) -> float:
    engine = orm_engine(path)
    Base.metadata.create_all(engine)

    def work() -> None:
        with Session(engine) as session:
            session.add_all([orm_object(c) for c in cases])
            session.commit()

    try:
        return timed(work)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# civiccrm


def open_crm(path: Path) -> civiccrm.CRM:
    return civiccrm.open(f"sqlite:///{path}", profile=springfield_path(), load_entry_points=False)


def run_civiccrm(path: Path, cases: Sequence[Case], parts: list[dict[str, float]]) -> float:
    """
    Time ``crm.cases.bulk_import(cases)``. The backend calls it makes are timed too
    (``storage.bulk_upsert``, and ``storage.transaction``'s begin and commit), by
    wrapping them on this storage object: a few hundred clock reads in all.
    """
    crm = open_crm(path)
    storage = crm.storage
    spent = {"upsert": 0.0, "transaction": 0.0}
    clock = time.perf_counter
    upsert, transaction = storage.bulk_upsert, storage.transaction

    def timed_upsert(*args: Any, **kwargs: Any) -> Any:
        t = clock()
        try:
            return upsert(*args, **kwargs)
        finally:
            spent["upsert"] += clock() - t

    @contextmanager
    def timed_transaction() -> Iterator[None]:
        t = clock()
        cm = transaction()
        cm.__enter__()
        spent["transaction"] += clock() - t
        try:
            yield
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            t = clock()
            cm.__exit__(None, None, None)
            spent["transaction"] += clock() - t

    storage.bulk_upsert = timed_upsert  # type: ignore[method-assign]
    storage.transaction = timed_transaction  # type: ignore[method-assign]
    try:
        seconds = timed(lambda: crm.cases.bulk_import(cases))
        got = storage.count("case")[None]
        if got != len(cases):
            raise SystemExit(f"civiccrm stored {got} cases, not {len(cases)}")
        parts.append(
            {
                "total_s": seconds,
                "backend_upsert_s": spent["upsert"],
                "backend_begin_commit_s": spent["transaction"],
                "facade_s": seconds - spent["upsert"] - spent["transaction"],
            }
        )
        return seconds
    finally:
        crm.close()


def serialization(cases: Sequence[Case]) -> dict[str, float]:
    """``KINDS[Case].to_record`` over the cases, timed alone, and split in its parts."""
    profile = load_profile(springfield_path())
    conv = make_converter(default_region=profile.agency.default_region)
    kind = KINDS[Case]
    out = {"case_to_record_s": timed(lambda: [kind.to_record(c, conv) for c in cases])}
    # Split (one pass, each piece timed per case): cattrs unstructure, json.dumps, the
    # column values.
    split = [0.0, 0.0, 0.0]
    clock = time.perf_counter

    def split_to_record() -> None:
        for c in cases:
            t0 = clock()
            d = conv.unstructure(c, Case)
            t1 = clock()
            json.dumps(d, ensure_ascii=False, separators=(",", ":"))
            t2 = clock()
            kind.columns(c)
            t3 = clock()
            split[0] += t1 - t0
            split[1] += t2 - t1
            split[2] += t3 - t2

    timed(split_to_record)
    out["of_which_unstructure_s"] = split[0]
    out["of_which_json_dumps_s"] = split[1]
    out["of_which_columns_s"] = split[2]
    return out


# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases to insert")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (median)")
    parser.add_argument("--dir", help="where the temporary databases go (default: tmp)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    n, repeat = args.cases, max(1, args.repeat)

    backend = backend_hash()  # now: the file may change while this runs
    load_start = os.getloadavg()[0]
    log(f"generating {n:,} cases with WorkloadGenerator ...")
    start = time.perf_counter()
    cases = generate(n)
    log(f"  done in {time.perf_counter() - start:.1f} s")
    # The benchmark holds every case (and the precomputed rows) in memory, which a real
    # import would not: keep them out of the garbage collector's full passes, for
    # every side alike.
    precomputed = [hand_row(c) for c in cases]
    gc.collect()
    gc.freeze()

    work = Path(tempfile.mkdtemp(prefix="civiccrm-bench-", dir=args.dir))
    runs = iter(range(1_000_000))

    def fresh(name: str) -> Path:
        return work / f"{name}-{next(runs)}.db"

    try:
        # civiccrm's own DDL for the peers, and a check that the ORM table matches it.
        schema_db = fresh("schema")
        open_crm(schema_db).close()
        ddl = civiccrm_ddl(schema_db, TABLE)
        event_ddl = civiccrm_ddl(schema_db, EVENT_TABLE)
        want = table_signature(schema_db, TABLE)
        if tuple(c[0] for c in want[0]) != CASE_COLUMNS:
            raise SystemExit(f"civiccrm's case table changed: {want[0]}")
        orm_db = fresh("orm-schema")
        orm_indexes(schema_db)
        engine = orm_engine(orm_db)
        Base.metadata.create_all(engine)
        engine.dispose()
        if table_signature(orm_db, TABLE) != want:
            raise SystemExit(
                "the ORM table differs from civiccrm's:\n"
                f"  civiccrm: {want}\n  ORM:      {table_signature(orm_db, TABLE)}"
            )

        civ_parts: list[dict[str, float]] = []
        sides: dict[str, Callable[[], float]] = {
            "civiccrm": lambda: run_civiccrm(fresh("civiccrm"), cases, civ_parts),
            "raw": lambda: run_raw(fresh("raw"), ddl, (hand_row(c) for c in cases)),
            "raw_precomputed": lambda: run_raw(fresh("raw-pre"), ddl, precomputed),
            "raw_with_events": lambda: run_raw_with_events(
                fresh("raw-ev"), [*ddl, *event_ddl], cases
            ),
            "raw_with_events_batched": lambda: run_raw_with_events(
                fresh("raw-ev-b"), [*ddl, *event_ddl], cases, BATCH
            ),
            "orm": lambda: run_orm(fresh("orm"), cases),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(repeat):
            # Interleaved, so that a slow spell of the machine hits every side alike.
            for name, run in sides.items():
                times[name].append(run())
                log(f"  run {r + 1}/{repeat} {name:<24} {times[name][-1]:7.2f} s")
            for p in work.glob("*-[0-9]*.db*"):
                if "schema" not in p.name:
                    p.unlink()
        med = {name: statistics.median(t) for name, t in times.items()}
        # The breakdown of the civiccrm run of median time, and to_record on its own.
        parts = sorted(civ_parts, key=lambda p: p["total_s"])[len(civ_parts) // 2]
        parts |= serialization(cases)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load_end = os.getloadavg()[0]
    rate = {name: n / s for name, s in med.items()}
    civ_vs_raw = med["civiccrm"] / med["raw"]
    orm_vs_civ = med["orm"] / med["civiccrm"]
    total_s = parts["total_s"]

    def pct(x: float) -> str:
        return f"{100 * x / total_s:4.0f} %"

    title = f"bulk insert of {n:,} cases into SQLite"
    print(title)
    print("=" * len(title))
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{_cpu_count()} CPUs, median of {repeat} run(s), WAL + synchronous=NORMAL, "
        f"SQLAlchemy {sqlalchemy.__version__}"
    )
    print(f"civiccrm {civiccrm.__version__}, SQLite backend source sha256 {backend}")
    print(
        f"load average (1 min) {load_start:.2f} at start, {load_end:.2f} at end "
        "(other work on the machine shows here)"
    )
    print()
    labels = {
        "civiccrm": "(a)  civiccrm bulk_import",
        "raw": "(b)  raw sqlite3 executemany",
        "raw_precomputed": "(b2) raw, rows precomputed",
        "raw_with_events": "(b3) raw, cases + opened events",
        "raw_with_events_batched": f"(b4) as (b3), commit per {BATCH}",
        "orm": "(c)  SQLAlchemy ORM add_all",
    }
    for name, label in labels.items():
        print(f"{label:<34} {med[name]:8.2f} s  {rate[name]:>10,.0f} cases/s")
    print()
    ok_raw = civ_vs_raw <= TARGET_RAW
    ok_orm = orm_vs_civ >= TARGET_ORM
    print(
        f"civiccrm / raw       {civ_vs_raw:5.2f}x   target <= {TARGET_RAW}x: "
        f"{'met' if ok_raw else 'MISSED'}"
    )
    print(
        f"ORM / civiccrm       {orm_vs_civ:5.2f}x   target >= {TARGET_ORM}x: "
        f"{'met' if ok_orm else 'MISSED'}"
    )
    print(f"civiccrm / raw(b3)   {med['civiccrm'] / med['raw_with_events']:5.2f}x   (same rows)")
    print(
        f"civiccrm / raw(b4)   {med['civiccrm'] / med['raw_with_events_batched']:5.2f}x   "
        "(same rows, same transactions)"
    )
    print(
        f"raw(b4) / raw(b3)    {med['raw_with_events_batched'] / med['raw_with_events']:5.2f}x"
        f"   (the cost of a commit per {BATCH:,} cases)"
    )
    print(
        f"raw(b) / raw(b2)     {med['raw'] / med['raw_precomputed']:5.2f}x   (hand serialization)"
    )
    print()
    print("where civiccrm's time goes (the (a) run, its backend calls timed as it ran):")
    rows = [
        ("in the facade: ids, records, events", parts["facade_s"]),
        ("backend: storage.bulk_upsert (2 kinds)", parts["backend_upsert_s"]),
        ("backend: transaction begin + commit", parts["backend_begin_commit_s"]),
    ]
    for label, value in rows:
        print(f"  {label:<44}{value:7.2f} s {pct(value)}")
    print(f"  {'bulk_import in all':<44}{total_s:7.2f} s")
    print("KINDS[Case].to_record over the same cases, timed alone (part of the facade's time):")
    print(f"  {'to_record':<44}{parts['case_to_record_s']:7.2f} s {pct(parts['case_to_record_s'])}")
    for label, key in (
        ("of which cattrs unstructure", "of_which_unstructure_s"),
        ("of which json.dumps", "of_which_json_dumps_s"),
        ("of which the column values", "of_which_columns_s"),
    ):
        print(f"    {label:<42}{parts[key]:7.2f} s")
    print()

    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "bulk_insert",
                    "cases": n,
                    "repeat": repeat,
                    "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version,
                    "cpus": _cpu_count(),
                    "sqlalchemy": sqlalchemy.__version__,
                    "backend_sha256": backend,
                    "load_average": [round(load_start, 2), round(load_end, 2)],
                    "seconds": {k: round(v, 4) for k, v in med.items()},
                    "runs": {k: [round(x, 4) for x in v] for k, v in times.items()},
                    "cases_per_second": {k: round(v) for k, v in rate.items()},
                    "civiccrm_over_raw": round(civ_vs_raw, 3),
                    "orm_over_civiccrm": round(orm_vs_civ, 3),
                    "civiccrm_over_raw_with_events": round(
                        med["civiccrm"] / med["raw_with_events"], 3
                    ),
                    "civiccrm_over_raw_with_events_batched": round(
                        med["civiccrm"] / med["raw_with_events_batched"], 3
                    ),
                    "targets": {
                        "civiccrm_over_raw_max": TARGET_RAW,
                        "civiccrm_over_raw_met": ok_raw,
                        "orm_over_civiccrm_min": TARGET_ORM,
                        "orm_over_civiccrm_met": ok_orm,
                    },
                    "breakdown_seconds": {k: round(v, 4) for k, v in parts.items()},
                },
                sort_keys=True,
            )
        )
    return 0


def backend_hash() -> str:
    """The first 12 hex digits of the SQLite backend's source (as imported)."""
    return hashlib.sha256(Path(_sqlite.__file__).read_bytes()).hexdigest()[:12]


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
