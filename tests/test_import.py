"""File imports: mappings, value maps, time zones, rejects, dry runs, re-imports, resume, CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm import FixedClock
from civiccrm._import import ImportResult
from civiccrm.adapters._base import Query
from civiccrm.cli import main
from civiccrm.crm import CRM, Actor
from civiccrm.errors import AccessDeniedError, ValidationError
from civiccrm.models import CaseStatus, Channel, ContactKind, PartyType, Priority
from civiccrm.privacy.audit import parse_entry
from civiccrm.profile import load_profile, springfield_path

SPRINGFIELD = load_profile(springfield_path())
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

CASE_MAPPING = """\
kind = "case"
time_zone = "America/New_York"

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
closed_at = { column = "closed", time_zone = "UTC" }
tags = { column = "labels", split = "|" }
"location.address" = "address"
"attributes.size" = "size"
"""

HEADER = "ticket,service,summary,state,prio,opened,closed,labels,address,size\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _write(tmp_path / "cases.toml", CASE_MAPPING)
    return tmp_path


@pytest.fixture
def crm() -> Iterator[CRM]:
    with civiccrm.open("memory://", profile=SPRINGFIELD, clock=FixedClock(T0)) as session:
        yield session


def _rejects(result: ImportResult) -> list[dict[str, str]]:
    assert result.rejects_path is not None
    with result.rejects_path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _all_cases(crm: CRM) -> dict[str, Any]:
    return {r.columns["external_key"]: r for r in crm.storage.stream(Query("case"))}


# --------------------------------------------------------------------------------------
# Fields, value maps and time zones


def test_csv_rows_become_cases(crm: CRM, folder: Path) -> None:
    source = _write(
        folder / "cases.csv",
        HEADER
        + "T1,PH,Hole on Elm,O,high,03/01/2026 09:30,,hazard|school,12 Elm St,large\n"
        + 'T2,SL,"Light out, ""again""",C,,03/02/2026 22:15,2026-03-04T10:00:00,,,\n',
    )
    result = crm.imports.file(source, folder / "cases.toml")
    assert (result.rows, result.imported, result.inserted, result.rejected) == (2, 2, 2, 0)
    assert result.rejects_path is None
    assert not (folder / "cases.csv.rejects.csv").exists()
    assert not (folder / "cases.csv.checkpoint").exists()
    one = crm.cases.find_by_external_id("legacy311", "T1")
    assert one is not None
    assert (one.case_type, one.title, one.status) == ("001", "Hole on Elm", CaseStatus.NEW)
    assert (one.priority, one.channel) == (Priority.HIGH, Channel.PHONE)
    # A naive time is read in the mapping's time zone (New York: UTC-5 in winter).
    assert one.opened_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert one.tags == ("hazard", "school")
    assert one.location is not None
    assert one.location.address == "12 Elm St"
    assert one.attributes == {"size": "large"}
    two = crm.cases.find_by_external_id("legacy311", "T2")
    assert two is not None
    assert (two.case_type, two.title, two.status) == (
        "002",
        'Light out, "again"',
        CaseStatus.CLOSED,
    )
    assert two.priority is Priority.NORMAL  # the default for an empty cell
    # After midnight UTC: the day changes with the time zone.
    assert two.opened_at == datetime(2026, 3, 3, 3, 15, tzinfo=UTC)
    # A field's own time zone wins over the mapping's.
    assert two.closed_at == datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert two.location is None
    assert two.attributes == {}


