"""
The profile's optional ``[communications]`` section: message templates, languages,
consent rules, retries and satisfaction surveys.

::

    [communications]
    default_language = "en"           # default: the agency locale's language
    from_address = "Springfield 311 <311@springfield.example.gov>"
    reply_to = "311@springfield.example.gov"          # optional
    message_id_domain = "springfield.example.gov"     # default: from_address's domain
    channels = ["email", "sms"]       # the order to try when a party prefers none
    consent_purpose = "case_updates"  # revoking this consent stops messages
    opt_in_channels = ["sms"]         # media that need the consent granted first
    max_attempts = 8                  # tries before a message is failed
    retry_after_seconds = 60          # first retry; doubled after each failure ...
    max_retry_after_seconds = 21600   # ... up to this

    [communications.survey]
    case_types = ["001", "002"]       # or ["*"]: every case type
    expires_after_days = 30
    url = "https://springfield.example.gov/survey?t=$token"
    consent_purpose = "survey"

    [[communications.templates]]
    event = "opened"                  # see EVENTS
    language = "en"                   # default: default_language
    case_types = ["001"]              # optional: these case types only
    channel = "email"                 # optional: "email" or "sms" only
    subject = "We received your request"
    body = "Dear $name, ..."
    survey = "Tell us how we did: $survey_url"   # optional, "resolved" only

A profile without the section, or with one that has no ``templates``, gets the
built-in English templates of :data:`DEFAULT_TEMPLATES`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from datetime import timedelta
from email.utils import parseaddr
from typing import Any, Final

import attrs

from civiccrm.comms._templates import Template, TemplateSyntaxError
from civiccrm.errors import Problem
from civiccrm.models._common import _kind, check_language_tag
from civiccrm.models._party import normalize_email
from civiccrm.profile._values import optional_text as _text

__all__ = [
    "COMMON_FIELDS",
    "DEFAULT_COMMUNICATIONS",
    "DEFAULT_TEMPLATES",
    "EVENTS",
    "MEDIA",
    "SURVEY_FIELDS",
    "CommunicationsSettings",
    "MessageTemplate",
    "SurveySettings",
    "parse_communications",
]

#: The events a template may be written for, and when each is sent.
EVENTS: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "opened": "a case is opened on a channel the profile acknowledges (automations)",
        "update": "staff post a public note (crm.messages.public_note)",
        "assigned": "a case moves to assigned",
        "in_progress": "a case moves to in_progress (work started)",
        "pending": "a case moves to pending (waiting on the citizen)",
        "resolved": "a case moves to resolved (with the survey link, if surveyed)",
        "reopened": "a resolved case is reopened",
        "closed": "a case moves to closed",
        "cancelled": "a case moves to cancelled",
    }
)

#: The media a message can go on.
MEDIA: Final = ("email", "sms")

#: The placeholders every template part may use, with what each holds.
COMMON_FIELDS: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "name": "the party's name as they like to be addressed",
        "reference": "the case reference (SR-2026-000123), else its id",
        "case_type": "the case type's code (service code)",
        "case_type_name": "the case type's name",
        "department": "the name of the case type's department",
        "agency": "the agency's name",
        "opened_on": "the date the case was opened (YYYY-MM-DD, agency time zone)",
        "resolved_on": "the date it was resolved (empty if it is not)",
        "note": "the public note, or the note given with the status change (may be empty)",
    }
)

#: The placeholders of a template's ``survey`` part, besides :data:`COMMON_FIELDS`.
SURVEY_FIELDS: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "survey_token": "the survey's token (for a citizen to type in)",
        "survey_url": "the survey link ([communications.survey] url, with the token)",
        "survey_expires_on": "the last day the survey can be answered (YYYY-MM-DD)",
    }
)

_KEYS: Final = (
    "default_language",
    "from_address",
    "reply_to",
    "message_id_domain",
    "channels",
    "consent_purpose",
    "opt_in_channels",
    "max_attempts",
    "retry_after_seconds",
    "max_retry_after_seconds",
    "survey",
    "templates",
)
_SURVEY_KEYS: Final = ("case_types", "expires_after_days", "url", "consent_purpose")
_TEMPLATE_KEYS: Final = ("event", "language", "case_types", "channel", "subject", "body", "survey")
_SLUG: Final = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN: Final = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")


@attrs.frozen(kw_only=True)
class MessageTemplate:
    """
    One message template: for an event, in a language, optionally for some case types
    or one medium only.

    .. versionadded:: 0.1.0
    """

    event: str
    #: BCP 47 tag, canonical case.
    language: str
    #: The case types it is for; None: every case type.
    case_types: frozenset[str] | None = None
    #: ``email`` or ``sms`` only; None: either.
    channel: str | None = None
    #: None for an SMS-only template.
    subject: Template | None = None
    body: Template
    #: Appended to the body when the message carries a satisfaction survey.
    survey: Template | None = None
    #: Where it was declared (``communications.templates[2]``; ``built-in`` for the
    #: default templates), kept on the messages made from it.
    path: str = ""


@attrs.frozen(kw_only=True)
class SurveySettings:
    """
    The ``[communications.survey]`` table: which resolved cases get a satisfaction
    survey, for how long it can be answered, and the link it is answered at.

    .. versionadded:: 0.1.0
    """

    #: The case types surveyed; None: every case type; empty: none (the default).
    case_types: frozenset[str] | None = frozenset()
    expires_after: timedelta = timedelta(days=30)
    #: The link, with ``$token``; None: the message can give ``$survey_token`` only.
    url: Template | None = None
    #: The consent purpose whose revocation stops surveys.
    consent_purpose: str = "survey"

    def covers(self, case_type: str) -> bool:
        """Whether cases of ``case_type`` get a survey when resolved."""
        return self.case_types is None or case_type in self.case_types


def _t(text: str, allowed: Mapping[str, str]) -> Template:
    return Template.parse(text, allowed=frozenset(allowed))


_ALL_SURVEY: Final = {**COMMON_FIELDS, **SURVEY_FIELDS}

#: The built-in English templates of a profile that declares none: the
#: acknowledgement, public updates, and the resolution (with the survey, if any).
DEFAULT_TEMPLATES: Final = (
    MessageTemplate(
        event="opened",
        language="en",
        subject=_t("We received your request", COMMON_FIELDS),
        body=_t(
            "Thank you for your request ($case_type_name). Its reference is $reference; "
            "quote it if you contact us about it. We will let you know how it goes.\n\n"
            "$agency",
            COMMON_FIELDS,
        ),
        path="built-in",
    ),
    MessageTemplate(
        event="update",
        language="en",
        subject=_t("News about your request", COMMON_FIELDS),
        body=_t(
            "An update on your request $reference ($case_type_name):\n\n$note\n\n$agency",
            COMMON_FIELDS,
        ),
        path="built-in",
    ),
    MessageTemplate(
        event="resolved",
        language="en",
        subject=_t("Your request is resolved", COMMON_FIELDS),
        body=_t(
            "Your request $reference ($case_type_name) was resolved on $resolved_on.\n\n"
            "$note\n\n$agency",
            COMMON_FIELDS,
        ),
        survey=_t(
            "How did we do? Answer one question by $survey_expires_on: $survey_token",
            {k: v for k, v in _ALL_SURVEY.items() if k != "survey_url"},
        ),
        path="built-in",
    ),
)


@attrs.frozen(kw_only=True)
class CommunicationsSettings:
    """
    The ``[communications]`` section of an agency profile.

    .. versionadded:: 0.1.0
    """

    #: The language of messages to parties with no preferred language, or one no
    #: template is written in; None: the agency locale's language.
    default_language: str | None = None
    #: The From header of email (``Name <address>``); None: a channel must give one.
    from_address: str | None = None
    reply_to: str | None = None
    #: The domain of Message-IDs; None: the from address's.
    message_id_domain: str | None = None
    #: The media to try, in order, when a party prefers none (or not one of these).
    channels: tuple[str, ...] = MEDIA
    #: The consent purpose whose revocation stops messages about cases.
    consent_purpose: str = "case_updates"
    #: Media that need the consent *granted* first (opt-in, as SMS often does by law).
    opt_in_channels: frozenset[str] = frozenset()
    max_attempts: int = 8
    retry_after: timedelta = timedelta(seconds=60)
    max_retry_after: timedelta = timedelta(hours=6)
    templates: tuple[MessageTemplate, ...] = DEFAULT_TEMPLATES
    survey: SurveySettings = attrs.field(factory=SurveySettings)
    #: The events some template is written for (computed).
    events: frozenset[str] = attrs.field(init=False)

    @events.default
    def _events(self) -> frozenset[str]:
        return frozenset(t.event for t in self.templates)

    def select(
        self, event: str, case_type: str, languages: Sequence[str], medium: str
    ) -> MessageTemplate | None:
        """
        The template for ``event`` on a case of ``case_type`` sent on ``medium``: in
        the first of ``languages`` some template is written in, else the first
        declared for the event; among those, one for the case type beats one for every
        case type, and one for the medium beats one for either.
        """
        found = [
            t
            for t in self.templates
            if t.event == event
            and (t.channel is None or t.channel == medium)
            and (t.case_types is None or case_type in t.case_types)
        ]
        if not found:
            return None
        for language in languages:
            wanted = language.lower()
            match = [t for t in found if t.language.lower() == wanted]
            if match:
                return _best(match)
        return found[0]

    def retry_delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt (doubling, capped)."""
        exponent = max(0, min(attempts - 1, 20))
        delay = self.retry_after * (1 << exponent)
        return min(delay, self.max_retry_after)


