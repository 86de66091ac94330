"""Records of the work machinery: assignment rotations, bulk jobs and retention runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models._common import aware_utc, optional_datetime_field

__all__ = ["BulkJob", "Disposal", "LegalHold", "RetentionRun", "Rotation"]


@attrs.frozen(kw_only=True)
class Rotation:
    """
    A queue's assignment rotation: who was given a case last, so that round robin
    carries on where it stopped, across processes. One per queue, by queue code.

    Every automatic assignment in a queue writes its rotation in the same transaction,
    so two assignments in one queue at once cannot both pass (the second one retries).

    .. versionadded:: 0.1.0
    """

    #: The queue's code.
    id: str
    #: The username of the agent given the last case.
    pointer: str | None = None
    #: How many cases the rotation has given out.
    assigned: int = 0
    updated_at: datetime | None = optional_datetime_field()
    version: int = 0


@attrs.frozen(kw_only=True)
class BulkJob:
    """
    One run of bulk case work (reassign a caseload, close or merge many cases, move a
    case type to another queue), by its idempotency key.

    Running a job again with the same key finishes what is left and changes nothing
    done already; the same key with another operation or other parameters is refused.
    It holds no personal data: counts, the operation's parameters and who ran it.

    .. versionadded:: 0.1.0
    """

    #: The idempotency key the caller chose.
    id: str
    operation: str
    #: The operation's parameters as canonical JSON (codes, ids, dates).
    params: str
    #: ``running`` until every case is done, then ``done``.
    status: str = "running"
    #: Cases selected when the job was last run.
    selected: int = 0
    #: Cases changed so far.
    changed: int = 0
    #: Cases left as they were (already done, or no longer matching).
    skipped: int = 0
    #: Cases sent back through assignment that nobody could take (left in their queue).
    waiting: int = 0
    #: Why cases were skipped or left waiting, with how many: canonical JSON of
    #: ``{reason: count}`` (reasons name no person).
    reasons: str = "{}"
    actor: uuid.UUID | None = None
    actor_name: str | None = None
    started_at: datetime | None = optional_datetime_field()
    finished_at: datetime | None = optional_datetime_field()
    version: int = 0


@attrs.frozen(kw_only=True)
class RetentionRun:
    """
    One run of ``crm.retention.apply``, by its idempotency key: the disposition
    certificate in the making. Running it again with the same key finishes what is left
    and disposes of nothing twice. It holds no personal data: the instant the run
    disposes as of, the schedules it applies, counts and a digest of the record ids.

    .. versionadded:: 0.1.0
    """

    #: The idempotency key the caller chose.
    id: str
    #: Records are disposed of as they stood against their schedules at this instant.
    as_of: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    #: The schedules applied, as canonical JSON (code, class, trigger, cutoff, period,
    #: disposition, authority, case types): a run resumed under other schedules is refused.
    schedules: str
    #: ``running`` until every due record is done, then ``done``.
    status: str = "running"
    #: Canonical JSON ``{schedule code: {disposition: count}}``.
    counts: str = "{}"
    #: Records disposed of.
    disposed: int = 0
    #: Once the run is done: the SHA-256 of the disposed records' ``<class>:<id>``,
    #: sorted, one per line, in hex (see :func:`civiccrm.privacy.retention.digest_ids`).
    digest: str = ""
    #: Batches committed (archive files are numbered by batch).
    batches: int = 0
    actor: uuid.UUID | None = None
    actor_name: str | None = None
    started_at: datetime | None = optional_datetime_field()
    finished_at: datetime | None = optional_datetime_field()
    version: int = 0


@attrs.frozen(kw_only=True)
class Disposal:
    """
    The mark a disposition leaves, by ``<record class>:<record id>``: written in the
    transaction that disposes of the record, so that no record is disposed of twice (an
    anonymised case stays, and is not anonymised again), and kept after the record is
    gone as the proof of what happened to it. No personal data.

    .. versionadded:: 0.1.0
    """

    id: str
    record_class: str
    record_id: str
    schedule: str
    disposition: str
    #: The retention run's key.
    run: str
    #: The data key the disposition shreds once it has committed (an anonymous case's
    #: own key), kept so that a run resumed after a crash shreds it too.
    key_id: str | None = None
    at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    version: int = 0


def _ids(value: Iterable[str | uuid.UUID]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in value}))


@attrs.frozen(kw_only=True)
class LegalHold:
    """
    An order suspending disposition of what it covers, while it is in force (from
    ``placed_at`` until ``released_at``): the cases it names, every record of the
    parties it names, or the cases of ``case_type`` created in ``[created_from,
    created_until)``; and the interactions of the cases it covers (see
    :func:`civiccrm.privacy.retention.covers`). Placed with ``crm.retention.place_hold``.

    .. versionadded:: 0.1.0
    """

    id: str
    reason: str
    authority: str
    placed_at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    placed_by: str = ""
    cases: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    parties: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    case_type: str | None = None
    created_from: datetime | None = optional_datetime_field()
    created_until: datetime | None = optional_datetime_field()
    released_at: datetime | None = optional_datetime_field()
    released_by: str = ""
    #: Why it was released (a court order, the end of the litigation).
    release_reason: str = ""
    version: int = 0

    def __attrs_post_init__(self) -> None:
        problems = []
        if not self.reason.strip():
            problems.append(Problem("reason", "must say why the records are held"))
        if not self.authority.strip():
            problems.append(Problem("authority", "must name who or what orders the hold"))
        query = self.case_type is not None or self.created_from or self.created_until
        scopes = sum(1 for s in (self.cases, self.parties, query) if s)
        if scopes != 1:
            problems.append(
                Problem(
                    "cases" if not scopes else "",
                    "name cases, or parties, or a query (case type and/or dates): one",
                )
            )
        if self.created_from and self.created_until and self.created_from >= self.created_until:
            problems.append(Problem("created_until", "must be after created_from"))
        if self.released_at is not None and self.released_at < self.placed_at:
            problems.append(Problem("released_at", "must not be before placed_at"))
        if problems:
            raise ValidationError(problems, record_type="legal hold")

    def in_force(self, at: datetime) -> bool:
        """Whether the hold is in force at ``at``."""
        return self.placed_at <= at and (self.released_at is None or at < self.released_at)
