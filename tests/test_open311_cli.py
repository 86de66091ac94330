"""``civiccrm open311 ...``: exports to files and imports from them."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

import civiccrm
from civiccrm import FixedClock
from civiccrm.cli import main
from civiccrm.models import CaseStatus, Citizen, ContactPoint, Location
from civiccrm.open311 import Open311
from civiccrm.profile import springfield_path

SSN = "078-05-1120"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'city.db'}"
    clock = FixedClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    with civiccrm.open(url, profile=springfield_path(), clock=clock) as crm:
        ana = crm.citizens.create(
            Citizen(given_name="Ana", contact_points=[ContactPoint.email("ana@example.org")])
        )
        crm.cases.open(
            "001",
            requester=ana,
            attributes={"size": "large"},
            description=f"Hole outside; my SSN is {SSN}",
            location=Location(address="100 N 5th St", latitude=39.78, longitude=-89.65),
            external_ids={"open311": "00042"},
        )
        light = crm.cases.open(
            "002",
            attributes={"problem": "out"},
            location=Location(address="5th & Elm"),
            reference="SR-7",
        )
        crm.cases.transition(light, CaseStatus.RESOLVED, note="Bulb replaced")
        crm.cases.open("019", attributes={"household_size": 2, "monthly_income": 900})
    return url


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_export_services(db: str, tmp_path: Path) -> None:
    target = tmp_path / "services.xml"
    status, out = _run("open311", "export", "services", "--db", db, "--out", str(target))
    assert status == 0
    assert out == f"16 services written to {target} (xml)\n"
    root = ET.parse(target).getroot()
    assert root.tag == "services"
    assert root.findtext("service/service_code") == "001"


@pytest.mark.parametrize("fmt", ["xml", "json", "csv"])
def test_export_requests_then_import_them_elsewhere(db: str, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"requests.{fmt}"
    status, out = _run("open311", "export", "requests", "--db", db, "--out", str(target), "--json")
    assert status == 0
    summary = json.loads(out)
    assert summary == {"path": str(target), "format": fmt, "count": 2, "policy": "public"}
    text = target.read_text(encoding="utf-8")
    assert SSN not in text  # redacted for the public by default
    assert "00042" in text
    assert "SR-7" in text
    other = f"sqlite:///{tmp_path / 'peer.db'}"
    status, out = _run("open311", "import", "requests", str(target), "--db", other)
    assert (status, out) == (0, f"{target}: 2 new, 0 updated, 0 unchanged, 0 problems\n")
    status, out = _run("open311", "import", "requests", str(target), "--db", other)
    assert out == f"{target}: 0 new, 0 updated, 2 unchanged, 0 problems\n"
    with civiccrm.open(other, profile=springfield_path()) as crm:
        service = Open311(crm, public=False)
        found = service.find_case("SR-7")
        assert found is not None
        assert found.status is CaseStatus.CLOSED
        assert service.status_notes(found) == "Bulb replaced"
        pothole = service.find_case("00042")
        assert pothole is not None
        assert pothole.description is not None
        assert SSN not in pothole.description


def test_export_without_redaction_and_with_filters(db: str, tmp_path: Path) -> None:
    target = tmp_path / "open.json"
    status, out = _run(
        "open311",
        "export",
        "requests",
        "--db",
        db,
        "--out",
        str(target),
        "--policy",
        "none",
        "--status",
        "open",
        "--type",
        "001",
        "--extensions",
    )
    assert status == 0
    assert "NOT redacted" in out
    (item,) = json.loads(target.read_bytes())
    assert item["description"] == f"Hole outside; my SSN is {SSN}"
    assert item["extended_attributes"]["attributes"] == [{"code": "size", "value": "large"}]
    status, _ = _run(
        "open311",
        "export",
        "requests",
        "--db",
        db,
        "--out",
        str(target),
        "--since",
        "2026-03-11",
    )
    assert status == 0
    assert json.loads(target.read_bytes()) == []


def test_export_and_import_updates(db: str, tmp_path: Path) -> None:
    target = tmp_path / "updates.xml"
    status, out = _run("open311", "export", "updates", "--db", db, "--out", str(target))
    assert (status, out) == (0, f"1 request updates written to {target} (xml)\n")
    assert ET.parse(target).getroot().findtext("request_update/status") == "FIXED"
    status, out = _run("open311", "import", "updates", str(target), "--db", db)
    assert (status, out) == (0, f"{target}: 0 applied, 0 updated, 1 unchanged, 0 problems\n")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["export", "requests", "--out", "requests.txt"], "cannot tell the format of"),
        (
            ["export", "requests", "--out", "r.json", "--status", "done"],
            "'done' is not open or closed",
        ),
        (
            ["export", "requests", "--out", "r.json", "--type", "019"],
            "'019' is not a published service",
        ),
        (["export", "requests", "--out", "r.json", "--since", "March"], "since"),
        (["import", "requests", "missing.json"], "cannot read missing.json"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _out = _run("open311", *argv, "--db", db)
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert words in err
    assert "Traceback" not in err


def test_an_export_needs_an_existing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    status, _ = _run(
        "open311", "export", "services", "--db", str(missing), "--out", str(tmp_path / "s.xml")
    )
    assert status == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.exists()


def test_an_import_with_bad_items_exits_1_and_lists_them(db: str, tmp_path: Path) -> None:
    source = tmp_path / "mixed.json"
    source.write_text(
        json.dumps(
            [
                {
                    "service_request_id": "A1",
                    "service_code": "001",
                    "status": "open",
                    "lat": 39.7,
                    "long": -89.6,
                },
                {"service_request_id": "A2", "service_code": "999", "status": "open"},
            ]
        ),
        encoding="utf-8",
    )
    status, out = _run("open311", "import", "requests", str(source), "--db", db, "--json")
    assert status == 1
    summary = json.loads(out)
    assert summary["inserted"] == 1
    assert summary["rejected"] == [
        {"path": "[1].service_code", "message": "no case type '999' in the profile"}
    ]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<service_requests><request>")
    status, _ = _run("open311", "import", "requests", str(broken), "--db", db)
    assert status == 2
