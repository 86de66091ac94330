"""
Workers at scale, on PostgreSQL (``pytest -m slow``): 4 ``civiccrm worker`` processes
share 200,000 queued cases, and every case's effect is committed exactly once; then
again while one worker is killed with SIGKILL in the middle of a batch (its effects
written, its transaction open): its batch comes back when the lease expires, another
worker does it, and still every case has exactly one effect.

The effect is one row per task in the case-event table, written by a handler inside the
batch's transaction, with no unique constraint that could hide a duplicate: only the
worker's one-transaction completion keeps a case from getting two.

Needs ``CIVICCRM_TEST_POSTGRESQL_URL`` (``eval "$(bash .ci/postgres)"``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not URL,
        reason='no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"` (starts '
        "one on 127.0.0.1) and set CIVICCRM_TEST_POSTGRESQL_URL",
    ),
]

CASES = 200_000
WORKERS = 4

#: The agency's handler module the worker processes load with --handler.
HANDLER = '''
import json, os, time, uuid
from civiccrm.adapters._base import Record

RUN = os.environ["EFFECT_RUN"]
STALL_AFTER = int(os.environ.get("EFFECT_STALL_AFTER", "0"))
STALL_FILE = os.environ.get("EFFECT_STALL_FILE", "")
done = 0


def effect(crm, tasks):
    """
    One effect row per task, written in bulk in the batch's transaction. Every write
    makes a new row (the key column gets a fresh suffix): nothing here could hide a
    second effect for a task.
    """
    global done
    records = []
    for task in tasks:
        doc = json.dumps({"task": task.idempotency_key, "pid": os.getpid()})
        fresh = f"{task.idempotency_key}:{uuid.uuid4().hex}"
        columns = {"case_id": task.case_id, "at": 0, "kind": RUN, "import_key": fresh}
        records.append(Record("case_event", str(uuid.uuid4()), 0, doc, columns))
    half = len(records) // 2
    crm.storage.bulk_upsert("case_event", records[:half])
    done += half
    if STALL_AFTER and done >= STALL_AFTER:
        # Mid-batch: half its effects written, its transaction open. The test kills us.
        with open(STALL_FILE, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(3600)
    crm.storage.bulk_upsert("case_event", records[half:])
    done += len(records) - half
'''


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A schema with 200,000 cases (bulk-imported), its key file and the handler module."""
    import attrs
    import psycopg

    import civiccrm
    from civiccrm import LocalKeyProvider
    from civiccrm._workload import WorkloadGenerator
    from civiccrm.models import Case, Channel
    from civiccrm.profile import load_profile, springfield_path

    folder = tmp_path_factory.mktemp("workers")
    (folder / "slow_effects.py").write_text(HANDLER, encoding="utf-8")
    key_file = folder / "kek"
    LocalKeyProvider.from_file(key_file, create=True)
    schema = f"civiccrm_ws_{uuid.uuid4().hex[:12]}"
    url = f"{URL}{'&' if '?' in URL else '?'}schema={schema}"
    profile = load_profile(springfield_path())
    gen = WorkloadGenerator(profile, seed=8, now=datetime(2026, 3, 1, tzinfo=UTC))
    parties = [
        attrs.evolve(p, external_ids={"slow": f"P{i}"}) for i, p in enumerate(gen.citizens(500))
    ]

    opened = datetime(2026, 3, 1, tzinfo=UTC)

    def cases() -> Iterator[Case]:
        # Lean cases (no free text, no location): the queue is what is tested here.
        for i in range(CASES):
            yield Case(
                case_type="001",
                channel=Channel.WEB,
                requester=parties[i % len(parties)].ref,
                opened_at=opened,
                external_ids={"slow": f"S{i}"},
            )

    try:
        with civiccrm.open(url, profile=profile, key=f"file:{key_file}") as crm:
            crm.citizens.bulk_import(parties)
            result = crm.cases.bulk_import(cases(), batch_size=20_000)
            assert result.inserted == CASES
        yield url, f"file:{key_file}", folder
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def sql(url: str, query: str, *params: object) -> tuple[object, ...]:
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema_of(url)}"')
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


