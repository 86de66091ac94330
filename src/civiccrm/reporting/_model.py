"""
The typed results of a KPI report, and their CSV, JSON and text forms.

Every figure is defined in ``docs/reporting.md``; the docstrings here say it briefly.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import zoneinfo
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, Final, Literal

import attrs

__all__ = [
    "AGING_BUCKETS",
    "AgentCount",
    "AgingCount",
    "ChannelCount",
    "Dimension",
    "GroupKpis",
    "KpiReport",
    "Kpis",
    "ReportSlice",
    "Satisfaction",
    "TimeKpi",
    "WeekCount",
]

#: The backlog's aging buckets: (label, from days, to days), a case of age ``d`` whole
#: days (24-hour days since it was opened, at the end of the period) falls in the
#: bucket with ``from <= d <= to`` (no upper end for the last).
AGING_BUCKETS: Final[tuple[tuple[str, int, int | None], ...]] = (
    ("0-2 days", 0, 2),
    ("3-7 days", 3, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    ("over 90 days", 91, None),
)


class Dimension(enum.StrEnum):
    """
    What a report can be sliced and grouped by.

    .. versionadded:: 0.1.0
    """

    #: The department of the case's type (from the agency profile).
    DEPARTMENT = "department"
    QUEUE = "queue"
    CASE_TYPE = "case_type"
    #: The intake channel.
    CHANNEL = "channel"
    #: The case's assignee (by username).
    AGENT = "agent"
    #: The district of the case's location (from the profile's district map).
    DISTRICT = "district"


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@attrs.frozen
class ReportSlice:
    """
    Which cases a report covers: those matching every non-empty list (any of its
    codes). Empty lists mean no condition.

    .. versionadded:: 0.1.0
    """

    departments: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    case_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    #: Agent usernames.
    agents: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """Whether it covers every case."""
        return not any(attrs.astuple(self))

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in attrs.asdict(self).items() if v}


@attrs.frozen
class TimeKpi:
    """
    A time target's figures (first response or resolution) for the cases that reached
    it in the period: how long it took in business time (the SLA clock's time on the
    policy's calendar, less pauses), and how many made it on time.

    .. versionadded:: 0.1.0
    """

    #: Cases that reached it in the period.
    cases: int
    #: Of those, cases with a business time (the rest are not counted in the median
    #: and p90: imported in bulk, reached before this release, or with no SLA target).
    measured: int
    median_seconds: int | None
    p90_seconds: int | None
    #: Cases judged against a target, and those that met it on time.
    judged: int
    on_time: int

    @property
    def not_measured(self) -> int:
        """Cases left out of the median and p90 (no business time recorded)."""
        return self.cases - self.measured

    @property
    def compliance(self) -> float | None:
        """The share of judged cases that were on time (None when none were judged)."""
        return _ratio(self.on_time, self.judged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "measured": self.measured,
            "not_measured": self.not_measured,
            "median_seconds": self.median_seconds,
            "p90_seconds": self.p90_seconds,
            "judged": self.judged,
            "on_time": self.on_time,
            "compliance": self.compliance,
        }


@attrs.frozen
class Satisfaction:
    """
    Satisfaction: the scores (1-5) of the cases resolved in the period, and the
    surveys issued in the period with how many were answered (so far).

    .. versionadded:: 0.1.0
    """

    scores: int
    #: The sum of the scores (the mean is ``score_sum / scores``).
    score_sum: int
    #: Scores of 4 or 5.
    satisfied: int
    surveys_issued: int
    surveys_responded: int

    @property
    def mean(self) -> float | None:
        """The mean score, 1 to 5."""
        return _ratio(self.score_sum, self.scores)

    @property
    def csat(self) -> float | None:
        """CSAT: the share of scores that are 4 or 5."""
        return _ratio(self.satisfied, self.scores)

    @property
    def response_rate(self) -> float | None:
        """The share of the period's surveys that were answered."""
        return _ratio(self.surveys_responded, self.surveys_issued)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": self.scores,
            "mean": self.mean,
            "satisfied": self.satisfied,
            "csat": self.csat,
            "surveys_issued": self.surveys_issued,
            "surveys_responded": self.surveys_responded,
            "response_rate": self.response_rate,
        }


@attrs.frozen
class ChannelCount:
    """Cases opened in the period through one channel, and their share."""

    channel: str
    count: int
    share: float


@attrs.frozen
class AgingCount:
    """Backlog cases in one aging bucket."""

    label: str
    min_days: int
    max_days: int | None
    count: int


@attrs.frozen
class WeekCount:
    """One ISO week (Monday to Sunday, agency time) of the trend."""

    #: The week's Monday.
    week: date
    opened: int
    resolved: int
    #: The period covers only part of the week.
    partial: bool


@attrs.frozen
class AgentCount:
    """Cases one agent resolved in the period (``agent`` None: no assignee)."""

    agent: str | None
    resolved: int


