"""
PNG charts of a KPI report, drawn with matplotlib (the ``plot`` extra).

matplotlib is imported only here, when charts are asked for, and only its object
API is used (``Figure`` saved by the Agg renderer), never ``pyplot``: no global state,
no display, nothing changed in a program that uses matplotlib for itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from civiccrm.reporting._model import KpiReport, local

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MISSING", "require_matplotlib", "write_charts"]

#: What to say when matplotlib is missing.
MISSING: Final = (
    "charts need matplotlib, which the 'plot' extra installs: pip install 'civiccrm[plot]'"
)
_OPENED: Final = "#1f6fb4"
_RESOLVED: Final = "#e8892b"
_GREY: Final = "#8c8c8c"
_DPI: Final = 100


def require_matplotlib() -> None:
    """
    Check that charts can be drawn: that matplotlib can be imported.

    Raises:
        ImportError: matplotlib is missing (the message names the ``plot`` extra).
    """
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as exc:
        raise ImportError(MISSING) from exc


def _figure(width: float = 8.0, height: float = 4.0) -> Figure:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _hours(seconds: int | None) -> float:
    return 0.0 if seconds is None else seconds / 3600


def _save(fig: Figure, path: Path) -> Path:
    # Figure.savefig draws with the Agg renderer for .png; no pyplot, no backend switch.
    fig.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})
    return path


def _title(report: KpiReport, what: str) -> str:
    """
    ``what`` and the period's first and last days included: the period ends before
    ``until``, so a period of whole days (``until`` a midnight) ends the day before.
    A bound that is not a midnight is shown with its time.
    """
    since = local(report, report.since)
    until = local(report, report.until)
    first = since.date().isoformat() if _midnight(since) else f"{since:%Y-%m-%d %H:%M}"
    if _midnight(until):
        last = (until.date() - timedelta(days=1)).isoformat()
    else:
        last = f"{until:%Y-%m-%d %H:%M}"
    return f"{what}, {first} to {last}"


def _midnight(at: datetime) -> bool:
    return at.time() == time(0)


def _weekly(report: KpiReport, path: Path) -> Path:
    fig = _figure()
    ax: Any = fig.add_subplot()
    weeks = report.weeks
    xs = list(range(len(weeks)))
    width = 0.4
    ax.bar(
        [x - width / 2 for x in xs], [w.opened for w in weeks], width, label="opened", color=_OPENED
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [w.resolved for w in weeks],
        width,
        label="resolved",
        color=_RESOLVED,
    )
    labels = [w.week.strftime("%d %b") + ("*" if w.partial else "") for w in weeks]
    step = max(1, len(weeks) // 13)
    ax.set_xticks(xs[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("cases")
    ax.set_xlabel("week beginning (* part of the week)")
    ax.set_title(_title(report, "Cases opened and resolved per week"))
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def _barh(
    path: Path, title: str, labels: Sequence[str], values: Sequence[float], unit: str
) -> Path:
    fig = _figure(8.0, max(2.5, 0.35 * len(labels) + 1.2))
    ax: Any = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    bars = ax.barh(ys, values, color=_OPENED)
    ax.set_yticks(ys, labels, fontsize=8)
    ax.bar_label(bars, labels=[unit.format(v) for v in values], padding=3, fontsize=8)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.15)
    return _save(fig, path)


def _aging(report: KpiReport, path: Path) -> Path:
    aging = report.total.aging
    return _barh(
        path,
        f"Backlog at {local(report, report.until):%Y-%m-%d %H:%M} by age"
        f" ({report.total.backlog:,} cases)",
        [a.label for a in aging],
        [a.count for a in aging],
        "{:,.0f}",
    )


def _channels(report: KpiReport, path: Path) -> Path:
    mix = report.total.channels
    return _barh(
        path,
        _title(report, "Channel mix of cases opened"),
        [c.channel for c in mix],
        [c.share * 100 for c in mix],
        "{:.1f}%",
    )


def _times(report: KpiReport, path: Path) -> Path:
    """First-response and resolution median and p90, per group (or for all cases)."""
    if report.by is not None and report.groups:
        names = [g.key or "(none)" for g in report.groups]
        kpis = [g.kpis for g in report.groups]
    else:
        names = ["all cases"]
        kpis = [report.total]
    fig = _figure(8.0, max(3.0, 0.45 * len(names) + 1.5))
    axes: Any = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(names)))[::-1]
    height = 0.38
    for ax, title in zip(axes, ("first response", "resolution"), strict=True):
        times = [k.first_response if title == "first response" else k.resolution for k in kpis]
        medians = [_hours(t.median_seconds) for t in times]
        p90s = [_hours(t.p90_seconds) for t in times]
        ax.barh([y + height / 2 for y in ys], medians, height, color=_OPENED, label="median")
        ax.barh([y - height / 2 for y in ys], p90s, height, color=_RESOLVED, label="p90")
        ax.set_title(f"{title} (business hours)", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(ys, names, fontsize=8)
    axes[1].legend(frameon=False, fontsize=8)
    fig.suptitle(_title(report, "Time to first response and to resolution"))
    return _save(fig, path)


def _agents(report: KpiReport, path: Path) -> Path:
    top = report.agents[:20]
    return _barh(
        path,
        _title(report, f"Cases resolved per agent (top {len(top)})"),
        [a.agent or "(unassigned)" for a in top],
        [a.resolved for a in top],
        "{:,.0f}",
    )


def write_charts(report: KpiReport, directory: Path) -> list[Path]:
    """
    Write the charts of ``report`` into ``directory`` (made if missing): the weekly
    trend, the backlog's aging, response and resolution times, the channel mix and
    the cases per agent (the last two only when there are any). Returns the paths.

    Raises:
        ImportError: matplotlib is missing (the message names the ``plot`` extra).
    """
    require_matplotlib()  # fail first, and clearly, without matplotlib
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        _weekly(report, directory / "weekly-volume.png"),
        _aging(report, directory / "backlog-aging.png"),
        _times(report, directory / "response-resolution-times.png"),
    ]
    if report.total.channels:
        written.append(_channels(report, directory / "channel-mix.png"))
    if report.agents:
        written.append(_agents(report, directory / "agents.png"))
    return written