def test_daylight_saving_and_agency_time_zone(crm: CRM, tmp_path: Path) -> None:
    # Without time_zone, naive times are the agency's (Springfield: America/Chicago).
    mapping = {
        "kind": "case",
        "external_id": {"source": "old", "column": "id"},
        "fields": {"case_type": {"value": "035"}, "opened_at": "at"},
    }
    source = _write(
        tmp_path / "t.csv",
        "id,at\nwinter,2026-01-15T12:00:00\nsummer,2026-07-15T12:00:00\naware,2026-07-15T12:00:00+02:00\n",
    )
    crm.imports.file(source, mapping)
    got = {
        k: crm.cases.find_by_external_id("old", k).opened_at  # type: ignore[union-attr]
        for k in ("winter", "summer", "aware")
    }
    assert got == {
        "winter": datetime(2026, 1, 15, 18, 0, tzinfo=UTC),  # CST, UTC-6
        "summer": datetime(2026, 7, 15, 17, 0, tzinfo=UTC),  # CDT, UTC-5
        "aware": datetime(2026, 7, 15, 10, 0, tzinfo=UTC),  # its own offset wins
    }


def test_value_maps_translate_before_checking(crm: CRM, folder: Path) -> None:
    source = _write(
        folder / "cases.csv",
        HEADER
        + "T1,PH,a,W,,03/01/2026 09:30,,,,\n"
        + "T2,PH,b,X,,03/01/2026 09:30,,,,\n"  # neither mapped nor a status
        + "T3,PH,c,resolved,,03/01/2026 09:30,,,,\n",  # not mapped, but a status
    )
    result = crm.imports.file(source, folder / "cases.toml")
    assert crm.cases.find_by_external_id("legacy311", "T1").status is CaseStatus.IN_PROGRESS  # type: ignore[union-attr]
    assert crm.cases.find_by_external_id("legacy311", "T3").status is CaseStatus.RESOLVED  # type: ignore[union-attr]
    [reject] = _rejects(result)
    assert reject["line"] == "3"
    assert reject["column"] == "state"
    assert reject["field"] == "status"
    assert reject["reason"].startswith("status: 'X' is not a status (choose from: new, ")


# --------------------------------------------------------------------------------------
# Rejects


def test_rejects_name_line_column_and_reason(crm: CRM, folder: Path) -> None:
    source = folder / "cases.csv"
    source.write_bytes(
        (
            HEADER
            + "T1,PH,good,O,,03/01/2026 09:30,,,,\n"  # line 2
            + "T2,PH,bad date,O,,yesterday,,,,\n"  # line 3
            + 'T3,PH,"two\nlines",O,urgent,03/01/2026 09:30,,,,\n'  # lines 4-5: good
            + "T4,XX,no such type,O,,03/01/2026 09:30,,,,\n"  # line 6
            + "T5,PH,two problems,O,soon,13/45/2026 09:30,,,,\n"  # line 7
            + "T6,PH,too,few\n"  # line 8
            + ",PH,no id,O,,03/01/2026 09:30,,,,\n"  # line 9
            + "\n"  # line 10: blank, skipped
            + "T7,PH,big,O,,03/01/2026 09:30,,,,huge\n"  # line 11
        ).encode()
        + b"T8,PH,caf\xe9,O,,03/01/2026 09:30,,,,\n"  # line 12: not UTF-8
        + b"T9,PH,last,O,,03/01/2026 09:30,,,,small\n"  # line 13: good
    )
    result = crm.imports.file(source, folder / "cases.toml")
    assert (result.rows, result.imported, result.rejected, result.problems) == (10, 3, 7, 8)
    rows = [(r["line"], r["column"], r["field"], r["reason"]) for r in _rejects(result)]
    assert rows == [
        (
            "3",
            "opened",
            "opened_at",
            "opened_at: 'yesterday' is not a time in format %m/%d/%Y %H:%M",
        ),
        ("6", "service", "case_type", "case_type: no case type 'XX' in the profile"),
        (
            "7",
            "prio",
            "priority",
            "priority: 'soon' is not a priority (choose from: low, normal, high, urgent)",
        ),
        (
            "7",
            "opened",
            "opened_at",
            "opened_at: '13/45/2026 09:30' is not a time in format %m/%d/%Y %H:%M",
        ),
        ("8", "", "", "4 cells where the header has 10"),
        ("9", "ticket", "external_id", "external_id: empty: every row needs its id in 'ticket'"),
        (
            "11",
            "size",
            "attributes.size",
            "attributes.size: 'huge' is not one of 'small', 'medium', 'large'",
        ),
        ("12", "", "", "line 12 is not utf-8 text"),
    ]
    assert set(_all_cases(crm)) == {"legacy311:T1", "legacy311:T3", "legacy311:T9"}
    assert crm.cases.find_by_external_id("legacy311", "T3").title == "two\nlines"  # type: ignore[union-attr]


