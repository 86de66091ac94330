"""
The ``civiccrm`` command.

Conventions every subcommand follows:

- ``--db URL``: the database (default: ``$CIVICCRM_DB``, then ``sqlite:///civiccrm.db``);
- ``--profile PATH``: the agency profile (default: ``$CIVICCRM_PROFILE``);
- ``--json``: machine-readable output, one JSON object on stdout;
- ``--debug``: a traceback on errors instead of one readable message;
- exit status 0 on success, 1 when a check found a problem, 2 for bad usage or input
  (3 only for an unexpected internal error: a bug, please report it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

import attrs

from civiccrm._clock import SystemClock
from civiccrm._urls import redact_url as _redact_url
from civiccrm._urls import scrub_url as _scrub_url
from civiccrm.errors import CivicCRMError, PolicyError, ValidationError
from civiccrm.profile import load_profile, springfield_path

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_PROBLEM: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERNAL: Final = 3
DEFAULT_DB: Final = "sqlite:///civiccrm.db"
DEMO_DB: Final = "sqlite:///civiccrm-demo.db"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with status 2 and one clear line."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _version() -> str:
    from importlib.metadata import version

    return version("civiccrm")


def _common() -> _Parser:
    # Options every command takes, before or after the subcommand's name. Defaults are
    # SUPPRESS here so that a subcommand does not overwrite what was given before it.
    common = _Parser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"database URL (default: $CIVICCRM_DB, then {DEFAULT_DB})",
    )
    common.add_argument(
        "--profile",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="agency profile TOML (default: $CIVICCRM_PROFILE)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON object instead of text",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show a traceback on errors"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``civiccrm`` command."""
    common = _common()
    parser = _Parser(
        prog="civiccrm",
        description="civiccrm: a CRM core for government (citizens, cases, SLAs, privacy).",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"civiccrm {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="generate and check a realistic workload",
        description="Load an agency profile (the Springfield example unless --profile is "
        "given), generate a realistic seeded workload of citizens and cases, check every "
        "record through validation and serialization, and print a summary.",
    )
    demo.add_argument(
        "--cases", type=_positive, default=20_000, help="cases to generate (default 20000)"
    )
    demo.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    demo.set_defaults(handler=_cmd_demo)

    profile = sub.add_parser("profile", parents=[common], help="agency profile tools")
    profile_sub = profile.add_subparsers(
        dest="profile_command", metavar="COMMAND", parser_class=_Parser
    )
    check = profile_sub.add_parser(
        "check",
        parents=[common],
        help="check an agency profile and list every problem",
        description="Load an agency profile and report every problem by its TOML path. "
        "Exit status 1 if there are problems.",
    )
    check.add_argument("path", nargs="?", help="the profile (default: --profile)")
    check.set_defaults(handler=_cmd_profile_check)
    profile.set_defaults(handler=lambda _args, out: _help(profile, out))

    audit_sub = _group(sub, common, "audit", "audit trail tools")
    verify = audit_sub.add_parser(
        "verify",
        parents=[common],
        help="check the audit trail's hash chain",
        description="Check every entry of the audit trail (its keyed hash, its link to the "
        "entry before, checkpoints, and the signed anchor of the last entries). Exit status "
        "1 names the first bad entry.",
    )
    verify.set_defaults(handler=_cmd_audit_verify)

    sla_sub = _group(sub, common, "sla", "SLA tools")
    sweep = sla_sub.add_parser(
        "sweep",
        parents=[common],
        help="record SLA warnings and breaches that are due",
        description="Record the SLA warnings and breaches that happened by now and are not "
        "recorded yet, and tell the observers. Idempotent: safe from cron every minute and "
        "from two hosts at once.",
    )
    sweep.add_argument(
        "--now", default=None, help="sweep as of this aware ISO 8601 time (default: now)"
    )
    sweep.set_defaults(handler=_cmd_sla_sweep)

    keys_sub = _group(sub, common, "keys", "key management")
    rotate = keys_sub.add_parser(
        "rotate",
        parents=[common],
        help="rewrap every data key under a new key-encryption key",
        description="Rewrap every data key under a new key-encryption key (data is not "
        "re-encrypted). Resumable: run it again with the same keys to finish an "
        "interrupted rotation. Keep the old key until it has finished.",
    )
    rotate.add_argument("--key", required=True, help="the current key (file:/path or env:VAR)")
    rotate.add_argument("--new-key", required=True, help="the new key (file:/path or env:VAR)")
    rotate.add_argument(
        "--create", action="store_true", help="create the new key file if it does not exist"
    )
    rotate.set_defaults(handler=_cmd_keys_rotate)

    route_sub = _group(sub, common, "route", "routing and assignment")
    explain = route_sub.add_parser(
        "explain",
        parents=[common],
        help="show why a case went where it went",
        description="Print every routing and assignment decision recorded for a case: "
        "which rule matched and on what evidence, which rules were skipped and why, who "
        "was eligible, why each other agent was not, and where the rotation stood.",
    )
    explain.add_argument("case", help="the case: its reference (SR-...) or its id")
    explain.set_defaults(handler=_cmd_route_explain)
    waiting = route_sub.add_parser(
        "waiting",
        parents=[common],
        help="route and assign the cases waiting in queues",
        description="Route every new, unassigned case again and give it to an agent where "
        "one can take it (after agents joined a queue or closed cases, say). Each "
        "decision is recorded with its explanation.",
    )
    waiting.add_argument("--queue", default=None, help="only this queue's cases")
    waiting.set_defaults(handler=_cmd_route_waiting)

    auto_sub = _group(sub, common, "automations", "the profile's built-in automations")
    run = auto_sub.add_parser(
        "run",
        parents=[common],
        help="auto-close resolved cases and remind owners of pending ones",
        description="Close resolved cases past the profile's auto-close period and remind "
        "the owners of cases pending too long. Safe to run again (nightly from cron).",
    )
    run.add_argument("--now", default=None, help="run as of this aware ISO 8601 time")
    run.set_defaults(handler=_cmd_automations_run)

    export_sub = _group(sub, common, "export", "export records to files")
    export_cases = export_sub.add_parser(
        "cases",
        parents=[common],
        help="export cases to CSV or JSON Lines, free text redacted",
        description="Write cases to a CSV or JSON Lines file, streamed in batches, with "
        "personal data in their free text (title, description) redacted by a redaction "
        "policy and the requester's own name, email and phone found with certainty. The "
        "file appears only when complete. Every read is audited with --purpose.",
    )
    export_cases.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    export_cases.add_argument(
        "--format", choices=("csv", "jsonl"), default=None, help="default: from FILE, else csv"
    )
    export_cases.add_argument(
        "--fields",
        default=None,
        metavar="A,B,C",
        help="the fields of each row (default: ids, type, status, times, title, description)",
    )
    export_cases.add_argument("--type", default=None, metavar="CODE[,CODE]", help="case types")
    export_cases.add_argument("--status", default=None, metavar="S[,S]", help="statuses")
    export_cases.add_argument("--department", default=None, metavar="CODE", help="a department")
    export_cases.add_argument("--queue", default=None, metavar="CODE", help="a queue")
    export_cases.add_argument(
        "--since",
        default=None,
        metavar="DATE",
        help="cases opened on or after (a date or ISO time)",
    )
    export_cases.add_argument(
        "--until",
        default=None,
        metavar="DATE",
        help="cases opened before the end of this date (or before this ISO time)",
    )
    export_cases.add_argument(
        "--policy",
        default="export",
        metavar="NAME",
        help="the redaction policy: export (default) or public; none exports free text unredacted",
    )
    export_cases.add_argument(
        "--purpose",
        default="case export",
        metavar="TEXT",
        help="why the cases are read (recorded in the audit trail; default 'case export')",
    )
    export_cases.set_defaults(handler=_cmd_export_cases)

    from civiccrm._cli_bulk import add_bulk_commands

    add_bulk_commands(sub, common)

    from civiccrm._cli_import import add_import_commands
    from civiccrm._cli_open311 import add_open311_commands
    from civiccrm._cli_worker import add_worker_commands

    add_import_commands(sub, common)
    add_worker_commands(sub, common)
    add_open311_commands(sub, common)

    from civiccrm._cli_retention import add_retention_commands

    add_retention_commands(sub, common)

    from civiccrm._cli_comms import add_messages_commands
    from civiccrm._cli_mail import add_mail_commands
    from civiccrm._cli_report import add_report_commands

    add_report_commands(sub, common)
    add_messages_commands(sub, common)
    add_mail_commands(sub, common)
    return parser


