"""
``civiccrm open311 ...``: Open311 GeoReport v2 documents from the command line.

::

    civiccrm open311 export services --out FILE [--format xml|json|csv]
    civiccrm open311 export requests --out FILE [--format xml|json|csv] [--type C[,C]]
                                     [--status open|closed] [--since DATE] [--until DATE]
                                     [--policy public|none] [--extensions]
    civiccrm open311 export updates --out FILE [--format xml|json|csv] [--since] [--until]
    civiccrm open311 import requests FILE [--format xml|json|csv]
    civiccrm open311 import updates FILE [--format xml|json|csv]

The format defaults to the file's extension. Each prints one summary line (``--json``:
one object) and exits 0; bad input exits 2 with one readable line; an import that
rejected some items exits 1 after importing the others, and lists them with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from civiccrm.errors import StorageError, ValidationError

__all__ = ["add_open311_commands"]


def add_open311_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add this feature's commands to the command's subparsers."""
    from civiccrm.cli import _group

    open311 = _group(sub, common, "open311", "Open311 GeoReport v2 documents")
    export = _group(open311, common, "export", "write Open311 documents to a file")
    imports = _group(open311, common, "import", "read Open311 documents into cases")

    services = export.add_parser(
        "services",
        parents=[common],
        help="the service list (the profile's published case types)",
        description="Write the service list: the profile's published case types.",
    )
    _out_options(services)
    services.set_defaults(handler=_cmd_export_services)

    requests = export.add_parser(
        "requests",
        parents=[common],
        help="service requests from cases (free text redacted for the public)",
        description="Write the published cases as a GeoReport v2 requests document (xml, "
        "json) or the GeoReport bulk CSV, oldest request first. Descriptions, notes and "
        "addresses are redacted with the public policy, and lat and long rounded to 3 "
        "decimal places (about 100 m), unless --policy none.",
    )
    _out_options(requests)
    requests.add_argument("--type", default=None, metavar="CODE[,CODE]", help="service codes")
    requests.add_argument("--status", default=None, metavar="open|closed", help="open or closed")
    requests.add_argument("--since", default=None, metavar="DATE", help="requested on or after")
    requests.add_argument("--until", default=None, metavar="DATE", help="requested up to")
    requests.add_argument(
        "--policy",
        default="public",
        choices=("public", "none"),
        help="redaction of free text and coarse coordinates (default public; none keeps "
        "them as stored)",
    )
    requests.add_argument(
        "--extensions", action="store_true", help="add extended_attributes and notes"
    )
    requests.set_defaults(handler=_cmd_export_requests)

    updates = export.add_parser(
        "updates",
        parents=[common],
        help="request updates (FixMyStreet's servicerequestupdates)",
    )
    _out_options(updates)
    updates.add_argument("--since", default=None, metavar="DATE", help="updates on or after")
    updates.add_argument("--until", default=None, metavar="DATE", help="updates up to")
    updates.set_defaults(handler=_cmd_export_updates)

    for name, help_text in (
        ("requests", "requests into cases, idempotently by service_request_id"),
        ("updates", "request updates into case transitions and notes"),
    ):
        parser = imports.add_parser(name, parents=[common], help=help_text)
        parser.add_argument("file", metavar="FILE", help="the document to read")
        parser.add_argument(
            "--format", default=None, choices=("xml", "json", "csv"), help="default: by extension"
        )
        parser.set_defaults(handler=_cmd_import, what=name)


def _out_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    parser.add_argument(
        "--format", default=None, choices=("xml", "json", "csv"), help="default: by extension"
    )


def _format(path: str, given: str | None) -> str:
    if given is not None:
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("xml", "json", "csv"):
        return suffix
    raise ValidationError.at("format", f"cannot tell the format of {path!r}: give --format")


def _db(args: argparse.Namespace, *, must_exist: bool = True) -> argparse.Namespace:
    """The database of a command; an export reads one that must exist (a mistyped path
    must not make an empty database), an import may make it."""
    from civiccrm.cli import _database

    return _database(args, must_exist=must_exist)