def test_reject_cells_are_safe_in_a_spreadsheet(crm: CRM, tmp_path: Path) -> None:
    mapping = {
        "kind": "case",
        "external_id": {"source": "old", "column": "id"},
        "fields": {"case_type": {"value": "035"}, "opened_at": "=HYPERLINK()"},
    }
    source = _write(tmp_path / "x.csv", "id,=HYPERLINK()\nT1,-1\n")
    result = crm.imports.file(source, mapping)
    [reject] = _rejects(result)
    assert reject["column"] == "'=HYPERLINK()"
    assert reject["reason"] == "opened_at: '-1' is not an ISO 8601 time"


def test_jsonl_rows(crm: CRM, tmp_path: Path) -> None:
    mapping = {
        "kind": "case",
        "time_zone": "UTC",
        "external_id": {"source": "app", "column": "id"},
        "fields": {
            "case_type": "type",
            "title": "report.title",
            "opened_at": "at",
            "location.latitude": "where.lat",
            "location.longitude": "where.lon",
            "attributes.size": "answers.size",
            "tags": "tags",
        },
    }
    lines = [
        {
            "id": 17,
            "type": "001",
            "report": {"title": "Deep"},
            "at": "2026-03-01T08:00:00",
            "where": {"lat": 39.8, "lon": -89.65},
            "answers": {"size": "small"},
            "tags": ["a", "b"],
        },
        "not json",
        [1, 2],
        {"id": 18, "type": "001", "at": "2026-03-01T08:00:00", "where": {"lat": 91, "lon": 0}},
        {"id": 19, "type": 35, "at": "2026-03-01T08:00:00"},
        {"id": 20, "type": "035", "at": "2026-03-01T08:00:00Z"},
    ]
    source = tmp_path / "cases.jsonl"
    source.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n",
        encoding="utf-8",
    )
    result = crm.imports.file(source, mapping)
    assert result.format == "jsonl"
    assert (result.rows, result.imported, result.rejected) == (6, 2, 4)
    case = crm.cases.find_by_external_id("app", "17")
    assert case is not None
    assert case.title == "Deep"
    assert case.tags == ("a", "b")
    assert case.location is not None
    assert (case.location.latitude, case.location.longitude) == (
        39.8,
        -89.65,
    )
    assert case.attributes == {"size": "small"}
    rejects = [(r["line"], r["field"], r["reason"].split(":")[0]) for r in _rejects(result)]
    assert rejects == [
        ("2", "", "not a JSON object"),
        ("3", "", "not a JSON object but list"),
        ("4", "location.latitude", "location.latitude"),
        ("5", "case_type", "case_type"),
    ]


def test_byte_order_marks(crm: CRM, tmp_path: Path) -> None:
    mapping = {
        "kind": "case",
        "external_id": {"source": "old", "column": "id"},
        "fields": {"case_type": {"value": "035"}, "opened_at": "at"},
    }
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.csv").write_bytes(bom + b"id,at\nA1,2026-03-01T09:00:00Z\n")
    (tmp_path / "b.jsonl").write_bytes(bom + b'{"id": "B1", "at": "2026-03-01T09:00:00Z"}\n')
    assert crm.imports.file(tmp_path / "a.csv", mapping).inserted == 1
    assert crm.imports.file(tmp_path / "b.jsonl", mapping).inserted == 1