def _group(sub: Any, common: argparse.ArgumentParser, name: str, help_text: str) -> Any:
    """The subcommands of a command (``civiccrm audit verify``); alone, it prints its help."""
    parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text)
    group = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", parser_class=_Parser)
    parser.set_defaults(handler=lambda _args, out: _help(parser, out))
    return group


def _help(parser: argparse.ArgumentParser, out: TextIO) -> int:
    parser.print_help(out)
    return EXIT_USAGE


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _settings(args: argparse.Namespace) -> argparse.Namespace:
    args.db_given = getattr(args, "db", None)
    args.db = getattr(args, "db", None) or os.environ.get("CIVICCRM_DB") or DEFAULT_DB
    args.profile = getattr(args, "profile", None) or os.environ.get("CIVICCRM_PROFILE") or None
    args.json = getattr(args, "json", False)
    args.debug = getattr(args, "debug", False)
    return args


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str, out: TextIO) -> None:
    if args.json:
        out.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        out.write(text + ("\n" if not text.endswith("\n") else ""))


# --------------------------------------------------------------------------------------
# Commands


def _cmd_profile_check(args: argparse.Namespace, out: TextIO) -> int:
    path = args.path or args.profile
    if not path:
        raise ValidationError.at(
            "path", "give a profile path or --profile (or set CIVICCRM_PROFILE)"
        )
    try:
        profile = load_profile(path)
    except PolicyError as exc:
        data = {
            "ok": False,
            "path": str(path),
            "problems": [{"path": p.path, "message": p.message} for p in exc.problems],
        }
        _emit(args, data, str(exc), out)
        return EXIT_PROBLEM
    warnings = list(profile.routing.warnings)
    data = {
        "ok": True,
        "path": str(path),
        "agency": profile.agency.name,
        "departments": len(profile.departments),
        "queues": len(profile.queues),
        "case_types": len(profile.case_types),
        "routing_rules": len(profile.routing.rules.rules),
        "warnings": warnings,
    }
    text = (
        f"{path}: ok: {profile.agency.name}, {_count(len(profile.departments), 'department')}, "
        f"{_count(len(profile.queues), 'queue')}, {_count(len(profile.case_types), 'case type')}, "
        f"{_count(len(profile.routing.rules.rules), 'routing rule')}"
    )
    if warnings:
        text += "\n" + "\n".join(f"warning: {w}" for w in warnings)
    _emit(args, data, text, out)
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _database(args: argparse.Namespace, *, must_exist: bool = True) -> argparse.Namespace:
    """``--db`` and ``--profile`` of a command, a plain path made a ``sqlite:///`` URL.
    A command that reads a database needs one that exists (a mistyped path must not make
    an empty database); one that imports may make it (``must_exist=False``)."""
    db = args.db
    if "://" not in db:
        db = "sqlite:///" + os.path.abspath(db)
    if must_exist and db.startswith("sqlite:///") and not os.path.exists(db[len("sqlite:///") :]):
        raise ValidationError.at("db", f"no database at {db[len('sqlite:///') :]}")
    return argparse.Namespace(db=db, profile=args.profile)