@attrs.frozen
class Kpis:
    """
    The KPIs of one set of cases over a period.

    .. versionadded:: 0.1.0
    """

    #: Volume: cases opened in the period.
    opened: int
    #: Channel mix of the cases opened, most used first.
    channels: tuple[ChannelCount, ...]
    #: Cases resolved in the period (closed ones included).
    resolved: int
    #: Of those, cases that had been reopened at least once.
    reopened: int
    first_response: TimeKpi
    resolution: TimeKpi
    #: Cases open at the end of the period.
    backlog: int
    aging: tuple[AgingCount, ...]
    satisfaction: Satisfaction

    @property
    def reopen_rate(self) -> float | None:
        """The share of resolved cases that had been reopened."""
        return _ratio(self.reopened, self.resolved)

    def is_empty(self) -> bool:
        """Nothing happened: nothing opened, responded to, resolved or open."""
        return not (
            self.opened
            or self.resolved
            or self.first_response.cases
            or self.backlog
            or self.satisfaction.surveys_issued
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "channels": [
                {"channel": c.channel, "count": c.count, "share": c.share} for c in self.channels
            ],
            "resolved": self.resolved,
            "reopened": self.reopened,
            "reopen_rate": self.reopen_rate,
            "first_response": self.first_response.to_dict(),
            "resolution": self.resolution.to_dict(),
            "backlog": self.backlog,
            "aging": [{"bucket": a.label, "count": a.count} for a in self.aging],
            "satisfaction": self.satisfaction.to_dict(),
        }


@attrs.frozen
class GroupKpis:
    """The KPIs of one group of a report made ``by`` a dimension."""

    #: The group's code (a queue's, an agent's username ...); None: cases with none.
    key: str | None
    #: Its name from the profile, when it has one.
    name: str | None
    kpis: Kpis


@attrs.frozen
class KpiReport:
    """
    A KPI report: the period, the slice of cases, the KPIs of all of them, per group
    when made ``by`` a dimension, the weekly trend and the cases each agent resolved.

    .. versionadded:: 0.1.0
    """

    #: The period, ``[since, until)``, aware.
    since: datetime
    until: datetime
    #: The agency's time zone, in which weeks begin on Mondays at midnight.
    time_zone: str
    slice: ReportSlice
    by: Dimension | None
    #: ``"database"``: by the backend's aggregate queries; ``"stream"``: the columns
    #: streamed and the figures computed in Python (a backend without aggregates).
    computed: Literal["database", "stream"]
    total: Kpis
    groups: tuple[GroupKpis, ...]
    weeks: tuple[WeekCount, ...]
    agents: tuple[AgentCount, ...]

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready data (times ISO 8601, rates as fractions)."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "time_zone": self.time_zone,
            "slice": self.slice.to_dict(),
            "by": None if self.by is None else self.by.value,
            "computed": self.computed,
            "total": self.total.to_dict(),
            "groups": [{"key": g.key, "name": g.name, **g.kpis.to_dict()} for g in self.groups],
            "weeks": [
                {
                    "week": w.week.isoformat(),
                    "opened": w.opened,
                    "resolved": w.resolved,
                    "partial": w.partial,
                }
                for w in self.weeks
            ],
            "agents": [{"agent": a.agent, "resolved": a.resolved} for a in self.agents],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # --- CSV ----------------------------------------------------------------------------

    def rows(self) -> Iterator[tuple[str, str, str, Any]]:
        """
        Every figure as ``(group, metric, key, value)``: ``group`` is ``"total"`` or
        ``"<dimension>=<code>"``, ``metric`` a dotted name (``resolution.p90_seconds``),
        ``key`` the channel, aging bucket, week or agent a metric is per (else "").
        """
        parts: list[tuple[str, Kpis]] = [("total", self.total)]
        if self.by is not None:
            parts += [(f"{self.by.value}={g.key or ''}", g.kpis) for g in self.groups]
        for group, k in parts:
            yield from _kpi_rows(group, k)
        for w in self.weeks:
            yield ("total", "weekly.opened", w.week.isoformat(), w.opened)
            yield ("total", "weekly.resolved", w.week.isoformat(), w.resolved)
        for a in self.agents:
            yield ("total", "agent.resolved", a.agent or "", a.resolved)

    def to_csv(self) -> str:
        """
        The figures as CSV, one per line: ``since,until,group,metric,key,value``
        (a long table that a spreadsheet's pivot turns into any layout).
        """
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["since", "until", "group", "metric", "key", "value"])
        since, until = self.since.isoformat(), self.until.isoformat()
        for group, metric, key, value in self.rows():
            writer.writerow([since, until, group, metric, key, "" if value is None else value])
        return out.getvalue()

    # --- text ---------------------------------------------------------------------------

    def table(self, *, top_agents: int = 15) -> str:
        """A readable plain-text report (what ``civiccrm report`` prints)."""
        return _render(self, top_agents=top_agents)