def _best(templates: list[MessageTemplate]) -> MessageTemplate:
    return min(
        templates,
        key=lambda t: (t.case_types is None, t.channel is None),
    )


#: The settings of a profile without a ``[communications]`` section.
DEFAULT_COMMUNICATIONS: Final = CommunicationsSettings()


def _language(value: object, path: str, problems: list[Problem]) -> str | None:
    if not isinstance(value, str):
        problems.append(Problem(path, f"expected a language tag, got {_kind(value)}"))
        return None
    try:
        return check_language_tag(value)
    except ValueError as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _address(value: str, path: str, problems: list[Problem]) -> str | None:
    """An email address, alone or as ``Name <address>``; its address part normalised."""
    _, addr = parseaddr(value)
    try:
        if not addr or "\n" in value or "\r" in value:
            raise ValueError(value)
        normalize_email(addr)
    except ValueError:
        problems.append(
            Problem(
                path,
                f"{value!r} is not an email address (write name@domain or Name <name@domain>)",
            )
        )
        return None
    return value.strip()


def _media(raw: object, key: str, problems: list[Problem]) -> tuple[str, ...] | None:
    if not isinstance(raw, list):
        problems.append(Problem(key, f"expected a list of media ({', '.join(MEDIA)})"))
        return None
    out: list[str] = []
    for i, item in enumerate(raw):
        if item not in MEDIA:
            problems.append(Problem(f"{key}[{i}]", f"{item!r} is not one of {', '.join(MEDIA)}"))
        elif item in out:
            problems.append(Problem(f"{key}[{i}]", f"{item!r} is listed twice"))
        else:
            out.append(item)
    return tuple(out)