def _open(args: argparse.Namespace, **kw: Any) -> Any:
    import civiccrm

    path = args.profile or springfield_path()
    return civiccrm.open(args.db, profile=load_profile(path), **kw)


def _key_file_hint(url: str) -> str:
    if os.environ.get("CIVICCRM_KEY"):
        return f"(the key given by CIVICCRM_KEY={os.environ['CIVICCRM_KEY']})"
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :] + ".kek"
    return "(the key given with --key)"


def _cmd_audit_verify(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._auditing import verify_log

    shown = _redact_url(args.db)
    with _open(args) as crm:
        crm.auditor.flush()
        report = verify_log(crm.storage, crm.keys)
    data = {
        "db": shown,
        "ok": report.ok,
        "entries": report.entries,
        "head": None if report.head is None else report.head.n,
        "first_bad_seq": report.first_bad_seq,
        "first_bad_n": report.first_bad_n,
        "problem": report.problem,
    }
    if report.ok:
        text = f"{shown}: the audit trail is whole: {report.entries:,} entries verified"
    else:
        text = (
            f"{shown}: the audit trail is BROKEN at entry {report.first_bad_n} "
            f"(storage sequence {report.first_bad_seq}): {report.problem}"
        )
    _emit(args, data, text, out)
    return EXIT_OK if report.ok else EXIT_PROBLEM


def _aware(text: str | None, field: str = "now") -> Any:
    """An aware datetime from ISO 8601 text (None stays None)."""
    from datetime import datetime

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError.at(field, f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise ValidationError.at(field, "give a time zone (2026-03-09T15:00:00Z)")
    return value


def find_case(crm: Any, ref: str) -> Any:
    """A case by its reference (SR-...) or its id; ValidationError if there is none."""
    import uuid

    from civiccrm.errors import NotFoundError

    try:
        return crm.cases.get(uuid.UUID(ref))
    except ValueError:
        pass
    except NotFoundError:
        raise ValidationError.at("case", f"no case {ref}") from None
    found = crm.cases.find_by_reference(ref)
    if found is None:
        raise ValidationError.at("case", f"no case with reference {ref!r}")
    return found


def _cmd_route_explain(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args, purpose="routing explanation") as crm:
        case = find_case(crm, args.case)
        text = crm.routing.explain(case)
    data = {"case": str(case.id), "reference": case.reference, "explanation": text}
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_route_waiting(args: argparse.Namespace, out: TextIO) -> int:
    shown = _redact_url(args.db)
    with _open(args) as crm:
        ids = list(crm.routing.waiting(queue=args.queue))
        report = crm.routing.route_many(ids, assign=True)
    data = {"db": shown, **attrs.asdict(report)}
    text = (
        f"{shown}: {report.routed:,} waiting cases routed, {report.assigned:,} assigned, "
        f"{report.waiting:,} still waiting (the reason is in each case's history)"
    )
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_automations_run(args: argparse.Namespace, out: TextIO) -> int:
    now = _aware(args.now)
    shown = _redact_url(args.db)
    with _open(args) as crm:
        report = crm.automations.run(now=now)
    data = {"db": shown, **attrs.asdict(report)}
    text = (
        f"{shown}: {report.closed:,} resolved cases closed, "
        f"{report.reminded:,} reminders about pending cases"
    )
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_sla_sweep(args: argparse.Namespace, out: TextIO) -> int:
    now = _aware(args.now)
    started = time.perf_counter()
    shown = _redact_url(args.db)
    with _open(args) as crm:
        report = crm.sla.sweep(now=now)
    seconds = time.perf_counter() - started
    data = {"db": shown, **attrs.asdict(report), "seconds": round(seconds, 3)}
    text = (
        f"{shown}: {report.checked:,} cases checked, {report.warnings:,} warnings and "
        f"{report.breaches:,} breaches recorded"
        + (f", {report.conflicts:,} left to another sweep" if report.conflicts else "")
    )
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_keys_rotate(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._keys import provider_from_spec

    old = provider_from_spec(args.key)
    new = provider_from_spec(args.new_key, create=args.create)
    if old is None or new is None:
        raise ValidationError.at("key", "keys are given as file:/path or env:VARIABLE")
    # The new key too, to open keys an earlier, interrupted run moved already.
    shown = _redact_url(args.db)
    with _open(args, key=old, previous_keys=[new]) as crm:
        report = crm.keys.rotate(new)
    data = {"db": shown, **attrs.asdict(report)}
    text = (
        f"{shown}: {report.rewrapped:,} keys rewrapped, {report.already:,} already under "
        f"the new key, {report.erased:,} erased; the new key is now needed to open the database"
    )
    _emit(args, data, text, out)
    return EXIT_OK


def _export_time(text: str | None, field: str, *, end_of_day: bool = False) -> Any:
    """A date (``2026-03-01``) or an aware ISO 8601 time; an end date means the day after."""
    from datetime import date, timedelta

    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return _aware(text, field)
    return day + timedelta(days=1) if end_of_day else day


def _cmd_export_cases(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._progress import Progress

    db = _database(args).db
    fmt = args.format or ("jsonl" if args.out.endswith((".jsonl", ".ndjson")) else "csv")
    where: dict[str, object] = {}
    for key, given in (
        ("case_type", args.type),
        ("status", args.status),
        ("department", args.department),
        ("queue", args.queue),
    ):
        if given is not None:
            where[key] = [v.strip() for v in given.split(",")]
    since = _export_time(args.since, "since")
    until = _export_time(args.until, "until", end_of_day=True)
    if since is not None:
        where["opened_from"] = since
    if until is not None:
        where["opened_to"] = until
    policy = None if args.policy.lower() == "none" else args.policy
    bar: list[Progress] = []

    def progress(done: int, total: int | None) -> None:
        if not bar:
            bar.append(Progress(total or 0, "exporting cases"))
        bar[0].advance(done - bar[0].done)

    with _open(argparse.Namespace(db=db, profile=args.profile), purpose=args.purpose) as crm:
        failed = True
        try:
            result = crm.export.cases(
                args.out,
                format=fmt,
                fields=args.fields,
                where=where,
                policy=policy,
                purpose=args.purpose,
                progress=progress,
            )
            failed = False
        finally:
            if bar:
                bar[0].close(failed=failed)
    data = {
        "db": _redact_url(db),
        "path": str(result.path),
        "count": result.count,
        "format": result.format,
        "policy": result.policy,
        "fields": list(result.fields),
        "seconds": round(result.seconds, 3),
    }
    redaction = f"policy {result.policy!r}" if result.policy else "NOT redacted"
    text = (
        f"{_redact_url(db)}: {_count(result.count, 'case')} exported to {result.path} "
        f"({result.format}, free text {redaction}) in {result.seconds:.1f}s"
    )
    _emit(args, data, text, out)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    import civiccrm
    from civiccrm._demo import build_demo, demo_as_of

    path = args.profile or springfield_path()
    profile = load_profile(path)
    # The demo writes its own database unless --db says otherwise: never the one in
    # CIVICCRM_DB, which may hold real data.
    url = args.db_given or DEMO_DB
    shown = _redact_url(url)
    clock = SystemClock()
    started = time.perf_counter()
    with civiccrm.open(url, profile=profile, clock=clock) as crm:
        done = build_demo(crm, cases=args.cases, seed=args.seed, as_of=demo_as_of(clock.now()))
        by_status = crm.storage.count("case", group_by="status")
        open_by_queue = crm.cases.count_open_by_queue()
        totals = {
            kind: sum(crm.storage.count(kind).values())
            for kind in ("citizen", "case", "case_event", "interaction", "agent")
        }
    elapsed = time.perf_counter() - started
    data = {
        "db": shown,
        "profile": str(path),
        "agency": profile.agency.name,
        "created": done["created"],
        "records": totals,
        "cases_by_status": {str(k): v for k, v in sorted(by_status.items(), key=lambda kv: -kv[1])},
        "open_cases_by_queue": {
            str(k): v for k, v in sorted(open_by_queue.items(), key=lambda kv: -kv[1])
        },
        "seconds": round(elapsed, 3),
    }
    lines = [
        f"{profile.agency.name}: {len(profile.case_types)} case types in "
        f"{len(profile.departments)} departments ({path})",
        (
            f"built {shown} in {elapsed:.1f}s"
            if done["created"]
            else f"{shown} already holds the demo; nothing was changed"
        ),
        "records: " + ", ".join(f"{v:,} {k.replace('_', ' ')}s" for k, v in totals.items()),
        "cases by status:",
        *(f"  {k:<20} {v:>8,}" for k, v in data["cases_by_status"].items()),
        "open cases by queue:",
        *(f"  {k:<20} {v:>8,}" for k, v in data["open_cases_by_queue"].items()),
        "",
        "Personal data is encrypted; its key is in the key file beside the database",
        f"  {_key_file_hint(url)}  (without it the data cannot be read: keep it safe)",
        "",
        "Next: point the other commands at it:",
        f"  export CIVICCRM_DB={shown}",
        f"  export CIVICCRM_PROFILE={path}",
    ]
    _emit(args, data, "\n".join(lines), out)
    return EXIT_OK


# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """
    Run the ``civiccrm`` command with ``argv`` (default: ``sys.argv[1:]``); return the
    exit status.
    """
    out = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    args = _settings(args)
    handler: Callable[[argparse.Namespace, TextIO], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(out)
        return EXIT_USAGE
    try:
        return handler(args, out)
    except CivicCRMError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"civiccrm: error: {_scrub_url(str(exc), args.db)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("civiccrm: interrupted\n")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        sys.stderr.write(
            f"civiccrm: internal error: {type(exc).__name__}: {_scrub_url(str(exc), args.db)} "
            "(run again with --debug for a traceback, and please report it)\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
