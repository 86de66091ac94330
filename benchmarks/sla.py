"""
SLA deadlines in business hours: civiccrm's ``BusinessCalendar.add`` against the
``businesstimedelta`` package, side by side in one run, on the same cases and calendar.

    python benchmarks/sla.py [--cases N] [--repeat R] [--json]

The calendar is Springfield's City Hall without its one-off dates: America/Chicago,
Monday to Friday 08:00-12:00 and 13:00-17:00, closed on the US federal and Illinois
public holidays of the ``holidays`` package (observed days included). The profile's
own extra holidays, half days and snow closure are left out: they are not what this
compares.

N cases (default 20,000) are generated from a fixed seed: a ``reported_at`` instant in
2024-2027 (aware, in UTC) and a target. The starts mix instants drawn anywhere in the
four years, inside working hours, exactly on (or a microsecond either side of) an
opening or a close, in the lunch hour, at weekends, on holidays, on the days the clocks
change (both passes of the repeated hour included) and in the working days around them.
Targets are 1, 4, 8, 16 or 40 business hours, and a fifth of them a number of business
minutes (1 to 2,400).

ours    ``cal.add(start, duration)`` for every case. A first pass is run untimed (it
        fills the calendar's per-date cache, as in a running server); then R timed
        passes, the best reported. A pass on a freshly built calendar is timed as well
        (informational: the cold cost).
theirs  ``start + BusinessTimeDelta(rule, timedelta=duration)`` with
        ``rule = Rules([WorkDayRule(08:00, 12:00, Mon-Fri), WorkDayRule(13:00, 17:00,
        Mon-Fri), HolidayRule(dates)])``, every rule in ``pytz.timezone("America/Chicago")``
        (its rules call ``tz.localize``, so a zoneinfo zone does not work). It is given
        the same aware UTC instants (it converts them with ``astimezone`` into the rules'
        zone; a naive datetime it would take as UTC) and the same ``timedelta``; its
        result, aware in Chicago or UTC, is converted with ``astimezone(UTC)`` inside the
        timer, so both sides return the same thing. ``dates`` is the calendar's own
        holiday set (a frozenset: its membership test is as fast as ours). It keeps no
        cache, so its warm-up is the first 1,000 cases only; then R timed passes, best
        reported.

The timed passes of the two sides alternate, so that a slow spell of the machine hits
both. Every pass starts after a full garbage collection.

Then every deadline is compared. Each disagreement is settled by an independent, slow
reference written here: from the start it steps through time a minute at a time (the
first step up to the next whole minute), reads the Chicago wall clock at the start of
each step, and counts the step as business time if the local date is a weekday and not
a holiday (dates from the ``holidays`` package directly, checked to be the calendar's)
and the wall time is in ``[08:00, 12:00)`` or ``[13:00, 17:00)``; it stops inside the
step where the business time reaches the target (so a deadline landing exactly on a
close is the close). Every opening and close is a whole local minute and Chicago's
clocks change by whole hours, so whether it is open cannot change within a step.
The reference also runs on a random sample of 300 agreements. A case businesstimedelta
cannot compute (it raises) is excluded and counted.

With ``--json`` the last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time as clock
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import holidays as holidays_pkg

import civiccrm
from civiccrm.routing.calendar import BusinessCalendar

try:
    import pytz
    from businesstimedelta import BusinessTimeDelta, HolidayRule, LunchTimeRule, Rules, WorkDayRule
except ImportError:  # pragma: no cover
    raise SystemExit("the peer needs businesstimedelta: pip install -e '.[bench]'") from None

SEED = 2026
ZONE = "America/Chicago"
TZ = zoneinfo.ZoneInfo(ZONE)
WEEKDAYS = (0, 1, 2, 3, 4)
SHIFTS = ((time(8), time(12)), (time(13), time(17)))
YEARS = range(2024, 2028)  # the starts
HOLIDAY_YEARS = range(2024, 2029)  # the deadlines may run into January 2028
TARGET_HOURS = (1, 4, 8, 16, 40)
MINUTE_SHARE = 0.2
SAMPLE = 300
THEIR_WARMUP = 1_000
CONFIG_CHECK = 2_000
TARGET_RATIO = 100.0  # ours / theirs, deadlines per second, at least
TARGET_OURS_WRONG = 0

_MINUTE = timedelta(minutes=1)
_OPENINGS = frozenset(o for o, _ in SHIFTS)
_CLOSES = frozenset(c for _, c in SHIFTS)

Case = tuple[datetime, timedelta]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The calendar, on both sides


def build_calendar() -> BusinessCalendar:
    return BusinessCalendar.build(
        code="city-hall",
        zone=ZONE,
        hours=dict.fromkeys(WEEKDAYS, SHIFTS),
        holiday_country="US",
        holiday_subdivision="IL",
    )


def their_rule(holiday_dates: frozenset[date], *, lunch_rule: bool = False) -> Rules:
    """The same calendar for businesstimedelta: two working-day rules, or one + lunch."""
    tz = pytz.timezone(ZONE)
    days = list(WEEKDAYS)
    if lunch_rule:
        work = [
            WorkDayRule(start_time=time(8), end_time=time(17), working_days=days, tz=tz),
            LunchTimeRule(start_time=time(12), end_time=time(13), working_days=days, tz=tz),
        ]
    else:
        work = [
            WorkDayRule(start_time=opening, end_time=closing, working_days=days, tz=tz)
            for opening, closing in SHIFTS
        ]
    return Rules([*work, HolidayRule(holiday_dates, tz=tz)])


def reference_holidays() -> frozenset[date]:
    """The public holidays straight from the ``holidays`` package (not via civiccrm)."""
    found = holidays_pkg.country_holidays(
        "US", subdiv="IL", years=HOLIDAY_YEARS, observed=True, categories=("public",)
    )
    return frozenset(found)


def dst_change_dates() -> frozenset[date]:
    """Local dates on which Chicago's UTC offset changes (at 02:00)."""
    out = set()
    day = date(HOLIDAY_YEARS.start, 1, 1)
    while day.year < HOLIDAY_YEARS.stop:
        before = datetime.combine(day - timedelta(days=1), time(12), TZ).utcoffset()
        if datetime.combine(day, time(12), TZ).utcoffset() != before:
            out.add(day)
        day += timedelta(days=1)
    return frozenset(out)