# --------------------------------------------------------------------------------------
# Mappings


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"kind": "ticket"}, "kind", "'ticket' is not a kind of record"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "no time zone 'Mars/Olympus'"),
        ({"external_id": None}, "external_id", "missing"),
        (
            {"external_id": {"source": "a:b", "column": "id"}},
            "external_id.source",
            "may not contain ':'",
        ),
        ({"fields.opened_at": None}, "fields.opened_at", "missing: a case needs it"),
        ({"fields.colour": "c"}, "fields.colour", "no field 'colour' of a case"),
        (
            {"fields.status": {"column": "s", "values": {"O": "opened"}}},
            "fields.status.values.O",
            "'opened' is not a status",
        ),
        (
            {"fields.priority": {"column": "p", "default": "3"}},
            "fields.priority.default",
            "'3' is not a priority",
        ),
        (
            {"fields.title": {"column": "t", "format": "%Y"}},
            "fields.title.format",
            "takes no format",
        ),
        ({"fields.title": {"column": "t", "value": "x"}}, "fields.title", "not both"),
        ({"fields.title": {"colum": "t"}}, "fields.title.colum", "unknown key"),
        (
            {"fields.case_type": {"value": "999"}},
            "fields.case_type",
            "no case type '999' in the profile",
        ),
        (
            {"fields.opened_at": {"column": "o", "time_zone": "Nowhere"}},
            "fields.opened_at.time_zone",
            "no time zone",
        ),
        ({"fields.requester": {"column": "r"}}, "fields.requester.source", "missing"),
        ({"fields.external_ids.old": "x"}, 'fields."external_ids.old"', "map it there only"),
        ({"kind": "citizen"}, "fields.case_type", "no field 'case_type' of a citizen"),
    ],
)
def test_bad_mappings_name_the_toml_path(
    crm: CRM, change: dict[str, Any], path: str, message: str
) -> None:
    mapping: dict[str, Any] = {
        "kind": "case",
        "external_id": {"source": "old", "column": "id"},
        "fields": {"case_type": "t", "opened_at": "o"},
    }
    for key, value in change.items():
        target = mapping
        if key.startswith("fields."):
            target, key = mapping["fields"], key[7:]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    with pytest.raises(ValidationError) as info:
        crm.imports.mapping(mapping)
    assert any(p.path == path and message in p.message for p in info.value.problems), info.value


def test_every_mapping_problem_at_once(crm: CRM, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.toml",
        'kind = "case"\nformat = "xml"\n[external_id]\ncolumn = "id"\n[fields]\n'
        'case_type = "t"\nopened_at = { column = "o", format = "yyyy-mm-dd" }\n',
    )
    with pytest.raises(ValidationError) as info:
        crm.imports.file(_write(tmp_path / "x.csv", "id,t,o\n"), path)
    assert [p.path for p in info.value.problems] == [
        "format",
        "external_id.source",
        "fields.opened_at.format",
    ]
    assert str(info.value).startswith("invalid mapping: 3 problems")


def test_unreadable_mapping_and_missing_columns(crm: CRM, folder: Path) -> None:
    with pytest.raises(ValidationError, match="is not valid TOML"):
        crm.imports.mapping(_write(folder / "broken.toml", "kind = \n"))
    with pytest.raises(ValidationError, match="no mapping file"):
        crm.imports.mapping(folder / "nothing.toml")
    source = _write(folder / "cases.csv", "ticket,service,summary\nT1,PH,x\n")
    with pytest.raises(ValidationError) as info:
        crm.imports.file(source, folder / "cases.toml")
    paths = [p.path for p in info.value.problems]
    assert "fields.opened_at.column" in paths
    assert "fields.state.column" not in paths
    assert "no column 'opened' in cases.csv (its columns: 'ticket', 'service', 'summary')" in str(
        info.value
    )
    with pytest.raises(ValidationError, match="no file at"):
        crm.imports.file(folder / "missing.csv", folder / "cases.toml")


# --------------------------------------------------------------------------------------
# Parties, and cases linked to them


