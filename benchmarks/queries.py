"""
Queries on a million cases in SQLite: civiccrm against hand-written SQL, and the
memory of streaming every case through the facade.

    python benchmarks/queries.py [--cases N] [--reuse PATH] [--json]

Builds a SQLite database of N cases (default 1,000,000) through
``crm.cases.bulk_import`` (in batches of ``--batch-size``, default 10,000, with a
progress line on stderr), or reuses the one at ``--reuse PATH`` (built there first if
it does not exist). About 30% of the cases are open (new, assigned, in progress, pending) with ``due_at`` spread
over 20 days either side of "now" (so about half of them are overdue); the rest are
resolved, closed or cancelled. So that a million cases build in minutes, the case
documents come from a pool of 5,000 cases made by civiccrm's WorkloadGenerator
(Springfield profile), each given its own reference, times, status, assignee and
``external_ids={"bench": "B<n>"}``; cases are imported in the order they were opened,
as a migration from a legacy system would.

Then, on that database file and on one thread, each query is timed side by side,
civiccrm and hand-written SQL alternating, many times; medians and their ratio:

- the 50 most overdue open cases: ``crm.cases.overdue(now=..., limit=50)`` (50
  CaseSummary objects, read from the case's indexed columns) against
  ``SELECT id, version, <the same columns> ... INDEXED BY <civiccrm's partial due
  index> WHERE status IN (<open>) AND due_at < ? ORDER BY due_at LIMIT 50``;
- open cases per queue: ``crm.cases.count_open_by_queue()`` against
  ``SELECT queue, count(*) ... INDEXED BY <civiccrm's partial queue index>
  WHERE status IN (<open>) GROUP BY queue``;
- a case by its external id: ``crm.cases.find_by_external_id("bench", ...)`` against
  ``SELECT ... WHERE external_key = ?`` (random keys, the same ones for both).

The hand-written SQL names the partial index, the best plan there is; the printed
query plans show civiccrm's are the same. The hand-written side returns rows of
strings and integers; civiccrm returns typed objects (UUIDs, enums, aware datetimes),
so these are given too: civiccrm's storage layer alone (the same SQL, no models); the
hand-written SQL plus the same typed values decoded by hand (overdue) or plus
``json.loads`` of the document (by external id); and the 50 overdue cases as whole
Case models against the hand-written SQL of every column plus ``json.loads``. Then
(unless ``--no-analyze``) civiccrm's two queries are timed again after ``ANALYZE``;
the statistics are dropped again afterwards.

Last, a child process (this script with ``--stream-child``, started before the
database is built so that nothing of the build counts in its peak: Linux carries a
parent's peak RSS into the ru_maxrss of a process it starts) streams every case
through the facade, ``crm._stream(Case, Query("case"))``, counting and keeping none,
for its speed and peak RSS (``ru_maxrss``, and the kernel's ``VmHWM``); then streams
the first ``--traced`` cases (default 50,000; tracemalloc makes it ~8x slower) again
under ``tracemalloc`` for the peak of Python's own allocations.

With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

import civiccrm
from civiccrm._records import KINDS, OPEN_STATUSES, SUMMARY_COLUMNS, micros
from civiccrm._workload import WorkloadGenerator
from civiccrm.adapters import _sqlite
from civiccrm.adapters._base import Filter, Order, Query
from civiccrm.models import Case, CaseStatus, Channel, Priority
from civiccrm.profile import load_profile, springfield_path

BACKEND_SHA256 = hashlib.sha256(Path(_sqlite.__file__).read_bytes()).hexdigest()[:12]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEED = 2026
SOURCE = "bench"
TABLE = "rec_case"
TEMPLATES = 5_000
YEARS = 2
TARGET_RATIO = 2.0  # civiccrm median / hand-written median at most
TARGET_STREAM_MB = 200.0
DUE_INDEX = "rec_case__i__case_open_due"
QUEUE_INDEX = "rec_case__i__case_open_queue"
OPEN_SQL = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"

_OPEN = (
    (CaseStatus.NEW, 40),
    (CaseStatus.ASSIGNED, 20),
    (CaseStatus.IN_PROGRESS, 30),
    (CaseStatus.PENDING, 10),
)
_DONE = ((CaseStatus.CLOSED, 80), (CaseStatus.RESOLVED, 10), (CaseStatus.CANCELLED, 10))


def log(msg: str, *, end: str = "\n") -> None:
    print(msg, file=sys.stderr, end=end, flush=True)


def mb(kib: float) -> float:
    return kib / 1024


def vm_hwm_kib() -> int | None:
    """The kernel's high-water mark of this process's RSS (Linux), in KiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def vm_rss_kib() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def open_crm(path: Path) -> civiccrm.CRM:
    return civiccrm.open(f"sqlite:///{path}", profile=springfield_path(), load_entry_points=False)


