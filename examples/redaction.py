"""
Personal data in free text, found and removed: a call transcript redacted for the
public feed and for an export, the case's own requester found with certainty, and a
log line that never reaches the log file with the caller's number in it.

    python examples/redaction.py
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

import civiccrm
from civiccrm import FixedClock
from civiccrm.models import Citizen, ContactPoint
from civiccrm.privacy.redact import install_log_redaction
from civiccrm.profile import springfield_path

TRANSCRIPT = (
    "Agent: Thanks for calling 311, who am I speaking with?\n"
    "Caller: It's Bob Okafor, 1187 Walnut Street. My neighbour Maria Lopez says the "
    "streetlight has been out since March. Call me back on (217) 555-0187 or write to "
    "bob.okafor@example.org. My SSN is 123-45-6789 if you need it.\n"
    "Agent: No need, thank you. Your reference is SR-2026-004512."
)


def main() -> None:
    at = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    with civiccrm.open("memory://", profile=springfield_path(), clock=FixedClock(at)) as crm:
        bob = crm.citizens.create(
            Citizen(
                given_name="Robert",
                family_name="Okafor",
                contact_points=[ContactPoint.email("bob.okafor@example.org")],
            )
        )
        case = crm.cases.open("002", requester=bob, attributes={"problem": "out"})
        public = crm.redaction.redact(TRANSCRIPT, case=case)
        print("public:\n" + public.text)
        print("found:", ", ".join(f"{n} {kind}" for kind, n in public.counts().items()))
        export = crm.redaction.redact(TRANSCRIPT, case=case, policy="export")
        print("export:\n" + export.text)

    stream = io.StringIO()
    log = logging.getLogger("civiccrm.example")
    log.propagate = False
    log.addHandler(logging.StreamHandler(stream))
    install_log_redaction(log)
    log.warning("callback failed for %s", "(217) 555-0187")
    print("log file:", stream.getvalue().strip())


if __name__ == "__main__":
    main()
