"""
Crash safety of a bulk import on SQLite: ``kill -9`` a process in the middle of
``crm.cases.bulk_import`` of 100,000 cases, 10 times at random moments. Every time,
the database must open, pass ``PRAGMA integrity_check`` and hold only whole batches
(each with its cases' ``opened`` events); running the import again must end with
exactly 100,000 cases and nothing twice.

The import runs in a child process that reports each committed batch on stdout; the
parent waits for a random number of batches plus a random fraction of a batch, then
sends SIGKILL. Each round resumes over what the previous kill left behind, and kills
either while it re-imports cases already stored or while it adds new ones.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import civiccrm
from civiccrm.models import EventKind
from civiccrm.profile import springfield_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9"),
]

TOTAL = 100_000
BATCH = 1000
ROUNDS = 10
SEED = int(os.environ.get("CIVICCRM_CRASH_SEED", "20260301"))
#: Kills land at most this many batches past what is stored already: a full import
#: takes about 30 s on a laptop, so the rounds kill early (the whole test: 1 to 2 minutes).
AHEAD = 20
#: Seconds to wait for a child's next line before calling it hung.
LINE_TIMEOUT = 120.0

CHILD = f"""
import datetime as dt
import sys

import civiccrm
from civiccrm.models import Case
from civiccrm.profile import springfield_path

