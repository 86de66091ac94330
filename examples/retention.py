"""
Retention, legal holds and data-subject requests on the Springfield example profile.

    python examples/retention.py [FOLDER]

Builds a small database in FOLDER (default: a temporary folder) with ten years of
closed street requests and benefit applications, places a legal hold, plans and applies
the profile's retention schedules as of 2026, prints the disposition certificate, then
answers a subject-access request and an erasure request.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import civiccrm
from civiccrm import FixedClock
from civiccrm.models import AttributeValue, Case, CaseStatus, Citizen
from civiccrm.profile import load_profile, springfield_path

START = datetime(2016, 1, 4, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
BENEFIT: dict[str, AttributeValue] = {
    "household_size": 3,
    "amount_past_due": 1840,
    "eviction_status": "notice",
}


def main(folder: Path) -> None:
    profile = load_profile(springfield_path())
    clock = FixedClock(START)
    with civiccrm.open(f"sqlite:///{folder / 'crm.db'}", profile=profile, clock=clock) as crm:
        ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
        bo = crm.citizens.create(Citizen(given_name="Bo", family_name="Chen"))
        cy = crm.citizens.create(Citizen(given_name="Cy", family_name="Ito"))  # no cases
        cases = []
        for n in range(120):
            opened = START + timedelta(days=30 * n)
            benefit = n % 4 == 0
            cases.append(
                Case(
                    case_type="020" if benefit else "001",
                    attributes=BENEFIT if benefit else {"size": "small"},
                    title=f"Request {n}",
                    status=CaseStatus.CLOSED,
                    opened_at=opened,
                    resolved_at=opened + timedelta(days=3),
                    closed_at=opened + timedelta(days=4),
                    requester=(ana if n % 2 else bo).ref,
                    external_ids={"legacy": f"L-{n}"},
                )
            )
        crm.cases.bulk_import(cases)
        clock.set(NOW)
        hold = crm.retention.place_hold(
            reason="Chen v. City of Springfield", authority="City Attorney", parties=[bo.id]
        )
        print(f"legal hold on Bo Chen's records: {hold.id}")

        plan = crm.retention.plan(out=folder / "plan.csv")
        print(f"plan: {plan.due} due, {plan.held} held")
        for code, counts in plan.counts.items():
            print(f"  {code}: {dict(sorted(counts.items()))}")

        run = crm.retention.apply(key="2026-11", archive_dir=folder / "archive")
        certificate = crm.retention.certificate(run.id)
        print(f"run {run.id}: {certificate['disposed']} disposed of, digest {run.digest[:16]}...")
        for schedule in certificate["schedules"]:
            print(f"  {schedule['code']} ({schedule['authority']}): {schedule['counts']}")
        again = crm.retention.apply(key="2026-11")
        print(f"the same run again disposes of nothing more: {again.disposed}")

        export = crm.subjects.access(ana, folder / "sar", request="DSR-2026-0042")
        print(f"subject-access export for Ana: {dict(export.counts)}")
        print(f"  written to {export.json_path.name} and {export.html_path.name}")

        for who in (bo, ana, cy):
            decision = crm.subjects.erase(who, request="DSR-2026-0043")
            if decision.erased:
                print(f"erasure of {who.given_name}: done")
            else:
                grounds = ", ".join(sorted({r.ground.value for r in decision.refusals}))
                print(f"erasure of {who.given_name}: refused ({grounds})")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
