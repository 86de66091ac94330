"""
Routing rules and duplicate lookup, side by side with naive evaluation.

    python benchmarks/routing.py [--cases N] [--open 1000000] [--db-cases N] [--json]

1. **Rules.** Rule sets of 10, 100 and 1,000 rules, written as an agency writes them
   (TOML tables parsed by the profile loader) over the Springfield case types: each
   names one to three case types and adds keyword, priority, channel, attribute or
   requester conditions. N cases from the seeded workload generator (titles and
   descriptions included) are routed by ``RuleSet.route`` (compiled: rules indexed by
   case type, the text tokenized once, keywords looked up in sets) and by a naive
   first-match loop over every rule in order (the same conditions, no index), which
   is what a plain rules engine does. Also timed: ``route`` plus ``explain()`` (the
   full explanation the CRM stores with every decision). One process, one core.
   Target: at least 100,000 cases a second at 100 rules.

2. **Duplicate lookup** among 1,000,000 open place-based cases over the Springfield
   box (20 case types, 90 days): ``DuplicateIndex.near`` (a spatial grid) against
   ``scan_near`` (every entry checked), radius 50 m, 168 hours.
   Target: under 1 ms a lookup.

3. **Duplicate lookup in the database** (``--db-cases``, default 200,000; 0 to skip):
   ``crm.cases.duplicates(case)`` on SQLite, through the blind-indexed grid cell
   column, decrypting only the candidates.

With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import civiccrm
from civiccrm._workload import SPRINGFIELD_BOX, WorkloadGenerator
from civiccrm.models import AttributeDatatype, Case, Channel, Location, Priority
from civiccrm.profile import load_profile, springfield_path
from civiccrm.routing.geo import DuplicateIndex, scan_near
from civiccrm.routing.rules import RoutingFacts, RuleSet, Tokens, parse_rules

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
RULE_COUNTS = (10, 100, 1000)
TARGET_RATE = 100_000
TARGET_LOOKUP_MS = 1.0
WORDS = (
    "school",
    "children",
    "flood",
    "gas",
    "smell",
    "again",
    "week",
    "rain",
    "noon",
    "danger",
    "broken",
    "leak",
    "fire",
    "blocked",
    "night",
    "elderly",
    "wheelchair",
    "urgent",
    "complaint",
    "neighbours",
)


def make_rules(profile: Any, n: int, rng: random.Random) -> RuleSet:
    """``n`` rules as TOML tables, parsed by the profile's own loader."""
    types = [ct for ct in profile.case_types if ct.active]
    queues = [q.code for q in profile.queues]
    tables = []
    for i in range(n):
        chosen = rng.sample(types, rng.randint(1, 3))
        when: dict[str, Any] = {"case_type": [ct.code for ct in chosen]}
        kind = rng.random()
        if kind < 0.35:
            when["keywords"] = rng.sample(WORDS, rng.randint(1, 3))
        elif kind < 0.5:
            when["min_priority"] = rng.choice(["normal", "high", "urgent"])
        elif kind < 0.65:
            when["channel"] = rng.sample([c.value for c in Channel], 3)
        elif kind < 0.85:
            lists = [
                a
                for ct in chosen
                for a in ct.attributes
                if a.variable and a.datatype is AttributeDatatype.SINGLEVALUELIST
            ]
            if lists:
                a = rng.choice(lists)
                when["attributes"] = {a.code: rng.choice(a.values).key}
            else:
                when["keywords"] = [rng.choice(WORDS)]
        else:
            when["language"] = ["es"] if rng.random() < 0.5 else ["vi", "ar"]
        then: dict[str, Any] = {"tags": [f"t{i}"]}
        if rng.random() < 0.5:
            then["priority"] = rng.choice(["high", "urgent"])
        if rng.random() < 0.3:
            then["queue"] = rng.choice(queues)
        tables.append({"name": f"rule-{i}", "when": when, "then": then})
    rules, problems = parse_rules(
        {"mode": "first_match", "rules": tables},
        case_types={ct.code: ct.department for ct in profile.case_types},
        departments={d.code for d in profile.departments},
        queues={q.code for q in profile.queues},
        calendars=profile.calendars,
        districts=(),
        attributes={a.code for ct in profile.case_types for a in ct.attributes},
    )
    if rules is None:
        raise SystemExit(f"generated rules do not load: {problems[:3]}")
    return rules


