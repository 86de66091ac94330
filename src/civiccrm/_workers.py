"""
The facade's worker service: ``crm.workers`` (claimed batches from many processes).

Work goes through the storage's work queue: case ids are enqueued on a *topic*
(``route``, ``sla``, or one an agency registers), workers in any number of processes
or hosts claim batches of them under an expiring lease, process them, and complete
them. A batch's effects and its completion are committed in ONE transaction, and the
transaction is rolled back when the completion reports fewer tasks than were claimed
(the lease was lost to another worker), so that every task's effects happen once:

- a worker killed after the commit: the effects and the completion are both stored;
- a worker killed before or during the transaction: nothing of the batch is stored,
  its lease expires, and another worker takes the batch;
- a slow worker whose lease expired while another worker took (and completed) the
  batch: its completion counts fewer tasks, and its transaction is rolled back.

Handlers also record the task's idempotency key with their effect (the built-in
``route`` handler puts it in the ``routed`` event's data and does nothing for a task
whose key is there already), so a task processed again by mistake is a no-op.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm._records import OPEN_STATUSES, micros
from civiccrm.adapters._base import Filter, Query
from civiccrm.errors import NotFoundError, ValidationError
from civiccrm.models import Case, EventKind

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = [
    "BatchHandler",
    "BatchReport",
    "TopicHandler",
    "WorkBatch",
    "WorkTask",
    "WorkerReport",
    "WorkerService",
    "WorkerTopic",
]

_log = logging.getLogger("civiccrm.workers")

_TOPIC: Final = re.compile(r"[a-z][a-z0-9_.-]{0,62}\Z")
#: Default lease: how long a claimed batch is a worker's alone.
DEFAULT_LEASE: Final = timedelta(seconds=60)
DEFAULT_BATCH: Final = 100
#: A task whose handler failed this many times is completed without effect (and logged).
DEFAULT_MAX_ATTEMPTS: Final = 5


class _LeaseLost(Exception):
    """Raised inside a batch's transaction to roll it back: the lease went to another worker."""

    def __init__(self, completed: int, claimed: int) -> None:
        super().__init__(f"{completed} of {claimed} tasks still leased")
        self.completed = completed
        self.claimed = claimed


@attrs.frozen
class WorkTask:
    """
    One claimed task: a case id on a topic, with what was enqueued with it.

    .. versionadded:: 0.1.0
    """

    topic: str
    #: The case's id (the task's key in the queue).
    case_id: str
    #: What was given to :meth:`WorkerService.enqueue` with it (``{}`` if nothing).
    payload: Mapping[str, Any]
    #: The enqueue's job id: the same case enqueued again after it was done is another job.
    job: str
    #: How many times it has been claimed, this time included.
    attempts: int

    @property
    def idempotency_key(self) -> str:
        """
        ``topic:job:case_id``: the same for every attempt at this task and for no other
        task. Record it with the task's effect; a task that finds it recorded already
        has nothing left to do.
        """
        return f"{self.topic}:{self.job}:{self.case_id}"


@attrs.frozen
class WorkBatch:
    """
    Tasks claimed together by one worker, leased to it until ``lease_until``.

    .. versionadded:: 0.1.0
    """

    topic: str
    worker: str
    tasks: tuple[WorkTask, ...]
    lease_until: datetime


@attrs.frozen
class BatchReport:
    """
    What processing one batch did.

    .. versionadded:: 0.1.0
    """

    #: Tasks whose effects were committed with their completion.
    processed: int = 0
    #: Tasks another worker took (their leases had expired): nothing of them was committed.
    lost: int = 0
    #: Tasks whose handler failed: left leased, to be claimed again when the lease expires.
    failed: int = 0
    #: Tasks whose handler failed ``max_attempts`` times: completed without effect.
    given_up: int = 0


@attrs.frozen
class WorkerReport:
    """
    What a run of a worker did (:meth:`WorkerService.run`).

    .. versionadded:: 0.1.0
    """

    worker: str
    batches: int
    processed: int
    lost: int
    failed: int
    given_up: int
    #: Tasks processed, per topic.
    by_topic: Mapping[str, int]
    seconds: float
    #: Why the run ended: ``idle`` (nothing left), ``stopped`` (asked to stop),
    #: ``max_batches``.
    ended: str


#: A topic's handler: applies one task's effects, inside the batch's transaction.
TopicHandler = Callable[["CRM", WorkTask], None]
#: A topic's batch handler: applies a whole batch's effects at once (bulk writes, one
#: request to a mail gateway), inside the batch's transaction.
BatchHandler = Callable[["CRM", Sequence[WorkTask]], None]


