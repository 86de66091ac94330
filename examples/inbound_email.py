"""
Inbound email: poll a maildir into a SQLite database, twice.

A new question opens a zoning case; a reply that quotes the case reference in its
subject, and one that answers our email (its In-Reply-To), are threaded to their case;
a message that is not an email at all waits in the quarantine, never lost. Polling
again takes nothing twice.

Run it: ``python examples/inbound_email.py`` (it works in a temporary directory).
"""

from __future__ import annotations

import mailbox
import secrets
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path

import civiccrm
from civiccrm.profile import springfield_path


def message(sender: str, subject: str, text: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "zoning@springfield.example.gov"
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg.as_bytes()


def main(folder: Path) -> None:
    db = f"sqlite:///{folder / 'springfield.db'}"
    with civiccrm.open(db, profile=springfield_path()) as crm:
        case = crm.cases.open(
            "018", reference="SR-2026-000042", attributes={"question": "Can I build a shed?"}
        )
        # Our outbound email about a case carries a Message-ID naming it.
        ours = f"<c.{case.id.hex}.{secrets.token_hex(8)}@springfield.example.gov>"

        inbox = mailbox.Maildir(str(folder / "Maildir"), create=True)
        inbox.add(message("ana@example.org", "Home bakery?", "May I run a bakery at home?"))
        inbox.add(message("bo@example.org", "Re: SR-2026-000042", "The shed is 3 m by 2 m."))
        inbox.add(message("bo@example.org", "Re: your shed", "Photos follow.", In_Reply_To=ours))
        inbox.add(b"this is not an email at all\n")
        inbox.close()

        spec = f"maildir:{folder / 'Maildir'}"
        for n in (1, 2):
            r = crm.mail.poll(spec, mailbox="zoning")
            print(
                f"poll {n}: {r.seen} seen, {r.taken} taken ({r.opened} opened a case, "
                f"{r.threaded} threaded), {r.quarantined} quarantined"
            )

        replies = sorted(
            i.body
            for i in crm.interactions.for_case(case)
            if i.direction is civiccrm.models.Direction.INBOUND and i.body
        )
        print(f"replies on {case.reference}: {replies}")
        for entry in crm.mail.quarantine():
            print(f"quarantined ({entry.size} bytes): {entry.reason}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
