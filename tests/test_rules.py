"""
Routing rules: every condition kind (holding and failing, with its words), every
action, both modes, the lazy explanations, the profile reader's problems, the
never-fire warnings, and the compiled index against a naive reference that evaluates
every rule in order with its own (regular expression) reading of the conditions.

The business calendar is the Testville office: Monday to Friday 08:00-17:00 in
America/Chicago. Monday 13 April 2026 15:00 UTC is 10:00 there (open); 03:00 UTC that
day is Sunday 22:00 (closed).
"""

from __future__ import annotations

import json
import random
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import Problem, ValidationError
from civiccrm.models import Channel, Priority
from civiccrm.routing.calendar import BusinessCalendar
from civiccrm.routing.rules import (
    CONDITIONS,
    AccessibilityCondition,
    AllKeywordsCondition,
    AttributesCondition,
    CaseTypeCondition,
    ChannelCondition,
    Condition,
    DepartmentCondition,
    DistrictCondition,
    KeywordsCondition,
    LanguageCondition,
    MinPriorityCondition,
    NoneKeywordsCondition,
    OutsideHoursCondition,
    PriorityCondition,
    RoutingDecision,
    RoutingFacts,
    RoutingMode,
    Rule,
    RuleOutcome,
    RuleSet,
    Tokens,
    VulnerableCondition,
    WithinHoursCondition,
    parse_rules,
    tokenize,
)

OFFICE = BusinessCalendar(
    code="city-hall",
    zone="America/Chicago",
    hours=dict.fromkeys(range(5), ((time(8), time(17)),)),
)
ALWAYS = BusinessCalendar.always_open("24x7")
OPEN_AT = datetime(2026, 4, 13, 15, tzinfo=UTC)
CLOSED_AT = datetime(2026, 4, 13, 3, tzinfo=UTC)

#: What the profile knows, as parse_rules takes it.
CONTEXT: dict[str, Any] = {
    "case_types": {"001": "parks", "012": "public-works", "013": "public-works"},
    "departments": {"parks", "public-works"},
    "queues": {"pw", "pw-water", "parks-q"},
    "calendars": {"city-hall": OFFICE, "24x7": ALWAYS},
    "districts": {"ward-1", "ward-2", "ward-3"},
    "attributes": {"hazard", "size", "count"},
}


def facts(**changes: Any) -> RoutingFacts:
    """Facts of a plain case (type 012, public works, normal, web), with changes."""
    values: dict[str, Any] = {
        "case_type": "012",
        "department": "public-works",
        "priority": Priority.NORMAL,
        "channel": Channel.WEB,
        "at": OPEN_AT,
    }
    values.update(changes)
    return RoutingFacts(**values)


def parse(toml: str, **context: Any) -> tuple[RuleSet | None, list[Problem]]:
    """Parse a ``[routing]`` TOML fragment."""
    data = tomllib.loads(toml)
    return parse_rules(data.get("routing", {}), **{**CONTEXT, **context})


def rules(toml: str) -> RuleSet:
    ruleset, problems = parse(toml)
    assert problems == []
    assert ruleset is not None
    return ruleset


def one_rule(when: str, then: str = 'then.queue = "pw"') -> RuleSet:
    """A set of one rule named ``r`` with these conditions."""
    return rules(f'[[routing.rules]]\nname = "r"\n{when}\n{then}\n')


# --------------------------------------------------------------------------------------
# Every condition kind: a case where it holds (its evidence) and one where it fails
# (its reason).

CONDITION_CASES = [
    pytest.param(
        'when.case_type = ["012", "013"]',
        {"case_type": "013"},
        "case_type: 013 is one of 012, 013",
        {"case_type": "001"},
        "case_type: 001 is not one of 012, 013",
        id="case_type",
    ),
    pytest.param(
        'when.case_type = "012"',
        {},
        "case_type: 012 is one of 012",
        {"case_type": "nope"},
        "case_type: nope is not one of 012",
        id="case_type-string",
    ),
    pytest.param(
        'when.department = ["public-works"]',
        {},
        "department: public-works is one of public-works",
        {"department": "parks"},
        "department: parks is not one of public-works",
        id="department",
    ),
    pytest.param(
        'when.department = "parks"',
        {"department": "parks"},
        "department: parks is one of parks",
        {"department": None},
        "department: the case has no department",
        id="department-none",
    ),
    pytest.param(
        'when.priority = ["high", "urgent"]',
        {"priority": Priority.HIGH},
        "priority: high is one of high, urgent",
        {"priority": Priority.NORMAL},
        "priority: normal is not one of high, urgent",
        id="priority",
    ),
    pytest.param(
        'when.min_priority = "high"',
        {"priority": Priority.URGENT},
        "min_priority: urgent is at least high",
        {"priority": Priority.NORMAL},
        "min_priority: normal is below high",
        id="min_priority",
    ),
    pytest.param(
        'when.min_priority = "high"',
        {"priority": "high"},
        "min_priority: high is at least high",
        {"priority": "low"},
        "min_priority: low is below high",
        id="min_priority-equal",
    ),
    pytest.param(
        'when.channel = ["phone", "walk_in"]',
        {"channel": Channel.WALK_IN},
        "channel: walk_in is one of phone, walk_in",
        {"channel": Channel.WEB},
        "channel: web is not one of phone, walk_in",
        id="channel",
    ),
    pytest.param(
        'when.keywords = ["gas leak", "smell of gas"]',
        {"text": "Urgent\nThere is a GAS  leak! near 5th"},
        'keywords: found "gas leak"',
        {"text": "gasleak and gas leaks"},
        'keywords: none of "gas leak", "smell of gas" found',
        id="keywords",
    ),
    pytest.param(
        'when.keywords = ["gas leak", "smell of gas"]',
        {"text": "a strong Smell of gas."},
        'keywords: found "smell of gas"',
        {"text": ""},
        'keywords: none of "gas leak", "smell of gas" found',
        id="keywords-second",
    ),
    pytest.param(
        'when.all_keywords = ["tree", "wire"]',
        {"text": "Tree fell on a (wire)"},
        'all_keywords: found "tree", "wire"',
        {"text": "tree down, wires everywhere"},
        'all_keywords: "wire" not found',
        id="all_keywords",
    ),
    pytest.param(
        'when.none_keywords = ["test", "ignore me"]',
        {"text": "a real report"},
        'none_keywords: none of "test", "ignore me" found',
        {"text": "please IGNORE   me"},
        'none_keywords: found "ignore me"',
        id="none_keywords",
    ),
    pytest.param(
        'when.attributes = { hazard = "yes", size = ["large", "huge"] }',
        {"attributes": {"hazard": "yes", "size": "huge"}},
        "attributes: hazard matched, size matched",
        {"attributes": {"size": "huge"}},
        "attributes: hazard is missing",
        id="attributes",
    ),
    pytest.param(
        'when.attributes = { hazard = "yes", size = ["large", "huge"] }',
        {"attributes": {"hazard": "yes", "size": ("small", "large")}},
        "attributes: hazard matched, size matched",
        {"attributes": {"hazard": "yes", "size": "small"}},
        "attributes: size is not large, huge",
        id="attributes-multi-value",
    ),
    pytest.param(
        "when.attributes = { count = 3 }",
        {"attributes": {"count": "3"}},
        "attributes: count matched",
        {"attributes": {"count": "three"}},
        "attributes: count is not 3",
        id="attributes-number",
    ),
    pytest.param(
        'when.language = ["es", "vi"]',
        {"language": "es-MX"},
        "language: requester's language is one of es, vi",
        {"language": "en"},
        "language: requester's language is not one of es, vi",
        id="language",
    ),
    pytest.param(
        'when.language = ["zh-Hans"]',
        {"language": "zh-hans-cn"},
        "language: requester's language is one of zh-Hans",
        {"language": None},
        "language: the requester has no preferred language",
        id="language-none",
    ),
    pytest.param(
        "when.vulnerable = true",
        {"vulnerable": True},
        "vulnerable: the requester is marked vulnerable",
        {"vulnerable": False},
        "vulnerable: the requester is not marked vulnerable",
        id="vulnerable",
    ),
    pytest.param(
        "when.vulnerable = false",
        {"vulnerable": False},
        "vulnerable: the requester is not marked vulnerable",
        {"vulnerable": True},
        "vulnerable: the requester is marked vulnerable",
        id="not-vulnerable",
    ),
    pytest.param(
        'when.accessibility = ["interpreter", "wheelchair"]',
        {"accessibility_needs": ("large_print", "wheelchair")},
        "accessibility: the requester has one of the needs interpreter, wheelchair",
        {"accessibility_needs": ("large_print",)},
        "accessibility: the requester has none of the needs interpreter, wheelchair",
        id="accessibility",
    ),
    pytest.param(
        'when.district = ["ward-1", "ward-2"]',
        {"districts": {"ward-2", "ward-3"}},
        "district: location in ward-2",
        {"districts": {"ward-3"}},
        "district: the location is in none of ward-1, ward-2",
        id="district",
    ),
    pytest.param(
        'when.district = ["ward-1", "ward-2"]',
        {"districts": {"ward-1", "ward-2"}},
        "district: location in ward-1",
        {"districts": set()},
        "district: the location is in no district",
        id="district-none",
    ),
    pytest.param(
        'when.within_hours = "city-hall"',
        {"at": OPEN_AT},
        "within_hours: city-hall is open at 2026-04-13T15:00:00+00:00",
        {"at": CLOSED_AT},
        "within_hours: city-hall is closed at 2026-04-13T03:00:00+00:00",
        id="within_hours",
    ),
    pytest.param(
        'when.outside_hours = "city-hall"',
        {"at": CLOSED_AT},
        "outside_hours: city-hall is closed at 2026-04-13T03:00:00+00:00",
        {"at": OPEN_AT},
        "outside_hours: city-hall is open at 2026-04-13T15:00:00+00:00",
        id="outside_hours",
    ),
]


