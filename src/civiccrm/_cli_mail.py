"""
``civiccrm mail ...``: inbound email and its quarantine.

::

    civiccrm mail poll SPEC --mailbox NAME [--limit N]
    civiccrm mail quarantine [list] [--mailbox NAME] [--all]
    civiccrm mail quarantine retry ID [--force]
    civiccrm mail quarantine dismiss ID --reason TEXT
    civiccrm mail quarantine save ID --out FILE

Each prints one summary (``--json``: one object) and exits 0; bad input exits 2 with
one readable line. Progress goes to stderr. Nothing printed quotes a message's subject,
text or addresses.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from civiccrm.comms.mailbox import MailboxPoller, RawMail

__all__ = ["add_mail_commands"]


def add_mail_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm mail ...`` to the command's subparsers."""
    from civiccrm.cli import _group, _Parser, _positive

    group = _group(sub, common, "mail", "inbound email: poll mailboxes, the quarantine")

    poll = group.add_parser(
        "poll",
        parents=[common],
        help="take the messages waiting in a mailbox",
        description="Take every message waiting in a maildir, an mbox or a plugin's "
        "mailbox: a reply is threaded to its case, any other message opens a case of the "
        "mailbox's case type (the profile's [mail.mailboxes.NAME]); what cannot be read "
        "is quarantined, never lost. Safe to run again at any time (from cron): nothing "
        "is taken twice.",
    )
    poll.add_argument("spec", metavar="SPEC", help="maildir:PATH, mbox:PATH, or a plugin's spec")
    poll.add_argument("--mailbox", required=True, help="the profile's mailbox it is")
    poll.add_argument("--limit", type=_positive, default=None, help="take at most N messages")
    poll.set_defaults(handler=_cmd_poll)

    quarantine: argparse.ArgumentParser = group.add_parser(
        "quarantine",
        parents=[common],
        help="list, retry or dismiss quarantined messages",
        description="The messages that could not be taken, with the reason (list is the default).",
    )
    _listing_options(quarantine)
    quarantine.set_defaults(handler=_cmd_list)
    actions: Any = quarantine.add_subparsers(
        dest="quarantine_command", metavar="COMMAND", parser_class=_Parser
    )
    listing = actions.add_parser("list", parents=[common], help="the messages waiting")
    _listing_options(listing)
    listing.set_defaults(handler=_cmd_list)

    retry = actions.add_parser(
        "retry",
        parents=[common],
        help="take a quarantined message again",
        description="Take a quarantined message again (after fixing the profile or raising "
        "the size limit). Taken, its raw bytes are destroyed; else it stays, with the new "
        "reason.",
    )
    retry.add_argument("id", metavar="ID")
    retry.add_argument(
        "--force", action="store_true", help="take what can be read whatever its problem"
    )
    retry.set_defaults(handler=_cmd_retry)

    dismiss = actions.add_parser(
        "dismiss", parents=[common], help="close an entry without taking it (bytes destroyed)"
    )
    dismiss.add_argument("id", metavar="ID")
    dismiss.add_argument("--reason", required=True, help="why (kept in clear: no personal data)")
    dismiss.set_defaults(handler=_cmd_dismiss)

    save = actions.add_parser(
        "save", parents=[common], help="write a quarantined message's raw bytes to a file"
    )
    save.add_argument("id", metavar="ID")
    save.add_argument("--out", required=True, metavar="FILE", help="the .eml file to write")
    save.set_defaults(handler=_cmd_save)


def _listing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mailbox", default=None, help="only this mailbox's")
    parser.add_argument("--all", action="store_true", help="those dealt with too")


def _db(args: argparse.Namespace) -> argparse.Namespace:
    from civiccrm.cli import _database

    return _database(args)


