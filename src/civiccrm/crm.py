"""
The CRM facade: one object per agency session.

A write goes: validate -> apply policy -> store and record events in one transaction
-> tell observers after commit. A read goes: load -> check -> return models.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast

import attrs
import pluggy

from civiccrm._auditing import Auditor, check_session
from civiccrm._auditing import event as audit_event
from civiccrm._bulkwork import BulkWork
from civiccrm._clock import Clock, SystemClock
from civiccrm._dsr import SubjectService
from civiccrm._export import ExportService
from civiccrm._import import ImportService
from civiccrm._keys import (
    INDEX_KEY,
    KEY_ENV,
    KeyProvider,
    KeyRing,
    LocalKeyProvider,
    case_key_id,
    has_keys,
    party_key_id,
    provider_from_spec,
)
from civiccrm._records import (
    KINDS,
    OPEN_STATUSES,
    SUMMARY_COLUMNS,
    Kind,
    Stored,
    case_summary,
    dump_doc,
    micros,
)
from civiccrm._redaction import RedactionService
from civiccrm._retention import RetentionService
from civiccrm._work import (
    AutomationService,
    DuplicateCandidate,
    RoutingService,
    find_duplicates,
)
from civiccrm._workers import WorkerService
from civiccrm.adapters._base import Cursor, Filter, Order, Query, Record, Storage, UpsertResult
from civiccrm.comms._inbound import MailService
from civiccrm.comms._outbound import MessageService
from civiccrm.comms._surveys import SurveyService
from civiccrm.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    PolicyError,
    ValidationError,
)
from civiccrm.models import (
    Agent,
    AttributeValue,
    Case,
    CaseEvent,
    CaseStatus,
    CaseSummary,
    CaseType,
    Channel,
    Citizen,
    ContactKind,
    Direction,
    EventKind,
    EventValue,
    Interaction,
    Location,
    MailReceipt,
    Organization,
    OutboxMessage,
    Party,
    PartyRef,
    PartyType,
    Priority,
    Queue,
    Survey,
    format_utc,
    make_converter,
    new_id,
    personal_data_fields,
)
from civiccrm.plugins import make_plugin_manager, open_storage
from civiccrm.privacy.access import check_write, view, visible_fields
from civiccrm.privacy.audit import AuditEvent
from civiccrm.privacy.crypto import (
    DataKey,
    blind_index,
    external_id_for_index,
    normalize_email_for_index,
    normalize_phone_for_index,
    seal,
    sealed_key_ref,
    unseal,
)
from civiccrm.profile import Profile, Role, Visibility, load_profile
from civiccrm.reporting import ReportService
from civiccrm.routing.sla import EscalationStep, SlaClock, SlaState, TargetClock
from civiccrm.routing.sla import clock as sla_clock

__all__ = ["CRM", "Actor", "HistoryEntry", "ResultPage", "open"]

#: The personal-data fields of each stored model, by class and by kind.
_PERSONAL: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(f.name for f in personal_data_fields(cls)) for cls in KINDS
}
_PERSONAL_BY_KIND: Final[dict[str, tuple[str, ...]]] = {
    KINDS[cls].name: fields for cls, fields in _PERSONAL.items()
}

#: Events that move SLA clocks whatever the policy (status, priority, contact).
_SLA_EVENTS: Final = frozenset(
    {
        EventKind.OPENED,
        EventKind.STATUS_CHANGED,
        EventKind.REOPENED,
        EventKind.PRIORITY_CHANGED,
        EventKind.INTERACTION_LOGGED,
    }
)

#: The purpose of each blind-indexed column's keyed hash.
_BLIND_PURPOSE: Final = {"external_key": "external_id", "geo_cell": "geo_cell"}


def _outcome(target: TargetClock | None) -> tuple[int | None, bool | None]:
    """A met target's business time in whole seconds and whether it was on time."""
    if target is None or target.state not in (SlaState.MET, SlaState.MET_LATE):
        return None, None
    return int(target.elapsed.total_seconds()), target.state is SlaState.MET


def _no_key(_key_id: str, _generation: int) -> None:
    """No key: sealed personal fields are left closed and read back empty."""
    return


#: The built-in role of scripts and sweeps: everything in clear, every write.
SYSTEM_ROLE: Final = "system"

#: How an erased party's record (a tombstone) begins.
_TOMBSTONE: Final = '{"_erased"'

M = TypeVar("M", bound=Stored)
P = TypeVar("P", Citizen, Organization)
R = TypeVar("R")


@attrs.frozen
class Actor:
    """
    Who is acting in a CRM session: an agent, or the system (a script, a sweep).

    .. versionadded:: 0.1.0
    """

    name: str = "system"
    agent_id: uuid.UUID | None = None
    role: str = "system"


@attrs.frozen
class ResultPage(Generic[M]):
    """
    One page of results and the cursor of the next page (None on the last page).

    .. versionadded:: 0.1.0
    """

    items: tuple[M, ...]
    next: Cursor | None


@attrs.frozen
class HistoryEntry:
    """
    One entry of a party's service history: a case event (opening included) or an
    interaction, in time order.

    .. versionadded:: 0.1.0
    """

    at: datetime
    case_id: uuid.UUID | None
    event: CaseEvent | None = None
    interaction: Interaction | None = None


def open(
    url: str = "sqlite:///civiccrm.db",
    *,
    profile: Profile | str | Path,
    actor: Actor | None = None,
    purpose: str | None = None,
    clock: Clock | None = None,
    key: KeyProvider | str | None = None,
    previous_keys: Sequence[KeyProvider | str] = (),
    plugins: Sequence[object] = (),
    load_entry_points: bool = True,
) -> CRM:
    """
    Open a CRM session on the database at ``url``, creating or upgrading its schema.

    >>> import civiccrm
    >>> from civiccrm.profile import springfield_path
    >>> with civiccrm.open("memory://", profile=springfield_path()) as crm:
    ...     ana = crm.citizens.create(civiccrm.models.Citizen(given_name="Ana"))
    ...     case = crm.cases.open("001", requester=ana, attributes={"size": "large"})
    ...     case.status.value, case.queue, case.version
    ('new', 'pw-streets', 1)

    Args:
        url: ``memory://``, ``sqlite:///path.db``, or any scheme a plugin provides.
        profile: the agency profile, or the path of its TOML file.
        actor: who acts in this session (recorded on every event and audit entry), and
            in which role (:attr:`Actor.role`: a role of the profile, or ``"system"``).
        purpose: why personal data is read in this session (recorded in the audit
            trail); required by every role but ``"system"`` to read personal data.
        clock: where the time comes from (the system clock if omitted).
        key: the agency's key-encryption key: a :class:`~civiccrm.KeyProvider`, or a
            spec string (``file:/path/to/key``, ``env:VARIABLE``, or whatever a
            ``civiccrm_key_provider`` plugin understands). Default: the spec in
            ``$CIVICCRM_KEY``; else, for a SQLite file, the key file beside it
            (``<database>.kek``, made with the database); for ``memory://``, a random
            key for the session.
        previous_keys: older key-encryption keys, to open data keys that an interrupted
            rotation has not rewrapped yet.
        plugins: extra plugin objects or modules to register.
        load_entry_points: whether to load plugins installed under the ``civiccrm``
            entry-point group.

    Raises:
        PolicyError: the profile is bad.
        PluginError: no backend handles the URL, or a plugin is broken.
        StorageError: the backend cannot open the database, or it was written by a
            newer civiccrm.
        PolicyError: no key, or a key file that others may read.
        IntegrityError: the key does not open this database's keys (a wrong key).

    .. versionadded:: 0.1.0
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    pm = make_plugin_manager(plugins, load_entry_points=load_entry_points)
    storage = open_storage(url, pm)
    try:
        from civiccrm._records import SCHEMA

        storage.migrate(SCHEMA)
        provider = _key_provider(url, storage, key, pm)
        previous = [_key_provider(url, storage, k, pm) for k in previous_keys]
        keyring = KeyRing(storage, provider, previous=previous)
        keyring.check()
    except BaseException:
        storage.close()
        raise
    return CRM(
        storage,
        profile,
        actor=actor or Actor(),
        clock=clock or SystemClock(),
        plugins=pm,
        keys=keyring,
        purpose=purpose,
    )


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL (also behind a ``wrapper+`` scheme), or None."""
    tail = url.split("+", 1)[1] if "+" in url.split("://", 1)[0] else url
    if not tail.startswith("sqlite:///"):
        return None
    path = tail[len("sqlite:///") :]
    return None if path in ("", ":memory:") else os.path.abspath(path)


def _key_provider(
    url: str, storage: Storage, key: KeyProvider | str | None, pm: pluggy.PluginManager
) -> KeyProvider:
    if isinstance(key, KeyProvider):
        return key
    spec = key if key is not None else os.environ.get(KEY_ENV) or None
    if spec is not None:
        if not isinstance(spec, str):
            raise PolicyError(f"key must be a KeyProvider or a spec string, not {spec!r}")
        found = pm.hook.civiccrm_key_provider(spec=spec)
        if found is not None:
            return cast(KeyProvider, found)
        builtin = provider_from_spec(spec)
        if builtin is None:
            raise PolicyError(
                f"no key provider understands {spec!r} (built in: file:/path, env:VARIABLE)"
            )
        return builtin
    path = _sqlite_file(url)
    if path is not None:
        # A new database gets a key file beside it; an existing one needs its own.
        return LocalKeyProvider.from_file(path + ".kek", create=not has_keys(storage))
    if not storage.capabilities.persistent:
        return LocalKeyProvider.generate()
    from civiccrm._urls import redact_url  # the URL may carry a password: never show it

    raise PolicyError(
        f"{redact_url(url)}: give the key-encryption key "
        f"(key=..., or {KEY_ENV}=file:/path or env:VAR)"
    )


