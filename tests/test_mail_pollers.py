"""
The built-in mailbox pollers on real temporary maildirs and mbox files (written by the
standard library's :mod:`mailbox`, as a mail system would), and pollers from plugins.
"""

from __future__ import annotations

import json
import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import civiccrm
from civiccrm import hookimpl
from civiccrm.comms._mailboxes import _scan, builtin_poller
from civiccrm.comms.mailbox import MailboxPoller, MaildirPoller, MboxPoller, RawMail
from civiccrm.errors import PluginError, ValidationError
from civiccrm.models._mail import MailOutcome
from civiccrm.profile import springfield_path
from tests.test_mail_shapes import no_headers, plain


def _mbox(path: Path, messages: list[bytes]) -> None:
    box = mailbox.mbox(str(path))
    box.lock()
    try:
        for m in messages:
            box.add(m)
        box.flush()
    finally:
        box.unlock()
        box.close()


# --------------------------------------------------------------------------------------
# maildir


def test_maildir_gives_new_and_unseen_messages_and_moves_them_when_acknowledged(
    tmp_path: Path,
) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    first = box.add(plain("one"))
    # A mail client moved this one to cur/ without reading it (no S flag) ...
    second = box.add(mailbox.MaildirMessage(plain("two")))
    msg = box.get_message(second)
    msg.set_subdir("cur")
    box[second] = msg
    # ... and this one was read there: not ours to take.
    seen = mailbox.MaildirMessage(plain("three"))
    seen.set_subdir("cur")
    seen.add_flag("S")
    box.add(seen)
    poller = MaildirPoller(tmp_path / "md")
    found = {m.uid: m for m in poller.messages()}
    assert set(found) == {first, second}
    assert b"one" in found[first].read()
    assert found[first].size == len(found[first].read())
    poller.acknowledge(first)
    poller.acknowledge(first)  # again: nothing to do
    poller.acknowledge("gone")  # not there: not an error
    assert [m.uid for m in poller.messages()] == [second]
    assert os.listdir(tmp_path / "md" / "new") == []
    assert f"{first}:2,S" in os.listdir(tmp_path / "md" / "cur")


