"""Personal data at rest: sealing, blind indexes, erasure, keys and the audit trail."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import attrs
import pytest

import civiccrm
from civiccrm import CRM, FixedClock, IntegrityError, LocalKeyProvider, NotFoundError, PolicyError
from civiccrm._auditing import verify_log
from civiccrm._demo import build_demo
from civiccrm.adapters import Query, Record
from civiccrm.cli import main
from civiccrm.models import (
    Case,
    CaseStatus,
    Channel,
    Citizen,
    ContactPoint,
    Direction,
    EventKind,
    Interaction,
    Location,
    PostalAddress,
    personal_data_fields,
)
from civiccrm.profile import load_profile, springfield_path

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
PROFILE = load_profile(springfield_path())


_TOKEN = re.compile(rb"c1\.\d+\.[A-Za-z0-9_-]+")


def _files(db: Path) -> bytes:
    """
    The database file and its WAL (not the key file), as raw bytes, with the sealed
    tokens cut out: random base64 text may hold any short word by chance.
    """
    raw = b"".join(
        p.read_bytes()
        for p in sorted(db.parent.glob(db.name + "*"))
        if p.is_file() and not p.name.endswith((".keys", ".keys-wal", ".keys-shm", ".kek"))
    )
    return _TOKEN.sub(b"|", raw)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside an unstructured value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")
#: Codes inside personal fields that are not personal data themselves (a contact
#: point's kind and use, a consent's status): they appear in clear elsewhere.
_HEXISH = re.compile(r"[0-9a-fA-F-]+\Z")
_CODES = frozenset({"email", "phone", "postal", "home", "work", "mobile", "granted", "revoked"})


def _personal_strings(crm: CRM, obj: object) -> set[str]:
    """
    The personal-data strings of a model (4+ characters), as they would be stored in
    clear; leaving out timestamps (a consent given when the record was made has the
    record's own time, which is in clear) and codes.
    """
    raw = crm.converter.unstructure(obj)
    out: set[str] = set()
    for f in personal_data_fields(type(obj)):
        for s in _strings(raw.get(f.name)):
            if len(s) < 4 or _TIMESTAMP.match(s) or s in _CODES:
                continue
            if len(s) < 9 and _HEXISH.match(s):
                continue  # a short number turns up by chance in ids and times
            out.add(s)
    return out


def _open(db: Path, **kw: Any) -> CRM:
    return civiccrm.open(f"sqlite:///{db}", profile=PROFILE, clock=FixedClock(T0), **kw)


def _ana(crm: CRM) -> Citizen:
    return crm.citizens.create(
        Citizen(
            given_name="Anastasia",
            family_name="Kowalczyk",
            contact_points=(
                ContactPoint.email("anastasia.k@example.org"),
                ContactPoint.phone("+12175550134"),
                ContactPoint.postal(
                    PostalAddress(lines=("1966 Converse Avenue",), city="Springfield")
                ),
            ),
            external_ids={"dmv": "D123-4567-8910"},
        )
    )


def _case_for(crm: CRM, who: Citizen) -> Case:
    case = crm.cases.open(
        "001",
        requester=who,
        title="Pothole outside number 1966",
        description="Deep pothole; my neighbour Bartholomew tripped over it",
        location=Location(address="1966 Converse Avenue", latitude=39.8, longitude=-89.6),
        attributes={"size": "large"},
    )
    crm.cases.note(case, "Called Anastasia back about the pothole")
    crm.interactions.log(
        Interaction(
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=T0,
            party=who.ref,
            case_id=case.id,
            subject="Pothole follow-up",
            body="Caller says the pothole is getting deeper every day",
        )
    )
    return crm.cases.get(case.id)


# --------------------------------------------------------------------------------------
# Nothing in clear


@pytest.mark.parametrize("cases", [400])
def test_a_demo_database_holds_no_personal_data_in_clear(tmp_path: Path, cases: int) -> None:
    """Scan the raw database file and its WAL after a demo run: no generated name,
    email, phone, address or note text appears in them."""
    db = tmp_path / "demo.db"
    with _open(db) as crm:
        build_demo(crm, cases=cases, seed=7, as_of=T0)
        needles: set[str] = set()
        for cls, kind in ((Citizen, "citizen"), (Case, "case"), (Interaction, "interaction")):
            for obj in crm._stream(cls, Query(kind)):
                needles |= _personal_strings(crm, obj)
        for event in crm._stream(civiccrm.models.CaseEvent, Query("case_event")):
            needles |= _personal_strings(crm, event)
        # Listed answers are codes from the profile (the same for everyone), not text.
        for ct in PROFILE.case_types:
            for attr in ct.attributes:
                needles -= {o.key for o in attr.values}
        # District codes are areas from the profile (a case's district column is in
        # clear, for reports), not anyone's data, even where a rule tags a case with one.
        needles -= set(PROFILE.routing.districts.codes())
        # Staff are not citizens: their names are in clear, and may be a citizen's too.
        for agent in crm._stream(civiccrm.models.Agent, Query("agent")):
            for s in _strings(crm.converter.unstructure(agent)):
                needles -= {s, *s.split()}
        # Before the session closes too: the WAL holds the newest pages.
        raw = _files(db)
    assert len(needles) > 500, "the demo made too little personal data to test"
    leaked = sorted(s for s in needles if s.encode() in raw)
    assert leaked == []
    raw = _files(db)
    assert sorted(s for s in needles if s.encode() in raw) == []
    assert (tmp_path / "demo.db.kek").stat().st_mode & 0o777 == 0o600


def test_lookups_work_without_plaintext(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        assert [c.id for c in crm.citizens.find(email=" Anastasia.K@Example.ORG ")] == [ana.id]
        assert [c.id for c in crm.citizens.find(phone="(217) 555-0134")] == [ana.id]
        assert [c.id for c in crm.citizens.find(external_id=("dmv", "D123-4567-8910"))] == [ana.id]
        assert crm.citizens.find(email="someone.else@example.org") == []
        assert crm.citizens.find_by_external_id("dmv", "D123-4567-8910") == ana
        # A changed email is found under the new address only.
        moved = crm.citizens.update(
            attrs.evolve(ana, contact_points=(ContactPoint.email("ana.new@example.org"),))
        )
        assert crm.citizens.find(email="anastasia.k@example.org") == []
        assert [c.id for c in crm.citizens.find(email="ana.new@example.org")] == [moved.id]
    raw = _files(db)
    for clear in (b"anastasia.k@example.org", b"ana.new@example.org", b"D123-4567-8910"):
        assert clear not in raw


# --------------------------------------------------------------------------------------
# Erasure


def test_erasure_shreds_the_party_everywhere_and_in_earlier_copies(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        case = _case_for(crm, ana)
        bob = crm.citizens.create(Citizen(given_name="Roberto", family_name="Bianchi"))
        secrets = _personal_strings(crm, ana) | _personal_strings(crm, case)
    # A copy of the database (not of the key store) taken before the erasure.
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in tmp_path.glob("crm.db*"):
        if not p.name.endswith((".keys", ".keys-wal", ".keys-shm", ".kek")):
            shutil.copy(p, copy / p.name)

    with _open(db) as crm:
        crm.citizens.erase(ana.id, reason="GDPR art. 17 request R-2026-17")
        with pytest.raises(NotFoundError):
            crm.citizens.get(ana.id)
        assert crm.citizens.find(email="anastasia.k@example.org") == []
        assert crm.citizens.find_by_external_id("dmv", "D123-4567-8910") is None
        kept = crm.cases.get(case.id)
        # Non-personal fields stay for statistics; personal ones are gone.
        assert (kept.case_type, kept.status, kept.queue, kept.opened_at) == (
            case.case_type,
            case.status,
            case.queue,
            case.opened_at,
        )
        assert (kept.title, kept.description, kept.location, kept.attributes) == (
            None,
            None,
            None,
            {},
        )
        assert all(e.note is None for e in crm.cases.events(case))
        assert all(i.body is None and i.subject is None for i in crm.interactions.for_case(case))
        assert crm.citizens.get(bob.id).given_name == "Roberto"
        crm.citizens.erase(ana.id, reason="again: finishes the job")  # idempotent
    assert not [s for s in secrets if s.encode() in _files(db)]

    # The copy, opened with the key file as it is now: the party's data is unreadable.
    for p in tmp_path.glob("crm.db.ke*"):
        shutil.copy(p, copy / p.name)
    with _open(copy / "crm.db") as old:
        thawed = old.cases.get(case.id)
        assert thawed.title is None
        assert thawed.description is None
        assert old.citizens.get(bob.id).given_name == "Roberto"
        stale = old.storage.get("citizen", str(ana.id))
        assert stale is not None
        assert old._from_record(old._kind(Citizen), stale).given_name is None
    assert not [s for s in secrets if s.encode() in _files(copy / "crm.db")]


# --------------------------------------------------------------------------------------
# Ciphertext moved


def _docs(crm: CRM, kind: str, rid: str) -> tuple[Record, dict[str, Any]]:
    record = crm.storage.get(kind, rid)
    assert record is not None
    return record, json.loads(record.doc)


@pytest.mark.parametrize("where", ["other_record", "other_field"])
def test_a_moved_ciphertext_fails_with_integrity_error(tmp_path: Path, where: str) -> None:
    with _open(tmp_path / "crm.db") as crm:
        ana = _ana(crm)
        size = {"size": "small"}
        a = crm.cases.open("001", requester=ana, title="First", description="one", attributes=size)
        b = crm.cases.open("001", requester=ana, title="Second", description="two", attributes=size)
        _rec_a, doc_a = _docs(crm, "case", str(a.id))
        rec_b, doc_b = _docs(crm, "case", str(b.id))
        if where == "other_record":
            doc_b["title"] = doc_a["title"]  # same key, same field, another record
        else:
            doc_b["title"] = doc_b["description"]  # same record, another field
        crm.storage.put(attrs.evolve(rec_b, doc=json.dumps(doc_b)), expected_version=rec_b.version)
        with pytest.raises(IntegrityError):
            crm.cases.get(b.id)
        assert crm.cases.get(a.id).title == "First"


def test_plaintext_put_into_a_sealed_field_is_refused(tmp_path: Path) -> None:
    with _open(tmp_path / "crm.db") as crm:
        ana = _ana(crm)
        rec, doc = _docs(crm, "citizen", str(ana.id))
        doc["given_name"] = "Mallory"
        crm.storage.put(attrs.evolve(rec, doc=json.dumps(doc)), expected_version=rec.version)
        with pytest.raises(IntegrityError):
            crm.citizens.get(ana.id)


# --------------------------------------------------------------------------------------
# Keys


def test_a_wrong_or_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        _ana(crm)
    kek = tmp_path / "crm.db.kek"
    assert kek.exists()
    other = tmp_path / "other.kek"
    LocalKeyProvider.from_file(other, create=True)
    with pytest.raises(IntegrityError, match="key-encryption key"):
        _open(db, key=f"file:{other}")
    kek.rename(tmp_path / "moved.kek")
    with pytest.raises(PolicyError, match="does not exist"):
        _open(db)
    (tmp_path / "moved.kek").rename(kek)
    kek.chmod(0o644)
    with pytest.raises(PolicyError, match="chmod 600"):
        _open(db)
    kek.chmod(0o600)
    with _open(db) as crm:
        assert crm.citizens.find(email="anastasia.k@example.org")


def test_a_key_in_an_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    monkeypatch.setenv("MY_KEK", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("CIVICCRM_KEY", "env:MY_KEK")
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
    assert not (tmp_path / "crm.db.kek").exists()
    with _open(db) as crm:
        assert crm.citizens.get(ana.id).given_name == "Anastasia"
    monkeypatch.setenv("MY_KEK", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(IntegrityError):
        _open(db)


def test_rotation_rewraps_every_key_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        case = _case_for(crm, ana)
        anon = crm.cases.open("002", attributes={"problem": "out"}, description="anonymous tip")
    old = f"file:{tmp_path / 'crm.db.kek'}"
    new = f"file:{tmp_path / 'new.kek'}"
    # Interrupted after two keys: the rest are still under the old key.
    with _open(db, key=old) as crm:
        new_provider = LocalKeyProvider.from_file(tmp_path / "new.kek", create=True)
        calls = 0
        real = new_provider.wrap

        def flaky(secret: bytes, *, key_id: str) -> bytes:
            nonlocal calls
            calls += 1
            if calls > 2:
                raise OSError("KMS unreachable")
            return real(secret, key_id=key_id)

        new_provider.wrap = flaky  # type: ignore[method-assign]
        with pytest.raises(OSError, match="KMS unreachable"):
            crm.keys.rotate(new_provider)
    # Resumed by the command line tool, with both keys.
    out = __import__("io").StringIO()
    status = main(
        ["--db", f"sqlite:///{db}", "--json", "keys", "rotate", "--key", old, "--new-key", new],
        out=out,
    )
    assert status == 0
    report = json.loads(out.getvalue())
    assert report["rewrapped"] >= 1
    assert report["already"] == 2
    with _open(db, key=new) as crm:
        assert crm.cases.get(case.id).title == case.title
        assert crm.cases.get(anon.id).description == "anonymous tip"
        assert crm.citizens.get(ana.id).family_name == "Kowalczyk"
    with pytest.raises(IntegrityError):
        _open(db, key=old)


def test_rekey_reencrypts_a_party_under_a_new_key(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        case = _case_for(crm, ana)
        before = json.loads(crm.storage.get("case", str(case.id)).doc)  # type: ignore[union-attr]
        n = crm.citizens.rekey(ana.id)
        assert n >= 4  # the citizen, the case, its events with a note, the interaction
        after = json.loads(crm.storage.get("case", str(case.id)).doc)  # type: ignore[union-attr]
        assert before["_k"] == [f"party:{ana.id}", 1]
        assert after["_k"] == [f"party:{ana.id}", 2]
        assert after["title"] != before["title"]
        assert crm.cases.get(case.id).title == case.title
        assert [e.note for e in crm.cases.events(case) if e.kind is EventKind.NOTE_ADDED] == [
            "Called Anastasia back about the pothole"
        ]
        blob = json.loads(crm.storage.get_key(f"party:{ana.id}") or b"{}")
        assert list(blob["gens"]) == ["2"]  # the old generation is destroyed


def test_rekey_takes_in_messages_surveys_and_mail_receipts(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        case = _case_for(crm, ana)
        crm.cases.transition(case.id, CaseStatus.RESOLVED)
        survey = crm.surveys.issue(case.id)
        # From her address: a new case of hers (this database makes no references).
        mail = EmailMessage()
        mail["From"] = "anastasia.k@example.org"
        mail["Subject"] = "Shed"
        mail.set_content("Thanks")
        mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="p.pdf")
        taken = crm.mail.take(mail.as_bytes(), mailbox="zoning")
        assert crm.cases.get(taken.case_id).requester == ana.ref  # type: ignore[arg-type]
        messages = crm.messages.list(case=case.id).items
        assert messages
        kinds = {"outbox": [str(m.id) for m in messages], "survey": [str(survey.survey.id)]}
        receipts = [r.id for r in crm.storage.stream(Query("mail_receipt"))]
        kinds["mail_receipt"] = receipts

        def sealed(kind: str, rid: str) -> object:
            return json.loads(crm.storage.get(kind, rid).doc).get("_k")  # type: ignore[union-attr]

        under_ana = {
            (kind, rid)
            for kind, ids in kinds.items()
            for rid in ids
            if sealed(kind, rid) == [f"party:{ana.id}", 1]
        }
        assert {kind for kind, _ in under_ana} == {"outbox", "survey", "mail_receipt"}
        crm.citizens.rekey(ana.id)
        for kind, rid in under_ana:
            assert sealed(kind, rid) == [f"party:{ana.id}", 2], kind
        assert crm.messages.get(messages[0].id).body
        assert crm.surveys.get(survey.survey.id).case_id == case.id


# --------------------------------------------------------------------------------------
# The audit trail


def test_every_access_is_audited_without_values(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db, actor=civiccrm.Actor(name="nightly-script"), purpose="testing") as crm:
        ana = _ana(crm)
        case = _case_for(crm, ana)
        crm.citizens.get(ana.id)
        crm.citizens.find(email="anastasia.k@example.org")
        crm.citizens.erase(ana.id, reason="R-1")
        secrets = _personal_strings(crm, ana) | _personal_strings(crm, case)
    conn = sqlite3.connect(db)
    try:
        entries = [json.loads(e) for (e,) in conn.execute("SELECT entry FROM civiccrm_audit")]
    finally:
        conn.close()
    actions = [(e["action"], e["kind"]) for e in entries]
    for expected in [
        ("create", "citizen"),
        ("create", "case"),
        ("read", "citizen"),
        ("erase", "citizen"),
        ("create", "interaction"),
    ]:
        assert expected in actions
    reads = [e for e in entries if e["action"] == "read" and e["kind"] == "citizen"]
    assert all(str(ana.id) in e["record_ids"] for e in reads)
    assert all(e["actor"] == "nightly-script" and e["purpose"] == "testing" for e in entries)
    by_civiccrm = [e for e in reads if (e.get("detail") or {}).get("by")]
    asked = [e for e in reads if e not in by_civiccrm]
    assert "given_name" in asked[0]["fields"]
    # civiccrm's own reads (routing reads the requester's language and needs on opening)
    # are audited too, with their reason and the fields read.
    assert {"routing"} <= {e["detail"]["by"] for e in by_civiccrm}
    assert all(
        "given_name" not in e["fields"] for e in by_civiccrm if e["detail"]["by"] == "routing"
    )
    text = json.dumps(entries)
    assert [s for s in secrets if s in text] == []


def test_audit_verify_names_a_tampered_entry(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        _case_for(crm, ana)
        crm.citizens.get(ana.id)
    url = f"sqlite:///{db}"
    out = __import__("io").StringIO()
    assert main(["--db", url, "--json", "audit", "verify"], out=out) == 0
    assert json.loads(out.getvalue())["ok"] is True
    conn = sqlite3.connect(db)
    try:
        seqs = [s for (s,) in conn.execute("SELECT seq FROM civiccrm_audit ORDER BY seq")]
        entry = json.loads(
            conn.execute("SELECT entry FROM civiccrm_audit WHERE seq = ?", (seqs[2],)).fetchone()[0]
        )
        entry["actor"] = "someone-else"
        conn.execute(
            "UPDATE civiccrm_audit SET entry = ? WHERE seq = ?",
            (json.dumps(entry, sort_keys=True, separators=(",", ":")), seqs[2]),
        )
        conn.commit()
    finally:
        conn.close()
    out = __import__("io").StringIO()
    assert main(["--db", url, "--json", "audit", "verify"], out=out) == 1
    report = json.loads(out.getvalue())
    assert (report["ok"], report["first_bad_seq"]) == (False, seqs[2])


def test_deleting_the_last_audit_entries_is_noticed(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with _open(db) as crm:
        ana = _ana(crm)
        crm.citizens.get(ana.id)
    conn = sqlite3.connect(db)
    try:
        conn.execute("DELETE FROM civiccrm_audit WHERE seq = (SELECT max(seq) FROM civiccrm_audit)")
        conn.commit()
    finally:
        conn.close()
    with _open(db) as crm:
        report = verify_log(crm.storage, crm.keys)
    assert not report.ok
    assert "anchor" in (report.problem or "")


# --------------------------------------------------------------------------------------
# Roles through the facade


def _session(crm: CRM, role: str, purpose: str | None = "case work") -> CRM:
    return CRM(
        crm.storage,
        crm.profile,
        actor=civiccrm.Actor(name=f"a {role}", role=role),
        clock=crm.clock,
        plugins=crm.plugins,
        keys=crm.keys,
        purpose=purpose,
    )


@pytest.fixture
def world() -> Iterator[tuple[CRM, Citizen, Case]]:
    with civiccrm.open("memory://", profile=PROFILE, clock=FixedClock(T0)) as crm:
        ana = _ana(crm)
        case = _case_for(crm, ana)
        yield crm, crm.citizens.get(ana.id), case


@pytest.mark.parametrize("role", sorted(PROFILE.roles))
def test_every_role_sees_every_field_as_configured(
    world: tuple[CRM, Citizen, Case], role: str
) -> None:
    """Generated from the profile: role x personal field, read through the facade."""
    from civiccrm.privacy.access import visible_fields
    from civiccrm.profile import Visibility

    crm, ana, case = world
    session = _session(crm, role)
    for clear, seen in ((ana, session.citizens.get(ana.id)), (case, session.cases.get(case.id))):
        for name, visibility in visible_fields(PROFILE.roles[role], type(clear)).items():
            original, shown = getattr(clear, name), getattr(seen, name)
            field = attrs.fields_dict(type(clear))[name]
            if visibility is Visibility.CLEAR:
                assert shown == original, (role, name)
            elif visibility is Visibility.HIDDEN:
                empty = (
                    field.default.factory()
                    if isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
                    else field.default
                )
                assert shown == empty, (role, name)
            elif visibility is Visibility.REDACTED and isinstance(original, str):
                # Free text loses what the detectors find: here, the requester's name.
                assert clear.requester is None or "Kowalczyk" not in shown, (role, name)
            elif original not in (None, (), {}, False):
                assert shown != original, (role, name)
        # Non-personal fields are untouched.
        assert seen.id == clear.id
        assert seen.version == clear.version


def test_reading_personal_data_needs_a_purpose(world: tuple[CRM, Citizen, Case]) -> None:
    crm, ana, case = world
    session = _session(crm, "caseworker", purpose=None)
    with pytest.raises(civiccrm.AccessDeniedError, match="purpose"):
        session.citizens.get(ana.id)
    with pytest.raises(civiccrm.AccessDeniedError, match="purpose"):
        session.cases.get(case.id)
    assert session.cases.count_open_by_queue()  # no personal data: no purpose needed


def test_forbidden_writes_are_refused(world: tuple[CRM, Citizen, Case]) -> None:
    crm, ana, case = world
    analyst = _session(crm, "analyst")
    with pytest.raises(civiccrm.AccessDeniedError, match="analyst"):
        analyst.citizens.create(Citizen(given_name="Nobody"))
    with pytest.raises(civiccrm.AccessDeniedError):
        analyst.cases.note(case, "no")
    portal = _session(crm, "public_portal")
    opened = portal.cases.open("002", attributes={"problem": "out"}, description="lamp out")
    assert opened.version == 1
    with pytest.raises(civiccrm.AccessDeniedError):
        portal.citizens.erase(ana.id, reason="no")
    caseworker = _session(crm, "caseworker")
    with pytest.raises(civiccrm.AccessDeniedError):
        caseworker.citizens.erase(ana.id, reason="no")
    with pytest.raises(civiccrm.AccessDeniedError):
        caseworker.agents.create(civiccrm.models.Agent(username="x", display_name="X"))
    with pytest.raises(PolicyError, match="not in the agency profile"):
        _session(crm, "janitor")


def test_a_masked_value_is_never_written_back(world: tuple[CRM, Citizen, Case]) -> None:
    crm, ana, _ = world
    auditor = _session(crm, "auditor")
    seen = auditor.citizens.get(ana.id)
    assert seen.family_name != ana.family_name  # masked for the auditor
    caseworker = _session(crm, "caseworker")
    mine = caseworker.citizens.get(ana.id)
    assert mine.external_ids != ana.external_ids  # masked for caseworkers
    changed = caseworker.citizens.update(attrs.evolve(mine, preferred_name="Ana"))
    stored = crm.citizens.get(ana.id)
    assert stored.preferred_name == "Ana"
    assert stored.external_ids == ana.external_ids  # the real ids, not the masked ones
    assert changed.version == stored.version
    assert changed.external_ids == mine.external_ids  # what it returns is masked too