def test_citizens_then_their_cases(crm: CRM, tmp_path: Path) -> None:
    people = {
        "kind": "citizen",
        "external_id": {"source": "legacy-people", "column": "pid"},
        "fields": {
            "given_name": "first",
            "family_name": "last",
            "date_of_birth": {"column": "dob", "format": "%m/%d/%Y"},
            "email": "email",
            "phone": "phone",
            "postal.line1": "street",
            "postal.city": "city",
            "postal.country": {"value": "US"},
            "vulnerable": {"column": "vuln", "default": False},
            "created_at": {"value": "2020-01-01T00:00:00Z"},
        },
    }
    source = _write(
        tmp_path / "people.csv",
        "pid,first,last,dob,email,phone,street,city,vuln\n"
        "P1,Ana,Núñez,04/11/1980,ANA@Example.org,(217) 555-0134,1 Elm St,Springfield,yes\n"
        "P2,Bo,Li,1980-04-11,not-an-email,,,,\n",
    )
    result = crm.imports.file(source, people)
    assert (result.inserted, result.rejected) == (1, 1)
    [dob, email] = _rejects(result)
    assert dob["field"] == "date_of_birth"
    assert "is not a date in format %m/%d/%Y" in dob["reason"]
    assert email["field"] == "email"
    assert email["column"] == "email"
    ana = crm.citizens.find_by_external_id("legacy-people", "P1")
    assert ana is not None
    assert ana.date_of_birth == date(1980, 4, 11)
    assert ana.vulnerable
    kinds = {cp.kind: cp for cp in ana.contact_points}
    assert kinds[ContactKind.EMAIL].value == "ANA@example.org"
    assert kinds[ContactKind.PHONE].value == "+12175550134"
    postal = kinds[ContactKind.POSTAL].address
    assert postal is not None
    assert postal.lines == ("1 Elm St",)
    assert postal.country == "US"
    assert [c.family_name for c in crm.citizens.find(email="ana@example.org")] == ["Núñez"]

    cases = {
        "kind": "case",
        "external_id": {"source": "legacy311", "column": "ticket"},
        "fields": {
            "case_type": {"value": "035"},
            "opened_at": "opened",
            "requester": {"column": "person", "source": "legacy-people"},
        },
    }
    source = _write(
        tmp_path / "cases.csv",
        "ticket,opened,person\nC1,2026-03-01T09:00:00Z,P1\nC2,2026-03-01T09:00:00Z,P2\nC3,2026-03-01T09:00:00Z,\n",
    )
    result = crm.imports.file(source, cases)
    [reject] = _rejects(result)
    assert reject["line"] == "3"
    assert reject["column"] == "person"
    assert (
        "no citizen with external id legacy-people:P2 (import the citizens first)"
        in reject["reason"]
    )
    linked = crm.cases.find_by_external_id("legacy311", "C1")
    assert linked is not None
    assert linked.requester is not None
    assert (linked.requester.type, linked.requester.id) == (PartyType.CITIZEN, ana.id)
    anonymous = crm.cases.find_by_external_id("legacy311", "C3")
    assert anonymous is not None
    assert anonymous.requester is None


def test_organizations(crm: CRM, tmp_path: Path) -> None:
    mapping = {
        "kind": "organization",
        "external_id": {"source": "licences", "column": "lic"},
        "fields": {
            "name": "name",
            "kind": {"column": "type", "values": {"LL": "landlord", "BIZ": "business"}},
            "created_at": {"column": "since", "format": "%Y-%m-%d"},
        },
    }
    source = _write(
        tmp_path / "orgs.csv",
        "lic,name,type,since\nL1,Acme Rentals,LL,2019-05-01\nL2,,BIZ,2019-05-01\n",
    )
    result = crm.imports.file(source, mapping)
    assert (result.inserted, result.rejected) == (1, 1)
    assert _rejects(result)[0]["field"] == "name"
    org = crm.organizations.find_by_external_id("licences", "L1")
    assert org is not None
    assert org.kind.value == "landlord"
    assert org.created_at == datetime(2019, 5, 1, 5, 0, tzinfo=UTC)  # Chicago midnight