def _when(text: str | None, name: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A date (its start, or with ``end`` its end, in the agency's zone) or an aware time."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        at = datetime.combine(day, time.max if end else time.min, tzinfo=zone)
        return at.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise ValidationError.at(
            name, f"{text!r} is not a date YYYY-MM-DD or a time with a time zone"
        )
    return parsed.astimezone(UTC)


def _write(path: str, data: bytes) -> Path:
    """Write a file whole or not at all (a temporary file renamed into place)."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    except OSError as exc:
        raise ValidationError.at(
            "out", f"cannot write in {target.parent}: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise StorageError(f"writing {target} failed: {exc.strerror or exc}") from exc
    return target


def _cmd_export_services(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open
    from civiccrm.open311 import Open311, write_document

    fmt = _format(args.out, args.format)
    with _open(_db(args), purpose="open311 export") as crm:
        items = Open311(crm).services()
    path = _write(args.out, write_document("services", items, fmt))
    data = {"path": str(path), "format": fmt, "count": len(items)}
    _emit(args, data, f"{len(items)} services written to {path} ({fmt})", out)
    return EXIT_OK


def _cmd_export_requests(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open
    from civiccrm.open311 import Open311, write_document

    fmt = _format(args.out, args.format)
    statuses = None
    if args.status is not None:
        statuses = [s.strip() for s in args.status.split(",")]
        for s in statuses:
            if s not in ("open", "closed"):
                raise ValidationError.at("status", f"{s!r} is not open or closed")
    codes = None if args.type is None else [c.strip() for c in args.type.split(",")]
    with _open(_db(args), purpose="open311 export") as crm:
        zone = crm.profile.agency.zone
        start = _when(args.since, "since", zone)
        end = _when(args.until, "until", zone, end=True)
        service = Open311(crm, public=args.policy != "none")
        if codes is not None:
            known = {ct.code for ct in service.case_types()}
            for code in codes:
                if code not in known:
                    raise ValidationError.at("type", f"{code!r} is not a published service")
        extensions = args.extensions or fmt == "csv"
        items = [
            service.request(case, extensions=extensions)
            for case in service.all_cases(
                service_codes=codes, statuses=statuses, start=start, end=end
            )
        ]
    path = _write(args.out, write_document("requests", items, fmt))
    redaction = "public" if args.policy != "none" else None
    data = {"path": str(path), "format": fmt, "count": len(items), "policy": redaction}
    said = "free text redacted (public)" if redaction else "free text NOT redacted"
    _emit(args, data, f"{len(items)} service requests written to {path} ({fmt}, {said})", out)
    return EXIT_OK


def _cmd_export_updates(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open
    from civiccrm.open311 import Open311, write_document

    fmt = _format(args.out, args.format)
    with _open(_db(args), purpose="open311 export") as crm:
        zone = crm.profile.agency.zone
        start = _when(args.since, "since", zone)
        end = _when(args.until, "until", zone, end=True)
        items = Open311(crm).updates(start=start, end=end, limit=10**9)
    path = _write(args.out, write_document("updates", items, fmt))
    data = {"path": str(path), "format": fmt, "count": len(items)}
    _emit(args, data, f"{len(items)} request updates written to {path} ({fmt})", out)
    return EXIT_OK


def _cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, EXIT_PROBLEM, _emit, _open
    from civiccrm.open311 import Open311, read_requests, read_updates

    fmt = _format(args.file, args.format)
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise ValidationError.at("file", f"cannot read {args.file}: {exc.strerror}") from None
    items = read_requests(raw, fmt) if args.what == "requests" else read_updates(raw, fmt)
    with _open(_db(args, must_exist=False), purpose="open311 import") as crm:
        service = Open311(crm, public=False)
        if args.what == "requests":
            result = service.import_requests(items)
        else:
            result = service.import_updates(items)
    rejected = [{"path": p.path, "message": p.message} for p in result.rejected]
    data = {
        "path": args.file,
        "format": fmt,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": rejected,
    }
    text = (
        f"{args.file}: {result.inserted} {'new' if args.what == 'requests' else 'applied'}, "
        f"{result.updated} updated, {result.unchanged} unchanged, "
        f"{len(result.rejected)} problems"
    )
    if result.rejected:
        first = result.rejected[0]
        text += f" (first: {first.path}: {first.message})"
    _emit(args, data, text, out)
    return EXIT_PROBLEM if result.rejected else EXIT_OK