def make_facts(profile: Any, n: int) -> list[RoutingFacts]:
    gen = WorkloadGenerator(profile, seed=11, now=NOW)
    rng = random.Random(12)
    departments = {ct.code: ct.department for ct in profile.case_types}
    facts = []
    for _ in range(n):
        case = gen.case()
        facts.append(
            RoutingFacts(
                case_type=case.case_type,
                department=departments[case.case_type],
                priority=case.priority,
                channel=case.channel,
                text=f"{case.title}\n{case.description}",
                attributes=case.attributes,
                language=rng.choice(("en", "en", "en", "es", "vi")),
                vulnerable=rng.random() < 0.02,
                at=NOW,
            )
        )
    return facts


def naive_route(rules: RuleSet, facts: RoutingFacts) -> str | None:
    """First match over every rule in order: no index, the text tokenized once."""
    tokens = Tokens.of(facts.text)
    for rule in rules.rules:
        if all(c.holds(facts, tokens) for c in rule.conditions):
            return rule.name
    return None


def bench_rules(profile: Any, n_cases: int) -> dict[str, Any]:
    facts = make_facts(profile, n_cases)
    rng = random.Random(2026)
    out: dict[str, Any] = {}
    print(f"routing {n_cases:,} cases (one process, one core)")
    print(
        f"{'rules':>6} {'civiccrm /s':>13} {'µs/case':>8} {'naive /s':>11} {'ratio':>7} "
        f"{'+explain /s':>12}"
    )
    for count in RULE_COUNTS:
        rules = make_rules(profile, count, rng)
        route = rules.route
        # Agreement first: the compiled engine picks what the naive loop picks.
        for f in facts[:2000]:
            assert route(f).rule == naive_route(rules, f), "engines disagree"
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for f in facts:
                route(f)
            best = min(best, time.perf_counter() - t0)
        rate = n_cases / best
        sample = facts[: max(1000, n_cases // 20)]
        t0 = time.perf_counter()
        for f in sample:
            naive_route(rules, f)
        naive_rate = len(sample) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for f in sample:
            route(f).explain()
        explain_rate = len(sample) / (time.perf_counter() - t0)
        matched = sum(1 for f in facts[:5000] if route(f).rule is not None) / min(5000, n_cases)
        print(
            f"{count:>6} {rate:>13,.0f} {1e6 / rate:>8.2f} {naive_rate:>11,.0f} "
            f"{rate / naive_rate:>6.1f}x {explain_rate:>12,.0f}   ({matched:.0%} matched a rule)"
        )
        out[str(count)] = {
            "rate": round(rate),
            "us_per_case": round(1e6 / rate, 3),
            "naive_rate": round(naive_rate),
            "ratio": round(rate / naive_rate, 2),
            "explain_rate": round(explain_rate),
            "matched_share": round(matched, 3),
        }
    growth = out["1000"]["us_per_case"] / out["10"]["us_per_case"]
    print(
        f"cost per case grows {growth:.2f}x from 10 to 1,000 rules (naive: "
        f"{out['10']['naive_rate'] / out['1000']['naive_rate']:.1f}x)"
    )
    met = out["100"]["rate"] >= TARGET_RATE
    print(f"target >= {TARGET_RATE:,}/s at 100 rules: {'met' if met else 'MISSED'}")
    return {"rules": out, "growth_10_to_1000": round(growth, 2), "rules_target_met": met}


def bench_index(n_open: int) -> dict[str, Any]:
    rng = random.Random(7)
    lat_lo, lat_hi, lon_lo, lon_hi = SPRINGFIELD_BOX
    types = [f"{i:03d}" for i in range(1, 21)]
    entries = []
    for i in range(n_open):
        at = NOW - timedelta(seconds=rng.uniform(0, 90 * 86400))
        entries.append(
            (
                f"c{i}",
                rng.choice(types),
                rng.uniform(lat_lo, lat_hi),
                rng.uniform(lon_lo, lon_hi),
                at,
            )
        )
    index = DuplicateIndex()
    t0 = time.perf_counter()
    for e in entries:
        index.add(*e)
    build = time.perf_counter() - t0
    queries = []
    for _ in range(1000):
        base = rng.choice(entries)
        queries.append(
            (
                base[1],
                base[2] + rng.uniform(-3e-4, 3e-4),
                base[3] + rng.uniform(-3e-4, 3e-4),
                base[4] + timedelta(hours=rng.uniform(-24, 24)),
            )
        )
    times = []
    found = 0
    for q in queries:
        t0 = time.perf_counter()
        hits = index.near(*q, radius_m=50, hours=168)
        times.append(time.perf_counter() - t0)
        found += len(hits)
    naive_times = []
    for q in queries[:10]:
        t0 = time.perf_counter()
        slow = scan_near(entries, *q, radius_m=50, hours=168)
        naive_times.append(time.perf_counter() - t0)
        assert slow == index.near(*q, radius_m=50, hours=168), "index and scan disagree"
    ms = statistics.mean(times) * 1000
    p99 = sorted(times)[int(len(times) * 0.99)] * 1000
    naive_ms = statistics.mean(naive_times) * 1000
    print(f"\nduplicate lookup among {n_open:,} open cases (radius 50 m, 168 h)")
    print(f"  index built in {build:.1f} s")
    print(
        f"  civiccrm grid index  {ms:9.4f} ms a lookup (p99 {p99:.4f} ms), "
        f"{found / len(queries):.2f} found on average"
    )
    print(f"  naive scan           {naive_ms:9.1f} ms a lookup")
    print(f"  ratio                {naive_ms / ms:9,.0f}x")
    met = ms < TARGET_LOOKUP_MS
    print(f"  target < {TARGET_LOOKUP_MS} ms: {'met' if met else 'MISSED'}")
    return {
        "open_cases": n_open,
        "index_build_s": round(build, 2),
        "lookup_ms": round(ms, 4),
        "lookup_p99_ms": round(p99, 4),
        "naive_ms": round(naive_ms, 2),
        "ratio": round(naive_ms / ms),
        "lookup_target_met": met,
    }


def bench_db(profile: Any, n: int) -> dict[str, Any]:
    rng = random.Random(9)
    lat_lo, lat_hi, lon_lo, lon_hi = SPRINGFIELD_BOX
    types = sorted({t for rule in profile.duplicates for t in rule.case_types})
    required = {
        ct.code: {
            a.code: (a.values[0].key if a.values else "x")
            for a in ct.attributes
            if a.required and a.variable
        }
        for ct in profile.case_types
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'dup.db'}"
        with civiccrm.open(url, profile=profile, clock=civiccrm.FixedClock(NOW)) as crm:

            def stream() -> Any:
                for i in range(n):
                    ct = rng.choice(types)
                    attrs_ = {
                        k: (["furniture"] if k == "blocking" else v)
                        for k, v in required[ct].items()
                    }
                    yield Case(
                        case_type=ct,
                        location=Location(
                            latitude=rng.uniform(lat_lo, lat_hi),
                            longitude=rng.uniform(lon_lo, lon_hi),
                        ),
                        attributes=attrs_,
                        priority=Priority.NORMAL,
                        opened_at=NOW - timedelta(seconds=rng.uniform(0, 90 * 86400)),
                        external_ids={"bench": str(i)},
                    )

            t0 = time.perf_counter()
            crm.cases.bulk_import(stream())
            build = time.perf_counter() - t0
            probes = [
                Case(
                    case_type=rng.choice(types),
                    location=Location(
                        latitude=rng.uniform(lat_lo, lat_hi), longitude=rng.uniform(lon_lo, lon_hi)
                    ),
                    opened_at=NOW - timedelta(days=rng.uniform(0, 90)),
                )
                for _ in range(500)
            ]
            times = []
            for probe in probes:
                t0 = time.perf_counter()
                crm.cases.duplicates(probe)
                times.append(time.perf_counter() - t0)
    ms = statistics.mean(times) * 1000
    print(f"\nduplicate lookup in SQLite among {n:,} open cases (blind grid cell index)")
    print(
        f"  imported in {build:.1f} s; crm.cases.duplicates: {ms:.3f} ms a lookup "
        f"(p99 {sorted(times)[int(len(times) * 0.99)] * 1000:.3f} ms)"
    )
    return {"db_cases": n, "db_lookup_ms": round(ms, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--db-cases", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    profile = load_profile(springfield_path())
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f}; python {sys.version.split()[0]}")
    figures: dict[str, Any] = {"load_avg": round(load, 2)}
    figures.update(bench_rules(profile, args.cases))
    figures.update(bench_index(args.open))
    if args.db_cases:
        figures.update(bench_db(profile, args.db_cases))
    figures["load_avg_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
