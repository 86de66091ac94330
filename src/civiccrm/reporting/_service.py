"""``crm.reports``: KPIs over any period and slice, from aggregate queries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import attrs

from civiccrm._records import OPEN_STATUSES, SCHEMA, micros
from civiccrm.adapters import _aggregate
from civiccrm.adapters._base import (
    Aggregate,
    AggregateRow,
    Filter,
    GroupBy,
    Measure,
    Query,
    Scalar,
    SupportsAggregates,
)
from civiccrm.errors import Problem, ValidationError
from civiccrm.models import Channel
from civiccrm.reporting._model import (
    AGING_BUCKETS,
    AgentCount,
    AgingCount,
    ChannelCount,
    Dimension,
    GroupKpis,
    KpiReport,
    Kpis,
    ReportSlice,
    Satisfaction,
    TimeKpi,
    WeekCount,
)

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["ReportService"]

_DAY_US: Final = 86_400_000_000
_WEEK: Final = timedelta(days=7)
#: Reports cover periods from this day's midnight to the next's, in the agency's time
#: zone: the years the time-zone table of the aggregate queries covers, 1970 to 2099.
FIRST_DAY: Final = date(1970, 1, 1)
END_DAY: Final = date(2100, 1, 1)
#: The longest period a report covers, in calendar years (about 520 weekly buckets).
MAX_YEARS: Final = 10
#: The column each dimension groups and filters cases by.
_COLUMN: Final = {
    Dimension.DEPARTMENT: "case_type",
    Dimension.QUEUE: "queue",
    Dimension.CASE_TYPE: "case_type",
    Dimension.CHANNEL: "channel",
    Dimension.AGENT: "assignee",
    Dimension.DISTRICT: "district",
}
Compute = Literal["auto", "database", "stream"]


def _span(column: str, since: int, until: int) -> tuple[Filter, Filter]:
    return (Filter(column, "ge", since), Filter(column, "lt", until))


def _time_measures(name: str) -> list[Measure]:
    """A time target's figures over the query's cases (those that reached it)."""
    seconds, met = f"{name}_seconds", f"{name}_met"
    return [
        Measure(f"{name}.measured", "count", seconds),
        Measure(f"{name}.p50", "percentile", seconds, fraction=0.5),
        Measure(f"{name}.p90", "percentile", seconds, fraction=0.9),
        Measure(f"{name}.judged", "count", met),
        Measure(f"{name}.on_time", "count", where=(Filter(met, "eq", 1),)),
    ]


#: Of the cases resolved in the period.
_RESOLVED: Final = (
    Measure("resolution.cases", "count"),
    Measure("reopened", "count", where=(Filter("reopen_count", "gt", 0),)),
    *_time_measures("resolution"),
    Measure("scores", "count", "satisfaction"),
    Measure("score_sum", "sum", "satisfaction"),
    Measure("satisfied", "count", where=(Filter("satisfaction", "ge", 4),)),
)
#: Of the cases first responded to in the period.
_RESPONDED: Final = (Measure("response.cases", "count"), *_time_measures("response"))


def _backlog_filters(until: int) -> tuple[tuple[Filter, ...], ...]:
    """
    The cases open at ``until``, in three sets: opened before it and open now; resolved
    at or after it; never resolved but closed or cancelled at or after it.
    """
    before = Filter("opened_at", "lt", until)
    done = Filter("status", "not_in", OPEN_STATUSES)
    return (
        (before, Filter("status", "in", OPEN_STATUSES)),
        (before, done, Filter("resolved_at", "ge", until)),
        (before, done, Filter("resolved_at", "is_null"), Filter("closed_at", "ge", until)),
    )


def _aging_bins(until: int) -> tuple[int, ...]:
    """
    ``opened_at`` boundaries of the aging buckets, ascending: a case of age ``d`` whole
    days was opened in ``(until - (d + 1) days, until - d days]``, so bin ``k`` (that
    many boundaries at or below its opening) is bucket ``len(AGING_BUCKETS) - 1 - k``.
    """
    return tuple(
        sorted(
            until - (high + 1) * _DAY_US + 1 for _l, _lo, high in AGING_BUCKETS if high is not None
        )
    )


def _codes(name: str, given: object, problems: list[Problem]) -> tuple[str, ...] | None:
    """A slice argument's codes; None, and a problem, unless it is a collection of str."""
    if isinstance(given, str | bytes):
        problems.append(Problem(name, f"give a list of codes, not a string ({name}=[{given!r}])"))
        return None
    if not isinstance(given, Iterable):
        problems.append(Problem(name, f"expected a list of codes, not {given!r}"))
        return None
    codes = tuple(given)
    bad = [
        Problem(f"{name}[{i}]", f"expected a code (a string), not {code!r}")
        for i, code in enumerate(codes)
        if not isinstance(code, str)
    ]
    problems += bad
    return None if bad else codes