@pytest.mark.parametrize(("when", "holding", "evidence", "failing", "reason"), CONDITION_CASES)
def test_condition_holds_and_fails_with_its_words(
    when: str, holding: dict[str, Any], evidence: str, failing: dict[str, Any], reason: str
) -> None:
    ruleset = one_rule(when)
    decision = ruleset.route(facts(**holding))
    assert decision.rule == "r"
    assert decision.evidence == (evidence,)
    assert decision.outcomes() == (RuleOutcome("r", True, (evidence,), None),)

    decision = ruleset.route(facts(**failing))
    assert decision.rule is None
    assert decision.evidence == ()
    assert decision.outcomes() == (RuleOutcome("r", False, (), reason),)
    assert reason in decision.explain()


def test_every_condition_kind_is_covered_by_the_cases() -> None:
    tested = {str(p.values[0]).split(" = ")[0].removeprefix("when.") for p in CONDITION_CASES}
    assert tested == set(CONDITIONS)


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("3", 3, True),
        ("3", 3.0, True),
        ("3", "3", True),
        ("3", "3.0", True),
        ("3", 4, False),
        ('"3"', 3, True),
        ('"3"', "3", True),
        ('"3"', " 3 ", True),
        ('"3"', "x3", False),
        ("2.5", "2.5", True),
        ("2.5", 2.5, True),
        ('["a", 3]', ("b", "3"), True),
        ('["a", 3]', ("b", "c"), False),
        ('"yes"', "Yes", False),  # text compares exactly
        ('"yes"', ("yes",), True),
        ('"yes"', (), False),
    ],
)
def test_attribute_values_compare_by_value(pattern: str, value: Any, matches: bool) -> None:
    ruleset = one_rule(f"when.attributes = {{ count = {pattern} }}")
    decision = ruleset.route(facts(attributes={"count": value}))
    assert (decision.rule == "r") is matches


@pytest.mark.parametrize(
    ("tags", "language", "matches"),
    [
        ('["es"]', "es", True),
        ('["es"]', "ES-mx", True),
        ('["es-MX"]', "es", False),
        ('["es-MX"]', "es-mx", True),
        ('["zh-Hans"]', "zh-Hans-CN", True),
        ('["zh-Hans"]', "zh", False),
        ('["zh-Hans"]', "zh-Hant", False),
        ('["zh-Hans"]', "zh-Hansx", False),
        ('["zh"]', "zh-Hant-TW", True),
        ('["es"]', "esp", False),  # a prefix of a subtag is not a subtag
    ],
)
def test_language_matches_on_subtags(tags: str, language: str, matches: bool) -> None:
    decision = one_rule(f"when.language = {tags}").route(facts(language=language))
    assert (decision.rule == "r") is matches


def test_conditions_read_nothing_personal_into_their_words() -> None:
    private = facts(
        text="My name is Ada Lovelace, 12 Secret Lane",
        attributes={"hazard": "ada-secret", "size": "large"},
        language="es-MX",
        vulnerable=True,
        accessibility_needs=("interpreter",),
    )
    ruleset = rules(
        """
        [[routing.rules]]
        name = "fails"
        when.attributes = { hazard = "yes" }
        then.queue = "pw"
        [[routing.rules]]
        name = "wins"
        when.keywords = ["secret"]
        when.attributes = { size = "large" }
        when.language = "es"
        when.vulnerable = true
        when.accessibility = ["interpreter", "wheelchair"]
        then.queue = "pw"
        """
    )
    decision = ruleset.route(private)
    assert decision.rule == "wins"
    text = decision.explain()
    for secret in ("Ada", "Lovelace", "Lane", "ada-secret", "es-MX", "12"):
        assert secret not in text
    summary = decision.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary == {
        "rule": "wins",
        "mode": "first_match",
        "queue": "pw",
        "priority": None,
        "tags": "",
        "skills": "",
        "matched": "wins",
    }


# --------------------------------------------------------------------------------------
# Actions


