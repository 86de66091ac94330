"""The runnable examples run, and say what they should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "validate_intake.py"), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_validate_intake_samples() -> None:
    out = _run()
    assert "intake 1: accepted: Pothole for Ana" in out
    assert "@ $.citizen.contact_points[0].value" in out
    assert "@ $.attributes.colour" in out
    assert "no case type '999' @ $.service_code" in out
    assert out.strip().endswith("1 accepted, 2 rejected")


def test_validate_intake_from_file(tmp_path: Path) -> None:
    intakes = [
        {
            "service_code": "002",
            "answers": {"problem": "flickering"},
            "citizen": {"family_name": "Okafor"},
        }
    ]
    path = tmp_path / "intakes.json"
    path.write_text(json.dumps(intakes), encoding="utf-8")
    out = _run(str(path))
    assert "intake 1: accepted: Streetlight Out for Okafor" in out
    assert out.strip().endswith("1 accepted, 0 rejected")


def test_privacy_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "privacy.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "found by email: ['Kowalczyk']" in out
    assert "'Kowalczyk' in the files on disk: False" in out
    assert "caseworker sees: 'Anastasia' 'Kowalczyk'" in out
    assert "analyst    sees: None None" in out
    assert "after erasure the case keeps type '001', title None" in out
    assert "audit trail: whole" in out
    assert "'Kowalczyk' in the audit trail: False" in out
    assert (tmp_path / "privacy-example.db.kek").exists()


def test_routing_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "routing.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "SR-1: priority urgent, tags ['hazard'], assigned to eve" in out
    assert 'rule "exposed-wires" won' in out
    assert "ray  skills: lacks skill electrical" in out
    assert "SR-2 may duplicate SR-1: 9 m and 40 minutes apart" in out
    assert "SR-2 is resolved (repaired); requesters told: 2" in out
    assert "unassigned: no agent in queue as-field" in out
    assert "dry run: 1 open case(s) of eve would move to ray" in out
    assert "moved 1; run again: already done = True" in out
    assert "automations: 2 resolved case(s) closed" in out


def test_redaction_example() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "redaction.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    for value in ("Okafor", "Maria Lopez", "555-0187", "bob.okafor@", "123-45-6789", "1187 Walnut"):
        assert value not in out, value
    assert "It's <PERSON 1>, <US_ADDRESS>. My neighbour <PERSON 2>" in out
    assert "SR-2026-004512" in out  # a case reference is not personal data
    assert "(***) ***-0187" in out
    assert "log file: callback failed for <PHONE>" in out


def test_retention_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "retention.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    out = done.stdout
    assert "plan: 54 due, 41 held" in out
    assert "audit-trail: {'held': 4, 'not_due': 1}" in out
    assert "run 2026-11: 54 disposed of" in out
    assert "the same run again disposes of nothing more: 54" in out
    assert "erasure of Bo: refused (legal_claims, legal_obligation)" in out
    assert "erasure of Cy: done" in out
    assert (tmp_path / "plan.csv").exists()
    assert list((tmp_path / "sar").glob("*.html"))


def test_open311_server_example() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "open311_server.py"), "--check"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "GET services.xml: 200, 16 services, first 001" in out
    assert "POST requests.json: 200, a service request id" in out
    assert "description 'Deep pothole. Call me on <PHONE>.'" in out
    assert "POST requests.xml without a location: 400" in out
    assert "GET services/999.json: 404" in out


def test_worker_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "worker.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    out = done.stdout
    assert "3 workers processed 60 tasks" in out
    assert "each case routed once by a worker: True" in out
    assert "each case welcomed once: True" in out
    assert "fast did 3, slow lost 3" in out
    assert "still welcomed once each: True" in out


def test_inbound_email_example() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "inbound_email.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    out = done.stdout
    assert "poll 1: 4 seen, 3 taken (1 opened a case, 2 threaded), 1 quarantined" in out
    assert "poll 2: 0 seen" in out
    assert "replies on SR-2026-000042: ['Photos follow.', 'The shed is 3 m by 2 m.']" in out
    assert "quarantined (28 bytes): no header fields: not an email message" in out


def test_notify_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "notify.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "sent 4, cancelled at queueing: {'cancelled': 1, 'sent': 4}" in out
    assert "not sent to SR-2026-000103: opted_out" in out
    assert "luis@example.org: [SR-2026-000102] Recibimos su solicitud" in out
    assert "comment kept as 'Quick work, thanks! Call me on <PHONE>.'" in out
    assert "case satisfaction: 5" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 4


def test_report_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "report.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    out = done.stdout
    assert "cases opened                              60" in out
    assert "survey response rate                   50.0%" in out
    assert "charts: weekly-volume.png" in out
    assert (tmp_path / "kpis.csv").exists()