# --------------------------------------------------------------------------------------
# Idempotence, dry runs, resuming


def _sqlite(path: Path) -> CRM:
    return civiccrm.open(f"sqlite:///{path}", profile=SPRINGFIELD, clock=FixedClock(T0))


def _source(folder: Path, rows: int, *, bad_every: int = 7) -> Path:
    lines = [HEADER]
    for i in range(rows):
        opened = "yesterday" if i % bad_every == 3 else f"03/{1 + i % 28:02d}/2026 {i % 24:02d}:15"
        lines.append(
            f"T{i},{'PH' if i % 2 else 'SL'},Report {i},{'OWC'[i % 3]},,{opened},,,{i} Elm,{'small' if i % 2 else ''}\n"
        )
    return _write(folder / "cases.csv", "".join(lines))


def _snapshot(crm: CRM) -> dict[str, tuple[str, int, str]]:
    """The stored cases as stored (sealed: comparable within one database only)."""
    return {k: (r.id, r.version, r.doc) for k, r in _all_cases(crm).items()}


def _cases(crm: CRM) -> dict[str, tuple[str, int, object]]:
    """The stored cases as read (comparable across databases, whose keys differ)."""
    return {k: (r.id, r.version, crm.cases.get(r.id)) for k, r in _all_cases(crm).items()}


def test_importing_again_changes_nothing(folder: Path) -> None:
    source = _source(folder, 60)
    with _sqlite(folder / "a.db") as crm:
        first = crm.imports.file(source, folder / "cases.toml", batch_size=16)
        before = _snapshot(crm)
        events = sum(crm.storage.count("case_event").values())
        second = crm.imports.file(source, folder / "cases.toml", batch_size=7)
        assert (first.inserted, first.updated, first.unchanged) == (51, 0, 0)
        assert (second.inserted, second.updated, second.unchanged) == (0, 0, 51)
        assert _snapshot(crm) == before
        assert sum(crm.storage.count("case_event").values()) == events
        assert first.rejected == second.rejected == 9


def test_dry_run_writes_nothing(folder: Path) -> None:
    source = _source(folder, 30)
    with _sqlite(folder / "a.db") as crm:
        audit = len(crm.storage.read_audit(limit=100_000))
        result = crm.imports.file(source, folder / "cases.toml", dry_run=True, batch_size=4)
        assert result.dry_run
        assert (result.rows, result.imported, result.rejected) == (30, 26, 4)
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, 0)
        assert sum(crm.storage.count("case").values()) == 0
        assert sum(crm.storage.count("case_event").values()) == 0
        assert len(crm.storage.read_audit(limit=100_000)) == audit
        assert not (folder / "cases.csv.checkpoint").exists()
        # The report is the reject file: the same as a real run's.
        dry = [r["line"] for r in _rejects(result)]
        real = crm.imports.file(source, folder / "cases.toml")
        assert [r["line"] for r in _rejects(real)] == dry
        assert real.inserted == 26


class _Stop(Exception):
    pass


def _stop_after(batches: int) -> Any:
    calls = [0]

    def progress(done: int, total: int) -> None:
        calls[0] += 1
        if calls[0] > batches:  # the first call is the start
            raise _Stop

    return progress


