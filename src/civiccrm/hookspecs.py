"""
The plugin contract: every hook a civiccrm plugin may implement.

Plugins are found through the entry-point group ``civiccrm`` and implement hooks with
:data:`civiccrm.hookimpl`, never with pluggy's markers directly::

    # my_backend/plugin.py
    from civiccrm import hookimpl

    @hookimpl
    def civiccrm_storage_backend(url):
        if url.startswith("mydb://"):
            return MyStorage(url)
        return None

    # pyproject.toml
    [project.entry-points.civiccrm]
    my_backend = "my_backend.plugin"

Two kinds of hook: *providers* answer a request (which backend opens this URL), and
*observers* are told what happened, after the transaction that did it has committed.
civiccrm's own backends are registered through the same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from civiccrm._keys import KeyProvider
    from civiccrm._work import DuplicateCandidate
    from civiccrm.adapters._base import Storage
    from civiccrm.comms.channels import MessageChannel
    from civiccrm.comms.mailbox import MailboxPoller
    from civiccrm.crm import CRM
    from civiccrm.models import Case, CaseEvent, Interaction
    from civiccrm.privacy.detect import Detector
    from civiccrm.routing.assign import AssignmentDecision
    from civiccrm.routing.rules import RoutingDecision

__all__ = ["hookimpl", "hookspec"]

#: Marks a function in this module as a hook specification.
hookspec = pluggy.HookspecMarker("civiccrm")
#: Marks a plugin's function as a hook implementation: ``@civiccrm.hookimpl``.
hookimpl = pluggy.HookimplMarker("civiccrm")


# --------------------------------------------------------------------------------------
# Provider hooks: storage


@hookspec(firstresult=True)
def civiccrm_storage_backend(url: str) -> Storage | None:
    """
    Open a storage backend for ``url``, if this plugin handles its scheme.

    Return None for a URL this plugin does not handle, so that the next plugin is
    asked. Stops at the first non-None result. Raise
    :class:`~civiccrm.errors.StorageError` for a URL of your scheme that cannot be
    opened (a missing file, a refused connection), with a message naming the URL.

    :param url: the database URL, such as ``sqlite:///civiccrm.db`` or
        ``mydb://host/name``. It may carry credentials: never log it whole.

    .. versionadded:: 0.1.0

    Who implements this: storage plugins (civiccrm's own memory and SQLite backends
    do, through the same hook).
    """


@hookspec
def civiccrm_storage_schemes() -> list[str]:  # type: ignore[empty-body]
    """
    The URL schemes this plugin's storage backends handle, such as ``["mydb"]``.

    Used only to tell a user which schemes exist when none handles their URL.

    .. versionadded:: 0.1.0

    Who implements this: storage plugins.
    """


@hookspec(firstresult=True)
def civiccrm_key_provider(spec: str) -> KeyProvider | None:
    """
    A key provider (the agency's key-encryption key) for ``spec``, such as
    ``"kms:arn:aws:kms:..."`` or ``"hsm:slot-3"``; None if this plugin does not handle
    it. The first provider returned wins. ``file:<path>`` and ``env:<VARIABLE>`` are
    built in (:class:`civiccrm.LocalKeyProvider`).

    A provider has a ``kek_id`` (naming the key, not secret) and ``wrap(secret, *,
    key_id)`` / ``unwrap(wrapped, *, key_id)``; ``unwrap`` raises
    :class:`~civiccrm.errors.IntegrityError` when the key does not open what it is given.
    See :class:`civiccrm.KeyProvider`.

    .. versionadded:: 0.1.0

    Who implements this: key-management plugins (KMS, HSM).
    """


# --------------------------------------------------------------------------------------
# Observer hooks: fired after the transaction that made the change has committed. An
# exception raised by an observer is not caught: the change is already committed, so
# the caller sees the error but nothing is rolled back. Keep observers quick; hand slow
# work to a queue.


@hookspec
def civiccrm_case_opened(crm: CRM, case: Case) -> None:
    """
    A case was opened (through the facade or a bulk import).

    :param crm: the CRM session that opened it.
    :param case: the case as stored.

    .. versionadded:: 0.1.0

    Who implements this: automations (acknowledge on intake), integrations, metrics.
    """


@hookspec
def civiccrm_case_changed(crm: CRM, case: Case, event: CaseEvent) -> None:
    """
    A case changed: its status, assignee, priority, links, fields, or a note was added.
    Called once per event recorded, in order.

    :param crm: the CRM session that changed it.
    :param case: the case as stored after the change.
    :param event: what happened.

    .. versionadded:: 0.1.0

    Who implements this: automations, notifications, integrations.
    """


@hookspec
def civiccrm_interaction_logged(crm: CRM, interaction: Interaction) -> None:
    """
    An interaction (a call, an email, a visit, an internal note) was logged.

    :param crm: the CRM session that logged it.
    :param interaction: the interaction as stored.

    .. versionadded:: 0.1.0

    Who implements this: integrations, reporting.
    """


@hookspec
def civiccrm_party_erased(crm: CRM, kind: str, party_id: str) -> None:
    """
    A citizen or organization was erased (crypto-shredded): tell the systems that
    hold copies of its data. Fired after the key was destroyed.

    :param crm: the CRM session that erased it.
    :param kind: ``"citizen"`` or ``"organization"``.
    :param party_id: the erased party's id.

    .. versionadded:: 0.1.0

    Who implements this: observers (replicas, search indexes, data warehouses).
    """


@hookspec
def civiccrm_sla_warning(crm: CRM, case: Case, target: str, event: CaseEvent) -> None:
    """
    A case crossed a warning threshold of an SLA target (recorded by a sweep).

    :param crm: the CRM session that swept.
    :param case: the case as stored after the sweep.
    :param target: the target's name (``"first_response"``, ``"resolution"`` ...).
    :param event: the ``sla_warning`` event (its ``data`` has the level and when).

    .. versionadded:: 0.1.0

    Who implements this: notification channels (tell the assignee), dashboards.
    """


@hookspec
def civiccrm_sla_breached(crm: CRM, case: Case, target: str, event: CaseEvent) -> None:
    """
    A case missed an SLA target's due time (recorded by a sweep): escalate.

    :param crm: the CRM session that swept.
    :param case: the case as stored after the sweep.
    :param target: the target's name.
    :param event: the ``sla_breach`` event.

    .. versionadded:: 0.1.0

    Who implements this: escalation (notify the supervisor, move the case), dashboards.
    """


@hookspec
def civiccrm_sla_escalated(
    crm: CRM, case: Case, target: str, step: int, notify: tuple[str, ...], event: CaseEvent
) -> None:
    """
    A breached case reached a step of its policy's escalation chain (recorded by a
    sweep, once per step): its priority may have been raised and its queue changed
    already; ``notify`` says who to tell (``"assignee"``, ``"supervisor"``,
    ``"department_head"``).

    :param crm: the CRM session that swept.
    :param case: the case as stored after the step.
    :param target: the breached target's name.
    :param step: the step's index in the policy's ``escalation`` list.
    :param notify: who to tell.
    :param event: the ``escalated`` event.

    .. versionadded:: 0.1.0

    Who implements this: notification channels (e-mail the supervisor), paging.
    """


@hookspec
def civiccrm_case_routed(
    crm: CRM,
    case: Case,
    decision: RoutingDecision | None,
    assignment: AssignmentDecision | None,
) -> None:
    """
    A case was routed (its rules applied) and/or run through assignment, as it was
    opened, when its case type changed, or when asked (``crm.routing.route``). Both
    decisions explain themselves: ``decision.explain()``, ``assignment.explain()``.

    :param crm: the CRM session that routed it.
    :param case: the case as stored after routing.
    :param decision: the rules' decision (None when only assignment ran).
    :param assignment: the assignment decision (None when assignment did not run);
        ``assignment.agent_id`` is None when nobody could take the case.

    .. versionadded:: 0.1.0

    Who implements this: dashboards, workload monitors, notifications to agents.
    """


@hookspec
def civiccrm_duplicate_proposed(crm: CRM, case: Case, candidates: list[DuplicateCandidate]) -> None:
    """
    A new place-based case looks like a report of something already open: an open
    case of the same type nearby and recent (nearest first). Staff accept a candidate
    with ``crm.cases.accept_duplicate(case, parent)``.

    :param crm: the CRM session that opened it.
    :param case: the new case.
    :param candidates: the open cases it may duplicate, nearest first.

    .. versionadded:: 0.1.0

    Who implements this: intake screens that ask the caller "is this the same one?".
    """


@hookspec
def civiccrm_pii_detectors(region: str) -> list[Detector] | None:
    """
    Detectors of an agency's own identifiers in free text (a benefits client number
    with its check digit, a local permit number format), run with civiccrm's own by
    every redaction and every redacted role view.

    :param region: the agency's default region (ISO 3166 alpha-2, such as ``US``).
    :return: detectors following :class:`civiccrm.privacy.detect.Detector`: a unique
        ``name`` and a pure ``detect(text, known=None)`` that never raises.

    .. versionadded:: 0.1.0

    Who implements this: agencies and vendors with identifiers of their own.
    """


# --------------------------------------------------------------------------------------
# Communications.


@hookspec(firstresult=True)
def civiccrm_message_channel(spec: str) -> MessageChannel | None:
    """
    Open the outbound message channel that ``spec`` names (``smtp://host:587``,
    ``files:/var/spool/civiccrm``, ``sms+vendor://...``), or return None if ``spec`` is
    not this plugin's. The first non-None answer wins; the built-in channels answer last.

    .. versionadded:: 0.1.0

    Who implements this: SMS gateways, letter printing services, other email services.
    """


@hookspec(firstresult=True)
def civiccrm_mailbox_poller(spec: str) -> MailboxPoller | None:
    """
    Open the inbound mailbox that ``spec`` names (``maildir:/srv/mail/311``,
    ``mbox:/var/mail/permits``, ``imaps://...`` for a plugin), or return None if ``spec``
    is not this plugin's. The first non-None answer wins; the built-in maildir and mbox
    pollers answer last.

    .. versionadded:: 0.1.0

    Who implements this: IMAP, Microsoft Graph or Gmail API integrations.
    """
