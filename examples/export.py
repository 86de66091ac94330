"""
Cases out to CSV and JSON Lines for analysts, with the personal data in their free
text redacted: the requesters' names, emails and phones, an SSN and a card number
never reach the files, and a title that a spreadsheet would run as a formula is
written as text.

    python examples/export.py [FOLDER]

Builds ``export-example.db`` (with its key file and key store) and writes
``cases.csv`` and ``open-cases.jsonl`` in FOLDER, a new temporary folder by default.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import civiccrm
from civiccrm import FixedClock
from civiccrm.models import Channel, Citizen, ContactPoint
from civiccrm.profile import springfield_path

#: Who reports what: name, email, phone, case type, intake answers, title, description.
REPORTS: list[tuple[str, str, str, str, str, dict[str, object], str, str]] = [
    (
        "Robert",
        "Okafor",
        "bob.okafor@example.org",
        "+12175550187",
        "002",
        {"problem": "out"},
        "Streetlight out",
        "Bob Okafor here, the light outside 1187 Walnut Street has been out since March. "
        "Call me back on (217) 555-0187. My SSN is 123-45-6789 if you need it.",
    ),
    (
        "Maria",
        "Lopez",
        "maria.lopez@example.org",
        "+12175550199",
        "001",
        {"size": "large", "position": "travel_lane"},
        '=HYPERLINK("http://evil.example/x","Pothole")',
        "Huge pothole, my tyre burst. Please refund to card 4111 1111 1111 1111, "
        "or email maria.lopez@example.org.",
    ),
]


def main(folder: Path) -> None:
    url = f"sqlite:///{folder / 'export-example.db'}"
    clock = FixedClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    with civiccrm.open(url, profile=springfield_path(), clock=clock) as crm:
        for given, family, email, phone, code, answers, title, text in REPORTS:
            citizen = crm.citizens.create(
                Citizen(
                    given_name=given,
                    family_name=family,
                    contact_points=[ContactPoint.email(email), ContactPoint.phone(phone)],
                )
            )
            crm.cases.open(
                code,
                requester=citizen,
                channel=Channel.PHONE,
                attributes=answers,
                title=title,
                description=text,
            )

        csv_file = folder / "cases.csv"
        result = crm.export.cases(csv_file, purpose="example: monthly volumes")
        print(f"{result.count} cases to {csv_file.name} (policy {result.policy!r}):")
        for line in csv_file.read_text(encoding="utf-8").splitlines()[:3]:
            print("  " + line)

        jsonl_file = folder / "open-cases.jsonl"
        result = crm.export.cases(
            jsonl_file,
            format="jsonl",
            fields=["reference", "case_type_name", "status", "opened_at", "description"],
            where={"open": True, "department": "public-works"},
            policy="public",
            purpose="example: public works backlog",
        )
        print(f"{result.count} cases to {jsonl_file.name} (policy {result.policy!r}):")
        for line in jsonl_file.read_text(encoding="utf-8").splitlines()[:3]:
            print("  " + line)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