def _whole(
    table: Mapping[str, Any], key: str, default: int, low: int, high: int, problems: list[Problem]
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(
            Problem(key, f"expected a whole number from {low} to {high}, got {value!r}")
        )
        return default
    return value


def _purpose(table: Mapping[str, Any], key: str, default: str, problems: list[Problem]) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        problems.append(
            Problem(key, f"{value!r} is not a consent purpose (lowercase letters, digits, - or _)")
        )
        return default
    return value


def _case_types(
    raw: object, key: str, case_types: set[str] | None, problems: list[Problem], *, star: bool
) -> frozenset[str] | None:
    """A list of case type codes (``["*"]``: every case type, when ``star``)."""
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(key, "expected a non-empty list of case type codes"))
        return frozenset()
    if star and raw == ["*"]:
        return None
    out: set[str] = set()
    for i, code in enumerate(raw):
        if not isinstance(code, str):
            problems.append(
                Problem(f"{key}[{i}]", f"expected a code (a string), got {_kind(code)}")
            )
        elif code == "*":
            problems.append(Problem(f"{key}[{i}]", "'*' (every case type) must be alone"))
        elif case_types is not None and code not in case_types:
            problems.append(Problem(f"{key}[{i}]", f"no case type {code!r}"))
        elif code in out:
            problems.append(Problem(f"{key}[{i}]", f"{code!r} is listed twice"))
        else:
            out.add(code)
    return frozenset(out)


