"""
A million-row CSV import through the command line, killed with SIGKILL midway and
resumed: every good row in once, every bad row in the reject file once with its
reason, in constant memory.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROWS = int(os.environ.get("CIVICCRM_SLOW_IMPORT_ROWS", "1000000"))
#: Peak resident memory allowed to the import process.
MAX_RSS_MB = 200

MAPPING = """\
kind = "case"
time_zone = "America/Chicago"

[external_id]
source = "legacy311"
column = "ticket"

[fields]
case_type = { column = "service", values = { PH = "001", SL = "002" } }
title = "summary"
status = { column = "state", values = { O = "new", W = "in_progress", C = "closed" } }
priority = { column = "prio", default = "normal" }
channel = { value = "phone" }
opened_at = { column = "opened", format = "%m/%d/%Y %H:%M" }
"location.address" = "address"
"attributes.size" = "size"
"""

#: Every hundredth row is bad, in one of these ways: (cells changed, reason expected).
BAD = (
    ({"opened": "yesterday"}, "opened_at: 'yesterday' is not a time in format %m/%d/%Y %H:%M"),
    ({"service": "ZZ"}, "case_type: no case type 'ZZ' in the profile"),
    ({"prio": "asap"}, "priority: 'asap' is not a priority"),
    ({"size": "huge", "service": "PH"}, "attributes.size: 'huge' is not one of"),
    ({"ticket": ""}, "external_id: empty"),
)


def _write_source(path: Path) -> dict[int, str]:
    """The CSV file; the line of each bad row and the reason it must be rejected with."""
    bad: dict[int, str] = {}
    start = datetime(2019, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ticket", "service", "summary", "state", "prio", "opened", "address", "size"])
        for i in range(ROWS):
            row = {
                "ticket": f"T{i:07d}",
                "service": "PH" if i % 3 else "SL",
                "summary": f"Report {i}, near the school" if i % 7 else f'Said "urgent"\n{i}',
                "state": "OWC"[i % 3],
                "prio": "" if i % 5 else "high",
                "opened": (start + timedelta(minutes=3 * i)).strftime("%m/%d/%Y %H:%M"),
                "address": f"{i % 4000} Elm St",
                "size": ("small", "medium", "large")[i % 3] if i % 3 else "",
            }
            if i % 100 == 37:
                change, reason = BAD[(i // 100) % len(BAD)]
                row.update(change)
                bad[i] = reason
            w.writerow(row.values())
    return bad


def _lines_of(path: Path) -> dict[int, int]:
    """The line each row starts on (rows hold line breaks), by row number."""
    starts: dict[int, int] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        line = 2
        for n, _row in enumerate(reader):
            starts[n] = line
            line = reader.line_num + 1
    return starts


def _command(tmp_path: Path, source: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "civiccrm.cli",
        "import",
        str(source),
        "--mapping",
        str(tmp_path / "legacy.toml"),
        "--db",
        f"sqlite:///{tmp_path / 'agency.db'}",
        "--json",
    ]


def _peak_kb(pid: int) -> int:
    """The process's own peak resident memory (VmHWM of its address space), in KiB.

    Not ``ru_maxrss``: that starts from the parent's peak when the child is forked (or
    vforked) before it execs, so a large test process would count as the import's.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _run(
    command: list[str],
    env: dict[str, str],
    out: Path,
    *,
    kill_when: Callable[[], bool] | None = None,
) -> tuple[int, float]:
    """Run ``command`` to its end (or kill it); its exit status and peak RSS in MB."""
    peak = 0
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        proc = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        time.sleep(0.2)  # (exec'd by now: /proc then shows the import's own memory)
        while True:
            pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _peak_kb(proc.pid))
            if kill_when is not None and kill_when():
                time.sleep(1.3)  # somewhere inside the next batch
                peak = max(peak, _peak_kb(proc.pid))
                proc.send_signal(signal.SIGKILL)
                _pid, status, _usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.25)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert peak, "the import's memory could not be read from /proc"
    return proc.returncode, peak / 1024


def test_million_rows_killed_and_resumed(tmp_path: Path) -> None:
    source = tmp_path / "legacy.csv"
    (tmp_path / "legacy.toml").write_text(MAPPING, encoding="utf-8")
    bad = _write_source(source)
    starts = _lines_of(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICCRM_")}
    command = _command(tmp_path, source)
    checkpoint = Path(str(source) + ".checkpoint")

    def past_the_middle() -> bool:
        try:
            state = json.loads(checkpoint.read_bytes())["state"]
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return bool(state["rows"] >= ROWS // 2)

    # First run: killed with SIGKILL once it is past the middle of the file.
    status, first_mb = _run(command, env, tmp_path / "first.out", kill_when=past_the_middle)
    assert status == -signal.SIGKILL, "the import ended before it could be killed"

    # Second run: the same command resumes from the checkpoint.
    status, second_mb = _run(command, env, tmp_path / "second.out")
    err = (tmp_path / "second.err").read_text(encoding="utf-8")
    assert status == 0, err
    summary = json.loads((tmp_path / "second.out").read_text(encoding="utf-8"))
    assert summary["resumed_from_line"] is not None
    assert summary["resumed_from_line"] > starts[ROWS // 2 - 1]
    assert summary["rows"] == ROWS
    assert summary["rejected"] == len(bad)
    assert not checkpoint.exists()

    good = ROWS - len(bad)
    db = sqlite3.connect(tmp_path / "agency.db")
    try:
        cases, keys = db.execute(
            "SELECT count(*), count(DISTINCT external_key) FROM rec_case"
        ).fetchone()
        (events,) = db.execute("SELECT count(*) FROM rec_case_event").fetchone()
    finally:
        db.close()
    assert cases == keys == good  # every good row once: no duplicates
    assert events == good  # one 'opened' event each, none twice

    with Path(summary["rejects"]).open(encoding="utf-8", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert len(rejects) == len(bad)  # one line per bad row, none written twice
    expected = {starts[i]: reason for i, reason in bad.items()}
    for reject in rejects:
        line = int(reject["line"])
        assert line in expected, reject
        assert reject["reason"].startswith(expected.pop(line)), reject
    assert not expected

    peak_mb = max(first_mb, second_mb)
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"
    print(f"resumed run: {err.strip().splitlines()[-1]}; peak RSS {peak_mb:.0f} MB")
