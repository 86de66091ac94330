"""Case exports: redaction, spreadsheet safety, streaming, filters, files, access, audit, CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm import FixedClock
from civiccrm._auditing import verify_log
from civiccrm._export import DEFAULT_FIELDS, FORMULA_PREFIXES, ExportResult, neutralise
from civiccrm.cli import main
from civiccrm.crm import CRM, Actor
from civiccrm.errors import AccessDeniedError, ValidationError
from civiccrm.models import Case, CaseStatus, Citizen, ContactPoint
from civiccrm.privacy.audit import parse_entry
from civiccrm.profile import load_profile, springfield_path

SPRINGFIELD = load_profile(springfield_path())
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

# The requester's own details, and what she wrote in her report.
SECRETS = (
    "Anastasia",
    "Kowalczyk",
    "ana.k@example.org",
    "555-0134",
    "123-45-6789",
    "4111 1111 1111 1111",
)
DESCRIPTION = (
    "Anastasia Kowalczyk called from (217) 555-0134 about the dead raccoon. Write to "
    "ana.k@example.org. She read out her SSN 123-45-6789 and her card 4111 1111 1111 1111."
)


@pytest.fixture(params=["memory", "sqlite"])
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as session:
        yield session


def _ana(crm: CRM) -> Citizen:
    return crm.citizens.create(
        Citizen(
            given_name="Anastasia",
            family_name="Kowalczyk",
            contact_points=[
                ContactPoint.email("ana.k@example.org"),
                ContactPoint.phone("+12175550134"),
            ],
        )
    )


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _export(crm: CRM, **kw: object) -> tuple[str, ExportResult]:
    out = io.StringIO(newline="")
    result = crm.export.cases(out, **kw)  # type: ignore[arg-type]
    return out.getvalue(), result


# --------------------------------------------------------------------------------------
# Redaction


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_personal_data_in_free_text_never_leaves(crm: CRM, tmp_path: Path, fmt: str) -> None:
    ana = _ana(crm)
    crm.cases.open("035", requester=ana, title="Raccoon for Ms Kowalczyk", description=DESCRIPTION)
    crm.cases.open("001", attributes={"size": "small"}, description="Call 217-555-0134 back")
    target = tmp_path / f"cases.{fmt}"
    result = crm.export.cases(target, format=fmt)  # type: ignore[arg-type]
    assert result == ExportResult(
        count=2,
        path=target,
        format=fmt,
        policy="export",
        seconds=result.seconds,
        fields=DEFAULT_FIELDS,
    )
    text = target.read_text(encoding="utf-8")
    assert [s for s in SECRETS if s in text] == []
    for tag in ("<PERSON>", "<EMAIL>", "<US_SSN>", "***-***-0134", "**** **** **** 1111"):
        assert tag in text
    assert "dead raccoon" in text  # the rest of the text is kept
    if fmt == "csv":
        rows = _rows(text)
        assert list(rows[0]) == list(DEFAULT_FIELDS)
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        assert list(rows[0]) == list(DEFAULT_FIELDS)
    assert len(rows) == 2
    first = rows[0]
    assert first["case_type"] == "035"
    assert first["case_type_name"] == "Dead Animal Removal"
    assert first["department"] == "animal-services"
    assert first["status"] == "new"
    assert first["opened_at"] == "2026-03-10T15:00:00Z"
    assert first["title"] == "Raccoon for Ms <PERSON>"
    assert rows[1]["description"] == "Call ***-***-0134 back"
    # Empty values: "" in CSV, null in JSON.
    assert first["resolved_at"] == ("" if fmt == "csv" else None)


def test_public_policy_and_no_policy_for_the_system_role(crm: CRM) -> None:
    ana = _ana(crm)
    crm.cases.open("035", requester=ana, description=DESCRIPTION)
    text, result = _export(crm, policy="public", fields=["description"])
    assert result.policy == "public"
    assert "<PERSON 1>" in text
    assert "<PHONE>" in text
    assert "Kowalczyk" not in text
    text, result = _export(crm, policy=None, fields=["description"])
    assert result.policy is None
    assert "Kowalczyk" in text  # the system role asked for it in clear


def test_requester_fields_only_when_listed(crm: CRM) -> None:
    ana = _ana(crm)
    crm.cases.open("035", requester=ana)
    text, _ = _export(crm)
    assert "Kowalczyk" not in text
    assert "requester" not in text
    fields = ["requester_name", "requester_email", "requester_phone", "requester_given_name"]
    text, _ = _export(crm, format="jsonl", fields=fields)
    assert json.loads(text) == {
        "requester_name": "Anastasia Kowalczyk",
        "requester_email": "ana.k@example.org",
        "requester_phone": "+12175550134",
        "requester_given_name": "Anastasia",
    }


def test_cases_of_an_erased_requester_keep_their_facts(crm: CRM) -> None:
    ana = _ana(crm)
    case = crm.cases.open("035", requester=ana, title="Raccoon", description=DESCRIPTION)
    crm.citizens.erase(ana.id, reason="erasure request R-1")
    fields = ["id", "case_type", "title", "description", "requester_name"]
    text, result = _export(crm, format="jsonl", fields=fields)
    assert result.count == 1
    assert json.loads(text) == {
        "id": str(case.id),
        "case_type": "035",
        "title": None,
        "description": None,
        "requester_name": None,
    }


# --------------------------------------------------------------------------------------
# Spreadsheet formula injection

FORMULAS = [
    '=HYPERLINK("https://evil.example/x","Click me")',
    "+1 more pothole",
    "-2 degrees and icy",
    "@SUM(A1:A9)",
    "\tx marks the spot",
    "\rx marks the spot",
]


def test_formulas_are_neutralised_in_csv_only(crm: CRM) -> None:
    ids = [str(crm.cases.open("001", attributes={"size": "small"}, title=t).id) for t in FORMULAS]
    text, _ = _export(crm, fields=["id", "title", "description"])
    by_id = {r["id"]: r for r in _rows(text)}
    for case_id, title in zip(ids, FORMULAS, strict=True):
        assert by_id[case_id]["title"] == "'" + title
        assert by_id[case_id]["description"] == ""
    text, _ = _export(crm, format="jsonl", fields=["id", "title"])
    titles = {r["id"]: r["title"] for r in map(json.loads, text.splitlines())}
    assert [titles[i] for i in ids] == FORMULAS


def test_negative_numbers_stay_numbers(crm: CRM) -> None:
    from civiccrm.models import Location

    crm.cases.open(
        "001",
        attributes={"size": "small"},
        location=Location(latitude=39.78, longitude=-89.65),
    )
    text, _ = _export(crm, fields=["latitude", "longitude"])
    assert _rows(text) == [{"latitude": "39.78", "longitude": "-89.65"}]


def test_neutralise() -> None:
    for prefix in FORMULA_PREFIXES:
        assert neutralise(prefix + "x") == "'" + prefix + "x"
    assert neutralise("x=1") == "x=1"
    assert neutralise("'=1") == "'=1"
    assert neutralise("") == ""
    assert neutralise("pipes;=1+1;@x; -2") == "pipes;'=1+1;'@x; -2"


@pytest.fixture(scope="module")
def shared_crm() -> Iterator[CRM]:
    with civiccrm.open("memory://", profile=SPRINGFIELD, clock=FixedClock(T0)) as session:
        yield session


TITLES = st.text(
    alphabet=st.one_of(
        st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", '"', "'", ",", ";", " "]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    min_size=1,
    max_size=40,
).filter(lambda t: bool(t.strip()))


@settings(max_examples=60)
@given(title=TITLES)
@example(title="pipes;=1+1")
@example(title="x; @SUM(A1);-2")
def test_no_csv_cell_starts_a_formula(shared_crm: CRM, title: str) -> None:
    crm = shared_crm
    case = crm.cases.open("001", attributes={"size": "small"}, title=title)
    expected = neutralise(crm.redaction.redact(title, policy="export", case=case).text)
    text, _ = _export(crm, fields=["id", "title"])
    rows = _rows(text)
    for row in rows:
        assert not row["title"].startswith(FORMULA_PREFIXES)
        assert not row["id"].startswith(FORMULA_PREFIXES)
    # A spreadsheet whose locale separates cells with semicolons splits lines there (read
    # so where no quote or line break makes the two readings differ).
    if not any(c in title for c in '"\r\n'):
        row = next(line for line in text.splitlines() if line.startswith(str(case.id)))
        for cell in row.split(";")[1:]:
            assert not cell.startswith(FORMULA_PREFIXES), (title, cell)
    assert {r["id"]: r["title"] for r in rows}[str(case.id)] == expected


# --------------------------------------------------------------------------------------
# Bad input, failures and files


def test_unknown_field_is_named_and_nothing_is_written(crm: CRM, tmp_path: Path) -> None:
    crm.cases.open("001", attributes={"size": "small"})
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ValidationError) as info:
        crm.export.cases(folder / "cases.csv", fields=["id", "titel"])
    message = str(info.value)
    assert "'titel'" in message
    assert "title" in message  # the valid fields are listed
    assert info.value.problems[0].path == "fields[1]"
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("kw", "path", "named"),
    [
        ({"format": "xlsx"}, "format", "'xlsx'"),
        ({"policy": "secret"}, "policy", "'secret'"),
        ({"where": {"case_type": "999"}}, "where.case_type", "'999'"),
        ({"where": {"status": "open"}}, "where.status", "'open'"),
        ({"where": {"department": "nasa"}}, "where.department", "'nasa'"),
        ({"where": {"queue": "nowhere"}}, "where.queue", "'nowhere'"),
        ({"where": {"colour": "red"}}, "where.colour", "'colour'"),
        ({"where": {"opened_from": datetime(2026, 1, 1)}}, "where.opened_from", "aware"),
        ({"batch_size": 0}, "batch_size", "0"),
        ({"fields": ["id", "id"]}, "fields[1]", "twice"),
        ({"fields": []}, "fields", "at least one"),
    ],
)
def test_bad_input_is_refused_before_writing(
    crm: CRM, tmp_path: Path, kw: dict[str, object], path: str, named: str
) -> None:
    target = tmp_path / "cases.csv"
    with pytest.raises(ValidationError) as info:
        crm.export.cases(target, **kw)  # type: ignore[arg-type]
    assert [p.path for p in info.value.problems] == [path]
    assert named in str(info.value)
    assert not target.exists()


def test_file_objects(crm: CRM, tmp_path: Path) -> None:
    crm.cases.open("001", attributes={"size": "small"})
    text, result = _export(crm, fields="id, status")
    assert result.path is None
    assert result.fields == ("id", "status")
    assert text.splitlines()[0] == "id,status"
    with (tmp_path / "x.csv").open("wb") as binary, pytest.raises(ValidationError, match="binary"):
        crm.export.cases(binary)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="purpose"):
        _export(crm, purpose=" ")


def test_a_missing_folder_is_refused(crm: CRM, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no folder"):
        crm.export.cases(tmp_path / "missing" / "cases.csv")
    with pytest.raises(ValidationError, match="is a folder"):
        crm.export.cases(tmp_path)


def test_a_failure_midway_leaves_no_file(crm: CRM, tmp_path: Path) -> None:
    for _ in range(5):
        crm.cases.open("001", attributes={"size": "small"})
    target = tmp_path / "cases.csv"

    def stop(done: int, total: int | None) -> None:
        raise RuntimeError(f"stopped after {done} of {total}")

    with pytest.raises(RuntimeError, match="stopped after 2 of 5"):
        crm.export.cases(target, batch_size=2, progress=stop)
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if "cases.csv" in p.name]
    # An earlier export at the target is left as it was.
    target.write_text("the last good export\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        crm.export.cases(target, batch_size=2, progress=stop)
    assert target.read_text(encoding="utf-8") == "the last good export\n"
    assert [p.name for p in tmp_path.iterdir() if "cases.csv" in p.name] == ["cases.csv"]
    # And a good export replaces it.
    assert crm.export.cases(target).count == 5
    assert len(_rows(target.read_text(encoding="utf-8"))) == 5


# --------------------------------------------------------------------------------------
# Filters


def test_filters(crm: CRM) -> None:
    clock = crm.clock
    assert isinstance(clock, FixedClock)
    opened: dict[str, list[Case]] = {}
    for day in range(4):
        clock.set(T0 + timedelta(days=day))
        opened.setdefault("001", []).append(crm.cases.open("001", attributes={"size": "small"}))
        opened.setdefault("002", []).append(crm.cases.open("002", attributes={"problem": "out"}))
        opened.setdefault("035", []).append(crm.cases.open("035"))
    crm.cases.transition(opened["001"][0], CaseStatus.IN_PROGRESS)
    crm.cases.transition(opened["002"][1], CaseStatus.RESOLVED, resolution_code="fixed")

    def ids(where: dict[str, object]) -> set[str]:
        text, result = _export(crm, fields=["id"], where=where)
        rows = _rows(text)
        assert result.count == len(rows)
        return {r["id"] for r in rows}

    def of(*cases: Case) -> set[str]:
        return {str(c.id) for c in cases}

    assert len(ids({})) == 12
    assert ids({"case_type": "001"}) == of(*opened["001"])
    assert ids({"case_type": ["001", "035"]}) == of(*opened["001"], *opened["035"])
    assert ids({"status": "in_progress"}) == of(opened["001"][0])
    assert ids({"status": [CaseStatus.RESOLVED, "in_progress"]}) == of(
        opened["001"][0], opened["002"][1]
    )
    assert len(ids({"open": True})) == 11
    assert ids({"open": False}) == of(opened["002"][1])
    assert ids({"department": "animal-services"}) == of(*opened["035"])
    assert ids({"department": "animal-services", "case_type": "001"}) == set()
    assert ids({"queue": "pw-streets"}) == of(*opened["001"])
    day1, day3 = T0 + timedelta(days=1), T0 + timedelta(days=3)
    assert ids({"opened_from": day1, "opened_to": day3}) == of(
        *(opened[t][d] for t in opened for d in (1, 2))
    )
    # Dates are midnights in the agency's time zone (Springfield: America/Chicago).
    assert ids({"opened_from": date(2026, 3, 12)}) == of(
        *(opened[t][d] for t in opened for d in (2, 3))
    )
    assert ids({"opened_to": date(2026, 3, 11), "case_type": "002"}) == of(opened["002"][0])


# --------------------------------------------------------------------------------------
# Streaming


def test_streams_five_thousand_cases_in_batches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        crm.cases.bulk_import(
            Case(
                case_type="002",
                title=f"Streetlight out on pole {n}",
                attributes={"problem": "out"},
                opened_at=T0 - timedelta(minutes=n),
                external_ids={"legacy": f"L-{n}"},
            )
            for n in range(5000)
        )
        calls: list[tuple[int, int | None]] = []
        target = tmp_path / "big.csv"
        result = crm.export.cases(
            target,
            fields=["id", "title"],
            batch_size=500,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert calls == [(500 * (n + 1), 5000) for n in range(10)]
    assert result.count == 5000
    rows = _rows(target.read_text(encoding="utf-8"))
    assert len(rows) == 5000
    assert len({r["id"] for r in rows}) == 5000


# --------------------------------------------------------------------------------------
# Roles and purposes


def _as(crm: CRM, role: str, purpose: str | None = "monthly report") -> CRM:
    return CRM(
        crm.storage,
        crm.profile,
        actor=Actor(name="kim", role=role),
        clock=crm.clock,
        plugins=crm.plugins,
        keys=crm.keys,
        purpose=purpose,
    )


def test_roles(crm: CRM) -> None:
    ana = _ana(crm)
    crm.cases.open("035", requester=ana, title="Raccoon", description=DESCRIPTION)
    # A role needs a purpose, given to the session or to the export.
    with pytest.raises(AccessDeniedError, match="purpose"):
        _export(_as(crm, "caseworker", purpose=None))
    text, _ = _export(_as(crm, "caseworker", purpose=None), purpose="casework review")
    assert "<PERSON>" in text
    assert "Kowalczyk" not in text
    # The analyst sees no free text at all: it comes out empty.
    text, _ = _export(_as(crm, "analyst"), format="jsonl")
    assert json.loads(text)["description"] is None
    # Personal fields, or free text unredacted, need a role that may export personal data.
    with pytest.raises(AccessDeniedError, match="requester_email"):
        _export(_as(crm, "caseworker"), fields=["id", "requester_email"])
    with pytest.raises(AccessDeniedError, match="policy=None"):
        _export(_as(crm, "caseworker"), policy=None)
    with pytest.raises(AccessDeniedError, match="clear"):
        _export(_as(crm, "auditor"), policy=None)
    text, _ = _export(_as(crm, "supervisor"), policy=None, fields=["description"])
    assert "Kowalczyk" in text
    # A policy of one's own may keep every type in clear: it needs the export permission.
    from civiccrm.privacy.detect import PiiType
    from civiccrm.privacy.redact import RedactionPolicy

    keep_all = RedactionPolicy(name="noop", keep_types=[t.value for t in PiiType])
    with pytest.raises(AccessDeniedError, match="policy of one's own"):
        _export(_as(crm, "caseworker"), policy=keep_all, fields=["description"])
    text, _ = _export(_as(crm, "supervisor"), policy=keep_all, fields=["description"])
    assert "Kowalczyk" in text
    # A requester's id links a person's cases: personal data too.
    with pytest.raises(AccessDeniedError, match="requester_id"):
        _export(_as(crm, "caseworker"), fields=["id", "requester_id"])
    # The public portal sees free text redacted already; the export's policy applies on top.
    text, _ = _export(_as(crm, "public_portal"), fields=["description"])
    assert "Kowalczyk" not in text
    assert "<PERSON" in text
    # The auditor may export personal fields, and gets them as it sees them: masked.
    text, _ = _export(_as(crm, "auditor"), format="jsonl", fields=["requester_email"])
    assert json.loads(text) == {"requester_email": "a***@example.org"}


def test_reads_are_audited_with_the_purpose(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        ana = _ana(crm)
        cases = [crm.cases.open("035", requester=ana, description=DESCRIPTION) for _ in range(3)]
        crm.citizens.get(ana.id)  # a read the session audits later, after the export's
        crm.export.cases(
            tmp_path / "cases.csv",
            fields=["id", "description", "requester_name"],
            purpose="FOI request 2026-17",
            batch_size=2,
        )
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        events = [parse_entry(text)[1] for _, text in crm.storage.read_audit(limit=10_000)]
        # The export's reads joined the one chain of the database.
        assert verify_log(crm.storage, crm.keys).ok
    mine = [e for e in events if e.purpose == "FOI request 2026-17"]
    reads = [e for e in mine if e.action == "read" and e.kind == "case"]
    assert {i for e in reads for i in e.record_ids} == {str(c.id) for c in cases}
    assert all(e.actor == "system" and "description" in e.fields for e in reads)
    assert [e.record_ids for e in mine if e.action == "read" and e.kind == "citizen"]
    [export] = [e for e in mine if e.action == "export"]
    assert export.kind == "case"
    assert dict(export.detail) == {
        "format": "csv",
        "policy": "export",
        "count": 3,
        "requester_fields": "requester_name",
    }
    assert "Kowalczyk" not in json.dumps([str(e) for e in events])


# --------------------------------------------------------------------------------------
# The command line


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    assert main(["demo", "--cases", "60", "--db", f"sqlite:///{path}"], out=io.StringIO()) == 0
    return path


def test_cli_export(
    demo_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CIVICCRM_DB", raising=False)
    monkeypatch.delenv("CIVICCRM_PROFILE", raising=False)
    target = tmp_path / "cases.csv"
    out = io.StringIO()
    status = main(["export", "cases", "--db", str(demo_db), "--out", str(target)], out=out)
    assert status == 0
    rows = _rows(target.read_text(encoding="utf-8"))
    assert len(rows) == 60
    line = out.getvalue()
    assert line.count("\n") == 1
    assert "60 cases exported to" in line
    assert str(target) in line
    assert "policy 'export'" in line
    assert "exporting cases" in capsys.readouterr().err  # the progress, on stderr

    target = tmp_path / "pw.jsonl"
    out = io.StringIO()
    argv = ["export", "cases", "--db", f"sqlite:///{demo_db}", "--out", str(target), "--json"]
    argv += ["--fields", "id,status,department", "--status", "new,assigned"]
    argv += ["--department", "public-works", "--since", "2000-01-01", "--until", "2099-12-31"]
    assert main(argv, out=out) == 0
    data = json.loads(out.getvalue())
    lines = [json.loads(x) for x in target.read_text(encoding="utf-8").splitlines()]
    assert data["count"] == len(lines) > 0
    assert data["format"] == "jsonl"
    assert {(r["department"], r["status"] in ("new", "assigned")) for r in lines} == {
        ("public-works", True)
    }


def test_cli_bad_fields(demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cases.csv"
    out = io.StringIO()
    argv = ["export", "cases", "--db", str(demo_db), "--out", str(target), "--fields", "id,nme"]
    status = main(argv, out=out)
    assert status == 2
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert err.startswith("civiccrm: error:")
    assert "'nme'" in err
    assert "Traceback" not in err
    assert not target.exists()


def test_cli_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    argv = ["export", "cases", "--db", str(missing), "--out", str(tmp_path / "x.csv")]
    assert main(argv, out=io.StringIO()) == 2
    assert "no database" in capsys.readouterr().err
    assert not missing.exists()


# --------------------------------------------------------------------------------------
# The example


def test_export_example(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "export.py"
    done = subprocess.run(
        [sys.executable, str(example), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "2 cases to cases.csv (policy 'export'):" in out
    assert "2 cases to open-cases.jsonl (policy 'public'):" in out
    written = out + "".join(
        (tmp_path / name).read_text(encoding="utf-8") for name in ("cases.csv", "open-cases.jsonl")
    )
    for value in ("Okafor", "Lopez", "555-0187", "bob.okafor@", "maria.lopez@", "123-45-6789"):
        assert value not in written, value
    assert "<US_SSN>" in written
    assert "4111 1111 1111" not in written
    assert "'=HYPERLINK(" in out


def test_no_file_is_left_without_its_audit_entry(
    crm: CRM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export whose audit entry cannot be written takes its file back."""
    from civiccrm._export import ExportService

    ana = _ana(crm)
    crm.cases.open("035", requester=ana, description=DESCRIPTION)

    def audit_store_down(*args: object, **kwargs: object) -> None:
        raise OSError("audit store down")

    monkeypatch.setattr(ExportService, "_audit_export", audit_store_down)
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(OSError, match="audit store down"):
        crm.export.cases(folder / "out.csv")
    assert list(folder.iterdir()) == []
