"""
Workers (``crm.workers`` and ``civiccrm worker``): topics, claimed batches under expiring
leases, effects committed with the completion (exactly once), a lost lease rolled back,
failing handlers retried and given up, and the command. On PostgreSQL too when
``CIVICCRM_TEST_POSTGRESQL_URL`` names a server (``eval "$(bash .ci/postgres)"``).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import civiccrm
from civiccrm import FixedClock, LocalKeyProvider
from civiccrm._workers import WorkTask
from civiccrm.cli import main
from civiccrm.crm import CRM
from civiccrm.errors import ValidationError
from civiccrm.models import EventKind
from civiccrm.profile import load_profile, springfield_path

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
PROFILE = load_profile(springfield_path())
PG_URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL", "")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason='no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"` (starts one '
    "on 127.0.0.1) and set CIVICCRM_TEST_POSTGRESQL_URL",
)


def mark(crm: CRM, task: WorkTask) -> None:
    """A test topic's handler: one note per task, its text the idempotency key."""
    key = task.idempotency_key
    if any(e.note == key for e in crm.cases.events(task.case_id)):
        return
    crm.cases.note(task.case_id, key)


def marks(crm: CRM, case_id: uuid.UUID) -> list[str]:
    """The notes the ``mark`` handler left on a case."""
    return [
        e.note
        for e in crm.cases.events(case_id)
        if e.kind is EventKind.NOTE_ADDED and e.note and e.note.startswith("mark:")
    ]


def routed(crm: CRM, case_id: uuid.UUID) -> list[str]:
    """The task keys of a case's routed events written by workers."""
    return [
        str(e.data["task"])
        for e in crm.cases.events(case_id)
        if e.kind is EventKind.ROUTED and "task" in e.data
    ]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def crm(clock: FixedClock) -> Iterator[CRM]:
    with civiccrm.open("memory://", profile=PROFILE, clock=clock) as session:
        session.workers.register("mark", mark)
        yield session


def open_cases(crm: CRM, n: int) -> list[uuid.UUID]:
    return [crm.cases.open("001", attributes={"size": "large"}).id for _ in range(n)]


# --------------------------------------------------------------------------------------
# The API


def test_route_topic_routes_each_case_once(crm: CRM) -> None:
    """Enqueued cases are routed by a worker; the routed event carries the task's key."""
    ids = open_cases(crm, 7)
    assert crm.workers.enqueue("route", ids, job="j1") == 7
    assert crm.workers.enqueue("route", ids[:3]) == 0  # queued already
    report = crm.workers.run(topics=["route"], batch=3, worker="w1")
    assert (report.processed, report.batches, report.lost, report.ended) == (7, 3, 0, "idle")
    assert report.by_topic == {"route": 7}
    for cid in ids:
        assert routed(crm, cid) == [f"route:j1:{cid}"]
    assert crm.workers.run(topics=["route"]).processed == 0


def test_a_done_case_can_be_queued_again(crm: CRM) -> None:
    """Once done, enqueueing the case again is a new job with its own effect."""
    [cid] = open_cases(crm, 1)
    crm.workers.enqueue("mark", [cid], job="a")
    crm.workers.run(topics=["mark"])
    assert crm.workers.enqueue("mark", [cid], job="b") == 1
    crm.workers.run(topics=["mark"])
    assert marks(crm, cid) == [f"mark:a:{cid}", f"mark:b:{cid}"]


def test_payload_reaches_the_handler(crm: CRM) -> None:
    seen: list[WorkTask] = []
    crm.workers.register("peek", lambda _crm, task: seen.append(task))
    [cid] = open_cases(crm, 1)
    crm.workers.enqueue("peek", [cid], payload={"channel": "sms", "n": 2}, job="p")
    crm.workers.run(topics=["peek"])
    assert [(t.case_id, dict(t.payload), t.job, t.attempts) for t in seen] == [
        (str(cid), {"channel": "sms", "n": 2}, "p", 1)
    ]


def test_topics_registry(crm: CRM) -> None:
    """Built-in topics, an agency's own, replacing one, and clear errors."""
    assert [t.name for t in crm.workers.topics()] == ["mark", "messages", "route", "sla"]
    with pytest.raises(ValidationError, match="topic 'mark' is registered already"):
        crm.workers.register("mark", mark)
    crm.workers.register("mark", mark, description="again", replace=True)
    assert crm.workers.topic("mark").description == "again"
    with pytest.raises(ValidationError, match="is not a topic name"):
        crm.workers.register("Bad Topic", mark)
    with pytest.raises(ValidationError, match="handler"):
        crm.workers.register("notify", "not callable")  # type: ignore[arg-type]
    with pytest.raises(
        ValidationError, match=r"no topic 'notify' \(registered: mark, messages, route, sla\)"
    ):
        crm.workers.enqueue("notify", [])