def _survey(raw: object, case_types: set[str] | None, problems: list[Problem]) -> SurveySettings:
    if raw is None:
        return SurveySettings()
    if not isinstance(raw, Mapping):
        problems.append(Problem("survey", f"expected a table, got {_kind(raw)}"))
        return SurveySettings()
    found: list[Problem] = [
        Problem(str(k), f"unknown field (known: {', '.join(_SURVEY_KEYS)})")
        for k in raw
        if k not in _SURVEY_KEYS
    ]
    covered: frozenset[str] | None = frozenset()
    if "case_types" in raw:
        covered = _case_types(raw["case_types"], "case_types", case_types, found, star=True)
    days = _whole(raw, "expires_after_days", 30, 1, 366, found)
    url: Template | None = None
    text = _text(raw, "url", found)
    if text is not None:
        if not text.startswith(("https://", "http://")):
            found.append(Problem("url", f"{text!r} is not an http(s) URL"))
        else:
            try:
                url = Template.parse(text, allowed={"token"})
            except TemplateSyntaxError as exc:
                found.append(Problem("url", str(exc)))
            else:
                if "token" not in url.fields:
                    found.append(Problem("url", "the link must hold the token: put $token in it"))
                    url = None
    purpose = _purpose(raw, "consent_purpose", "survey", found)
    problems.extend(p.prefixed("survey") for p in found)
    return SurveySettings(
        case_types=covered,
        expires_after=timedelta(days=days),
        url=url,
        consent_purpose=purpose,
    )


def _template(
    raw: object,
    path: str,
    *,
    default_language: str | None,
    case_types: set[str] | None,
    survey_url: bool,
    problems: list[Problem],
) -> MessageTemplate | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, f"expected a table, got {_kind(raw)}"))
        return None
    found: list[Problem] = [
        Problem(str(k), f"unknown field (known: {', '.join(_TEMPLATE_KEYS)})")
        for k in raw
        if k not in _TEMPLATE_KEYS
    ]
    event = raw.get("event")
    if event not in EVENTS:
        shown = "missing" if event is None else repr(event)
        found.append(Problem("event", f"{shown}: expected one of {', '.join(EVENTS)}"))
        event = None
    language: str | None = default_language
    if "language" in raw:
        language = _language(raw["language"], "language", found)
    elif default_language is None:
        found.append(
            Problem("language", "give the language (or [communications] default_language)")
        )
    covered: frozenset[str] | None = None
    if "case_types" in raw:
        covered = _case_types(raw["case_types"], "case_types", case_types, found, star=False)
    channel = raw.get("channel")
    if channel is not None and channel not in MEDIA:
        found.append(Problem("channel", f"{channel!r} is not one of {', '.join(MEDIA)}"))
        channel = None

    def part(key: str, allowed: Mapping[str, str]) -> Template | None:
        text = raw.get(key)
        if text is None:
            return None
        if not isinstance(text, str) or not text.strip():
            found.append(Problem(key, f"expected non-empty text, got {_kind(text)}"))
            return None
        try:
            return Template.parse(text, allowed=frozenset(allowed))
        except TemplateSyntaxError as exc:
            found.append(Problem(key, str(exc)))
            return None

    subject = part("subject", COMMON_FIELDS)
    body = part("body", COMMON_FIELDS)
    allowed_survey = dict(_ALL_SURVEY)
    if not survey_url:
        del allowed_survey["survey_url"]
    survey = part("survey", allowed_survey)
    if "body" not in raw:
        found.append(Problem("body", "a template needs a body"))
    if channel == "sms" and "subject" in raw:
        found.append(Problem("subject", "an SMS template has no subject"))
    elif channel != "sms" and "subject" not in raw:
        found.append(Problem("subject", "an email template needs a subject"))
    if "survey" in raw and event is not None and event != "resolved":
        found.append(Problem("survey", "only a 'resolved' template carries a survey"))
    problems.extend(p.prefixed(path) for p in found)
    if found or event is None or language is None or body is None:
        return None
    return MessageTemplate(
        event=event,
        language=language,
        case_types=covered,
        channel=channel,
        subject=subject,
        body=body,
        survey=survey,
        path=f"communications.{path}",
    )