# --------------------------------------------------------------------------------------
# Building the database


def cases(n: int) -> Iterator[Case]:
    """``n`` cases in the order they were opened, over the last YEARS years."""
    profile = load_profile(springfield_path())
    gen = WorkloadGenerator(profile, seed=SEED, now=NOW)
    parties = list(gen.citizens(5_000))
    pool = [gen.case(parties) for _ in range(min(n, TEMPLATES))]
    agents = [uuid.UUID(int=random.Random(SEED + i).getrandbits(128)) for i in range(60)]
    rng = random.Random(SEED)
    span = YEARS * 365 * 86400
    open_s, open_w = zip(*_OPEN, strict=True)
    done_s, done_w = zip(*_DONE, strict=True)
    for i in range(n):
        template = pool[rng.randrange(len(pool))]
        opened = NOW - timedelta(seconds=span * (1 - (i + rng.random()) / n))
        reported = opened - timedelta(minutes=rng.uniform(0, 120))
        changes: dict[str, Any] = {
            "reference": f"SR-{i:07d}",
            "reported_at": reported,
            "opened_at": opened,
            "external_ids": {SOURCE: f"B{i}"},
        }
        if rng.random() < 0.30:
            status = rng.choices(open_s, open_w)[0]
            due = NOW + timedelta(hours=rng.uniform(-20 * 24, 20 * 24))
            changes |= {
                "status": status,
                "due_at": due,
                "response_due_at": due - timedelta(days=2),
                "updated_at": min(NOW, opened + timedelta(days=rng.uniform(0, 5))),
            }
            if status is not CaseStatus.NEW:
                changes["assignee"] = rng.choice(agents)
        else:
            status = rng.choices(done_s, done_w)[0]
            finished = min(NOW, opened + timedelta(hours=rng.uniform(1, 30 * 24)))
            changes |= {
                "status": status,
                "due_at": opened + timedelta(days=rng.choice((3, 5, 10, 30))),
                "updated_at": finished,
                "assignee": rng.choice(agents),
            }
            if status is not CaseStatus.CANCELLED:
                changes["resolved_at"] = finished
                changes["first_response_at"] = opened + (finished - opened) / 3
            if status is not CaseStatus.RESOLVED:
                changes["closed_at"] = finished
        yield attrs.evolve(template, **changes)