def test_bad_input_names_the_field(crm: CRM) -> None:
    [cid] = open_cases(crm, 1)
    with pytest.raises(ValidationError, match=r"case_ids\[1\]: 'SR-1' is not a case id"):
        crm.workers.enqueue("route", [cid, "SR-1"])
    with pytest.raises(ValidationError, match="payload"):
        crm.workers.enqueue("route", [cid], payload={"x": object()})
    with pytest.raises(ValidationError, match="batch"):
        crm.workers.run(topics=["route"], batch=0)
    with pytest.raises(ValidationError, match="lease"):
        crm.workers.run(topics=["route"], lease=-1)
    with pytest.raises(ValidationError, match="topics"):
        crm.workers.run(topics="route")
    with pytest.raises(ValidationError, match="no topic 'nope'"):
        crm.workers.run(topics=["route", "nope"])


def test_enqueue_due(crm: CRM) -> None:
    """route: new unassigned cases; sla: open cases whose check time has come."""
    ids = open_cases(crm, 3)
    waiting = {str(i) for i in crm.routing.waiting()}
    assert crm.workers.enqueue_due("route") == len(waiting & {str(i) for i in ids})
    with pytest.raises(ValidationError, match="does not say which cases are due"):
        crm.workers.enqueue_due("mark")


def test_sla_topic_records_breaches_once(crm: CRM, clock: FixedClock) -> None:
    ids = open_cases(crm, 2)
    clock.advance(days=60)
    assert crm.workers.enqueue_due("sla") == 2
    first = crm.workers.run(topics=["sla"])
    assert first.processed == 2
    breaches = [sum(e.kind is EventKind.SLA_BREACH for e in crm.cases.events(cid)) for cid in ids]
    assert all(b >= 1 for b in breaches)
    crm.workers.enqueue("sla", ids)
    crm.workers.run(topics=["sla"])
    again = [sum(e.kind is EventKind.SLA_BREACH for e in crm.cases.events(cid)) for cid in ids]
    assert again == breaches


# --------------------------------------------------------------------------------------
# Leases


def test_an_expired_lease_is_taken_over_and_the_slow_worker_rolled_back(
    crm: CRM, clock: FixedClock
) -> None:
    """
    A slow worker's lease expires, another worker takes and does its batch; when the
    slow one finally processes it, its completion counts none and its effects are
    rolled back: each case has exactly one effect.
    """
    ids = open_cases(crm, 4)
    crm.workers.enqueue("mark", ids, job="j")
    slow = crm.workers.claim("mark", limit=10, lease=60, worker="slow")
    assert len(slow.tasks) == 4
    assert slow.lease_until == T0 + timedelta(seconds=60)
    # Under the lease nobody else gets them.
    assert crm.workers.run(topics=["mark"], worker="fast").processed == 0
    clock.advance(seconds=61)
    fast = crm.workers.run(topics=["mark"], worker="fast")
    assert fast.processed == 4
    late = crm.workers.process(slow)
    assert (late.processed, late.lost) == (0, 4)
    for cid in ids:
        assert marks(crm, cid) == [f"mark:j:{cid}"]


def test_a_partly_lost_batch_is_done_for_the_tasks_still_held(crm: CRM, clock: FixedClock) -> None:
    ids = open_cases(crm, 4)
    crm.workers.enqueue("mark", ids, job="j")
    slow = crm.workers.claim("mark", limit=4, lease=60, worker="slow")
    clock.advance(seconds=61)
    taken = crm.workers.claim("mark", limit=2, lease=60, worker="fast")
    assert crm.workers.process(taken).processed == 2
    late = crm.workers.process(slow)
    assert (late.processed, late.lost) == (2, 2)
    for cid in ids:
        assert marks(crm, cid) == [f"mark:j:{cid}"]
    clock.advance(hours=1)
    assert crm.workers.run(topics=["mark"]).processed == 0


