"""
Retention of the audit trail: its oldest entries are cut at a signed checkpoint once
past the ``audit`` schedule's period, and the rest of the log still verifies.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

import civiccrm
from civiccrm import CRM, FixedClock
from civiccrm._auditing import read_base, verify_log
from civiccrm._keys import AUDIT_KEY, BASE_KEY
from civiccrm.errors import IntegrityError, PolicyError, ValidationError
from civiccrm.models import Citizen
from civiccrm.privacy.audit import verify
from civiccrm.privacy.retention import RetentionSchedule
from civiccrm.profile import load_profile, parse_profile, springfield_path

T0 = datetime(2019, 3, 4, 15, 0, tzinfo=UTC)
PROFILE = load_profile(springfield_path())


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def crm(url: str, clock: FixedClock) -> Iterator[CRM]:
    with civiccrm.open(url, profile=PROFILE, clock=clock) as session:
        session.auditor.checkpoint_every = 7
        yield session


def _audit(disposition: str = "destroy", period: str = "1 year") -> RetentionSchedule:
    return RetentionSchedule(
        code="audit-trail",
        record_class="audit",
        trigger="created",
        period=period,
        disposition=disposition,
        authority="GS 1-11 item 3",
    )


def _workload(crm: CRM, clock: FixedClock, months: int = 30) -> list[Citizen]:
    """A citizen created and read back each month: audited writes and reads."""
    people = []
    for month in range(months):
        clock.set(T0 + timedelta(days=30 * month))
        person = crm.citizens.create(Citizen(given_name=f"Ana{month}", family_name="Ruiz"))
        crm.citizens.get(person.id)
        people.append(person)
    crm.auditor.flush()
    return people


def _entries(crm: CRM) -> list[tuple[int, dict[str, object], str]]:
    out = []
    after = 0
    while rows := crm.storage.read_audit(after=after, limit=500):
        out.extend((seq, orjson.loads(text), text) for seq, text in rows)
        after = rows[-1][0]
    return out


def _expected_cut(
    entries: list[tuple[int, dict[str, object], str]], as_of: datetime, years: int = 1
) -> int:
    """Independently: the longest prefix of entries a year old by ``as_of`` that ends
    at a checkpoint (the chain is cut only there)."""
    best = 0
    for i, (_seq, obj, _text) in enumerate(entries):
        at = datetime.fromisoformat(str(obj["at"]))
        if at.replace(year=at.year + years) > as_of:
            break
        if obj["action"] == "checkpoint":
            best = i + 1
    return best


def test_old_entries_are_cut_at_a_checkpoint_and_the_log_still_verifies(
    crm: CRM, clock: FixedClock
) -> None:
    _workload(crm, clock)
    before = _entries(crm)
    as_of = T0 + timedelta(days=30 * 20)
    clock.set(as_of + timedelta(hours=1))
    expected = _expected_cut(before, as_of)
    assert 0 < expected < len(before)

    run = crm.retention.apply(key="audit-1", as_of=as_of, schedules=[_audit()])

    assert run.disposed == expected
    after = _entries(crm)
    # The first entries are gone, the rest untouched, then the run's own entries.
    assert [t for _, _, t in after[: len(before) - expected]] == [
        t for _, _, t in before[expected:]
    ]
    assert after[0][1]["n"] == before[expected][1]["n"]
    report = verify_log(crm.storage, crm.keys)
    assert report.ok, report.problem
    base = read_base(crm.storage, crm.keys.system_key(AUDIT_KEY))
    assert base is not None
    assert base.pruned == expected
    assert base.head.n == before[expected - 1][1]["n"]
    certificate = crm.retention.certificate("audit-1")
    assert certificate["schedules"] == [
        {
            "code": "audit-trail",
            "authority": "GS 1-11 item 3",
            "period": "P1Y",
            "counts": {"destroy": expected},
        }
    ]
    marks = crm.retention.disposals("audit-1")
    assert [(m.record_class, m.record_id) for m in marks] == [
        ("audit", f"{before[0][1]['n']}-{before[expected - 1][1]['n']}")
    ]

    # Again as of the same instant: nothing more is due.
    again = crm.retention.apply(key="audit-2", as_of=as_of, schedules=[_audit()])
    assert again.disposed == 0

    # A year on, more is cut, and the log still verifies from its new base.
    clock.set(as_of + timedelta(days=365))
    later = crm.retention.apply(key="audit-3", schedules=[_audit()])
    assert later.disposed > 0
    assert verify_log(crm.storage, crm.keys).ok
    base2 = read_base(crm.storage, crm.keys.system_key(AUDIT_KEY))
    assert base2 is not None
    assert base2.pruned == expected + later.disposed


def test_the_plan_counts_audit_entries(crm: CRM, clock: FixedClock) -> None:
    _workload(crm, clock, months=24)
    entries = _entries(crm)
    as_of = T0 + timedelta(days=30 * 20)
    clock.set(as_of)
    plan = crm.retention.plan(as_of=as_of, schedules=[_audit()])
    counts = plan.counts["audit-trail"]
    expected = _expected_cut(entries, as_of)
    assert counts["due"] == expected
    assert sum(counts.values()) >= len(entries)  # the plan's own reads may add some
    assert len(_entries(crm)) >= len(entries)  # and the plan pruned nothing


def test_an_archive_holds_the_pruned_entries_and_they_verify_on_their_own(
    crm: CRM, clock: FixedClock, tmp_path: Path
) -> None:
    _workload(crm, clock)
    before = _entries(crm)
    as_of = T0 + timedelta(days=30 * 20)
    clock.set(as_of)
    folder = tmp_path / "archive"
    run = crm.retention.apply(
        key="arch", as_of=as_of, schedules=[_audit("archive")], archive_dir=folder
    )
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"arch-audit-0-{before[run.disposed - 1][1]['n']}.jsonl"]
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert lines == [t for _, _, t in before[: run.disposed]]
    key = crm.keys.system_key(AUDIT_KEY)
    report = verify(enumerate(lines, start=1), key)
    assert report.ok
    base = read_base(crm.storage, key)
    assert base is not None
    assert report.head == base.head


def test_entries_naming_a_held_record_are_kept_with_all_after_them(
    crm: CRM, clock: FixedClock
) -> None:
    people = _workload(crm, clock)
    held = people[5]
    as_of = T0 + timedelta(days=30 * 20)
    clock.set(as_of)
    hold = crm.retention.place_hold(
        reason="litigation", authority="County court 2021-CV-12", parties=[held.id]
    )
    entries = _entries(crm)
    first_held = next(
        i for i, (_s, obj, _t) in enumerate(entries) if str(held.id) in obj["record_ids"]
    )
    expected = _expected_cut(entries[:first_held], as_of)
    run = crm.retention.apply(key="held", as_of=as_of, schedules=[_audit()])
    assert run.disposed == expected
    assert any(str(held.id) in obj["record_ids"] for _, obj, _ in _entries(crm))

    crm.retention.release_hold(hold, reason="case settled")
    clock.set(as_of + timedelta(hours=2))
    released = crm.retention.apply(key="released", as_of=as_of, schedules=[_audit()])
    assert released.disposed > 0
    assert verify_log(crm.storage, crm.keys).ok


def test_a_tampered_log_is_never_pruned(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=PROFILE, clock=clock) as crm:
        crm.auditor.checkpoint_every = 7
        _workload(crm, clock)
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        conn.execute(
            "UPDATE civiccrm_audit SET entry = replace(entry, '\"role\":', '\"rôle\":') "
            "WHERE seq = 3"
        )
    as_of = T0 + timedelta(days=30 * 20)
    clock.set(as_of)
    with civiccrm.open(url, profile=PROFILE, clock=clock) as crm:
        count = len(_entries(crm))
        with pytest.raises(IntegrityError, match="does not verify"):
            crm.retention.apply(key="t", as_of=as_of, schedules=[_audit()])
        assert len(_entries(crm)) >= count
        assert crm.storage.get_key(BASE_KEY) is None


def test_a_crash_between_the_base_and_the_deletion_is_caught_up(
    tmp_path: Path, clock: FixedClock
) -> None:
    """The base is kept before the deletion commits: entries a crash leaves behind it
    are ignored by verification and deleted by the next run."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    as_of = T0 + timedelta(days=30 * 20)
    with civiccrm.open(url, profile=PROFILE, clock=clock) as crm:
        crm.auditor.checkpoint_every = 7
        _workload(crm, clock)
        before = len(_entries(crm))
        clock.set(as_of)
        real = crm.storage.prune_audit

        def crash(_through: int) -> int:
            raise KeyboardInterrupt  # the process dies here

        crm.storage.prune_audit = crash  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            crm.retention.apply(key="crash", as_of=as_of, schedules=[_audit()])
        crm.storage.prune_audit = real  # type: ignore[method-assign]
    with civiccrm.open(url, profile=PROFILE, clock=clock) as crm:
        assert len(_entries(crm)) >= before  # nothing deleted
        assert crm.storage.get_key(BASE_KEY) is not None
        assert verify_log(crm.storage, crm.keys).ok
        run = crm.retention.apply(key="crash", as_of=as_of, schedules=[_audit()])
        base = read_base(crm.storage, crm.keys.system_key(AUDIT_KEY))
        assert base is not None
        assert crm.storage.read_audit(limit=1)[0][0] > base.seq
        assert verify_log(crm.storage, crm.keys).ok
        assert run.status == "done"
        # The entries deleted after the crash are accounted for: counted and marked.
        assert run.disposed == base.pruned > 0
        marks = crm.retention.disposals("crash")
        assert [m.record_id for m in marks] == [f"0-{base.head.n}"]
        certificate = crm.retention.certificate("crash")
        assert certificate["schedules"][0]["counts"] == {"destroy": base.pruned}


