"""
Retention of the audit trail itself: its oldest entries, once past the ``audit``
schedule's period, are destroyed (or archived, then destroyed).

The trail is a hash chain, so it can only be cut from its start, and only at a signed
checkpoint: the cut point becomes the log's *base* (:class:`~civiccrm._auditing.AuditBase`,
kept signed in the key store), and ``civiccrm audit verify`` checks the rest of the log
from there. Before anything is pruned, the part to prune is verified; a log that does
not verify is never pruned (that would destroy the evidence of tampering).

An entry that names a record a legal hold in force covers is kept, and so is everything
after it (the chain cannot have a hole). So are entries past their period that follow
the last checkpoint before the first entry kept.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import orjson

from civiccrm._auditing import AuditBase, _entries, read_base, write_base
from civiccrm._keys import AUDIT_KEY
from civiccrm.adapters._base import Storage
from civiccrm.errors import IntegrityError, StorageError
from civiccrm.privacy.audit import CHECKPOINT_ACTION, ChainHead, verify
from civiccrm.privacy.retention import RetentionSchedule

__all__ = ["AuditCut", "archive_name", "left_behind", "prune", "scan"]

_CHECKPOINT_PREFIX = '{"action":"' + CHECKPOINT_ACTION + '",'


@attrs.frozen
class AuditCut:
    """What the ``audit`` schedule says of the log as of one instant."""

    #: The log's base before the cut (None: never pruned).
    base: AuditBase | None
    #: The checkpoint to prune through: its storage sequence number, text and head.
    seq: int | None = None
    checkpoint: str | None = None
    head: ChainHead | None = None
    #: Entries that the cut prunes.
    due: int = 0
    #: Entries past their period but kept (a hold names their record, or they come
    #: after an entry that is kept, or after the last checkpoint before one).
    held: int = 0
    #: Entries whose period has not ended.
    not_due: int = 0
    #: Chain positions of the first and last entry the cut prunes.
    first_n: int | None = None
    last_n: int | None = None


def _audit_key(storage: Storage, system_key: Callable[[str], bytes]) -> bytes | None:
    if storage.get_key(AUDIT_KEY) is None:
        return None  # nothing was ever audited
    return system_key(AUDIT_KEY)


def scan(
    storage: Storage,
    system_key: Callable[[str], bytes],
    schedule: RetentionSchedule,
    *,
    as_of: datetime,
    tz: ZoneInfo,
    held_ids: frozenset[str],
) -> AuditCut:
    """
    Where the log can be cut as of ``as_of``: through the last checkpoint before the
    first entry that must be kept (its period not ended, or it names a held record).
    Reads entry texts only (they hold no personal data).
    """
    key = _audit_key(storage, system_key)
    if key is None:
        return AuditCut(None)
    base = read_base(storage, key)
    first_n: int | None = None
    count = 0
    cut: tuple[int, str, ChainHead, int] | None = None
    stopped = False
    held = not_due = 0
    last_ok: datetime | None = None
    for seq, text in _entries(storage, after=base.seq if base is not None else 0):
        try:
            obj: dict[str, Any] = orjson.loads(text)
            at = datetime.fromisoformat(obj["at"])
            n = int(obj["n"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(
                f"audit entry at storage position {seq} cannot be read: the audit log "
                "must verify before retention prunes it (run civiccrm audit verify)"
            ) from None
        if first_n is None:
            first_n = n
        # Periods only grow with the trigger: an entry no later than one found due is due.
        past = (last_ok is not None and at <= last_ok) or schedule.due_at(at, tz) <= as_of
        if not past:
            not_due += 1
            stopped = True
            continue
        if not stopped and held_ids and not held_ids.isdisjoint(obj.get("record_ids", ())):
            stopped = True
        if stopped:
            held += 1
            continue
        last_ok = at if last_ok is None or at > last_ok else last_ok
        count += 1
        if text.startswith(_CHECKPOINT_PREFIX):
            cut = (seq, text, ChainHead(n, str(obj["h"])), count)
    if cut is None:
        return AuditCut(base, held=held + count, not_due=not_due)
    seq, text, head, due = cut
    return AuditCut(
        base,
        seq=seq,
        checkpoint=text,
        head=head,
        due=due,
        held=held + (count - due),
        not_due=not_due,
        first_n=first_n,
        last_n=head.n,
    )


def archive_name(run: str, cut: AuditCut) -> str:
    """The archive file of a cut: ``<run>-audit-<first n>-<last n>.jsonl``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run)
    return f"{safe}-audit-{cut.first_n}-{cut.last_n}.jsonl"