# --------------------------------------------------------------------------------------
# The workload


def _local_day_span(day: date) -> tuple[datetime, datetime]:
    """The real instants [start, end) of a local date, in UTC (23 or 25 h on DST days)."""
    start = datetime.combine(day, time(0), TZ).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), TZ).astimezone(UTC)
    return start, end


def _instant_in(rng: random.Random, a: datetime, b: datetime) -> datetime:
    """A uniformly drawn instant in [a, b), to the microsecond."""
    span = (b - a) // timedelta(microseconds=1)
    return a + timedelta(microseconds=rng.randrange(span))


def generate(n: int, holiday_dates: frozenset[date], dst_days: frozenset[date]) -> list[Case]:
    rng = random.Random(SEED)
    days = []
    day = date(YEARS.start, 1, 1)
    while day.year < YEARS.stop:
        days.append(day)
        day += timedelta(days=1)
    working = [d for d in days if d.weekday() < 5 and d not in holiday_dates]
    weekends = [d for d in days if d.weekday() >= 5]
    holidays_in = sorted(d for d in holiday_dates if d.year in YEARS)
    dst = sorted(d for d in dst_days if d.year in YEARS)
    # The working days either side of each change (the Friday before, the Monday after).
    around_dst = sorted(
        d for c in dst for d in (c - timedelta(days=2), c + timedelta(days=1)) if d in working
    )
    edges = []
    for t in (time(8), time(12), time(13), time(17)):
        at = datetime.combine(date(2000, 1, 1), t)
        for shift in (timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)):
            edges.append((at + shift).time())
    edges += [time(0), time(12, 30), time(16, 59), time(7, 59)]
    first = datetime.combine(days[0], time(0), TZ).astimezone(UTC)
    last = datetime.combine(days[-1] + timedelta(days=1), time(0), TZ).astimezone(UTC)

    def anywhere() -> datetime:
        return _instant_in(rng, first, last)

    def in_hours() -> datetime:
        d = rng.choice(working)
        wall = datetime.combine(d, time(8)) + timedelta(seconds=rng.randrange(9 * 3600))
        return wall.replace(tzinfo=TZ, microsecond=rng.randrange(1_000_000)).astimezone(UTC)

    def on_edge() -> datetime:
        d = rng.choice(working if rng.random() < 0.8 else days)
        return datetime.combine(d, rng.choice(edges), TZ).astimezone(UTC)

    def on_day(pool: Sequence[date]) -> Callable[[], datetime]:
        return lambda: _instant_in(rng, *_local_day_span(rng.choice(pool)))

    kinds: list[tuple[float, Callable[[], datetime]]] = [
        (0.35, anywhere),
        (0.20, in_hours),
        (0.10, on_edge),
        (0.08, on_day(weekends)),
        (0.10, on_day(holidays_in)),
        (0.10, on_day(dst)),
        (0.07, lambda: _instant_in(rng, *_local_day_span(rng.choice(around_dst)))),
    ]
    weights = [w for w, _ in kinds]
    makers = [m for _, m in kinds]
    cases = []
    for _ in range(n):
        start = rng.choices(makers, weights)[0]()
        if rng.random() < MINUTE_SHARE:
            duration = timedelta(minutes=rng.randint(1, 40 * 60))
        else:
            duration = timedelta(hours=rng.choice(TARGET_HOURS))
        cases.append((start, duration))
    return cases