@attrs.frozen
class WorkerTopic:
    """
    A registered topic: its handler, and optionally what runs around each batch and
    which cases are due for it now.

    .. versionadded:: 0.1.0
    """

    name: str
    #: Applies one task's effects (None when ``batch_handler`` is given).
    handler: TopicHandler | None
    description: str = ""
    #: A context manager entered around each batch's transaction (per-batch caches).
    around_batch: Callable[[CRM], AbstractContextManager[None]] | None = None
    #: The ids of the cases due for this topic at a time (for ``enqueue_due``).
    due: Callable[[CRM, datetime], Iterable[str]] | None = None
    #: Applies a whole batch's effects at once (instead of ``handler``).
    batch_handler: BatchHandler | None = None

    def apply(self, crm: CRM, tasks: Sequence[WorkTask]) -> None:
        """Apply ``tasks``' effects (inside the caller's transaction)."""
        if self.batch_handler is not None:
            self.batch_handler(crm, tasks)
            return
        assert self.handler is not None
        for task in tasks:
            self.handler(crm, task)


# --------------------------------------------------------------------------------------
# Built-in topics


def _route_handler(crm: CRM, task: WorkTask) -> None:
    """Route an open case again (and assign it if new and unassigned, as the profile says)."""
    crm._may("assign")
    routing = crm.routing
    key = task.idempotency_key
    case_id = uuid.UUID(task.case_id)
    for event in crm._stored_events(case_id):
        if event.kind is EventKind.ROUTED and event.data.get("task") == key:
            return  # done already: this task's effect is recorded
    try:
        case = crm.cases.get(case_id)
    except NotFoundError:
        _log.warning("route: no case %s (deleted?): nothing to do", task.case_id)
        return
    if not case.is_open:
        return
    assign = task.payload.get("assign")
    want = crm.profile.routing.assign_on_open if assign is None else bool(assign)
    outcomes: list[Any] = []

    def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
        routed, changes, outcome = routing._route(c, now, assign=want)
        marked = []
        for kind, fields in changes:
            if kind is EventKind.ROUTED:
                fields = {**fields, "data": {**fields.get("data", {}), "task": key}}
            marked.append((kind, fields))
        outcomes.append(outcome)
        return routed, marked

    updated = crm.cases._change(case, change)
    routing._tell(attrs.evolve(outcomes[-1], case=updated))


@contextlib.contextmanager
def _route_batch(crm: CRM) -> Iterator[None]:
    """Read the agents and requesters' facts once per batch, not once per case."""
    routing = crm.routing
    with routing._bulk_run():
        routing._pool_cache = routing._agent_cache.get(crm)
        try:
            yield
        finally:
            routing._pool_cache = None


def _route_due(crm: CRM, at: datetime) -> Iterable[str]:
    return (str(i) for i in crm.routing.waiting())


def _sla_handler(crm: CRM, task: WorkTask) -> None:
    """Record the case's SLA warnings, breaches and escalations due by now (idempotent)."""
    crm._may("transition")
    crm.sla._sweep_case(task.case_id, crm._now())


def _sla_due(crm: CRM, at: datetime) -> Iterable[str]:
    query = Query(
        "case",
        (Filter("status", "in", OPEN_STATUSES), Filter("sla_check_at", "le", micros(at))),
        limit=None,
        columns=("sla_check_at",),
    )
    return (r.id for r in crm.storage.stream(query))


def _messages_handler(crm: CRM, task: WorkTask) -> None:
    """Send an outbox message (its key is the message's id) after the batch commits."""
    crm._may("interaction")
    crm.messages._worker_task(task.case_id)


def _messages_due(crm: CRM, at: datetime) -> Iterable[str]:
    return (str(i) for i in crm.messages.due(now=at))


def _builtin_topics() -> dict[str, WorkerTopic]:
    return {
        "route": WorkerTopic(
            "route",
            _route_handler,
            "route open cases by the profile's rules (and assign new ones)",
            around_batch=_route_batch,
            due=_route_due,
        ),
        "sla": WorkerTopic(
            "sla",
            _sla_handler,
            "record SLA warnings, breaches and escalations that are due",
            due=_sla_due,
        ),
        # Communications (issue 10): the keys are outbox message ids, not case ids; the
        # channel comes from crm.messages.use(...) or $CIVICCRM_MESSAGE_CHANNEL.
        "messages": WorkerTopic(
            "messages",
            _messages_handler,
            "send outbox messages that are due (after the batch commits)",
            due=_messages_due,
        ),
    }