def test_a_failing_task_is_retried_then_given_up(crm: CRM, clock: FixedClock) -> None:
    """One bad task does not stop its batch; it is retried after its lease, then given up."""
    ids = open_cases(crm, 3)
    bad = str(ids[1])

    def picky(c: CRM, task: WorkTask) -> None:
        if task.case_id == bad:
            raise RuntimeError("cannot")
        mark(c, attrs_evolve_topic(task))

    crm.workers.register("picky", picky)
    crm.workers.enqueue("picky", ids, job="j")
    first = crm.workers.run(topics=["picky"], max_attempts=2)
    assert (first.processed, first.failed, first.given_up) == (2, 1, 0)
    assert crm.workers.run(topics=["picky"], max_attempts=2).processed == 0  # still leased
    clock.advance(seconds=61)
    second = crm.workers.run(topics=["picky"], max_attempts=2)
    assert (second.processed, second.failed, second.given_up) == (0, 0, 1)
    clock.advance(hours=1)
    assert crm.workers.run(topics=["picky"]).batches == 0
    assert [len(marks(crm, cid)) for cid in ids] == [1, 0, 1]


def attrs_evolve_topic(task: WorkTask) -> WorkTask:
    """The task as the ``mark`` topic's (so that its notes are counted as marks)."""
    import attrs

    return attrs.evolve(task, topic="mark")


def test_stop_is_checked_between_batches(crm: CRM) -> None:
    ids = open_cases(crm, 5)
    crm.workers.enqueue("mark", ids)
    stop = threading.Event()
    report = crm.workers.run(
        topics=["mark"], batch=2, stop=stop, on_batch=lambda _t, _r: stop.set()
    )
    assert (report.batches, report.processed, report.ended) == (1, 2, "stopped")
    rest = crm.workers.run(topics=["mark"], max_batches=1, batch=2)
    assert (rest.processed, rest.ended) == (2, "max_batches")


# --------------------------------------------------------------------------------------
# SQLite: processes against one file, and the command


