"""
The audit trail of one database, as the facade writes it: every read and write of
personal data becomes an :class:`~civiccrm.privacy.audit.AuditEvent`, chained by
:class:`~civiccrm.privacy.audit.AuditChain` and appended to the backend's audit log.

Writes are audited inside the transaction that makes them (both commit, or neither).
Reads are buffered and written with the next write transaction, when 200 of them wait,
or when the session closes (:meth:`Auditor.flush`); a crash of the process can lose the
read entries of its last moments, never a write's.

One chain per database: each flush runs in a write transaction (serialised across
threads and processes), first catching up with entries other sessions appended, so the
chain stays one line. The chain's head is also kept as an *anchor* in the key store
(signed with the audit key) at every checkpoint and when a session closes, so that
``civiccrm audit verify`` notices entries removed from the end of the log.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Final

import attrs

from civiccrm._keys import ANCHOR_KEY, AUDIT_KEY, BASE_KEY, KeyRing
from civiccrm.adapters._base import Storage
from civiccrm.errors import IntegrityError
from civiccrm.privacy.audit import (
    AuditChain,
    AuditEvent,
    ChainHead,
    VerifyReport,
    last_checkpoint,
    verify,
)

__all__ = [
    "ANCHOR_KEY",
    "AuditBase",
    "Auditor",
    "read_anchor",
    "read_base",
    "verify_log",
    "write_base",
]

_READ_BUFFER: Final = 200
#: Also flushed when the buffered reads name this many records (a stream's reads).
_READ_IDS: Final = 5_000


def _anchor_mac(key: bytes, head: ChainHead) -> str:
    return hmac.new(key, f"anchor:{head.n}:{head.hash}".encode(), hashlib.sha256).hexdigest()


def read_anchor(storage: Storage, key: bytes) -> ChainHead | None:
    """The signed anchor, checked; None if there is none yet."""
    raw = storage.get_key(ANCHOR_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        head = ChainHead(int(data["n"]), str(data["hash"]))
        mac = str(data["mac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the audit anchor is damaged: {exc!r}") from None
    if not hmac.compare_digest(mac, _anchor_mac(key, head)):
        raise IntegrityError("the audit anchor was altered (its signature does not match)")
    return head


@attrs.frozen
class AuditBase:
    """
    Where the audit log starts once retention has pruned its oldest entries: the last
    pruned entry, a signed checkpoint, kept (with its storage sequence number and how
    many entries were pruned in all) in the key store, apart from the log, signed with
    the audit key. The log goes on from the entry after it.
    """

    #: The checkpoint entry's text (its own hash and signature check it too).
    checkpoint: str
    head: ChainHead
    #: Its storage sequence number: every entry up to it has been pruned.
    seq: int
    #: Entries pruned since the log began.
    pruned: int


def _base_mac(key: bytes, seq: int, pruned: int, checkpoint: str) -> str:
    text = f"base:{seq}:{pruned}:{checkpoint}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def read_base(storage: Storage, key: bytes) -> AuditBase | None:
    """
    The signed base of a pruned log, checked; None if nothing was ever pruned.

    Raises:
        IntegrityError: the base was altered, or its checkpoint does not check out.
    """
    raw = storage.get_key(BASE_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        checkpoint, seq, pruned = str(data["checkpoint"]), int(data["seq"]), int(data["pruned"])
        mac = str(data["mac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the audit base is damaged: {exc!r}") from None
    if not hmac.compare_digest(mac, _base_mac(key, seq, pruned, checkpoint)):
        raise IntegrityError("the audit base was altered (its signature does not match)")
    found = last_checkpoint([(seq, checkpoint)], key)
    if found is None:
        raise IntegrityError("the audit base's checkpoint does not check out")
    return AuditBase(checkpoint, found[1], seq, pruned)


def write_base(storage: Storage, key: bytes, base: AuditBase) -> None:
    """
    Keep ``base``, durably, now (the key store is not part of any transaction): write it
    before pruning the entries it covers. Verification starts after it, so entries a
    crash left behind it are ignored until the next retention run deletes them.
    """
    blob = {
        "checkpoint": base.checkpoint,
        "seq": base.seq,
        "pruned": base.pruned,
        "mac": _base_mac(key, base.seq, base.pruned, base.checkpoint),
    }
    storage.put_key(BASE_KEY, json.dumps(blob).encode())


def _last_entry(storage: Storage) -> tuple[int, str] | None:
    """The log's last entry, in O(log n) reads (sequence numbers only increase)."""
    first = storage.read_audit(after=0, limit=1)
    if not first:
        return None
    # Gallop to a sequence number past the end, then bisect.
    low, step = first[0][0], 1
    while storage.read_audit(after=low + step - 1, limit=1):
        low, step = low + step, step * 2
    hi = low + step  # read_audit(after=hi - 1) is empty: no entry >= hi
    lo = low  # an entry >= lo exists
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if storage.read_audit(after=mid - 1, limit=1):
            lo = mid
        else:
            hi = mid
    last = storage.read_audit(after=lo - 1, limit=1)
    return last[0] if last else None