@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_resume_after_interruption(folder: Path, stop_after: int) -> None:
    source = _source(folder, 50, bad_every=5)
    mapping = folder / "cases.toml"
    with _sqlite(folder / "clean.db") as crm:
        crm.imports.file(source, mapping, batch_size=6, rejects=folder / "clean.rejects.csv")
        clean = _cases(crm)
    clean_rejects = (folder / "clean.rejects.csv").read_text(encoding="utf-8")
    checkpoint = folder / "cases.csv.checkpoint"
    with _sqlite(folder / "stopped.db") as crm:
        with pytest.raises(_Stop):
            crm.imports.file(source, mapping, batch_size=6, progress=_stop_after(stop_after))
        saved = orjson.loads(checkpoint.read_bytes())["state"]
        assert saved["rows"] >= 6 * stop_after
        assert checkpoint.exists()
        # A crash between a batch's commit and its checkpoint: an older checkpoint.
        older = folder / "older"
        shutil.copy(checkpoint, older)
        with pytest.raises(_Stop):
            crm.imports.file(source, mapping, batch_size=6, progress=_stop_after(2))
        shutil.copy(older, checkpoint)
        result = crm.imports.file(source, mapping, batch_size=6)
        assert result.resumed_from_line == saved["line"] + 1
        assert result.rows == 50
        assert result.rejected == 10
        assert not checkpoint.exists()
        assert _cases(crm) == clean
        assert sum(crm.storage.count("case_event").values()) == len(clean)
    assert (folder / "cases.csv.rejects.csv").read_text(encoding="utf-8") == clean_rejects


def test_a_checkpoint_of_another_file_is_refused(folder: Path) -> None:
    source = _source(folder, 20)
    with _sqlite(folder / "a.db") as crm:
        with pytest.raises(_Stop):
            crm.imports.file(source, folder / "cases.toml", batch_size=4, progress=_stop_after(1))
        _write(source, source.read_text(encoding="utf-8").replace("Report 1,", "Report one,"))
        with pytest.raises(ValidationError, match="another file or mapping"):
            crm.imports.file(source, folder / "cases.toml")
        # A dry run would overwrite the stopped import's reject file: refused.
        with pytest.raises(ValidationError, match="stopped and left"):
            crm.imports.file(source, folder / "cases.toml", dry_run=True)
        result = crm.imports.file(source, folder / "cases.toml", restart=True)
        assert result.resumed_from_line is None
        assert result.rows == 20


# --------------------------------------------------------------------------------------
# Permission and audit


def test_role_must_allow_imports(crm: CRM, folder: Path) -> None:
    source = _source(folder, 3)
    analyst = CRM(
        crm.storage,
        crm.profile,
        actor=Actor(name="kim", role="analyst"),
        clock=crm.clock,
        plugins=crm.plugins,
        keys=crm.keys,
        purpose="migration",
    )
    for dry_run in (True, False):
        with pytest.raises(AccessDeniedError, match="import"):
            analyst.imports.file(source, folder / "cases.toml", dry_run=dry_run)
    assert not (folder / "cases.csv.rejects.csv").exists()


def test_imports_are_audited(folder: Path) -> None:
    source = _source(folder, 10)
    with _sqlite(folder / "a.db") as crm:
        crm.imports.file(source, folder / "cases.toml", batch_size=4)
        ids = {r.id for r in _all_cases(crm).values()}
        crm.auditor.flush()
        events = [parse_entry(text)[1] for _, text in crm.storage.read_audit(limit=10_000)]
    imported = [e for e in events if e.action == "import" and e.kind == "case"]
    assert len(imported) == 3  # one per batch
    assert {i for e in imported for i in e.record_ids} == ids


# --------------------------------------------------------------------------------------
# Generated rows: every bad row in the rejects with its line, every good row in


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from("\n,\"'"),
    min_size=1,
    max_size=20,
).filter(lambda t: t.strip() != "")