def test_every_action_lands_in_the_decision() -> None:
    ruleset = rules(
        """
        [[routing.rules]]
        name = "all"
        when.case_type = "012"
        then.queue = "pw-water"
        then.priority = "urgent"
        then.tags = ["hazard", "gas"]
        then.skills = ["gas", "confined-space"]
        [[routing.rules]]
        name = "queue-only"
        when.case_type = "001"
        then.queue = "parks-q"
        [[routing.rules]]
        name = "priority-only"
        when.case_type = "013"
        then.priority = "low"
        [[routing.rules]]
        name = "tags-only"
        when.channel = "phone"
        then.tags = ["phoned"]
        [[routing.rules]]
        name = "skills-only"
        then.skills = ["general"]
        """
    )
    d = ruleset.route(facts())
    assert (d.rule, d.queue, d.priority, d.tags, d.skills) == (
        "all",
        "pw-water",
        Priority.URGENT,
        ("hazard", "gas"),
        ("gas", "confined-space"),
    )
    assert d.summary() == {
        "rule": "all",
        "mode": "first_match",
        "queue": "pw-water",
        "priority": "urgent",
        "tags": "hazard,gas",
        "skills": "gas,confined-space",
        "matched": "all",
    }
    d = ruleset.route(facts(case_type="001"))
    assert (d.rule, d.queue, d.priority, d.tags, d.skills) == (
        "queue-only",
        "parks-q",
        None,
        (),
        (),
    )
    d = ruleset.route(facts(case_type="013"))
    assert (d.rule, d.queue, d.priority, d.tags, d.skills) == (
        "priority-only",
        None,
        Priority.LOW,
        (),
        (),
    )
    d = ruleset.route(facts(case_type="999", channel="phone"))
    assert (d.rule, d.queue, d.priority, d.tags, d.skills) == (
        "tags-only",
        None,
        None,
        ("phoned",),
        (),
    )
    d = ruleset.route(facts(case_type="999"))
    assert (d.rule, d.queue, d.priority, d.tags, d.skills) == (
        "skills-only",
        None,
        None,
        (),
        ("general",),
    )
    assert d.evidence == ()
    assert "no conditions: it matches every case" in d.explain()


def test_no_rule_matched() -> None:
    ruleset = one_rule('when.case_type = "001"')
    d = ruleset.route(facts())
    assert (d.rule, d.queue, d.priority, d.tags, d.skills, d.evidence) == (
        None,
        None,
        None,
        (),
        (),
        (),
    )
    assert d.summary() == {
        "rule": None,
        "mode": "first_match",
        "queue": None,
        "priority": None,
        "tags": "",
        "skills": "",
        "matched": "",
    }
    assert d.explain().splitlines() == [
        "no rule matched (first_match): no routing actions",
        "rules:",
        '  - "r" (routing.rules[0]): skipped: case_type: 012 is not one of 001',
    ]
    assert RuleSet(rules=()).route(facts()).rule is None


# --------------------------------------------------------------------------------------
# Modes, ties and explanations

THREE = """
[[routing.rules]]
name = "parks"
when.case_type = "001"
then.queue = "parks-q"
[[routing.rules]]
name = "broad"
score = 10
when.department = "public-works"
then.queue = "pw"
[[routing.rules]]
name = "gas"
score = 100
when.keywords = ["gas"]
when.case_type = ["012"]
then.queue = "pw-water"
[[routing.rules]]
name = "twin"
score = 100
when.keywords = "gas"
then.tags = ["twin"]
[[routing.rules]]
name = "never"
when.case_type = "013"
then.queue = "pw"
"""


def test_first_match_takes_the_first_rule_that_holds() -> None:
    ruleset = rules(THREE)
    d = ruleset.route(facts(text="gas smell"))
    assert d.mode is RoutingMode.FIRST_MATCH
    assert d.rule == "broad"
    assert d.outcomes() == (
        RuleOutcome("parks", False, (), "case_type: 012 is not one of 001"),
        RuleOutcome("broad", True, ("department: public-works is one of public-works",), None),
        RuleOutcome("gas", False, (), "not evaluated: rule broad already matched"),
        RuleOutcome("twin", False, (), "not evaluated: rule broad already matched"),
        RuleOutcome("never", False, (), "not evaluated: rule broad already matched"),
    )
    assert d.summary()["matched"] == "broad"
    assert d.explain().splitlines() == [
        'rule "broad" won (first_match); it matched on:',
        "  - department: public-works is one of public-works",
        "actions: queue pw",
        "other rules:",
        '  - "parks" (routing.rules[0]): skipped: case_type: 012 is not one of 001',
        '  - "gas" (routing.rules[2]): skipped: not evaluated: rule broad already matched',
        '  - "twin" (routing.rules[3]): skipped: not evaluated: rule broad already matched',
        '  - "never" (routing.rules[4]): skipped: not evaluated: rule broad already matched',
    ]


def test_highest_score_takes_the_best_and_the_earlier_on_a_tie() -> None:
    ruleset = rules('[routing]\nmode = "highest_score"\n' + THREE)
    d = ruleset.route(facts(text="GAS!"))
    assert d.mode is RoutingMode.HIGHEST_SCORE
    assert (d.rule, d.queue) == ("gas", "pw-water")
    assert d.evidence == ('keywords: found "gas"', "case_type: 012 is one of 012")
    outcomes = d.outcomes()
    assert [o.rule for o in outcomes] == ["parks", "broad", "gas", "twin", "never"]
    assert [o.matched for o in outcomes] == [False, True, True, True, False]
    assert outcomes[4].reason == "case_type: 012 is not one of 013"
    assert d.summary()["matched"] == "broad,gas,twin"
    lines = d.explain().splitlines()
    assert lines[0] == 'rule "gas" won (highest_score); it matched on:'
    assert (
        '  - "broad" (routing.rules[1]): matched too, but lost to "gas": lower score (10 < 100)'
        in lines
    )
    assert (
        '  - "twin" (routing.rules[3]): matched too, but lost to "gas": same score (100) '
        "and comes after it" in lines
    )
    # Without the text, the keywords fail and the broad rule wins on its score.
    d = ruleset.route(facts())
    assert d.rule == "broad"
    assert d.outcomes()[2] == RuleOutcome("gas", False, (), 'keywords: none of "gas" found')


def test_the_reason_is_the_first_failing_condition_in_the_profiles_order() -> None:
    # The engine tries the cheap priority test first; the reason still names keywords.
    ruleset = one_rule('when.keywords = ["flood"]\nwhen.priority = "urgent"')
    d = ruleset.route(facts(text="dry", priority="low"))
    assert d.outcomes()[0].reason == 'keywords: none of "flood" found'
    d = ruleset.route(facts(text="flood", priority="low"))
    assert d.outcomes()[0].reason == "priority: low is not one of urgent"


def test_explanations_are_worked_out_once_and_are_deterministic() -> None:
    ruleset = rules(THREE)
    d = ruleset.route(facts(text="gas"))
    first = d.outcomes()
    assert d.outcomes() is first
    again = ruleset.route(facts(text="gas"))
    assert again == d
    assert again.outcomes() == first
    assert again.explain() == d.explain()


def test_facts_and_rules_check_their_input() -> None:
    with pytest.raises(ValidationError, match="naive"):
        facts(at=datetime(2026, 4, 13, 15))
    with pytest.raises(ValidationError, match="priority"):
        facts(priority="extreme")
    with pytest.raises(ValidationError, match="channel"):
        facts(channel="fax")
    f = facts(priority="high", channel="phone", districts=["ward-1"], attributes={"a": "b"})
    assert f.priority is Priority.HIGH
    assert f.channel is Channel.PHONE
    assert f.districts == frozenset({"ward-1"})
    assert hash(f) == hash(facts(priority="high", channel="phone", districts=["ward-1"]))
    with pytest.raises(ValidationError, match="at least one action"):
        Rule(name="x")
    with pytest.raises(ValidationError, match="rule name"):
        Rule(name="Not A Slug", queue="q")
    with pytest.raises(ValidationError, match="not a code"):
        Rule(name="x", tags=("Bad Tag",))
    with pytest.raises(ValidationError, match="duplicate rule name 'x'"):
        RuleSet((Rule(name="x", queue="q"), Rule(name="x", queue="r")))
    with pytest.raises(ValidationError, match="routing mode"):
        RuleSet((), "best")
    with pytest.raises(ValidationError, match="no letters or digits"):
        KeywordsCondition(("--",))
    with pytest.raises(ValidationError):
        CaseTypeCondition(())
    with pytest.raises(ValidationError):
        AttributesCondition({"hazard": True})