class CRM:
    """
    A CRM session: storage, the agency profile, the actor and the clock.

    Use :func:`civiccrm.open` to make one. A CRM may be shared by threads; each
    thread's :meth:`transaction` is its own. Close it (or use it as a context manager)
    when done.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        storage: Storage,
        profile: Profile,
        *,
        actor: Actor,
        clock: Clock,
        plugins: pluggy.PluginManager,
        keys: KeyRing | None = None,
        purpose: str | None = None,
    ) -> None:
        self.storage = storage
        #: Why this session reads personal data (in every audit entry).
        self.purpose = purpose
        #: The actor's role from the profile; None for the built-in "system" role
        #: (scripts and sweeps: everything in clear, every write).
        self.role: Role | None = None
        if actor.role != SYSTEM_ROLE:
            if actor.role not in profile.roles:
                known = ", ".join(sorted(profile.roles)) or "none"
                raise PolicyError(
                    f"role {actor.role!r} is not in the agency profile "
                    f"(roles: {known}; or {SYSTEM_ROLE!r} for scripts)"
                )
            self.role = profile.roles[actor.role]
        #: The data keys (a random key-encryption key for this session if none given).
        self.keys = keys if keys is not None else KeyRing(storage, LocalKeyProvider.generate())
        self._index_secret: bytes | None = None
        #: Event kinds that some SLA policy's target is met by ("event:<kind>").
        self._sla_event_kinds = frozenset(
            t.met_by.split(":", 1)[1]
            for policy in profile.sla_policies.values()
            for t in (
                *policy.targets,
                *(t for o in policy.priorities.values() for t in o.targets),
            )
            if t.met_by.startswith("event:")
        )
        #: The audit trail writer (one chain per database).
        self.auditor = Auditor(storage, self.keys)
        check_session(
            at=clock.now(),
            actor=str(actor.agent_id) if actor.agent_id is not None else actor.name,
            role=actor.role,
            purpose=purpose,
        )
        self.profile = profile
        self.actor = actor
        self.clock = clock
        self.plugins = plugins
        self.converter = make_converter(default_region=profile.agency.default_region)
        self._local = threading.local()
        self._id_lock = threading.Lock()
        self._last_id = 0
        self.citizens: PartyService[Citizen] = PartyService(self, Citizen)
        self.organizations: PartyService[Organization] = PartyService(self, Organization)
        self.cases = CaseService(self)
        self.interactions = InteractionService(self)
        self.agents = AgentService(self)
        self.queues = QueueDirectory(profile)
        self.sla = SlaService(self)
        #: Routing rules and assignment (see :class:`civiccrm._work.RoutingService`).
        self.routing = RoutingService(self)
        #: The profile's built-in automations.
        self.automations = AutomationService(self)
        #: Bulk case work for scripts (reassign, close, merge, move a case type).
        self.bulk = BulkWork(self)
        #: Redaction of personal data in free text.
        self.redaction = RedactionService(self)
        #: Streaming exports of cases, their free text redacted.
        self.export = ExportService(self)
        #: Streaming imports of CSV and JSON Lines files through a mapping.
        self.imports = ImportService(self)
        #: Work claimed in batches under expiring leases, from many processes or hosts.
        self.workers = WorkerService(self)
        #: Retention schedules, legal holds and dispositions.
        self.retention = RetentionService(self)
        #: Data-subject requests: access, rectification, erasure.
        self.subjects = SubjectService(self)
        #: KPIs over any period and slice (see :mod:`civiccrm.reporting`).
        self.reports = ReportService(self)
        #: Outbound messages: templates, channels, the outbox.
        self.messages = MessageService(self)
        #: Satisfaction surveys of resolved cases.
        self.surveys = SurveyService(self)
        #: Inbound email: threading to cases, the quarantine.
        self.mail = MailService(self)

    # ----------------------------------------------------------------------------------
    # Sessions and transactions

    def __enter__(self) -> CRM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Write what the audit trail still holds, then close the storage backend."""
        try:
            self.auditor.flush()
        finally:
            self.storage.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """
        Make every write inside atomic. Observers are told after the outermost
        transaction commits, and not at all if it rolls back.
        """
        depth: int = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.pending = []
            self._local.audit = []
        self._local.depth = depth + 1
        try:
            with self.storage.transaction():
                yield
                if depth == 0:
                    # In the transaction, so that the trail commits with the writes.
                    self.auditor.write(self._local.audit)
        except BaseException:
            self._local.depth = depth
            if depth == 0:
                self._local.pending = []
                self._local.audit = []
                self.auditor.rolled_back()
            raise
        self._local.depth = depth
        if depth == 0:
            pending: list[Callable[[], None]] = self._local.pending
            self._local.pending = []
            for notify in pending:
                notify()

    def _after_commit(self, notify: Callable[[], None]) -> None:
        if getattr(self._local, "depth", 0):
            self._local.pending.append(notify)
        else:
            notify()

    def retry_on_conflict(self, work: Callable[[], R], *, attempts: int = 20) -> R:
        """
        Run ``work`` (which should load what it changes), again on ConflictError, up
        to ``attempts`` times; the last ConflictError is raised if all fail.
        """
        for attempt in range(attempts):
            try:
                return work()
            except ConflictError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------------------------
    # Records

    def _kind(self, cls: type[M]) -> Kind[M]:
        return KINDS[cls]

    def _now(self) -> datetime:
        return self.clock.now()

    def _new_id(self, at: datetime) -> uuid.UUID:
        """
        A time-ordered id that sorts after every id this session made before, even in
        the same millisecond, so that events recorded together keep their order.
        """
        candidate = new_id(at).int
        with self._id_lock:
            if candidate <= self._last_id:
                candidate = self._last_id + 1
            self._last_id = candidate
        return uuid.UUID(int=candidate)

    def _load(self, cls: type[M], record_id: uuid.UUID | str) -> M:
        kind = self._kind(cls)
        record = self.storage.get(kind.name, str(record_id))
        if record is None:
            raise NotFoundError(kind.name.replace("_", " "), record_id)
        if record.doc.startswith(_TOMBSTONE):
            raise NotFoundError(kind.name.replace("_", " "), f"{record_id} (erased)")
        obj = self._from_record(kind, record)
        self._audit_read(kind.name, [record.id])
        return self._shown(obj)

    def _prefetch_keys(self, records: Sequence[Record]) -> None:
        """Load the keys of a page of sealed records in one read."""
        ids = []
        for r in records:
            # A sealed document starts with {"_k":["<key id>",<generation>]
            if r.doc.startswith('{"_k":["'):
                end = r.doc.find('"', 8)
                if end > 8:
                    ids.append(r.doc[8:end])
        if ids:
            self.keys.prefetch(ids)

    def _prefetching(self, records: Iterator[Record], page: int = 500) -> Iterator[Record]:
        """``records``, with the keys of every ``page`` of them loaded ahead."""
        batch: list[Record] = []
        for r in records:
            batch.append(r)
            if len(batch) >= page:
                self._prefetch_keys(batch)
                yield from batch
                batch = []
        self._prefetch_keys(batch)
        yield from batch

    def _from_record(self, kind: Kind[M], record: Record) -> M:
        return kind.from_record(record, self.converter, self.keys.get)

    def _to_record(self, obj: M, key: DataKey | None = None, **kw: Any) -> Record:
        kind = self._kind(type(obj))
        if key is None:
            key = self._seal_key(obj)
        return kind.to_record(obj, self.converter, key=key, blind=self._blind_column, **kw)

    def _write(self, obj: M, *, key: DataKey | None = None) -> M:
        """Store ``obj`` (version 0: insert) and return it with its new version."""
        if not getattr(self._local, "depth", 0):
            with self.transaction():
                return self._write(obj, key=key)
        obj = self._keep_unseen(obj)
        stored = self.storage.put(self._to_record(obj, key), expected_version=obj.version)
        fields = _PERSONAL[type(obj)]
        if fields:
            self._audit_write(
                "create" if obj.version == 0 else "update", self._kind(type(obj)).name, [stored.id]
            )
        return self._shown(attrs.evolve(obj, version=stored.version))  # type: ignore[misc]

    # --- the audit trail ---------------------------------------------------------

    def _audit_event(
        self,
        action: str,
        kind: str,
        record_ids: Sequence[str],
        fields: Sequence[str] | None = None,
        detail: dict[str, str | int | bool | None] | None = None,
    ) -> AuditEvent:
        actor = self.actor
        return audit_event(
            at=self._now(),
            actor=str(actor.agent_id) if actor.agent_id is not None else actor.name,
            role=actor.role,
            purpose=self.purpose,
            action=action,
            kind=kind,
            record_ids=record_ids,
            fields=_PERSONAL_BY_KIND.get(kind, ()) if fields is None else fields,
            detail=detail,
        )

    def _audit_write(
        self,
        action: str,
        kind: str,
        record_ids: Sequence[str],
        detail: dict[str, str | int | bool | None] | None = None,
    ) -> None:
        """Record a write of personal data (call inside the transaction that makes it)."""
        self._local.audit.append(self._audit_event(action, kind, record_ids, detail=detail))

    # --- roles -------------------------------------------------------------------

    def _may(self, write: str) -> None:
        """AccessDeniedError unless the actor's role allows writes of kind ``write``."""
        if self.role is not None:
            check_write(self.role, write)

    def _may_manage_staff(self) -> None:
        if self.role is not None:
            raise AccessDeniedError(
                f"role {self.role.code!r} may not manage agents (the {SYSTEM_ROLE!r} role does)"
            )

    def _check_purpose(self, kind: str) -> None:
        """Reading personal data needs a stated purpose (but for the system role)."""
        if self.role is not None and not self.purpose and _PERSONAL_BY_KIND.get(kind):
            raise AccessDeniedError(
                f"reading {kind} records (personal data) needs a stated purpose: "
                "civiccrm.open(..., purpose='...')"
            )

    def _shown(self, obj: M) -> M:
        """``obj`` as the actor's role sees it."""
        if self.role is None or not _PERSONAL[type(obj)]:
            return obj
        redact = None
        if Visibility.REDACTED in visible_fields(self.role, type(obj)).values():
            redact = self.redaction.for_view(obj)
        return view(obj, self.role, redact=redact)

    def _keep_unseen(self, obj: M) -> M:
        """
        ``obj`` with every personal field the role does not see in clear taken from the
        stored version: a role cannot change what it cannot see, and a masked value
        read back is never written over the real one.
        """
        role = self.role
        if role is None or obj.version == 0 or not _PERSONAL[type(obj)]:
            return obj
        kind = self._kind(type(obj))
        record = self.storage.get(kind.name, str(obj.id))
        if record is None:
            return obj
        stored = self._from_record(kind, record)
        unseen = {
            name: getattr(stored, name)
            for name, seen in visible_fields(role, type(obj)).items()
            if seen is not Visibility.CLEAR
        }
        return attrs.evolve(obj, **unseen) if unseen else obj  # type: ignore[misc]

    def _audit_read(self, kind: str, record_ids: Sequence[str]) -> None:
        """Record a read of personal data."""
        if not record_ids or not _PERSONAL_BY_KIND.get(kind):
            return
        self._check_purpose(kind)
        event = self._audit_event("read", kind, record_ids)
        if getattr(self._local, "depth", 0):
            self._local.audit.append(event)
        else:
            self.auditor.read(event, in_transaction=lambda: False)

    def _audit_system_read(
        self, kind: str, record_ids: Sequence[str], fields: Sequence[str], reason: str
    ) -> None:
        """Record a read of personal data that civiccrm makes for its own work (routing
        reads a requester's language and needs, redaction their names and contacts):
        no purpose is asked for, ``reason`` is kept in the entry's detail."""
        if not record_ids:
            return
        event = self._audit_event("read", kind, record_ids, fields=fields, detail={"by": reason})
        if getattr(self._local, "depth", 0):
            self._local.audit.append(event)
        else:
            self.auditor.read(event, in_transaction=lambda: False)

    # --- keys and blind indexes ------------------------------------------------------

    def _seal_key(self, obj: object) -> DataKey | None:
        """The data key that seals ``obj``'s personal data (None: it holds none)."""
        if isinstance(obj, Citizen | Organization):
            return self.keys.current(party_key_id(obj.id), create=True)
        if isinstance(obj, Case):
            return self._case_key(obj)
        if isinstance(obj, Interaction):
            if obj.party is not None:
                return self.keys.current(party_key_id(obj.party.id), create=True)
            if obj.case_id is not None:
                return self._case_key(self._load(Case, obj.case_id))
            return self.keys.current(f"interaction:{obj.id}", create=True)
        if isinstance(obj, CaseEvent):
            return self._case_key(self._load(Case, obj.case_id))
        return None

    def _case_key_id(self, case: Case) -> str:
        if case.requester is not None:
            return party_key_id(case.requester.id)
        return case_key_id(case.id)

    def _case_key(self, case: Case) -> DataKey:
        """A case's data key: its requester's, or its own for an anonymous report."""
        return self.keys.current(self._case_key_id(case), create=True)

    def _index_key(self) -> bytes:
        if self._index_secret is None:
            self._index_secret = self.keys.system_key(INDEX_KEY)
        return self._index_secret

    def _blind(self, purpose: str, value: str) -> str:
        return blind_index(self._index_key(), purpose, value)

    def _blind_column(self, column: str, value: str) -> str:
        """The blind index stored in a record's ``column`` for ``value``."""
        return self._blind(_BLIND_PURPOSE[column], value)

    def _blind_external_id(self, value: str) -> str:
        """The blind index of a party's ``source:id`` (its import key column)."""
        return self._blind("external_id", value)

    def _make_event(self, case: Case, kind: EventKind, **fields: Any) -> CaseEvent:
        """A new event of ``case`` (not stored yet)."""
        return CaseEvent(
            id=self._new_id(self._now()),
            case_id=case.id,
            kind=kind,
            at=self._now(),
            actor=self.actor.agent_id,
            **fields,
        )

    def _event(self, case: Case, kind: EventKind, **fields: Any) -> CaseEvent:
        return self._write(self._make_event(case, kind, **fields), key=self._case_key(case))

    # --- SLA ---------------------------------------------------------------------

    def _sla_relevant(self, event: CaseEvent) -> bool:
        """Whether ``event`` can change a case's SLA clock (else no replay is needed)."""
        if event.kind in _SLA_EVENTS or event.kind.value in self._sla_event_kinds:
            return True
        if event.kind is EventKind.UPDATED:
            fields = str(event.data.get("fields", "")).split(",")
            return bool({"case_type", "queue", "priority", "reported_at"} & set(fields))
        return False

    def _stored_events(self, case_id: uuid.UUID) -> list[CaseEvent]:
        """
        A case's stored events for the SLA replay and the automations, without their
        notes: the notes (the one personal field of an event) are not decrypted, and
        come back empty. Internal: this is not a read of personal data.
        """
        kind = KINDS[CaseEvent]
        query = Query("case_event", (Filter("case_id", "eq", str(case_id)),), Order("at"))
        return [kind.from_record(r, self.converter, _no_key) for r in self.storage.stream(query)]

    def _sla_plan(
        self, case: Case, new_events: Sequence[CaseEvent], *, fresh: bool = False
    ) -> Case:
        """
        ``case`` with its SLA due times and its next check time replanned from its
        history (stored events plus ``new_events``, not stored yet). A case type with
        no policy keeps the due times it has. ``fresh``: a new case (no stored events).
        """
        if not fresh and not any(self._sla_relevant(e) for e in new_events):
            return case  # nothing that can move an SLA clock: keep the plan
        events = list(new_events) if fresh else [*self._stored_events(case.id), *new_events]
        clock = sla_clock(case, events, self.profile, at=self._now())
        if clock is None:
            return case
        first = clock.target("first_response")
        resolution = clock.target("resolution")
        response_seconds, response_met = _outcome(first)
        resolution_seconds, resolution_met = _outcome(resolution)
        return attrs.evolve(
            case,
            response_due_at=first.due_at if first is not None else case.response_due_at,
            due_at=resolution.due_at if resolution is not None else case.due_at,
            sla_check_at=clock.next_change_at if case.status.is_open else None,
            response_seconds=response_seconds,
            response_met=response_met,
            resolution_seconds=resolution_seconds,
            resolution_met=resolution_met,
        )

    def _located(self, case: Case) -> Case:
        """``case`` with its district found from its location (None without one)."""
        loc = case.location
        district = None
        if loc is not None and loc.latitude is not None and loc.longitude is not None:
            found = self.profile.routing.districts.locate(loc.latitude, loc.longitude)
            district = min(found) if found else None
        return case if district == case.district else attrs.evolve(case, district=district)

    def _page(self, cls: type[M], query: Query) -> ResultPage[M]:
        kind = self._kind(cls)
        page = self.storage.query(query)
        live = [r for r in page.records if not r.doc.startswith(_TOMBSTONE)]
        self._prefetch_keys(live)
        items = tuple(self._from_record(kind, r) for r in live)
        self._audit_read(kind.name, [r.id for r in live])
        return ResultPage(tuple(self._shown(i) for i in items), page.next)

    def _stream(self, cls: type[M], query: Query) -> Iterator[M]:
        kind = self._kind(cls)
        self._check_purpose(kind.name)
        seen: list[str] = []
        try:
            for record in self._prefetching(self.storage.stream(query)):
                if not record.doc.startswith(_TOMBSTONE):
                    obj = self._from_record(kind, record)
                    seen.append(record.id)
                    if len(seen) >= 1000:
                        self._audit_read(kind.name, seen)
                        seen = []
                    yield self._shown(obj)
        finally:
            self._audit_read(kind.name, seen)

    # ----------------------------------------------------------------------------------
    # Service history

    def history(self, party: Party | PartyRef | uuid.UUID) -> list[HistoryEntry]:
        """
        A party's full service history: every event of every case they requested and
        every interaction with them, in time order.
        """
        party_id = str(party.id if isinstance(party, Party | PartyRef) else party)
        entries: list[HistoryEntry] = []
        for case in self._stream(Case, Query("case", (Filter("requester_id", "eq", party_id),))):
            for event in self.cases.events(case):
                entries.append(HistoryEntry(event.at, case.id, event=event))
        for interaction in self._stream(
            Interaction, Query("interaction", (Filter("party_id", "eq", party_id),))
        ):
            entries.append(
                HistoryEntry(interaction.occurred_at, interaction.case_id, interaction=interaction)
            )
        entries.sort(key=lambda e: (e.at, 0 if e.event else 1))
        return entries


