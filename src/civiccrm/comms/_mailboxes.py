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
#: The bytes of an mbox that vouch for its acknowledged position (so that a rotated or
#: rewritten mbox is read from its start again).
_HEAD: Final = 4096


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
    by one atomic rename.

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
        for key, path, flags in self._entries():
            if SEEN in flags or _TRASHED in flags:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue  # taken meanwhile by another poller

            def opener(p: Path = path) -> BinaryIO:
                return p.open("rb")

            yield _raw(key, size, opener)

    def acknowledge(self, uid: str) -> None:
        """Move message ``uid`` to ``cur/`` with the seen flag (nothing if it is gone)."""
        for key, path, flags in self._entries():
            if key != uid:
                continue
            if path.parent.name == "cur" and SEEN in flags:
                return
            wanted = "".join(sorted(set(flags) | {SEEN}))
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, self.path / "cur" / f"{key}{self.colon}2,{wanted}")
            return

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


class MboxPoller:
    """
    An mbox file, read from where the last acknowledged message ended: civiccrm never
    changes the mbox (the mail system may be appending to it), and remembers its
    position in a small state file (``state_path``, by default ``<mbox>.civiccrm.json``
    beside it; written atomically). The mbox is locked, as the standard library's
    :mod:`mailbox` locks it, while new messages are looked for; if it cannot be locked
    (no write permission), a last message that does not end with a blank line is left
    for the next poll (it may still be being written). A rotated or rewritten mbox is
    read from its start again (receipts keep that from taking anything twice).

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
        self._through = 0
        self._acked: set[int] = set()
        self._found: list[tuple[int, int, int]] = []
        #: True when the last poll found the mbox locked by someone else.
        self.busy = False

    def __repr__(self) -> str:
        return f"MboxPoller({str(self.path)!r})"

    def _head(self, f: BinaryIO, through: int) -> str:
        f.seek(0)
        return hashlib.sha256(f.read(min(through, _HEAD))).hexdigest()

    def _load_state(self, f: BinaryIO, size: int) -> None:
        self._through, self._acked = 0, set()
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            through = int(state["through"])
            acked = {int(s) for s in state.get("acked", [])}
            head = str(state["head"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # no state yet (or damaged): from the start
        if 0 <= through <= size and self._head(f, through) == head:
            self._through, self._acked = through, {s for s in acked if s >= through}

    def _save_state(self) -> None:
        with self.path.open("rb") as f:
            head = self._head(f, self._through)
        data = json.dumps(
            {"v": 1, "through": self._through, "head": head, "acked": sorted(self._acked)}
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
        finally:
            if locked:
                box.unlock()
            box.close()
        self._found = found
        for start, content, stop in found:
            if start in self._acked:
                continue

            def opener(a: int = content, b: int = stop) -> BinaryIO:
                return io.BufferedReader(_Range(self.path, a, b))

            yield _raw(str(start), stop - content, opener)

    def acknowledge(self, uid: str) -> None:
        """Remember that message ``uid`` (its offset) is taken, durably."""
        try:
            start = int(uid)
        except ValueError:
            return
        if not any(s == start for s, _, _ in self._found):
            return
        self._acked.add(start)
        for s, _, stop in self._found:
            if s < self._through:
                continue
            if s not in self._acked:
                break
            self._through = stop
            self._acked.discard(s)
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
