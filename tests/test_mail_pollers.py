"""
The built-in mailbox pollers on real temporary maildirs and mbox files (written by the
standard library's :mod:`mailbox`, as a mail system would), and pollers from plugins.
"""

from __future__ import annotations

import json
import mailbox
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


def test_acknowledging_renames_the_message_given_without_listing_the_maildir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A message :meth:`messages` gave is renamed where it was found: acknowledging does
    not list new/ and cur/ again (whose taken messages only ever grow), and renames
    exactly that message.
    """
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    for n in range(5):  # taken long ago
        old = mailbox.MaildirMessage(plain(f"old {n}"))
        old.set_subdir("cur")
        old.add_flag("S")
        box.add(old)
    keys = [box.add(plain(f"new {n}")) for n in range(3)]
    poller = MaildirPoller(tmp_path / "md")
    given = [m.uid for m in poller.messages()]
    assert sorted(keys) == sorted(given)
    before = set(os.listdir(tmp_path / "md" / "cur"))

    def no_listing() -> None:
        raise AssertionError("acknowledge listed the maildir")

    monkeypatch.setattr(poller, "_entries", no_listing)
    poller.acknowledge(keys[1])
    assert sorted(os.listdir(tmp_path / "md" / "new")) == sorted([keys[0], keys[2]])
    assert set(os.listdir(tmp_path / "md" / "cur")) == before | {f"{keys[1]}:2,S"}
    for key in (keys[0], keys[2]):
        poller.acknowledge(key)
    assert os.listdir(tmp_path / "md" / "new") == []
    assert set(os.listdir(tmp_path / "md" / "cur")) == before | {f"{k}:2,S" for k in keys}


def test_a_message_a_mail_client_moved_meanwhile_is_found_again(tmp_path: Path) -> None:
    """
    A message moved (to cur/, flagged) by a mail client between the poll and its
    acknowledgement is looked for again and acknowledged where it now is, its flags
    kept; one deleted meanwhile is no error.
    """
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    moved, gone = box.add(plain("one")), box.add(plain("two"))
    poller = MaildirPoller(tmp_path / "md")
    assert sorted(m.uid for m in poller.messages()) == sorted([moved, gone])
    md = tmp_path / "md"
    os.rename(md / "new" / moved, md / "cur" / f"{moved}:2,F")
    os.unlink(md / "new" / gone)
    poller.acknowledge(moved)
    poller.acknowledge(gone)
    assert os.listdir(md / "cur") == [f"{moved}:2,FS"]
    assert os.listdir(md / "new") == []
    assert list(MaildirPoller(md).messages()) == []


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
    assert [s for s, _, _ in state["acked"]] == [int(messages[2].uid)]
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


def _mbox_message(n: int, size: int, status: bool = False) -> bytes:
    """An mbox entry ("From " line, headers, body, separating blank line) of message n."""
    head = f"From sender{n}@example.org Tue Mar 10 10:00:00 2026\n"
    head += f"From: sender{n}@example.org\nSubject: message {n}\nMessage-ID: <m{n}@example.org>\n"
    if status:
        head += "Status: RO\n"  # what a mail client writes back when it rewrites
    line = f"line of message {n}\n"
    body = line * max(1, size // len(line))
    return f"{head}\n{body}\n".encode()


def _ids(data: bytes) -> list[int]:
    """The numbers of the messages (by their Message-IDs) in ``data``."""
    return [int(n) for n in re.findall(rb"^Message-ID: <m(\d+)@", data, re.MULTILINE)]


def test_an_mbox_rewritten_with_a_message_expunged_loses_nothing(tmp_path: Path) -> None:
    """
    A mail client expunges the second of three taken messages (the first 4 KiB stay
    the same), then new mail arrives: the saved position no longer ends a message, so
    the mbox is read from its start again, and every new message is taken, none twice.
    """
    path = tmp_path / "inbox"
    m1, m2, m3 = _mbox_message(1, 6000), _mbox_message(2, 2000), _mbox_message(3, 300)
    path.write_bytes(m1 + m2 + m3)
    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        first = crm.mail.poll(f"mbox:{path}", mailbox="zoning")
        assert (first.seen, first.opened) == (3, 3)
        m4, m5 = _mbox_message(4, 1500), _mbox_message(5, 1500)
        path.write_bytes(m1 + m3 + m4 + m5)
        second = crm.mail.poll(f"mbox:{path}", mailbox="zoning")
        assert (second.opened, second.duplicates) == (2, 2)
        assert crm.mail.poll(f"mbox:{path}", mailbox="zoning").seen == 0
        for m in (m1, m2, m3, m4, m5):
            raw = m.split(b"\n", 1)[1][:-1]  # as the mbox gives it
            assert crm.mail.take(raw, mailbox="zoning").outcome == MailOutcome.DUPLICATE


def test_an_older_mbox_state_is_not_trusted(tmp_path: Path) -> None:
    """A state file of version 1 (no hash of the bytes before the position): from the start."""
    path = tmp_path / "inbox"
    path.write_bytes(_mbox_message(1, 100) + _mbox_message(2, 100))
    poller = MboxPoller(path)
    first = list(poller.messages())
    poller.acknowledge(first[0].uid)
    state = json.loads(poller.state_path.read_text())
    state = {"v": 1, "through": state["through"], "head": state["head"], "acked": []}
    poller.state_path.write_text(json.dumps(state))
    assert [_ids(m.read())[0] for m in MboxPoller(path).messages()] == [1, 2]


_EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.sampled_from([60, 300, 1500, 2000, 5000])),
        st.tuples(st.just("expunge"), st.integers(0, 20)),
        st.tuples(st.just("rewrite"), st.booleans()),
        st.tuples(st.just("poll"), st.integers(-1, 5)),
    ),
    max_size=12,
)


@settings(max_examples=300)
@given(big_first=st.booleans(), edits=_EDITS)
@example(  # the reviewer's case: a middle message expunged, then more mail than it was
    big_first=True,
    edits=[
        ("append", 2000),
        ("append", 300),
        ("poll", -1),
        ("expunge", 1),
        ("append", 1500),
        ("append", 1500),
    ],
)
@example(  # one left, the next taken out of order, then one of the same size moves there
    big_first=True,
    edits=[("append", 300), ("append", 300), ("poll", 0), ("expunge", 1), ("append", 300)],
)
def test_no_message_in_an_mbox_is_ever_left_untaken(
    big_first: bool, edits: list[tuple[str, int]]
) -> None:
    """
    Whatever is done to an mbox between polls (mail appended, any message expunged,
    the whole file rewritten by a mail client writing flags), after a poll every
    message in it was given and acknowledged (receipts, here a set, keep what is given
    again from being taken twice); while only mail is appended, nothing is given twice.
    Every message given is one whole message of the mbox, byte for byte.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inbox"
        sizes = {0: 5000 if big_first else 60}
        status: dict[int, bool] = {0: False}
        present = [0]

        def write() -> None:
            path.write_bytes(b"".join(_mbox_message(n, sizes[n], status[n]) for n in present))

        write()
        taken: set[int] = set()
        #: Acknowledged since the mbox was last rewritten: never to be given again.
        kept: set[int] = set()
        fresh = 1
        for op, arg in [*edits, ("poll", -1)]:
            if op == "append":
                sizes[fresh], status[fresh] = arg, False
                present.append(fresh)
                with path.open("ab") as f:
                    f.write(_mbox_message(fresh, arg))
                fresh += 1
            elif op == "expunge" and present:
                present.pop(arg % len(present))
                write()
                kept.clear()
            elif op == "rewrite":
                for n in present:
                    status[n] = status[n] or bool(arg)
                write()
                kept.clear()
            elif op == "poll":
                poller = MboxPoller(path)
                left: set[int] = set()
                for i, m in enumerate(poller.messages()):
                    data = m.read()
                    (n,) = _ids(data)
                    assert _mbox_message(n, sizes[n], status[n]).split(b"\n", 1)[1][:-1] == data
                    assert n not in kept, "given again although only mail was appended"
                    if i == arg:
                        left.add(n)  # could not be taken just now: not acknowledged
                        continue
                    taken.add(n)
                    kept.add(n)
                    poller.acknowledge(m.uid)
                assert set(present) - taken <= left


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