def prune(
    storage: Storage,
    system_key: Callable[[str], bytes],
    cut: AuditCut,
    *,
    archive: Path | None,
) -> str:
    """
    Verify the entries ``cut`` prunes, archive them (when ``archive`` names a file:
    their texts, one per line, written in full before anything is deleted), delete
    them, and keep the new base. Call inside the transaction that records the run.
    Returns the SHA-256 (hex) of the pruned entries' texts, one per line.

    Raises:
        IntegrityError: the part to prune does not verify (nothing is pruned).
        StorageError: the backend cannot prune its audit log.
    """
    assert cut.seq is not None
    assert cut.checkpoint is not None
    assert cut.head is not None
    prune_audit = getattr(storage, "prune_audit", None)
    if prune_audit is None:
        raise StorageError(
            "this storage backend cannot prune its audit log (it has no prune_audit)",
            backend=None,
        )
    key = system_key(AUDIT_KEY)
    digest = hashlib.sha256()
    seq_through = cut.seq

    def prefix(sink: Callable[[str], object]) -> Iterator[tuple[int, str]]:
        after = cut.base.seq if cut.base is not None else 0
        for seq, text in _entries(storage, after=after):
            if seq > seq_through:
                return
            digest.update(text.encode("utf-8") + b"\n")
            sink(text)
            yield seq, text

    start = cut.base.head if cut.base is not None else None
    if archive is None:
        report = verify(prefix(lambda _t: None), key, start=start)
    else:
        archive.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                report = verify(prefix(lambda t: out.write(t + "\n")), key, start=start)
                out.flush()
                os.fsync(out.fileno())
            if report.ok:
                os.replace(tmp, archive)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    if not report.ok or report.head != cut.head:
        problem = report.problem or "it does not end at the checkpoint found"
        raise IntegrityError(
            f"the audit log does not verify ({problem}): nothing was pruned; "
            "run civiccrm audit verify"
        )
    # The base first (the key store commits at once): a crash before the deletion
    # commits leaves entries behind the base, ignored, and deleted by the next run.
    total = (cut.base.pruned if cut.base is not None else 0) + cut.due
    write_base(storage, key, AuditBase(cut.checkpoint, cut.head, seq_through, total))
    prune_audit(seq_through)
    return digest.hexdigest()


def left_behind(
    storage: Storage, system_key: Callable[[str], bytes]
) -> tuple[int, int, int, str] | None:
    """
    Delete the entries a crash left behind the base (verified, and archived when the
    schedule archives, but not deleted): their count, the chain positions of the first
    and last, and the SHA-256 of their texts; None if there were none. Call inside a
    transaction, and account for them in the run.
    """
    key = _audit_key(storage, system_key)
    prune_audit = getattr(storage, "prune_audit", None)
    if key is None or prune_audit is None:
        return None
    base = read_base(storage, key)
    first = storage.read_audit(after=0, limit=1)
    if base is None or not first or first[0][0] > base.seq:
        return None
    digest = hashlib.sha256()
    first_n: int | None = None
    for seq, text in _entries(storage):
        if seq > base.seq:
            break
        if first_n is None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                first_n = int(orjson.loads(text)["n"])
        digest.update(text.encode("utf-8") + b"\n")
    count = int(prune_audit(base.seq))
    return count, first_n if first_n is not None else base.head.n, base.head.n, digest.hexdigest()
