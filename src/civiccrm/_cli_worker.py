"""
``civiccrm worker ...``: workers that process queued case work, and feeding their queue.

::

    civiccrm worker run [--topic T ...] [--batch N] [--lease SECONDS] [--until-idle]
                        [--max-batches N] [--worker-id ID] [--handler TOPIC=MODULE:FUNC]
    civiccrm worker enqueue TOPIC (--case ID_OR_REF ... | --due | --from FILE)
                        [--payload JSON] [--job ID]
    civiccrm worker topics

``run`` processes batches until stopped (SIGTERM or Ctrl-C: the batch in hand is
finished first; a second Ctrl-C abandons it, and its transaction is rolled back), or,
with ``--until-idle``, until nothing is left. Start as many as you like, on as many
hosts as you like, against one database. Each command prints one summary line
(``--json``: one object) on stdout; progress and warnings go to stderr; bad input exits
2 with one readable line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

import attrs

if TYPE_CHECKING:
    from civiccrm._workers import BatchReport

__all__ = ["add_worker_commands"]


def add_worker_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm worker ...`` to the command's subparsers."""
    from civiccrm.cli import _group, _positive

    worker = _group(sub, common, "worker", "workers: process queued case work in batches")

    run = worker.add_parser(
        "run",
        parents=[common],
        help="claim and process batches of queued work",
        description="Claim batches of queued tasks under an expiring lease, process them "
        "and complete them, each batch in one transaction (its effects happen once, even "
        "if a worker is killed: its lease expires and another worker takes the batch). "
        "Runs until stopped (SIGTERM, Ctrl-C: the batch in hand is finished first), or "
        "with --until-idle until nothing is left. Start many, on many hosts, against one "
        "PostgreSQL database (or several on one host with SQLite).",
    )
    run.add_argument(
        "--topic",
        dest="topics",
        action="append",
        default=None,
        metavar="TOPIC",
        help="a topic to work on (repeatable; default: every registered topic)",
    )
    run.add_argument(
        "--batch", type=_positive, default=100, metavar="N", help="tasks per batch (default 100)"
    )
    run.add_argument(
        "--lease",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long a claimed batch is this worker's alone (default 60); a batch must be "
        "processed within it",
    )
    run.add_argument("--until-idle", action="store_true", help="stop when no topic has work left")
    run.add_argument(
        "--idle-wait",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="when idle, look for work again after this long (default 1)",
    )
    run.add_argument(
        "--max-batches", type=_positive, default=None, metavar="N", help="stop after N batches"
    )
    run.add_argument(
        "--max-attempts",
        type=_positive,
        default=5,
        metavar="N",
        help="a task whose handler failed N times is given up, and logged (default 5)",
    )
    run.add_argument(
        "--worker-id",
        default=None,
        metavar="ID",
        help="this worker's name in the queue (default: host:pid:random)",
    )
    _handler_options(run, "register an agency's own topic")
    run.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr (warnings still)"
    )
    run.set_defaults(handler=_cmd_run)

    enqueue = worker.add_parser(
        "enqueue",
        parents=[common],
        help="queue cases on a topic",
        description="Queue cases on a topic for the workers. A case already queued on the "
        "topic and not done yet is not queued twice.",
    )
    enqueue.add_argument("topic", metavar="TOPIC", help="the topic (see `civiccrm worker topics`)")
    enqueue.add_argument(
        "--case",
        dest="cases",
        nargs="+",
        action="extend",
        default=None,
        metavar="ID_OR_REF",
        help="a case by its id or reference (repeatable)",
    )
    enqueue.add_argument(
        "--due",
        action="store_true",
        help="every case due for the topic now (route: new unassigned cases; sla: open "
        "cases whose SLA check time has come)",
    )
    enqueue.add_argument(
        "--from",
        dest="from_file",
        default=None,
        metavar="FILE",
        help="case ids or references, one a line ('-': standard input)",
    )
    enqueue.add_argument(
        "--payload", default=None, metavar="JSON", help="a JSON object handed to each task"
    )
    enqueue.add_argument(
        "--job", default=None, metavar="ID", help="a name for this enqueue (default: a new id)"
    )
    _handler_options(enqueue, "register an agency's own topic first")
    enqueue.set_defaults(handler=_cmd_enqueue)

    topics = worker.add_parser(
        "topics", parents=[common], help="list the registered topics", description=None
    )
    _handler_options(topics, "register an agency's own topic first")
    topics.set_defaults(handler=_cmd_topics)


def _handler_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--handler",
        dest="handlers",
        action="append",
        default=[],
        metavar="TOPIC=MODULE:FUNCTION",
        help=f"{what}: FUNCTION(crm, task) applies one task's effects (repeatable)",
    )
    parser.add_argument(
        "--batch-handler",
        dest="batch_handlers",
        action="append",
        default=[],
        metavar="TOPIC=MODULE:FUNCTION",
        help=f"{what}: FUNCTION(crm, tasks) applies a whole batch's effects (repeatable)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value > 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 604800")
    return value


