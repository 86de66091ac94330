"""
``crm.surveys``: satisfaction surveys of resolved cases.

A survey is issued with the message that tells a requester their case is resolved
(for the case types the profile's ``[communications.survey]`` names). Its token is never
stored: it is a keyed hash of the survey's id under the system index key (under a label
of its own), made again whenever it is needed, so that only the message handed to the
channel carries it; the survey keeps its SHA-256, and the message as stored (the outbox
row, the outbound Interaction) shows :data:`TOKEN_PLACEHOLDER` in its place. The citizen
answers with the token, a score from 1 to 5 and an optional comment, which is redacted
on the way in; the answer sets the case's ``satisfaction``. A token answers once, and
not after it expires or after a newer survey of the same case replaced it.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm._keys import case_key_id, party_key_id
from civiccrm._records import KINDS
from civiccrm.adapters._base import Filter, Order, Query, Record
from civiccrm.errors import Problem, ValidationError
from civiccrm.models import Case, EventKind, EventValue, Survey

if TYPE_CHECKING:
    from civiccrm.crm import CRM
    from civiccrm.privacy.crypto import DataKey

__all__ = ["TOKEN_PLACEHOLDER", "IssuedSurvey", "SurveyError", "SurveyService", "token_hash"]

#: The longest comment kept (longer ones are refused, not cut).
MAX_COMMENT: Final = 4000
_MAX_TOKEN: Final = 256
#: What a message stores where its survey token goes (the token is put in only when
#: the message is handed to its channel).
TOKEN_PLACEHOLDER: Final = "[survey token]"
#: The label that keeps survey tokens apart from the index key's other hashes.
_TOKEN_PURPOSE: Final = "survey_token"
#: A token's length: 32 URL-safe characters (192 bits).
_TOKEN_LENGTH: Final = 32


def token_hash(token: str) -> str:
    """
    The SHA-256 (hex) of a survey token: what is stored and looked up.

    .. versionadded:: 0.1.0
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SurveyError(ValidationError):
    """
    Raised when a survey token cannot be answered: ``reason`` is ``unknown`` (no
    survey has it: mistyped or made up), ``expired``, ``answered`` (it answers once)
    or ``withdrawn`` (a newer survey of the same case replaced it). The problem's path
    is ``token``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__([Problem("token", message)], record_type="Survey")


@attrs.frozen
class IssuedSurvey:
    """
    A survey just issued and its token, which is not stored (the survey keeps its
    hash): give it to the citizen now.

    .. versionadded:: 0.1.0
    """

    survey: Survey
    token: str = attrs.field(repr=False)


def _no_key(_key_id: str, _generation: int) -> None:
    return


class SurveyService:
    """
    Satisfaction surveys: ``crm.surveys``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    # --- issuing -----------------------------------------------------------------------

    def issue(self, case: Case | uuid.UUID | str) -> IssuedSurvey:
        """
        Issue a survey of a case now (for a survey asked on another channel: a call, a
        letter); the message that tells a requester their case is resolved issues one
        by itself. Earlier unanswered surveys of the case are withdrawn.

        Raises:
            ValidationError: the case is not resolved or closed.
        """
        crm = self._crm
        crm._may("case")
        with crm.transaction():
            found = case if isinstance(case, Case) else crm.cases.get(case)
            if found.resolved_at is None:
                raise ValidationError.at("case", "only a resolved case is surveyed")
            survey, token = self._new(found, crm._now())
            self._store(survey)
        return IssuedSurvey(survey, token)

    def _new(self, case: Case, now: datetime) -> tuple[Survey, str]:
        """A new survey of ``case`` (not stored) and its token."""
        crm = self._crm
        survey_id = crm._new_id(now)
        token = self._token(survey_id)
        survey = Survey(
            id=survey_id,
            case_id=case.id,
            party=case.requester,
            token_hash=token_hash(token),
            issued_at=now,
            expires_at=now + crm.profile.communications.survey.expires_after,
        )
        return survey, token

    def _token(self, survey_id: uuid.UUID) -> str:
        """
        The token of the survey ``survey_id``: a keyed hash of its id (HMAC-SHA256 under
        the system index key, with a label of its own), 32 URL-safe characters. Made
        again whenever a message carrying it is sent, so it is never stored, and every
        attempt at a message hands over the same token.
        """
        return self._crm._blind(_TOKEN_PURPOSE, str(survey_id))[:_TOKEN_LENGTH]

    def _store(self, survey: Survey) -> None:
        """Store a new survey (in the caller's transaction), withdrawing the case's
        earlier unanswered ones."""
        crm = self._crm
        query = Query("survey", (Filter("case_id", "eq", str(survey.case_id)),), limit=None)
        for record in list(crm.storage.stream(query)):
            old = self._meta(record)
            if old.responded_at is None and old.withdrawn_at is None:
                self._edit(record, withdrawn_at=survey.issued_at)
        crm.messages._put(survey, self._key(survey))

    # --- answering ---------------------------------------------------------------------

    def check(self, token: str, *, now: datetime | None = None) -> Survey:
        """
        The survey ``token`` answers, if it can be answered now (for a web form to show
        which request it is about before the citizen answers); its comment is not read.

        Raises:
            SurveyError: an unknown, expired, answered or withdrawn token.
        """
        return self._find(token, now or self._crm._now())[1]

    def answer(
        self,
        token: str,
        score: int,
        comment: str | None = None,
        *,
        now: datetime | None = None,
    ) -> Survey:
        """
        Record the answer to the survey ``token`` opens: ``score`` from 1 (very unhappy)
        to 5 (very happy), and a comment, redacted of personal data (names, emails,
        phones, addresses, the requester's own with certainty) before it is stored.
        The case's ``satisfaction`` becomes ``score`` (with an ``updated`` event).

        Raises:
            ValidationError: a score that is not a whole number from 1 to 5, or a
                comment over 4000 characters.
            SurveyError: an unknown, expired, answered or withdrawn token.
        """
        crm = self._crm
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValidationError.at("score", f"{score!r} is not a whole number from 1 to 5")
        if comment is not None:
            if not isinstance(comment, str):
                raise ValidationError.at("comment", "must be text")
            if len(comment) > MAX_COMMENT:
                raise ValidationError.at("comment", f"is over {MAX_COMMENT} characters")
            comment = comment.strip() or None
        at = now or crm._now()
        with crm.transaction():
            _, survey = self._find(token, at)
            case = crm.cases.get(survey.case_id)
            redacted = None
            if comment is not None:
                redacted = crm.redaction.redact(comment, policy="public", case=case).text
            answered = attrs.evolve(survey, score=score, comment=redacted, responded_at=at)
            crm.messages._put(answered, self._key(survey))
            stored = attrs.evolve(answered, version=survey.version + 1)
            data: dict[str, EventValue] = {
                "fields": "satisfaction",
                "survey": str(survey.id),
                "score": score,
            }
            crm.cases._change(
                case,
                lambda c, _now: (
                    attrs.evolve(c, satisfaction=score),
                    [(EventKind.UPDATED, {"data": data})],
                ),
            )
        return stored

    def _find(self, token: str, at: datetime) -> tuple[Record, Survey]:
        if not isinstance(token, str) or not token.strip() or len(token) > _MAX_TOKEN:
            raise SurveyError("unknown", "no survey has this token: check the link")
        record = self._crm.storage.get_by_key("survey", token_hash(token.strip()))
        if record is None:
            raise SurveyError("unknown", "no survey has this token: check the link")
        survey = self._meta(record)
        if survey.responded_at is not None:
            raise SurveyError(
                "answered", f"this survey was answered already, on {survey.responded_at.date()}"
            )
        if survey.withdrawn_at is not None:
            raise SurveyError(
                "withdrawn", "a newer survey of the same request replaced this one: use its link"
            )
        if survey.expires_at is not None and survey.expires_at <= at:
            raise SurveyError("expired", f"this survey expired on {survey.expires_at.date()}")
        return record, survey

    # --- reading -------------------------------------------------------------------------

    def get(self, survey_id: uuid.UUID | str) -> Survey:
        """
        A survey with its comment (an audited read).

        Raises:
            NotFoundError: no such survey.
            AccessDeniedError: the actor's role does not see interactions' text in
                clear, or gave no purpose.
        """
        found: Survey = self._crm.messages._read(Survey, survey_id)
        return found

    def for_case(self, case: Case | uuid.UUID | str) -> list[Survey]:
        """A case's surveys, oldest first, with their comments (audited reads; the
        same access as :meth:`get`)."""
        crm = self._crm
        cid = str(case.id if isinstance(case, Case) else case)
        query = Query("survey", (Filter("case_id", "eq", cid),), Order("issued_at"))
        records = list(crm.storage.stream(query))
        if not records:
            return []
        crm.messages._check_reader()
        kind = KINDS[Survey]
        found = [crm._from_record(kind, r) for r in records]
        crm._audit_read(kind.name, [r.id for r in records])
        return found

    def _key(self, survey: Survey) -> DataKey:
        """The key of a survey's comment: its requester's (erasing them erases it)."""
        if survey.party is not None:
            key_id = party_key_id(survey.party.id)
        else:
            key_id = case_key_id(survey.case_id)
        return self._crm.keys.current(key_id, create=True)

    # --- internals -----------------------------------------------------------------------

    def _meta(self, record: Record) -> Survey:
        survey: Survey = KINDS[Survey].from_record(record, self._crm.converter, _no_key)
        return survey

    def _edit(self, record: Record, **changes: Any) -> Record:
        return self._crm.messages._edit(Survey, record, **changes)