# --------------------------------------------------------------------------------------
# Words


def test_tokenize() -> None:
    assert tokenize("Gas  LEAK! near 5th-Ave.") == ("gas", "leak", "near", "5th", "ave")
    assert tokenize("snake_case and ÉTÉ, Straße") == ("snake_case", "and", "été", "strasse")
    assert tokenize("") == ()
    assert Tokens.of("A b  a").words == frozenset({"a", "b"})
    assert Tokens.of("A b  a").joined == " a b a "


@pytest.mark.parametrize(
    ("keyword", "text", "found"),
    [
        ("café", "Cafe\u0301 on fire", True),  # composed keyword, decomposed text
        ("cafe\u0301", "CAFÉ on fire", True),  # decomposed keyword, composed text
        ("café", "cafe on fire", False),
        ("cafe", "café on fire", False),
        ("straße", "STRASSE", True),  # case folding
        ("gas leak", "gas-leak", True),
        ("gas leak", "gasleak", False),
        ("gas leak", "gas leaks", False),
        ("gas leak", "big gas leak", True),
        ("leak", "leaky", False),
        ("42", "call 42.", True),
        ("ñ", "año", False),  # not a word of its own
    ],
)
def test_keywords_match_whole_normalised_words(keyword: str, text: str, found: bool) -> None:
    condition = KeywordsCondition((keyword,))
    assert condition.holds(facts(), Tokens.of(text)) is found


WORD_LETTERS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyz\u00e0\u00e9\u00ee\u00f5\u00fc\u00e7\u00f1\u00f8\u00e5\u00e6\u00df\u03b1\u03b2\u03b3\u03b4\u03b5"
)
SEPARATORS = st.text(alphabet=" \t\n.,;:!?-()[]{}\"'/\\@#$%&*+=<>|~", min_size=1, max_size=4)


def random_case(data: st.DataObject, word: str) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if up else c for c, up in zip(word, flips, strict=True))


@settings(max_examples=200)
@given(st.data())
def test_a_phrase_between_any_punctuation_is_found_in_any_case(data: st.DataObject) -> None:
    words = data.draw(
        st.lists(st.text(WORD_LETTERS, min_size=1, max_size=6), min_size=1, max_size=3)
    )
    keyword = " ".join(words)
    seps = [data.draw(SEPARATORS) for _ in range(len(words) - 1)]
    phrase = words[0]
    for sep, word in zip(seps, words[1:], strict=True):
        phrase += sep + word
    before = data.draw(st.text(alphabet=" .,!?(\n", max_size=3))
    after = data.draw(st.text(alphabet=" .,!?)\n", max_size=3))
    text = data.draw(st.sampled_from(["", "see ", "Hello, "])) + before
    text += random_case(data, phrase) + after
    assert KeywordsCondition((keyword,)).holds(facts(), Tokens.of(text))
    # Glued to more letters, it is another word.
    glue = data.draw(st.text(WORD_LETTERS, min_size=1, max_size=3))
    glued = data.draw(st.sampled_from([glue + phrase, phrase + glue]))
    assert not KeywordsCondition((keyword,)).holds(facts(), Tokens.of(f"0 {glued} 9"))


# --------------------------------------------------------------------------------------
# The profile reader


def test_the_routing_table_keeps_its_other_keys_to_itself() -> None:
    ruleset, problems = parse(
        """
        [routing]
        route_on_open = true
        strategy = "round_robin"
        language = "prefer"
        districts = "x.geojson"
        [[routing.rules]]
        name = "r"
        description = "everything to public works"
        then.queue = "pw"
        """
    )
    assert problems == []
    assert ruleset is not None
    assert ruleset.mode is RoutingMode.FIRST_MATCH
    assert ruleset.rules == (
        Rule(
            name="r", description="everything to public works", queue="pw", path="routing.rules[0]"
        ),
    )
    assert parse("")[0] == RuleSet(())
    ruleset, problems = parse('[routing]\nmode = "highest_score"')
    assert problems == []
    assert ruleset is not None
    assert ruleset.mode is RoutingMode.HIGHEST_SCORE


def test_a_parsed_rule_builds_its_conditions() -> None:
    ruleset = rules(
        """
        [[routing.rules]]
        name = "all-kinds"
        score = -5
        when.case_type = ["012", "013"]
        when.department = "public-works"
        when.priority = ["urgent", "high"]
        when.min_priority = "normal"
        when.channel = ["phone"]
        when.keywords = ["gas leak"]
        when.all_keywords = ["gas"]
        when.none_keywords = ["test"]
        when.attributes = { hazard = "yes", count = [1, 2.5] }
        when.language = ["ES-mx"]
        when.vulnerable = false
        when.accessibility = "interpreter"
        when.district = ["ward-1"]
        when.within_hours = "city-hall"
        when.outside_hours = "24x7"
        then.queue = "pw"
        """
    )
    (rule,) = ruleset.rules
    assert rule.score == -5
    assert [c.name for c in rule.conditions] == list(CONDITIONS)
    assert rule.conditions == (
        CaseTypeCondition(("012", "013")),
        DepartmentCondition(("public-works",)),
        PriorityCondition((Priority.HIGH, Priority.URGENT)),
        MinPriorityCondition(Priority.NORMAL),
        ChannelCondition((Channel.PHONE,)),
        KeywordsCondition(("gas leak",)),
        AllKeywordsCondition(("gas",)),
        NoneKeywordsCondition(("test",)),
        AttributesCondition((("hazard", ("yes",)), ("count", (1, 2.5)))),
        LanguageCondition(("es-MX",)),
        VulnerableCondition(False),
        AccessibilityCondition(("interpreter",)),
        DistrictCondition(("ward-1",)),
        WithinHoursCondition(OFFICE),
        OutsideHoursCondition(ALWAYS),
    )


RULE = '[[routing.rules]]\nname = "r"\n'


