"""
The domain: parties, cases, interactions, staff, case types and their history.

Pure data: attrs classes with validation, the case lifecycle, the personal-data
declaration, and the cattrs converter. Nothing here does I/O.
"""

from civiccrm.models._case import (
    TRANSITIONS,
    Case,
    CaseStatus,
    CaseSummary,
    Location,
    allowed_transitions,
    check_transition,
)
from civiccrm.models._case_type import (
    AttributeDatatype,
    AttributeDefinition,
    AttributeOption,
    AttributeValue,
    CaseType,
    ServiceType,
    format_utc,
)
from civiccrm.models._common import Channel, PartyType, Priority
from civiccrm.models._comms import MessageStatus, OutboxMessage, Survey
from civiccrm.models._convert import (
    configure_converter,
    from_json,
    make_converter,
    structure,
    to_json,
    unstructure,
)
from civiccrm.models._event import CaseEvent, EventKind, EventValue
from civiccrm.models._ids import id_time, new_id
from civiccrm.models._interaction import DeliveryStatus, Direction, Interaction
from civiccrm.models._mail import MailAttachment, MailOutcome, MailReceipt, QuarantinedMail
from civiccrm.models._party import (
    Citizen,
    Consent,
    ConsentStatus,
    ContactKind,
    ContactPoint,
    ContactUse,
    Organization,
    OrganizationKind,
    Party,
    PartyRef,
    PostalAddress,
    normalize_email,
    normalize_phone,
)
from civiccrm.models._pii import (
    DIRECT,
    QUASI,
    PersonalData,
    PersonalDataField,
    personal_data_fields,
)
from civiccrm.models._staff import Agent, Department, Queue
from civiccrm.models._work import BulkJob, Disposal, LegalHold, RetentionRun, Rotation

__all__ = [
    "DIRECT",
    "MODEL_CLASSES",
    "QUASI",
    "TRANSITIONS",
    "Agent",
    "AttributeDatatype",
    "AttributeDefinition",
    "AttributeOption",
    "AttributeValue",
    "BulkJob",
    "Disposal",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "CaseSummary",
    "CaseType",
    "Channel",
    "Citizen",
    "Consent",
    "ConsentStatus",
    "ContactKind",
    "ContactPoint",
    "ContactUse",
    "DeliveryStatus",
    "Department",
    "Direction",
    "EventKind",
    "EventValue",
    "Interaction",
    "LegalHold",
    "MailAttachment",
    "MailOutcome",
    "MailReceipt",
    "MessageStatus",
    "OutboxMessage",
    "QuarantinedMail",
    "Survey",
    "Location",
    "Organization",
    "OrganizationKind",
    "Party",
    "PartyRef",
    "PartyType",
    "PersonalData",
    "PersonalDataField",
    "PostalAddress",
    "Priority",
    "Queue",
    "RetentionRun",
    "Rotation",
    "ServiceType",
    "allowed_transitions",
    "check_transition",
    "configure_converter",
    "format_utc",
    "from_json",
    "id_time",
    "make_converter",
    "new_id",
    "normalize_email",
    "normalize_phone",
    "personal_data_fields",
    "structure",
    "to_json",
    "unstructure",
]

#: Every model class that is stored as a record or nested in one (used by tests and
#: by storage to know what it may meet).
MODEL_CLASSES = (
    Agent,
    AttributeDefinition,
    AttributeOption,
    BulkJob,
    Case,
    CaseEvent,
    CaseType,
    Citizen,
    Consent,
    ContactPoint,
    Department,
    Disposal,
    Interaction,
    LegalHold,
    Location,
    MailAttachment,
    MailReceipt,
    Organization,
    OutboxMessage,
    PartyRef,
    PostalAddress,
    QuarantinedMail,
    Queue,
    RetentionRun,
    Rotation,
    Survey,
)
