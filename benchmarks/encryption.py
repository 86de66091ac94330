"""
The cost of encrypting personal data at rest: bulk import of cases into SQLite with
encryption on against the same import with encryption off, side by side.

    python benchmarks/encryption.py [--cases N] [--repeat R] [--json]

N realistic cases (default 100,000) are generated once with civiccrm's
WorkloadGenerator (Springfield profile; a requester for most, from a pool of N/20
citizens, some anonymous), each with ``external_ids={"bench": "B<n>"}``. Then, each
into a fresh SQLite file, alternating sides run by run:

on   ``crm.cases.bulk_import(cases)`` as shipped: each case's personal fields (title,
     description, location, attributes) sealed with AES-256-GCM under its requester's
     data key (or a key of its own when anonymous), every missing key made, wrapped
     and stored (one ``put_keys`` per batch).
off  the same call with sealing replaced by the identity and the key ring by one that
     makes no keys: what civiccrm would cost without encryption at rest. Everything
     else (validation, ids, events, the audit trail, the backend) is the same.

Then every case is read back (``crm._stream(Case, Query("case"))``), on and off, for
the cost of decrypting. civiccrm itself has no switch to turn encryption off; this
script patches one in for the "off" side only.

With ``--repeat R`` each side runs R times and medians are compared. With ``--json``
the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

import civiccrm
from civiccrm import _records
from civiccrm._keys import KeyRing
from civiccrm._workload import WorkloadGenerator
from civiccrm.adapters import Query
from civiccrm.models import Case
from civiccrm.privacy.crypto import DataKey
from civiccrm.profile import load_profile, springfield_path

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEED = 2026
TARGET = 1.5  # time with encryption / time without, at most


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generate(n: int) -> list[Case]:
    profile = load_profile(springfield_path())
    gen = WorkloadGenerator(profile, seed=SEED, now=NOW)
    parties = list(gen.citizens(max(1, n // 20)))
    return [attrs.evolve(gen.case(parties), external_ids={"bench": f"B{i}"}) for i in range(n)]


_DUMMY = DataKey(key_id="bench:off", generation=1, secret=b"\0" * 32)


@contextlib.contextmanager
def encryption_off() -> Iterator[None]:
    """Sealing as the identity, and keys that are never made nor stored."""
    real_seal = _records.seal
    real_many = KeyRing.current_many

    def no_seal(doc: Any, cls: type, *, key: DataKey, aad_prefix: str) -> Any:
        return doc

    def no_keys(self: KeyRing, key_ids: Any) -> dict[str, DataKey]:
        return dict.fromkeys(key_ids, _DUMMY)

    _records.seal = no_seal  # type: ignore[assignment]
    KeyRing.current_many = no_keys  # type: ignore[method-assign]
    try:
        yield
    finally:
        _records.seal = real_seal
        KeyRing.current_many = real_many  # type: ignore[method-assign]


def one_run(folder: Path, cases: Sequence[Case], *, encrypted: bool, n: int) -> dict[str, float]:
    path = folder / f"{'on' if encrypted else 'off'}-{n}.db"
    guard = contextlib.nullcontext() if encrypted else encryption_off()
    with guard:
        crm = civiccrm.open(
            f"sqlite:///{path}", profile=springfield_path(), load_entry_points=False
        )
        try:
            gc.collect()
            start = time.perf_counter()
            crm.cases.bulk_import(cases)
            imported = time.perf_counter() - start
            start = time.perf_counter()
            count = sum(1 for _ in crm._stream(Case, Query("case")))
            read = time.perf_counter() - start
        finally:
            crm.close()
    if count != len(cases):
        raise SystemExit(f"read back {count} cases, not {len(cases)}")
    sealed = _sealed_share(path)
    if encrypted and sealed < 0.99:
        raise SystemExit(f"only {sealed:.0%} of the cases are sealed with encryption on")
    if not encrypted and sealed > 0:
        raise SystemExit("cases are sealed with encryption off")
    size = sum(p.stat().st_size for p in folder.glob(path.name + "*"))
    for p in folder.glob(path.name + "*"):
        p.unlink()
    return {"import_s": imported, "read_s": read, "db_mb": size / 2**20}


def _sealed_share(path: Path) -> float:
    conn = sqlite3.connect(path)
    try:
        total, sealed = conn.execute(
            "SELECT count(*), sum(doc LIKE '{\"_k\":%') FROM rec_case"
        ).fetchone()
    finally:
        conn.close()
    return (sealed or 0) / max(1, total)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    log(f"generating {args.cases:,} cases with WorkloadGenerator ...")
    cases = generate(args.cases)
    anonymous = sum(1 for c in cases if c.requester is None)
    gc.freeze()
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        n = 0
        for r in range(args.repeat):
            # Alternate which side goes first, so that neither always runs warm.
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for side in order:
                n += 1
                log(f"  run {r + 1}/{args.repeat} encryption {side} ...")
                runs[side].append(one_run(folder, cases, encrypted=side == "on", n=n))
                log(
                    f"    import {runs[side][-1]['import_s']:.2f} s, "
                    f"read {runs[side][-1]['read_s']:.2f} s"
                )

    def median(side: str, what: str) -> float:
        return statistics.median(run[what] for run in runs[side])

    figures: dict[str, Any] = {
        "benchmark": "encryption",
        "cases": args.cases,
        "anonymous_cases": anonymous,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
        "import_s": {side: round(median(side, "import_s"), 3) for side in runs},
        "read_s": {side: round(median(side, "read_s"), 3) for side in runs},
        "db_mb": {side: round(median(side, "db_mb"), 1) for side in runs},
        "runs": runs,
    }
    ratio = median("on", "import_s") / median("off", "import_s")
    read_ratio = median("on", "read_s") / median("off", "read_s")
    figures["import_ratio"] = round(ratio, 3)
    figures["read_ratio"] = round(read_ratio, 3)
    figures["target"] = {"import_ratio_max": TARGET, "met": ratio <= TARGET}

    title = f"encryption at rest: bulk import of {args.cases:,} cases into SQLite"
    print(title)
    print("=" * len(title))
    print(
        f"python {figures['python']}, SQLite {figures['sqlite']}, {figures['cpus']} CPUs, "
        f"median of {args.repeat} run(s); {anonymous:,} anonymous cases (a key each), "
        f"{args.cases // 20:,} requesters (a key each)"
    )
    print(
        f"load average (1 min) {figures['load_average'][0]:.2f} at start, "
        f"{figures['load_average'][1]:.2f} at end"
    )
    print()
    print(f"{'':<28}{'encryption off':>16}{'encryption on':>16}{'ratio':>9}")
    print(
        f"{'bulk_import':<28}{median('off', 'import_s'):>14.2f} s{median('on', 'import_s'):>14.2f} s"
        f"{ratio:>8.2f}x   target <= {TARGET}x: {'met' if ratio <= TARGET else 'MISSED'}"
    )
    print(
        f"{'read every case back':<28}{median('off', 'read_s'):>14.2f} s"
        f"{median('on', 'read_s'):>14.2f} s{read_ratio:>8.2f}x"
    )
    print(
        f"{'database size':<28}{median('off', 'db_mb'):>13.1f} MB{median('on', 'db_mb'):>13.1f} MB"
    )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