@pytest.mark.parametrize(
    ("toml", "problems"),
    [
        pytest.param(
            '[routing]\nmode = "best"',
            [("routing.mode", "'best' is not a routing mode (one of first_match, highest_score)")],
            id="mode",
        ),
        pytest.param(
            '[routing]\nrules = "all"',
            [("routing.rules", "must be a list of tables ([[routing.rules]]), got a string")],
            id="rules-not-a-list",
        ),
        pytest.param(
            "[routing]\nrules = [1]",
            [("routing.rules[0]", "expected a table ([[routing.rules]]), got an integer")],
            id="rule-not-a-table",
        ),
        pytest.param(
            '[[routing.rules]]\nthen.queue = "pw"',
            [("routing.rules[0].name", "a rule needs a name")],
            id="no-name",
        ),
        pytest.param(
            '[[routing.rules]]\nname = "Gas Leak"\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].name",
                    "'Gas Leak' is not a rule name: use lowercase letters and digits joined by - or _",
                )
            ],
            id="bad-name",
        ),
        pytest.param(
            RULE + 'then.queue = "pw"\n' + RULE + 'then.queue = "pw"',
            [("routing.rules[1].name", "duplicate rule name 'r' (also routing.rules[0])")],
            id="duplicate-name",
        ),
        pytest.param(
            RULE + 'colour = "red"\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].colour",
                    "unknown key 'colour' (known: name, description, score, when, then)",
                )
            ],
            id="unknown-rule-key",
        ),
        pytest.param(
            RULE + 'score = "high"\ndescription = 3\nthen.queue = "pw"',
            [
                ("routing.rules[0].description", "must be a string, got an integer"),
                ("routing.rules[0].score", "must be a whole number, got a string"),
            ],
            id="score-and-description",
        ),
        pytest.param(
            RULE + 'when = "always"\nthen.queue = "pw"',
            [("routing.rules[0].when", "must be a table of conditions, got a string")],
            id="when-not-a-table",
        ),
        pytest.param(
            RULE + 'when.keyword = "gas"\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.keyword",
                    "unknown condition 'keyword' (known: " + ", ".join(CONDITIONS) + ")",
                )
            ],
            id="unknown-condition",
        ),
        pytest.param(
            RULE + 'when.case_type = ["012", "999", 7]\nthen.queue = "pw"',
            [
                ("routing.rules[0].when.case_type[2]", "must be a string, got an integer"),
                ("routing.rules[0].when.case_type[1]", "no case type '999' in the profile"),
            ],
            id="case_type",
        ),
        pytest.param(
            RULE + 'when.case_type = "999"\nthen.queue = "pw"',
            [("routing.rules[0].when.case_type", "no case type '999' in the profile")],
            id="case_type-string",
        ),
        pytest.param(
            RULE + 'when.case_type = []\nthen.queue = "pw"',
            [("routing.rules[0].when.case_type", "must not be empty")],
            id="case_type-empty",
        ),
        pytest.param(
            RULE + 'when.department = { code = "x" }\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.department",
                    "must be a string or a list of strings, got an object",
                )
            ],
            id="department-table",
        ),
        pytest.param(
            RULE + 'when.department = ["roads"]\nthen.queue = "pw"',
            [("routing.rules[0].when.department[0]", "no department 'roads' in the profile")],
            id="department",
        ),
        pytest.param(
            RULE + 'when.priority = ["high", "meh"]\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.priority[1]",
                    "'meh' is not a priority (one of low, normal, high, urgent)",
                )
            ],
            id="priority",
        ),
        pytest.param(
            RULE + 'when.min_priority = ["high"]\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.min_priority",
                    "must be a priority (low, normal, high, urgent), got a list",
                )
            ],
            id="min_priority-list",
        ),
        pytest.param(
            RULE + 'when.min_priority = "extreme"\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.min_priority",
                    "'extreme' is not a priority (one of low, normal, high, urgent)",
                )
            ],
            id="min_priority",
        ),
        pytest.param(
            RULE + 'when.channel = "fax"\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.channel",
                    "'fax' is not a channel (one of " + ", ".join(c.value for c in Channel) + ")",
                )
            ],
            id="channel",
        ),
        pytest.param(
            RULE + 'when.keywords = ["gas", "", " ", "?!"]\nthen.queue = "pw"',
            [
                ("routing.rules[0].when.keywords[1]", "a keyword must not be empty"),
                ("routing.rules[0].when.keywords[2]", "a keyword must not be empty"),
                ("routing.rules[0].when.keywords[3]", "keyword '?!' has no letters or digits"),
            ],
            id="keywords",
        ),
        pytest.param(
            RULE + 'when.all_keywords = 3\nwhen.none_keywords = [""]\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.all_keywords",
                    "must be a string or a list of strings, got an integer",
                ),
                ("routing.rules[0].when.none_keywords[0]", "a keyword must not be empty"),
            ],
            id="all-and-none-keywords",
        ),
        pytest.param(
            RULE
            + 'when.attributes = { colour = "red", hazard = true, size = [], count = ["a", {}] }\n'
            + 'then.queue = "pw"',
            [
                (
                    "routing.rules[0].when.attributes.colour",
                    "no attribute 'colour' in any case type",
                ),
                (
                    "routing.rules[0].when.attributes.hazard",
                    "expected a string or a number, got a boolean",
                ),
                ("routing.rules[0].when.attributes.size", "must not be empty"),
                (
                    "routing.rules[0].when.attributes.count[1]",
                    "expected a string or a number, got an object",
                ),
            ],
            id="attributes",
        ),
        pytest.param(
            RULE + 'when.attributes = "hazard"\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.attributes",
                    "must be a table of attribute codes to values, got a string",
                )
            ],
            id="attributes-not-a-table",
        ),
        pytest.param(
            RULE + 'when.attributes = {}\nthen.queue = "pw"',
            [("routing.rules[0].when.attributes", "must not be empty")],
            id="attributes-empty",
        ),
        pytest.param(
            RULE + 'when.language = ["es", "spanish please"]\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.language[1]",
                    "'spanish please' is not a BCP 47 language tag (such as 'en', 'es-MX')",
                )
            ],
            id="language",
        ),
        pytest.param(
            RULE + 'when.vulnerable = "yes"\nthen.queue = "pw"',
            [("routing.rules[0].when.vulnerable", "must be true or false, got a string")],
            id="vulnerable",
        ),
        pytest.param(
            RULE + 'when.accessibility = ["wheelchair", "  "]\nthen.queue = "pw"',
            [("routing.rules[0].when.accessibility[1]", "must not be blank")],
            id="accessibility",
        ),
        pytest.param(
            RULE + 'when.district = ["ward-1", "ward-9"]\nthen.queue = "pw"',
            [("routing.rules[0].when.district[1]", "no district 'ward-9' in the profile")],
            id="district",
        ),
        pytest.param(
            RULE + 'when.within_hours = "night"\nwhen.outside_hours = 1\nthen.queue = "pw"',
            [
                (
                    "routing.rules[0].when.within_hours",
                    "no calendar 'night' in the profile (known: 24x7, city-hall)",
                ),
                (
                    "routing.rules[0].when.outside_hours",
                    "must be the name of a calendar, got an integer",
                ),
            ],
            id="hours",
        ),
        pytest.param(
            RULE,
            [
                (
                    "routing.rules[0].then",
                    "a rule needs at least one action in then (queue, priority, tags, skills)",
                )
            ],
            id="no-then",
        ),
        pytest.param(
            RULE + "then.tags = []",
            [
                (
                    "routing.rules[0].then",
                    "a rule needs at least one action in then (queue, priority, tags, skills)",
                )
            ],
            id="empty-then",
        ),
        pytest.param(
            RULE + 'then = "pw"',
            [("routing.rules[0].then", "must be a table of actions, got a string")],
            id="then-not-a-table",
        ),
        pytest.param(
            RULE
            + 'then.queue = "roads"\nthen.priority = "asap"\nthen.tags = "hazard"\n'
            + 'then.skills = ["gas", "Confined Space", 3]\nthen.team = "a"',
            [
                ("routing.rules[0].then.queue", "no queue 'roads' in the profile"),
                (
                    "routing.rules[0].then.priority",
                    "'asap' is not a priority (one of low, normal, high, urgent)",
                ),
                ("routing.rules[0].then.tags", "must be a list of strings, got a string"),
                (
                    "routing.rules[0].then.skills[1]",
                    "'Confined Space' is not a code: use lowercase letters and digits joined "
                    "by - or _",
                ),
                ("routing.rules[0].then.skills[2]", "must be a string, got an integer"),
                (
                    "routing.rules[0].then.team",
                    "unknown action 'team' (known: queue, priority, tags, skills)",
                ),
            ],
            id="then",
        ),
        pytest.param(
            RULE + "then.queue = 1\nthen.priority = 2",
            [
                ("routing.rules[0].then.queue", "must be a queue code, got an integer"),
                (
                    "routing.rules[0].then.priority",
                    "must be a priority (low, normal, high, urgent), got an integer",
                ),
            ],
            id="then-types",
        ),
    ],
)
def test_every_problem_is_reported_at_its_path(toml: str, problems: list[tuple[str, str]]) -> None:
    ruleset, found = parse(toml)
    assert ruleset is None
    assert [(p.path, p.message) for p in found] == problems