def test_a_removed_or_altered_base_is_caught(crm: CRM, clock: FixedClock) -> None:
    _workload(crm, clock)
    as_of = T0 + timedelta(days=30 * 20)
    clock.set(as_of)
    crm.retention.apply(key="b", as_of=as_of, schedules=[_audit()])
    blob = crm.storage.get_key(BASE_KEY)
    assert blob is not None
    data = orjson.loads(blob)
    data["pruned"] += 1
    crm.storage.put_key(BASE_KEY, orjson.dumps(data))
    with pytest.raises(IntegrityError, match="altered"):
        verify_log(crm.storage, crm.keys)
    crm.storage.delete_key(BASE_KEY)
    report = verify_log(crm.storage, crm.keys)
    assert not report.ok
    assert "missing" in (report.problem or "")


def test_audit_schedules_destroy_or_archive_only() -> None:
    for disposition in ("review", "anonymise"):
        with pytest.raises(ValidationError, match="destroy or archive"):
            _audit(disposition)
    with pytest.raises(ValidationError, match="created"):
        RetentionSchedule(
            code="a",
            record_class="audit",
            trigger="closed",
            period="P7Y",
            disposition="destroy",
            authority="GS 1",
        )


def test_a_profile_may_schedule_the_audit_trail() -> None:
    (audit,) = [s for s in PROFILE.retention if s.record_class.value == "audit"]
    assert (audit.trigger.value, audit.disposition.value) == ("created", "archive")
    text = springfield_path().read_text(encoding="utf-8")
    extra = """
[[retention]]
code = "people"
record_class = "party"
trigger = "created"
period = "P10Y"
disposition = "destroy"
authority = "GS 1-11 item 3"
"""
    with pytest.raises(PolicyError, match="not applied yet"):
        parse_profile(text + extra, source=str(springfield_path()))
