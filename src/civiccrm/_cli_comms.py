"""
``civiccrm messages ...`` and ``civiccrm surveys ...``: the outbox and satisfaction surveys.

::

    civiccrm messages dispatch [--channel SPEC ...] [--limit N] [--lease SECONDS]
    civiccrm messages list [--status S] [--case ID_OR_REF] [--limit N]
    civiccrm messages retry (ID ... | --all-failed)
    civiccrm surveys answer TOKEN --score N [--comment TEXT]

``dispatch`` sends what the outbox holds through the channel(s) given (default:
``$CIVICCRM_MESSAGE_CHANNEL``), such as ``smtp://mail.example.gov:587`` or
``files:/var/spool/civiccrm``; run it from cron, or as many as you like at once.
``list`` shows each message's state, never its recipient or text. A TOKEN of ``-``
is read from stdin (so that it stays out of the shell's history). Each command prints
one summary (``--json``: one object) and exits 0; bad input exits 2 with one readable
line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

__all__ = ["add_messages_commands"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 604800")
    return value


def add_messages_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm messages ...`` and ``civiccrm surveys ...`` to the subparsers."""
    from civiccrm.cli import _group, _positive

    group = _group(sub, common, "messages", "outbound messages: the outbox and its dispatch")

    dispatch = group.add_parser(
        "dispatch",
        parents=[common],
        help="send the messages that are due",
        description="Send the outbox's due messages (and those a stopped dispatcher left "
        "half-sent) through the channel(s) given: each is claimed under a lease, sent with "
        "the Message-ID it was given when queued, and marked at once. A failed message is "
        "tried again later with a growing delay, up to the profile's max_attempts. Safe to "
        "run from many processes at once.",
    )
    dispatch.add_argument(
        "--channel",
        dest="channels",
        action="append",
        default=None,
        metavar="SPEC",
        help="smtp://[user:pass@]host[:port][?starttls=true], smtps://..., files:/folder, or "
        "a plugin's spec (repeatable: each takes the media it carries; default "
        "$CIVICCRM_MESSAGE_CHANNEL)",
    )
    dispatch.add_argument("--limit", type=_positive, default=None, metavar="N", help="at most N")
    dispatch.add_argument(
        "--lease",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="how long a claimed message is this dispatcher's alone (default 300): longer "
        "than the slowest send",
    )
    dispatch.set_defaults(handler=_cmd_dispatch)

    listing = group.add_parser(
        "list",
        parents=[common],
        help="the outbox: each message's state (never its recipient or text)",
    )
    listing.add_argument(
        "--status",
        default=None,
        choices=("pending", "sending", "sent", "failed", "cancelled"),
        help="only messages in this status",
    )
    listing.add_argument("--case", default=None, metavar="ID_OR_REF", help="one case's messages")
    listing.add_argument("--limit", type=_positive, default=50, metavar="N", help="default 50")
    listing.set_defaults(handler=_cmd_list)

    retry = group.add_parser(
        "retry",
        parents=[common],
        help="queue failed messages again",
        description="Queue failed messages again, their attempts counted from zero: the ones "
        "named, or with --all-failed every failed one. A cancelled message (an opt-out, no "
        "address) is not sent again.",
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="message ids")
    retry.add_argument("--all-failed", action="store_true", help="every failed message")
    retry.set_defaults(handler=_cmd_retry)

    surveys = _group(sub, common, "surveys", "satisfaction surveys of resolved cases")
    answer = surveys.add_parser(
        "answer",
        parents=[common],
        help="record a survey answer (as given on paper or by phone)",
        description="Record the answer to the survey TOKEN opens: a score from 1 to 5 and "
        "an optional comment (redacted before it is stored). The case's satisfaction "
        "becomes the score. A token answers once, and not after it expires.",
    )
    answer.add_argument("token", metavar="TOKEN", help="the survey token; - reads it from stdin")
    answer.add_argument("--score", type=int, required=True, metavar="N", help="1 to 5")
    answer.add_argument("--comment", default=None, metavar="TEXT", help="what they said")
    answer.set_defaults(handler=_cmd_answer)


def _db(args: argparse.Namespace) -> argparse.Namespace:
    from civiccrm.cli import _database

    return _database(args)


def _cmd_dispatch(args: argparse.Namespace, out: TextIO) -> int:
    from datetime import timedelta

    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        report = crm.messages.dispatch(
            args.channels, limit=args.limit, lease=timedelta(seconds=args.lease)
        )
        counts = crm.messages.counts()
    data: dict[str, Any] = {
        "sent": report.sent,
        "retrying": report.retrying,
        "failed": report.failed,
        "cancelled": report.cancelled,
        "skipped": report.skipped,
        "recovered": report.recovered,
        "lost": report.lost,
        "unhandled": report.unhandled,
        "stopped": report.stopped,
        "outbox": counts,
    }
    text = (
        f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed, "
        f"{report.cancelled} cancelled"
    )
    if report.recovered:
        text += f", {report.recovered} sent again after a stopped dispatcher"
    if report.unhandled:
        text += f", {report.unhandled} on a medium no channel given carries"
    if report.stopped:
        text += f"; stopped: the channel is down ({report.stopped})"
    pending = counts.get("pending", 0)
    text += f" ({pending} pending in the outbox)"
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open
    from civiccrm.errors import NotFoundError

    with _open(_db(args)) as crm:
        case = None
        if args.case:
            case = _case_id(crm, args.case)
            if case is None:
                raise NotFoundError("case", args.case)
        page = crm.messages.list(status=args.status, case=case, limit=args.limit)
        counts = crm.messages.counts()
    rows = [
        {
            "id": str(m.id),
            "status": m.status.value,
            "channel": m.channel,
            "event": m.event,
            "language": m.language,
            "reference": m.reference,
            "attempts": m.attempts,
            "created_at": m.created_at.isoformat(),
            "next_attempt_at": m.next_attempt_at.isoformat() if m.next_attempt_at else None,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "error": m.error,
        }
        for m in page.items
    ]
    shown = ", ".join(f"{n} {status}" for status, n in counts.items()) or "empty"
    lines = [f"outbox: {shown}"]
    for r in rows:
        when = r["sent_at"] or r["next_attempt_at"] or r["created_at"]
        lines.append(
            f"  {r['id']}  {r['status']:<9} {r['channel']:<5} {r['event'] or '-':<11} "
            f"{r['reference'] or '-':<16} tries {r['attempts']}  {when}"
            + (f"  {r['error']}" if r["error"] else "")
        )
    _emit(args, {"outbox": counts, "messages": rows}, "\n".join(lines), out)
    return EXIT_OK


def _cmd_retry(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open
    from civiccrm.errors import ValidationError

    if bool(args.ids) == bool(args.all_failed):
        raise ValidationError.at("ids", "give message ids or --all-failed (one of them)")
    with _open(_db(args)) as crm:
        done = crm.messages.retry(None if args.all_failed else args.ids)
    _emit(args, {"queued": done}, f"{done} message(s) queued again", out)
    return EXIT_OK


def _cmd_answer(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    with _open(_db(args)) as crm:
        survey = crm.surveys.answer(token, args.score, args.comment)
    data = {"survey": str(survey.id), "case": str(survey.case_id), "score": survey.score}
    _emit(args, data, f"survey answered: {survey.score} of 5 for case {survey.case_id}", out)
    return EXIT_OK


def _case_id(crm: Any, given: str) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(given))
    except ValueError:
        found = crm.cases.find_by_reference(given)
        return None if found is None else str(found.id)
