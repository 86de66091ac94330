"""
A migration from a legacy 311 system: its contacts, then its tickets, imported from
CSV files through mapping files (``examples/import/``), with the bad rows written to
reject files while the good ones go in; then the same files imported again, which
changes nothing.

    python examples/import_csv.py [FOLDER]

Builds ``import-example.db`` (with its key file and key store) in FOLDER, a new
temporary folder by default, and writes the reject files there.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import civiccrm
from civiccrm import FixedClock
from civiccrm.profile import springfield_path

if TYPE_CHECKING:
    from civiccrm._import import ImportResult

DATA = Path(__file__).resolve().parent / "import"


def report(name: str, result: ImportResult) -> None:
    """Print what an import did, and its rejects."""
    print(
        f"{name}: {result.rows} rows, {result.inserted} new, {result.updated} changed, "
        f"{result.unchanged} unchanged, {result.rejected} rejected"
        + (" (dry run)" if result.dry_run else "")
    )
    if result.rejects_path is not None:
        with result.rejects_path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                print(f"  line {row['line']}, column {row['column']!r}: {row['reason']}")


def main(folder: Path) -> None:
    # The source files are copied beside the database: reject and checkpoint files are
    # written beside the file imported.
    for name in ("people.csv", "people.toml", "cases.csv", "cases.toml"):
        shutil.copy(DATA / name, folder / name)
    url = f"sqlite:///{folder / 'import-example.db'}"
    clock = FixedClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    with civiccrm.open(url, profile=springfield_path(), clock=clock) as crm:
        # Check first: nothing is written but the reject file.
        report(
            "people, dry run",
            crm.imports.file(folder / "people.csv", folder / "people.toml", dry_run=True),
        )
        report("people", crm.imports.file(folder / "people.csv", folder / "people.toml"))
        # Cases name their requester by the legacy contact id: people go in first.
        report("cases", crm.imports.file(folder / "cases.csv", folder / "cases.toml"))

        case = crm.cases.find_by_external_id("legacy311", "T-2001")
        assert case is not None
        assert case.requester is not None
        ana = crm.citizens.get(case.requester.id)
        print(
            f"T-2001: case type {case.case_type}, {case.status.value}, {case.priority.value}, "
            f"opened {case.opened_at:%Y-%m-%d %H:%M} UTC, tags {list(case.tags)}, "
            f"requester {ana.given_name} {ana.family_name} ({ana.preferred_language})"
        )
        closed = crm.cases.find_by_external_id("legacy311", "T-2002")
        assert closed is not None
        assert closed.closed_at is not None
        print(f"T-2002: {closed.status.value} at {closed.closed_at:%Y-%m-%d %H:%M} UTC")

        # Importing the same files again changes nothing.
        report("people again", crm.imports.file(folder / "people.csv", folder / "people.toml"))
        report("cases again", crm.imports.file(folder / "cases.csv", folder / "cases.toml"))
        print(f"cases stored: {sum(crm.storage.count('case').values())}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
