"""
civiccrm on PostgreSQL against bare psycopg: a bulk import, and claims from a work queue.

    python benchmarks/postgres.py [--url URL] [--cases N] [--tasks T] [--batch B] [--json]

It needs a PostgreSQL server: ``--url postgresql://...`` or ``$CIVICCRM_TEST_POSTGRESQL_URL``.
``eval "$(bash .ci/postgres)"`` starts a throwaway one on 127.0.0.1 and sets the variable.
Every side works in a PostgreSQL schema of its own (``civiccrm_bench_*``), dropped at the end.

(a) Import of N cases (default 100,000; Springfield workload, a requester for most):

    civiccrm          ``crm.cases.bulk_import(cases)`` through the facade: each case
                      serialized, its personal data encrypted, its ``opened`` event made,
                      both rows upserted (COPY into a staging table, then INSERT ... ON
                      CONFLICT) with the audit entry, one transaction per 10,000 cases.
    bulk_upsert       ``storage.bulk_upsert("case", records)``: the adapter alone, on the
                      very rows the import stored (read back, outside the timer), 10,000
                      a call, into a fresh civiccrm schema (its indexes included).
    raw COPY          psycopg ``COPY`` of the same rows into a plain table (the same
                      columns, a primary key, no other index), one transaction.
    raw COPY+indexes  the same into a table with civiccrm's indexes (informational).
    raw executemany   psycopg ``executemany`` INSERT of the same rows into a plain table.

    Target: civiccrm within 2x of raw COPY (rows per second, cases only).

(b) Claims per second from a queue of T tasks (default 20,000), B a claim (default 100),
    with 1, 2 and 4 worker processes, until the queue is empty:

    storage           ``storage.claim(...)`` then ``storage.complete(...)`` per batch.
    crm.workers       ``crm.workers.run(...)`` with a no-op handler: claim, then the
                      batch's transaction (handler, complete, the audit writer's check).
    bare SQL          one transaction per batch: ``SELECT ... ORDER BY id LIMIT B FOR
                      UPDATE SKIP LOCKED``, ``UPDATE ... SET done``, ``COMMIT``, on a
                      plain table with a partial index on pending rows.

    Target: civiccrm (storage, and crm.workers) within 2x of bare SQL, at each count.

With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("benchmarks/postgres.py needs psycopg: pip install 'civiccrm[postgresql]'")

import civiccrm
from civiccrm import LocalKeyProvider
from civiccrm._workload import WorkloadGenerator
from civiccrm.adapters._base import Record
from civiccrm.adapters._postgresql import PostgreSQLStorage
from civiccrm.profile import load_profile, springfield_path

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEED = 20260301
TARGET = 2.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def new_schema(prefix: str) -> str:
    return f"civiccrm_bench_{prefix}_{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------------------
# (a) import


def generate(n: int) -> tuple[list[Any], list[Any]]:
    profile = load_profile(springfield_path())
    gen = WorkloadGenerator(profile, seed=SEED, now=NOW)
    parties = [
        attrs.evolve(p, external_ids={"bench": f"P{i}"})
        for i, p in enumerate(gen.citizens(max(1, n // 20)))
    ]
    cases = [attrs.evolve(gen.case(parties), external_ids={"bench": f"B{i}"}) for i in range(n)]
    return parties, cases


def run_civiccrm_import(url: str, parties: list[Any], cases: list[Any]) -> float:
    key = LocalKeyProvider.generate()
    with civiccrm.open(url, profile=springfield_path(), key=key) as crm:
        crm.citizens.bulk_import(parties)
        started = time.perf_counter()
        crm.cases.bulk_import(cases)
        return time.perf_counter() - started


def stored_rows(url: str, schema: str) -> tuple[list[str], list[tuple[Any, ...]], list[str]]:
    """The columns, rows and index definitions of civiccrm's case table."""
    with psycopg.connect(url, autocommit=True) as conn:
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = 'rec_case' ORDER BY ordinal_position",
                (schema,),
            )
        ]
        names = ", ".join(f'"{c}"' for c in cols)
        rows = conn.execute(f'SELECT {names} FROM "{schema}".rec_case').fetchall()
        indexes = [
            r[0]
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'rec_case'"
                " AND indexname NOT LIKE '%%pkey'",
                (schema,),
            )
        ]
    return cols, rows, indexes


def plain_table(conn: Any, schema: str, source: str, indexes: Sequence[str] = ()) -> None:
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'CREATE TABLE "{schema}".raw_case (LIKE "{source}".rec_case INCLUDING DEFAULTS)')
    conn.execute(f'ALTER TABLE "{schema}".raw_case ADD PRIMARY KEY (id)')
    for i, definition in enumerate(indexes):
        on = definition.split(" ON ", 1)[1].replace(f"{source}.rec_case", f'"{schema}".raw_case')
        on = on.replace(f'"{source}".rec_case', f'"{schema}".raw_case')
        unique = "UNIQUE " if definition.startswith("CREATE UNIQUE") else ""
        conn.execute(f"CREATE {unique}INDEX raw_idx_{i} ON {on}")