def _kpi_rows(group: str, k: Kpis) -> Iterator[tuple[str, str, str, Any]]:
    yield (group, "opened", "", k.opened)
    for c in k.channels:
        yield (group, "channel.opened", c.channel, c.count)
    yield (group, "resolved", "", k.resolved)
    yield (group, "reopened", "", k.reopened)
    yield (group, "reopen_rate", "", k.reopen_rate)
    for name, t in (("first_response", k.first_response), ("resolution", k.resolution)):
        for field, value in t.to_dict().items():
            yield (group, f"{name}.{field}", "", value)
    yield (group, "backlog", "", k.backlog)
    for a in k.aging:
        yield (group, "backlog.aging", a.label, a.count)
    for field, value in k.satisfaction.to_dict().items():
        yield (group, f"satisfaction.{field}", "", value)


# --------------------------------------------------------------------------------------
# Text


def hours(seconds: int | None) -> str:
    """Business seconds as hours (``"12.5 h"``), or ``"-"``."""
    if seconds is None:
        return "-"
    return f"{seconds / 3600:,.1f} h"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> list[str]:
    """Columns padded to their widest cell: the first ``left`` to the left, the rest right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _summary_rows(k: Kpis) -> list[tuple[str, str]]:
    fr, res, sat = k.first_response, k.resolution, k.satisfaction
    return [
        ("cases opened", f"{k.opened:,}"),
        ("cases resolved", f"{k.resolved:,}"),
        ("backlog at end", f"{k.backlog:,}"),
        ("first response, median", hours(fr.median_seconds)),
        ("first response, p90", hours(fr.p90_seconds)),
        ("first response on time", percent(fr.compliance)),
        ("  (not counted: no business time)", f"{fr.not_measured:,} of {fr.cases:,}"),
        ("resolution, median", hours(res.median_seconds)),
        ("resolution, p90", hours(res.p90_seconds)),
        ("resolved on time (SLA)", percent(res.compliance)),
        ("  (not counted: no business time)", f"{res.not_measured:,} of {res.cases:,}"),
        ("reopen rate", percent(k.reopen_rate)),
        ("CSAT (scores 4-5)", percent(sat.csat)),
        ("mean score (1-5)", "-" if sat.mean is None else f"{sat.mean:.2f}"),
        ("scores", f"{sat.scores:,}"),
        ("survey response rate", percent(sat.response_rate)),
        ("  (surveys issued / answered)", f"{sat.surveys_issued:,} / {sat.surveys_responded:,}"),
    ]


def local(report: KpiReport, at: datetime) -> datetime:
    """``at`` in the report's (the agency's) time zone."""
    return at.astimezone(zoneinfo.ZoneInfo(report.time_zone))


def _render(report: KpiReport, *, top_agents: int) -> str:
    zone = report.time_zone
    since = local(report, report.since).isoformat(timespec="minutes")
    until = local(report, report.until).isoformat(timespec="minutes")
    lines = [f"KPI report {since} to {until} (weeks from Mondays, {zone})"]
    if not report.slice.is_empty():
        shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in report.slice.to_dict().items())
        lines.append(f"slice: {shown}")
    lines.append(
        "computed by the database's aggregate queries"
        if report.computed == "database"
        else "computed in Python from streamed columns"
    )
    lines.append("times are business hours on each SLA policy's calendar")
    lines.append("")
    lines += _table(("KPI", "all cases"), _summary_rows(report.total))
    if report.by is not None and report.groups:
        lines.append("")
        header = (
            report.by.value,
            "opened",
            "resolved",
            "backlog",
            "FR median",
            "FR p90",
            "res median",
            "res p90",
            "on time",
            "reopen",
            "CSAT",
        )
        rows: list[tuple[str, ...]] = []
        for g in report.groups:
            k = g.kpis
            rows.append(
                (
                    g.key if g.key is not None else "(none)",
                    f"{k.opened:,}",
                    f"{k.resolved:,}",
                    f"{k.backlog:,}",
                    hours(k.first_response.median_seconds),
                    hours(k.first_response.p90_seconds),
                    hours(k.resolution.median_seconds),
                    hours(k.resolution.p90_seconds),
                    percent(k.resolution.compliance),
                    percent(k.reopen_rate),
                    percent(k.satisfaction.csat),
                )
            )
        lines += _table(header, rows)
    if report.weeks:
        lines.append("")
        weeks = [
            (
                w.week.isoformat() + (" *" if w.partial else ""),
                f"{w.opened:,}",
                f"{w.resolved:,}",
            )
            for w in report.weeks
        ]
        lines += _table(("week of", "opened", "resolved"), weeks)
        if any(w.partial for w in report.weeks):
            lines.append("* the period covers part of the week")
    lines.append("")
    aging = [(a.label, f"{a.count:,}") for a in report.total.aging]
    lines += _table(("backlog age", "cases"), aging)
    if report.total.channels:
        lines.append("")
        channels = [(c.channel, f"{c.count:,}", percent(c.share)) for c in report.total.channels]
        lines += _table(("channel", "opened", "share"), channels)
    if report.agents:
        lines.append("")
        shown_agents = report.agents[:top_agents]
        agents = [(a.agent or "(unassigned)", f"{a.resolved:,}") for a in shown_agents]
        lines += _table(("agent", "resolved"), agents)
        if len(report.agents) > top_agents:
            lines.append(f"... and {len(report.agents) - top_agents} more (see --json or --csv)")
    return "\n".join(lines) + "\n"