def enqueue(url: str, key: str, folder: Path) -> int:
    ids = folder / "ids.txt"
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn, ids.open("w", encoding="utf-8") as f:
        conn.execute(f'SET search_path TO "{schema_of(url)}"')
        for (case_id,) in conn.execute("SELECT id FROM rec_case"):
            f.write(f"{case_id}\n")
    done = subprocess.run(
        [*command("enqueue", url), "effect", "--from", str(ids), "--json"],
        env=environment(key, folder, "none"),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return int(json.loads(done.stdout)["added"])


def command(sub: str, url: str) -> list[str]:
    """``civiccrm worker SUB`` on the database, with the test's handler registered."""
    return [
        sys.executable,
        "-m",
        "civiccrm.cli",
        "worker",
        sub,
        "--db",
        url,
        "--batch-handler",
        "effect=slow_effects:effect",
    ]


def environment(key: str, folder: Path, run: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CIVICCRM_KEY=key,
        PYTHONPATH=os.pathsep.join([str(folder), env.get("PYTHONPATH", "")]),
        EFFECT_RUN=run,
        **extra,
    )
    return env


def start(url: str, key: str, folder: Path, run: str, *args: str, **extra: str) -> Any:
    """A ``civiccrm worker run`` process on the ``effect`` topic."""
    return subprocess.Popen(
        [*command("run", url), "--topic", "effect", "--json", "--quiet", *args],
        env=environment(key, folder, run, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def effects(url: str, run: str) -> tuple[int, int]:
    """(effect rows, distinct cases with one) of a run."""
    rows, cases = sql(
        url, "SELECT count(*), count(DISTINCT case_id) FROM rec_case_event WHERE kind = %s", run
    )
    return int(str(rows)), int(str(cases))


def test_four_workers_process_each_case_exactly_once(database: tuple[str, str, Path]) -> None:
    url, key, folder = database
    assert enqueue(url, key, folder) == CASES
    procs = [
        start(url, key, folder, "run-1", "--until-idle", "--batch", "500") for _ in range(WORKERS)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(r["processed"] for r in reports) == CASES
    assert all(r["processed"] > 0 for r in reports), "every worker took a share"
    assert effects(url, "run-1") == (CASES, CASES)
    assert sql(url, "SELECT count(*) FROM civiccrm_tasks WHERE topic = 'effect' AND NOT done") == (
        0,
    )


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    database: tuple[str, str, Path],
) -> None:
    url, key, folder = database
    assert enqueue(url, key, folder) == CASES  # every case again: a second job
    stall = folder / "stalled"
    stall.unlink(missing_ok=True)
    args = ("--batch", "500", "--lease", "10", "--idle-wait", "0.5")
    doomed = start(
        url, key, folder, "run-2", *args, EFFECT_STALL_AFTER="1", EFFECT_STALL_FILE=str(stall)
    )
    others = [start(url, key, folder, "run-2", *args) for _ in range(WORKERS - 1)]
    deadline = time.monotonic() + 120
    while not stall.exists():
        assert time.monotonic() < deadline, "the doomed worker never reached its batch"
        assert doomed.poll() is None, doomed.communicate()[1]
        time.sleep(0.1)
    deadline = time.monotonic() + 480
    # Its first batch is half done (250 effects written, uncommitted): kill it.
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=60)
    assert doomed.returncode == -signal.SIGKILL
    while sql(url, "SELECT count(*) FROM civiccrm_tasks WHERE topic = 'effect' AND NOT done") != (
        0,
    ):
        assert time.monotonic() < deadline, "the queue never emptied"
        assert all(p.poll() is None for p in others)
        time.sleep(0.5)
    reports = []
    for p in others:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    assert all(r["ended"] == "stopped" for r in reports)
    assert effects(url, "run-2") == (CASES, CASES)
    # The killed worker's written effects were rolled back: none of its rows is left,
    # and its batch was done by the others once its lease expired.
    killed = sql(
        url,
        "SELECT count(*) FROM rec_case_event WHERE kind = %s AND doc LIKE %s",
        "run-2",
        f'%"pid": {doomed.pid}}}',
    )
    assert killed == (0,)
