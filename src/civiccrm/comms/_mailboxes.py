"""
The built-in mailbox pollers: a maildir and an mbox file, by the standard library's
:mod:`mailbox` conventions, registered through the ``civiccrm_mailbox_poller`` hook
like any plugin (they answer last, so a plugin may take their specs over).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mailbox
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from civiccrm.errors import ValidationError
from civiccrm.hookspecs import hookimpl

if TYPE_CHECKING:
    from civiccrm.comms.mailbox import MailboxPoller, RawMail

__all__ = ["MaildirPoller", "MboxPoller", "builtin_poller", "civiccrm_mailbox_poller"]

#: The maildir flag civiccrm sets on a message it has taken ("seen").
SEEN: Final = "S"
_TRASHED: Final = "T"
#: How many bytes of an mbox vouch for its acknowledged position: its first ones, and
#: those just before the position (so that a rotated or rewritten mbox is read from its
#: start again).
_HEAD: Final = 4096
#: The version of the mbox state file (version 1 kept no hash of the bytes before the
#: position: such a state is not trusted, and the mbox is read from its start again).
_STATE_VERSION: Final = 2


def _raw(uid: str, size: int, opener: Any) -> RawMail:
    from civiccrm.comms.mailbox import RawMail

    return RawMail(uid, size, opener)


# --------------------------------------------------------------------------------------
# maildir


class MaildirPoller:
    """
    A maildir (``new/``, ``cur/``, ``tmp/``): the messages in ``new/``, and those in
    ``cur/`` without the seen flag (a mail client may have moved them there), oldest
    name first. Acknowledging moves a message to ``cur/`` with the seen flag (``S``),
    by one atomic rename of the file :meth:`messages` found (the maildir is listed
    again only if a mail client moved it meanwhile): polling costs what is new, not
    what was ever received.

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.name = f"maildir:{self.path}"
        try:
            box = mailbox.Maildir(str(self.path), factory=None, create=False)
        except mailbox.NoSuchMailboxError:
            raise ValidationError.at("spec", f"no maildir at {self.path}") from None
        self.colon: str = box.colon or ":"
        missing = [d for d in ("new", "cur", "tmp") if not (self.path / d).is_dir()]
        if missing:
            raise ValidationError.at(
                "spec", f"{self.path} is not a maildir: it has no {', '.join(missing)}/"
            )
        #: Where each message the last :meth:`messages` gave was: uid -> (path, flags).
        self._given: dict[str, tuple[Path, str]] = {}

    def __repr__(self) -> str:
        return f"MaildirPoller({str(self.path)!r})"

    def _split(self, name: str) -> tuple[str, str]:
        """A file name's unique key and its flags (``key:2,FS`` -> ``key``, ``FS``)."""
        key, _, info = name.partition(self.colon)
        return key, info[2:] if info.startswith("2,") else ""

    def _entries(self) -> list[tuple[str, Path, str]]:
        """(key, path, flags) of every message, new/ then cur/, each by name."""
        out: list[tuple[str, Path, str]] = []
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as it:
                names = sorted(e.name for e in it if not e.name.startswith("."))
            for name in names:
                key, flags = self._split(name)
                out.append((key, self.path / sub / name, flags))
        return out

    def messages(self) -> Iterator[RawMail]:
        """The messages not taken yet."""
        self._given = {}
        for key, path, flags in self._entries():
            if SEEN in flags or _TRASHED in flags:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue  # taken meanwhile by another poller
            self._given[key] = (path, flags)

            def opener(p: Path = path) -> BinaryIO:
                return p.open("rb")

            yield _raw(key, size, opener)

    def acknowledge(self, uid: str) -> None:
        """
        Move message ``uid`` to ``cur/`` with the seen flag (nothing if it is gone).
        A message :meth:`messages` gave is renamed where it was given from; the maildir
        is listed again only if it is no longer there (a mail client moved it, or set
        a flag, meanwhile) or was not given by this poller.
        """
        given = self._given.pop(uid, None)
        if given is not None and self._mark_seen(uid, *given):
            return
        for key, path, flags in self._entries():
            if key == uid:
                self._mark_seen(key, path, flags)
                return

    def _mark_seen(self, key: str, path: Path, flags: str) -> bool:
        """Rename one message into ``cur/`` with the seen flag; False if it is not there."""
        if path.parent.name == "cur" and SEEN in flags:
            return True
        wanted = "".join(sorted(set(flags) | {SEEN}))
        try:
            os.rename(path, self.path / "cur" / f"{key}{self.colon}2,{wanted}")
        except FileNotFoundError:
            return False
        return True

    def close(self) -> None:
        """Nothing to let go of."""