def test_maildir_keeps_other_flags(tmp_path: Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    message = mailbox.MaildirMessage(plain())
    message.set_subdir("cur")
    message.add_flag("F")
    key = box.add(message)
    poller = MaildirPoller(tmp_path / "md")
    poller.acknowledge(key)
    assert os.listdir(tmp_path / "md" / "cur") == [f"{key}:2,FS"]


def test_not_a_maildir(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no maildir"):
        MaildirPoller(tmp_path / "nothing")
    (tmp_path / "half" / "new").mkdir(parents=True)
    with pytest.raises(ValidationError, match="no cur, tmp/"):
        MaildirPoller(tmp_path / "half")


# --------------------------------------------------------------------------------------
# mbox


def test_mbox_reads_from_the_last_acknowledged_message(tmp_path: Path) -> None:
    path = tmp_path / "permits"
    _mbox(path, [plain("one"), plain("two"), plain("three")])
    poller = MboxPoller(path)
    messages = list(poller.messages())
    assert [b"one" in m.read() for m in messages] == [True, False, False]
    assert all(not m.read().startswith(b"From ") for m in messages)
    # What the standard library reads is what the poller gives, byte for byte.
    stdlib = mailbox.mbox(str(path))
    keys = list(stdlib.keys())
    assert [m.read() for m in messages] == [stdlib.get_bytes(k) for k in keys]
    stdlib.close()
    poller.acknowledge(messages[0].uid)
    poller.acknowledge(messages[2].uid)  # out of order: remembered too
    state = json.loads(poller.state_path.read_text())
    assert state["through"] > 0
    assert state["acked"] == [int(messages[2].uid)]
    again = MboxPoller(path)
    assert [m.uid for m in again.messages()] == [messages[1].uid]
    again.acknowledge(messages[1].uid)
    assert json.loads(again.state_path.read_text())["acked"] == []
    _mbox(path, [plain("four")])
    later = list(MboxPoller(path).messages())
    assert len(later) == 1
    assert b"four" in later[0].read()


def test_a_rotated_mbox_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "permits"
    _mbox(path, [plain("one"), plain("two")])
    poller = MboxPoller(path)
    for m in list(poller.messages()):
        poller.acknowledge(m.uid)
    assert list(MboxPoller(path).messages()) == []
    path.unlink()  # logrotate
    _mbox(path, [plain("a new one")])
    fresh = list(MboxPoller(path).messages())
    assert len(fresh) == 1
    assert b"a new one" in fresh[0].read()


def test_mbox_scanning_follows_the_standard_library(tmp_path: Path) -> None:
    data = b"junk before\nFrom a@b Mon\nA: 1\n\nbody\n\nFrom c@d Tue\nB: 2\n\nx\nFrom e@f\nC: 3\n"
    path = tmp_path / "box"
    path.write_bytes(data)
    with path.open("rb") as f:
        found = _scan(f, 0)
    stdlib = mailbox.mbox(str(path))
    keys = list(stdlib.keys())
    assert [data[c:s] for _, c, s in found] == [stdlib.get_bytes(k) for k in keys]
    stdlib.close()


def test_a_locked_mbox_is_left_for_the_next_poll(tmp_path: Path) -> None:
    path = tmp_path / "permits"
    _mbox(path, [plain("one")])
    lock = Path(f"{path}.lock")
    lock.write_bytes(b"")  # the mail system is delivering
    poller = MboxPoller(path)
    assert list(poller.messages()) == []
    assert poller.busy
    lock.unlink()
    assert len(list(poller.messages())) == 1
    assert not poller.busy


def test_not_an_mbox(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no mbox file"):
        MboxPoller(tmp_path / "nothing")


# --------------------------------------------------------------------------------------
# Specs and plugins


def test_specs(tmp_path: Path) -> None:
    mailbox.Maildir(str(tmp_path / "md"), create=True)
    (tmp_path / "box").write_bytes(b"")
    assert isinstance(builtin_poller(f"maildir:{tmp_path / 'md'}"), MaildirPoller)
    assert isinstance(builtin_poller(f"maildir://{tmp_path / 'md'}"), MaildirPoller)
    assert isinstance(builtin_poller(f"mbox:{tmp_path / 'box'}"), MboxPoller)
    assert builtin_poller("imaps://mail.example.org") is None
    with pytest.raises(ValidationError, match="give a path"):
        builtin_poller("maildir:")
    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        with pytest.raises(PluginError, match="no mailbox poller for 'imaps'"):
            crm.mail.poll("imaps://mail.example.org", mailbox="zoning")
        poller = crm.mail.open_poller(f"mbox:{tmp_path / 'box'}")
        assert isinstance(poller, MailboxPoller)


class ListPoller:
    """A mailbox in memory, as an IMAP plugin would give one."""

    def __init__(self, messages: dict[str, bytes]) -> None:
        self.name = "memory-list"
        self.waiting = dict(messages)
        self.closed = False

    def messages(self) -> Iterator[RawMail]:
        for uid, data in list(self.waiting.items()):
            yield RawMail.from_bytes(data, uid)

    def acknowledge(self, uid: str) -> None:
        self.waiting.pop(uid, None)

    def close(self) -> None:
        self.closed = True


class ListPlugin:
    def __init__(self, poller: ListPoller) -> None:
        self.poller = poller

    @hookimpl
    def civiccrm_mailbox_poller(self, spec: str) -> MailboxPoller | None:
        return self.poller if spec.startswith("list:") else None


def test_a_plugin_poller_is_polled_and_told_what_was_taken() -> None:
    one = plain("one")
    poller = ListPoller({"1": one, "2": no_headers(), "3": one, "4": plain("one")})
    with civiccrm.open(
        "memory://", profile=springfield_path(), plugins=[ListPlugin(poller)]
    ) as crm:
        report = crm.mail.poll("list:inbox", mailbox="zoning")
        assert (report.seen, report.opened, report.quarantined, report.duplicates) == (4, 2, 1, 1)
        # "3" is "1" delivered twice: taken once; "4" has its own Message-ID.
        assert poller.waiting == {}
        assert poller.closed
        assert report.source == "memory-list"


def test_a_plugin_may_take_over_a_built_in_spec(tmp_path: Path) -> None:
    poller = ListPoller({"1": plain("one")})

    class Override:
        @hookimpl
        def civiccrm_mailbox_poller(self, spec: str) -> MailboxPoller | None:
            return poller if spec.startswith("maildir:") else None

    with civiccrm.open("memory://", profile=springfield_path(), plugins=[Override()]) as crm:
        assert crm.mail.open_poller("maildir:/nowhere") is poller


class BrokenPoller(ListPoller):
    def messages(self) -> Iterator[RawMail]:
        yield RawMail.from_bytes(plain("fine"), "1")
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_failing_poller_is_a_plugin_error_and_what_was_taken_stays() -> None:
    poller = BrokenPoller({})
    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        with pytest.raises(PluginError, match="mailbox memory-list failed: Connection reset"):
            crm.mail.poll(poller, mailbox="zoning")
        assert not poller.closed  # a poller given is the caller's to close
        again = crm.mail.take(plain("fine"), mailbox="zoning")
        assert again.outcome in (MailOutcome.OPENED, MailOutcome.DUPLICATE)


def test_a_message_that_vanishes_is_left_for_the_next_poll(tmp_path: Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    key = box.add(plain())
    poller = MaildirPoller(tmp_path / "md")

    class Vanishing(MaildirPoller):
        def messages(self) -> Iterator[RawMail]:
            for m in poller.messages():
                os.unlink(tmp_path / "md" / "new" / key)  # another host took it
                yield m

    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        report = crm.mail.poll(Vanishing(tmp_path / "md"), mailbox="zoning", limit=5)
        assert (report.seen, report.left, report.taken) == (1, 1, 0)


def test_limit(tmp_path: Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    for n in range(3):
        box.add(plain(f"message {n}"))
    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        first = crm.mail.poll(f"maildir:{tmp_path / 'md'}", mailbox="zoning", limit=2)
        rest = crm.mail.poll(f"maildir:{tmp_path / 'md'}", mailbox="zoning")
        assert (first.taken, rest.taken) == (2, 1)
