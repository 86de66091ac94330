"""Parties: citizens and organizations, with their contact points and consents."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import attrs
import email_validator
import phonenumbers

from civiccrm.errors import ValidationError
from civiccrm.models._common import (
    Channel,
    PartyType,
    as_tuple,
    aware_utc,
    finite_in_range,
    language_tag,
    non_blank,
    optional_aware_utc,
    optional_datetime_field,
    slug,
)
from civiccrm.models._ids import new_id
from civiccrm.models._pii import DIRECT, QUASI

__all__ = [
    "Citizen",
    "Consent",
    "ConsentStatus",
    "ContactKind",
    "ContactPoint",
    "ContactUse",
    "Organization",
    "OrganizationKind",
    "Party",
    "PartyRef",
    "PostalAddress",
    "normalize_email",
    "normalize_phone",
]


class ContactKind(enum.StrEnum):
    """
    What a contact point is.

    .. versionadded:: 0.1.0
    """

    EMAIL = "email"
    PHONE = "phone"
    POSTAL = "postal"


class ContactUse(enum.StrEnum):
    """
    What a contact point is for.

    .. versionadded:: 0.1.0
    """

    HOME = "home"
    WORK = "work"
    MOBILE = "mobile"
    TEMPORARY = "temporary"
    OTHER = "other"


def normalize_email(raw: str) -> str:
    """
    Check an email address's syntax (no network look-up) and return its normal form
    (the domain in lowercase, internationalised domains in Unicode).

    Raises:
        ValueError: the address is not well formed; the message says why.

    .. versionadded:: 0.1.0
    """
    try:
        return email_validator.validate_email(raw, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"{raw!r} is not a valid email address: {exc}") from None


def normalize_phone(raw: str, region: str | None = None) -> str:
    """
    Parse a phone number and return it in E.164 form (``+12175550134``).

    Args:
        raw: the number as written: ``(217) 555-0134``, ``+44 20 7946 0000`` ...
        region: ISO 3166 region used for numbers written without a country code
            (the agency profile's ``default_region``); None requires a leading ``+``.

    Raises:
        ValueError: the number cannot be parsed or is not a valid number.

    .. versionadded:: 0.1.0
    """
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        hint = (
            "" if region else " (numbers without a region must start with + and the country code)"
        )
        raise ValueError(f"{raw!r} is not a phone number{hint}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _address_lines(_inst: object, field: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not any(line.strip() for line in value):
        raise ValidationError.at(field.name, "an address needs at least one street line")


def _country(_inst: object, field: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (len(value) == 2 and value.isascii() and value.isupper()):
        raise ValidationError.at(field.name, f"{value!r} is not an ISO 3166 code such as 'US'")


@attrs.frozen(kw_only=True)
class PostalAddress:
    """
    A postal address, with optional coordinates (WGS 84).

    .. versionadded:: 0.1.0
    """

    #: Street lines: house number, street, unit.
    lines: tuple[str, ...] = attrs.field(
        converter=as_tuple, validator=_address_lines, metadata=DIRECT
    )
    city: str | None = attrs.field(default=None, metadata=QUASI)
    #: State, province or county.
    region: str | None = attrs.field(default=None, metadata=QUASI)
    postal_code: str | None = attrs.field(default=None, metadata=QUASI)
    #: ISO 3166-1 alpha-2 country code, such as ``US``.
    country: str | None = attrs.field(default=None, validator=_country)
    latitude: float | None = attrs.field(
        default=None, validator=finite_in_range(-90, 90), metadata=DIRECT
    )
    longitude: float | None = attrs.field(
        default=None, validator=finite_in_range(-180, 180), metadata=DIRECT
    )

    def __attrs_post_init__(self) -> None:
        if (self.latitude is None) != (self.longitude is None):
            raise ValidationError.at("latitude", "give both latitude and longitude, or neither")


def _contact_value(value: object, self_: Any, field: attrs.Attribute[Any]) -> str | None:
    """Normalise a contact point's value according to its kind (set just before it)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError.at(field.name, f"expected a string, got {type(value).__name__}")
    try:
        if self_.kind is ContactKind.EMAIL:
            return normalize_email(value)
        if self_.kind is ContactKind.PHONE:
            return normalize_phone(value)
    except ValueError as exc:
        raise ValidationError.at(field.name, str(exc)) from None
    return value


@attrs.frozen(kw_only=True)
class ContactPoint:
    """
    One way to reach a party: an email address, a phone number (stored in E.164), or a
    postal address.

    Use the constructors :meth:`email`, :meth:`phone` and :meth:`postal`; ``phone``
    accepts a number as people write it when given the region to read it in.

    .. versionadded:: 0.1.0
    """

    kind: ContactKind = attrs.field(converter=ContactKind)
    #: The email address or E.164 phone number; None for a postal contact point.
    value: str | None = attrs.field(
        default=None,
        converter=attrs.Converter(_contact_value, takes_self=True, takes_field=True),  # type: ignore[misc]
        metadata=DIRECT,
    )
    address: PostalAddress | None = None
    use: ContactUse | None = None
    #: The one to use first among those of its kind.
    preferred: bool = False
    #: The party has confirmed it (a reply arrived, a code was entered).
    verified: bool = False

    def __attrs_post_init__(self) -> None:
        if self.kind is ContactKind.POSTAL:
            if self.address is None:
                raise ValidationError.at("address", "a postal contact point needs an address")
            if self.value is not None:
                raise ValidationError.at(
                    "value", "a postal contact point keeps its address in 'address'"
                )
        else:
            if self.value is None:
                raise ValidationError.at(
                    "value", f"a {self.kind.value} contact point needs a value"
                )
            if self.address is not None:
                raise ValidationError.at("address", "only postal contact points have an address")

    @classmethod
    def email(
        cls,
        address: str,
        *,
        use: ContactUse | None = None,
        preferred: bool = False,
        verified: bool = False,
    ) -> ContactPoint:
        """An email contact point; the address is checked and normalised."""
        return cls(
            kind=ContactKind.EMAIL, value=address, use=use, preferred=preferred, verified=verified
        )

    @classmethod
    def phone(
        cls,
        number: str,
        *,
        region: str | None = None,
        use: ContactUse | None = None,
        preferred: bool = False,
        verified: bool = False,
    ) -> ContactPoint:
        """A phone contact point; ``number`` is read in ``region`` and stored in E.164."""
        try:
            e164 = normalize_phone(number, region)
        except ValueError as exc:
            raise ValidationError.at("value", str(exc)) from None
        return cls(
            kind=ContactKind.PHONE, value=e164, use=use, preferred=preferred, verified=verified
        )

    @classmethod
    def postal(
        cls,
        address: PostalAddress,
        *,
        use: ContactUse | None = None,
        preferred: bool = False,
        verified: bool = False,
    ) -> ContactPoint:
        """A postal contact point."""
        return cls(
            kind=ContactKind.POSTAL,
            address=address,
            use=use,
            preferred=preferred,
            verified=verified,
        )


class ConsentStatus(enum.StrEnum):
    """
    Whether a consent stands.

    .. versionadded:: 0.1.0
    """

    GRANTED = "granted"
    REVOKED = "revoked"


@attrs.frozen(kw_only=True)
class Consent:
    """
    A party's answer for one purpose (``sms_updates``, ``survey``, ``data_sharing``):
    granted or revoked, when, on which channel. The latest consent per purpose counts.

    .. versionadded:: 0.1.0
    """

    purpose: str = attrs.field(validator=slug)
    status: ConsentStatus
    recorded_at: datetime = attrs.field(
        converter=attrs.Converter(aware_utc, takes_field=True)  # type: ignore[misc]
    )
    channel: Channel | None = None
    expires_at: datetime | None = attrs.field(
        default=None,
        converter=attrs.Converter(optional_aware_utc, takes_field=True),  # type: ignore[misc]
    )
    note: str | None = attrs.field(default=None, metadata=DIRECT)


@attrs.frozen
class PartyRef:
    """
    A reference to a party: its type and id.

    .. versionadded:: 0.1.0
    """

    type: PartyType
    id: uuid.UUID


@attrs.frozen(kw_only=True)
class Party:
    """
    What citizens and organizations share: contact points, preferences, consents and
    ids in other agencies' systems. Not used on its own.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    contact_points: tuple[ContactPoint, ...] = attrs.field(default=(), converter=as_tuple)
    #: BCP 47 tag of the language to write to them in, such as ``es`` or ``zh-Hant``.
    preferred_language: str | None = attrs.field(
        default=None,
        converter=attrs.Converter(language_tag, takes_field=True),  # type: ignore[misc]
        metadata=QUASI,
    )
    preferred_channel: Channel | None = None
    consents: tuple[Consent, ...] = attrs.field(default=(), converter=as_tuple)
    #: Ids of this party in other systems, by system: ``{"benefits": "C-1043-7"}``.
    external_ids: dict[str, str] = attrs.field(factory=dict, hash=False, metadata=DIRECT)
    created_at: datetime | None = optional_datetime_field()
    updated_at: datetime | None = optional_datetime_field()
    #: Optimistic-concurrency version: 0 until first stored, then +1 per stored change.
    version: int = 0

    @property
    def party_type(self) -> PartyType:
        """Which kind of party this is."""
        raise NotImplementedError

    @property
    def ref(self) -> PartyRef:
        """A :class:`PartyRef` to this party."""
        return PartyRef(self.party_type, self.id)

    def contact(self, kind: ContactKind) -> ContactPoint | None:
        """The preferred contact point of ``kind``, else the first, else None."""
        first = None
        for cp in self.contact_points:
            if cp.kind is kind:
                if cp.preferred:
                    return cp
                first = first or cp
        return first

    def consent(self, purpose: str) -> Consent | None:
        """The latest recorded consent for ``purpose``, or None."""
        latest = None
        for c in self.consents:
            if c.purpose == purpose and (latest is None or c.recorded_at >= latest.recorded_at):
                latest = c
        return latest


def _date_only(_inst: object, field: attrs.Attribute[Any], value: date | None) -> None:
    if isinstance(value, datetime):
        raise ValidationError.at(field.name, "expected a date, got a datetime")


@attrs.frozen(kw_only=True)
class Citizen(Party):
    """
    A person the agency serves: resident, applicant, caller, requester.

    >>> c = Citizen(given_name="Ana", family_name="Núñez",
    ...             contact_points=[ContactPoint.phone("(217) 555-0134", region="US")])
    >>> c.contact_points[0].value
    '+12175550134'

    .. versionadded:: 0.1.0
    """

    given_name: str | None = attrs.field(default=None, validator=non_blank, metadata=DIRECT)
    family_name: str | None = attrs.field(default=None, validator=non_blank, metadata=DIRECT)
    #: What they like to be called, if not their given name.
    preferred_name: str | None = attrs.field(default=None, validator=non_blank, metadata=DIRECT)
    date_of_birth: date | None = attrs.field(default=None, validator=_date_only, metadata=DIRECT)
    #: Needs to respect when serving them: ``wheelchair``, ``interpreter``, ``large_print``.
    accessibility_needs: tuple[str, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=DIRECT
    )
    #: Flagged as a vulnerable person (safeguarding); routing and views take care.
    vulnerable: bool = attrs.field(default=False, metadata=DIRECT)

    @property
    def party_type(self) -> PartyType:
        return PartyType.CITIZEN

    @property
    def display_name(self) -> str:
        """The name to address them by."""
        first = self.preferred_name or self.given_name
        return " ".join(n for n in (first, self.family_name) if n) or "(no name)"


class OrganizationKind(enum.StrEnum):
    """
    What kind of body an organization is.

    .. versionadded:: 0.1.0
    """

    BUSINESS = "business"
    NONPROFIT = "nonprofit"
    LANDLORD = "landlord"
    CONTRACTOR = "contractor"
    GOVERNMENT = "government"
    OTHER = "other"


@attrs.frozen(kw_only=True)
class Organization(Party):
    """
    A business, landlord, contractor, nonprofit or other body.

    Its registered ``name`` is public-record information and not declared personal data;
    ``contact_name`` (the person who speaks for it) is.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(validator=non_blank)
    kind: OrganizationKind = OrganizationKind.BUSINESS
    contact_name: str | None = attrs.field(default=None, validator=non_blank, metadata=DIRECT)

    @property
    def party_type(self) -> PartyType:
        return PartyType.ORGANIZATION

    @property
    def display_name(self) -> str:
        """The organization's name."""
        return self.name