def test_problems_of_many_rules_are_all_collected() -> None:
    ruleset, found = parse(
        RULE
        + 'when.case_type = "999"\nthen.queue = "pw"\n'
        + '[[routing.rules]]\nname = "s"\nwhen.district = "ward-7"\nthen.queue = "nope"\n'
        + '[[routing.rules]]\nname = "fine"\nthen.queue = "pw"\n',
        path="agency.routing",
    )
    assert ruleset is None
    assert [str(p) for p in found] == [
        "agency.routing.rules[0].when.case_type: no case type '999' in the profile",
        "agency.routing.rules[1].when.district: no district 'ward-7' in the profile",
        "agency.routing.rules[1].then.queue: no queue 'nope' in the profile",
    ]
    assert parse_rules([], **CONTEXT) == (
        None,
        [Problem("routing", "expected a table ([routing]), got a list")],
    )


# --------------------------------------------------------------------------------------
# Never-fire warnings


def warnings(toml: str) -> tuple[str, ...]:
    return rules(toml).warnings


def test_a_catch_all_before_other_rules_hides_them() -> None:
    assert warnings(
        """
        [[routing.rules]]
        name = "everything"
        then.queue = "pw"
        [[routing.rules]]
        name = "pothole"
        when.case_type = "012"
        then.queue = "pw"
        [[routing.rules]]
        name = "anything-else"
        then.tags = ["x"]
        """
    ) == (
        'routing.rules[1] "pothole" can never fire: routing.rules[0] "everything" matches '
        "every case it matches and comes first",
        'routing.rules[2] "anything-else" can never fire: routing.rules[0] "everything" '
        "matches every case it matches and comes first",
    )


@pytest.mark.parametrize(
    ("broad", "narrow"),
    [
        ('when.case_type = ["012", "013"]', 'when.case_type = "012"'),
        ('when.department = "public-works"', 'when.case_type = ["012", "013"]'),
        ('when.department = "public-works"', 'when.department = "public-works"'),
        ('when.priority = ["high", "urgent"]', 'when.min_priority = "high"'),
        ('when.min_priority = "normal"', 'when.priority = ["high", "urgent"]'),
        ('when.min_priority = "normal"', 'when.min_priority = "high"'),
        ('when.channel = ["phone", "web"]', 'when.channel = "phone"'),
        ('when.keywords = ["gas", "water"]', 'when.keywords = ["gas"]'),
        ('when.keywords = ["gas"]', 'when.keywords = ["gas leak", "smell of gas"]'),
        ('when.keywords = ["gas", "fire"]', 'when.all_keywords = ["tree", "fire"]'),
        ('when.all_keywords = ["tree"]', 'when.all_keywords = ["tree", "wire"]'),
        ('when.all_keywords = ["gas"]', 'when.keywords = ["gas leak", "gas smell"]'),
        ('when.none_keywords = ["test"]', 'when.none_keywords = ["test", "demo"]'),
        ('when.none_keywords = ["test case"]', 'when.none_keywords = ["test"]'),
        (
            'when.attributes = { size = ["large", "huge"] }',
            'when.attributes = { size = "large", hazard = "yes" }',
        ),
        ('when.language = ["es", "vi"]', 'when.language = ["es-MX", "vi"]'),
        ("when.vulnerable = true", "when.vulnerable = true"),
        ('when.accessibility = ["interpreter", "wheelchair"]', 'when.accessibility = "wheelchair"'),
        ('when.district = ["ward-1", "ward-2"]', 'when.district = "ward-2"'),
        ('when.within_hours = "city-hall"', 'when.within_hours = "city-hall"'),
        ('when.outside_hours = "city-hall"', 'when.outside_hours = "city-hall"'),
        (
            'when.case_type = "012"\nwhen.keywords = "gas"',
            'when.keywords = ["gas"]\nwhen.case_type = "012"\nwhen.channel = "phone"',
        ),
    ],
)
def test_a_narrower_rule_after_a_broader_one_is_flagged(broad: str, narrow: str) -> None:
    toml = (
        f'[[routing.rules]]\nname = "broad"\n{broad}\nthen.queue = "pw"\n'
        f'[[routing.rules]]\nname = "narrow"\n{narrow}\nthen.queue = "pw"\n'
    )
    assert warnings(toml) == (
        'routing.rules[1] "narrow" can never fire: routing.rules[0] "broad" matches every '
        "case it matches and comes first",
    )
    # The narrow rule never fires: no case reaches it.
    ruleset = rules(toml)
    assert ruleset.rules[0].covers(ruleset.rules[1])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ('when.case_type = "012"', 'when.case_type = ["012", "013"]'),
        ('when.department = "parks"', 'when.case_type = ["012"]'),
        ('when.priority = ["high"]', 'when.min_priority = "high"'),
        ('when.min_priority = "urgent"', 'when.priority = ["high", "urgent"]'),
        ('when.keywords = ["gas leak"]', 'when.keywords = ["gas"]'),
        ('when.keywords = ["gas"]', 'when.all_keywords = ["tree", "wire"]'),
        ('when.all_keywords = ["tree", "wire"]', 'when.all_keywords = ["tree"]'),
        ('when.none_keywords = ["test", "demo"]', 'when.none_keywords = ["test"]'),
        ('when.none_keywords = ["test"]', 'when.none_keywords = ["test case"]'),
        ('when.attributes = { size = "large" }', 'when.attributes = { size = ["large", "huge"] }'),
        ('when.attributes = { size = "large" }', 'when.attributes = { hazard = "large" }'),
        ('when.language = ["es-MX"]', 'when.language = ["es"]'),
        ("when.vulnerable = true", "when.vulnerable = false"),
        ('when.within_hours = "city-hall"', 'when.within_hours = "24x7"'),
        ('when.within_hours = "city-hall"', 'when.outside_hours = "city-hall"'),
        ('when.district = "ward-1"', 'when.district = ["ward-1", "ward-2"]'),
        ('when.accessibility = "wheelchair"', 'when.accessibility = ["wheelchair", "x"]'),
        ('when.channel = "phone"', 'when.priority = "high"'),
        ('when.case_type = "012"\nwhen.channel = "phone"', 'when.case_type = "012"'),
    ],
)
def test_no_warning_when_the_later_rule_is_not_covered(first: str, second: str) -> None:
    toml = (
        f'[[routing.rules]]\nname = "first"\n{first}\nthen.queue = "pw"\n'
        f'[[routing.rules]]\nname = "second"\n{second}\nthen.queue = "pw"\n'
    )
    assert warnings(toml) == ()
    assert warnings('[routing]\nmode = "highest_score"\n' + toml) == ()


