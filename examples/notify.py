"""
Telling citizens what happened to their requests: acknowledgements, updates and the
resolution with a satisfaction survey, in each citizen's language, through the outbox
to a folder of .eml files; an opt-out honoured; the survey answered.

    python examples/notify.py [FOLDER]

Builds ``notify.db`` and the outbox folder ``outbox/`` in FOLDER (a new temporary
folder by default).
"""

from __future__ import annotations

import email
import email.policy
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import civiccrm
from civiccrm.models import CaseStatus, Channel, Citizen, Consent, ConsentStatus, ContactPoint
from civiccrm.profile import springfield_path


def main(folder: Path) -> None:
    outbox = folder / "outbox"
    with civiccrm.open(f"sqlite:///{folder / 'notify.db'}", profile=springfield_path()) as crm:
        ana = crm.citizens.create(
            Citizen(given_name="Ana", contact_points=[ContactPoint.email("ana@example.org")])
        )
        luis = crm.citizens.create(
            Citizen(
                given_name="Luis",
                preferred_language="es-MX",
                contact_points=[ContactPoint.email("luis@example.org")],
            )
        )
        quiet = crm.citizens.create(
            Citizen(
                given_name="Quinn",
                contact_points=[ContactPoint.email("quinn@example.org")],
                consents=[
                    Consent(
                        purpose="case_updates",
                        status=ConsentStatus.REVOKED,
                        recorded_at=datetime(2026, 1, 5, tzinfo=UTC),
                    )
                ],
            )
        )
        pothole = crm.cases.open(
            "001", requester=ana, attributes={"size": "large"}, reference="SR-2026-000101"
        )
        crm.cases.open(
            "002",
            requester=luis,
            attributes={"problem": "out"},
            reference="SR-2026-000102",
            channel=Channel.MOBILE_APP,
        )
        crm.cases.open(
            "005",
            requester=quiet,
            attributes={"surface": "utility_box", "offensive": "no"},
            reference="SR-2026-000103",
        )
        crm.messages.public_note(pothole.id, "A crew is booked for Tuesday morning.")
        crm.cases.transition(pothole.id, CaseStatus.RESOLVED, note="Filled and sealed.")

        # Written in the cases' transactions; sent now, after they committed.
        report = crm.messages.dispatch(f"files:{outbox}")
        print(f"sent {report.sent}, cancelled at queueing: {crm.messages.counts()}")
        for summary in crm.messages.list(status="cancelled").items:
            print(f"not sent to {summary.reference}: {summary.error}")

        token = None
        for path in sorted(outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            print(f"{message['To']}: {message['Subject']}")
            found = re.search(r"survey\?t=([\w-]+)", message.get_content())
            token = found.group(1) if found else token
        assert token is not None
        survey = crm.surveys.answer(token, 5, "Quick work, thanks! Call me on 217-555-0134.")
        print(f"survey: {survey.score} of 5, comment kept as {survey.comment!r}")
        print(f"case satisfaction: {crm.cases.get(pothole.id).satisfaction}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