def _int(value: Scalar) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _opt_int(value: Scalar) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _time_kpi(values: Mapping[str, Scalar], name: str) -> TimeKpi:
    return TimeKpi(
        cases=_int(values.get(f"{name}.cases")),
        measured=_int(values.get(f"{name}.measured")),
        median_seconds=_opt_int(values.get(f"{name}.p50")),
        p90_seconds=_opt_int(values.get(f"{name}.p90")),
        judged=_int(values.get(f"{name}.judged")),
        on_time=_int(values.get(f"{name}.on_time")),
    )


@attrs.define
class _Parts:
    """The figures of one group (or of all cases), gathered from the queries' rows."""

    opened: int = 0
    channels: dict[str, int] = attrs.Factory(dict)
    resolved: Mapping[str, Scalar] = attrs.Factory(dict)
    responded: Mapping[str, Scalar] = attrs.Factory(dict)
    aging: list[int] = attrs.Factory(lambda: [0] * len(AGING_BUCKETS))
    surveys: tuple[int, int] = (0, 0)

    def kpis(self) -> Kpis:
        mix = sorted(self.channels.items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(self.channels.values())
        aging = tuple(
            AgingCount(label, low, high, n)
            for (label, low, high), n in zip(AGING_BUCKETS, self.aging, strict=True)
        )
        values = {**self.resolved, **self.responded}
        return Kpis(
            opened=self.opened,
            channels=tuple(ChannelCount(c, n, n / total) for c, n in mix if n),
            resolved=_int(values.get("resolution.cases")),
            reopened=_int(values.get("reopened")),
            first_response=_time_kpi(values, "response"),
            resolution=_time_kpi(values, "resolution"),
            backlog=sum(self.aging),
            aging=aging,
            satisfaction=Satisfaction(
                scores=_int(values.get("scores")),
                score_sum=_int(values.get("score_sum")),
                satisfied=_int(values.get("satisfied")),
                surveys_issued=self.surveys[0],
                surveys_responded=self.surveys[1],
            ),
        )


class ReportService:
    """
    KPIs over any period and slice: ``crm.reports``.

    Figures come from aggregate queries run by the database when the storage backend
    can (``capabilities.aggregates``); otherwise the few columns they need are
    streamed and the same figures computed in Python. Either way only indexed columns
    are read: no document, so no personal data is read or decrypted, and nothing is
    written to the audit trail (which records reads of personal data).

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    # --- the period and the slice -------------------------------------------------------

    def _instant(self, value: datetime | date, field: str) -> datetime:
        """An aware instant; a date is its midnight in the agency's time zone."""
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValidationError.at(field, "give a time zone (2026-03-09T15:00:00Z)")
            return value
        if isinstance(value, date):
            return datetime.combine(value, time(0), tzinfo=self._crm.profile.agency.zone)
        raise ValidationError.at(field, f"expected a date or an aware datetime, not {value!r}")

    def _period_problems(self, start: datetime, end: datetime) -> list[Problem]:
        """
        The problems of the period ``[start, end)``: it must lie from 1970 to the end
        of 2099 and be at most :data:`MAX_YEARS` long (both in the agency's time zone).
        """
        zone = self._crm.profile.agency.zone
        first = datetime.combine(FIRST_DAY, time(0), tzinfo=zone)
        last = datetime.combine(END_DAY, time(0), tzinfo=zone)
        covered = f"reports cover {FIRST_DAY.year} to {END_DAY.year - 1}"
        problems = []
        # Aware datetimes compare without arithmetic on them: nothing can overflow here.
        if not first <= start < last:
            problems.append(Problem("since", f"must be {FIRST_DAY} or later ({covered})"))
        if not first < end <= last:
            problems.append(
                Problem("until", f"must end by the end of {END_DAY.year - 1} ({covered})")
            )
        if problems or end <= start:
            return problems
        local = start.astimezone(zone)
        try:
            limit = local.replace(year=local.year + MAX_YEARS)
        except ValueError:  # 29 February, and no 29 February ten years on
            limit = local.replace(year=local.year + MAX_YEARS, month=3, day=1)
        if end > limit:
            problems.append(
                Problem(
                    "until",
                    f"a report covers at most {MAX_YEARS} years: from "
                    f"{local.isoformat(timespec='minutes')}, end it by "
                    f"{limit.isoformat(timespec='minutes')}",
                )
            )
        return problems

    def _agents(self) -> dict[str, str]:
        """Agent ids to usernames (the agent kind's columns; no document is read)."""
        records = self._crm.storage.stream(Query("agent", columns=("username",)))
        return {r.id: str(r.columns["username"]) for r in records}

    def _slice_filters(
        self, piece: ReportSlice, usernames: Mapping[str, str]
    ) -> tuple[Filter, ...]:
        profile = self._crm.profile
        problems: list[Problem] = []

        def known(field: str, given: Sequence[str], allowed: Iterable[str], what: str) -> None:
            ok = set(allowed)
            for i, code in enumerate(given):
                if code not in ok:
                    shown = ", ".join(sorted(ok)) or "none"
                    problems.append(Problem(f"{field}[{i}]", f"no {what} {code!r} ({shown})"))

        known("departments", piece.departments, (d.code for d in profile.departments), "department")
        known("queues", piece.queues, (q.code for q in profile.queues), "queue")
        known("case_types", piece.case_types, (c.code for c in profile.case_types), "case type")
        known("channels", piece.channels, (c.value for c in Channel), "channel")
        known("districts", piece.districts, profile.routing.districts.codes(), "district")
        ids = {name: agent_id for agent_id, name in usernames.items()}
        for i, name in enumerate(piece.agents):
            if name not in ids:
                problems.append(Problem(f"agents[{i}]", f"no agent with username {name!r}"))
        if problems:
            raise ValidationError(problems, record_type="report slice")
        where: list[Filter] = []
        if piece.departments:
            types = tuple(
                ct.code for ct in profile.case_types if ct.department in piece.departments
            )
            where.append(Filter("case_type", "in", types))
        for column, codes in (
            ("queue", piece.queues),
            ("case_type", piece.case_types),
            ("channel", piece.channels),
            ("district", piece.districts),
        ):
            if codes:
                where.append(Filter(column, "in", tuple(codes)))
        if piece.agents:
            where.append(Filter("assignee", "in", tuple(ids[a] for a in piece.agents)))
        return tuple(where)

    def _group_by(self, by: Dimension) -> GroupBy:
        if by is Dimension.DEPARTMENT:
            labels = tuple((ct.code, ct.department) for ct in self._crm.profile.case_types)
            return GroupBy("case_type", labels=labels)
        return GroupBy(_COLUMN[by])

    def _name(self, by: Dimension, key: str | None) -> str | None:
        """A group's name from the profile (None when it has none)."""
        if key is None:
            return None
        profile = self._crm.profile
        found: dict[Dimension, dict[str, str]] = {
            Dimension.DEPARTMENT: {d.code: d.name for d in profile.departments},
            Dimension.QUEUE: {q.code: q.name for q in profile.queues},
            Dimension.CASE_TYPE: {c.code: c.name for c in profile.case_types},
            Dimension.DISTRICT: {d.code: d.name for d in profile.routing.districts.districts},
        }
        return found.get(by, {}).get(key)

    # --- running the queries --------------------------------------------------------

    def _run(
        self, queries: Sequence[Aggregate], compute: Compute
    ) -> tuple[list[tuple[AggregateRow, ...]], Literal["database", "stream"]]:
        storage = self._crm.storage
        can = storage.capabilities.aggregates and isinstance(storage, SupportsAggregates)
        if compute == "database" and not can:
            raise ValidationError.at(
                "compute",
                f"{type(storage).__name__} does not answer aggregate queries "
                "(capabilities.aggregates is False); use compute='stream'",
            )
        if can and compute != "stream":
            assert isinstance(storage, SupportsAggregates)
            return storage.aggregate(queries), "database"
        return _aggregate.evaluate_streamed(storage, SCHEMA, queries), "stream"

    def _surveys_by_case(
        self, since: int, until: int, where: tuple[Filter, ...], column: str | None
    ) -> dict[Scalar, tuple[int, int]]:
        """
        Surveys issued in the period, and answered, per group of their cases (one
        group, ``None``, when ``column`` is None), counting only cases in the slice.
        Surveys name only their case, so their cases' columns are streamed once.
        """
        storage = self._crm.storage
        issued: dict[str, list[int]] = {}
        query = Query(
            "survey", _span("issued_at", since, until), columns=("case_id", "responded_at")
        )
        for r in storage.stream(query):
            counts = issued.setdefault(str(r.columns["case_id"]), [0, 0])
            counts[0] += 1
            counts[1] += r.columns["responded_at"] is not None
        out: dict[Scalar, tuple[int, int]] = {}
        if not issued:
            return out
        columns = () if column is None else (column,)
        for case in storage.stream(Query("case", where, columns=columns), batch_size=5000):
            found = issued.get(case.id)
            if found is None:
                continue
            key = None if column is None else case.columns[column]
            before = out.get(key, (0, 0))
            out[key] = (before[0] + found[0], before[1] + found[1])
        return out

    # --- the report -----------------------------------------------------------------

    def kpis(
        self,
        *,
        since: datetime | date,
        until: datetime | date,
        by: Dimension | str | None = None,
        departments: Sequence[str] = (),
        queues: Sequence[str] = (),
        case_types: Sequence[str] = (),
        channels: Sequence[str] = (),
        agents: Sequence[str] = (),
        districts: Sequence[str] = (),
        compute: Compute = "auto",
    ) -> KpiReport:
        """
        The KPIs of the cases in a slice over the period ``[since, until)``: volume,
        weekly trend, backlog and its aging, first-response and resolution times
        (median and p90 in business time), SLA compliance, reopen rate, cases resolved
        per agent, satisfaction and channel mix, for all the cases of the slice and,
        with ``by``, for each group. ``docs/reporting.md`` defines every figure.

        Args:
            since: the period's start; a date means its midnight in the agency's time
                zone.
            until: the period's end (not included); a date means its midnight. The
                period lies within 1970 to 2099 and is at most :data:`MAX_YEARS` years
                long.
            by: group by a :class:`Dimension` (or its name).
            departments, queues, case_types, channels, agents, districts: the slice,
                each a list of codes (not a str): cases matching every list given
                (any of its codes; agents by username).
            compute: ``"auto"`` (the database's aggregate queries when the backend
                has them, else streaming), ``"database"`` or ``"stream"``.

        Raises:
            ValidationError: a bad period (``until`` not after ``since``, outside 1970
                to 2099, longer than :data:`MAX_YEARS` years), a slice argument that is
                not a list of codes (a str is refused), an unknown code or username,
                a backend without aggregates for ``compute="database"``.

        .. versionadded:: 0.1.0
        """
        problems: list[Problem] = []
        if compute not in ("auto", "database", "stream"):
            problems.append(
                Problem("compute", f"expected auto, database or stream, not {compute!r}")
            )
        dimension: Dimension | None = None
        if by is not None:
            try:
                dimension = Dimension(by)
            except ValueError:
                shown = ", ".join(d.value for d in Dimension)
                problems.append(Problem("by", f"unknown dimension {by!r} ({shown})"))
        given: dict[str, object] = {
            "departments": departments,
            "queues": queues,
            "case_types": case_types,
            "channels": channels,
            "agents": agents,
            "districts": districts,
        }
        codes: dict[str, tuple[str, ...]] = {}
        for name, value in given.items():
            found = _codes(name, value, problems)
            if found is not None:
                codes[name] = found
        if problems:
            raise ValidationError(problems, record_type="report")
        start = self._instant(since, "since")
        end = self._instant(until, "until")
        problems = self._period_problems(start, end)
        if problems:
            raise ValidationError(problems, record_type="report")
        if end <= start:
            raise ValidationError.at("until", "must be after since")
        piece = ReportSlice(**codes)
        usernames = self._agents()
        where = self._slice_filters(piece, usernames)
        s, u = micros(start), micros(end)
        assert s is not None
        assert u is not None
        zone = self._crm.profile.agency.time_zone
        grouping = () if dimension is None else (self._group_by(dimension),)
        opened = _span("opened_at", s, u)
        resolved = _span("resolved_at", s, u)
        responded = _span("first_response_at", s, u)
        count = (Measure("n", "count"),)
        # Each query selects the cases a figure is about. Grouped counts are summed over
        # the parts of their keys a figure does not need: one query gives the volume,
        # the channel mix and the weekly volume; another the cases per agent and the
        # weekly resolutions; the backlog query's bins are the aging buckets.
        queries = [
            Aggregate(
                "case",
                count,
                (*where, *opened),
                (*grouping, GroupBy("channel"), GroupBy("opened_at", "week", zone)),
            ),
            Aggregate(
                "case",
                count,
                (*where, *resolved),
                (GroupBy("assignee"), GroupBy("resolved_at", "week", zone)),
            ),
            Aggregate("case", _RESOLVED, (*where, *resolved)),
            Aggregate("case", _RESPONDED, (*where, *responded)),
            *(
                Aggregate(
                    "case",
                    count,
                    (*where, *backlog),
                    (*grouping, GroupBy("opened_at", bins=_aging_bins(u))),
                )
                for backlog in _backlog_filters(u)
            ),
        ]
        if grouping:
            queries.append(Aggregate("case", _RESOLVED, (*where, *resolved), grouping))
            queries.append(Aggregate("case", _RESPONDED, (*where, *responded), grouping))
        joined = bool(where or grouping)
        if not joined:
            queries.append(
                Aggregate(
                    "survey",
                    (Measure("issued", "count"), Measure("responded", "count", "responded_at")),
                    _span("issued_at", s, u),
                )
            )
        answers, how = self._run(queries, compute)
        opened_rows, resolved_rows, resolved_total, responded_total = answers[:4]
        total = _Parts(resolved=resolved_total[0].values, responded=responded_total[0].values)
        parts: dict[Scalar, _Parts] = {}

        def targets(group: Sequence[Scalar]) -> list[_Parts]:
            """The parts a row counts in: all cases, and its group's (if grouped)."""
            if not group:
                return [total]
            return [total, parts.setdefault(group[0], _Parts())]

        opened_weeks: dict[str, int] = {}
        for row in opened_rows:
            *group, channel, week = row.key
            n = _int(row.values["n"])
            for p in targets(group):
                p.opened += n
                p.channels[str(channel)] = p.channels.get(str(channel), 0) + n
            opened_weeks[str(week)] = opened_weeks.get(str(week), 0) + n
        per_agent: dict[Scalar, int] = {}
        resolved_weeks: dict[str, int] = {}
        for row in resolved_rows:
            agent, week = row.key
            n = _int(row.values["n"])
            per_agent[agent] = per_agent.get(agent, 0) + n
            resolved_weeks[str(week)] = resolved_weeks.get(str(week), 0) + n
        last = len(AGING_BUCKETS) - 1
        for row in (r for rows in answers[4:7] for r in rows):
            *group, k = row.key
            for p in targets(group):
                p.aging[last - _int(k)] += _int(row.values["n"])
        if grouping:
            for row in answers[7]:
                parts.setdefault(row.key[0], _Parts()).resolved = row.values
            for row in answers[8]:
                parts.setdefault(row.key[0], _Parts()).responded = row.values
        if joined:
            column = None if dimension is None else _COLUMN[dimension]
            by_case = self._surveys_by_case(s, u, where, column)
            total.surveys = (
                sum(v[0] for v in by_case.values()),
                sum(v[1] for v in by_case.values()),
            )
            if dimension is not None:
                for raw, counts in self._survey_groups(dimension, by_case).items():
                    parts.setdefault(raw, _Parts()).surveys = counts
        else:
            values = answers[-1][0].values
            total.surveys = (_int(values["issued"]), _int(values["responded"]))
        groups: list[GroupKpis] = []
        if dimension is not None:
            for raw, p in parts.items():
                kpis = p.kpis()
                if not kpis.is_empty():
                    key = self._key(dimension, raw, usernames)
                    groups.append(GroupKpis(key, self._name(dimension, key), kpis))
        return KpiReport(
            since=start,
            until=end,
            time_zone=zone,
            slice=piece,
            by=dimension,
            computed=how,
            total=total.kpis(),
            groups=tuple(sorted(groups, key=lambda g: (g.key is None, g.key or ""))),
            weeks=self._weeks(start, end, opened_weeks, resolved_weeks),
            agents=self._agent_counts(per_agent, usernames),
        )

    def _key(self, by: Dimension, raw: Scalar, usernames: Mapping[str, str]) -> str | None:
        if raw is None:
            return None
        if by is Dimension.AGENT:
            return usernames.get(str(raw), str(raw))
        return str(raw)

    def _survey_groups(
        self, by: Dimension, by_case: Mapping[Scalar, tuple[int, int]]
    ) -> dict[Scalar, tuple[int, int]]:
        """Survey counts per group, keyed as the aggregates key it (departments by code)."""
        out: dict[Scalar, tuple[int, int]] = {}
        departments = {ct.code: ct.department for ct in self._crm.profile.case_types}
        for raw, (issued, answered) in by_case.items():
            key = raw
            if by is Dimension.DEPARTMENT:
                key = None if raw is None else departments.get(str(raw))
            before = out.get(key, (0, 0))
            out[key] = (before[0] + issued, before[1] + answered)
        return out

    def _weeks(
        self,
        start: datetime,
        end: datetime,
        opened: Mapping[str, int],
        resolved: Mapping[str, int],
    ) -> tuple[WeekCount, ...]:
        """Every ISO week the period touches, in order, with its counts (0 if none)."""
        zone = self._crm.profile.agency.zone
        first = start.astimezone(zone).date()
        last = (end - timedelta(microseconds=1)).astimezone(zone).date()
        monday = first - timedelta(days=first.weekday())
        weeks = []
        while monday <= last:
            week_start = datetime.combine(monday, time(0), tzinfo=zone)
            week_end = datetime.combine(monday + _WEEK, time(0), tzinfo=zone)
            partial = start > week_start or end < week_end
            day = monday.isoformat()
            weeks.append(WeekCount(monday, opened.get(day, 0), resolved.get(day, 0), partial))
            monday += _WEEK
        return tuple(weeks)

    def _agent_counts(
        self, counts: Mapping[Scalar, int], usernames: Mapping[str, str]
    ) -> tuple[AgentCount, ...]:
        found = [
            AgentCount(self._key(Dimension.AGENT, agent, usernames), n)
            for agent, n in counts.items()
        ]
        return tuple(sorted(found, key=lambda a: (-a.resolved, a.agent is None, a.agent or "")))

    # --- charts ---------------------------------------------------------------------

    def plot(self, report: KpiReport, directory: str | Path) -> list[Path]:
        """
        Write PNG charts of ``report`` into ``directory`` (made if missing) and return
        their paths. Needs matplotlib: ``pip install 'civiccrm[plot]'``.

        Raises:
            ImportError: matplotlib is not installed (the message names the extra).

        .. versionadded:: 0.1.0
        """
        from civiccrm.reporting._plot import write_charts

        return write_charts(report, Path(directory))