_BAD_CELLS = {
    "opened": st.sampled_from(["yesterday", "31/12/2026 10:00", "2026-03-01"]),
    "service": st.sampled_from(["XX", "999", "ph"]),
    "prio": st.sampled_from(["asap", "3"]),
    "size": st.sampled_from(["huge", "Small"]),
}


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[dict[str, str], str | None]]:
    rows = []
    for i in range(draw(st.integers(1, 25))):
        row = {
            "ticket": f"T{i}",
            "service": "PH",
            "summary": draw(_TEXT),
            "state": draw(st.sampled_from("OWC")),
            "prio": draw(st.sampled_from(["", "low", "HIGH"])),
            "opened": f"{draw(st.integers(1, 12))}/{draw(st.integers(1, 28))}/2026 {draw(st.integers(0, 23))}:05",
            "closed": "",
            "labels": "",
            "address": draw(st.one_of(st.just(""), _TEXT)),
            "size": draw(st.sampled_from(["", "small", "large"])),
        }
        bad = draw(st.one_of(st.none(), st.sampled_from(sorted(_BAD_CELLS))))
        if bad is not None:
            row[bad] = draw(_BAD_CELLS[bad])
        rows.append((row, bad))
    return rows


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows(), batch_size=st.integers(1, 10), jsonl=st.booleans())
def test_generated_rows(
    folder: Path, rows: list[tuple[dict[str, str], str | None]], batch_size: int, jsonl: bool
) -> None:
    lines: dict[str, int] = {}
    if jsonl:
        source = folder / "cases.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r, _ in rows), encoding="utf-8")
        lines = {r["ticket"]: n for n, (r, _) in enumerate(rows, start=1)}
    else:
        source = folder / "cases.csv"
        out = io.StringIO(newline="")
        w = csv.writer(out)
        w.writerow(rows[0][0].keys())
        line = 2
        for r, _ in rows:
            lines[r["ticket"]] = line
            w.writerow(r.values())
            line = 1 + out.getvalue().count("\n")
        source.write_text(out.getvalue(), encoding="utf-8", newline="")
    with civiccrm.open("memory://", profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        result = crm.imports.file(source, folder / "cases.toml", batch_size=batch_size)
        bad = {lines[r["ticket"]]: field for r, field in rows if field is not None}
        good = [r for r, field in rows if field is None]
        assert result.rejected == len(bad)
        assert result.imported == len(good)
        got = (
            {}
            if result.rejects_path is None
            else {int(x["line"]): x["column"] for x in _rejects(result)}
        )
        assert got == bad
        stored = _all_cases(crm)
        assert set(stored) == {f"legacy311:{r['ticket']}" for r in good}
        for r in good:
            case = crm.cases.find_by_external_id("legacy311", r["ticket"])
            assert case is not None
            assert case.title == r["summary"].strip()
            assert (case.location.address if case.location else "") == r["address"].strip()


# --------------------------------------------------------------------------------------
# The command


def test_cli(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _source(folder, 12, bad_every=6)
    db = f"sqlite:///{folder / 'agency.db'}"
    args = ["import", str(source), "--mapping", str(folder / "cases.toml"), "--db", db]
    out = io.StringIO()
    assert main([*args, "--dry-run"], out=out) == 0
    assert out.getvalue().startswith(
        f"{source}: 12 rows checked; 10 cases would be imported (dry run"
    )
    out = io.StringIO()
    assert main([*args, "--json", "--batch-size", "5"], out=out) == 0
    data = json.loads(out.getvalue())
    assert (data["rows"], data["inserted"], data["rejected"]) == (12, 10, 2)
    assert data["rejects"] == str(folder / "cases.csv.rejects.csv")
    out = io.StringIO()
    assert main(args, out=out) == 0
    assert "(0 new, 0 changed, 10 unchanged); 2 rows rejected, see" in out.getvalue()
    assert "importing rows: done" in capsys.readouterr().err
    # Bad input: status 2 and one readable line.
    _write(folder / "bad.toml", 'kind = "case"\n')
    args[3] = str(folder / "bad.toml")
    assert main(args, out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("civiccrm: error: invalid mapping: 2 problems")
    assert "external_id: missing" in err
    assert "Traceback" not in err


def test_example_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "import_csv.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "people: 3 rows, 2 new, 0 changed, 0 unchanged, 1 rejected" in out
    assert "cases: 5 rows, 3 new, 0 changed, 0 unchanged, 2 rejected" in out
    assert "line 5, column 'opened': opened_at: 'yesterday' is not a time in format" in out
    assert "requester: no citizen with external id legacy-people:C-102" in out
    assert "requester Ana Núñez (es)" in out
    assert "cases again: 5 rows, 0 new, 0 changed, 3 unchanged, 2 rejected" in out
    assert out.strip().endswith("cases stored: 3")