def test_highest_score_warnings_weigh_the_scores() -> None:
    body = """
        [[routing.rules]]
        name = "narrow"
        score = {narrow}
        when.case_type = "012"
        when.keywords = "gas"
        then.queue = "pw"
        [[routing.rules]]
        name = "broad"
        score = {broad}
        when.case_type = ["012", "013"]
        then.queue = "pw"
    """
    mode = '[routing]\nmode = "highest_score"\n'
    assert warnings(mode + body.format(narrow=5, broad=10)) == (
        'routing.rules[0] "narrow" can never fire: routing.rules[1] "broad" matches every '
        "case it matches and has a higher score (10 > 5)",
    )
    assert warnings(mode + body.format(narrow=10, broad=5)) == ()
    assert warnings(mode + body.format(narrow=5, broad=5)) == ()  # the narrow one comes first
    # In first_match mode, the scores do not count and the narrow rule comes first.
    assert warnings(body.format(narrow=5, broad=10)) == ()


def test_covers_is_conservative_across_kinds() -> None:
    assert not KeywordsCondition(("gas",)).covers(NoneKeywordsCondition(("gas",)))
    assert not CaseTypeCondition(("012",)).covers(DepartmentCondition(("public-works",)))
    assert not DepartmentCondition(("public-works",)).covers(CaseTypeCondition(("012",)))
    mapped = DepartmentCondition(("public-works",), case_type_departments={"012": "public-works"})
    assert mapped.covers(CaseTypeCondition(("012",)))
    assert not mapped.covers(CaseTypeCondition(("012", "999")))
    assert not WithinHoursCondition(OFFICE).covers(WithinHoursCondition(ALWAYS))
    assert AttributesCondition({"count": 3}).covers(AttributesCondition({"count": 3.0}))
    assert AttributesCondition({"count": "3"}).covers(AttributesCondition({"count": 3}))
    assert not AttributesCondition({"count": 3}).covers(AttributesCondition({"count": "3"}))
    assert Rule(name="a", queue="q").covers(Rule(name="b", queue="q"))
    built = RuleSet((Rule(name="a", queue="q"), Rule(name="b", queue="q")))
    assert built.warnings == (
        'rules[1] "b" can never fire: rules[0] "a" matches every case it matches and comes first',
    )
    assert hash(built) == hash(RuleSet((Rule(name="a", queue="q"), Rule(name="b", queue="q"))))
    assert not Rule(name="a", queue="q", conditions=(VulnerableCondition(True),)).covers(
        Rule(name="b", queue="q")
    )


# --------------------------------------------------------------------------------------
# The index against a naive reference

CASE_TYPES = ["a", "b", "c", "d"]
WORDS = ["gas", "leak", "tree", "wire", "été", "noise", "dog"]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def naive_found(keyword: str, text: str) -> bool:
    """The keyword's words in a row, as whole words, by a regular expression."""
    words = re.findall(r"\w+", _fold(keyword))
    pattern = r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)"
    return re.search(pattern, _fold(text)) is not None


def naive_number(value: object) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value.strip()):
        return float(value)
    return None


def naive_attribute(value: object, patterns: tuple[object, ...]) -> bool:
    if value is None:
        return False
    if isinstance(value, tuple):
        return any(naive_attribute(v, patterns) for v in value)
    for pattern in patterns:
        if value == pattern and type(value) is type(pattern):
            return True
        a, b = naive_number(value), naive_number(pattern)
        if a is not None and b is not None and a == b:
            return True
    return False


def naive_holds(condition: Condition, f: RoutingFacts) -> bool:
    match condition:
        case CaseTypeCondition(values=values):
            return f.case_type in values
        case DepartmentCondition(values=values):
            return f.department in values
        case PriorityCondition(values=values):
            return f.priority in values
        case MinPriorityCondition(value=value):
            return f.priority >= value
        case ChannelCondition(values=values):
            return f.channel in values
        case KeywordsCondition(keywords=keywords):
            return any(naive_found(k, f.text) for k in keywords)
        case AllKeywordsCondition(keywords=keywords):
            return all(naive_found(k, f.text) for k in keywords)
        case NoneKeywordsCondition(keywords=keywords):
            return not any(naive_found(k, f.text) for k in keywords)
        case AttributesCondition(values=values):
            return all(naive_attribute(f.attributes.get(code), p) for code, p in values)
        case LanguageCondition(values=values):
            if f.language is None:
                return False
            mine = f.language.lower().split("-")
            return any(mine[: len(t.split("-"))] == t.lower().split("-") for t in values)
        case VulnerableCondition(value=value):
            return f.vulnerable == value
        case AccessibilityCondition(values=values):
            return any(need in values for need in f.accessibility_needs)
        case DistrictCondition(values=values):
            return any(d in f.districts for d in values)
        case WithinHoursCondition(calendar=calendar):
            return calendar.is_open(f.at)
        case OutsideHoursCondition(calendar=calendar):
            return not calendar.is_open(f.at)
    raise AssertionError(condition)


def naive_matches(ruleset: RuleSet, f: RoutingFacts) -> list[bool]:
    return [all(naive_holds(c, f) for c in rule.conditions) for rule in ruleset.rules]


def naive_winner(ruleset: RuleSet, f: RoutingFacts) -> str | None:
    matched = [r for r, ok in zip(ruleset.rules, naive_matches(ruleset, f), strict=True) if ok]
    if not matched:
        return None
    if ruleset.mode is RoutingMode.FIRST_MATCH:
        return matched[0].name
    best = max(r.score for r in matched)
    return next(r.name for r in matched if r.score == best)


