"""
The full KPI report on a million cases in SQLite: the database's aggregate queries
against the same report computed in Python from the rows loaded out of the database.

    python benchmarks/report.py [--cases N] [--reuse PATH] [--repeat R] [--json]

Builds (once) a SQLite database of N cases (default 1,000,000) opened over two years up
to 2026-03-01, and keeps it for the next run at ``--reuse PATH`` (default
``<tmp>/civiccrm-bench-report-<N>-v<BUILD>.db``; ``--fresh`` builds it again). So that
a million cases build in a couple of minutes, not hours, the rows are written with the
storage's ``bulk_upsert``, not case by case through the lifecycle:

- 2,000 template cases of every Springfield case type (``WorkloadGenerator``) are
  imported through ``crm.cases.bulk_import`` (so their documents are sealed and their
  columns, district included, are the facade's own), and read back as records;
- each of the N cases copies a template's document and columns, with its own id,
  import key, times and outcome: 22% still open (new, assigned, in progress, pending),
  the rest resolved, closed or cancelled; a first response 0.5 to 60 hours after
  opening, resolution 1 hour to 40 days after; the business seconds of both measured on
  the city-hall calendar (``BusinessCalendar.elapsed``) for 97% of cases (the rest as if
  imported, NULL), on time within 16 and 80 business hours; 8% of resolved cases
  reopened once; a satisfaction score for 30% of them; an agent of 60 for every case
  but new ones; a survey issued for half the resolved cases, a quarter answered.

Then, on that file, the report of the last 52 weeks (Monday 2025-03-03 to 2026-03-01,
agency time; about half the cases) is run R times (default 3) each way, alternating
which goes first, each time from a new CRM session:

(a) ``crm.reports.kpis(..., compute="database")``: SQLite's aggregate queries (the
    columns the report needs copied into a temporary table in one scan, then grouped
    counts, sums and ``ROW_NUMBER()`` percentiles);
(b) ``crm.reports.kpis(..., compute="stream")``: the same columns streamed out of the
    database (``storage.stream`` with a projection, no documents) and every figure
    computed in Python, in one pass.

Both must give the same report, figure for figure (checked). Printed: the medians, the
ratio (b)/(a), and the targets (under 5 s, at least 5x faster). With ``--json`` the last
line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

import civiccrm
from civiccrm._records import KINDS, micros
from civiccrm._workload import WorkloadGenerator
from civiccrm.adapters import _aggregate, _sqlite
from civiccrm.adapters._base import Query, Record
from civiccrm.models import Agent, Survey, new_id
from civiccrm.profile import springfield_path
from civiccrm.reporting import KpiReport

#: Raise when the generated data changes: the cached database is then built again.
BUILD = 2
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SINCE_LOCAL = "2025-03-03"  # a Monday, 52 weeks before the week of NOW
SEED = 2026
TEMPLATES = 2_000
AGENTS = 60
YEARS = 2
TARGET_SECONDS = 5.0
TARGET_RATIO = 5.0
HOUR = 3600.0
CODE_SHA256 = hashlib.sha256(
    Path(_aggregate.__file__).read_bytes() + Path(_sqlite.__file__).read_bytes()
).hexdigest()[:12]

_OPEN = (("new", 30), ("assigned", 20), ("in_progress", 35), ("pending", 15))
_DONE = (("closed", 75), ("resolved", 17), ("cancelled", 8))


def log(msg: str, *, end: str = "\n") -> None:
    print(msg, file=sys.stderr, end=end, flush=True)


def open_crm(path: Path, clock: civiccrm.FixedClock | None = None) -> civiccrm.CRM:
    return civiccrm.open(
        f"sqlite:///{path}",
        profile=springfield_path(),
        clock=clock or civiccrm.FixedClock(NOW),
        load_entry_points=False,
    )


# --------------------------------------------------------------------------------------
# Building the database


def _templates(crm: civiccrm.CRM) -> list[Record]:
    """Template cases imported through the facade, read back as stored records."""
    gen = WorkloadGenerator(crm.profile, seed=SEED, now=NOW, days=365)
    parties = list(gen.citizens(500))
    crm.citizens.bulk_import(
        attrs.evolve(c, external_ids={"bench": f"C{i}"}) for i, c in enumerate(parties)
    )
    stored = [crm.citizens.find_by_external_id("bench", f"C{i}") for i in range(len(parties))]
    people = [p for p in stored if p is not None]
    cases = (
        attrs.evolve(gen.case(people), external_ids={"bench": f"B{i}"}) for i in range(TEMPLATES)
    )
    crm.cases.bulk_import(cases)
    return list(crm.storage.stream(Query("case")))


def _agents(crm: civiccrm.CRM) -> list[str]:
    queues = [q.code for q in crm.profile.queues]
    ids = []
    for i in range(AGENTS):
        queue = queues[i % len(queues)]
        agent = crm.agents.create(
            Agent(
                username=f"{queue}-{i // len(queues) + 1}",
                display_name=f"Agent {i}",
                queues=(queue,),
            )
        )
        ids.append(str(agent.id))
    return ids


def _rows(
    n: int, templates: list[Record], agents: list[str], crm: civiccrm.CRM
) -> Iterator[tuple[Record, tuple[str, int, int | None] | None]]:
    """The N case records, each with the survey to issue for it (case id, issued, responded)."""
    rng = random.Random(SEED)
    calendar = crm.profile.calendar("city-hall")
    span = YEARS * 365 * 86_400
    open_s, open_w = zip(*_OPEN, strict=True)
    done_s, done_w = zip(*_DONE, strict=True)
    for i in range(n):
        t = templates[rng.randrange(len(templates))]
        opened = NOW - timedelta(seconds=span * (1 - (i + rng.random()) / n))
        columns = dict(t.columns)
        columns.update(
            reference=f"SR-{i:07d}",
            external_key=f"bench:B{i:07d}",
            reported_at=micros(opened - timedelta(minutes=rng.uniform(0, 60))),
            opened_at=micros(opened),
            updated_at=micros(opened),
            assignee=agents[rng.randrange(len(agents))],
            resolved_at=None,
            closed_at=None,
            first_response_at=None,
            response_seconds=None,
            response_met=None,
            resolution_seconds=None,
            resolution_met=None,
            satisfaction=None,
            reopen_count=0,
            sla_check_at=None,
        )
        first = opened + timedelta(hours=rng.expovariate(1 / 14) + 0.5)
        done = opened + timedelta(hours=rng.uniform(1, 40 * 24))
        measured = rng.random() < 0.97
        survey = None
        if rng.random() < 0.22 or done > NOW:
            status = rng.choices(open_s, open_w)[0]
            if status == "new":
                columns["assignee"] = None
            if status in ("in_progress", "pending") and first < NOW:
                columns["first_response_at"] = micros(first)
        else:
            status = rng.choices(done_s, done_w)[0]
            first = min(first, done)
            columns["first_response_at"] = micros(first)
            columns["updated_at"] = micros(done)
            if status == "cancelled":
                columns["closed_at"] = micros(done)
            else:
                columns["resolved_at"] = micros(done)
                if status == "closed":
                    columns["closed_at"] = micros(min(NOW, done + timedelta(days=3)))
                if measured:
                    took = calendar.elapsed(opened, done) // timedelta(seconds=1)
                    columns["resolution_seconds"] = took
                    columns["resolution_met"] = int(took <= 80 * HOUR)
                if rng.random() < 0.08:
                    columns["reopen_count"] = 1
                if rng.random() < 0.3:
                    columns["satisfaction"] = rng.choices((1, 2, 3, 4, 5), (8, 7, 15, 35, 35))[0]
                if rng.random() < 0.5:
                    answered = rng.random() < 0.25
                    responded = micros(done + timedelta(days=1)) if answered else None
                    survey = (t.id, micros(done) or 0, responded)
        if measured and columns["first_response_at"] is not None:
            took = calendar.elapsed(opened, first) // timedelta(seconds=1)
            columns["response_seconds"] = took
            columns["response_met"] = int(took <= 16 * HOUR)
        columns["status"] = status
        rid = str(new_id(opened, rng=rng))  # time-ordered, as the facade makes them
        if survey is not None:
            survey = (rid, survey[1], survey[2])
        yield Record("case", rid, 0, t.doc, columns), survey


def build(path: Path, n: int) -> float:
    """Build the database at ``path``; returns the seconds it took."""
    start = time.perf_counter()
    for suffix in ("", "-wal", "-shm", ".kek", ".keys", ".keys-wal", ".keys-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    crm = open_crm(path)
    try:
        log("  building: templates and agents through the facade ...")
        templates = _templates(crm)
        agents = _agents(crm)
        case_key = crm.keys.current("bench-surveys", create=True)
        survey_doc = (
            KINDS[Survey]
            .to_record(
                Survey(case_id=uuid.uuid4(), token_hash="0" * 64, issued_at=NOW),
                crm.converter,
                key=case_key,
            )
            .doc
        )
        batch: list[Record] = []
        surveys: list[Record] = []
        tty = sys.stderr.isatty()
        step = max(1, n // 20)
        rng = random.Random(SEED + 1)
        for i, (record, survey) in enumerate(_rows(n, templates, agents, crm), 1):
            batch.append(record)
            if survey is not None:
                case_id, issued, responded = survey
                surveys.append(
                    Record(
                        "survey",
                        str(new_id(datetime.fromtimestamp(issued / 1e6, UTC), rng=rng)),
                        0,
                        survey_doc,
                        {
                            "token_hash": hashlib.sha256(case_id.encode()).hexdigest(),
                            "case_id": case_id,
                            "issued_at": issued,
                            "responded_at": responded,
                            "score": None,
                        },
                    )
                )
            if len(batch) >= 20_000 or i == n:
                with crm.storage.transaction():
                    crm.storage.bulk_upsert("case", batch)
                    if surveys:
                        crm.storage.bulk_upsert("survey", surveys)
                batch.clear()
                surveys.clear()
            if i % step == 0 or i == n:
                rate = i / (time.perf_counter() - start)
                log(
                    f"  building: {i:>10,} / {n:,} cases  {rate:8,.0f}/s",
                    end="\r" if tty and i < n else "\n",
                )
        crm.storage.count("case")
    finally:
        crm.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------
# Timing


def kpis(path: Path, compute: str) -> tuple[float, float, KpiReport]:
    """One report from a new session (the clock at NOW): (seconds, CPU seconds, report)."""
    crm = open_crm(path)
    try:
        zone = crm.profile.agency.zone
        since = datetime.fromisoformat(SINCE_LOCAL).replace(tzinfo=zone)
        start, cpu = time.perf_counter(), time.process_time()
        report = crm.reports.kpis(since=since, until=NOW, compute=compute)  # type: ignore[arg-type]
        return time.perf_counter() - start, time.process_time() - cpu, report
    finally:
        crm.close()


def figures_of(report: KpiReport) -> dict[str, Any]:
    data = report.to_dict()
    data.pop("computed")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases in the database")
    parser.add_argument("--reuse", metavar="PATH", help="the database to reuse (built if missing)")
    parser.add_argument("--fresh", action="store_true", help="build the database again")
    parser.add_argument("--repeat", type=int, default=3, help="reports each way (default 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    path = Path(
        args.reuse
        or Path(tempfile.gettempdir()) / f"civiccrm-bench-report-{args.cases}-v{BUILD}.db"
    )
    figures: dict[str, Any] = {
        "cases": args.cases,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_average": [round(os.getloadavg()[0], 2)],
        "code_sha256": CODE_SHA256,
        "database": str(path),
    }
    log(f"load average {os.getloadavg()[0]:.2f}; database {path}")
    if args.fresh or not path.exists():
        log(f"building {args.cases:,} cases (once; kept for the next run) ...")
        figures["build_seconds"] = round(build(path, args.cases), 1)
        log(f"built in {figures['build_seconds']:.0f} s")
    else:
        figures["build_seconds"] = None
        log("reusing it (--fresh builds it again)")
    figures["database_mb"] = round(path.stat().st_size / 2**20, 1)
    database: list[float] = []
    stream: list[float] = []
    cpu: dict[str, list[float]] = {"database": [], "stream": []}
    reports: dict[str, KpiReport] = {}
    for r in range(args.repeat):
        order = ("database", "stream") if r % 2 == 0 else ("stream", "database")
        for compute in order:
            seconds, used, report = kpis(path, compute)
            (database if compute == "database" else stream).append(seconds)
            cpu[compute].append(used)
            reports[compute] = report
            log(f"  run {r + 1}: {compute:<8} {seconds:7.2f} s ({used:.2f} s of CPU)")
    same = figures_of(reports["database"]) == figures_of(reports["stream"])
    a, b = statistics.median(database), statistics.median(stream)
    total = reports["database"].total
    figures.update(
        {
            "period": [
                reports["database"].since.isoformat(),
                reports["database"].until.isoformat(),
            ],
            "database_seconds": [round(s, 3) for s in database],
            "stream_seconds": [round(s, 3) for s in stream],
            "database_median_s": round(a, 3),
            "stream_median_s": round(b, 3),
            "database_cpu_median_s": round(statistics.median(cpu["database"]), 3),
            "stream_cpu_median_s": round(statistics.median(cpu["stream"]), 3),
            "ratio": round(b / a, 2),
            "identical": same,
            "opened": total.opened,
            "resolved": total.resolved,
            "backlog": total.backlog,
            "resolution_median_s": total.resolution.median_seconds,
            "resolution_p90_s": total.resolution.p90_seconds,
            "target_seconds": TARGET_SECONDS,
            "target_ratio": TARGET_RATIO,
            "met": a < TARGET_SECONDS and b / a >= TARGET_RATIO and same,
        }
    )
    figures["load_average"].append(round(os.getloadavg()[0], 2))
    print(
        f"KPI report on {args.cases:,} cases in SQLite {sqlite3.sqlite_version}"
        f" ({path}, {figures['database_mb']:,} MB)"
    )
    print(
        f"period {figures['period'][0]} to {figures['period'][1]}: {total.opened:,} opened,"
        f" {total.resolved:,} resolved, backlog {total.backlog:,}"
    )
    for label, median, runs, key in (
        ("(a) database aggregates", a, database, "database"),
        ("(b) rows into Python   ", b, stream, "stream"),
    ):
        print(
            f"  {label}: median {median:6.2f} s  {[round(x, 2) for x in runs]}"
            f"  (CPU median {figures[key + '_cpu_median_s']:.2f} s)"
        )
    print(f"  ratio (b)/(a): {b / a:.1f}x   identical figures: {'yes' if same else 'NO'}")
    print(
        f"  targets: (a) under {TARGET_SECONDS:g} s: {'met' if a < TARGET_SECONDS else 'MISSED'}; "
        f"at least {TARGET_RATIO:g}x: {'met' if b / a >= TARGET_RATIO else 'MISSED'}"
    )
    print(
        f"  load average {figures['load_average'][0]} at start, {figures['load_average'][1]} at end"
    )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
