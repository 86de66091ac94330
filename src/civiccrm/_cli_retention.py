"""
``civiccrm retention ...``: retention schedules, legal holds and dispositions.

::

    civiccrm retention plan [--as-of ISO] [--out plan.csv]
    civiccrm retention apply --key K [--as-of ISO] [--batch N] [--archive-dir DIR]
                             [--certificate FILE]
    civiccrm retention certificate --key K [--out FILE]
    civiccrm retention hold --reason TEXT --authority TEXT
                            (--case ID_OR_REF ... | --party ID ... |
                             --case-type CODE [--created-from ISO] [--created-until ISO])
    civiccrm retention release HOLD_ID --reason TEXT
    civiccrm retention holds [--all]

Each prints one summary (``--json``: one object) and exits 0; bad input exits 2 with
one readable line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO

__all__ = ["add_retention_commands"]


def add_retention_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm retention ...`` to the command's subparsers."""
    from civiccrm.cli import _group

    group = _group(sub, common, "retention", "retention schedules, legal holds, dispositions")

    plan = group.add_parser(
        "plan",
        parents=[common],
        help="what a retention run would dispose of (writes nothing)",
        description="Count, per schedule, the records due for disposition, held by a "
        "legal hold, not yet due, or not yet triggered (open cases), as of now or --as-of; "
        "with --out, list each due or held record in a CSV file (ids, codes and dates: no "
        "personal data).",
    )
    plan.add_argument("--as-of", default=None, metavar="ISO", help="judge as of this time")
    plan.add_argument("--out", default=None, metavar="FILE", help="a CSV file of the records")
    plan.set_defaults(handler=_cmd_plan)

    apply = group.add_parser(
        "apply",
        parents=[common],
        help="dispose of every record due and not held (batched, resumable)",
        description="Destroy, anonymise, archive or flag for review every record due under "
        "the profile's retention schedules and not held, in atomic batches. Run it again "
        "with the same --key to finish a run that stopped; a finished run is not run twice. "
        "Prints the disposition certificate's summary.",
    )
    apply.add_argument("--key", required=True, help="the run's idempotency key (e.g. 2026-11)")
    apply.add_argument("--as-of", default=None, metavar="ISO", help="judge as of this time")
    apply.add_argument("--batch", type=int, default=200, help="records per transaction")
    apply.add_argument(
        "--archive-dir", default=None, metavar="DIR", help="where archive dispositions write"
    )
    apply.add_argument(
        "--certificate", default=None, metavar="FILE", help="write the certificate (JSON) here"
    )
    apply.set_defaults(handler=_cmd_apply)

    cert = group.add_parser(
        "certificate", parents=[common], help="a run's disposition certificate (JSON)"
    )
    cert.add_argument("--key", required=True, help="the run's key")
    cert.add_argument("--out", default=None, metavar="FILE", help="write it here")
    cert.set_defaults(handler=_cmd_certificate)

    hold = group.add_parser(
        "hold",
        parents=[common],
        help="place a legal hold on cases, parties or a query",
        description="Suspend the disposition of the cases given, of everything of the "
        "parties given, or of the cases of a type created in a date range, until the hold "
        "is released.",
    )
    hold.add_argument("--reason", required=True, help="why (a lawsuit, an audit, a request)")
    hold.add_argument("--authority", required=True, help="who or what orders it")
    hold.add_argument(
        "--case", dest="cases", nargs="+", action="extend", default=[], metavar="ID_OR_REF"
    )
    hold.add_argument("--party", dest="parties", nargs="+", action="extend", default=[])
    hold.add_argument("--case-type", default=None, metavar="CODE")
    hold.add_argument("--created-from", default=None, metavar="ISO")
    hold.add_argument("--created-until", default=None, metavar="ISO")
    hold.set_defaults(handler=_cmd_hold)

    release = group.add_parser("release", parents=[common], help="release a legal hold")
    release.add_argument("hold_id", metavar="HOLD_ID")
    release.add_argument("--reason", required=True, help="why it ends")
    release.set_defaults(handler=_cmd_release)

    holds = group.add_parser("holds", parents=[common], help="list the legal holds in force")
    holds.add_argument("--all", action="store_true", help="released ones too")
    holds.set_defaults(handler=_cmd_holds)