# --------------------------------------------------------------------------------------


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _lease_us(lease: timedelta | float) -> int:
    if isinstance(lease, bool) or not isinstance(lease, timedelta | int | float):
        raise ValidationError.at("lease", "must be a timedelta or a number of seconds")
    seconds = lease.total_seconds() if isinstance(lease, timedelta) else float(lease)
    if not seconds > 0 or seconds > 7 * 86400:
        raise ValidationError.at("lease", f"must be more than 0 s and at most 7 days, not {lease}")
    return max(1, round(seconds * 1_000_000))


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError.at(name, f"must be a whole number, 1 or more, not {value!r}")
    return value


class WorkerService:
    """
    Work claimed in batches under expiring leases, from many processes or hosts:
    ``crm.workers``.

    >>> import civiccrm
    >>> from civiccrm.profile import springfield_path
    >>> with civiccrm.open("memory://", profile=springfield_path()) as crm:
    ...     case = crm.cases.open("001", attributes={"size": "large"})
    ...     crm.workers.enqueue("route", [case.id])
    ...     report = crm.workers.run(topics=["route"])
    ...     report.processed, report.ended
    1
    (1, 'idle')

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
        self._topics: dict[str, WorkerTopic] = _builtin_topics()
        self._lock = threading.Lock()

    # --- the topic registry --------------------------------------------------------

    def register(
        self,
        topic: str,
        handler: TopicHandler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        description: str = "",
        around_batch: Callable[[CRM], AbstractContextManager[None]] | None = None,
        due: Callable[[CRM, datetime], Iterable[str]] | None = None,
        replace: bool = False,
    ) -> WorkerTopic:
        """
        Add a topic (or, with ``replace``, change one). ``handler(crm, task)`` applies
        one task's effects; it runs inside the batch's transaction, so that its writes
        commit with the task's completion or not at all. It should record
        ``task.idempotency_key`` with its effect and do nothing when it finds it
        recorded already. It may raise: the batch is rolled back and its tasks are
        processed one by one, so that only the failing task is retried.

        Give ``batch_handler(crm, tasks)`` instead to apply a whole batch's effects at
        once (a bulk write is much faster than one write per task); the same rules
        hold, and after a failure it is called with one task at a time.

        Raises:
            ValidationError: a bad topic name or handler, or a topic registered already.
        """
        if not isinstance(topic, str) or not _TOPIC.match(topic):
            raise ValidationError.at(
                "topic",
                f"{topic!r} is not a topic name (lower-case letters, digits, '_', '.', '-', "
                "starting with a letter)",
            )
        if (handler is None) == (batch_handler is None):
            raise ValidationError.at("handler", "give a handler or a batch_handler (one of them)")
        if handler is not None and not callable(handler):
            raise ValidationError.at("handler", f"{handler!r} is not callable")
        if batch_handler is not None and not callable(batch_handler):
            raise ValidationError.at("batch_handler", f"{batch_handler!r} is not callable")
        with self._lock:
            if topic in self._topics and not replace:
                raise ValidationError.at(
                    "topic", f"topic {topic!r} is registered already (replace=True to change it)"
                )
            entry = WorkerTopic(
                topic,
                handler,
                description,
                around_batch=around_batch,
                due=due,
                batch_handler=batch_handler,
            )
            self._topics[topic] = entry
        return entry

    def topics(self) -> list[WorkerTopic]:
        """The registered topics, by name."""
        return [self._topics[name] for name in sorted(self._topics)]

    def topic(self, name: str) -> WorkerTopic:
        """A registered topic; ValidationError naming the known ones if there is none."""
        found = self._topics.get(name)
        if found is None:
            known = ", ".join(sorted(self._topics))
            raise ValidationError.at("topic", f"no topic {name!r} (registered: {known})")
        return found

    # --- enqueueing ----------------------------------------------------------------

    def enqueue(
        self,
        topic: str,
        case_ids: Iterable[Case | uuid.UUID | str],
        *,
        payload: Mapping[str, Any] | None = None,
        job: str | None = None,
        chunk: int = 10_000,
    ) -> int:
        """
        Queue cases on ``topic``; returns how many were added. A case already queued
        on the topic and not done yet is left as it is (once is enough). ``payload``
        (JSON) is handed to the handler with each task; ``job`` names this enqueue in
        the tasks' idempotency keys (default: a new id).

        Raises:
            ValidationError: an unknown topic, a value that is not a case id.
        """
        self.topic(topic)
        self._crm._may("case")
        _positive("chunk", chunk)
        body: dict[str, Any] = {"job": job or uuid.uuid4().hex}
        if payload is not None:
            if not isinstance(payload, Mapping):
                raise ValidationError.at("payload", "must be a mapping (a JSON object)")
            try:
                body["data"] = json.loads(json.dumps(dict(payload)))
            except (TypeError, ValueError) as exc:
                raise ValidationError.at("payload", f"cannot be written as JSON: {exc}") from None
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        added = 0
        keys: list[str] = []
        for i, item in enumerate(case_ids):
            keys.append(_case_key(item, i))
            if len(keys) >= chunk:
                added += self._crm.storage.enqueue(topic, keys, payload=text)
                keys = []
        if keys:
            added += self._crm.storage.enqueue(topic, keys, payload=text)
        return added

    def enqueue_due(self, topic: str, *, now: datetime | None = None) -> int:
        """
        Queue every case that is due for ``topic`` now (``route``: new cases nobody has
        been assigned; ``sla``: open cases whose SLA check time has come). Returns how
        many were added.
        """
        entry = self.topic(topic)
        if entry.due is None:
            raise ValidationError.at("topic", f"topic {topic!r} does not say which cases are due")
        at = now or self._crm._now()
        return self.enqueue(topic, entry.due(self._crm, at))

    # --- claiming and processing ---------------------------------------------------

    def claim(
        self,
        topic: str,
        *,
        limit: int = DEFAULT_BATCH,
        lease: timedelta | float = DEFAULT_LEASE,
        worker: str | None = None,
    ) -> WorkBatch:
        """
        Claim up to ``limit`` tasks of ``topic`` for ``worker`` under a lease of
        ``lease`` (from the CRM's clock). Process the batch with :meth:`process`
        before the lease ends (a batch processed later is rolled back if another
        worker took it meanwhile). :meth:`run` does both in a loop.
        """
        self.topic(topic)
        _positive("limit", limit)
        lease_us = _lease_us(lease)
        who = worker or _default_worker_id()
        now = self._crm._now()
        claimed = self._crm.storage.claim(
            topic, worker=who, limit=limit, lease_us=lease_us, now_us=micros(now) or 0
        )
        # Tasks of one enqueue share their payload: read each payload once.
        bodies: dict[str, tuple[Mapping[str, Any], str]] = {}
        tasks = tuple(_work_task(t.topic, t.key, t.payload, t.attempts, bodies) for t in claimed)
        return WorkBatch(topic, who, tasks, now + timedelta(microseconds=lease_us))

    def process(self, batch: WorkBatch, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> BatchReport:
        """
        Apply a claimed batch's effects and complete its tasks, in one transaction;
        roll it back if another worker took any of them (their leases had expired).
        If that happens, or a handler fails, the tasks are processed again one per
        transaction, so that each still held is done and only a failing one is left
        (to be claimed again when its lease expires; after ``max_attempts`` claims it
        is completed without effect, and logged).
        """
        if not batch.tasks:
            return BatchReport()
        entry = self.topic(batch.topic)
        try:
            self._transaction(entry, batch.worker, batch.tasks)
        except _LeaseLost as lost:
            _log.warning(
                "worker %s: lease lost on %d of %d %s tasks (a slower batch than its lease?): "
                "rolled back, retrying the rest one by one",
                batch.worker,
                lost.claimed - lost.completed,
                lost.claimed,
                batch.topic,
            )
        except Exception as exc:  # noqa: BLE001 - a handler may raise anything
            _log.warning(
                # The error's type only: its message may quote personal data.
                "worker %s: a %s batch failed (%s): rolled back, retrying one by one",
                batch.worker,
                batch.topic,
                type(exc).__name__,
            )
        else:
            return BatchReport(processed=len(batch.tasks))
        return self._one_by_one(entry, batch.worker, batch.tasks, max_attempts)

    def _transaction(self, entry: WorkerTopic, worker: str, tasks: Sequence[WorkTask]) -> None:
        """Effects and completion, atomically; _LeaseLost (rolled back) if not all held."""
        crm = self._crm
        around = entry.around_batch(crm) if entry.around_batch else contextlib.nullcontext()
        with around, crm.transaction():
            entry.apply(crm, tasks)
            done = crm.storage.complete(entry.name, [t.case_id for t in tasks], worker=worker)
            if done != len(tasks):
                raise _LeaseLost(done, len(tasks))

    def _one_by_one(
        self, entry: WorkerTopic, worker: str, tasks: Sequence[WorkTask], max_attempts: int
    ) -> BatchReport:
        processed = lost = failed = given_up = 0
        for task in tasks:
            try:
                self._crm.retry_on_conflict(
                    functools.partial(self._transaction, entry, worker, [task]), attempts=3
                )
            except _LeaseLost:
                lost += 1
            except Exception as exc:  # noqa: BLE001
                if task.attempts >= max_attempts:
                    if self._crm.storage.complete(entry.name, [task.case_id], worker=worker):
                        given_up += 1
                        _log.error(
                            "worker %s: %s task for case %s failed %d times, given up: %s",
                            worker,
                            entry.name,
                            task.case_id,
                            task.attempts,
                            type(exc).__name__,
                        )
                    else:
                        lost += 1
                else:
                    failed += 1
                    _log.warning(
                        "worker %s: %s task for case %s failed (attempt %d of %d), "
                        "retried when its lease ends: %s",
                        worker,
                        entry.name,
                        task.case_id,
                        task.attempts,
                        max_attempts,
                        type(exc).__name__,
                    )
            else:
                processed += 1
        return BatchReport(processed, lost, failed, given_up)

    # --- the loop --------------------------------------------------------------------

    def run(
        self,
        topics: Sequence[str] | None = None,
        *,
        batch: int = DEFAULT_BATCH,
        lease: timedelta | float = DEFAULT_LEASE,
        stop_when_idle: bool = True,
        idle_wait: float = 1.0,
        max_batches: int | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        worker: str | None = None,
        stop: threading.Event | None = None,
        on_batch: Callable[[str, BatchReport], None] | None = None,
    ) -> WorkerReport:
        """
        Claim and process batches of ``topics`` (default: every registered topic, in
        turn) until there is nothing left (``stop_when_idle``), ``stop`` is set, or
        ``max_batches`` were processed. With ``stop_when_idle=False`` an idle worker
        looks again every ``idle_wait`` seconds. ``stop`` is checked between batches:
        a batch in hand is finished first (set it from a signal handler).

        Raises:
            ValidationError: an unknown topic or a bad setting (nothing is claimed).
        """
        names = list(topics) if topics is not None else sorted(self._topics)
        if isinstance(topics, str):
            raise ValidationError.at("topics", "give a list of topic names, not one string")
        if not names:
            raise ValidationError.at("topics", "give at least one topic")
        for name in names:
            self.topic(name)
        _positive("batch", batch)
        _positive("max_attempts", max_attempts)
        if max_batches is not None:
            _positive("max_batches", max_batches)
        _lease_us(lease)
        if isinstance(idle_wait, bool) or not isinstance(idle_wait, int | float) or idle_wait < 0:
            raise ValidationError.at("idle_wait", "must be a number of seconds, 0 or more")
        who = worker or _default_worker_id()
        started = time.perf_counter()
        batches = processed = lost = failed = given_up = 0
        by_topic = dict.fromkeys(names, 0)
        ended = "idle"
        waiter = stop if stop is not None else threading.Event()
        while True:
            idle = True
            for name in names:
                if waiter.is_set():
                    break
                claimed = self.claim(name, limit=batch, lease=lease, worker=who)
                if not claimed.tasks:
                    continue
                idle = False
                report = self.process(claimed, max_attempts=max_attempts)
                batches += 1
                processed += report.processed
                lost += report.lost
                failed += report.failed
                given_up += report.given_up
                by_topic[name] += report.processed
                if on_batch is not None:
                    on_batch(name, report)
                if max_batches is not None and batches >= max_batches:
                    break
            if waiter.is_set():
                ended = "stopped"
                break
            if max_batches is not None and batches >= max_batches:
                ended = "max_batches"
                break
            if idle:
                if stop_when_idle:
                    ended = "idle"
                    break
                if waiter.wait(idle_wait):
                    ended = "stopped"
                    break
        return WorkerReport(
            worker=who,
            batches=batches,
            processed=processed,
            lost=lost,
            failed=failed,
            given_up=given_up,
            by_topic=by_topic,
            seconds=time.perf_counter() - started,
            ended=ended,
        )


def _case_key(item: object, i: int) -> str:
    if isinstance(item, Case):
        return str(item.id)
    if isinstance(item, uuid.UUID):
        return str(item)
    if isinstance(item, str):
        try:
            return str(uuid.UUID(item))
        except ValueError:
            pass
    raise ValidationError.at(f"case_ids[{i}]", f"{item!r} is not a case id (a UUID or a Case)")


def _work_task(
    topic: str,
    key: str,
    payload: str,
    attempts: int,
    bodies: dict[str, tuple[Mapping[str, Any], str]],
) -> WorkTask:
    found = bodies.get(payload)
    if found is None:
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        data = body.get("data")
        found = bodies[payload] = (
            MappingProxyType(data if isinstance(data, dict) else {}),
            str(body.get("job") or ""),
        )
    return WorkTask(topic=topic, case_id=key, payload=found[0], job=found[1], attempts=attempts)
