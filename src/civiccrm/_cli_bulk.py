"""
``civiccrm cases bulk ...``: safe bulk case work from the command line.

::

    civiccrm cases bulk reassign --from USERNAME [--to USERNAME] --key K [--dry-run]
    civiccrm cases bulk close (--case ID_OR_REF ... | --case-type C | --queue Q |
                               --status S | --opened-before ISO)
                              [--resolution-code X] [--note TEXT] --key K [--dry-run]
    civiccrm cases bulk merge --into REF CASE [CASE ...] --key K [--dry-run]
    civiccrm cases bulk move-type --case-type C --to-queue Q --key K [--dry-run]

Each prints one summary (``--json``: one object with the result's fields) and exits 0;
bad input exits 2 with one readable line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

import attrs

if TYPE_CHECKING:
    from civiccrm._bulkwork import BulkResult

__all__ = ["add_bulk_commands"]

_KEY_HELP = (
    "the job's idempotency key: run again with the same key to finish a job that "
    "stopped; a finished job is not run twice"
)


def add_bulk_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm cases bulk ...`` to the command's subparsers."""
    from civiccrm.cli import _group

    existing = sub.choices.get("cases")
    cases = _subcommands(existing) if existing is not None else None
    if cases is None:
        cases = _group(sub, common, "cases", "case work")
    bulk = _group(cases, common, "bulk", "safe bulk case work (idempotent, resumable)")

    reassign = bulk.add_parser(
        "reassign",
        parents=[common],
        help="take every open case off an agent (someone leaving)",
        description="Give every open case assigned to an agent to another agent (--to; "
        "an agent at capacity is never forced: those cases are skipped with the reason), "
        "or back through the assignment pipeline (the agent must be deactivated or out "
        "of the rotation first; a case nobody can take waits in its queue).",
    )
    reassign.add_argument("--from", dest="from_agent", required=True, metavar="USERNAME")
    reassign.add_argument(
        "--to",
        dest="to_agent",
        default=None,
        metavar="USERNAME",
        help="the agent who takes the cases (default: the assignment pipeline)",
    )
    _job_options(reassign)
    reassign.set_defaults(handler=_cmd_reassign)

    close = bulk.add_parser(
        "close",
        parents=[common],
        help="close many cases",
        description="Close the cases given with --case, or every case that is not final "
        "and matches all the filters given. Open cases are resolved then closed; "
        "resolved ones are closed; closed or cancelled cases are skipped.",
    )
    close.add_argument(
        "--case",
        dest="cases",
        nargs="+",
        action="extend",
        default=None,
        metavar="ID_OR_REF",
        help="a case by its reference (SR-...) or id (repeatable)",
    )
    close.add_argument("--case-type", default=None, metavar="CODE", help="cases of this type")
    close.add_argument("--queue", default=None, help="cases in this queue")
    close.add_argument(
        "--status", default=None, help="cases in this status (an open status, or resolved)"
    )
    close.add_argument(
        "--opened-before", default=None, metavar="ISO", help="cases opened before this time"
    )
    close.add_argument(
        "--resolution-code",
        default="bulk_closed",
        metavar="CODE",
        help="the resolution code of the cases resolved (default bulk_closed)",
    )
    close.add_argument("--note", default=None, metavar="TEXT", help="a note on each closing")
    _job_options(close)
    close.set_defaults(handler=_cmd_close)

    merge = bulk.add_parser(
        "merge",
        parents=[common],
        help="accept cases as duplicates of one case",
        description="Accept each CASE as a duplicate of the --into case: linked to it, and "
        "from then on following its status (resolved or closed with it). Cases of another "
        "case type are skipped with the reason.",
    )
    merge.add_argument("--into", required=True, metavar="REF", help="the case they duplicate")
    merge.add_argument("cases", nargs="+", metavar="CASE", help="a case's reference or id")
    _job_options(merge)
    merge.set_defaults(handler=_cmd_merge)

    move = bulk.add_parser(
        "move-type",
        parents=[common],
        help="move every open case of a case type to another queue",
        description="Move every open case of a case type to another queue (assignees are "
        "kept: reassign them afterwards if the new team takes over). Change the case "
        "type's queue in the profile too, for new cases.",
    )
    move.add_argument("--case-type", required=True, metavar="CODE")
    move.add_argument("--to-queue", required=True, metavar="QUEUE")
    _job_options(move)
    move.set_defaults(handler=_cmd_move_type)


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    """The subparsers of a command that has some already (None if it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, help=_KEY_HELP)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be done (counts, reasons, a sample) and write nothing",
    )


# --------------------------------------------------------------------------------------
# Commands


def _cmd_reassign(args: argparse.Namespace, out: TextIO) -> int:
    with _session(args) as crm:
        result = crm.bulk.reassign(
            args.from_agent, to_agent=args.to_agent, key=args.key, dry_run=args.dry_run
        )
    return _report(args, result, out)


def _cmd_close(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import _aware

    opened_before = _aware(args.opened_before, "opened_before")
    with _session(args) as crm:
        result = crm.bulk.close(
            case_ids=args.cases,
            case_type=args.case_type,
            queue=args.queue,
            status=args.status,
            opened_before=opened_before,
            resolution_code=args.resolution_code,
            note=args.note,
            key=args.key,
            dry_run=args.dry_run,
        )
    return _report(args, result, out)


def _cmd_merge(args: argparse.Namespace, out: TextIO) -> int:
    with _session(args) as crm:
        result = crm.bulk.merge(args.into, args.cases, key=args.key, dry_run=args.dry_run)
    return _report(args, result, out)


def _cmd_move_type(args: argparse.Namespace, out: TextIO) -> int:
    with _session(args) as crm:
        result = crm.bulk.move_case_type(
            args.case_type, to_queue=args.to_queue, key=args.key, dry_run=args.dry_run
        )
    return _report(args, result, out)


def _session(args: argparse.Namespace) -> Any:
    from civiccrm.cli import _open

    return _open(args, purpose=f"bulk case work (job {args.key})")


def _report(args: argparse.Namespace, result: BulkResult, out: TextIO) -> int:
    from civiccrm._urls import redact_url as _redact_url
    from civiccrm.cli import EXIT_OK, _emit

    data = {"db": _redact_url(args.db), **attrs.asdict(result)}
    _emit(args, data, _summary(result), out)
    return int(EXIT_OK)


def _summary(result: BulkResult) -> str:
    """A few readable lines saying what a bulk job did (or would do)."""
    what = result.operation.replace("_", " ")
    head = f"{what} (job {result.key!r})"
    if result.already_done:
        return (
            f"{head}: done already ({result.selected:,} selected, {result.changed:,} "
            f"changed, {result.skipped:,} skipped): nothing was changed now"
        )
    if result.dry_run:
        line = (
            f"{head}, dry run: {result.selected:,} selected, {result.changed:,} would be "
            f"changed, {result.skipped:,} skipped; nothing was written"
        )
    else:
        line = (
            f"{head}: {result.selected:,} selected, {result.changed:,} changed, "
            f"{result.skipped:,} skipped"
        )
        if result.waiting:
            line += f", {result.waiting:,} waiting in their queue"
    lines = [line]
    for reason, n in sorted(result.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {n:>6,}  {reason}")
    if result.sample:
        lines.append("  e.g. " + ", ".join(result.sample))
    return "\n".join(lines)