def sqlite_db(tmp_path: Path, n: int) -> tuple[str, list[uuid.UUID]]:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=PROFILE) as session:
        ids = open_cases(session, n)
    return url, ids


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_enqueue_run_topics(tmp_path: Path) -> None:
    url, ids = sqlite_db(tmp_path, 4)
    listing = tmp_path / "ids.txt"
    listing.write_text("\n".join(str(i) for i in ids[:3]) + "\n", encoding="utf-8")
    assert cli("worker", "enqueue", "route", "--from", str(listing), "--db", url) == (
        0,
        f"{url}: 3 cases queued on 'route'\n",
    )
    code, out = cli("worker", "enqueue", "route", "--case", str(ids[3]), "--db", url, "--json")
    assert (code, json.loads(out)) == (0, {"db": url, "topic": "route", "added": 1})
    code, out = cli("worker", "run", "--until-idle", "--topic", "route", "--db", url, "--json")
    data = json.loads(out)
    assert (code, data["processed"], data["ended"], data["by_topic"]) == (
        0,
        4,
        "idle",
        {"route": 4},
    )
    code, out = cli("worker", "topics", "--db", url)
    assert code == 0
    assert out.splitlines()[0].startswith("messages ")
    with civiccrm.open(url, profile=PROFILE) as session:
        assert all(len(routed(session, cid)) == 1 for cid in ids)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker", "enqueue", "route"], "give one of --case, --due or --from"),
        (["worker", "enqueue", "nope", "--due"], "no topic 'nope'"),
        (["worker", "enqueue", "route", "--case", "SR-404"], "no case with reference 'SR-404'"),
        (["worker", "enqueue", "route", "--case", "x", "--payload", "[1]"], "JSON object"),
        (["worker", "run", "--handler", "broken"], "write TOPIC=MODULE:FUNCTION"),
        (["worker", "run", "--handler", "t=no_such_mod:f"], "cannot import 'no_such_mod'"),
        (["worker", "run", "--until-idle", "--topic", "nope"], "no topic 'nope'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    url, _ = sqlite_db(tmp_path, 1)
    code, out = cli(*argv, "--db", url)
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_bad_numbers_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("worker", "run", "--batch", "0")
    assert info.value.code == 2
    assert "'0' must be at least 1" in capsys.readouterr().err


def test_cli_agency_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--handler TOPIC=MODULE:FUNCTION registers an agency's own topic."""
    (tmp_path / "agency_tasks.py").write_text(
        "def mark(crm, task):\n    crm.cases.note(task.case_id, task.idempotency_key)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    url, ids = sqlite_db(tmp_path, 2)
    h = ["--handler", "mark=agency_tasks:mark"]
    assert cli("worker", "enqueue", "mark", "--case", *map(str, ids), *h, "--db", url)[0] == 0
    code, out = cli("worker", "run", "--until-idle", *h, "--topic", "mark", "--db", url)
    assert code == 0
    assert "2 tasks processed" in out
    with civiccrm.open(url, profile=PROFILE) as session:
        assert [len(marks(session, cid)) for cid in ids] == [1, 1]


def worker_process(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "civiccrm.cli", "worker", "run", "--db", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sqlite_worker_processes_share_the_work(tmp_path: Path) -> None:
    """Three `civiccrm worker` processes on one SQLite file: every case routed once."""
    url, ids = sqlite_db(tmp_path, 60)
    with civiccrm.open(url, profile=PROFILE) as session:
        session.workers.enqueue("route", ids)
    procs = [worker_process(url, "--until-idle", "--batch", "5", "--json") for _ in range(3)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(r["processed"] for r in reports) == 60
    with civiccrm.open(url, profile=PROFILE) as session:
        assert sorted(len(routed(session, cid)) for cid in ids) == [1] * 60


def test_sigterm_finishes_the_batch_and_exits_cleanly(tmp_path: Path) -> None:
    url, ids = sqlite_db(tmp_path, 3)
    with civiccrm.open(url, profile=PROFILE) as session:
        session.workers.enqueue("route", ids)
    proc = worker_process(url, "--idle-wait", "0.1", "--json")
    deadline = time.monotonic() + 60
    with civiccrm.open(url, profile=PROFILE) as session:
        while time.monotonic() < deadline and not all(routed(session, c) for c in ids):
            time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert (data["processed"], data["ended"]) == (3, "stopped")
    assert "SIGTERM: stopping after the batch in hand" in err


# --------------------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip(
            'no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"` and set '
            "CIVICCRM_TEST_POSTGRESQL_URL"
        )
    import psycopg

    schema = f"civiccrm_w_{uuid.uuid4().hex[:16]}"
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@needs_pg
def test_postgresql_route_and_take_over(pg_url: str) -> None:
    key = LocalKeyProvider.generate()
    clock = FixedClock(T0)
    with civiccrm.open(pg_url, profile=PROFILE, key=key, clock=clock) as session:
        session.workers.register("mark", mark)
        ids = open_cases(session, 6)
        session.workers.enqueue("route", ids, job="r")
        assert session.workers.run(topics=["route"], batch=4).processed == 6
        assert [routed(session, cid) for cid in ids] == [[f"route:r:{c}"] for c in ids]
        session.workers.enqueue("mark", ids, job="m")
        slow = session.workers.claim("mark", limit=6, worker="slow")
        clock.advance(seconds=61)
        assert session.workers.run(topics=["mark"], worker="fast").processed == 6
        assert session.workers.process(slow).lost == 6
        assert [len(marks(session, cid)) for cid in ids] == [1] * 6


@needs_pg
def test_postgresql_lease_lost_inside_the_transaction_rolls_back(pg_url: str) -> None:
    """
    While the slow worker's transaction is open (its effects written, not committed),
    another process-like session takes the expired batch and commits it; the slow
    worker's completion then counts none, and its transaction is rolled back.
    """
    key = LocalKeyProvider.generate()
    clock = FixedClock(T0)
    with (
        civiccrm.open(pg_url, profile=PROFILE, key=key, clock=clock) as slow_crm,
        civiccrm.open(pg_url, profile=PROFILE, key=key, clock=clock) as fast_crm,
    ):
        ids = open_cases(slow_crm, 3)
        fast_crm.workers.register("mark", mark)
        fired: list[int] = []

        def slow_mark(crm: CRM, task: WorkTask) -> None:
            if not fired:
                # The slow worker's transaction is open; its lease expires, and another
                # worker takes the batch and commits it.
                fired.append(1)
                clock.advance(seconds=61)
                other = threading.Thread(
                    target=lambda: fired.append(
                        fast_crm.workers.run(topics=["mark"], worker="fast").processed
                    )
                )
                other.start()
                other.join(timeout=60)
            # No idempotency check here: only the rollback keeps this effect out.
            crm.cases.note(task.case_id, f"mark:j:{task.case_id}")

        slow_crm.workers.register("mark", slow_mark)
        slow_crm.workers.enqueue("mark", ids, job="j")
        batch = slow_crm.workers.claim("mark", limit=3, worker="slow")
        report = slow_crm.workers.process(batch)
        assert fired == [1, 3]
        assert (report.processed, report.lost) == (0, 3)
        assert [marks(slow_crm, cid) for cid in ids] == [[f"mark:j:{c}"] for c in ids]