class _Listed:
    """A poller's waiting messages listed first (handles, not bytes), for a progress bar."""

    def __init__(self, poller: MailboxPoller, limit: int | None) -> None:
        self._poller = poller
        self.name = poller.name
        items = list(poller.messages())
        self.items = items[:limit] if limit is not None else items

    def messages(self) -> Iterator[RawMail]:
        return iter(self.items)

    def acknowledge(self, uid: str) -> None:
        self._poller.acknowledge(uid)

    def close(self) -> None:
        self._poller.close()


def _cmd_poll(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._progress import Progress
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        # The mailbox is checked before anything is read from the spec.
        crm.mail.mailbox(args.mailbox)
        poller = crm.mail.open_poller(args.spec)
        try:
            listed = _Listed(poller, args.limit)
            with Progress(len(listed.items), f"taking mail from {poller.name}") as bar:
                report = crm.mail.poll(
                    listed, mailbox=args.mailbox, progress=lambda _result: bar.advance()
                )
        finally:
            poller.close()
        reasons = {q.id: q.reason for q in crm.mail.quarantine(mailbox=args.mailbox)}
    data = {
        "mailbox": report.mailbox,
        "source": report.source,
        "seen": report.seen,
        "taken": report.taken,
        "opened": report.opened,
        "threaded": report.threaded,
        "quarantined": report.quarantined,
        "skipped": report.skipped,
        "duplicates": report.duplicates,
        "left": report.left,
        "quarantine": [{"id": str(i), "reason": reasons.get(i, "")} for i in report.quarantine_ids],
    }
    lines = [
        f"{report.source} -> mailbox {report.mailbox}: {report.seen:,} seen, "
        f"{report.taken:,} taken ({report.opened:,} opened a case, {report.threaded:,} "
        f"threaded), {report.quarantined:,} quarantined, {report.skipped:,} skipped, "
        f"{report.duplicates:,} taken before"
        + (f", {report.left:,} left for the next poll" if report.left else "")
    ]
    for entry in data["quarantine"]:
        lines.append(f"  quarantined {entry['id']}: {entry['reason']}")
    _emit(args, data, "\n".join(lines), out)
    return EXIT_OK


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        entries = crm.mail.quarantine(mailbox=args.mailbox, resolved=args.all)
    rows = [
        {
            "id": str(q.id),
            "mailbox": q.mailbox,
            "received_at": q.received_at.isoformat(),
            "size": q.size,
            "reason": q.reason,
            "retries": q.retries,
            "resolution": q.resolution,
        }
        for q in entries
    ]
    n = len(rows)
    lines = [f"{n} quarantined message" + ("" if n == 1 else "s")]
    for r in rows:
        state = f"  [{r['resolution']}]" if r["resolution"] else ""
        lines.append(
            f"  {r['id']}  {r['mailbox']}  {r['received_at']}  {r['size']:,} bytes  "
            f"{r['reason']}{state}"
        )
    _emit(args, {"quarantine": rows}, "\n".join(lines), out)
    return EXIT_OK


def _cmd_retry(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        result = crm.mail.retry(args.id, force=args.force)
    data = {
        "id": args.id,
        "outcome": result.outcome.value,
        "case_id": str(result.case_id) if result.case_id else None,
        "interaction_id": str(result.interaction_id) if result.interaction_id else None,
        "reason": result.reason,
        "notes": list(result.notes),
    }
    if result.case_id is not None:
        text = f"quarantined message {args.id} {result.outcome.value}: case {result.case_id}"
    else:
        text = f"quarantined message {args.id} stays quarantined: {result.reason}"
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_dismiss(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        q = crm.mail.dismiss(args.id, reason=args.reason)
    data = {"id": str(q.id), "resolution": q.resolution}
    _emit(args, data, f"quarantined message {q.id} {q.resolution}; its bytes are destroyed", out)
    return EXIT_OK


def _cmd_save(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        data = crm.mail.raw(args.id)
    # Readable by its owner only: it is somebody's email.
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    _emit(
        args,
        {"id": args.id, "out": args.out, "bytes": len(data)},
        f"quarantined message {args.id}: {len(data):,} bytes written to {args.out}",
        out,
    )
    return EXIT_OK
