"""Message templates: the safe placeholder syntax, the [communications] section, selection."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civiccrm.comms import Template, TemplateSyntaxError
from civiccrm.comms._templates import escape
from civiccrm.errors import PolicyError
from civiccrm.profile import load_profile, parse_profile, springfield_path
from civiccrm.profile._comms import (
    COMMON_FIELDS,
    DEFAULT_COMMUNICATIONS,
    parse_communications,
)

NAMES = sorted(COMMON_FIELDS)
SPRINGFIELD = load_profile(springfield_path())
CODES = {ct.code for ct in SPRINGFIELD.case_types}

# --- the syntax -------------------------------------------------------------------------


@given(st.text())
def test_escaped_text_renders_to_itself(text: str) -> None:
    assert Template.parse(escape(text)).render({}) == text
    assert Template.parse(escape(text)).fields == frozenset()


@given(st.text())
def test_parsing_any_text_either_works_or_says_where(text: str) -> None:
    try:
        template = Template.parse(text, allowed=NAMES)
    except TemplateSyntaxError as exc:
        assert "line " in str(exc)
    else:
        assert template.fields <= set(NAMES)
        template.render(dict.fromkeys(NAMES, "x"))


segment = st.one_of(
    st.tuples(st.just("text"), st.text()),
    st.tuples(st.just("name"), st.sampled_from(NAMES)),
)


@given(st.lists(segment), st.dictionaries(st.sampled_from(NAMES), st.text()))
def test_values_are_inserted_as_they_are_and_never_expanded(
    segments: list[tuple[str, str]], values: dict[str, str]
) -> None:
    source = []
    expected = []
    for kind, part in segments:
        if kind == "text":
            source.append(escape(part))
            expected.append(part)
        else:
            # Braces keep a name apart from the text after it; a space ends a bare one.
            bare = len(source) % 2 == 0
            source.append(f"${part} " if bare else f"${{{part}}}")
            expected.append(values.get(part, "") + (" " if bare else ""))
    template = Template.parse("".join(source), allowed=NAMES)
    assert template.render(values) == "".join(expected)


@given(st.text(alphabet="ab $\n{}", max_size=30))
def test_one_line_rendering_has_no_line_breaks(value: str) -> None:
    rendered = Template.parse("Re: $name").render({"name": value}, one_line=True)
    assert "\n" not in rendered
    assert "\r" not in rendered


def test_values_with_placeholders_stay_literal() -> None:
    template = Template.parse("Dear $name, about $reference", allowed=NAMES)
    values = {"name": "$reference ${agency} $$", "reference": "SR-1"}
    assert template.render(values) == "Dear $reference ${agency} $$, about SR-1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("costs $5", "a '$' that starts no placeholder at line 1, column 7 (write $$ for"),
        ("a\nb $", "a '$' that starts no placeholder at line 2, column 3"),
        ("${name", "'${' at line 1, column 1 is not closed"),
        ("${na me}", "'${' at line 1, column 1 is not closed"),
        ("Hi $nmae", "unknown placeholder $nmae at line 1, column 4 (known: agency,"),
        ("{name.__class__}", None),
        ("$name.__class__", None),
        ("${name.upper}", "is not closed"),
    ],
)
def test_bad_templates_name_the_problem(text: str, message: str | None) -> None:
    if message is None:
        # No attribute access: the dot and what follows are plain text.
        assert Template.parse(text, allowed=NAMES).render({"name": "N"}) == text.replace(
            "$name", "N"
        )
        return
    with pytest.raises(TemplateSyntaxError) as info:
        Template.parse(text, allowed=NAMES)
    assert message in str(info.value)


# --- the profile section ----------------------------------------------------------------


def _section(toml: str) -> tuple[Any, list[str]]:
    raw = tomllib.loads(toml).get("communications")
    settings, problems = parse_communications(raw, case_types=CODES)
    return settings, [str(p) for p in problems]


def test_a_profile_without_the_section_gets_english_defaults() -> None:
    settings, problems = parse_communications(None, case_types=CODES)
    assert settings is DEFAULT_COMMUNICATIONS
    assert problems == []
    assert settings.events == {"opened", "update", "resolved"}
    assert {t.language for t in settings.templates} == {"en"}


def test_springfield_speaks_english_and_spanish() -> None:
    settings = SPRINGFIELD.communications
    assert {(t.event, t.language) for t in settings.templates} >= {
        (event, language) for event in ("opened", "update", "resolved") for language in ("en", "es")
    }
    assert settings.opt_in_channels == {"sms"}
    assert settings.survey.covers("001")
    assert not settings.survey.covers("019")
    assert settings.survey.expires_after == timedelta(days=30)


def test_every_problem_is_listed_by_its_toml_path() -> None:
    settings, problems = _section(
        """
        [communications]
        default_language = "english!"
        from_address = "not an address"
        channels = ["email", "fax"]
        opt_in_channels = "sms"
        max_attempts = 0
        colour = "red"

        [communications.survey]
        case_types = ["001", "999"]
        url = "https://example.gov/survey"

        [[communications.templates]]
        event = "opened"
        language = "en"
        subject = "Hi $nmae"
        body = "Costs $5"

        [[communications.templates]]
        event = "resolve"
        language = "es"
        body = "Hola"
        survey = "$survey_url"

        [[communications.templates]]
        event = "update"
        language = "en"
        channel = "sms"
        subject = "SMS has none"
        body = "ok"

        [[communications.templates]]
        event = "opened"
        subject = "no language"
        body = "x"
        """
    )
    assert settings is None
    expected = [
        "communications.colour: unknown field",
        "communications.default_language: 'english!' is not a BCP 47 language tag",
        "communications.from_address: 'not an address' is not an email address",
        "communications.channels[1]: 'fax' is not one of email, sms",
        "communications.opt_in_channels: expected a list of media",
        "communications.max_attempts: expected a whole number from 1 to 100, got 0",
        "communications.survey.case_types[1]: no case type '999'",
        "communications.survey.url: the link must hold the token: put $token in it",
        "communications.templates[0].subject: unknown placeholder $nmae at line 1, column 4",
        "communications.templates[0].body: a '$' that starts no placeholder at line 1, column 7",
        "communications.templates[1].event: 'resolve': expected one of opened, update",
        "communications.templates[1].subject: an email template needs a subject",
        "communications.templates[1].survey: unknown placeholder $survey_url",
        "communications.templates[2].subject: an SMS template has no subject",
        "communications.templates[3].language: give the language (or [communications] "
        "default_language)",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)


def test_duplicate_templates_are_refused() -> None:
    settings, problems = _section(
        """
        [communications]
        default_language = "en"
        [[communications.templates]]
        event = "opened"
        case_types = ["001", "002"]
        subject = "a"
        body = "a"
        [[communications.templates]]
        event = "opened"
        case_types = ["002"]
        subject = "b"
        body = "b"
        """
    )
    assert settings is None
    assert problems == [
        "communications.templates[1]: the same event, language, channel and case type as "
        "communications.templates[0]"
    ]


def test_a_bad_section_fails_the_whole_profile_at_load() -> None:
    text = (
        springfield_path()
        .read_text(encoding="utf-8")
        .replace("There is news about your request $reference", "There is news about $referense")
    )
    with pytest.raises(PolicyError) as info:
        parse_profile(text)
    assert any(
        p.path == "communications.templates[4].body" and "$referense" in p.message
        for p in info.value.problems
    )


def test_survey_parts_only_on_resolved_and_survey_url_only_with_a_link() -> None:
    settings, problems = _section(
        """
        [communications]
        default_language = "en"
        [[communications.templates]]
        event = "opened"
        subject = "a"
        body = "a"
        survey = "$survey_token"
        [[communications.templates]]
        event = "resolved"
        subject = "b"
        body = "b $survey_token"
        """
    )
    assert settings is None
    assert problems[0].startswith(
        "communications.templates[0].survey: only a 'resolved' template carries a survey"
    )
    assert problems[1].startswith("communications.templates[1].body: unknown placeholder")


# --- selection --------------------------------------------------------------------------


SELECTION = """
[communications]
default_language = "en"
[[communications.templates]]
event = "opened"
subject = "en any"
body = "en any"
[[communications.templates]]
event = "opened"
case_types = ["001"]
subject = "en 001"
body = "en 001"
[[communications.templates]]
event = "opened"
language = "es"
subject = "es any"
body = "es any"
[[communications.templates]]
event = "opened"
language = "es"
channel = "sms"
body = "es sms"
[[communications.templates]]
event = "resolved"
language = "fr"
subject = "fr only"
body = "fr only"
"""


@pytest.mark.parametrize(
    ("case_type", "languages", "medium", "picked"),
    [
        ("001", ["en"], "email", "en 001"),
        ("002", ["en"], "email", "en any"),
        ("001", ["es-MX", "es", "en"], "email", "es any"),
        ("001", ["es", "en"], "sms", "es sms"),
        ("001", ["de", "en"], "email", "en 001"),
        ("001", ["de"], "email", "en any"),
    ],
)
def test_the_best_template_in_the_best_language(
    case_type: str, languages: list[str], medium: str, picked: str
) -> None:
    settings, problems = _section(SELECTION)
    assert problems == []
    template = settings.select("opened", case_type, languages, medium)
    assert template is not None
    assert template.body.render({}) == picked


def test_with_no_template_in_any_language_asked_the_first_one_is_used() -> None:
    settings, _ = _section(SELECTION)
    template = settings.select("resolved", "001", ["en"], "email")
    assert template is not None
    assert template.language == "fr"
    assert settings.select("closed", "001", ["en"], "email") is None


def test_the_backoff_doubles_up_to_its_cap() -> None:
    settings, _ = _section(
        """
        [communications]
        retry_after_seconds = 60
        max_retry_after_seconds = 600
        """
    )
    delays = [settings.retry_delay(n).total_seconds() for n in range(1, 7)]
    assert delays == [60, 120, 240, 480, 600, 600]
    assert settings.retry_delay(10_000) == timedelta(seconds=600)