def _entries(storage: Storage, after: int = 0, page: int = 1000) -> Iterator[tuple[int, str]]:
    while True:
        rows = storage.read_audit(after=after, limit=page)
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def verify_log(storage: Storage, keys: KeyRing) -> VerifyReport:
    """
    Verify the whole audit log of ``storage`` against its signed anchor, from its
    signed base when retention has pruned its oldest entries.
    """
    if storage.get_key(AUDIT_KEY) is None:
        return verify(iter(()), b"\0" * 32)
    key = keys.system_key(AUDIT_KEY)
    base = read_base(storage, key)
    return verify(
        _entries(storage, after=base.seq if base is not None else 0),
        key,
        expected_head=read_anchor(storage, key),
        start=base.head if base is not None else None,
    )


class Auditor:
    """
    The audit writer shared by every session on one storage (one per database).
    """

    def __init__(self, storage: Storage, keys: KeyRing, *, checkpoint_every: int = 1000) -> None:
        self.storage = storage
        self.keys = keys
        self.checkpoint_every = checkpoint_every
        self._lock = threading.RLock()
        self._chain: AuditChain | None = None
        self._seen = 0  # the last storage sequence number this chain knows
        self._reads: list[AuditEvent] = []
        self._read_ids = 0
        self._dirty = False  # entries appended since the anchor was written

    def _key(self) -> bytes:
        return self.keys.system_key(AUDIT_KEY)

    def _catch_up(self) -> AuditChain:
        """The chain, continued after the log's last entry (inside a write transaction)."""
        if self._chain is None:
            last = _last_entry(self.storage)
            self._chain = AuditChain.resume(
                self._key(),
                None if last is None else last[1],
                checkpoint_every=self.checkpoint_every,
            )
            self._seen = 0 if last is None else last[0]
            return self._chain
        newer = self.storage.read_audit(after=self._seen, limit=1_000_000)
        if newer:
            # Another session appended: continue after its last entry.
            self._chain = AuditChain.resume(
                self._key(), newer[-1][1], checkpoint_every=self.checkpoint_every
            )
            self._seen = newer[-1][0]
        return self._chain

    def read(self, event: AuditEvent, *, in_transaction: Callable[[], bool]) -> None:
        """Record a read (written later; see the module docstring)."""
        with self._lock:
            self._reads.append(event)
            self._read_ids += len(event.record_ids)
            full = len(self._reads) >= _READ_BUFFER or self._read_ids >= _READ_IDS
            if full and not in_transaction():
                self._flush_reads()

    def write(self, events: Sequence[AuditEvent]) -> None:
        """
        Append ``events`` (and the buffered reads) now: call inside the transaction of
        the writes they describe.
        """
        with self._lock:
            pending = [*self._reads, *events]
            if not pending:
                return
            chain = self._catch_up()
            head = chain.head
            texts = chain.append(pending)
            try:
                seqs = self.storage.append_audit(texts)
            except BaseException:
                chain.reset(head)
                raise
            self._reads.clear()
            self._read_ids = 0
            self._seen = seqs[-1]
            self._dirty = True
            if any(t.startswith('{"action":"checkpoint",') for t in texts):
                self._write_anchor()

    def rolled_back(self) -> None:
        """The transaction that wrote entries rolled back: forget the chain's head."""
        with self._lock:
            self._chain = None

    def _flush_reads(self) -> None:
        with self.storage.transaction():
            try:
                self.write(())
            except BaseException:
                self.rolled_back()
                raise

    def flush(self) -> None:
        """Write buffered reads and the anchor (when a session closes)."""
        with self._lock:
            if self._reads:
                self._flush_reads()
            if self._dirty:
                self._write_anchor()

    def _write_anchor(self) -> None:
        chain = self._chain
        if chain is None or chain.head is None:
            return
        head = chain.head
        blob = {"n": head.n, "hash": head.hash, "mac": _anchor_mac(self._key(), head)}
        self.storage.put_key(ANCHOR_KEY, json.dumps(blob).encode())
        self._dirty = False


def event(
    *,
    at: datetime,
    actor: str | None,
    role: str | None,
    purpose: str | None,
    action: str,
    kind: str,
    record_ids: Sequence[str],
    fields: Sequence[str],
    detail: dict[str, str | int | bool | None] | None = None,
) -> AuditEvent:
    """
    An audit event built without AuditEvent's checks: for the facade, whose values
    are valid by construction (the session's actor, role and purpose are checked once
    by :func:`check_session`; times come from the clock; ids are record ids; actions,
    kinds and field names are constants). Every read makes one, so it must be cheap.
    """
    ev: AuditEvent = _new(AuditEvent)
    for name, value in (
        ("at", at.astimezone(UTC)),
        ("actor", actor),
        ("role", role),
        ("purpose", purpose),
        ("action", action),
        ("kind", kind),
        ("record_ids", tuple(record_ids)),
        ("fields", tuple(fields)),
        ("detail", dict(detail) if detail else {}),
    ):
        _set(ev, name, value)
    return ev


_new = object.__new__
_set = object.__setattr__


def check_session(
    *, at: datetime, actor: str | None, role: str | None, purpose: str | None
) -> None:
    """Raise ValidationError now if a session's actor, role or purpose cannot be audited."""
    AuditEvent(
        at=at,
        actor=actor,
        role=role,
        purpose=purpose,
        action="open",
        kind="session",
        record_ids=(),
        fields=(),
    )
