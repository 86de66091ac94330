"""
``civiccrm import ...``: streaming imports of CSV and JSON Lines files.

::

    civiccrm import FILE --mapping MAPPING.toml [--format csv|jsonl] [--rejects FILE]
                         [--checkpoint FILE] [--batch-size N] [--dry-run] [--restart]

Prints one summary (``--json``: one object with the result's fields) and exits 0, also
when rows were rejected (they are in the reject file); a bad mapping, a missing file or
column, or a checkpoint of another file exits 2 with one readable line. Progress goes
to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

__all__ = ["add_import_commands"]


def add_import_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm import`` to the command's subparsers."""
    from civiccrm.cli import _positive

    parser = sub.add_parser(
        "import",
        parents=[common],
        help="import cases, citizens or organizations from a CSV or JSON Lines file",
        description="Import the rows of a CSV or JSON Lines file as cases, citizens or "
        "organizations, through a mapping file (TOML: the kind of record, the external id, "
        "column to field, value maps, date formats, the time zone of naive times). Rows "
        "are upserted by their external id (importing again changes nothing); bad rows go "
        "to a reject file with their line, column and reason while the good rows go in. "
        "An import that stopped is resumed from its checkpoint by running it again.",
    )
    parser.add_argument("file", metavar="FILE", help="the CSV or JSON Lines file")
    parser.add_argument(
        "--mapping", required=True, metavar="TOML", help="the mapping file (see docs/import.md)"
    )
    parser.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        default=None,
        help="default: the mapping's, else from FILE (.jsonl, .ndjson), else csv",
    )
    parser.add_argument(
        "--rejects",
        default=None,
        metavar="FILE",
        help="the reject file (CSV: line, column, field, reason; default FILE.rejects.csv)",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="the checkpoint file (default FILE.checkpoint; removed when the import is done)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=5_000,
        metavar="N",
        help="rows to a transaction (default 5,000)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check every row and write the reject file, but nothing else",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="ignore the checkpoint of a stopped import and start from the first row",
    )
    parser.set_defaults(handler=_cmd_import)


def _cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._progress import Progress
    from civiccrm._urls import redact_url as _redact_url
    from civiccrm.cli import EXIT_OK, _count, _database, _emit, _open

    db = _database(args, must_exist=False).db
    bar: list[Progress] = []
    before: list[int] = []

    def progress(done: int, total: int) -> None:
        # The first call says where reading starts: rows a stopped run read already
        # count neither in the bar nor in its rate.
        if not bar:
            before.append(done)
            bar.append(Progress(total - done, "importing rows"))
        bar[0].total = max(bar[0].total, total - before[0])
        bar[0].advance(done - before[0] - bar[0].done)

    with _open(argparse.Namespace(db=db, profile=args.profile)) as crm:
        mapping = crm.imports.mapping(args.mapping)
        failed = True
        try:
            result = crm.imports.file(
                args.file,
                mapping,
                format=args.format,
                rejects=args.rejects,
                checkpoint=args.checkpoint,
                dry_run=args.dry_run,
                restart=args.restart,
                batch_size=args.batch_size,
                progress=progress,
            )
            failed = False
        finally:
            if bar:
                bar[0].close(failed=failed)
    data = {
        "db": _redact_url(db),
        "path": str(result.path),
        "kind": result.kind,
        "format": result.format,
        "rows": result.rows,
        "imported": result.imported,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "problems": result.problems,
        "rejects": None if result.rejects_path is None else str(result.rejects_path),
        "resumed_from_line": result.resumed_from_line,
        "dry_run": result.dry_run,
        "seconds": round(result.seconds, 3),
    }
    resumed = (
        f" (resumed at line {result.resumed_from_line:,})"
        if result.resumed_from_line is not None
        else ""
    )
    what = "checked" if result.dry_run else "read"
    text = f"{result.path}: {_count(result.rows, 'row')} {what}{resumed}; "
    if result.dry_run:
        text += (
            f"{_count(result.imported, result.kind)} would be imported (dry run: nothing written)"
        )
    else:
        text += (
            f"{_count(result.imported, result.kind)} imported into {_redact_url(db)} "
            f"({result.inserted:,} new, {result.updated:,} changed, "
            f"{result.unchanged:,} unchanged)"
        )
    if result.rejected:
        text += f"; {_count(result.rejected, 'row')} rejected, see {result.rejects_path}"
    else:
        text += "; no row rejected"
    text += f" in {result.seconds:.1f}s"
    _emit(args, data, text, out)
    return EXIT_OK