def run_raw_copy(
    url: str, source: str, cols: list[str], rows: list[tuple[Any, ...]], indexes: Sequence[str]
) -> float:
    schema = new_schema("copy")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            plain_table(conn, schema, source, indexes)
            names = ", ".join(f'"{c}"' for c in cols)
            started = time.perf_counter()
            sql = f'COPY "{schema}".raw_case ({names}) FROM STDIN'
            with conn.transaction(), conn.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return time.perf_counter() - started
    finally:
        drop(url, schema)


def run_raw_executemany(
    url: str, source: str, cols: list[str], rows: list[tuple[Any, ...]]
) -> float:
    schema = new_schema("many")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            plain_table(conn, schema, source)
            names = ", ".join(f'"{c}"' for c in cols)
            marks = ", ".join(["%s"] * len(cols))
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(f'INSERT INTO "{schema}".raw_case ({names}) VALUES ({marks})', rows)
            return time.perf_counter() - started
    finally:
        drop(url, schema)


def run_bulk_upsert(url: str, cols: list[str], rows: list[tuple[Any, ...]]) -> float:
    from civiccrm._records import SCHEMA

    schema = new_schema("upsert")
    try:
        with PostgreSQLStorage(with_schema(url, schema)) as storage:
            storage.migrate(SCHEMA)
            i_id, i_version, i_doc = cols.index("id"), cols.index("version"), cols.index("doc")
            others = [(i, c) for i, c in enumerate(cols) if c not in ("id", "version", "doc")]
            records = [
                Record("case", r[i_id], r[i_version], r[i_doc], {c: r[i] for i, c in others})
                for r in rows
            ]
            started = time.perf_counter()
            for start in range(0, len(records), 10_000):
                storage.bulk_upsert("case", records[start : start + 10_000])
            return time.perf_counter() - started
    finally:
        drop(url, schema)


# --------------------------------------------------------------------------------------
# (b) claims


def _noop(_crm: Any, _task: Any) -> None:
    return None


def _worker(side: str, url: str, batch: int, ready: Any, go: Any, results: Any, index: int) -> None:
    """One worker process: claim batches until the queue is empty; report count and end."""
    done = 0
    if side == "bare":
        base, schema = url.rsplit("schema=", 1)
        conn = psycopg.connect(base.rstrip("?&"), autocommit=True)
        conn.execute(f'SET search_path TO "{schema}"')
        ready.wait()
        go.wait()
        while True:
            with conn.transaction():
                ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM bare_tasks WHERE NOT done ORDER BY id LIMIT %s"
                        " FOR UPDATE SKIP LOCKED",
                        (batch,),
                    )
                ]
                if ids:
                    conn.execute("UPDATE bare_tasks SET done = TRUE WHERE id = ANY(%s)", (ids,))
            if not ids:
                break
            done += len(ids)
        results.put((index, done, time.perf_counter()))
        conn.close()
        return
    if side == "storage":
        storage = PostgreSQLStorage(url)
        worker = f"w{index}"
        ready.wait()
        go.wait()
        now = time.time_ns() // 1000
        while True:
            tasks = storage.claim(
                "bench", worker=worker, limit=batch, lease_us=600_000_000, now_us=now
            )
            if not tasks:
                break
            done += storage.complete("bench", [t.key for t in tasks], worker=worker)
        results.put((index, done, time.perf_counter()))
        storage.close()
        return
    with civiccrm.open(url, profile=springfield_path(), key=_bench_key()) as crm:
        crm.workers.register("bench", _noop)
        ready.wait()
        go.wait()
        report = crm.workers.run(topics=["bench"], batch=batch, worker=f"w{index}")
        results.put((index, report.processed, time.perf_counter()))