def build(path: Path, n: int, batch_size: int) -> float:
    """Import ``n`` cases into a new database at ``path``; returns the seconds taken."""
    start = time.perf_counter()
    tty = sys.stderr.isatty()
    step = max(1, n // 20)

    def progress(it: Iterator[Case]) -> Iterator[Case]:
        for i, case in enumerate(it, 1):
            yield case
            if i % step == 0 or i == n:
                elapsed = time.perf_counter() - start
                rate = i / elapsed
                left = (n - i) / rate if rate else 0
                log(
                    f"  building: {i:>10,} / {n:,} cases  {rate:8,.0f}/s  ~{left:4.0f} s left",
                    end="\r" if tty and i < n else "\n",
                )

    crm = open_crm(path)
    try:
        result = crm.cases.bulk_import(progress(cases(n)), batch_size=batch_size)
    finally:
        crm.close()
    if result.inserted != n:
        raise SystemExit(f"the import inserted {result.inserted} cases, not {n}")
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------
# Timing queries


_STATUS = {s.value: s for s in CaseStatus}
_CHANNEL = {c.value: c for c in Channel}
_PRIORITY = {p.rank: p for p in Priority}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decode_summaries(rows: list[Any]) -> list[tuple[Any, ...]]:
    """
    What a careful hand-written program does with the overdue rows to use them: the
    same typed values as a CaseSummary (UUIDs, enums, aware datetimes), in tuples.
    """

    def time(v: int | None) -> datetime | None:
        return None if v is None else _EPOCH + timedelta(microseconds=v)

    return [
        (
            uuid.UUID(r[0]),
            r[1],
            r[2],
            r[3],
            _STATUS[r[4]],
            _PRIORITY[r[5]],
            _CHANNEL[r[6]],
            r[7],
            None if r[8] is None else uuid.UUID(r[8]),
            time(r[9]),
            time(r[10]),
            time(r[11]),
            time(r[12]),
        )
        for r in rows
    ]


def median_ms(samples: Sequence[int]) -> float:
    return statistics.median(samples) / 1e6


def side_by_side(
    civ: Callable[[int], object],
    raw: Callable[[int], object],
    reps: int,
    *,
    budget_s: float = 12.0,
    min_reps: int = 15,
    warmup: int = 3,
) -> tuple[list[int], list[int]]:
    """
    Per-call nanoseconds of both, alternating which goes first: ``reps`` pairs, or
    fewer (at least ``min_reps``) once ``budget_s`` seconds have gone.
    """
    for i in range(warmup):
        civ(i)
        raw(i)
    a: list[int] = []
    b: list[int] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    for i in range(reps):
        pair = ((civ, a), (raw, b)) if i % 2 == 0 else ((raw, b), (civ, a))
        for fn, out in pair:
            t = clock()
            fn(i)
            out.append(clock() - t)
        if i + 1 >= min_reps and clock() > deadline:
            break
    return a, b


def solo(
    fn: Callable[[int], object],
    reps: int,
    *,
    budget_s: float = 6.0,
    min_reps: int = 15,
    warmup: int = 3,
) -> list[int]:
    """Per-call nanoseconds of ``fn``: ``reps`` calls, or fewer once the budget is gone."""
    for i in range(warmup):
        fn(i)
    out = []
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    for i in range(reps):
        t = clock()
        fn(i)
        out.append(clock() - t)
        if i + 1 >= min_reps and clock() > deadline:
            break
    return out


def plan(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> str:
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "; ".join(r[-1] for r in rows)


def civiccrm_sql(crm: civiccrm.CRM, fn: Callable[[], object]) -> list[str]:
    """The SQL civiccrm's SQLite backend runs for ``fn`` (its thread's connection)."""
    try:
        conn = crm.storage._state().conn  # type: ignore[attr-defined]
    except AttributeError:
        return []
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        fn()
    finally:
        conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


# --------------------------------------------------------------------------------------
# Streaming, in a child process


def stream_child(traced: int) -> int:
    """Wait for a database path on stdin, stream the cases, print a JSON line."""
    line = sys.stdin.readline().strip()
    if not line:
        return 0
    crm = open_crm(Path(line))
    out: dict[str, Any] = {"traced_cases": traced}
    try:
        gc.collect()
        out["rss_before_mb"] = mb(vm_rss_kib() or 0)
        out["ru_maxrss_before_mb"] = mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        rss_every: list[float] = []
        start = time.perf_counter()
        n = 0
        for _ in crm._stream(Case, Query("case")):
            n += 1
            if n % 100_000 == 0:
                rss_every.append(round(mb(vm_rss_kib() or 0), 1))
        out["seconds"] = time.perf_counter() - start
        out["streamed"] = n
        out["rss_every_100k_mb"] = rss_every
        out["ru_maxrss_mb"] = mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        hwm = vm_hwm_kib()
        out["vmhwm_mb"] = None if hwm is None else mb(hwm)
        # Once more under tracemalloc (about 8x slower), for the peak of Python's own
        # allocations, over the first ``traced`` cases.
        gc.collect()
        tracemalloc.start()
        current: list[float] = []
        start = time.perf_counter()
        n = 0
        for _ in crm._stream(Case, Query("case")):
            n += 1
            if n % 20_000 == 0:
                current.append(round(tracemalloc.get_traced_memory()[0] / 2**20, 2))
            if n >= traced:
                break
        out["traced_seconds"] = time.perf_counter() - start
        out["traced_streamed"] = n
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        out["tracemalloc_current_every_20k_mb"] = current
        tracemalloc.stop()
    finally:
        crm.close()
    print(json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases in the database")
    parser.add_argument("--reuse", metavar="PATH", help="database to reuse (built if missing)")
    parser.add_argument("--dir", help="where a temporary database goes (default: tmp)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=10_000,
        help="bulk_import batch size for the build (default 10,000: faster than its 1,000)",
    )
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming part")
    parser.add_argument(
        "--traced",
        type=int,
        default=50_000,
        help="cases streamed under tracemalloc (it is slow; default 50,000)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="skip timing civiccrm again with planner statistics (ANALYZE, undone after)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--stream-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stream_child:
        return stream_child(args.traced)
    n = args.cases

    # The streaming child starts now, while this process is small: Linux carries a
    # parent's peak RSS over into ru_maxrss of a process it starts.
    child = None
    if not args.no_stream:
        child = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--stream-child",
                f"--traced={args.traced}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    tmp: Path | None = None
    figures: dict[str, Any] = {
        "benchmark": "queries",
        "load_average": [os.getloadavg()[0]],
        # The SQLite backend's source as imported (it may change while this runs).
        "backend_sha256": BACKEND_SHA256,
    }
    try:
        if args.reuse:
            path = Path(args.reuse).resolve()
        else:
            tmp = Path(tempfile.mkdtemp(prefix="civiccrm-bench-", dir=args.dir))
            path = tmp / "cases.db"
        if path.exists():
            log(f"reusing {path}")
            figures["build_seconds"] = None
        else:
            log(f"building {n:,} cases into {path} ...")
            figures["build_seconds"] = build(path, n, args.batch_size)
            figures["build_batch_size"] = args.batch_size
            log(f"  built in {figures['build_seconds']:.0f} s")
        figures |= run_queries(path, analyze=not args.no_analyze)
        if child is not None:
            log("streaming every case in a child process ...")
            out, _ = child.communicate(f"{path}\n")
            child = None
            figures["stream"] = json.loads(out.strip().splitlines()[-1])
    finally:
        if child is not None:
            child.kill()
            child.wait()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    figures["load_average"].append(os.getloadavg()[0])
    report(figures)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


def run_queries(path: Path, *, analyze: bool) -> dict[str, Any]:
    crm = open_crm(path)
    raw = sqlite3.connect(path)
    try:
        columns = [r[1] for r in raw.execute(f"PRAGMA table_info({TABLE})")]
        indexes = {r[1] for r in raw.execute(f"PRAGMA index_list({TABLE})")}
        for ix in (DUE_INDEX, QUEUE_INDEX):
            if ix not in indexes:
                raise SystemExit(f"civiccrm no longer makes the partial index {ix}")
        select = f"SELECT {', '.join(columns)} FROM {TABLE}"
        total = crm.storage.count("case")[None]
        n_open = raw.execute(f"SELECT count(*) FROM {TABLE} WHERE {OPEN_SQL}").fetchone()[0]
        now_us = micros(NOW)
        n_overdue = raw.execute(
            f"SELECT count(*) FROM {TABLE} WHERE {OPEN_SQL} AND due_at < ?", (now_us,)
        ).fetchone()[0]
        figures: dict[str, Any] = {
            "cases": total,
            "open": n_open,
            "overdue": n_overdue,
            "db_mb": round(
                sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 1
            ),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "civiccrm": civiccrm.__version__,
        }
        rng = random.Random(SEED)
        keys = [f"{SOURCE}:B{rng.randrange(total)}" for _ in range(5_000)]
        log(f"{total:,} cases, {n_open:,} open, {n_overdue:,} overdue; timing queries ...")

        # The best hand-written SQL: the partial indexes named, so that SQLite cannot
        # pick another one (it does, without statistics: see the plans).
        # The overdue list is a list of summaries: the hand-written SQL reads the very
        # columns civiccrm's CaseSummary is made of.
        summary_select = f"SELECT id, version, {', '.join(SUMMARY_COLUMNS)} FROM {TABLE}"
        overdue_sql = (
            f"{summary_select} INDEXED BY {DUE_INDEX} WHERE {OPEN_SQL} AND due_at < ?"
            " ORDER BY due_at LIMIT 50"
        )
        overdue_docs_sql = (
            f"{select} INDEXED BY {DUE_INDEX} WHERE {OPEN_SQL} AND due_at < ?"
            " ORDER BY due_at LIMIT 50"
        )
        count_sql = (
            f"SELECT queue, count(*) FROM {TABLE} INDEXED BY {QUEUE_INDEX}"
            f" WHERE {OPEN_SQL} GROUP BY queue"
        )
        key_sql = f"{select} WHERE external_key = ?"
        overdue_query = Query(
            "case",
            (Filter("status", "in", OPEN_STATUSES), Filter("due_at", "lt", now_us)),
            Order("due_at"),
            50,
            columns=SUMMARY_COLUMNS,
        )
        open_filter = (Filter("status", "in", OPEN_STATUSES),)

        def civ_overdue(i: int = 0) -> object:
            return crm.cases.overdue(now=NOW, limit=50)

        def civ_count(i: int = 0) -> object:
            return crm.cases.count_open_by_queue()

        def civ_key(i: int = 0) -> object:
            return crm.cases.find_by_external_id(SOURCE, keys[i % len(keys)].split(":", 1)[1])

        # The same answers on both sides.
        overdue_ids = [str(c.id) for c in crm.cases.overdue(now=NOW, limit=50)]
        if overdue_ids != [r[0] for r in raw.execute(overdue_sql, (now_us,))]:
            raise SystemExit("civiccrm and the SQL disagree on the most overdue cases")
        if crm.cases.count_open_by_queue() != dict(raw.execute(count_sql).fetchall()):
            raise SystemExit("civiccrm and the SQL disagree on the open counts")
        found = civ_key(0)
        row = raw.execute(key_sql, (keys[0],)).fetchone()
        if found is None or row is None or str(found.id) != row[0]:  # type: ignore[attr-defined]
            raise SystemExit("civiccrm and the SQL disagree on a case by external id")

        def plans() -> dict[str, dict[str, Any]]:
            return {
                "overdue": {
                    "civiccrm": [plan(raw, s) for s in civiccrm_sql(crm, civ_overdue)],
                    "sql": plan(raw, overdue_sql, (now_us,)),
                },
                "open_by_queue": {
                    "civiccrm": [plan(raw, s) for s in civiccrm_sql(crm, civ_count)],
                    "sql": plan(raw, count_sql),
                },
                "by_external_id": {
                    "civiccrm": [plan(raw, s) for s in civiccrm_sql(crm, civ_key)],
                    "sql": plan(raw, key_sql, (keys[0],)),
                },
            }

        figures["plans"] = plans()
        results: dict[str, dict[str, Any]] = {}

        def measure(
            name: str,
            civ: Callable[[int], object],
            hand: Callable[[int], object],
            layer: Callable[[int], object],
            reps: int,
            hand_docs: Callable[[int], object] | None = None,
        ) -> None:
            gc.collect()
            a, b = side_by_side(civ, hand, reps)
            c = solo(layer, reps)
            results[name] = {
                "reps": len(a),
                "civiccrm_ms": median_ms(a),
                "sql_ms": median_ms(b),
                "storage_layer_ms": median_ms(c),
                "ratio": median_ms(a) / median_ms(b),
                "hand_decoded_ms": None if hand_docs is None else median_ms(solo(hand_docs, reps)),
            }
            r = results[name]
            log(f"  {name:<16} civiccrm {r['civiccrm_ms']:8.3f} ms   sql {r['sql_ms']:8.3f} ms")

        measure(
            "overdue",
            civ_overdue,
            lambda i: raw.execute(overdue_sql, (now_us,)).fetchall(),
            lambda i: crm.storage.query(overdue_query),
            500,
            lambda i: decode_summaries(raw.execute(overdue_sql, (now_us,)).fetchall()),
        )
        measure(
            "open_by_queue",
            civ_count,
            lambda i: raw.execute(count_sql).fetchall(),
            lambda i: crm.storage.count("case", open_filter, group_by="queue"),
            200,
        )
        measure(
            "by_external_id",
            civ_key,
            lambda i: raw.execute(key_sql, (keys[i % len(keys)],)).fetchone(),
            lambda i: crm.storage.get_by_key("case", keys[i % len(keys)]),
            5_000,
            lambda i: json.loads(raw.execute(key_sql, (keys[i % len(keys)],)).fetchone()[2]),
        )
        figures["queries"] = results
        # Whole cases instead of summaries: the 50 overdue cases as Case models, against
        # the hand-written SQL of every column and json.loads of each document.
        whole_query = attrs.evolve(overdue_query, columns=None)
        records = crm.storage.query(whole_query).records
        conv = crm.converter
        kind = KINDS[Case]
        a, b = side_by_side(
            lambda i: crm._page(Case, whole_query).items,
            lambda i: [json.loads(r[2]) for r in raw.execute(overdue_docs_sql, (now_us,))],
            300,
        )
        figures["overdue_whole"] = {
            "civiccrm_ms": median_ms(a),
            "sql_json_loads_ms": median_ms(b),
            "ratio": median_ms(a) / median_ms(b),
        }
        build_50 = solo(lambda i: [kind.from_record(r, conv, crm.keys.get) for r in records], 200)
        figures["from_record_50_ms"] = median_ms(build_50)

        if analyze:
            figures["analyzed"] = with_statistics(path, raw, civ_overdue, civ_count)
        return figures
    finally:
        raw.close()
        crm.close()


def with_statistics(
    path: Path,
    raw: sqlite3.Connection,
    civ_overdue: Callable[[int], object],
    civ_count: Callable[[int], object],
) -> dict[str, Any] | None:
    """
    civiccrm's overdue and count queries again after ANALYZE gave the planner
    statistics (the statistics are dropped again after, leaving the file as it was).
    """
    had = raw.execute(
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_stat%'"
    ).fetchone()[0]
    if had:
        log("  the database has planner statistics already: no ANALYZE run")
        return None
    log("  ANALYZE, then civiccrm's queries again ...")
    start = time.perf_counter()
    raw.execute("ANALYZE")
    out: dict[str, Any] = {"analyze_seconds": time.perf_counter() - start}
    crm = open_crm(path)  # a new connection reads the statistics
    try:

        def overdue(i: int) -> object:
            return crm.cases.overdue(now=NOW, limit=50)

        def count(i: int) -> object:
            return crm.cases.count_open_by_queue()

        out["overdue_ms"] = median_ms(solo(overdue, 200))
        out["open_by_queue_ms"] = median_ms(solo(count, 200))
        out["plans"] = {
            "overdue": [plan(raw, s) for s in civiccrm_sql(crm, lambda: overdue(0))],
            "open_by_queue": [plan(raw, s) for s in civiccrm_sql(crm, lambda: count(0))],
        }
    finally:
        crm.close()
        for (name,) in raw.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'"
        ).fetchall():
            raw.execute(f"DROP TABLE {name}")
        raw.commit()
    return out


def report(f: dict[str, Any]) -> None:
    title = f"queries on {f['cases']:,} cases in SQLite"
    print(title)
    print("=" * len(title))
    print(
        f"python {f['python']}, SQLite {f['sqlite']}, {f['cpus']} CPUs; database "
        f"{f['db_mb']:,} MB; {f['open']:,} open cases, {f['overdue']:,} overdue"
    )
    print(f"civiccrm {f['civiccrm']}, SQLite backend source sha256 {f['backend_sha256']}")
    start, end = f["load_average"]
    print(
        f"load average (1 min) {start:.2f} at start, {end:.2f} at end "
        "(other work on the machine shows here)"
    )
    if f.get("build_seconds"):
        print(
            f"built through crm.cases.bulk_import in {f['build_seconds']:.0f} s "
            f"({f['cases'] / f['build_seconds']:,.0f} cases/s, with generation; "
            f"batch_size={f['build_batch_size']:,})"
        )
    print()
    print(
        f"{'median of each call':<34}{'civiccrm':>11}{'hand SQL':>11}{'ratio':>9}"
        f"{'civiccrm storage':>19}{'calls':>8}"
    )
    labels = {
        "overdue": "50 most overdue open cases",
        "open_by_queue": "open cases per queue",
        "by_external_id": "case by external id",
    }
    met = {}
    for name, label in labels.items():
        r = f["queries"][name]
        ok = r["ratio"] <= TARGET_RATIO
        met[name] = ok
        print(
            f"{label:<34}{r['civiccrm_ms']:>8.3f} ms{r['sql_ms']:>8.3f} ms{r['ratio']:>8.2f}x"
            f"{r['storage_layer_ms']:>16.3f} ms{r['reps']:>8}   {'met' if ok else 'MISSED'}"
        )
    print(
        f"(target: civiccrm within {TARGET_RATIO}x of hand-written SQL; 'civiccrm storage' is "
        "the backend call alone, without building models)"
    )
    r = f["queries"]["overdue"]
    print(
        f"{labels['overdue']}: hand SQL + the same typed values decoded by hand "
        f"{r['hand_decoded_ms']:.3f} ms (civiccrm {r['civiccrm_ms'] / r['hand_decoded_ms']:.2f}x that)"
    )
    r = f["queries"]["by_external_id"]
    print(
        f"{labels['by_external_id']}: hand SQL + json.loads of the doc "
        f"{r['hand_decoded_ms']:.3f} ms (civiccrm {r['civiccrm_ms'] / r['hand_decoded_ms']:.2f}x that)"
    )
    w = f["overdue_whole"]
    print(
        f"50 most overdue as whole Case models: {w['civiccrm_ms']:.3f} ms; hand SQL of every "
        f"column + json.loads of each doc {w['sql_json_loads_ms']:.3f} ms ({w['ratio']:.2f}x)"
    )
    print(
        f"building 50 Case models from their records (KINDS[Case].from_record): "
        f"{f['from_record_50_ms']:.3f} ms"
    )
    print()
    print("query plans (EXPLAIN QUERY PLAN), no planner statistics (as bulk_import leaves it):")
    for name, p in f["plans"].items():
        for s in p["civiccrm"]:
            print(f"  {name:<16} civiccrm: {s}")
        print(f"  {name:<16} hand SQL: {p['sql']}")
    f["targets"] = {"ratio_max": TARGET_RATIO, "met": met}
    a = f.get("analyzed")
    if a:
        print()
        print(
            f"civiccrm again after ANALYZE (it took {a['analyze_seconds']:.1f} s; statistics "
            "dropped again after):"
        )
        for name, label in list(labels.items())[:2]:
            ms = a[f"{name}_ms"]
            ratio = ms / f["queries"][name]["sql_ms"]
            print(f"  {label:<32}{ms:>8.3f} ms   {ratio:5.2f}x hand SQL")
            for s in a["plans"][name]:
                print(f"    plan: {s}")
    s = f.get("stream")
    if s:
        print()
        ok = s["ru_maxrss_mb"] <= TARGET_STREAM_MB
        f["targets"]["stream_mb_max"] = TARGET_STREAM_MB
        f["targets"]["stream_met"] = ok
        rate = s["streamed"] / s["seconds"]
        print(
            "streaming every case through the facade, crm._stream(Case, Query('case')), "
            "in a child process:"
        )
        print(f"  {s['streamed']:,} cases in {s['seconds']:.1f} s ({rate:,.0f} cases/s)")
        print(
            f"  peak RSS: ru_maxrss {s['ru_maxrss_mb']:.1f} MB, VmHWM {s['vmhwm_mb']:.1f} MB "
            f"({s['rss_before_mb']:.1f} MB before streaming)   target <= "
            f"{TARGET_STREAM_MB:.0f} MB: {'met' if ok else 'MISSED'}"
        )
        if s["rss_every_100k_mb"]:
            print(f"  RSS every 100,000 cases (MB): {s['rss_every_100k_mb']}")
        print(
            f"  tracemalloc peak {s['tracemalloc_peak_mb']:.1f} MB over the first "
            f"{s['traced_streamed']:,} cases (a second pass: {s['traced_seconds']:.1f} s "
            "under tracemalloc)"
        )
        if s["tracemalloc_current_every_20k_mb"]:
            print(
                "  traced memory in use every 20,000 cases (MB): "
                f"{s['tracemalloc_current_every_20k_mb']}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
