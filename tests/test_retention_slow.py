"""
A retention run killed with SIGKILL half-way, then resumed, ends exactly where an
uninterrupted run of the same database ends (slow: a real process is killed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import civiccrm
from civiccrm import FixedClock
from civiccrm.adapters._base import Query
from civiccrm.models import Case, CaseStatus, Citizen
from civiccrm.profile import load_profile, springfield_path

pytestmark = pytest.mark.slow

T0 = datetime(2015, 1, 5, 15, 0, tzinfo=UTC)
AS_OF = "2026-11-01T00:00:00+00:00"  # (a run never judges as of the future)
N = 3000

RUN = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    import civiccrm
    from civiccrm.profile import load_profile, springfield_path

    url, key, pause, archive = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    with civiccrm.open(url, profile=load_profile(springfield_path())) as crm:
        run = crm.retention.apply(
            key=key,
            as_of=datetime.fromisoformat(sys.argv[5]),
            batch=40,
            archive_dir=archive,
            progress=lambda n: time.sleep(pause),
        )
        print(run.status, run.disposed)
    """
)


def _build(path: Path) -> None:
    profile = load_profile(springfield_path())
    types = {"001": {"size": "small"}, "014": {}, "019": {}, "028": {}}
    usable = [
        code
        for code in types
        if not any(a.required for a in profile.case_type(code).attributes) or types[code]
    ]
    with civiccrm.open(f"sqlite:///{path}", profile=profile, clock=FixedClock(T0)) as crm:
        people = [
            crm.citizens.create(Citizen(given_name=f"Ann{n}", family_name="Lee")) for n in range(50)
        ]
        cases = []
        for n in range(N):
            code = usable[n % len(usable)]
            opened = T0 + timedelta(hours=37 * n)
            cases.append(
                Case(
                    case_type=code,
                    attributes=types[code],
                    title=f"Request {n}",
                    status=CaseStatus.CLOSED,
                    opened_at=opened,
                    resolved_at=opened + timedelta(days=1),
                    closed_at=opened + timedelta(days=2),
                    requester=people[n % 50].ref if n % 3 else None,
                    external_ids={"legacy": f"L-{n}"},
                )
            )
        crm.cases.bulk_import(cases)
        crm.retention.place_hold(reason="claim", authority="Court", parties=[people[7].id])


def _state(path: Path) -> dict[str, object]:
    with civiccrm.open(f"sqlite:///{path}", profile=load_profile(springfield_path())) as crm:
        run = crm.retention.run("k")
        titles = {
            r.id: crm.cases.get(r.id).title
            for r in crm.storage.stream(Query("case", columns=("case_type",)))
        }
        return {
            "status": run.status,
            "disposed": run.disposed,
            "digest": run.digest,
            "counts": json.loads(run.counts),
            "cases": titles,
            "marks": sorted((m.id, m.disposition) for m in crm.retention.disposals()),
        }


def _archive_rows(folder: Path) -> list[str]:
    rows = []
    for f in sorted(folder.glob("*.jsonl")):
        rows.extend(json.loads(line)["record_id"] for line in f.read_text().splitlines())
    return sorted(rows)


def _apply(path: Path, archive: Path, pause: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, f"sqlite:///{path}", "k", str(pause), str(archive), AS_OF],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_during_apply_then_resume_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    base = tmp_path / "base.db"
    _build(base)
    copies = {}
    for name in ("killed", "straight"):
        folder = tmp_path / name
        folder.mkdir()
        for part in tmp_path.glob("base.db*"):  # the database, its WAL and its key file
            shutil.copy(part, folder / part.name.replace("base.db", "crm.db"))
        copies[name] = folder
    straight = _apply(copies["straight"] / "crm.db", copies["straight"] / "archive", 0.0)
    _out, err = straight.communicate(timeout=600)
    assert straight.returncode == 0, err
    expected = _state(copies["straight"] / "crm.db")
    assert expected["status"] == "done"
    assert isinstance(expected["disposed"], int)
    assert expected["disposed"] > 1000

    killed_db = copies["killed"] / "crm.db"
    proc = _apply(killed_db, copies["killed"] / "archive", 0.01)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        with civiccrm.open(
            f"sqlite:///{killed_db}", profile=load_profile(springfield_path())
        ) as crm:
            try:
                batches = crm.retention.run("k").batches
            except civiccrm.NotFoundError:
                batches = 0
        if batches >= 5:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    half = _state(killed_db)
    assert half["status"] == "running"
    assert 0 < half["disposed"] < expected["disposed"]  # type: ignore[operator]

    resumed = _apply(killed_db, copies["killed"] / "archive", 0.0)
    _out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert _state(killed_db) == expected
    assert _archive_rows(copies["killed"] / "archive") == _archive_rows(
        copies["straight"] / "archive"
    )
    assert not list((copies["killed"] / "archive").glob(".*.part"))
