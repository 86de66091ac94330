"""
Workers, end to end, on SQLite: cases are queued on the built-in ``route`` topic and on
an agency's own ``welcome`` topic, three worker processes share the batches, and every
case gets its effect exactly once; a worker that claims a batch and stalls past its
lease loses it to another worker, and its late work is rolled back.

    python examples/worker.py [FOLDER]

Builds ``worker-example.db`` in FOLDER (a new temporary folder by default). Against
PostgreSQL, start the same workers on many hosts with ``civiccrm worker run``.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import civiccrm
from civiccrm import FixedClock, WorkTask
from civiccrm.crm import CRM
from civiccrm.models import EventKind
from civiccrm.profile import springfield_path

# Tuesday 10 March 2026, 10:00 in Springfield.
START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def welcome(crm: CRM, task: WorkTask) -> None:
    """An agency's own topic: note on each case that its welcome letter went out, once."""
    key = task.idempotency_key
    if any(e.note == key for e in crm.cases.events(task.case_id)):
        return  # done already (the key is recorded with the effect)
    crm.cases.note(task.case_id, key)


def open_crm(url: str) -> CRM:
    crm = civiccrm.open(url, profile=springfield_path(), clock=FixedClock(START))
    crm.workers.register("welcome", welcome, description="note that a welcome letter went out")
    return crm


def work(url: str, name: str) -> tuple[str, int]:
    """One worker process: batches of 5 until no topic has work left."""
    with open_crm(url) as crm:
        report = crm.workers.run(topics=["route", "welcome"], batch=5, worker=name)
    return name, report.processed


def main(folder: Path) -> None:
    url = f"sqlite:///{folder / 'worker-example.db'}"
    with open_crm(url) as crm:
        ids = [crm.cases.open("001", attributes={"size": "large"}).id for _ in range(30)]
        print(f"queued: {crm.workers.enqueue('route', ids)} on route, ", end="")
        print(f"{crm.workers.enqueue('welcome', ids)} on welcome")

    with multiprocessing.get_context("spawn").Pool(3) as pool:
        done = pool.starmap(work, [(url, f"worker-{i}") for i in range(1, 4)])
    print(f"3 workers processed {sum(n for _, n in done)} tasks")

    with open_crm(url) as crm:
        routed = [
            sum(1 for e in crm.cases.events(c) if e.kind is EventKind.ROUTED and "task" in e.data)
            for c in ids
        ]
        notes = [
            sum(1 for e in crm.cases.events(c) if e.note and e.note.startswith("welcome:"))
            for c in ids
        ]
        print(f"each case routed once by a worker: {set(routed) == {1}}")
        print(f"each case welcomed once: {set(notes) == {1}}")

        # A slow worker claims a batch, then stalls past its 60-second lease.
        more = [crm.cases.open("001", attributes={"size": "small"}).id for _ in range(3)]
        crm.workers.enqueue("welcome", more)
        slow = crm.workers.claim("welcome", limit=3, lease=60, worker="slow")
        clock = crm.clock
        assert isinstance(clock, FixedClock)
        clock.advance(seconds=90)
        fast = crm.workers.run(topics=["welcome"], worker="fast")
        late = crm.workers.process(slow)
        print(f"after the lease expired: fast did {fast.processed}, slow lost {late.lost}")
        notes = [
            sum(1 for e in crm.cases.events(c) if e.note and e.note.startswith("welcome:"))
            for c in more
        ]
        print(f"still welcomed once each: {notes == [1, 1, 1]}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
