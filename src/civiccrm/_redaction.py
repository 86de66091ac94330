"""
The facade's redaction service: ``crm.redaction``.

Free text is redacted with civiccrm's detectors plus the ones plugins add
(``civiccrm_pii_detectors``), and, for a case, with certainty for its own parties:
their names (with initials, nicknames and other spellings), emails, phones and
addresses are known to the CRM.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from civiccrm._records import KINDS
from civiccrm.models import (
    Case,
    CaseEvent,
    Citizen,
    ContactKind,
    Interaction,
    Organization,
    PartyRef,
    PartyType,
)
from civiccrm.privacy.detect import Analyzer, KnownEntities, default_detectors
from civiccrm.privacy.redact import BUILTIN_POLICIES, Redaction, RedactionPolicy, Redactor

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["RedactionService"]


#: The fields :meth:`RedactionService.known` reads, by party class.
_KNOWN_FIELDS: Final = {
    "Citizen": ("given_name", "family_name", "preferred_name", "contact_points"),
    "Organization": ("contact_name", "contact_points"),
}


class RedactionService:
    """
    Redaction of personal data in free text: ``crm.redaction``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    @functools.cached_property
    def analyzer(self) -> Analyzer:
        """civiccrm's detectors and every plugin's, built on first use."""
        crm = self._crm
        region = crm.profile.agency.default_region
        detectors = list(default_detectors(region=region))
        for found in crm.plugins.hook.civiccrm_pii_detectors(region=region):
            detectors.extend(found or ())
        return Analyzer(detectors)

    def policy(self, policy: str | RedactionPolicy) -> RedactionPolicy:
        """A built-in policy by name (``public``, ``export``), or the policy given."""
        if isinstance(policy, RedactionPolicy):
            return policy
        try:
            return BUILTIN_POLICIES[policy]
        except KeyError:
            from civiccrm.errors import ValidationError

            known = ", ".join(sorted(BUILTIN_POLICIES))
            raise ValidationError.at(
                "policy", f"no redaction policy {policy!r} ({known})"
            ) from None

    def redact(
        self,
        text: str,
        *,
        policy: str | RedactionPolicy = "public",
        case: Case | uuid.UUID | str | None = None,
    ) -> Redaction:
        """
        ``text`` with its personal data replaced by ``policy``'s operators; with a
        ``case``, its parties' names, emails, phones and addresses are found with
        certainty too.
        """
        known = None
        if case is not None:
            found = case if isinstance(case, Case) else self._crm.cases.get(case)
            known = self.known(found.requester)
        return Redactor(self.analyzer, self.policy(policy)).redact(text, known=known)

    def known(self, *parties: PartyRef | None) -> KnownEntities | None:
        """What the CRM knows of these parties (read as the system, each read audited
        with the reason "redaction"), for detection."""
        names: list[str] = []
        emails: list[str] = []
        phones: list[str] = []
        addresses: list[str] = []
        crm = self._crm
        for ref in parties:
            if ref is None:
                continue
            cls: type[Any] = Citizen if ref.type is PartyType.CITIZEN else Organization
            record = crm.storage.get(KINDS[cls].name, str(ref.id))
            if record is None or record.doc.startswith('{"_erased"'):
                continue
            party = crm._from_record(KINDS[cls], record)
            crm._audit_system_read(
                KINDS[cls].name, [record.id], _KNOWN_FIELDS[cls.__name__], "redaction"
            )
            if isinstance(party, Citizen):
                full = " ".join(p for p in (party.given_name, party.family_name) if p)
                if full:
                    names.append(full)
                if party.preferred_name:
                    names.append(party.preferred_name)
            elif party.contact_name:
                names.append(party.contact_name)
            for cp in party.contact_points:
                if cp.kind is ContactKind.EMAIL and cp.value:
                    emails.append(cp.value)
                elif cp.kind is ContactKind.PHONE and cp.value:
                    phones.append(cp.value)
                elif cp.address is not None:
                    addresses.extend(cp.address.lines)
        known = KnownEntities(
            names=tuple(names),
            emails=tuple(emails),
            phones=tuple(phones),
            addresses=tuple(addresses),
        )
        return known or None

    def for_view(self, obj: object) -> Callable[[str], str]:
        """The redaction a role view of ``obj`` applies to its free text."""
        requester: PartyRef | None = None
        if isinstance(obj, Case):
            requester = obj.requester
        elif isinstance(obj, Interaction):
            requester = obj.party
        elif isinstance(obj, CaseEvent):
            record = self._crm.storage.get("case", str(obj.case_id))
            if record is not None:
                requester = self._crm._from_record(KINDS[Case], record).requester
        known = self.known(requester)
        redactor = Redactor(self.analyzer, BUILTIN_POLICIES["public"])
        return lambda text: redactor.redact(text, known=known).text