TOTAL, BATCH = {TOTAL}, {BATCH}
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def cases():
    for n in range(TOTAL):
        if n and n % BATCH == 0:
            # bulk_import asks for case n only after the batch before it committed.
            print("batch", n // BATCH, flush=True)
        yield Case(
            case_type="001",
            attributes={{"size": "small"}},
            opened_at=T0 + dt.timedelta(seconds=n),
            external_ids={{"legacy": f"L-{{n:06d}}"}},
        )


with civiccrm.open("sqlite:///" + sys.argv[1], profile=springfield_path()) as crm:
    print("open", flush=True)
    result = crm.cases.bulk_import(cases(), batch_size=BATCH)
print("done", result.inserted, result.updated, result.unchanged, flush=True)
"""


def _key(n: int) -> str:
    return f"legacy:L-{n:06d}"


class Child:
    """The import in a child process, its stdout lines read by a thread."""

    def __init__(self, tmp_path: Path, db: Path, name: str) -> None:
        script = tmp_path / "import_cases.py"
        if not script.exists():
            script.write_text(CHILD)
        src = str(Path(civiccrm.__file__).resolve().parents[1])
        path = [src, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        self.stderr_path = tmp_path / f"{name}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(script), str(db)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.batches = 0  # committed batches reported so far
        self.done: list[int] | None = None  # inserted, updated, unchanged
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _take(self, line: str) -> None:
        word, *rest = line.split()
        if word == "batch":
            self.batches = int(rest[0])
        elif word == "done":
            self.done = [int(x) for x in rest]

    def next_line(self) -> str | None:
        """The next line (None at the end of output); fails if the child hangs."""
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            self.proc.kill()
            pytest.fail(f"the import printed nothing for {LINE_TIMEOUT:g} s")
        if line is not None:
            self._take(line)
        return line

    def finish(self) -> int:
        """Wait for the exit (reading what is left); the return code."""
        while self.next_line() is not None:
            pass
        self._reader.join(timeout=30)
        code = self.proc.wait(timeout=60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()
        return code

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]


def check_database(db: Path, label: str) -> int:
    """
    Every check of a database a kill left: it opens, is intact, holds whole batches
    (the first n cases for n a multiple of the batch size) each case with exactly one
    opened event, nothing twice, nothing changed by re-imports. Returns n.
    """
    conn = sqlite3.connect(db)
    try:

        def one(sql: str) -> tuple[Any, ...]:
            return conn.execute(sql).fetchone()

        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], label
        n, low, high = one("SELECT count(*), min(external_key), max(external_key) FROM rec_case")
        assert n % BATCH == 0, f"{label}: {n} cases, not whole batches of {BATCH}"
        dupes = conn.execute(
            "SELECT external_key, count(*) FROM rec_case GROUP BY 1 HAVING count(*) > 1 LIMIT 5"
        ).fetchall()
        assert dupes == [], f"{label}: duplicate cases {dupes}"
        if n:
            # n distinct keys from L-000000 to L-(n-1): exactly the first n cases.
            assert (low, high) == (_key(0), _key(n - 1)), f"{label}: {n} cases, keys {low}..{high}"
        assert one("SELECT count(*) FROM rec_case WHERE external_key IS NULL") == (0,), label
        changed = one("SELECT count(*) FROM rec_case WHERE version <> 1")
        assert changed == (0,), f"{label}: {changed[0]} cases changed by re-importing them"

        events = one("SELECT count(*) FROM rec_case_event")
        assert events == (n,), f"{label}: {n} cases but {events[0]} events"
        other = one(f"SELECT count(*) FROM rec_case_event WHERE kind <> '{EventKind.OPENED.value}'")
        assert other == (0,), f"{label}: {other[0]} events that are not 'opened'"
        orphans = one(
            "SELECT count(*) FROM rec_case_event e"
            " WHERE NOT EXISTS (SELECT 1 FROM rec_case c WHERE c.id = e.case_id)"
        )
        assert orphans == (0,), f"{label}: {orphans[0]} events without their case"
        bad = one(
            "SELECT count(*) FROM rec_case c"
            " WHERE (SELECT count(*) FROM rec_case_event e WHERE e.case_id = c.id) <> 1"
        )
        assert bad == (0,), f"{label}: {bad[0]} cases without exactly one opened event"
        dupe_events = conn.execute(
            "SELECT import_key, count(*) FROM rec_case_event GROUP BY 1 HAVING count(*) > 1 LIMIT 5"
        ).fetchall()
        assert dupe_events == [], f"{label}: duplicate events {dupe_events}"
    finally:
        conn.close()

    # The library opens it too, and reads the last case and its history.
    with civiccrm.open(f"sqlite:///{db}", profile=springfield_path()) as crm:
        assert crm.storage.count("case") == {None: n}, label
        assert crm.storage.count("case_event") == {None: n}, label
        if n:
            case = crm.cases.find_by_external_id("legacy", f"L-{n - 1:06d}")
            assert case is not None, label
            assert [e.kind for e in crm.cases.events(case)] == [EventKind.OPENED], label
    return n


def test_kill_9_during_bulk_import(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "crash.db"
    stored = 0  # cases in the database
    rounds: list[str] = []
    attempts = 0
    while len(rounds) < ROUNDS:
        attempts += 1
        assert attempts <= ROUNDS + 5, f"seed {SEED}: the import kept finishing before the kill"
        label = f"seed {SEED}, round {len(rounds) + 1} (attempt {attempts})"
        # Kill after `target` committed batches of this run (0: during the first one),
        # plus a random part of a batch: in a re-import of stored batches, or past them.
        target = rng.randint(0, min(stored // BATCH + AHEAD, TOTAL // BATCH - 5))
        fraction = rng.random()
        child = Child(tmp_path, db, f"round-{attempts}")
        started = time.monotonic()
        seen: list[float] = []
        while True:
            line = child.next_line()
            if line is None:
                break
            seen.append(time.monotonic())
            if line == ("open" if target == 0 else f"batch {target}"):
                break
        if line is None:
            code = child.finish()
            pytest.fail(f"{label}: the import ended early (exit {code}):\n{child.stderr()}")
        # A batch takes about as long as the gap between the last two lines.
        gap = seen[-1] - seen[-2] if len(seen) >= 2 else 0.3
        time.sleep(fraction * gap)
        os.kill(child.proc.pid, signal.SIGKILL)
        code = child.finish()
        elapsed = time.monotonic() - started
        if code == 0 or child.done is not None:
            print(f"{label}: the import finished before the kill; not counted")
            continue
        assert code == -signal.SIGKILL, f"{label}: exit {code}:\n{child.stderr()}"
        before = stored
        stored = check_database(db, label)
        # A process crash loses nothing committed: every batch reported is there.
        assert stored >= max(before, child.batches * BATCH), (
            f"{label}: {stored} cases after the kill, but {before} were stored before and "
            f"the import reported {child.batches} batches committed"
        )
        rounds.append(
            f"round {len(rounds) + 1}: killed {elapsed:.1f} s in, after {child.batches} "
            f"batches reported (target {target} + {fraction:.2f}); {before} -> {stored} cases"
        )
        print(rounds[-1])

    # Run the import again to the end: exactly TOTAL cases, nothing twice.
    child = Child(tmp_path, db, "final")
    code = child.finish()
    assert code == 0, f"seed {SEED}: the final import failed (exit {code}):\n{child.stderr()}"
    assert child.done == [TOTAL - stored, 0, stored], (
        f"seed {SEED}: final import over {stored} stored cases reported "
        f"inserted, updated, unchanged = {child.done}"
    )
    assert check_database(db, f"seed {SEED}, after the final import") == TOTAL
    print(f"final: {stored} -> {TOTAL} cases (inserted {TOTAL - stored}, unchanged {stored})")