def _register(crm: Any, args: argparse.Namespace) -> None:
    """Register ``TOPIC=MODULE:FUNCTION`` handlers; ValidationError naming a bad one."""
    from civiccrm.errors import ValidationError

    given = [(s, False) for s in args.handlers] + [(s, True) for s in args.batch_handlers]
    for spec, batch in given:
        topic, eq, target = spec.partition("=")
        module_name, colon, attr = target.partition(":")
        if not eq or not colon or not topic or not module_name or not attr:
            raise ValidationError.at("handler", f"{spec!r}: write TOPIC=MODULE:FUNCTION")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValidationError.at(
                "handler", f"{spec!r}: cannot import {module_name!r}: {exc}"
            ) from None
        func = getattr(module, attr, None)
        if func is None:
            raise ValidationError.at("handler", f"{spec!r}: {module_name} has no {attr!r}")
        if batch:
            crm.workers.register(topic, batch_handler=func, replace=True)
        else:
            crm.workers.register(topic, func, replace=True)


class _Signals:
    """
    SIGTERM and SIGINT set ``stop`` (the batch in hand is finished); a second SIGINT
    raises KeyboardInterrupt (the batch is abandoned: its transaction rolls back).
    """

    def __init__(self, stop: threading.Event, err: TextIO) -> None:
        self.stop = stop
        self.err = err
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        name = signal.Signals(signum).name
        self.err.write(f"civiccrm worker: {name}: stopping after the batch in hand\n")
        self.err.flush()

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm._urls import redact_url as _redact_url
    from civiccrm.cli import EXIT_OK, EXIT_PROBLEM, _count, _emit, _open

    err = sys.stderr
    stop = threading.Event()
    started = time.perf_counter()
    done = [0, time.perf_counter()]

    def on_batch(topic: str, report: BatchReport) -> None:
        done[0] += report.processed
        now = time.perf_counter()
        if not args.quiet and now - done[1] >= 5.0:
            done[1] = now
            rate = done[0] / max(now - started, 1e-9)
            err.write(f"civiccrm worker: {done[0]:,} tasks processed ({rate:,.0f}/s)\n")
            err.flush()

    with _open(args) as crm, _Signals(stop, err):
        _register(crm, args)
        report = crm.workers.run(
            args.topics,
            batch=args.batch,
            lease=args.lease,
            stop_when_idle=args.until_idle,
            idle_wait=args.idle_wait,
            max_batches=args.max_batches,
            max_attempts=args.max_attempts,
            worker=args.worker_id,
            stop=stop,
            on_batch=on_batch,
        )
    shown = _redact_url(args.db)
    data = {"db": shown, **attrs.asdict(report)}
    topics = ", ".join(f"{k} {v:,}" for k, v in report.by_topic.items())
    text = (
        f"{shown}: worker {report.worker}: {_count(report.processed, 'task')} processed "
        f"in {_count(report.batches, 'batch')} ({topics}) in {report.seconds:.1f}s, "
        f"ended: {report.ended}"
    )
    extra = [
        f"{n:,} {what}"
        for n, what in (
            (report.lost, "lost to another worker"),
            (report.failed, "failed (retried later)"),
            (report.given_up, "given up"),
        )
        if n
    ]
    if extra:
        text += "; " + ", ".join(extra)
    _emit(args, data, text, out)
    return EXIT_PROBLEM if report.given_up else EXIT_OK


def _lines(path: str) -> Iterator[str]:
    from civiccrm.errors import ValidationError

    if path == "-":
        yield from (line.strip() for line in sys.stdin)
        return
    try:
        with open(path, encoding="utf-8") as f:
            yield from (line.strip() for line in f)
    except OSError as exc:
        raise ValidationError.at("from", f"cannot read {path}: {exc.strerror or exc}") from None


def _cmd_enqueue(args: argparse.Namespace, out: TextIO) -> int:
    import uuid

    from civiccrm._urls import redact_url as _redact_url
    from civiccrm.cli import EXIT_OK, _count, _emit, _open, find_case
    from civiccrm.errors import ValidationError

    given = [bool(args.cases), args.due, args.from_file is not None]
    if sum(given) != 1:
        raise ValidationError.at("cases", "give one of --case, --due or --from")
    payload = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as exc:
            raise ValidationError.at("payload", f"not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ValidationError.at("payload", "must be a JSON object")
    with _open(args) as crm:
        _register(crm, args)
        crm.workers.topic(args.topic)

        def ids(refs: Iterator[str]) -> Iterator[str]:
            for ref in refs:
                if not ref:
                    continue
                try:
                    yield str(uuid.UUID(ref))
                except ValueError:
                    yield str(find_case(crm, ref).id)

        if args.due:
            if payload is not None or args.job is not None:
                raise ValidationError.at("due", "--due takes no --payload or --job")
            added = crm.workers.enqueue_due(args.topic)
        else:
            refs = iter(args.cases) if args.cases else _lines(args.from_file)
            added = crm.workers.enqueue(args.topic, ids(refs), payload=payload, job=args.job)
    shown = _redact_url(args.db)
    data = {"db": shown, "topic": args.topic, "added": added}
    _emit(args, data, f"{shown}: {_count(added, 'case')} queued on {args.topic!r}", out)
    return EXIT_OK


def _cmd_topics(args: argparse.Namespace, out: TextIO) -> int:
    from civiccrm.cli import EXIT_OK, _emit, _open

    with _open(args) as crm:
        _register(crm, args)
        topics = crm.workers.topics()
    data = {"topics": [{"name": t.name, "description": t.description} for t in topics]}
    text = "\n".join(f"{t.name:<12} {t.description}" for t in topics)
    _emit(args, data, text, out)
    return EXIT_OK