def _db(args: argparse.Namespace) -> argparse.Namespace:
    from civiccrm.cli import _database

    return _database(args)


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _aware, _emit, _open

    as_of = _aware(args.as_of, "as_of")
    with _open(_db(args)) as crm:
        plan = crm.retention.plan(as_of=as_of, out=args.out)
    lines = [f"retention plan as of {plan.as_of.isoformat()}: {plan.due:,} due, {plan.held:,} held"]
    for code, counts in plan.counts.items():
        shown = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items()))
        lines.append(f"  {code or '(no schedule)'}: {shown}")
    if plan.path is not None:
        lines.append(f"records listed in {plan.path}")
    data = {
        "as_of": plan.as_of.isoformat(),
        "due": plan.due,
        "held": plan.held,
        "counts": plan.counts,
        "path": str(plan.path) if plan.path else None,
    }
    _emit(args, data, "\n".join(lines), out)
    return EXIT_OK


def _cmd_apply(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._progress import Progress
    from civiccrm.cli import EXIT_OK, _aware, _emit, _open

    as_of = _aware(args.as_of, "as_of")
    with _open(_db(args)) as crm:
        # The bar's total: what is due now (a resumed run judges as of its start).
        total = crm.retention.plan(as_of=as_of).due
        with Progress(total, "disposing of records") as bar:
            run = crm.retention.apply(
                key=args.key,
                as_of=as_of,
                batch=args.batch,
                archive_dir=args.archive_dir,
                progress=bar.advance,
            )
        cert = crm.retention.certificate(run.id)
    if args.certificate:
        _write_json(args.certificate, cert)
    counts = json.loads(run.counts)
    shown = "; ".join(
        f"{code}: " + ", ".join(f"{n:,} {how}" for how, n in sorted(c.items()))
        for code, c in sorted(counts.items())
    )
    text = f"retention run {run.id!r} {run.status}: {run.disposed:,} disposed of" + (
        f" ({shown})" if shown else ""
    )
    _emit(args, cert, text, out)
    return EXIT_OK


def _cmd_certificate(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _open

    with _open(_db(args)) as crm:
        cert = crm.retention.certificate(args.key)
    if args.out:
        _write_json(args.out, cert)
    out.write(json.dumps(cert, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def _cmd_hold(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _aware, _emit, _open
    from civiccrm.errors import NotFoundError

    with _open(_db(args)) as crm:
        cases = []
        for given in args.cases:
            if _is_uuid(given):
                cases.append(given)
                continue
            found = crm.cases.find_by_reference(given)
            if found is None:
                raise NotFoundError("case", given)
            cases.append(str(found.id))
        hold = crm.retention.place_hold(
            reason=args.reason,
            authority=args.authority,
            cases=cases,
            parties=args.parties,
            case_type=args.case_type,
            created_from=_aware(args.created_from, "created_from"),
            created_until=_aware(args.created_until, "created_until"),
        )
    data = {"id": hold.id, "placed_at": hold.placed_at.isoformat()}
    _emit(args, data, f"legal hold {hold.id} placed", out)
    return EXIT_OK


def _cmd_release(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        hold = crm.retention.release_hold(args.hold_id, reason=args.reason)
    assert hold.released_at is not None
    data = {"id": hold.id, "released_at": hold.released_at.isoformat()}
    _emit(args, data, f"legal hold {hold.id} released", out)
    return EXIT_OK


def _cmd_holds(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(_db(args)) as crm:
        holds = crm.retention.holds(in_force=None if args.all else True)
    rows = [
        {
            "id": h.id,
            "reason": h.reason,
            "authority": h.authority,
            "placed_at": h.placed_at.isoformat(),
            "released_at": h.released_at.isoformat() if h.released_at else None,
            "cases": len(h.cases),
            "parties": len(h.parties),
            "case_type": h.case_type,
        }
        for h in holds
    ]
    lines = [f"{len(rows)} legal hold" + ("" if len(rows) == 1 else "s")]
    for r in rows:
        scope = (
            f"{r['cases']} case(s)"
            if r["cases"]
            else f"{r['parties']} party(ies)"
            if r["parties"]
            else f"case type {r['case_type']}"
        )
        state = f"released {r['released_at']}" if r["released_at"] else "in force"
        lines.append(f"  {r['id']}  {scope}  {state}  {r['authority']}: {r['reason']}")
    _emit(args, {"holds": rows}, "\n".join(lines), out)
    return EXIT_OK


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _write_json(path: str, data: dict[str, Any]) -> None:
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".certificate.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
