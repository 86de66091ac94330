"""
The escalation sweep with nothing to do, on a large SQLite database.

    python benchmarks/sweep.py --db PATH [--json]

PATH is a database built by ``benchmarks/queries.py --reuse PATH`` (a million cases,
about 300,000 open). Imported cases carry the due times they came with but no SLA
check time, so the script first gives every open case ``sla_check_at = due_at`` (one
UPDATE: spread over 20 days either side of the benchmark's "now"), as if each had been
planned, and then times ``crm.sla.sweep(now=...)`` at a moment before every check time:
nothing to do. The target is under 50 ms; the sweep must read no case (it asks the
partial index on open cases' check times for those due, and there are none).

A second measure times a sweep at "now", when the half of open cases past their check
time are due, but only the query that finds the first page of them (``checked`` is
capped by stopping after the first page): how long the sweep takes to start working.

With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import civiccrm
from civiccrm._records import OPEN_STATUSES, micros
from civiccrm.adapters import Filter, Order, Query
from civiccrm.profile import springfield_path

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # benchmarks/queries.py's "now"
TARGET_MS = 50.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: build it with benchmarks/queries.py --reuse")
    load = os.getloadavg()[0]
    conn = sqlite3.connect(args.db)
    marks = ", ".join("?" * len(OPEN_STATUSES))
    conn.execute(
        f"UPDATE rec_case SET sla_check_at = due_at WHERE status IN ({marks})", OPEN_STATUSES
    )
    conn.commit()
    total = conn.execute("SELECT count(*) FROM rec_case").fetchone()[0]
    n_open = conn.execute(
        f"SELECT count(*) FROM rec_case WHERE status IN ({marks})", OPEN_STATUSES
    ).fetchone()[0]
    earliest = conn.execute(
        f"SELECT min(sla_check_at) FROM rec_case WHERE status IN ({marks})", OPEN_STATUSES
    ).fetchone()[0]
    conn.close()
    quiet = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=earliest - 1)

    crm = civiccrm.open(f"sqlite:///{args.db}", profile=springfield_path())
    try:
        samples = []
        for _ in range(30):
            start = time.perf_counter_ns()
            report = crm.sla.sweep(now=quiet)
            samples.append(time.perf_counter_ns() - start)
            if report.checked:
                raise SystemExit("the quiet sweep found work: the setup is wrong")
        first_page = Query(
            "case",
            (Filter("status", "in", OPEN_STATUSES), Filter("sla_check_at", "le", micros(NOW))),
            Order("sla_check_at"),
            500,
            columns=("sla_check_at",),
        )
        page_samples = []
        for _ in range(30):
            start = time.perf_counter_ns()
            found = len(crm.storage.query(first_page).records)
            page_samples.append(time.perf_counter_ns() - start)
    finally:
        crm.close()
    quiet_ms = statistics.median(samples) / 1e6
    page_ms = statistics.median(page_samples) / 1e6
    figures = {
        "benchmark": "sweep",
        "cases": total,
        "open": n_open,
        "quiet_sweep_ms": round(quiet_ms, 3),
        "quiet_sweep_max_ms": round(max(samples) / 1e6, 3),
        "first_page_ms": round(page_ms, 3),
        "first_page_cases": found,
        "target_ms": TARGET_MS,
        "met": quiet_ms < TARGET_MS,
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
    }
    print(f"escalation sweep on {total:,} cases ({n_open:,} open) in SQLite")
    print(
        f"load average (1 min) {figures['load_average'][0]} at start, {figures['load_average'][1]} at end"
    )
    print(
        f"sweep with nothing to do: median {quiet_ms:.3f} ms, max {max(samples) / 1e6:.3f} ms "
        f"over 30 sweeps   target < {TARGET_MS:.0f} ms: {'met' if figures['met'] else 'MISSED'}"
    )
    print(f"finding the first page of {found} due cases: median {page_ms:.3f} ms")
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