def sample(items: list[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(st.sampled_from(items), min_size=1, max_size=3, unique=True).map(tuple)


PHRASES = [*WORDS, "gas leak", "tree wire", "Été dog"]
ATTRIBUTE_VALUES: list[Any] = ["3", "3.0", "x", "large", 3, 2.5, "2.5"]
LANGUAGES = ["es", "es-MX", "EN", "zh-Hans", "zh", "zh-Hant-TW", "vi"]

conditions = st.one_of(
    sample(CASE_TYPES).map(CaseTypeCondition),
    sample(["d1", "d2"]).map(DepartmentCondition),
    sample(list(Priority)).map(PriorityCondition),
    st.sampled_from(list(Priority)).map(MinPriorityCondition),
    sample([Channel.PHONE, Channel.WEB, Channel.EMAIL]).map(ChannelCondition),
    sample(PHRASES).map(KeywordsCondition),
    sample(PHRASES).map(AllKeywordsCondition),
    sample(PHRASES).map(NoneKeywordsCondition),
    st.dictionaries(st.sampled_from(["size", "count"]), sample(ATTRIBUTE_VALUES), min_size=1).map(
        AttributesCondition
    ),
    sample(LANGUAGES).map(LanguageCondition),
    st.booleans().map(VulnerableCondition),
    sample(["interpreter", "wheelchair"]).map(AccessibilityCondition),
    sample(["w1", "w2", "w3"]).map(DistrictCondition),
    st.just(WithinHoursCondition(OFFICE)),
    st.just(OutsideHoursCondition(OFFICE)),
)


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    count = draw(st.integers(0, 8))
    made = []
    for i in range(count):
        made.append(
            Rule(
                name=f"r{i}",
                score=draw(st.integers(0, 3)),
                conditions=tuple(draw(st.lists(conditions, max_size=3))),
                queue=f"q{i}",
            )
        )
    return RuleSet(tuple(made), draw(st.sampled_from(list(RoutingMode))))


@st.composite
def random_facts(draw: st.DrawFn) -> RoutingFacts:
    words = draw(st.lists(st.sampled_from([*WORDS, "Gas", "LEAK", "Ete\u0301", "x"]), max_size=6))
    seps = draw(
        st.lists(
            st.sampled_from([" ", "  ", ", ", "-", "\n", "!", "_"]),
            min_size=len(words),
            max_size=len(words),
        )
    )
    text = "".join(w + s for w, s in zip(words, seps, strict=True))
    attributes: Mapping[str, Any] = draw(
        st.dictionaries(
            st.sampled_from(["size", "count"]),
            st.one_of(st.sampled_from(ATTRIBUTE_VALUES), st.just(("x", "large"))),
        )
    )
    return RoutingFacts(
        case_type=draw(st.sampled_from([*CASE_TYPES, "z"])),
        department=draw(st.sampled_from([None, "d1", "d2"])),
        priority=draw(st.sampled_from(list(Priority))),
        channel=draw(st.sampled_from([Channel.PHONE, Channel.WEB, Channel.EMAIL])),
        text=text,
        attributes=attributes,
        language=draw(st.sampled_from([None, *LANGUAGES, "es-419", "zh-Hans-CN"])),
        vulnerable=draw(st.booleans()),
        accessibility_needs=draw(
            st.lists(st.sampled_from(["interpreter", "wheelchair", "x"]), max_size=2)
        ),
        districts=draw(st.frozensets(st.sampled_from(["w1", "w2", "w3"]))),
        at=draw(st.sampled_from([OPEN_AT, CLOSED_AT])),
    )


@settings(max_examples=200)
@given(rule_sets(), st.lists(random_facts(), min_size=1, max_size=5))
def test_the_index_routes_like_a_naive_loop_over_every_rule(
    ruleset: RuleSet, cases: list[RoutingFacts]
) -> None:
    flagged = {w.split('"')[1] for w in ruleset.warnings}  # the rules that never fire
    for f in cases:
        decision = ruleset.route(f)
        assert decision.rule == naive_winner(ruleset, f)
        assert decision.rule not in flagged
        matches = naive_matches(ruleset, f)
        outcomes = decision.outcomes()
        assert [o.rule for o in outcomes] == [r.name for r in ruleset.rules]
        winner = next((i for i, r in enumerate(ruleset.rules) if r.name == decision.rule), None)
        for i, (rule, outcome, ok) in enumerate(zip(ruleset.rules, outcomes, matches, strict=True)):
            if ruleset.mode is RoutingMode.FIRST_MATCH and winner is not None and i > winner:
                assert outcome == RuleOutcome(
                    rule.name, False, (), f"not evaluated: rule {decision.rule} already matched"
                )
                continue
            assert outcome.matched is ok
            if ok:
                assert len(outcome.evidence) == len(rule.conditions)
                assert outcome.reason is None
            else:
                first_failing = next(c for c in rule.conditions if not naive_holds(c, f))
                assert outcome.reason == first_failing.why_not(f, Tokens.of(f.text))
                assert outcome.reason is not None
                assert outcome.reason.startswith(first_failing.name + ": ")
        if winner is not None:
            assert decision.evidence == outcomes[winner].evidence
            assert decision.queue == ruleset.rules[winner].queue
        matched = [r.name for r, ok in zip(ruleset.rules, matches, strict=True) if ok]
        if ruleset.mode is RoutingMode.FIRST_MATCH:
            matched = matched[:1]
        assert decision.summary()["matched"] == ",".join(matched)


DEPARTMENT_OF = {"a": "d1", "b": "d1", "c": "d2", "d": "d2"}
FEW_PHRASES = ["gas", "leak", "gas leak", "tree", "tree gas"]

#: Conditions that may cover one another, by group.
RELATED: dict[str, list[st.SearchStrategy[Condition]]] = {
    "case_type": [sample(CASE_TYPES).map(CaseTypeCondition)],
    "department": [
        sample(["d1", "d2"]).map(
            lambda v: DepartmentCondition(v, case_type_departments=DEPARTMENT_OF)
        ),
        sample(CASE_TYPES).map(CaseTypeCondition),
    ],
    "priority": [
        sample(list(Priority)).map(PriorityCondition),
        st.sampled_from(list(Priority)).map(MinPriorityCondition),
    ],
    "channel": [sample([Channel.PHONE, Channel.WEB, Channel.EMAIL]).map(ChannelCondition)],
    "keywords": [
        sample(FEW_PHRASES).map(KeywordsCondition),
        sample(FEW_PHRASES).map(AllKeywordsCondition),
    ],
    "none_keywords": [sample(FEW_PHRASES).map(NoneKeywordsCondition)],
    "attributes": [
        st.dictionaries(
            st.sampled_from(["size", "count"]), sample(ATTRIBUTE_VALUES), min_size=1
        ).map(AttributesCondition)
    ],
    "language": [sample(LANGUAGES).map(LanguageCondition)],
    "vulnerable": [st.booleans().map(VulnerableCondition)],
    "accessibility": [sample(["interpreter", "wheelchair"]).map(AccessibilityCondition)],
    "district": [sample(["w1", "w2", "w3"]).map(DistrictCondition)],
    "hours": [
        st.sampled_from([OFFICE, ALWAYS]).map(WithinHoursCondition),
        st.sampled_from([OFFICE, ALWAYS]).map(OutsideHoursCondition),
    ],
}
related_pairs = st.sampled_from(sorted(RELATED)).flatmap(
    lambda group: st.tuples(st.one_of(RELATED[group]), st.one_of(RELATED[group]))
)


def _fact_pool(size: int, seed: int) -> list[RoutingFacts]:
    """Facts over the same small vocabularies, each department its case type's."""
    rnd = random.Random(seed)
    words = ["gas", "leak", "tree", "x", "Gas", "LEAK"]
    pool = []
    for _ in range(size):
        case_type = rnd.choice([*CASE_TYPES, "z"])
        pool.append(
            RoutingFacts(
                case_type=case_type,
                department=DEPARTMENT_OF.get(case_type),
                priority=rnd.choice(list(Priority)),
                channel=rnd.choice([Channel.PHONE, Channel.WEB, Channel.EMAIL]),
                text=" ".join(rnd.choices(words, k=rnd.randint(0, 4))),
                attributes={
                    code: rnd.choice([*ATTRIBUTE_VALUES, ("x", "large")])
                    for code in rnd.sample(["size", "count"], rnd.randint(0, 2))
                },
                language=rnd.choice([None, *LANGUAGES, "es-419", "zh-Hans-CN"]),
                vulnerable=rnd.random() < 0.5,
                accessibility_needs=tuple(
                    rnd.sample(["interpreter", "wheelchair", "x"], rnd.randint(0, 2))
                ),
                districts=frozenset(rnd.sample(["w1", "w2", "w3"], rnd.randint(0, 2))),
                at=rnd.choice([OPEN_AT, CLOSED_AT]),
            )
        )
    return pool


FACT_POOL = _fact_pool(250, seed=7)


@settings(max_examples=500)
@given(related_pairs)
def test_covers_is_sound(pair: tuple[Condition, Condition]) -> None:
    """Whatever ``b`` accepts, a condition that covers it accepts too."""
    a, b = pair
    if a.covers(b):
        for f in FACT_POOL:
            if naive_holds(b, f):
                assert naive_holds(a, f), f


def test_a_decision_compares_by_its_actions() -> None:
    ruleset = one_rule('when.case_type = "012"')
    a, b = ruleset.route(facts(text="a")), ruleset.route(facts(text="b"))
    assert a == b
    assert isinstance(a, RoutingDecision)
    assert "ruleset" not in repr(a)
