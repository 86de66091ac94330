"""The demo: a realistic agency database built from the workload generator."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from civiccrm._progress import Progress
from civiccrm._workload import FAMILY_NAMES, GIVEN_NAMES, WorkloadGenerator
from civiccrm.crm import CRM
from civiccrm.models import Agent, Case, CaseStatus, Channel, Citizen, Direction, Interaction

__all__ = ["build_demo"]

DEMO_SOURCE = "demo"


def _agents(crm: CRM, rng: random.Random) -> list[Agent]:
    """Two to four agents per queue, created once."""
    agents = []
    for queue in crm.profile.queues:
        for n in range(rng.randint(2, 4)):
            username = f"{queue.code}-{n + 1}"
            existing = crm.agents.find_by_username(username)
            if existing is not None:
                agents.append(existing)
                continue
            name = f"{rng.choice(GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}"
            agents.append(
                crm.agents.create(
                    Agent(
                        username=username,
                        display_name=name,
                        queues=(queue.code,),
                        languages=("en", "es") if rng.random() < 0.2 else ("en",),
                        capacity=40,
                    )
                )
            )
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
    by_queue: dict[str | None, list[Agent]] = {}
    for agent in agents:
        for q in agent.queues:
            by_queue.setdefault(q, []).append(agent)

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

    imported = crm.cases.bulk_import(case_stream())

    # Work about 40% of the cases through their lifecycle.
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
                    worked[_work(crm, case, by_queue, rng).value] += 1
                    bar.advance()
    return {
        "created": True,
        "citizens": n_citizens,
        "agents": len(agents),
        "cases_imported": imported.inserted,
        "cases_worked": dict(worked.most_common()),
    }


def _work(
    crm: CRM, case: Case, by_queue: dict[str | None, list[Agent]], rng: random.Random
) -> CaseStatus:
    """Move one case along its lifecycle to a random point."""
    team = by_queue.get(case.queue)
    if not team:
        return case.status
    case = crm.cases.assign(case, rng.choice(team))
    roll = rng.random()
    if roll < 0.1:
        return case.status
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
        return case.status
    if roll < 0.35:
        return crm.cases.transition(case, CaseStatus.PENDING, note="Waiting on the resident").status
    case = crm.cases.transition(case, CaseStatus.RESOLVED, resolution_code="completed")
    if roll < 0.6:
        return case.status
    return crm.cases.transition(case, CaseStatus.CLOSED).status


def demo_as_of(now: datetime) -> datetime:
    """The demo's reference time: today's start in UTC, so runs on one day agree."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(seconds=1)