# --------------------------------------------------------------------------------------
# The two sides


def run_ours(cal: BusinessCalendar, cases: Sequence[Case]) -> list[datetime]:
    add = cal.add
    return [add(start, duration) for start, duration in cases]


def run_theirs(rule: Rules, cases: Sequence[Case]) -> list[datetime | str]:
    """Deadlines as aware UTC datetimes, or the error businesstimedelta raised."""
    out: list[datetime | str] = []
    append = out.append
    for start, duration in cases:
        try:
            append((start + BusinessTimeDelta(rule, timedelta=duration)).astimezone(UTC))
        except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
            append(f"{type(exc).__name__}: {exc}")
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` takes (after a full collection), and what it returned."""
    gc.collect()
    start = clock.perf_counter()
    result = fn()
    return clock.perf_counter() - start, result


# --------------------------------------------------------------------------------------
# The reference: slow, obvious, independent of both


class Reference:
    def __init__(self, holiday_dates: frozenset[date], dst_days: frozenset[date]) -> None:
        self.holidays = holiday_dates
        self.dst_days = dst_days

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(TZ)
        if local.weekday() not in WEEKDAYS or local.date() in self.holidays:
            return False
        wall = local.time()
        return any(opening <= wall < closing for opening, closing in SHIFTS)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        left = duration
        at = start.astimezone(UTC)
        while True:
            step_end = at.replace(second=0, microsecond=0) + _MINUTE
            if self.is_open(at):
                step = step_end - at
                if left <= step:
                    return at + left
                left -= step
            at = step_end

    # The reasons a case may be hard, for the report.

    def start_tags(self, start: datetime) -> list[str]:
        local = start.astimezone(TZ)
        tags = []
        if local.date() in self.dst_days:
            tags.append("start on a DST change day")
        if local.date() in self.holidays:
            tags.append("start on a holiday")
        if local.weekday() not in WEEKDAYS:
            tags.append("start on a weekend")
        if tags:
            return tags
        wall = local.time()
        if wall < SHIFTS[0][0]:
            tags.append("start before opening")
        elif SHIFTS[0][1] <= wall < SHIFTS[1][0]:
            tags.append("start within lunch")
        elif wall >= SHIFTS[1][1]:
            tags.append("start after closing")
        else:
            tags.append("start within hours")
        if wall in _OPENINGS:
            tags.append("start at an opening")
        elif wall in _CLOSES:
            tags.append("start at a close")
        elif any(abs(_seconds(wall) - _seconds(edge)) < 1 for edge in _OPENINGS | _CLOSES):
            tags.append("start within a second of an opening or close")
        return tags

    def tags(self, start: datetime, deadline: datetime) -> list[str]:
        tags = self.start_tags(start)
        a, b = start.astimezone(TZ), deadline.astimezone(TZ)
        if b.time() in _CLOSES:
            tags.append("deadline at a close")
        if a.utcoffset() != b.utcoffset():
            tags.append("crosses a DST change")
        if any(h.weekday() in WEEKDAYS and a.date() < h < b.date() for h in self.holidays):
            tags.append("crosses a holiday")
        return tags


def _seconds(wall: time) -> float:
    return wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6


# --------------------------------------------------------------------------------------
# Report helpers


def fmt_local(at: datetime) -> str:
    local = at.astimezone(TZ)
    frac = f".{local.microsecond:06d}" if local.microsecond else ""
    return f"{local:%a %Y-%m-%d %H:%M:%S}{frac} {local:%Z}"


def fmt_utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fmt_target(duration: timedelta) -> str:
    minutes = duration // _MINUTE
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def fmt_delta(value: datetime, truth: datetime) -> str:
    delta = value - truth
    sign = "-" if delta < timedelta(0) else "+"
    return f"{sign}{abs(delta)}"


def zoneinfo_source() -> str:
    for folder in zoneinfo.TZPATH:
        if (Path(folder) / ZONE).exists():
            version = "?"
            zi = Path(folder) / "tzdata.zi"
            if zi.exists():
                with zi.open() as f:
                    version = f.readline().removeprefix("# version").strip() or "?"
            return f"{folder} {version}"
    return f"tzdata package {_version('tzdata')}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per side (best)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    n, repeat = args.cases, max(1, args.repeat)

    load_start = os.getloadavg()[0]
    log(f"load average (1 min) {load_start:.2f}; building the calendars ...")
    cal = build_calendar()
    ref_holidays = reference_holidays()
    ours_in_years = frozenset(d for d in cal.holidays if d.year in HOLIDAY_YEARS)
    if ours_in_years != ref_holidays:
        raise SystemExit(
            "the calendar's holidays differ from the holidays package's: "
            f"{sorted(ours_in_years ^ ref_holidays)}"
        )
    their_dates = frozenset(cal.holidays)
    rule = their_rule(their_dates)
    dst_days = dst_change_dates()
    ref = Reference(ref_holidays, dst_days)

    log(f"generating {n:,} cases (seed {SEED}) ...")
    cases = generate(n, ref_holidays, dst_days)
    mix = Counter(tag for start, _ in cases for tag in ref.start_tags(start))
    targets = Counter(fmt_target(d) for _, d in cases)
    minute_targets = n - sum(targets[f"{h} h"] for h in TARGET_HOURS)

    # Cold: a fresh calendar, its first pass (informational).
    fresh = build_calendar()
    cold_s, _ = timed(lambda: run_ours(fresh, cases))
    log(f"  ours, cold pass             {cold_s:8.3f} s")
    # Warm-ups, untimed.
    ours = run_ours(cal, cases)
    run_theirs(rule, cases[:THEIR_WARMUP])
    gc.freeze()

    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    theirs: list[datetime | str] = []
    for r in range(repeat):
        for side in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
            if side == "ours":
                seconds, got = timed(lambda: run_ours(cal, cases))
                if got != ours:
                    raise SystemExit("civiccrm gave different deadlines from one pass to the next")
            else:
                seconds, got = timed(lambda: run_theirs(rule, cases))
                if theirs and got != theirs:
                    raise SystemExit("businesstimedelta gave different deadlines between passes")
                theirs = got
            times[side].append(seconds)
            log(f"  run {r + 1}/{repeat} {side:<8} {seconds:8.3f} s  {n / seconds:>12,.0f} /s")
    gc.unfreeze()
    best = {side: min(t) for side, t in times.items()}
    rate = {side: n / s for side, s in best.items()}
    ratio = rate["ours"] / rate["theirs"]

    # The alternative way to tell businesstimedelta the same hours (informational).
    log(f"checking the lunch-rule configuration on {CONFIG_CHECK:,} cases ...")
    alt = run_theirs(their_rule(their_dates, lunch_rule=True), cases[:CONFIG_CHECK])
    alt_differs = sum(1 for a, b in zip(alt, theirs, strict=False) if a != b)

    # Compare.
    errors = [i for i, t in enumerate(theirs) if isinstance(t, str)]
    compared = [i for i in range(n) if not isinstance(theirs[i], str)]
    disagree = [i for i in compared if ours[i] != theirs[i]]
    agree = [i for i in compared if ours[i] == theirs[i]]
    sample = sorted(random.Random(SEED + 1).sample(agree, min(SAMPLE, len(agree))))
    log(f"reference on {len(disagree):,} disagreements + {len(sample)} sampled agreements ...")
    ref_start = clock.perf_counter()
    reference = {i: ref.add(*cases[i]) for i in [*disagree, *sample]}
    ref_s = clock.perf_counter() - ref_start

    rows = []
    for i in disagree:
        start, duration = cases[i]
        truth = reference[i]
        theirs_i = theirs[i]
        assert isinstance(theirs_i, datetime)
        ours_ok, theirs_ok = ours[i] == truth, theirs_i == truth
        who = (
            "businesstimedelta wrong"
            if ours_ok
            else "civiccrm wrong"
            if theirs_ok
            else "both wrong"
        )
        rows.append(
            {
                "case": i,
                "start_local": fmt_local(start),
                "start_utc": fmt_utc(start),
                "target": fmt_target(duration),
                "ours": fmt_utc(ours[i]),
                "theirs": fmt_utc(theirs_i),
                "reference": fmt_utc(truth),
                "ours_matches_reference": ours_ok,
                "theirs_matches_reference": theirs_ok,
                "who": who,
                "reason": "; ".join(ref.tags(start, truth)),
            }
        )
    ours_wrong = sum(1 for r in rows if not r["ours_matches_reference"])
    theirs_wrong = sum(1 for r in rows if not r["theirs_matches_reference"])
    sample_bad = [i for i in sample if ours[i] != reference[i]]
    reasons = Counter(r["reason"] for r in rows)
    load_end = os.getloadavg()[0]

    versions = {
        "python": platform.python_version(),
        "civiccrm": civiccrm.__version__,
        "businesstimedelta": _version("businesstimedelta"),
        "pytz": pytz.__version__,
        "pytz_tz_database": pytz.OLSON_VERSION,
        "zoneinfo": zoneinfo_source(),
        "holidays": holidays_pkg.__version__,
    }

    title = f"SLA deadlines: civiccrm BusinessCalendar.add against businesstimedelta, {n:,} cases"
    print(title)
    print("=" * len(title))
    print(
        f"python {versions['python']}, civiccrm {versions['civiccrm']}, "
        f"businesstimedelta {versions['businesstimedelta']}, pytz {versions['pytz']} "
        f"(tz database {versions['pytz_tz_database']}), zoneinfo from {versions['zoneinfo']}, "
        f"holidays {versions['holidays']}; {_cpu_count()} CPUs, best of {repeat} pass(es)"
    )
    print(
        f"load average (1 min) {load_start:.2f} at start, {load_end:.2f} at end "
        "(other work on the machine shows here)"
    )
    print(
        f"calendar: {ZONE}, Mon-Fri 08:00-12:00 + 13:00-17:00, US + IL public holidays "
        f"({len(ref_holidays)} dates in {HOLIDAY_YEARS.start}-{HOLIDAY_YEARS.stop - 1}, "
        "observed days included; the same set on all three sides)"
    )
    print(
        "businesstimedelta: Rules([WorkDayRule(08:00-12:00), WorkDayRule(13:00-17:00), "
        "HolidayRule(dates)]), Mon-Fri, pytz America/Chicago; aware UTC in, astimezone(UTC) out"
    )
    print()
    print(f"cases: {n:,} starts in {YEARS.start}-{YEARS.stop - 1} (seed {SEED})")
    print("  " + ", ".join(f"{tag} {count:,}" for tag, count in mix.most_common()))
    print(
        "  targets: "
        + ", ".join(f"{h} h {targets[f'{h} h']:,}" for h in TARGET_HOURS)
        + f", other business minutes (1-2,400) {minute_targets:,}"
    )
    print()
    print(f"{'':<36}{'seconds':>10}{'deadlines/s':>14}")
    print(f"{'civiccrm add, warm (best)':<36}{best['ours']:>10.3f}{rate['ours']:>14,.0f}")
    print(f"{'civiccrm add, cold (fresh calendar)':<36}{cold_s:>10.3f}{n / cold_s:>14,.0f}")
    print(f"{'businesstimedelta (best)':<36}{best['theirs']:>10.3f}{rate['theirs']:>14,.0f}")
    ok_ratio = ratio >= TARGET_RATIO
    print(
        f"civiccrm / businesstimedelta  {ratio:8.1f}x   target >= {TARGET_RATIO:.0f}x: "
        f"{'met' if ok_ratio else 'MISSED'}   (cold: {best['theirs'] / cold_s:.1f}x)"
    )
    print()
    ok_ours = ours_wrong == TARGET_OURS_WRONG and not sample_bad
    print("agreement")
    print(f"  compared                              {len(compared):>7,}")
    print(f"  excluded: businesstimedelta raised    {len(errors):>7,}")
    print(f"  agree                                 {len(agree):>7,}")
    print(f"  disagree                              {len(disagree):>7,}")
    print(
        f"    civiccrm differs from the reference {ours_wrong:>7,}   target 0: "
        f"{'met' if ours_wrong == 0 else 'MISSED'}"
    )
    print(f"    businesstimedelta differs from it   {theirs_wrong:>7,}")
    print(
        f"  sampled agreements checked            {len(sample):>7,}   civiccrm = reference on "
        f"{len(sample) - len(sample_bad):,} of {len(sample):,}"
    )
    print(f"  reference time: {ref_s:.1f} s for {len(reference):,} cases (minute steps)")
    print(
        f"  lunch-rule configuration (WorkDayRule 08:00-17:00 + LunchTimeRule 12:00-13:00) "
        f"differs from the two-rule one on {alt_differs} of {len(alt):,} cases"
    )
    if errors:
        print()
        print("cases businesstimedelta could not compute (excluded):")
        for i in errors:
            start, duration = cases[i]
            print(
                f"  #{i:<6} {fmt_local(start)} ({fmt_utc(start)}) {fmt_target(duration)}: {theirs[i]}"
            )
    if rows:
        print()
        print("disagreements by reason:")
        for reason, count in reasons.most_common():
            print(f"  {count:>6,}  {reason}")
        print()
        print("every disagreement (reference: the slow minute-stepping count):")
        for row in rows:
            i = row["case"]
            truth = reference[i]
            print(
                f"  #{i:<6} start {row['start_local']} ({row['start_utc']}), target {row['target']}"
            )
            for label, value in (("civiccrm", ours[i]), ("businesstimedelta", theirs[i])):
                assert isinstance(value, datetime)
                mark = "=" if value == truth else fmt_delta(value, truth)
                print(f"          {label:<18} {fmt_local(value):<32} ({fmt_utc(value)})  {mark}")
            print(f"          {'reference':<18} {fmt_local(truth):<32} ({fmt_utc(truth)})")
            print(f"          {row['who']}: {row['reason']}")
    if sample_bad:
        print()
        print("sampled agreements where both differ from the reference:")
        for i in sample_bad:
            start, duration = cases[i]
            print(
                f"  #{i:<6} start {fmt_local(start)}, target {fmt_target(duration)}: "
                f"both {fmt_local(ours[i])}, reference {fmt_local(reference[i])}; "
                + "; ".join(ref.tags(start, reference[i]))
            )
    print()

    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "sla",
                    "cases": n,
                    "repeat": repeat,
                    "seed": SEED,
                    "cpus": _cpu_count(),
                    "versions": versions,
                    "load_average": [round(load_start, 2), round(load_end, 2)],
                    "seconds": {k: round(v, 4) for k, v in best.items()}
                    | {
                        "ours_cold": round(cold_s, 4),
                        "reference": round(ref_s, 2),
                    },
                    "runs": {k: [round(x, 4) for x in v] for k, v in times.items()},
                    "deadlines_per_second": {k: round(v) for k, v in rate.items()}
                    | {"ours_cold": round(n / cold_s)},
                    "ours_over_theirs": round(ratio, 2),
                    "case_mix": dict(mix),
                    "targets": {f"{h} h": targets[f"{h} h"] for h in TARGET_HOURS}
                    | {"other minutes": minute_targets},
                    "compared": len(compared),
                    "excluded_theirs_raised": len(errors),
                    "agree": len(agree),
                    "disagree": len(disagree),
                    "ours_differs_from_reference": ours_wrong,
                    "theirs_differs_from_reference": theirs_wrong,
                    "sample_checked": len(sample),
                    "sample_ours_differs_from_reference": len(sample_bad),
                    "lunch_rule_config_differs": alt_differs,
                    "lunch_rule_config_checked": len(alt),
                    "disagreement_reasons": dict(reasons),
                    "disagreements": rows,
                    "goals": {
                        "ours_over_theirs_min": TARGET_RATIO,
                        "ours_over_theirs_met": ok_ratio,
                        "ours_differs_from_reference_max": TARGET_OURS_WRONG,
                        "ours_differs_from_reference_met": ok_ours,
                    },
                },
                sort_keys=True,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
