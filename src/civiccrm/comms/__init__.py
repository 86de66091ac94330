"""
Communications: message templates, outbound channels and the outbox, inbound email,
satisfaction surveys.

The services live on the CRM (``crm.messages``, ``crm.surveys``, ``crm.mail``); this
package holds what callers and plugin authors name themselves: the channel protocol,
the built-in channels, and the test double.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from civiccrm.comms._outbound import (
    DispatchReport,
    MessageService,
    MessageSummary,
    PlannedMessage,
    consent_block,
)
from civiccrm.comms._surveys import IssuedSurvey, SurveyError, SurveyService, token_hash
from civiccrm.comms._templates import Template, TemplateSyntaxError
from civiccrm.comms.channels import (
    CapturingChannel,
    ChannelError,
    FileChannel,
    MessageChannel,
    OutgoingMessage,
    SmtpChannel,
    open_channel,
)

__all__ = [
    "CapturingChannel",
    "ChannelError",
    "DispatchReport",
    "FileChannel",
    "IssuedSurvey",
    "MessageChannel",
    "MessageService",
    "MessageSummary",
    "OutgoingMessage",
    "PlannedMessage",
    "SmtpChannel",
    "SurveyError",
    "SurveyService",
    "Template",
    "TemplateSyntaxError",
    "consent_block",
    "open_channel",
    "token_hash",
]
