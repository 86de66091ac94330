"""
Crash safety of polling a mailbox: ``kill -9`` the polling process while it reads a
message (before its commit), after the commit but before the mailbox is told
(acknowledgement), and just after it is told; then poll again. Every time, nothing is
taken twice and nothing is lost: each message ends with exactly one outcome (a case
interaction, a quarantine entry, a skip), on a SQLite database and real maildir and
mbox files.
"""

from __future__ import annotations

import mailbox
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import civiccrm
from civiccrm.comms.mailbox import MaildirPoller, RawMail
from civiccrm.errors import PluginError
from civiccrm.models._mail import MailOutcome
from civiccrm.profile import springfield_path
from tests.test_mail_shapes import no_headers, plain

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9")

#: Polls ``SPEC`` for the zoning mailbox, killing itself with SIGKILL at message N:
#: "reading" (as it is opened), "committed" (before acknowledging it) or "acknowledged".
CHILD = """
import os, signal, sys
import civiccrm
from civiccrm.comms.mailbox import RawMail
from civiccrm.profile import springfield_path

spec, db, where, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class Killer:
    def __init__(self, inner):
        self.inner, self.name, self.count = inner, inner.name, 0

    def messages(self):
        for i, m in enumerate(self.inner.messages(), 1):
            if where == "reading" and i == n:
                def opener():
                    die()
                m = RawMail(m.uid, m.size, opener)
            yield m

    def acknowledge(self, uid):
        self.count += 1
        if where == "committed" and self.count == n:
            die()
        self.inner.acknowledge(uid)
        if where == "acknowledged" and self.count == n:
            die()

    def close(self):
        self.inner.close()


with civiccrm.open("sqlite:///" + db, profile=springfield_path()) as crm:
    crm.mail.poll(Killer(crm.mail.open_poller(spec)), mailbox="zoning")
print("finished", flush=True)
"""

#: What the mailbox holds: 5 to take, 1 to quarantine, 1 to skip.
MESSAGES = [
    plain("first", message_id="<m1@example.org>"),
    plain("second", message_id="<m2@example.org>"),
    no_headers(),
    plain("third", message_id="<m3@example.org>"),
    plain("auto", message_id="<m4@example.org>", extra={"Auto-Submitted": "auto-replied"}),
    plain("fourth", message_id="<m5@example.org>"),
    plain("fifth", message_id="<m6@example.org>"),
]


def _fill(kind: str, tmp_path: Path) -> str:
    if kind == "maildir":
        box: mailbox.Mailbox[mailbox.Message] = mailbox.Maildir(str(tmp_path / "md"), create=True)
        spec = f"maildir:{tmp_path / 'md'}"
    else:
        box = mailbox.mbox(str(tmp_path / "mbox"))
        spec = f"mbox:{tmp_path / 'mbox'}"
    for m in MESSAGES:
        box.add(m)
    box.flush()
    box.close()
    return spec


def _kill(spec: str, db: Path, where: str, n: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, spec, str(db), where, str(n)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.mark.parametrize("kind", ["maildir", pytest.param("mbox", marks=pytest.mark.slow)])
def test_kill_at_every_step_then_poll_again(kind: str, tmp_path: Path) -> None:
    spec = _fill(kind, tmp_path)
    db = tmp_path / "crm.db"
    with civiccrm.open(f"sqlite:///{db}", profile=springfield_path()):
        pass
    # Each round resumes over what the previous kill left behind.
    _kill(spec, db, "reading", 2)  # the 1st taken; dies opening the 2nd (not committed)
    _kill(spec, db, "acknowledged", 1)  # the 2nd taken and acknowledged, then dies
    _kill(spec, db, "committed", 2)  # the 3rd taken; the 4th committed, not acknowledged
    with civiccrm.open(f"sqlite:///{db}", profile=springfield_path()) as crm:
        report = crm.mail.poll(spec, mailbox="zoning")
        # The 4th is found taken (its receipt); the other 3 are taken now.
        assert (report.seen, report.duplicates) == (4, 1)
        assert crm.mail.poll(spec, mailbox="zoning").seen == 0
        bodies = sorted(_inbound_bodies(crm))
        assert bodies == ["fifth", "first", "fourth", "second", "third"]
        (entry,) = crm.mail.quarantine()
        assert crm.mail.raw(entry.id) == no_headers()
        receipts = list(crm.storage.stream(_query("mail_receipt")))
        assert len(receipts) == len(MESSAGES)


def _query(kind: str) -> object:
    from civiccrm.adapters._base import Query

    return Query(kind)


def _inbound_bodies(crm: civiccrm.CRM) -> list[str]:
    """Every inbound interaction's text (the acknowledgements sent are outbound)."""
    from civiccrm.adapters._base import Query
    from civiccrm.models import Interaction

    found = crm._stream(Interaction, Query("interaction"))
    return [i.body for i in found if i.direction.value == "inbound" and i.body is not None]


def test_a_crash_between_commit_and_acknowledgement_in_process(tmp_path: Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    for m in MESSAGES[:2]:
        box.add(m)

    class Crashing(MaildirPoller):
        def acknowledge(self, uid: str) -> None:
            raise OSError(28, "No space left on device")

    with civiccrm.open(f"sqlite:///{tmp_path / 'crm.db'}", profile=springfield_path()) as crm:
        with pytest.raises(PluginError, match="No space left on device"):
            crm.mail.poll(Crashing(tmp_path / "md"), mailbox="zoning")
        report = crm.mail.poll(f"maildir:{tmp_path / 'md'}", mailbox="zoning")
        assert (report.duplicates, report.opened) == (1, 1)
        results = [crm.mail.take(m, mailbox="zoning") for m in MESSAGES[:2]]
        assert {r.outcome for r in results} == {MailOutcome.DUPLICATE}
        assert len({r.case_id for r in results}) == 2


def test_raw_mail_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(MESSAGES[0])
    raw = RawMail.from_file(path)
    assert (raw.uid, raw.size, raw.read()) == ("one.eml", len(MESSAGES[0]), MESSAGES[0])
