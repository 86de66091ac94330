"""The demo: a realistic agency database built from the workload generator."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from civiccrm._progress import Progress
from civiccrm._workload import FAMILY_NAMES, GIVEN_NAMES, WorkloadGenerator
from civiccrm.crm import CRM
from civiccrm.models import Agent, Case, CaseStatus, Channel, Citizen, Direction, Interaction

__all__ = ["build_demo"]

DEMO_SOURCE = "demo"


#: Skills some agents of each queue have (what the Springfield routing rules ask for).
_QUEUE_SKILLS: Final = {
    "pw-traffic": ("electrical",),
    "pw-water": ("on-call",),
    "pw-sanitation": ("hazmat",),
    "ph-environmental": ("hazmat",),
    "hs-intake": ("safeguarding",),
    "hs-housing": ("safeguarding",),
    "hs-seniors": ("safeguarding",),
    "as-field": ("rabies",),
}


def _agents(crm: CRM, rng: random.Random) -> list[Agent]:
    """
    Two to four agents per queue and a supervisor per department (out of the
    rotation), created once. Most agents hold up to 80 open cases, a few part-timers
    25; some have their queue's special skill, a fifth speak Spanish; the water crews
    work around the clock.
    """
    agents = []
    wanted: list[Agent] = []
    for queue in crm.profile.queues:
        skills = _QUEUE_SKILLS.get(queue.code, ())
        for n in range(rng.randint(2, 4)):
            name = f"{rng.choice(GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}"
            wanted.append(
                Agent(
                    username=f"{queue.code}-{n + 1}",
                    display_name=name,
                    queues=(queue.code,),
                    skills=skills if n % 2 == 0 else (),
                    languages=("en", "es") if rng.random() < 0.2 else ("en",),
                    capacity=25 if rng.random() < 0.15 else 80,
                    calendar="around-the-clock" if queue.code == "pw-water" else None,
                )
            )
    for department in crm.profile.departments:
        name = f"{rng.choice(GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}"
        wanted.append(
            Agent(
                username=f"{department.code}-supervisor",
                display_name=name,
                role="supervisor",
                queues=tuple(q.code for q in crm.profile.queues if q.department == department.code),
                languages=("en",),
                in_rotation=False,
            )
        )
    for agent in wanted:
        existing = crm.agents.find_by_username(agent.username)
        agents.append(existing if existing is not None else crm.agents.create(agent))
    return agents


def build_demo(crm: CRM, *, cases: int, seed: int, as_of: datetime) -> dict[str, Any]:
    """
    Fill ``crm`` with a seeded workload: citizens, agents, ``cases`` cases imported in
    bulk, and a share of them worked through the lifecycle. A database that already
    holds the demo is left as it is. Returns what was done.
    """
    if crm.cases.find_by_external_id(DEMO_SOURCE, "SR-1") is not None:
        return {"created": False}
    gen = WorkloadGenerator(crm.profile, seed=seed, now=as_of)
    rng = random.Random(seed + 1)
    agents = _agents(crm, rng)

    n_citizens = max(1, cases // 4)
    citizens: list[Citizen] = []

    def citizen_stream() -> Iterator[Citizen]:
        with Progress(n_citizens, "citizens") as bar:
            for n, c in enumerate(gen.citizens(n_citizens), 1):
                c = attrs.evolve(c, external_ids={DEMO_SOURCE: f"C-{n}"})
                citizens.append(c)
                bar.advance()
                yield c

    crm.citizens.bulk_import(citizen_stream())
    # Ids are derived from the import keys: load them back as stored.
    stored_citizens = [
        crm.citizens.find_by_external_id(DEMO_SOURCE, f"C-{n}") for n in range(1, n_citizens + 1)
    ]
    parties = [c for c in stored_citizens if c is not None]

    def case_stream() -> Iterator[Case]:
        with Progress(cases, "cases") as bar:
            for n in range(1, cases + 1):
                case = gen.case(parties)
                yield attrs.evolve(
                    case, reference=f"SR-{n:06d}", external_ids={DEMO_SOURCE: f"SR-{n}"}
                )
                bar.advance()

    # Every case is routed as it is imported, by the profile's rules, each decision
    # explained in its history (assignment comes as cases are worked).
    imported = crm.cases.bulk_import(case_stream(), route=True)

    # Work about 40% of the cases through their lifecycle, each given to an agent by
    # the assignment pipeline (a case nobody can take waits in its queue).
    plan = rng.sample(range(1, cases + 1), k=int(cases * 0.4))
    worked: Counter[str] = Counter()
    with Progress(len(plan), "working cases") as bar:
        for start in range(0, len(plan), 200):
            with crm.transaction():
                for n in plan[start : start + 200]:
                    case = crm.cases.find_by_external_id(DEMO_SOURCE, f"SR-{n}")
                    if case is None or case.status is not CaseStatus.NEW:
                        bar.advance()
                        continue
                    worked[_work(crm, case, rng)] += 1
                    bar.advance()
    return {
        "created": True,
        "citizens": n_citizens,
        "agents": len(agents),
        "cases_imported": imported.inserted,
        "cases_worked": dict(worked.most_common()),
    }


def _work(crm: CRM, case: Case, rng: random.Random) -> str:
    """Move one case along its lifecycle to a random point."""
    outcome = crm.routing.assign(case)
    if outcome.case.assignee is None:
        return "waiting"
    case = outcome.case
    roll = rng.random()
    if roll < 0.1:
        return case.status.value
    case = crm.cases.transition(case, CaseStatus.IN_PROGRESS)
    if case.requester is not None and rng.random() < 0.5:
        crm.interactions.log(
            Interaction(
                channel=rng.choice((Channel.PHONE, Channel.EMAIL, Channel.SMS)),
                direction=Direction.OUTBOUND,
                occurred_at=crm.clock.now(),
                party=case.requester,
                case_id=case.id,
                subject="About your request",
                body="We are working on your request and will update you soon.",
            )
        )
        # Logging it updated the case (its first response, its SLA plan): load it again.
        case = crm.cases.get(case.id)
    if roll < 0.25:
        return case.status.value
    if roll < 0.35:
        note = "Waiting on the resident"
        return crm.cases.transition(case, CaseStatus.PENDING, note=note).status.value
    case = crm.cases.transition(case, CaseStatus.RESOLVED, resolution_code="completed")
    if roll < 0.6:
        return case.status.value
    return crm.cases.transition(case, CaseStatus.CLOSED).status.value


def demo_as_of(now: datetime) -> datetime:
    """The demo's reference time: today's start in UTC, so runs on one day agree."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(seconds=1)
