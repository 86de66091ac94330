"""
Validate web-form intakes against an agency profile, the way a front end would.

Each intake names a service code, the answers to its questions and who is asking.
Good intakes become Case and Citizen records; bad ones get every problem back, each
with the path of the form field, ready to show next to that field.

Run it:

    python examples/validate_intake.py                 # the sample intakes below
    python examples/validate_intake.py intakes.json    # a JSON list of your own
    CIVICCRM_PROFILE=my-agency.toml python examples/validate_intake.py
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from civiccrm import NotFoundError, Problem, ValidationError, load_profile
from civiccrm.models import Case, Channel, Citizen, Location, structure
from civiccrm.profile import Profile, springfield_path

SAMPLES: list[dict[str, Any]] = [
    {
        "service_code": "001",
        "answers": {"size": "large", "position": "travel_lane"},
        "address": "1200 Monroe St",
        "citizen": {
            "given_name": "Ana",
            "contact_points": [{"kind": "phone", "value": "(217) 555-0134"}],
        },
    },
    {
        "service_code": "001",
        "answers": {"size": "enormous", "colour": "grey"},
        "citizen": {
            "given_name": "",
            "contact_points": [{"kind": "email", "value": "ana-at-example.org"}],
        },
    },
    {"service_code": "999", "answers": {}},
]


def accept(profile: Profile, intake: dict[str, Any], now: datetime) -> tuple[Case, Citizen | None]:
    """Turn one intake into records, or raise ValidationError listing every problem."""
    problems: list[Problem] = []
    try:
        case_type = profile.case_type(str(intake.get("service_code")))
    except NotFoundError as exc:
        raise ValidationError.at("service_code", str(exc)) from None
    try:
        answers = case_type.validate_attributes(intake.get("answers", {}))
    except ValidationError as exc:
        problems.extend(exc.problems)
        answers = {}
    citizen = None
    if "citizen" in intake:
        try:
            citizen = structure(
                intake["citizen"], Citizen, default_region=profile.agency.default_region
            )
        except ValidationError as exc:
            problems.extend(p.prefixed("citizen") for p in exc.problems)
    if problems:
        raise ValidationError(problems, record_type="intake")
    case = Case(
        case_type=case_type.code,
        channel=Channel.WEB,
        priority=case_type.default_priority,
        queue=case_type.queue,
        requester=citizen.ref if citizen else None,
        location=Location(address=intake["address"]) if intake.get("address") else None,
        attributes=answers,
        reported_at=now,
        opened_at=now,
    )
    return case, citizen


def main(argv: list[str]) -> int:
    profile = load_profile(os.environ.get("CIVICCRM_PROFILE") or springfield_path())
    intakes = json.loads(Path(argv[1]).read_text(encoding="utf-8")) if len(argv) > 1 else SAMPLES
    now = datetime.now(UTC)
    rejected = 0
    for n, intake in enumerate(intakes, 1):
        try:
            case, citizen = accept(profile, intake, now)
        except ValidationError as exc:
            rejected += 1
            print(f"intake {n}: rejected")
            for message in exc.messages():
                print(f"  - {message}")
        else:
            who = citizen.display_name if citizen else "anonymous"
            name = profile.case_type(case.case_type).name
            print(
                f"intake {n}: accepted: {name} for {who}, queue {case.queue}, answers {case.attributes}"
            )
    print(f"{len(intakes) - rejected} accepted, {rejected} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
