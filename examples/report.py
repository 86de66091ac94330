"""
KPI reports on the Springfield example profile.

    python examples/report.py [FOLDER]

Builds a small database in FOLDER (default: a temporary folder): four weeks of pothole
reports and bulk item pickups, worked by two agents on a clock the example moves itself, some
surveyed. Then prints the month's KPIs by queue, writes them as CSV and JSON, and, when
matplotlib (the ``plot`` extra) is installed, as PNG charts.
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import civiccrm
from civiccrm import FixedClock
from civiccrm.models import Agent, CaseStatus, Channel
from civiccrm.profile import load_profile, springfield_path

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday, 8 am in Springfield


def main(folder: Path) -> None:
    profile = load_profile(springfield_path())
    clock = FixedClock(START)
    rng = random.Random(2026)
    with civiccrm.open(f"sqlite:///{folder / 'crm.db'}", profile=profile, clock=clock) as crm:
        ann = crm.agents.create(Agent(username="ann", display_name="Ann", queues=("pw-streets",)))
        bo = crm.agents.create(Agent(username="bo", display_name="Bo", queues=("pw-sanitation",)))
        # What happens to each request, when; then played in time order.
        plan: list[tuple[datetime, int, str]] = []
        for n in range(60):
            opened = START + timedelta(hours=rng.uniform(0, 26 * 24))
            plan.append((opened, n, "open"))
            if n % 6 != 5:  # one in six is still waiting
                started = opened + timedelta(hours=rng.uniform(0.5, 30))
                plan.append((started, n, "start"))
                plan.append((started + timedelta(hours=rng.uniform(2, 90)), n, "resolve"))
        cases = {}
        for at, n, step in sorted(plan):
            clock.set(at)
            pothole = n % 3 > 0
            if step == "open":
                case = crm.cases.open(
                    "001" if pothole else "004",  # a pothole, or a bulk item pickup
                    attributes={"size": "large"}
                    if pothole
                    else {"items": ["furniture"], "item_count": 1},
                    channel=rng.choice((Channel.PHONE, Channel.WEB, Channel.MOBILE_APP)),
                )
                cases[n] = crm.cases.assign(case, ann if pothole else bo).id
            elif step == "start":
                crm.cases.transition(cases[n], CaseStatus.IN_PROGRESS)
            else:
                case = crm.cases.transition(cases[n], CaseStatus.RESOLVED, resolution_code="fixed")
                if n % 2 == 0:
                    survey = crm.surveys.issue(case)
                    if n % 4 == 0:
                        crm.surveys.answer(survey.token, rng.choice((3, 4, 5, 5)))

        report = crm.reports.kpis(since=date(2026, 3, 2), until=date(2026, 3, 30), by="queue")
        print(report.table())
        (folder / "kpis.csv").write_text(report.to_csv(), encoding="utf-8")
        (folder / "kpis.json").write_text(report.to_json(), encoding="utf-8")
        print(f"written: {folder / 'kpis.csv'} and {folder / 'kpis.json'}")
        try:
            charts = crm.reports.plot(report, folder / "charts")
        except ImportError as exc:
            print(f"no charts: {exc}")
        else:
            print(f"charts: {', '.join(p.name for p in charts)}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
