"""
``civiccrm report``: the KPI report, as a table, JSON, CSV or PNG charts.

::

    civiccrm report [--since DATE] [--until DATE] [--by DIMENSION]
                    [--department CODE ...] [--queue CODE ...] [--case-type CODE ...]
                    [--channel NAME ...] [--agent USERNAME ...] [--district CODE ...]
                    [--csv FILE] [--plot DIR] [--stream]

Prints a readable table (``--json``: one object); exits 0. Bad input exits 2 with one
readable line; so do ``--plot`` without matplotlib (the ``plot`` extra) and a ``--csv``
or ``--plot`` path that cannot be written, checked before the report is computed.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_report_commands"]

_DIMENSIONS = ("department", "queue", "case_type", "channel", "agent", "district")


def add_report_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm report`` to the command's subparsers."""
    report = sub.add_parser(
        "report",
        parents=[common],
        help="KPIs over a period and slice: a table, JSON, CSV or charts",
        description="Volume and weekly trend, backlog and aging, first-response and "
        "resolution times (median and p90 in business hours), SLA compliance, reopen "
        "rate, cases per agent, satisfaction and channel mix, for the cases of a slice "
        "over a period, computed by the database's aggregate queries. Reads no personal "
        "data. Dates are in the agency's time zone; the default period is the last 12 "
        "weeks and this one, up to now. docs/reporting.md defines every figure.",
    )
    report.add_argument(
        "--since", default=None, metavar="DATE", help="from the start of this date (or an ISO time)"
    )
    report.add_argument(
        "--until",
        default=None,
        metavar="DATE",
        help="to the end of this date (or before an ISO time; default: now)",
    )
    report.add_argument(
        "--by", choices=_DIMENSIONS, default=None, help="KPIs per department, queue ..."
    )
    for flag, dest, meta, what in (
        ("--department", "departments", "CODE", "departments"),
        ("--queue", "queues", "CODE", "queues"),
        ("--case-type", "case_types", "CODE", "case types (service codes)"),
        ("--channel", "channels", "NAME", "intake channels"),
        ("--agent", "agents", "USERNAME", "assignees"),
        ("--district", "districts", "CODE", "districts"),
    ):
        report.add_argument(
            flag,
            dest=dest,
            nargs="+",
            action="extend",
            default=[],
            metavar=meta,
            help=f"only cases of these {what}",
        )
    report.add_argument(
        "--csv", default=None, metavar="FILE", help="also write every figure as CSV"
    )
    report.add_argument("--plot", default=None, metavar="DIR", help="also write PNG charts here")
    report.add_argument(
        "--stream",
        action="store_true",
        help="compute in Python from streamed columns, not with the database's aggregates",
    )
    report.set_defaults(handler=_cmd_report)


def _bound(text: str | None, field: str, zone: Any, *, end: bool) -> datetime | None:
    """A date (its start; for ``end``, the next day's start) or an aware ISO time."""
    from civiccrm.cli import _aware
    from civiccrm.errors import ValidationError
    from civiccrm.reporting._service import END_DAY, FIRST_DAY

    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        value: datetime = _aware(text, field)
        return value
    if end:
        if day >= END_DAY:  # 9999-12-31 has no next day; the report refuses it anyway
            last = END_DAY - timedelta(days=1)
            raise ValidationError.at(
                field, f"must be {last} or before (reports cover {FIRST_DAY.year} to {last.year})"
            )
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone)


def _unwritable(path: Path, *, directory: bool) -> str | None:
    """
    Why ``path`` cannot be written (a file, or a directory made if missing), or None;
    checked before a report is computed, so that a mistyped path fails at once.
    """
    try:
        if directory:
            if path.exists() and not path.is_dir():
                return "it is not a directory"
            # The nearest directory that exists must let one be made in it.
            parent = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        else:
            if path.is_dir():
                return "it is a directory"
            if path.exists():  # rewritten in place
                return None if os.access(path, os.W_OK) else "permission denied"
            parent = path.parent
            if not parent.exists():
                return f"no directory {parent}"
        if not parent.is_dir():
            return f"{parent} is not a directory"
        if not os.access(parent, os.W_OK | os.X_OK):
            return "permission denied"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _fail(option: str, message: str) -> int:
    """One line on stderr for a bad ``option``; the exit status of bad usage."""
    from civiccrm.cli import EXIT_USAGE

    sys.stderr.write(f"civiccrm: error: {option}: {message}\n")
    return int(EXIT_USAGE)


def _cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._urls import redact_url as _redact_url
    from civiccrm.cli import EXIT_OK, _database, _emit, _open
    from civiccrm.reporting._plot import require_matplotlib

    db = _database(args)
    # The output paths first: a mistyped one must not wait for the report.
    if args.plot:
        try:
            require_matplotlib()
        except ImportError as exc:
            return _fail("--plot", str(exc))
    for option, given, directory in (("--csv", args.csv, False), ("--plot", args.plot, True)):
        why = None if not given else _unwritable(Path(given), directory=directory)
        if why is not None:
            return _fail(option, f"cannot write {given}: {why}")
    with _open(db) as crm:
        zone = crm.profile.agency.zone
        until = _bound(args.until, "until", zone, end=True) or crm.clock.now()
        since = _bound(args.since, "since", zone, end=False)
        if since is None:
            local = until.astimezone(zone).date()
            monday = local - timedelta(days=local.weekday()) - timedelta(weeks=12)
            since = datetime.combine(monday, time(0), tzinfo=zone)
        report = crm.reports.kpis(
            since=since,
            until=until,
            by=args.by,
            departments=args.departments,
            queues=args.queues,
            case_types=args.case_types,
            channels=args.channels,
            agents=args.agents,
            districts=args.districts,
            compute="stream" if args.stream else "auto",
        )
        charts = []
        if args.plot:
            try:
                charts = crm.reports.plot(report, args.plot)
            except ImportError as exc:
                return _fail("--plot", str(exc))
            except OSError as exc:
                return _fail("--plot", f"cannot write {args.plot}: {exc.strerror or exc}")
    if args.csv:
        try:
            with open(args.csv, "w", encoding="utf-8", newline="") as f:
                f.write(report.to_csv())
        except OSError as exc:
            return _fail("--csv", f"cannot write {args.csv}: {exc.strerror or exc}")
    text = report.table()
    if args.csv:
        text += f"\nfigures written to {args.csv}\n"
    if charts:
        text += "\ncharts written:\n" + "".join(f"  {p}\n" for p in charts)
    data = {
        "db": _redact_url(db.db),
        **report.to_dict(),
        "csv": args.csv,
        "charts": [str(p) for p in charts],
    }
    _emit(args, data, text, out)
    return EXIT_OK
