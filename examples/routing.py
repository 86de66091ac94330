"""
Routing, assignment and duplicates, end to end, with the Springfield profile: a
streetlight with exposed wires goes to the one electrician on the traffic team; a
second report of the same light is proposed as a duplicate, accepted, and resolved
with the first; a case nobody can take waits in its queue with the reason; a whole
caseload is handed over in bulk; and the automations close what was resolved a week
ago.

    python examples/routing.py [FOLDER]

Builds ``routing-example.db`` in FOLDER (a new temporary folder by default).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import civiccrm
from civiccrm import FixedClock
from civiccrm.models import Agent, CaseStatus, Citizen, Location
from civiccrm.profile import springfield_path

# Tuesday 10 March 2026, 10:00 in Springfield: City Hall is open.
START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
POLE = Location(address="Monroe St & 5th St", latitude=39.8012, longitude=-89.6501)


def main(folder: Path) -> None:
    clock = FixedClock(START)
    url = f"sqlite:///{folder / 'routing-example.db'}"
    with civiccrm.open(url, profile=springfield_path(), clock=clock) as crm:
        crm.agents.create(Agent(username="ray", display_name="Ray", queues=("pw-traffic",)))
        eve = crm.agents.create(
            Agent(
                username="eve",
                display_name="Eve",
                queues=("pw-traffic",),
                skills=("electrical",),
                capacity=5,
            )
        )
        ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Ruiz"))
        ben = crm.citizens.create(Citizen(given_name="Ben", family_name="Cho"))

        # 1. Routing and assignment, explained.
        first = crm.cases.open(
            "002",
            requester=ana,
            location=POLE,
            attributes={"problem": "exposed_wires", "pole_number": "SL-1187"},
            reference="SR-1",
        )
        print(f"SR-1: priority {first.priority.value}, tags {list(first.tags)}, ", end="")
        print(f"assigned to {'eve' if first.assignee == eve.id else first.assignee}")
        print(crm.routing.explain(first))

        # 2. The same light, reported again 40 minutes later, 9 metres away.
        clock.advance(minutes=40)
        second = crm.cases.open(
            "002",
            requester=ben,
            location=Location(latitude=39.8012, longitude=-89.6500),
            attributes={"problem": "out"},
            reference="SR-2",
        )
        (candidate,) = crm.cases.duplicates(second)
        print(
            f"SR-2 may duplicate {candidate.reference}: {candidate.distance_m:.0f} m and "
            f"{candidate.hours_apart * 60:.0f} minutes apart"
        )
        crm.cases.accept_duplicate(second, first.id)
        crm.cases.transition(first.id, CaseStatus.RESOLVED, resolution_code="repaired")
        follower = crm.cases.get(second.id)
        requesters = [r.id for r in crm.cases.requesters(first.id)]
        print(
            f"SR-1 resolved: SR-2 is {follower.status.value} ({follower.resolution_code}); "
            f"requesters told: {len(requesters)}"
        )

        # 3. Nobody can take a case: it waits in its queue, and the reason is recorded.
        stray = crm.cases.open("035", reference="SR-3")
        print(f"SR-3: {stray.status.value} in {stray.queue}, assignee {stray.assignee}")
        print(
            next(line for line in crm.routing.explain(stray).splitlines() if "unassigned" in line)
        )

        # 4. Eve goes on leave: her open cases go to Ray (a dry run first), under an
        #    idempotency key, so running it again changes nothing.
        sr4 = crm.cases.open("002", attributes={"problem": "out"}, reference="SR-4")
        owner = "eve" if sr4.assignee == eve.id else "ray"
        print(f"SR-4 assigned to {owner}")
        plan = crm.bulk.reassign(
            "eve", to_agent="ray", key="eve-leave", dry_run=True, progress=False
        )
        print(f"dry run: {plan.selected} open case(s) of eve would move to ray")
        done = crm.bulk.reassign("eve", to_agent="ray", key="eve-leave", progress=False)
        again = crm.bulk.reassign("eve", to_agent="ray", key="eve-leave", progress=False)
        print(f"moved {done.changed}; run again: already done = {again.already_done}")

        # 5. A week later the automations close what was resolved.
        clock.set(START + timedelta(days=8))
        report = crm.automations.run()
        print(f"automations: {report.closed} resolved case(s) closed")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