def parse_communications(
    raw: object, *, case_types: set[str] | None
) -> tuple[CommunicationsSettings | None, list[Problem]]:
    """
    The ``[communications]`` table as settings (None if it has problems), and its
    problems, each by its TOML path (``communications.templates[2].body: unknown
    placeholder $nmae at line 1, column 6 ...``). Case type codes are checked against
    ``case_types`` when given.

    .. versionadded:: 0.1.0
    """
    if raw is None:
        return DEFAULT_COMMUNICATIONS, []
    if not isinstance(raw, Mapping):
        return None, [
            Problem("communications", f"expected a table ([communications]), got {_kind(raw)}")
        ]
    problems: list[Problem] = [
        Problem(str(k), f"unknown field (known: {', '.join(_KEYS)})") for k in raw if k not in _KEYS
    ]
    default_language: str | None = None
    if "default_language" in raw:
        default_language = _language(raw["default_language"], "default_language", problems)
    sender = _text(raw, "from_address", problems)
    if sender is not None:
        sender = _address(sender, "from_address", problems)
    reply_to = _text(raw, "reply_to", problems)
    if reply_to is not None:
        reply_to = _address(reply_to, "reply_to", problems)
    domain = _text(raw, "message_id_domain", problems)
    if domain is not None and not _DOMAIN.fullmatch(domain):
        problems.append(Problem("message_id_domain", f"{domain!r} is not a domain name"))
        domain = None
    channels: tuple[str, ...] = MEDIA
    if "channels" in raw:
        channels = _media(raw["channels"], "channels", problems) or MEDIA
    opt_in: tuple[str, ...] = ()
    if "opt_in_channels" in raw:
        opt_in = _media(raw["opt_in_channels"], "opt_in_channels", problems) or ()
    purpose = _purpose(raw, "consent_purpose", "case_updates", problems)
    attempts = _whole(raw, "max_attempts", 8, 1, 100, problems)
    first = _whole(raw, "retry_after_seconds", 60, 1, 86_400, problems)
    cap = _whole(raw, "max_retry_after_seconds", 21_600, 1, 7 * 86_400, problems)
    if cap < first:
        problems.append(Problem("max_retry_after_seconds", "is less than retry_after_seconds"))
    survey = _survey(raw.get("survey"), case_types, problems)
    templates: tuple[MessageTemplate, ...] = DEFAULT_TEMPLATES
    if "templates" in raw:
        listed = raw["templates"]
        if not isinstance(listed, list):
            problems.append(
                Problem("templates", "expected an array of tables ([[communications.templates]])")
            )
        else:
            made: list[MessageTemplate] = []
            seen: dict[tuple[str, str, str | None, str | None], int] = {}
            for i, item in enumerate(listed):
                template = _template(
                    item,
                    f"templates[{i}]",
                    default_language=default_language,
                    case_types=case_types,
                    survey_url=survey.url is not None,
                    problems=problems,
                )
                if template is None:
                    continue
                for code in sorted(template.case_types) if template.case_types else [None]:
                    slot = (template.event, template.language.lower(), template.channel, code)
                    if slot in seen:
                        problems.append(
                            Problem(
                                f"templates[{i}]",
                                "the same event, language, channel and case type as "
                                f"communications.templates[{seen[slot]}]",
                            )
                        )
                        break
                    seen[slot] = i
                made.append(template)
            templates = tuple(made)
    if problems:
        return None, [p.prefixed("communications") for p in problems]
    return (
        CommunicationsSettings(
            default_language=default_language,
            from_address=sender,
            reply_to=reply_to,
            message_id_domain=domain,
            channels=channels,
            consent_purpose=purpose,
            opt_in_channels=frozenset(opt_in),
            max_attempts=attempts,
            retry_after=timedelta(seconds=first),
            max_retry_after=timedelta(seconds=cap),
            templates=templates,
            survey=survey,
        ),
        [],
    )