def run_claims(side: str, url: str, tasks: int, workers: int, batch: int) -> float:
    """Claims per second: ``tasks`` claimed and completed by ``workers`` processes."""
    schema = new_schema(side)
    scoped = with_schema(url, schema)
    try:
        keys = [str(uuid.uuid4()) for _ in range(tasks)]
        if side == "bare":
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
                conn.execute(
                    f'CREATE TABLE "{schema}".bare_tasks (id BIGSERIAL PRIMARY KEY,'
                    " key TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '',"
                    " done BOOLEAN NOT NULL DEFAULT FALSE)"
                )
                conn.execute(f'CREATE INDEX ON "{schema}".bare_tasks (id) WHERE NOT done')
                with (
                    conn.cursor() as cur,
                    cur.copy(f'COPY "{schema}".bare_tasks (key) FROM STDIN') as copy,
                ):
                    for k in keys:
                        copy.write_row((k,))
        else:
            with civiccrm.open(scoped, profile=springfield_path(), key=_bench_key()) as crm:
                crm.workers.register("bench", _noop)
                crm.workers.enqueue("bench", keys)
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Barrier(workers + 1)
        go = ctx.Barrier(workers + 1)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(side, scoped, batch, ready, go, results, i))
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        ready.wait()
        started = time.perf_counter()
        go.wait()
        got = [results.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        total = sum(g[1] for g in got)
        if total != tasks:
            raise SystemExit(f"{side} x{workers}: {total} tasks claimed, expected {tasks}")
        return tasks / (max(g[2] for g in got) - started)
    finally:
        drop(url, schema)


def _bench_key() -> LocalKeyProvider:
    return LocalKeyProvider.from_env("CIVICCRM_BENCH_KEY")


# --------------------------------------------------------------------------------------


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    values = sorted(fn() for _ in range(repeat))
    return values[len(values) // 2]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL"))
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-claims", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.url:
        parser.exit(
            2,
            "benchmarks/postgres.py: give --url postgresql://... or set "
            'CIVICCRM_TEST_POSTGRESQL_URL (eval "$(bash .ci/postgres)" starts a server)\n',
        )
    url: str = args.url
    os.environ["CIVICCRM_BENCH_KEY"] = _b64_key()
    with psycopg.connect(url, autocommit=True) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    figures: dict[str, Any] = {
        "postgresql": version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cases": args.cases,
        "tasks": args.tasks,
        "batch": args.batch,
    }
    lines: list[str] = []
    targets: list[tuple[str, bool]] = []
    if not args.skip_import:
        log(f"generating {args.cases:,} cases ...")
        parties, cases = generate(args.cases)
        source = new_schema("import")
        try:
            log("civiccrm bulk_import ...")
            t_civ = run_civiccrm_import(with_schema(url, source), parties, cases)
            cols, rows, indexes = stored_rows(url, source)
            log("storage.bulk_upsert ...")
            t_ups = run_bulk_upsert(url, cols, rows)
            log("raw COPY ...")
            t_copy = run_raw_copy(url, source, cols, rows, ())
            t_copy_ix = run_raw_copy(url, source, cols, rows, indexes)
            log("raw executemany ...")
            t_many = run_raw_executemany(url, source, cols, rows)
        finally:
            drop(url, source)
        n = len(rows)
        rate = {
            "civiccrm": n / t_civ,
            "bulk_upsert": n / t_ups,
            "raw_copy": n / t_copy,
            "raw_copy_indexes": n / t_copy_ix,
            "raw_executemany": n / t_many,
        }
        figures["import"] = {k: round(v) for k, v in rate.items()}
        ratio = t_civ / t_copy
        figures["import_ratio_civiccrm_to_copy"] = round(ratio, 2)
        figures["import_ratio_bulk_upsert_to_copy"] = round(t_ups / t_copy, 2)
        lines.append(f"(a) import of {n:,} cases                 seconds     cases/s   vs COPY")
        for label, t in (
            ("civiccrm crm.cases.bulk_import", t_civ),
            ("civiccrm storage.bulk_upsert", t_ups),
            ("raw psycopg COPY (plain table)", t_copy),
            ("raw psycopg COPY (civiccrm's indexes)", t_copy_ix),
            ("raw psycopg executemany (plain table)", t_many),
        ):
            lines.append(f"  {label:<38} {t:8.2f} {n / t:11,.0f} {t / t_copy:8.2f}x")
        targets.append((f"import within {TARGET:g}x of raw COPY: {ratio:.2f}x", ratio <= TARGET))
    if not args.skip_claims:
        counts = [int(c) for c in args.workers.split(",")]
        claims: dict[str, dict[str, float]] = {}
        for side in ("bare", "storage", "workers"):
            claims[side] = {}
            for w in counts:
                log(f"claims: {side} x{w} ...")
                claims[side][str(w)] = run_claims(side, url, args.tasks, w, args.batch)
        figures["claims_per_s"] = {
            s: {w: round(v) for w, v in d.items()} for s, d in claims.items()
        }
        lines.append("")
        lines.append(
            f"(b) claims per second ({args.tasks:,} tasks, {args.batch} a claim)"
            "   bare SQL     storage   (ratio)  crm.workers   (ratio)"
        )
        for w in counts:
            b, s, k = (claims[x][str(w)] for x in ("bare", "storage", "workers"))
            lines.append(
                f"  {w} worker{'s' if w > 1 else ' '}                                  "
                f"{b:10,.0f} {s:11,.0f} {b / s:8.2f}x {k:11,.0f} {b / k:8.2f}x"
            )
            targets.append(
                (
                    f"storage claims within {TARGET:g}x of bare SQL, {w} workers: {b / s:.2f}x",
                    b / s <= TARGET,
                )
            )
            targets.append(
                (
                    f"crm.workers within {TARGET:g}x of bare SQL, {w} workers: {b / k:.2f}x",
                    b / k <= TARGET,
                )
            )
    print(f"PostgreSQL {version}, Python {figures['python']}, {figures['cpus']} CPUs")
    print("\n".join(lines))
    print("\ntargets")
    for text, met in targets:
        print(f"  {text:<64} {'met' if met else 'MISSED'}")
    figures["targets_met"] = all(m for _, m in targets)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


def _b64_key() -> str:
    import base64

    return base64.b64encode(os.urandom(32)).decode("ascii")


if __name__ == "__main__":
    sys.exit(main())