class PartyService(Generic[P]):
    """Citizens or organizations: ``crm.citizens``, ``crm.organizations``."""

    def __init__(self, crm: CRM, cls: type[P]) -> None:
        self._crm = crm
        self._cls: type[P] = cls

    def create(self, party: P) -> P:
        """Store a new party; returns it with ``created_at`` set and version 1."""
        self._crm._may(self._crm._kind(self._cls).name)
        now = self._crm._now()
        with self._crm.transaction():
            stored = self._crm._write(
                attrs.evolve(party, created_at=party.created_at or now, updated_at=now, version=0)
            )
            self._sync_lookups([stored])
            return stored

    def get(self, party_id: uuid.UUID | str) -> P:
        """The party. Raises NotFoundError."""
        return self._crm._load(self._cls, party_id)

    def update(self, party: P) -> P:
        """
        Store a changed party. ``party.version`` must be the stored version (the one it
        was loaded with); otherwise ConflictError, and nothing is written.
        """
        self._crm._may(self._crm._kind(self._cls).name)
        if party.version < 1:
            raise ValidationError.at("version", "update a party that was loaded or created first")
        with self._crm.transaction():
            stored = self._crm._write(attrs.evolve(party, updated_at=self._crm._now()))
            self._sync_lookups([stored])
            return stored

    def find_by_external_id(self, source: str, external_id: str) -> P | None:
        """The party imported with ``external_ids[source] == external_id`` as its first id."""
        kind = self._crm._kind(self._cls)
        token = self._crm._blind_external_id(f"{source}:{external_id}")
        record = self._crm.storage.get_by_key(kind.name, token)
        if record is None or record.doc.startswith(_TOMBSTONE):
            return None
        found = self._crm._from_record(kind, record)
        self._crm._audit_read(kind.name, [record.id])
        return self._crm._shown(found)

    def find(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        external_id: tuple[str, str] | None = None,
    ) -> list[P]:
        """
        The parties with this email address, phone number or external id (any of
        their contact points or ids), by exact match on its normalised form. Nothing
        is stored in clear: the look-up goes through blind indexes (keyed hashes).
        """
        given = [v for v in (email, phone, external_id) if v is not None]
        if len(given) != 1:
            raise ValidationError.at("", "give exactly one of email, phone or external_id")
        crm = self._crm
        if email is not None:
            token = crm._blind("email", normalize_email_for_index(email))
        elif phone is not None:
            region = crm.profile.agency.default_region
            token = crm._blind("phone", normalize_phone_for_index(phone, region))
        else:
            assert external_id is not None
            token = crm._blind("external_id", external_id_for_index(*external_id))
        rows = crm.storage.query(Query("party_lookup", (Filter("token", "eq", token),)))
        ids = [str(r.columns["party_id"]) for r in rows.records]
        kind = crm._kind(self._cls)
        live = [r for r in crm.storage.get_many(kind.name, ids) if not r.doc.startswith(_TOMBSTONE)]
        found = [crm._from_record(kind, r) for r in live]
        crm._audit_read(kind.name, [r.id for r in live])
        return [crm._shown(f) for f in found]

    def erase(self, party: P | uuid.UUID | str, *, reason: str) -> None:
        """
        Erase a party (crypto-shredding): its data key is destroyed, so its personal
        data (in its own record, in the cases it requested, their notes and events, and
        its interactions) can no longer be decrypted by anyone, from this database or
        any copy of it; the party's record becomes a tombstone and its look-ups go.
        Cases keep their non-personal fields (type, status, times) for statistics.

        ``reason`` is kept in clear in the tombstone (a legal basis or a request
        number: never personal data). Erasing an erased party finishes the job.

        Raises:
            NotFoundError: there is no such party.
        """
        self._crm._may("erase")
        crm = self._crm
        kind = crm._kind(self._cls)
        pid = str(party.id if isinstance(party, Party) else party)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError.at("reason", "say why the party is erased")
        now = crm._now()
        with crm.transaction():
            record = crm.storage.get(kind.name, pid)
            if record is None:
                raise NotFoundError(kind.name, pid)
            if not record.doc.startswith(_TOMBSTONE):
                tomb = json.dumps(
                    {"_erased": {"at": format_utc(now), "reason": reason.strip()}, "id": pid},
                    separators=(",", ":"),
                )
                crm.storage.put(
                    Record(kind.name, pid, record.version, tomb, {}),
                    expected_version=record.version,
                )
            lookups = list(
                crm.storage.stream(Query("party_lookup", (Filter("party_id", "eq", pid),)))
            )
            for row in lookups:
                crm.storage.delete("party_lookup", row.id, expected_version=row.version)
            crm._audit_write("erase", kind.name, [pid], detail={"reason": reason.strip()[:200]})
        # After the tombstone is committed: a crash in between leaves the key, and
        # erasing again destroys it.
        crm.keys.erase(party_key_id(pid), at=now)
        crm.plugins.hook.civiccrm_party_erased(crm=crm, kind=kind.name, party_id=pid)

    def rekey(self, party: P | uuid.UUID | str) -> int:
        """
        Re-encrypt a party's personal data under a new data key (a new generation), and
        destroy the old key: its own record, the cases it requested with their events,
        messages, surveys and mail receipts, and its interactions, messages and mail
        receipts. Use it when a key may have leaked. Returns how many
        records were re-encrypted. Safe to run again if it stops half-way (records
        still under the old generation are found and done; the old key is destroyed
        only at the end).

        Raises:
            NotFoundError: there is no such party.
        """
        self._crm._may("erase")
        crm = self._crm
        kind = crm._kind(self._cls)
        pid = str(party.id if isinstance(party, Party) else party)
        record = crm.storage.get(kind.name, pid)
        if record is None or record.doc.startswith(_TOMBSTONE):
            raise NotFoundError(kind.name, pid)
        key_id = party_key_id(pid)
        _, new = crm.keys.new_generation(key_id)
        done = 0
        batches: list[tuple[Kind[Any], list[Record]]] = [(kind, [record])]
        cases = list(crm.storage.stream(Query("case", (Filter("requester_id", "eq", pid),))))
        batches.append((KINDS[Case], cases))
        for c in cases:
            events = list(crm.storage.stream(Query("case_event", (Filter("case_id", "eq", c.id),))))
            batches.append((KINDS[CaseEvent], events))
            talks = list(crm.storage.stream(Query("interaction", (Filter("case_id", "eq", c.id),))))
            batches.append((KINDS[Interaction], talks))
            # Messages, surveys and mail receipts about the case (under its key).
            for cls in (OutboxMessage, Survey, MailReceipt):
                about = Query(KINDS[cls].name, (Filter("case_id", "eq", c.id),))
                batches.append((KINDS[cls], list(crm.storage.stream(about))))
        talks = list(crm.storage.stream(Query("interaction", (Filter("party_id", "eq", pid),))))
        batches.append((KINDS[Interaction], talks))
        for cls in (OutboxMessage, MailReceipt):
            mine = Query(KINDS[cls].name, (Filter("party_id", "eq", pid),))
            batches.append((KINDS[cls], list(crm.storage.stream(mine))))
        seen: set[tuple[str, str]] = set()
        for k, records in batches:
            for r in records:
                if (k.name, r.id) in seen:
                    continue
                seen.add((k.name, r.id))
                data = json.loads(r.doc)
                ref = sealed_key_ref(data)
                if ref is None or ref[0] != key_id or ref[1] == new.generation:
                    continue
                plain = unseal(data, k.cls, key=crm.keys.get(*ref), aad_prefix=f"{k.name}/{r.id}")
                sealed = seal(plain, k.cls, key=new, aad_prefix=f"{k.name}/{r.id}")
                with crm.transaction():
                    crm.storage.put(
                        Record(k.name, r.id, r.version, dump_doc(sealed), r.columns),
                        expected_version=r.version,
                    )
                    crm._audit_write("rekey", k.name, [r.id])
                done += 1
        crm.keys.drop_older_generations(key_id)
        return done

    def _sync_lookups(self, parties: Sequence[P]) -> None:
        """Make the party_lookup rows of ``parties`` match their contact points and ids."""
        crm = self._crm
        region = crm.profile.agency.default_region
        for party in parties:
            pid = str(party.id)
            tokens: set[str] = set()
            for cp in party.contact_points:
                if cp.value is None:
                    continue
                if cp.kind is ContactKind.EMAIL:
                    tokens.add(crm._blind("email", normalize_email_for_index(cp.value)))
                elif cp.kind is ContactKind.PHONE:
                    tokens.add(crm._blind("phone", normalize_phone_for_index(cp.value, region)))
            for source, value in party.external_ids.items():
                tokens.add(crm._blind("external_id", external_id_for_index(source, value)))
            have = {
                r.id: r
                for r in crm.storage.stream(Query("party_lookup", (Filter("party_id", "eq", pid),)))
            }
            wanted = {f"{t}|{pid}": t for t in tokens}
            for rid, row in have.items():
                if rid not in wanted:
                    crm.storage.delete("party_lookup", rid, expected_version=row.version)
            for rid, token in wanted.items():
                if rid not in have:
                    crm.storage.put(
                        Record("party_lookup", rid, 0, "{}", {"token": token, "party_id": pid}),
                        expected_version=0,
                    )

    def list(self, *, limit: int = 100, after: Cursor | None = None) -> ResultPage[P]:
        """A page of parties in creation order."""
        kind = self._crm._kind(self._cls)
        return self._crm._page(self._cls, Query(kind.name, order_by=None, limit=limit, after=after))

    def bulk_import(self, parties: Iterable[P], *, batch_size: int = 10_000) -> UpsertResult:
        """
        Insert or update parties by their first external id, in batches, idempotently:
        importing the same parties again changes nothing. Each batch is atomic.
        """
        self._crm._may("import")
        kind = self._crm._kind(self._cls)
        return _bulk(
            self._crm,
            kind,
            (self._keyed(p) for p in parties),
            batch_size,
            after=self._sync_lookups,
        )

    def _keyed(self, party: P) -> P:
        if not party.external_ids:
            raise ValidationError.at(
                "external_ids", "a bulk import needs an external id per record"
            )
        key = next(iter(party.external_ids.items()))
        created = party.created_at or self._crm._now()
        return attrs.evolve(
            party, id=_import_id(":".join(key), created), created_at=created, updated_at=created
        )