# --------------------------------------------------------------------------------------
# mbox


class _Range(io.RawIOBase):
    """A byte range of a file, read on demand."""

    def __init__(self, path: Path, start: int, stop: int) -> None:
        self._f = path.open("rb")
        self._f.seek(start)
        self._left = max(0, stop - start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


def _scan(f: BinaryIO, offset: int) -> list[tuple[int, int, int]]:
    """
    (start, content start, stop) of every message from ``offset`` on: a message starts
    at a line beginning ``From `` and ends before the blank line that precedes the
    next one (the rule of the standard library's :class:`mailbox.mbox`).
    """
    f.seek(offset)
    entries: list[tuple[int, int, int]] = []
    start = content = -1
    pos = offset
    blank = 0
    for line in iter(f.readline, b""):
        if line.startswith(b"From "):
            if start >= 0:
                entries.append((start, content, pos - blank))
            start, content = pos, pos + len(line)
            blank = 0
        elif line in (b"\n", b"\r\n"):
            blank = len(line)
        else:
            blank = 0
        pos += len(line)
    if start >= 0:
        entries.append((start, content, pos - blank))
    return entries


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_EMPTY: Final = _digest(b"")


def _tail(f: BinaryIO, offset: int) -> str:
    """The hash of the (up to) 4 KiB just before ``offset``."""
    start = max(0, offset - _HEAD)
    f.seek(start)
    return _digest(f.read(offset - start))


def _boundary(f: BinaryIO, offset: int, size: int) -> bool:
    """
    Whether ``offset`` is where a message of the mbox ends (as :func:`_scan` ends
    them): the start of the file, or the end of a line followed by the end of the
    file or by a ``From`` line, with at most one blank line between.
    """
    if offset == 0:
        return True
    f.seek(offset - 1)
    if f.read(1) != b"\n":
        return False
    after = f.read(7)
    if offset + len(after) == size and after in (b"", b"\n", b"\r\n"):
        return True
    return after.startswith((b"From ", b"\nFrom ", b"\r\nFrom "))


class MboxPoller:
    """
    An mbox file, read from where the last acknowledged message ended: civiccrm never
    changes the mbox (the mail system may be appending to it), and remembers its
    position in a small state file (``state_path``, by default ``<mbox>.civiccrm.json``
    beside it; written atomically). The mbox is locked, as the standard library's
    :mod:`mailbox` locks it, while new messages are looked for; if it cannot be locked
    (no write permission), a last message that does not end with a blank line is left
    for the next poll (it may still be being written).

    The position is trusted only if the mbox still vouches for it: its first 4 KiB and
    the 4 KiB before the position are what they were, and the position is where a
    message ended (the end of the file, or a ``From`` line, after at most the blank
    line that separates messages, with a whole line before it). A rotated mbox, or one
    rewritten by a mail client (a message expunged, flags written), is read from its
    start again; receipts keep that from taking anything twice.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, path: str | os.PathLike[str], *, state_path: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path).absolute()
        self.name = f"mbox:{self.path}"
        if not self.path.is_file():
            raise ValidationError.at("spec", f"no mbox file at {self.path}")
        self.state_path = (
            Path(state_path) if state_path is not None else Path(f"{self.path}.civiccrm.json")
        )
        #: Where the messages acknowledged in order end, and its tail hash.
        self._through = 0
        self._through_tail = _EMPTY
        #: Messages acknowledged out of order: start -> (stop, tail hash at stop).
        self._acked: dict[int, tuple[int, str]] = {}
        self._found: list[tuple[int, int, int]] = []
        #: The tail hash at each found message's end, taken while the mbox was locked.
        self._tails: dict[int, str] = {}
        #: The mbox's first bytes when it was last looked at (its head hash).
        self._first = b""
        #: True when the last poll found the mbox locked by someone else.
        self.busy = False

    def __repr__(self) -> str:
        return f"MboxPoller({str(self.path)!r})"

    def _load_state(self, f: BinaryIO, size: int) -> None:
        """The saved position, if the mbox still vouches for it; else its start."""
        self._through, self._through_tail, self._acked = 0, _EMPTY, {}
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("v") != _STATE_VERSION:
                return  # an older state says too little to be trusted: from the start
            through = int(state["through"])
            head, tail = str(state["head"]), str(state["tail"])
            acked = {int(s): (int(e), str(t)) for s, e, t in state.get("acked", [])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # no state yet (or damaged): from the start
        if not 0 <= through <= size:
            return
        f.seek(0)
        if _digest(f.read(min(through, _HEAD))) != head or _tail(f, through) != tail:
            return
        if not _boundary(f, through, size):
            return
        self._through, self._through_tail = through, tail
        self._acked = {s: v for s, v in acked.items() if s >= through}

    def _save_state(self) -> None:
        head = _digest(self._first[: min(self._through, _HEAD)])
        data = json.dumps(
            {
                "v": _STATE_VERSION,
                "through": self._through,
                "head": head,
                "tail": self._through_tail,
                "acked": [[s, e, t] for s, (e, t) in sorted(self._acked.items())],
            }
        )
        folder = self.state_path.parent
        fd, tmp = tempfile.mkstemp(prefix=".civiccrm-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.state_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def messages(self) -> Iterator[RawMail]:
        """The messages after the acknowledged position, not acknowledged yet."""
        self.busy = False
        locked = False
        box = mailbox.mbox(str(self.path), factory=None, create=False)
        try:
            try:
                box.lock()
                locked = True
            except mailbox.ExternalClashError:
                self.busy = True  # the mail system is writing: next time
                return
            except OSError:
                pass  # no write permission: read without the lock
            with self.path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                self._load_state(f, size)
                found = _scan(f, self._through)
                if found and not locked:
                    f.seek(max(0, size - 2))
                    if not f.read(2).endswith(b"\n\n"):
                        found.pop()  # perhaps still being written
                tails = {stop: _tail(f, stop) for _, _, stop in found}
                f.seek(0)
                first = f.read(_HEAD)
        finally:
            if locked:
                box.unlock()
            box.close()
        self._found, self._tails, self._first = found, tails, first
        for start, _, stop in found:
            # Acknowledged before, if it is still the very message that was.
            if start in self._acked and self._acked[start] != (stop, tails[stop]):
                del self._acked[start]
        # Decided now: acknowledging one of them moves the position past those after it.
        waiting = [
            (start, content, stop) for start, content, stop in found if start not in self._acked
        ]
        for start, content, stop in waiting:

            def opener(a: int = content, b: int = stop) -> BinaryIO:
                return io.BufferedReader(_Range(self.path, a, b))

            yield _raw(str(start), stop - content, opener)

    def acknowledge(self, uid: str) -> None:
        """Remember that message ``uid`` (its offset) is taken, durably."""
        try:
            start = int(uid)
        except ValueError:
            return
        ends = {s: stop for s, _, stop in self._found}
        if start not in ends:
            return
        self._acked[start] = (ends[start], self._tails[ends[start]])
        for s, _, stop in self._found:
            if s < self._through:
                continue
            if s not in self._acked:
                break
            self._through, self._through_tail = stop, self._tails[stop]
            del self._acked[s]
        self._save_state()

    def close(self) -> None:
        """Nothing to let go of (the lock is held only while looking)."""


# --------------------------------------------------------------------------------------
# The hook


def builtin_poller(spec: str) -> MailboxPoller | None:
    """
    The built-in poller for ``maildir:PATH`` or ``mbox:PATH``; None for other specs.

    Raises:
        ValidationError: there is no maildir or mbox at that path.
    """
    for scheme in ("maildir:", "mbox:"):
        if spec.startswith(scheme):
            path = spec[len(scheme) :]
            if path.startswith("//"):
                path = path[2:]
            if not path:
                raise ValidationError.at("spec", f"{spec!r}: give a path ({scheme}/srv/mail/311)")
            if scheme == "maildir:":
                return MaildirPoller(path)
            return MboxPoller(path)
    return None


@hookimpl(trylast=True)
def civiccrm_mailbox_poller(spec: str) -> MailboxPoller | None:
    """The built-in maildir and mbox pollers."""
    return builtin_poller(spec)
