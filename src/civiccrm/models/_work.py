"""Records of the work machinery: assignment rotations and bulk jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

import attrs

from civiccrm.models._common import optional_datetime_field

__all__ = ["BulkJob", "Rotation"]


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