def _import_id(key: str, at: datetime) -> uuid.UUID:
    """
    A time-ordered id derived from an import key: the same key and time give the same
    id. The random part of a version 7 id is taken from a hash of the key.
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=10).digest()
    return new_id(at, random_bits=int.from_bytes(digest) >> 6)


def _bulk(
    crm: CRM,
    kind: Kind[Any],
    objects: Iterable[Any],
    batch_size: int,
    *,
    after: Callable[[list[Any]], None],
) -> UpsertResult:
    totals = [0, 0, 0]

    def flush(batch: list[Any]) -> None:
        keys = crm.keys.current_many(party_key_id(p.id) for p in batch)
        records = [crm._to_record(p, keys[party_key_id(p.id)]) for p in batch]
        with crm.transaction():
            crm._audit_write("import", kind.name, [r.id for r in records])
            result = crm.storage.bulk_upsert(kind.name, records)
            after(batch)
        totals[0] += result.inserted
        totals[1] += result.updated
        totals[2] += result.unchanged

    batch: list[Any] = []
    for obj in objects:
        batch.append(obj)
        if len(batch) >= batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return UpsertResult(*totals)


def check_duplicate(case: Case, parent: Case) -> None:
    """Raise ValidationError unless ``case`` may be accepted as a duplicate of ``parent``."""
    if case.id == parent.id:
        raise ValidationError.at("duplicate_of", "a case cannot duplicate itself")
    if parent.case_type != case.case_type:
        raise ValidationError.at(
            "duplicate_of",
            f"case {parent.reference or parent.id} is of case type "
            f"{parent.case_type!r}, not {case.case_type!r}",
        )


#: Statuses a case's accepted duplicates follow it to.
_FOLLOWED: Final = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.IN_PROGRESS})


def _follow_path(status: CaseStatus, target: CaseStatus) -> list[CaseStatus]:
    """
    The moves that bring a follower in ``status`` to its parent's ``target`` status
    (resolved, closed, or reopened); none if it is there already or cannot follow.
    """
    if status is target or status.is_final:
        return []
    if target is CaseStatus.RESOLVED and status.is_open:
        return [CaseStatus.RESOLVED]
    if target is CaseStatus.CLOSED:
        if status.is_open:
            return [CaseStatus.RESOLVED, CaseStatus.CLOSED]
        if status is CaseStatus.RESOLVED:
            return [CaseStatus.CLOSED]
    if target is CaseStatus.IN_PROGRESS and status is CaseStatus.RESOLVED:
        return [CaseStatus.IN_PROGRESS]
    return []


class CaseService:
    """Cases: ``crm.cases``."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    # --- reads ---------------------------------------------------------------------

    def get(self, case_id: uuid.UUID | str) -> Case:
        """The case. Raises NotFoundError."""
        return self._crm._load(Case, case_id)

    def find(
        self,
        *,
        status: CaseStatus | Sequence[CaseStatus] | None = None,
        open: bool | None = None,
        queue: str | None = None,
        assignee: uuid.UUID | None = None,
        case_type: str | None = None,
        requester: Party | PartyRef | uuid.UUID | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> ResultPage[Case]:
        """
        A page of cases matching every condition given, ordered by ``order_by`` (a
        column such as ``due_at``, ``opened_at`` or ``priority``; creation order if
        omitted). Pass the page's ``next`` as ``after`` for the next page.
        """
        where: list[Filter] = []
        if isinstance(status, CaseStatus):
            where.append(Filter("status", "eq", status.value))
        elif status is not None:
            where.append(Filter("status", "in", tuple(s.value for s in status)))
        if open is not None:
            where.append(Filter("status", "in" if open else "not_in", OPEN_STATUSES))
        if queue is not None:
            where.append(Filter("queue", "eq", queue))
        if assignee is not None:
            where.append(Filter("assignee", "eq", str(assignee)))
        if case_type is not None:
            where.append(Filter("case_type", "eq", case_type))
        if requester is not None:
            rid = requester.id if isinstance(requester, Party | PartyRef) else requester
            where.append(Filter("requester_id", "eq", str(rid)))
        order = Order(order_by, descending) if order_by else None
        return self._crm._page(Case, Query("case", tuple(where), order, limit, after))

    def overdue(self, *, now: datetime | None = None, limit: int = 50) -> list[CaseSummary]:
        """
        The ``limit`` most overdue open cases: due before ``now``, most overdue first,
        as :class:`~civiccrm.models.CaseSummary` (read from indexed columns only, so no
        personal data is read); ``get`` a case for the whole of it.
        """
        at = micros(now or self._crm._now())
        query = Query(
            "case",
            (Filter("status", "in", OPEN_STATUSES), Filter("due_at", "lt", at)),
            Order("due_at"),
            limit,
            columns=SUMMARY_COLUMNS,
        )
        return [case_summary(r) for r in self._crm.storage.query(query).records]

    def count_open_by_queue(self) -> dict[str | None, int]:
        """How many open cases each queue holds."""
        counts = self._crm.storage.count(
            "case", (Filter("status", "in", OPEN_STATUSES),), group_by="queue"
        )
        return {(k if isinstance(k, str) else None): v for k, v in counts.items()}

    def events(self, case: Case | uuid.UUID | str) -> list[CaseEvent]:
        """The case's history, oldest first."""
        case_id = str(case.id if isinstance(case, Case) else case)
        query = Query("case_event", (Filter("case_id", "eq", case_id),), Order("at"))
        return list(self._crm._stream(CaseEvent, query))

    def find_by_reference(self, reference: str) -> Case | None:
        """The case with this human reference (``SR-2026-000123``), or None."""
        query = Query("case", (Filter("reference", "eq", reference),), limit=1)
        records = self._crm.storage.query(query).records
        if not records:
            return None
        found: Case = self._crm._from_record(KINDS[Case], records[0])
        self._crm._audit_read("case", [records[0].id])
        return self._crm._shown(found)

    def find_by_external_id(self, source: str, external_id: str) -> Case | None:
        """The case imported with ``external_ids[source] == external_id`` as its first id."""
        record = self._crm.storage.get_by_key("case", f"{source}:{external_id}")
        if record is None:
            return None
        found: Case = self._crm._from_record(KINDS[Case], record)
        self._crm._audit_read("case", [record.id])
        return self._crm._shown(found)

    # --- writes --------------------------------------------------------------------

    def _case_type(self, code: str) -> CaseType:
        """The profile's case type ``code``; ValidationError naming it if there is none."""
        try:
            return self._crm.profile.case_type(code)
        except NotFoundError:
            raise ValidationError.at("case_type", f"no case type {code!r} in the profile") from None

    def open(
        self,
        case_type: str,
        *,
        title: str | None = None,
        description: str | None = None,
        channel: Channel = Channel.WEB,
        requester: Party | PartyRef | None = None,
        location: Location | None = None,
        attributes: dict[str, object] | None = None,
        priority: Priority | None = None,
        queue: str | None = None,
        reported_at: datetime | None = None,
        tags: Sequence[str] = (),
        reference: str | None = None,
        external_ids: dict[str, str] | None = None,
        media_url: str | None = None,
    ) -> Case:
        """
        Open a case of ``case_type`` (a service code): checked against the case type
        (its custom attributes, whether it is active) and given its defaults (priority,
        queue), with an ``opened`` event.

        Raises:
            ValidationError: an unknown or inactive case type, bad attributes, an
                unknown requester or queue; every problem at once.
        """
        self._crm._may("case")
        crm = self._crm
        problems = []
        ctype = self._case_type(case_type)
        if not ctype.active:
            problems.append(
                ValidationError.at("case_type", f"case type {case_type!r} is not active")
            )
        values: dict[str, AttributeValue] = {}
        try:
            values = ctype.validate_attributes(attributes or {})
        except ValidationError as exc:
            problems.append(exc)
        if queue is not None and queue not in crm.queues:
            problems.append(ValidationError.at("queue", f"no queue {queue!r} in the profile"))
        ref = requester.ref if isinstance(requester, Party) else requester
        if ref is not None:
            cls: type[Any] = Citizen if ref.type is PartyType.CITIZEN else Organization
            if crm.storage.get(KINDS[cls].name, str(ref.id)) is None:
                problems.append(ValidationError.at("requester", f"no {ref.type.value} {ref.id}"))
        if problems:
            raise ValidationError([p for e in problems for p in e.problems], record_type="Case")
        now = crm._now()
        case = Case(
            id=crm._new_id(now),
            case_type=ctype.code,
            reference=reference,
            title=title or ctype.name,
            description=description,
            priority=priority or ctype.default_priority,
            channel=channel,
            requester=ref,
            location=location,
            queue=queue or ctype.queue,
            tags=tuple(tags),
            attributes=values,
            reported_at=reported_at or now,
            opened_at=now,
            updated_at=now,
            external_ids=dict(external_ids or {}),
            media_url=media_url,
        )
        fixed = frozenset(
            name for name, given in (("queue", queue), ("priority", priority)) if given is not None
        )
        with crm.transaction():
            opened = crm._make_event(case, EventKind.OPENED, to_status=CaseStatus.NEW)
            changes: list[tuple[EventKind, dict[str, Any]]] = []
            duplicates = find_duplicates(crm, case)
            if duplicates:
                best = duplicates[0]
                changes.append(
                    (
                        EventKind.DUPLICATE_PROPOSED,
                        {
                            "data": {
                                "candidate": str(best.case_id),
                                "distance_m": round(best.distance_m, 1),
                                "hours_apart": round(best.hours_apart, 2),
                                "candidates": len(duplicates),
                            }
                        },
                    )
                )
            case, routing_changes, outcome = crm.routing.on_open(case, now, fixed=fixed)
            changes.extend(routing_changes)
            ack_changes, message = crm.automations.acknowledge(case, now)
            changes.extend(ack_changes)
            events = [opened, *(crm._make_event(case, kind, **f) for kind, f in changes)]
            case = crm._write(crm._sla_plan(crm._located(case), events, fresh=True))
            key = crm._case_key(case)
            for event in events:
                crm._write(event, key=key)
            if message is not None:
                # Communications (issue 10): the acknowledgement's Interaction and its
                # outbox row, in this transaction; sent after the commit.
                crm.messages._store(message)
        crm._after_commit(lambda: crm.plugins.hook.civiccrm_case_opened(crm=crm, case=case))
        if outcome is not None:
            crm.routing._tell(attrs.evolve(outcome, case=case))
        if duplicates:
            crm._after_commit(
                lambda: crm.plugins.hook.civiccrm_duplicate_proposed(
                    crm=crm, case=case, candidates=duplicates
                )
            )
        return case

    def _change(
        self,
        case: Case | uuid.UUID | str,
        change: Callable[[Case, datetime], tuple[Case, list[tuple[EventKind, dict[str, Any]]]]],
    ) -> Case:
        """Load (or take) a case, apply ``change``, store it and its events atomically."""
        crm = self._crm
        with crm.transaction():
            current = case if isinstance(case, Case) else self.get(case)
            now = crm._now()
            updated, changes = change(current, now)
            new = [crm._make_event(updated, kind, **fields) for kind, fields in changes]
            updated = attrs.evolve(updated, updated_at=now)
            if updated.location != current.location:
                updated = crm._located(updated)
            updated = crm._sla_plan(updated, new)
            updated = crm._write(updated)
            key = crm._case_key(updated)
            stored = [crm._write(e, key=key) for e in new]
            # Communications (issue 10): what these events tell the requester, queued in
            # the outbox in this transaction (sent after the commit). The events as
            # made, not as the actor's role is shown them (a public note in full).
            crm.messages._on_change(updated, new)
        for event in stored:
            crm._after_commit(
                functools.partial(
                    crm.plugins.hook.civiccrm_case_changed, crm=crm, case=updated, event=event
                )
            )
        return updated

    def transition(
        self,
        case: Case | uuid.UUID | str,
        to_status: CaseStatus,
        *,
        note: str | None = None,
        resolution_code: str | None = None,
    ) -> Case:
        """
        Move a case to ``to_status``. Pass the Case you loaded to have the move refused
        (ConflictError) if someone changed it since; pass an id to use the latest.

        Raises:
            TransitionError: the lifecycle does not allow the move.
            ConflictError: the case changed since it was loaded.
        """
        self._crm._may("transition")

        def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            moved = c.transition(to_status, at=now)
            if resolution_code is not None:
                moved = attrs.evolve(moved, resolution_code=resolution_code)
            if moved.first_response_at is None and to_status in (
                CaseStatus.IN_PROGRESS,
                CaseStatus.RESOLVED,
            ):
                moved = attrs.evolve(moved, first_response_at=now)
            reopen = c.status is CaseStatus.RESOLVED and to_status is CaseStatus.IN_PROGRESS
            kind = EventKind.REOPENED if reopen else EventKind.STATUS_CHANGED
            return moved, [(kind, {"from_status": c.status, "to_status": to_status, "note": note})]

        with self._crm.transaction():
            updated = self._change(case, change)
            if to_status in _FOLLOWED:
                self._move_followers(updated)
        return updated

    def _move_followers(self, parent: Case) -> None:
        """
        Move the open duplicates of ``parent`` along with it (resolved, closed or
        reopened), so that every requester of the same problem hears what became of
        it: each follower gets its own event, and observers are told of each.
        """
        query = Query(
            "case",
            (Filter("duplicate_of", "eq", str(parent.id)),),
            limit=None,
            columns=("status",),
        )
        for record in list(self._crm.storage.stream(query)):
            status = CaseStatus(str(record.columns["status"]))
            steps = _follow_path(status, parent.status)
            if steps:
                follower = self.get(record.id)
                for step in steps:
                    follower = self._follow_step(follower, step, parent)

    def followers(self, case: Case | uuid.UUID | str) -> list[Case]:
        """The cases accepted as duplicates of this one (they follow its status)."""
        case_id = str(case.id if isinstance(case, Case) else case)
        query = Query("case", (Filter("duplicate_of", "eq", case_id),), limit=None)
        return list(self._crm._stream(Case, query))

    def requesters(self, case: Case | uuid.UUID | str) -> list[PartyRef]:
        """
        Everyone who asked about this case: its requester and the requesters of its
        accepted duplicates, each once, in that order.
        """
        found = case if isinstance(case, Case) else self.get(case)
        refs = [c.requester for c in (found, *self.followers(found)) if c.requester is not None]
        return list(dict.fromkeys(refs))

    def duplicates(self, case: Case | uuid.UUID | str) -> list[DuplicateCandidate]:
        """
        Open cases that may report the same problem as ``case``: the same case type
        within the profile's ``[[duplicates]]`` radius and time window, nearest first
        (empty for case types without a duplicate rule or cases without coordinates).
        Found through a spatial grid index, not a scan.
        """
        found = case if isinstance(case, Case) else self.get(case)
        return find_duplicates(self._crm, found)

    def accept_duplicate(
        self, case: Case | uuid.UUID | str, parent: Case | uuid.UUID | str
    ) -> Case:
        """
        Accept that ``case`` reports the same problem as ``parent``: it is linked as
        its duplicate and from then on follows it (resolved, closed and reopened with
        it), so every requester hears what happens. If the parent is resolved or
        closed already, the duplicate is brought to the same point now.

        Raises:
            ValidationError: the parent does not exist, is the case itself, is of
                another case type, or is itself a duplicate of another case.
        """
        crm = self._crm
        crm._may("case")
        if isinstance(parent, Case):
            target = parent
        else:
            try:
                target = self.get(uuid.UUID(str(parent)))
            except (ValueError, NotFoundError):
                raise ValidationError.at("duplicate_of", f"no case {parent}") from None
        with crm.transaction():
            current = case if isinstance(case, Case) else self.get(case)
            check_duplicate(current, target)
            if target.duplicate_of is not None:
                raise ValidationError.at(
                    "duplicate_of",
                    f"case {target.reference or target.id} is itself a duplicate of "
                    f"{target.duplicate_of}: accept this one as a duplicate of that case",
                )

            def change(
                c: Case, now: datetime
            ) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
                data: dict[str, EventValue] = {"duplicate_of": str(target.id), "accepted": True}
                return attrs.evolve(c, duplicate_of=target.id), [(EventKind.LINKED, {"data": data})]

            linked = self._change(current, change)
            for step in _follow_path(linked.status, target.status):
                linked = self._follow_step(linked, step, target)
        return linked

    def _follow_step(self, case: Case, step: CaseStatus, parent: Case) -> Case:
        def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            moved = c.transition(step, at=now)
            if step is CaseStatus.RESOLVED and parent.resolution_code is not None:
                moved = attrs.evolve(moved, resolution_code=parent.resolution_code)
            reopen = c.status is CaseStatus.RESOLVED and step is CaseStatus.IN_PROGRESS
            kind = EventKind.REOPENED if reopen else EventKind.STATUS_CHANGED
            data: dict[str, EventValue] = {"follows": str(parent.id)}
            return moved, [(kind, {"from_status": c.status, "to_status": step, "data": data})]

        return self._change(case, change)

    def retype(
        self,
        case: Case | uuid.UUID | str,
        case_type: str,
        *,
        attributes: dict[str, object] | None = None,
        reroute: bool | None = None,
    ) -> Case:
        """
        Move a case to another case type (a caller said "pothole" and it is a sinkhole):
        its attributes are checked against the new type (``attributes`` replaces them;
        by default the ones the new type knows are kept), its SLA plan starts again if
        its policy says so, and it is routed again if the profile's
        ``reroute_on_type_change`` (or ``reroute``) says so.

        Raises:
            ValidationError: an unknown or inactive case type, or attributes the new
                type refuses.
        """
        crm = self._crm
        crm._may("case")
        ctype = self._case_type(case_type)
        if not ctype.active:
            raise ValidationError.at("case_type", f"case type {case_type!r} is not active")
        again = crm.profile.routing.reroute_on_type_change if reroute is None else reroute

        def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            if c.case_type == ctype.code:
                raise ValidationError.at("case_type", f"the case is of type {case_type!r} already")
            if attributes is not None:
                values = ctype.validate_attributes(attributes)
            else:
                known = {a.code for a in ctype.attributes}
                values = ctype.validate_attributes(
                    {k: v for k, v in c.attributes.items() if k in known}
                )
            moved = attrs.evolve(c, case_type=ctype.code, attributes=values)
            data: dict[str, EventValue] = {
                "fields": "case_type,attributes",
                "from": c.case_type,
                "to": ctype.code,
            }
            changes: list[tuple[EventKind, dict[str, Any]]] = [(EventKind.UPDATED, {"data": data})]
            if again and c.is_open:
                if moved.queue == crm.profile.case_type(c.case_type).queue:
                    moved = attrs.evolve(moved, queue=ctype.queue)
                moved, routed, outcome = crm.routing.on_retype(moved, now)
                changes.extend(routed)
                outcomes.append(outcome)
            return moved, changes

        outcomes: list[Any] = []
        updated = self._change(case, change)
        for outcome in outcomes:
            crm.routing._tell(attrs.evolve(outcome, case=updated))
        return updated

    def reopen(self, case: Case | uuid.UUID | str, *, note: str | None = None) -> Case:
        """Reopen a resolved case (back to in_progress)."""
        self._crm._may("transition")
        return self.transition(case, CaseStatus.IN_PROGRESS, note=note)

    def assign(
        self,
        case: Case | uuid.UUID | str,
        agent: Agent | uuid.UUID | None,
        *,
        over_capacity: bool = False,
        data: Mapping[str, EventValue] | None = None,
    ) -> Case:
        """
        Give a case to an agent (a new case becomes assigned), or take it back with
        None (an assigned case returns to new). An agent at their capacity (open
        cases) is refused unless ``over_capacity`` (a supervisor's override, recorded
        in the event). To let civiccrm choose the agent, use ``crm.routing.assign``.

        Raises:
            ValidationError: the agent does not exist, is not active, or is at capacity.
        """
        self._crm._may("assign")
        crm = self._crm
        agent_id = agent.id if isinstance(agent, Agent) else agent
        found: Agent | None = None
        if agent_id is not None:
            try:
                found = crm._load(Agent, agent_id)
            except NotFoundError:
                raise ValidationError.at("assignee", f"no agent {agent_id}") from None
            if not found.active:
                raise ValidationError.at("assignee", f"agent {found.username!r} is not active")

        def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            overridden = False
            if found is not None and found.capacity is not None and c.assignee != found.id:
                load = sum(
                    crm.storage.count(
                        "case",
                        (
                            Filter("status", "in", OPEN_STATUSES),
                            Filter("assignee", "eq", str(found.id)),
                        ),
                    ).values()
                )
                if load >= found.capacity:
                    if not over_capacity:
                        raise ValidationError.at(
                            "assignee",
                            f"agent {found.username!r} is at capacity ({load} of "
                            f"{found.capacity} open cases); pass over_capacity=True to "
                            "assign anyway",
                        )
                    overridden = True
            moved = c
            if agent_id is not None and c.status is CaseStatus.NEW:
                moved = c.transition(CaseStatus.ASSIGNED, at=now)
            elif agent_id is None and c.status is CaseStatus.ASSIGNED:
                moved = c.transition(CaseStatus.NEW, at=now)
            moved = attrs.evolve(moved, assignee=agent_id)
            kind = EventKind.ASSIGNED if agent_id else EventKind.UNASSIGNED
            facts: dict[str, EventValue] = {"assignee": str(agent_id) if agent_id else None}
            if c.assignee is not None:
                facts["previous_assignee"] = str(c.assignee)
            if overridden:
                facts["over_capacity"] = True
            if data:
                facts.update(data)
            return moved, [
                (kind, {"from_status": c.status, "to_status": moved.status, "data": facts})
            ]

        return self._change(case, change)

    def note(self, case: Case | uuid.UUID | str, text: str) -> Case:
        """Add a note to a case's history."""
        self._crm._may("note")
        if not text.strip():
            raise ValidationError.at("note", "must not be empty")
        return self._change(case, lambda c, now: (c, [(EventKind.NOTE_ADDED, {"note": text})]))

    def link(
        self,
        case: Case | uuid.UUID | str,
        *,
        parent: Case | uuid.UUID | None = None,
        duplicate_of: Case | uuid.UUID | None = None,
    ) -> Case:
        """
        Link a case to its parent, or mark it a duplicate of another (the same pothole
        reported twice). The other case must exist.
        """
        self._crm._may("case")
        crm = self._crm
        targets = {"parent_id": parent, "duplicate_of": duplicate_of}
        ids = {k: (v.id if isinstance(v, Case) else v) for k, v in targets.items() if v is not None}
        if not ids:
            raise ValidationError.at("parent", "give a parent or a case it duplicates")
        for field, target in ids.items():
            if crm.storage.get("case", str(target)) is None:
                raise ValidationError.at(field, f"no case {target}")

        def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            data: dict[str, EventValue] = {k: str(v) for k, v in ids.items()}
            linked = attrs.evolve(
                c,
                parent_id=ids.get("parent_id", c.parent_id),
                duplicate_of=ids.get("duplicate_of", c.duplicate_of),
            )
            return linked, [(EventKind.LINKED, {"data": data})]

        return self._change(case, change)

    _EDITABLE = frozenset(
        {
            "title",
            "description",
            "priority",
            "location",
            "queue",
            "tags",
            "attributes",
            "response_due_at",
            "due_at",
            "satisfaction",
            "resolution_code",
            "reopen_count",
            "reference",
            "channel",
            "external_ids",
        }
    )

    def update(self, case: Case) -> Case:
        """
        Store changes to a case's fields (title, description, priority, location,
        queue, tags, attributes, due times ...), with an ``updated`` event naming the
        fields. ``case.version`` must be the stored version; otherwise ConflictError.
        Status, assignee and links change through transition, assign and link.
        """
        self._crm._may("case")
        crm = self._crm

        def change(
            stored: Case, now: datetime
        ) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            changed = [
                f.name
                for f in attrs.fields(Case)
                if getattr(stored, f.name) != getattr(case, f.name)
                and f.name not in ("updated_at", "version")
            ]
            refused = [f for f in changed if f not in self._EDITABLE]
            if refused:
                raise ValidationError(
                    [
                        ValidationError.at(f, "cannot be changed by update").problems[0]
                        for f in refused
                    ],
                    record_type="Case",
                )
            updated = case
            if "attributes" in changed:
                values = crm.profile.case_type(case.case_type).validate_attributes(case.attributes)
                updated = attrs.evolve(case, attributes=values)
            if "queue" in changed and case.queue is not None and case.queue not in crm.queues:
                raise ValidationError.at("queue", f"no queue {case.queue!r} in the profile")
            events: list[tuple[EventKind, dict[str, Any]]] = []
            if "priority" in changed:
                events.append(
                    (
                        EventKind.PRIORITY_CHANGED,
                        {"data": {"from": stored.priority.value, "to": case.priority.value}},
                    )
                )
            others = [f for f in changed if f != "priority"]
            if others:
                events.append((EventKind.UPDATED, {"data": {"fields": ",".join(others)}}))
            return updated, events

        if case.version < 1:
            raise ValidationError.at("version", "update a case that was loaded or opened first")
        # The stored version must match: load it and compare, inside the transaction.
        with crm.transaction():
            stored = self.get(case.id)
            if stored.version != case.version:
                raise ConflictError(
                    "case", case.id, expected_version=case.version, actual_version=stored.version
                )
            return self._change(stored, change)

    def bulk_import(
        self, cases: Iterable[Case], *, batch_size: int = 10_000, route: bool = False
    ) -> UpsertResult:
        """
        Insert or update cases by their first external id, in atomic batches of
        ``batch_size`` (a commit per batch: larger batches import faster, smaller ones
        lose less work to a crash), idempotently: ids are derived from the external id, so importing the same
        cases again changes nothing, and an import stopped half-way can simply be run
        again. Each new case gets an ``opened`` event. Observers are not told (a
        migration is not a flood of new requests). Imported open cases keep the due
        times they come with; those whose case type has an SLA policy are due for a
        look by the next escalation sweep, which plans them.

        With ``route``, each open case without an assignee is routed by the profile's
        rules as of when it was opened (so importing it again decides the same): its
        queue, priority, tags and required skills set, and the decision with its
        explanation recorded in its history. Nobody is assigned (``crm.routing.assign``
        or ``civiccrm route waiting`` do that).

        Raises:
            ValidationError: a case has no external id (nothing of its batch is stored).
        """
        self._crm._may("import")
        crm = self._crm
        kind = KINDS[Case]
        totals = [0, 0, 0]
        pending: list[tuple[Case, uuid.UUID, dict[str, datetime]]] = []
        # The case types an SLA policy applies to (theirs or the agency's default).
        planned = {
            ct.code
            for ct in crm.profile.case_types
            if ct.sla_policy is not None or crm.profile.agency.default_sla_policy is not None
        }
        cases_batch: list[Record] = []
        events_batch: list[Record] = []
        routed_events: list[tuple[CaseEvent, str]] = []
        event_kind = KINDS[CaseEvent]

        def flush() -> None:
            # Every key the batch needs, made and stored together before the batch.
            keys = crm.keys.current_many(
                party_key_id(c.requester.id) if c.requester is not None else case_key_id(cid)
                for c, cid, _ in pending
            )
            for event, key_id in routed_events:
                events_batch.append(event_kind.to_record(event, crm.converter, key=keys[key_id]))
            routed_events.clear()
            for c, cid, times in pending:
                key_id = party_key_id(c.requester.id) if c.requester else case_key_id(cid)
                cases_batch.append(
                    kind.to_record(
                        c,
                        crm.converter,
                        key=keys[key_id],
                        blind=crm._blind_column,
                        record_id=cid,
                        times=times,
                    )
                )
            ids = [r.id for r in cases_batch]
            pending.clear()
            with crm.transaction():
                crm._audit_write("import", "case", ids)
                result = crm.storage.bulk_upsert(kind.name, cases_batch)
                crm.storage.bulk_upsert("case_event", events_batch)
            totals[0] += result.inserted
            totals[1] += result.updated
            totals[2] += result.unchanged
            cases_batch.clear()
            events_batch.clear()

        # Requesters' routing facts are read once per import, not once per case.
        with crm.routing._bulk_run():
            for n, case in enumerate(cases):
                if not case.external_ids:
                    raise ValidationError.at(
                        f"[{n}].external_ids", "a bulk import needs an external id per case"
                    )
                key = ":".join(next(iter(case.external_ids.items())))
                if case.district is None and case.location is not None:
                    case = crm._located(case)
                opened = case.opened_at or crm._now()
                case_id = _import_id(key, opened)
                times = {"opened_at": opened} if case.opened_at is None else {}
                if case.updated_at is None:
                    times["updated_at"] = opened
                if case.sla_check_at is None and case.status.is_open and case.case_type in planned:
                    # Not planned here (a clock per case would slow a migration down): the
                    # next sweep looks at it at once, replays its clock and plans it.
                    times["sla_check_at"] = opened
                if route and case.status is CaseStatus.NEW and case.assignee is None:
                    case, changes = crm.routing.on_import(case, opened)
                    key_id = (
                        party_key_id(case.requester.id) if case.requester else case_key_id(case_id)
                    )
                    for kind_of, fields in changes:
                        import_key = f"{kind_of.value}:{key}"
                        data = {**fields.get("data", {}), "import_key": import_key}
                        event = CaseEvent(
                            id=_import_id(import_key, opened),
                            case_id=case_id,
                            kind=kind_of,
                            at=opened,
                            note=fields.get("note"),
                            data=data,
                        )
                        routed_events.append((event, key_id))
                pending.append((case, case_id, times))
                events_batch.append(_import_event_record(case_id, key, opened))
                if len(pending) >= batch_size:
                    flush()
            if pending:
                flush()
        return UpsertResult(*totals)


def _import_event_record(case_id: uuid.UUID, key: str, opened: datetime) -> Record:
    """The ``opened`` event of an imported case, keyed so that importing again adds none."""
    import_key = "opened:" + key
    event_id = str(_import_id(import_key, opened))
    at = format_utc(opened)
    # Every field, as the converter writes a CaseEvent (so that reads take the fast path).
    doc = dump_doc(
        {
            "id": event_id,
            "case_id": str(case_id),
            "kind": EventKind.OPENED.value,
            "at": at,
            "actor": None,
            "from_status": None,
            "to_status": CaseStatus.NEW.value,
            "note": None,
            "data": {"import_key": import_key},
            "version": 0,
        }
    )
    columns = {
        "case_id": str(case_id),
        "at": micros(opened),
        "kind": EventKind.OPENED.value,
        "import_key": import_key,
    }
    return Record("case_event", event_id, 0, doc, columns)


class InteractionService:
    """Interactions: ``crm.interactions``."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def log(self, interaction: Interaction) -> Interaction:
        """
        Store an interaction. One on a case adds an ``interaction_logged`` event, and
        an outbound one is the case's first response if it had none; the case is then
        stored again (a new version, with its SLA plan): load it again before changing it.

        A message staff write to a citizen (``crm.messages.queue``,
        ``crm.messages.public_note``) is logged the same way.
        """
        self._crm._may("interaction")
        with self._crm.transaction():
            return self._log(attrs.evolve(interaction, version=0))

    def _log(self, interaction: Interaction) -> Interaction:
        """
        Store a new interaction with its effect on its case (:meth:`_effect`), in the
        caller's transaction, and tell the observers after the commit: what
        :meth:`log` does, for the services that log interactions of their own.
        """
        crm = self._crm
        stored = crm._write(interaction)
        if interaction.case_id is not None:
            case = crm.cases.get(interaction.case_id)
            changed, fields = self._effect(case, stored)
            logged = crm._make_event(case, EventKind.INTERACTION_LOGGED, **fields)
            changed = crm._sla_plan(changed, [logged])
            if changed != case:
                case = crm._write(changed)
            crm._write(logged, key=crm._case_key(case))
        self._told(stored)
        return stored

    @staticmethod
    def _effect(case: Case, interaction: Interaction) -> tuple[Case, dict[str, Any]]:
        """
        What logging ``interaction`` does to its ``case``: the case as it becomes (an
        outbound interaction is its first response if it had none) and the fields of
        the ``interaction_logged`` event to add (nothing is stored). A change that
        stores the case itself (a public note) applies these in its own write.
        """
        fields: dict[str, Any] = {
            "data": {
                "interaction_id": str(interaction.id),
                "channel": interaction.channel.value,
                "direction": interaction.direction.value,
            }
        }
        if case.first_response_at is None and interaction.direction is Direction.OUTBOUND:
            case = attrs.evolve(case, first_response_at=interaction.occurred_at)
        return case, fields

    def _told(self, stored: Interaction) -> None:
        """Tell the ``civiccrm_interaction_logged`` observers, after the commit."""
        crm = self._crm
        crm._after_commit(
            lambda: crm.plugins.hook.civiccrm_interaction_logged(crm=crm, interaction=stored)
        )

    def get(self, interaction_id: uuid.UUID | str) -> Interaction:
        """The interaction. Raises NotFoundError."""
        return self._crm._load(Interaction, interaction_id)

    def for_case(self, case: Case | uuid.UUID) -> list[Interaction]:
        """A case's interactions, oldest first."""
        cid = str(case.id if isinstance(case, Case) else case)
        query = Query("interaction", (Filter("case_id", "eq", cid),), Order("occurred_at"))
        return list(self._crm._stream(Interaction, query))

    def for_party(self, party: Party | PartyRef | uuid.UUID) -> list[Interaction]:
        """A party's interactions, oldest first."""
        pid = str(party.id if isinstance(party, Party | PartyRef) else party)
        query = Query("interaction", (Filter("party_id", "eq", pid),), Order("occurred_at"))
        return list(self._crm._stream(Interaction, query))


class AgentService:
    """Staff: ``crm.agents``."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def create(self, agent: Agent) -> Agent:
        """
        Store a new agent. Queues must exist in the profile; usernames are unique.
        """
        self._crm._may_manage_staff()
        crm = self._crm
        unknown = [q for q in agent.queues if q not in crm.queues]
        if unknown:
            raise ValidationError.at("queues", f"no queue {unknown[0]!r} in the profile")
        if crm.storage.get_by_key("agent", agent.username) is not None:
            raise ValidationError.at("username", f"{agent.username!r} is taken")
        with crm.transaction():
            return crm._write(
                attrs.evolve(agent, created_at=agent.created_at or crm._now(), version=0)
            )

    def get(self, agent_id: uuid.UUID | str) -> Agent:
        """The agent. Raises NotFoundError."""
        return self._crm._load(Agent, agent_id)

    def find_by_username(self, username: str) -> Agent | None:
        """The agent with this username, or None."""
        record = self._crm.storage.get_by_key("agent", username)
        return None if record is None else self._crm._from_record(KINDS[Agent], record)

    def update(self, agent: Agent) -> Agent:
        """Store a changed agent; ``agent.version`` must be the stored version."""
        self._crm._may_manage_staff()
        return self._crm._write(agent)

    def list(self, *, limit: int = 100, after: Cursor | None = None) -> ResultPage[Agent]:
        """A page of agents in creation order."""
        return self._crm._page(Agent, Query("agent", limit=limit, after=after))


@attrs.frozen
class SweepReport:
    """
    What an escalation sweep did: cases looked at, warnings and breaches recorded,
    cases another sweep changed first (left to it).

    .. versionadded:: 0.1.0
    """

    checked: int = 0
    warnings: int = 0
    breaches: int = 0
    conflicts: int = 0
    escalations: int = 0


class SlaService:
    """SLA clocks and the escalation sweep: ``crm.sla``."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def clock(self, case: Case | uuid.UUID | str, *, at: datetime | None = None) -> SlaClock | None:
        """
        Where the case stands against its SLA policy at ``at`` (default now), replayed
        from its history: due times, remaining time, pauses, on track / at risk /
        breached / met. None if its case type has no policy.
        """
        crm = self._crm
        current = case if isinstance(case, Case) else crm.cases.get(case)
        return sla_clock(current, crm._stored_events(current.id), crm.profile, at=at or crm._now())

    def sweep(self, *, now: datetime | None = None, batch: int = 500) -> SweepReport:
        """
        Record the SLA warnings and breaches that happened by ``now`` (default: the
        clock's now) and have not been recorded yet, as ``sla_warning`` and
        ``sla_breach`` events, and tell the ``civiccrm_sla_warning`` and
        ``civiccrm_sla_breached`` observers after each case's commit.

        Only open cases whose ``sla_check_at`` has come are read, through a partial
        index: a sweep with nothing to do reads no case. Idempotent: what a sweep
        records moves each case's check time on, and a warning or breach already in
        a case's history is not recorded again, so running it twice, from cron every
        minute or from two hosts at once, records nothing twice.
        """
        crm = self._crm
        crm._may("transition")
        at = now or crm._now()
        done: set[str] = set()
        totals = [0, 0, 0, 0, 0]
        while True:
            query = Query(
                "case",
                (
                    Filter("status", "in", OPEN_STATUSES),
                    Filter("sla_check_at", "le", micros(at)),
                ),
                Order("sla_check_at"),
                batch,
                columns=("sla_check_at",),
            )
            ids = [r.id for r in crm.storage.query(query).records if r.id not in done]
            if not ids:
                break
            for case_id in ids:
                done.add(case_id)
                try:
                    warnings, breaches, escalations = crm.retry_on_conflict(
                        functools.partial(self._sweep_case, case_id, at), attempts=3
                    )
                except ConflictError:
                    totals[3] += 1
                    continue
                totals[0] += 1
                totals[1] += warnings
                totals[2] += breaches
                totals[4] += escalations
        return SweepReport(*totals)

    def _sweep_case(self, case_id: str, at: datetime) -> tuple[int, int, int]:
        crm = self._crm
        kind = KINDS[Case]
        new: list[CaseEvent] = []
        with crm.transaction():
            record = crm.storage.get(kind.name, case_id)
            if record is None:
                return 0, 0, 0
            case: Case = crm._from_record(kind, record)
            events = crm._stored_events(case.id)
            clock = sla_clock(case, events, crm.profile, at=at)
            if clock is None:
                if case.sla_check_at is not None:
                    crm._write(attrs.evolve(case, sla_check_at=None))
                return 0, 0, 0
            seen = {
                (str(e.data.get("target")), str(e.data.get("round")), e.data.get("level"))
                for e in events
                if e.kind in (EventKind.SLA_WARNING, EventKind.SLA_BREACH)
            }
            n_warnings = len(crm.profile.sla_policies[clock.policy].warnings)
            for target in clock.targets:
                round_ = format_utc(target.started_at)
                for level in range(1, target.level + 1):
                    if (target.name, round_, level) in seen:
                        continue
                    breach = level > n_warnings
                    when = target.due_at if breach else target.warn_at[level - 1]
                    new.append(
                        crm._make_event(
                            case,
                            EventKind.SLA_BREACH if breach else EventKind.SLA_WARNING,
                            data={
                                "target": target.name,
                                "round": round_,
                                "level": level,
                                "crossed_at": format_utc(when),
                                "policy": clock.policy,
                            },
                        )
                    )
            policy = crm.profile.sla_policies[clock.policy]
            escalated = {
                (str(e.data.get("target")), str(e.data.get("round")), e.data.get("step"))
                for e in events
                if e.kind is EventKind.ESCALATED
            }
            changed = case
            pending: list[datetime] = []
            for target in clock.targets:
                if target.level <= n_warnings or target.met_at is not None:
                    continue  # not breached, or met (late): nothing to escalate
                round_ = format_utc(target.started_at)
                for i, step in enumerate(policy.escalation):
                    when = target.due_at + step.after
                    if when > at:
                        pending.append(when)
                        break
                    if (target.name, round_, i) in escalated:
                        continue
                    changed, steps = self._escalate(changed, target.name, round_, i, step)
                    new.extend(steps)
            if changed is not case:
                # A raised priority re-plans the targets: replay with what was just done.
                replayed = sla_clock(changed, [*events, *new], crm.profile, at=at)
                if replayed is not None:
                    clock = replayed
            check_at = clock.next_change_at if changed.status.is_open else None
            if pending and changed.status.is_open:
                check_at = min([*pending, *([check_at] if check_at else [])])
            first = clock.target("first_response")
            resolution = clock.target("resolution")
            changed = attrs.evolve(
                changed,
                sla_check_at=check_at,
                response_due_at=first.due_at if first else changed.response_due_at,
                due_at=resolution.due_at if resolution else changed.due_at,
            )
            if new or changed != case:
                case = crm._write(changed)
            key = crm._case_key(case)
            stored = [crm._write(e, key=key) for e in new]
        for event in stored:
            if event.kind is EventKind.ESCALATED:
                crm._after_commit(
                    functools.partial(
                        crm.plugins.hook.civiccrm_sla_escalated,
                        crm=crm,
                        case=case,
                        target=str(event.data["target"]),
                        step=int(event.data["step"]),  # type: ignore[arg-type]
                        notify=tuple(
                            str(event.data["notify"] or "").split(",")
                            if event.data["notify"]
                            else ()
                        ),
                        event=event,
                    )
                )
                continue
            if event.kind is not EventKind.SLA_WARNING and event.kind is not EventKind.SLA_BREACH:
                continue
            target_name = str(event.data["target"])
            if event.kind is EventKind.SLA_BREACH:
                crm._after_commit(
                    functools.partial(
                        crm.plugins.hook.civiccrm_sla_breached,
                        crm=crm,
                        case=case,
                        target=target_name,
                        event=event,
                    )
                )
            else:
                crm._after_commit(
                    functools.partial(
                        crm.plugins.hook.civiccrm_sla_warning,
                        crm=crm,
                        case=case,
                        target=target_name,
                        event=event,
                    )
                )
        breaches = sum(1 for e in stored if e.kind is EventKind.SLA_BREACH)
        warnings = sum(1 for e in stored if e.kind is EventKind.SLA_WARNING)
        escalations = sum(1 for e in stored if e.kind is EventKind.ESCALATED)
        return warnings, breaches, escalations

    def _escalate(
        self, case: Case, target: str, round_: str, index: int, step: EscalationStep
    ) -> tuple[Case, list[CaseEvent]]:
        """Apply one escalation step to ``case``: the changed case and its events."""
        crm = self._crm
        events: list[CaseEvent] = []
        changed = case
        if step.raise_priority and case.priority is not Priority.URGENT:
            higher = list(Priority)[case.priority.rank + 1]
            events.append(
                crm._make_event(
                    case,
                    EventKind.PRIORITY_CHANGED,
                    data={"from": case.priority.value, "to": higher.value, "reason": "sla"},
                )
            )
            changed = attrs.evolve(changed, priority=higher)
        if step.queue is not None and step.queue != case.queue:
            changed = attrs.evolve(changed, queue=step.queue)
        events.append(
            crm._make_event(
                case,
                EventKind.ESCALATED,
                data={
                    "target": target,
                    "round": round_,
                    "step": index,
                    "priority": changed.priority.value,
                    "queue": changed.queue,
                    "notify": ",".join(step.notify),
                },
            )
        )
        return changed, events


class QueueDirectory:
    """
    Queues: ``crm.queues``. Queues are declared in the agency profile, so this is
    read-only; change the profile to add one.
    """

    def __init__(self, profile: Profile) -> None:
        self._profile = profile

    def __contains__(self, code: object) -> bool:
        return any(q.code == code for q in self._profile.queues)

    def get(self, code: str) -> Queue:
        """The queue. Raises NotFoundError."""
        return self._profile.queue(code)

    def list(self) -> list[Queue]:
        """Every queue in the profile."""
        return list(self._profile.queues)
