"""
A labelled corpus of the free text a city's CRM holds, for the personal-data detectors.

    from _pii_corpus import make_corpus          # (with benchmarks/ on sys.path)
    docs = make_corpus(3000, seed=2026)          # [Doc(text, [Span(start, end, type)])]

Three kinds of document, in equal shares (document ``i`` is of kind ``i % 3``), each
drawn from its own templates: citizens' emails to the 311 centre (``email``),
caseworkers' notes (``note``) and transcripts of calls to 311 (``call``). The templates'
slots are filled with Faker (``en_US``, seeded) and with values made here:

* people: Faker given and family names (a few double-barrelled), written "Given
  Family", with a title ("Ms. Given Family", the title outside the span), with a middle
  initial or name, as "Family, Given" (and in capitals in one form's header), by the
  given name alone (signatures) and, on a second mention, as "Ms. Family" (only the
  family name is the span);
* street addresses: Faker's street address (leading zeros of the number dropped; some
  with a unit, Faker's or one added here), alone or with city, state and ZIP code, on
  one line or two;
* phones: US numbers of real area codes (some 555-01xx) as (217) 555-0134,
  217-555-0134, 217.555.0134, 217 555 0134, 2175550134, +1 217 555 0134,
  +1 (217) 555-0134, +1-217-555-0134, 1-217-555-0134, and seven-digit local numbers
  (555-0134) after words such as "call me at";
* emails, mostly built from the person's name; valid SSNs (area not 000, 666 or 9xx,
  group not 00, serial not 0000) and ITINs (9xx, group 70-88, 90-92 or 94-99; the IRS
  also issues 50-65, which the decoys avoid), dashed,
  spaced or (SSN) bare; Luhn-valid cards (Visa, Mastercard 51-55 and 2221-2720, Amex,
  Discover) with spaces, dashes or none; IBANs with valid mod-97 check digits of ten
  European countries, grouped by four or not; IPv4 and IPv6 (compressed or not) addresses;
  dates of birth in eight formats after "DOB", "born", "date of birth"; driver's
  licence numbers of six states (Illinois A123-4567-8901 and its undashed form, California,
  Florida, Wisconsin, New York, Texas) after "driver's license" or "DL"; US passport
  numbers (nine digits, or a letter and eight) after "passport number".

Decoys, which are not personal data and are not labelled (their spans are recorded
apart, in :attr:`Document.decoys`, by kind): case and service-request numbers
(SR-2026-004512, CASE 2026-0042-17), ten-digit request and ticket numbers that are valid
phone numbers ("SR 2175550134", "ticket #4155550123"), amounts, appointment and expiry
dates in the same formats as the dates of birth, times, invalid SSNs (000-, 666-, -00-,
-0000, 9xx that are not ITINs) as form and batch numbers, order numbers (some of nine
digits), parcel numbers (14-22-301-005), eight-digit meter numbers, permits, citations,
utility accounts, ZIP codes alone, department, school, park and building names (many
named after people: "Lincoln Elementary School"), street names without a number ("the
corner of Oak Street and 5th Avenue"), weekdays and dates without a year.

Every span is recorded as the text is built; :func:`check_document` asserts that each
span's text is the value inserted, that the spans are in order and do not overlap, and
that no decoy overlaps a span (``make_documents`` runs it on every document). The
types are :class:`civiccrm.privacy.detect.PiiType` values, as plain strings.

The corpus depends on the Faker version (its names and addresses); the figures of a
benchmark are comparable only between runs with the same one.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import NamedTuple

from faker import Faker

from civiccrm.privacy.detect import PiiType

__all__ = [
    "KINDS",
    "TEMPLATES",
    "Decoy",
    "Doc",
    "Document",
    "Parties",
    "Span",
    "check_document",
    "iban_ok",
    "luhn_ok",
    "make_corpus",
    "make_documents",
]

EMAIL = PiiType.EMAIL.value
PHONE = PiiType.PHONE.value
US_SSN = PiiType.US_SSN.value
US_ITIN = PiiType.US_ITIN.value
CREDIT_CARD = PiiType.CREDIT_CARD.value
IBAN = PiiType.IBAN.value
IP_ADDRESS = PiiType.IP_ADDRESS.value
DATE_OF_BIRTH = PiiType.DATE_OF_BIRTH.value
US_ADDRESS = PiiType.US_ADDRESS.value
DRIVER_LICENSE = PiiType.DRIVER_LICENSE.value
PASSPORT = PiiType.PASSPORT.value
PERSON = PiiType.PERSON.value


class Span(NamedTuple):
    """``text[start:end]`` is personal data of ``type`` (a PiiType value)."""

    start: int
    end: int
    type: str


class Doc(NamedTuple):
    """One document: its text and its gold spans, in text order."""

    text: str
    spans: list[Span]


class Decoy(NamedTuple):
    """``text[start:end]`` looks like personal data and is not (``kind``: what it is)."""

    start: int
    end: int
    kind: str


class Parties(NamedTuple):
    """What a CRM stores about the people of the document, in its stored forms."""

    #: "Given Family", one per person named in the text.
    names: tuple[str, ...]
    emails: tuple[str, ...]
    #: E.164 (+12175550134); a local seven-digit number is stored with area code 217.
    phones: tuple[str, ...]
    #: Street address lines, unit included ("742 Evergreen Terrace Apt. 4").
    addresses: tuple[str, ...]


class Document(NamedTuple):
    kind: str  # "email", "note" or "call"
    template: int  # index into TEMPLATES[kind]
    text: str
    spans: list[Span]
    decoys: list[Decoy]
    parties: Parties

    def doc(self) -> Doc:
        return Doc(self.text, self.spans)


# --------------------------------------------------------------------------------------
# Templates. A slot is {base} or {baseN}: N (1 if absent) is the person it belongs to,
# for the personal slots; {name2:f} or {name2:m} says the person is a woman or a man
# (the text says "her" or "son"), {name2:fk} or {name2:mk} also that they are family of
# person 1 (mostly of the same family name). {decoy} is a sentence from the kind's pool.

_EMAILS = (
    "Subject: Streetlight out on {street_name}\n\nHi, my name is {name}. The streetlight "
    "outside {address} has been out since {weekday}, and the whole block is dark. {decoy} "
    "You can reach me at {phone} or {email}.\n\nThanks,\n{first}",
    #
    "Hello 311,\n\nI'm writing about the pothole in front of {address}. It is about two feet "
    "wide and a car lost a hubcap there on {weekday} around {time}. I already reported it "
    "(ticket #{ticket}) but nothing happened. Please call me at {phone}.\n\n{name}\n{email}",
    #
    "Dear {dept},\n\nMy name is {name} and I live at {address_full}. Trash pickup has been "
    "missed three weeks in a row. I was told to expect a credit of {amount} on my bill. "
    "The parcel number is {parcel}. {decoy}\n\nEmail: {email}\nPhone: {phone}\n\n"
    "Regards,\n{name}",
    #
    "To whom it may concern,\n\nThe tenant at {address2} plays loud music every {weekday} "
    "past midnight. I have called the non-emergency line twice (case {case}). I am {name}, "
    "living at {street}. Call me at {phone_local}, that's my home line, or on my cell at "
    "{phone}.\n\n{first}",
    #
    "Hi - a large branch from a tree in {park} fell onto the sidewalk near {address}. "
    "Nobody was hurt. Service request {srnum} was closed by mistake on {appt}. If you need "
    "more details I'm {name}, {phone}.",
    #
    "Hello, this is {name}. My water bill for account {acct} jumped to {amount} this "
    "month, three times the usual. I live at {address_full}. I would like someone to check "
    "the meter (meter no. {meter}). Best number is {phone}; email {email}. Thank you.",
    #
    "Graffiti again on the wall behind {school}, on {street_name} near {cross}. Reported "
    "by {name} ({email}). Previous request: {sr}. {decoy}",
    #
    "Good morning,\n\nMy mother, {name2:fk}, is 84 and lives alone at {address2}. Her sidewalk "
    "has not been cleared since the storm on {month_day}. Could someone help? You can reach "
    "me, {name}, at {phone} or {email}. Her own number is {phone2}.\n\nThank you",
    #
    "I received a parking citation ({citation}) for {amount} on {appt} while parked in "
    "front of my own home at {address}. My name is {name_rev} as it appears on the ticket. "
    "Please contact me at {email} or {phone}.",
    #
    "Hi, there's a stray dog near the playground at {park}. It has been there since "
    "{weekday} morning and looks hungry. {decoy}\n\n- {name}, {phone}",
    #
    "Dear Permits Office,\n\nI applied for a fence permit (application {permit}) on {appt} "
    "for my property at {address_full}. It has been six weeks. My phone is {phone} and my "
    "email is {email}.\n\nSincerely,\n{name}\n{address_ml}",
    #
    "URGENT: sewage is backing up into my basement at {address}. I called at {time} and was "
    "told a crew would come. Please call {phone} as soon as possible. {name}",
    #
    "Hello. My son {name2:mk} uses a wheelchair and the curb ramp at {street_name} and "
    "{cross} is broken. We live at {street}. I can be reached at {email} or {phone}. "
    "Thank you, {name}.",
    #
    "My landlord, {name2}, has not fixed the heat at {address} since {month_day}. I pay "
    "{amount} a month. Code enforcement case {case}. The landlord's number is {phone2} but "
    "nobody ever answers. Reach me at {phone}. {name}",
    #
    "Hi, I can't log in to the 311 portal. It says my account is locked. I tried from {ip} "
    "this morning around {time}. My username is my email, {email}. Name on the account: "
    "{name}. {decoy}",
    #
    "Please schedule a bulk item pickup (a couch and two mattresses) at {address}. Any "
    "{weekday} works. Contact: {name}, {phone}, {email}. Order {order}.",
    #
    "Construction at the {place} site starts at 6:00 AM every day, including {weekday}. "
    "That is against the noise ordinance. I'm {name} at {street}. Phone: {phone}.",
    #
    "Please update the mailing address on utility account {acct}. New address: "
    "{address_full}. Previous address: {address_old}. {name}, {phone}",
    #
    "Hi, I'd like to apply for the senior property tax exemption. My name is {name}, date "
    "of birth {dob}, and I live at {address_full}. Parcel {parcel}. Call me at {phone}. "
    "{decoy}",
    #
    "Hello, I overpaid my final water bill by {amount} before moving back to Europe. Please "
    "refund it to my bank account, IBAN {iban}, in the name of {name}. My new email is "
    "{email}. Old address: {street}.",
    #
    "Hi, I tried to pay the {amount} fee online for permit {permit} but the page timed "
    "out. Can you charge my card {card} instead? Name on the card: {name}.\n\nThanks, "
    "{first} ({phone})",
    #
    "Re: {sr}\n\nThanks for the quick reply. The abandoned car is still parked outside "
    "{address}, in front of the fire hydrant. It's been there since {month_day}. {decoy}\n\n"
    "{name}\nSent from my phone",
    #
    "Hello, my name is {name} and I was born {dob}. I need a copy of my late husband "
    "{name2:mk}'s death certificate for the pension office; it wants the IBAN of our joint "
    "account, {iban}, on the form. I live at {address_full}. Call me at {phone_local}.",
)

_NOTES = (
    "Met with client {name} (DOB {dob}) at {address}. SSN {ssn} verified against card. "
    "Client's son {name2:mk} was present. Verified driver's license {dl}. Next appointment "
    "{appt} at {time}. {decoy}",
    #
    "Phone call with {name} re: rental assistance. Client states landlord {name2} has "
    "filed for eviction. Rent owed {amount}. Client's ITIN is {itin}. Callback number "
    "{phone}.",
    #
    "Intake: {name}, born {dob}. Address: {address_full}. Phone {phone}. Email {email}. "
    "ID presented: passport number {passport}. Referred to {dept}.",
    #
    "Client {name} came in to renew SNAP benefits. Date of birth: {dob}. SSN on file: "
    "{ssn}. Household: spouse {name2}, two children. Verified income {amount}/month. "
    "Follow-up {weekday} {appt}.",
    #
    "Welfare check requested by neighbor {name2} ({phone2}). Visited {address} at {time}. "
    "Client {name} was home and in good spirits. {ref} says the furnace is working again. "
    "No further action. CASE {case}.",
    #
    "Client {name} (DOB {dob}) reports identity theft: someone used the client's card "
    "{card} at stores out of state. Bank statement copied. Advised to file a police report. "
    "Contact {email}.",
    #
    "Documents received for {name}: driver's license {dl}, birth certificate, lease for "
    "{address}. Missing: proof of income. Reminder sent to {email} on {appt}.",
    #
    "Interpreter needed (Spanish). Client {name}, DOB {dob}, passport no. {passport}. "
    "Client is staying with cousin {name2} at {address2}. Contact via the cousin's phone "
    "{phone2}.",
    #
    "Court date for {name} is {appt} at {place}. Client asked that we call {phone} the day "
    "before. SSN {ssn}. Public defender assigned. {decoy}",
    #
    "CLIENT: {NAME_REV}\nDOB: {dob}\nSSN: {ssn}\nADDR: {address_full}\nPHONE: {phone}\n"
    "NOTES: seen for utility shut-off prevention. Past due {amount} on account {acct}.",
    #
    "Spoke to {name:f}'s daughter {name2:fk} by phone ({phone2}). She will bring her mother's "
    "ITIN letter ({itin}) and state ID. Mother's date of birth is {dob}.",
    #
    "Emergency shelter placement for {name} and son {name2:mk} (born {dob2}). Previous "
    "address {address}. Placed at {place}. Caseworker to follow up {weekday}.",
    #
    "No-show for appointment on {appt} at {time}. Left voicemail at {phone}. Sent letter "
    "to {address_full}. Will close case {case} after 30 days if no contact. Client: "
    "{name_rev}.",
    #
    "Client {name} reported the prepaid benefits card {card} stolen on {month_day}. "
    "Replacement ordered. Client's driver's license number {dl} used to confirm identity.",
    #
    "Verified identity of {name} with driver's license {dl} and Social Security card "
    "({ssn}). Lives at {address} with partner {name2}. Email on file {email}. {decoy}",
    #
    "Case transferred from {dept} (ticket #{ticket}) to Social Services. Client {name} can "
    "be reached at {phone}. DOB {dob}. ITIN {itin}. Household of 4.",
    #
    "Reviewed file with supervisor on {weekday}. {name} (DOB {dob}, driver's license "
    "{dl}) is eligible for the after-school program at {school} for son {name2:mk}.",
    #
    "Passport renewal assistance: {name}, passport number {passport}, expires {appt}. "
    "Date of birth {dob}. Mailing address {address_full}. Phone {phone}.",
    #
    "Home visit {appt}, {time}. {name_rev} (DOB {dob}) at {address}. Grandson {name2:mk} "
    "translating. Client's cell {phone}. Needs a ramp at the front steps; referred to "
    "{dept}.",
    #
    "Call from {name} ({phone}): lost job, behind on rent by {amount}. Landlord: {name2}, "
    "{phone2}. Tenant since {month_day}. SSN {ssn}. Scheduled intake {appt}.",
    #
    "Client {name} receives a small pension from abroad, paid into IBAN {iban}. Counted as "
    "income ({amount}/month). Passport number {passport} on file. Follow-up {weekday}. "
    "{decoy}",
    #
    "Benefits overpayment: {name_rev}, DOB {dob}. Repayment plan of {amount} a month from "
    "IBAN {iban} agreed. Driver's license {dl} copied. CASE {case}.",
)

_CALLS = (
    "Agent: Thank you for calling Springfield 311, can I have your name?\nCaller: It's "
    "{name}.\nAgent: And the service address?\nCaller: {address}.\nAgent: How can I help you "
    "today?\nCaller: I'd like to pay my water bill, it's {amount}. My card number is "
    "{card}.\nAgent: Thank you, that went through. Your confirmation is {order}.",
    #
    "Agent: Springfield 311, this is the billing line. Who am I speaking with?\nCaller: "
    "{name}.\nAgent: How can I help?\nCaller: I moved back to Europe and I'm owed a refund "
    "of {amount}. The IBAN is {iban}.\nAgent: Got it. And an email for the receipt?\n"
    "Caller: {email}.\nAgent: Your reference is {sr}.",
    #
    "Agent: Thank you for calling, can I have your name?\nCaller: Yes, {name_rev}.\nAgent: "
    "What's the problem with your account?\nCaller: It locked me out. I was logged in from "
    "{ip} and then it just stopped working.\nAgent: I see a login attempt at {time}. I'll "
    "unlock it. Can you confirm your date of birth?\nCaller: {dob}.\nAgent: Thank you, "
    "you're all set.",
    #
    "Agent: 311, how can I help?\nCaller: Hi, this is {name}, I'm calling about a pothole "
    "outside {address}.\nAgent: I can take that. Best callback number?\nCaller: {phone}.\n"
    "Agent: Thanks. Your service request number is {sr}. {decoy}",
    #
    "Agent: For verification, can I have your Social Security number?\nCaller: Sure, it's "
    "{ssn}.\nAgent: And your name as it appears on the account?\nCaller: {name}.\nAgent: "
    "Thank you, {ref}. I see a balance of {amount}.\nCaller: Can I pay by card? It's "
    "{card}.",
    #
    "Agent: Thank you for calling the tax assistance line. Name please?\nCaller: {name}.\n"
    "Agent: Do you have a Social Security number?\nCaller: No, I have an ITIN, {itin}.\n"
    "Agent: Thank you. Your appointment is {appt} at {time}, at {place}.",
    #
    "Agent: Springfield 311, can I have your name?\nCaller: It's {name}. My neighbor "
    "{name2:f} asked me to call for her.\nAgent: What's her address?\nCaller: {address2}. Her "
    "number is {phone2}.\nAgent: And yours?\nCaller: Call me at {phone_local}.\nAgent: "
    "Thank you. Ticket #{ticket}.",
    #
    "Agent: Thanks for calling. Can I get your name and date of birth?\nCaller: {name}, "
    "born {dob}.\nAgent: And the last address we have?\nCaller: {address_full}.\nAgent: "
    "I'll update your email too. What is it?\nCaller: {email}.",
    #
    "Agent: Can I have your name, please?\nCaller: {name}.\nAgent: How would you like to "
    "pay the {amount}?\nCaller: Bank transfer. The IBAN is {iban}, it's my account back "
    "home.\nAgent: Thank you. Reference: CASE {case}.",
    #
    "Agent: Thank you for calling, can I have your name?\nCaller: {name}.\nAgent: What's "
    "the issue?\nCaller: Someone charged {amount} to my card, {card}, for permit {permit} "
    "that I never applied for.\nAgent: I'll flag it. Were you logged in from {ip} "
    "yesterday?\nCaller: No, that's not me.",
    #
    "Agent: Springfield 311.\nCaller: Hi, my driver's license {dl} was flagged at the DMV "
    "for an unpaid parking ticket, {citation}.\nAgent: Can I have your name?\nCaller: "
    "{name}.\nAgent: And your address?\nCaller: {address_full}.\nAgent: I see it, {amount}. "
    "I can take a card now.\nCaller: OK, {card}.",
    #
    "Agent: Thank you for calling, can I have your name?\nCaller: It's {name}.\nAgent: "
    "What is your email address?\nCaller: {email}.\nAgent: And the device you used, do you "
    "know its IP address?\nCaller: The router says {ip}.\nAgent: Thanks. I have opened "
    "{sr}.",
    #
    "Caller: Hello? Yes, I'm calling about my passport appointment.\nAgent: Name?\nCaller: "
    "{name}. My passport number is {passport}.\nAgent: Date of birth?\nCaller: {dob}.\n"
    "Agent: You're booked for {appt} at {time} at {place}.",
    #
    "Agent: Springfield 311, how can I help?\nCaller: There is water pouring out of the "
    "hydrant at {street_name} and {cross}.\nAgent: Thank you. Can I have a name and number?"
    "\nCaller: {name}, {phone}.\nAgent: Got it, I've sent it to {dept}. Your request number "
    "is {sr}.",
    #
    "Agent: Thank you for calling, can I have your name?\nCaller: {name_rev}.\nAgent: And "
    "your date of birth?\nCaller: {dob}.\nAgent: The last four of your card?\nCaller: I'll "
    "give you the whole number: {card}.\nAgent: Thank you. Refunding {amount} to it now.",
    #
    "Agent: Billing, how can I help?\nCaller: This is {name}. My landlord {name2} says the "
    "city shut off our water. I'm at {address}.\nAgent: The account is in the landlord's "
    "name. Do you have a number for them?\nCaller: {phone2}.\nAgent: Thanks. I'll note it "
    "on CASE {case}.",
    #
    "Agent: Thank you for calling, can I have your name?\nCaller: {name}.\nAgent: I need to "
    "verify your identity. Social Security number or ITIN?\nCaller: ITIN. {itin}.\nAgent: "
    "And your address?\nCaller: {street}.\nAgent: Thank you. The payment of {amount} is due "
    "{appt}.\nCaller: I'll pay by bank transfer from my European account, IBAN {iban}.",
    #
    "Agent: 311, this call may be recorded. Your name?\nCaller: {name}.\nAgent: Phone?\n"
    "Caller: {phone}. Or email me at {email}.\nAgent: And the IP address in the portal "
    "error report?\nCaller: It showed {ip}.\nAgent: Thanks. Ticket {sr}.",
    #
    "Agent: Springfield 311.\nCaller: Hi, I'm {name}. I paid {amount} twice for the same "
    "citation, {citation}. Could you refund one to my card? The number is {card}.\nAgent: "
    "Of course. Confirmation {order}. {decoy}",
    #
    "Agent: Thanks for calling the senior services line. Name?\nCaller: {name}, and my "
    "date of birth is {dob}.\nAgent: Address?\nCaller: {address_full}.\nAgent: And a "
    "phone number?\nCaller: {phone}. My daughter {name2:fk} also has access to the account.",
    #
    "Agent: Springfield 311, can I have your name?\nCaller: {name}. I'm calling from the "
    "library, my IP address there was {ip} when your payment page crashed.\nAgent: Did the "
    "payment go through?\nCaller: I don't know. It was {amount} with the card {card}.\n"
    "Agent: I'll check. Ticket #{ticket}.",
    #
    "Agent: Thank you for calling, can I have your name?\nCaller: {name}. I need a "
    "replacement for my lost recycling cart.\nAgent: Can you confirm your driver's license "
    "number?\nCaller: {dl}.\nAgent: And the address?\nCaller: {address}.\nAgent: Done. "
    "Delivery {weekday}. {decoy}",
)

_EMAIL_DECOYS = (
    "P.S. My previous request was {sr}.",
    "This is the third time I've written about it (CASE {case}).",
    "I was at {place} on {weekday} and saw the same problem.",
    "The fee of {amount} seems high.",
    "I have an appointment on {appt} at {time}, so mornings are bad.",
    "The house is in the {zip} ZIP code, parcel {parcel}.",
    "Please don't close it like SR {srnum} last year.",
    "The form I got had reference number {bad_ssn} on it.",
    "Order {order} was never delivered either.",
    "{dept} told me to write to you.",
    "{weekday} or {month_day} would be fine.",
    "My old water account was {acct} and the meter number is {meter}.",
    "The letter from the county listed {bad_ssn} as my reference, which I don't understand.",
    "Is the {zip} area on the list for {weekday}?",
    "It's at the corner of {street_name} and {cross}, near {school}.",
    "Last time someone from {dept} came on {appt}.",
)
_NOTE_DECOYS = (
    "Supervisor notified {weekday}.",
    "Related: {sr}.",
    "Parcel {parcel}.",
    "Batch {bad_ssn} (scanned forms).",
    "Voucher amount {amount}.",
    "Next review {appt}.",
    "Meter {meter} read on {month_day}.",
    "Referred to {dept}; ticket #{ticket}.",
    "Form no. {bad_ssn} completed.",
    "Order {order} placed for the ramp materials.",
    "Met at {place} at {time}.",
    "SR {srnum} linked.",
    "Client lives in the {zip} ZIP code; bus route 9 stops nearby.",
    "Invoice {order} for {amount}, claim {bad_ssn}.",
    "Utility account {acct}, meter {meter}.",
)
_CALL_DECOYS = (
    "Anything else I can help with?\nCaller: No, thank you.",
    "You'll get an email from {dept} within 48 hours.",
    "The crew is scheduled for {appt} at {time}.",
    "Your old ticket, SR {srnum}, is still open.",
    "The fee is {amount}, due {month_day}.",
    "For parcel {parcel} the assessment is {amount}.",
    "Please keep the reference {bad_ssn} from the letter.",
    "I've also linked case {case}.",
    "That office is at {place}, open {weekday}.",
    "Your order {order} ships {weekday}.",
    "Service request {srnum} has been updated.",
    "The claim number on that letter is {bad_ssn}.",
    "Crews are in the {zip} ZIP code {weekday}, meter {meter} is on the list.",
)

KINDS = ("email", "note", "call")
TEMPLATES: dict[str, tuple[str, ...]] = {"email": _EMAILS, "note": _NOTES, "call": _CALLS}
_DECOY_SENTENCES = {"email": _EMAIL_DECOYS, "note": _NOTE_DECOYS, "call": _CALL_DECOYS}
_SLOT = re.compile(r"\{([A-Za-z_]+?)(\d?)(?::([fm])(k?))?\}")


# --------------------------------------------------------------------------------------
# Values

_AREA_CODES = (
    "217", "312", "773", "872", "630", "331", "708", "815", "779", "847", "224", "309",
    "618", "415", "212", "646", "617", "303", "512", "206", "404", "305", "702", "602",
    "503", "614", "313", "612", "314", "816", "414", "317", "502", "615", "919", "704",
    "213", "310", "818", "202",
)  # fmt: skip
_TITLES_M = ("Mr.", "Mr.", "Mr.", "Dr.")
_TITLES_F = ("Ms.", "Ms.", "Mrs.", "Miss", "Dr.")
_UNITS = ("Apt 4B", "Apt. 12", "Unit 3", "#210", "Suite 5", "Apt 2R", "Unit 1407")
_DEPTS = (
    "Springfield Public Works", "Springfield Housing Authority", "Springfield Animal Control",
    "the Sangamon County Clerk", "Springfield Water, Light and Power", "Code Enforcement",
    "the Department of Human Services", "Springfield Parks and Recreation",
)  # fmt: skip
_PLACES = (
    "Jefferson County Courthouse", "Franklin Community Center", "Springfield Public Library",
    "Carver Recreation Center", "Memorial Medical Center", "Douglas Avenue Library Branch",
    "Lincoln Home National Historic Site", "Adams Street Bridge", "Washington Senior Center",
    "St. John's Hospital",
)  # fmt: skip
_PARKS = (
    "Oak Street Park", "Lincoln Park", "Washington Park", "Douglas Park", "Bunn Park",
    "Iles Park", "Fairview Park", "Madison Park",
)  # fmt: skip
_SCHOOLS = (
    "Lincoln Elementary School", "Washington Middle School", "Jefferson Middle School",
    "Grant Middle School", "Franklin Elementary", "Lanphier High School",
    "Dubois Elementary School", "Harvard Park Elementary",
)  # fmt: skip
_STREETS = (
    "Oak Street", "Monroe Avenue", "Washington Street", "Grand Avenue", "Maple Drive",
    "MacArthur Boulevard", "Walnut Street", "Lincoln Avenue", "Jefferson Street",
    "South 6th Street", "Chatham Road", "Cook Street",
)  # fmt: skip
_CROSS = (
    "5th Avenue",
    "2nd Street",
    "Pasfield Street",
    "Elm Street",
    "Ash Street",
    "Spring Street",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

# IBAN: the BBAN of each country ("n" digit, "a" capital letter, "c" either), bank codes.
_IBAN_BBAN = {
    "DE": ("n" * 18, ()),
    "GB": ("aaaa" + "n" * 14, ("NWBK", "BARC", "LOYD", "HBUK", "MIDL")),
    "FR": ("n" * 10 + "c" * 11 + "nn", ()),
    "NL": ("aaaa" + "n" * 10, ("ABNA", "INGB", "RABO", "TRIO")),
    "ES": ("n" * 20, ()),
    "IT": ("a" + "n" * 10 + "c" * 12, ()),
    "BE": ("n" * 12, ()),
    "CH": ("n" * 5 + "c" * 12, ()),
    "PL": ("n" * 24, ()),
    "IE": ("aaaa" + "n" * 14, ("AIBK", "BOFI")),
}

Piece = tuple[str, str | None, str | None]  # text, PII type, decoy kind


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return d
    raise AssertionError("unreachable")


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    moved = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


class _Person:
    """A person of one document; their values are drawn when a slot first needs them."""

    def __init__(
        self, rng: random.Random, fake: Faker, gender: str | None, kin_of: _Person | None
    ) -> None:
        self.rng, self.fake = rng, fake
        female = rng.random() < 0.5 if gender is None else gender == "f"
        self.given = fake.first_name_female() if female else fake.first_name_male()
        family = fake.last_name()
        if rng.random() < 0.04:
            family = f"{family}-{fake.last_name()}"
        if kin_of is not None and rng.random() < 0.7:
            family = kin_of.family
        self.family = family
        self.title = rng.choice(_TITLES_F if female else _TITLES_M)
        self.values: dict[str, object] = {}

    def value(self, key: str, make: Callable[[], object]) -> object:
        if key not in self.values:
            self.values[key] = make()
        return self.values[key]


class _Filler:
    """Renders the slots of one document, caching each so a repeated slot repeats."""

    def __init__(self, rng: random.Random, fake: Faker, kind: str) -> None:
        self.rng, self.fake, self.kind = rng, fake, kind
        self.people: dict[int, _Person] = {}
        self.genders: dict[int, str] = {}
        self.kin: set[int] = set()  # people of person 1's family
        self.cache: dict[str, list[Piece]] = {}
        self.names: dict[str, None] = {}
        self.emails: dict[str, None] = {}
        self.phones: dict[str, None] = {}
        self.addresses: dict[str, None] = {}

    def person(self, idx: int) -> _Person:
        if idx not in self.people:
            kin_of = self.person(1) if idx in self.kin and idx != 1 else None
            self.people[idx] = _Person(self.rng, self.fake, self.genders.get(idx), kin_of)
        return self.people[idx]

    def pieces(self, base: str, idx: str) -> list[Piece]:
        key = base + idx
        if key not in self.cache:
            personal = getattr(self, "p_" + base, None)
            if personal is not None:
                self.cache[key] = personal(self.person(int(idx or 1)))
            else:
                if idx:
                    raise KeyError(f"slot {{{key}}}: {base} is not a personal slot")
                self.cache[key] = getattr(self, "d_" + base)()
        return self.cache[key]

    # -- people ------------------------------------------------------------------------

    def _named(self, p: _Person) -> None:
        self.names[f"{p.given} {p.family}"] = None

    def p_name(self, p: _Person) -> list[Piece]:
        self._named(p)
        r = self.rng.random()
        if r < 0.12:
            return [(p.title + " ", None, None), (f"{p.given} {p.family}", PERSON, None)]
        if r < 0.21:
            initial = self.fake.first_name()[0]
            return [(f"{p.given} {initial}. {p.family}", PERSON, None)]
        if r < 0.26:
            return [(f"{p.given} {self.fake.first_name()} {p.family}", PERSON, None)]
        return [(f"{p.given} {p.family}", PERSON, None)]

    def p_name_rev(self, p: _Person) -> list[Piece]:
        self._named(p)
        return [(f"{p.family}, {p.given}", PERSON, None)]

    def p_NAME_REV(self, p: _Person) -> list[Piece]:
        self._named(p)
        return [(f"{p.family}, {p.given}".upper(), PERSON, None)]

    def p_ref(self, p: _Person) -> list[Piece]:
        self._named(p)
        return [(p.title + " ", None, None), (p.family, PERSON, None)]

    def p_first(self, p: _Person) -> list[Piece]:
        self._named(p)
        return [(p.given, PERSON, None)]

    # -- where they live -------------------------------------------------------------------

    def _address(self, p: _Person, key: str) -> tuple[str, str, str, str]:
        def make() -> tuple[str, str, str, str]:
            rng, fake = self.rng, self.fake
            street = re.sub(r"^0+(?=\d)", "", fake.street_address())
            if not re.search(r"\b(Apt\.|Suite)", street) and rng.random() < 0.12:
                street += (", " if rng.random() < 0.5 else " ") + rng.choice(_UNITS)
            state = fake.state_abbr(
                include_territories=False, include_freely_associated_states=False
            )
            zipcode = fake.zipcode_plus4() if rng.random() < 0.1 else fake.zipcode()
            return street, fake.city(), state, zipcode

        address = p.value(key, make)
        assert isinstance(address, tuple)
        self.addresses[address[0]] = None
        return address

    def p_address(self, p: _Person) -> list[Piece]:
        street, city, state, zipcode = self._address(p, "address")
        r = self.rng.random()
        if r < 0.45:
            text = street
        elif r < 0.8:
            text = f"{street}, {city}, {state} {zipcode}"
        elif r < 0.9:
            text = f"{street}, {city} {state} {zipcode}"
        else:
            text = f"{street}, {city}, {state}"
        return [(text, US_ADDRESS, None)]

    def p_address_full(self, p: _Person) -> list[Piece]:
        street, city, state, zipcode = self._address(p, "address")
        comma = "," if self.rng.random() < 0.85 else ""
        return [(f"{street}, {city}{comma} {state} {zipcode}", US_ADDRESS, None)]

    def p_address_ml(self, p: _Person) -> list[Piece]:
        street, city, state, zipcode = self._address(p, "address")
        return [(f"{street}\n{city}, {state} {zipcode}", US_ADDRESS, None)]

    def p_address_old(self, p: _Person) -> list[Piece]:
        street, city, state, zipcode = self._address(p, "address_old")
        if self.rng.random() < 0.5:
            return [(street, US_ADDRESS, None)]
        return [(f"{street}, {city}, {state} {zipcode}", US_ADDRESS, None)]

    def p_street(self, p: _Person) -> list[Piece]:
        return [(self._address(p, "address")[0], US_ADDRESS, None)]

    # -- contact ---------------------------------------------------------------------------

    def _number(self, p: _Person, key: str, area: str | None = None) -> str:
        def make() -> str:
            rng = self.rng
            code = area or rng.choice(_AREA_CODES)
            if rng.random() < 0.25:
                return f"{code}5550{rng.randint(100, 199)}"
            while True:
                exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
                if exchange[1:] != "11" and exchange != "555":
                    return f"{code}{exchange}{_digits(rng, 4)}"

        number = p.value(key, make)
        assert isinstance(number, str)
        self.phones["+1" + number] = None
        return number

    def _phone(self, number: str) -> list[Piece]:
        a, b, c = number[:3], number[3:6], number[6:]
        forms = (
            (f"({a}) {b}-{c}", 25),
            (f"{a}-{b}-{c}", 25),
            (f"{a}.{b}.{c}", 12),
            (f"+1 {a} {b} {c}", 10),
            (f"+1 ({a}) {b}-{c}", 6),
            (f"+1-{a}-{b}-{c}", 6),
            (f"1-{a}-{b}-{c}", 6),
            (f"{a}{b}{c}", 5),
            (f"{a} {b} {c}", 5),
        )
        text = self.rng.choices([f for f, _ in forms], weights=[w for _, w in forms])[0]
        return [(text, PHONE, None)]

    def p_phone(self, p: _Person) -> list[Piece]:
        return self._phone(self._number(p, "phone"))

    def p_phone_work(self, p: _Person) -> list[Piece]:
        return self._phone(self._number(p, "phone_work"))

    def p_phone_local(self, p: _Person) -> list[Piece]:
        number = self._number(p, "phone_local", area="217")
        return [(f"{number[3:6]}-{number[6:]}", PHONE, None)]

    def p_email(self, p: _Person) -> list[Piece]:
        def make() -> str:
            rng, fake = self.rng, self.fake
            g = re.sub(r"[^a-z]", "", p.given.lower())
            f = re.sub(r"[^a-z]", "", p.family.lower())
            local = rng.choice(
                (
                    f"{g}.{f}",
                    f"{g[0]}{f}",
                    f"{g}{f}{rng.randint(1, 99)}",
                    f"{g}_{f}",
                    f"{f}.{g}",
                    f"{g}{rng.randint(50, 99)}",
                    f"{g[0]}.{f}{rng.randint(1, 9)}",
                    fake.user_name(),
                    fake.user_name(),
                )
            )
            domain = fake.free_email_domain() if rng.random() < 0.75 else fake.domain_name()
            email = f"{local}@{domain}"
            if rng.random() < 0.05:
                email = f"{local.capitalize()}@{domain.capitalize()}"
            return email

        email = p.value("email", make)
        assert isinstance(email, str)
        self.emails[email] = None
        return [(email, EMAIL, None)]

    # -- identifiers -------------------------------------------------------------------------

    def p_dob(self, p: _Person) -> list[Piece]:
        born = p.value("dob", lambda: self.fake.date_of_birth(minimum_age=1, maximum_age=95))
        assert isinstance(born, date)
        return [(_format_date(self.rng, born), DATE_OF_BIRTH, None)]

    def p_ssn(self, p: _Person) -> list[Piece]:
        rng = self.rng
        while True:
            area = rng.randint(1, 899)
            if area != 666:
                break
        group, serial = rng.randint(1, 99), rng.randint(1, 9999)
        a, g, s = f"{area:03d}", f"{group:02d}", f"{serial:04d}"
        r = rng.random()
        text = f"{a}-{g}-{s}" if r < 0.75 else f"{a} {g} {s}" if r < 0.9 else f"{a}{g}{s}"
        return [(text, US_SSN, None)]

    def p_itin(self, p: _Person) -> list[Piece]:
        rng = self.rng
        group = rng.choice([*range(70, 89), *range(90, 93), *range(94, 100)])
        a, g, s = f"9{rng.randint(0, 99):02d}", f"{group:02d}", f"{rng.randint(1, 9999):04d}"
        text = f"{a}-{g}-{s}" if rng.random() < 0.85 else f"{a} {g} {s}"
        return [(text, US_ITIN, None)]

    def p_card(self, p: _Person) -> list[Piece]:
        rng = self.rng
        issuer = rng.choices(
            ("visa", "mc5", "mc2", "amex", "discover"), weights=(35, 20, 20, 12, 13)
        )[0]
        if issuer == "visa":
            prefix, length = "4", 16
        elif issuer == "mc5":
            prefix, length = f"5{rng.randint(1, 5)}", 16
        elif issuer == "mc2":
            prefix, length = str(rng.randint(2221, 2720)), 16
        elif issuer == "amex":
            prefix, length = rng.choice(("34", "37")), 15
        else:
            prefix, length = rng.choice(("6011", "65", str(rng.randint(644, 649)))), 16
        body = prefix + _digits(rng, length - 1 - len(prefix))
        number = body + _luhn_check_digit(body)
        sep = rng.choices((" ", "-", ""), weights=(45, 25, 30))[0]
        groups = (
            (number[:4], number[4:10], number[10:])
            if length == 15
            else (number[:4], number[4:8], number[8:12], number[12:])
        )
        return [(sep.join(groups), CREDIT_CARD, None)]

    def p_iban(self, p: _Person) -> list[Piece]:
        rng = self.rng
        country = rng.choice(tuple(_IBAN_BBAN))
        shape, banks = _IBAN_BBAN[country]
        bban = ""
        for ch in shape:
            if ch == "n":
                bban += rng.choice("0123456789")
            elif ch == "a":
                bban += rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            else:
                bban += rng.choice("0123456789" * 3 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if banks:
            bban = rng.choice(banks) + bban[4:]
        moved = bban + country + "00"
        check = 98 - int("".join(str(int(ch, 36)) for ch in moved)) % 97
        iban = f"{country}{check:02d}{bban}"
        if rng.random() < 0.6:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return [(iban, IBAN, None)]

    def p_ip(self, p: _Person) -> list[Piece]:
        rng, fake = self.rng, self.fake
        if rng.random() < 0.7:
            return [(fake.ipv4_public(), IP_ADDRESS, None)]
        raw = fake.ipv6()
        text = ipaddress.IPv6Address(raw).compressed if rng.random() < 0.55 else raw
        return [(text, IP_ADDRESS, None)]

    def p_dl(self, p: _Person) -> list[Piece]:
        rng = self.rng
        letter = p.family[0].upper()
        state = rng.choices(
            ("IL", "IL-", "CA", "FL", "WI", "NY", "TX"), (30, 15, 15, 10, 10, 10, 10)
        )[0]
        if state == "IL":
            d = _digits(rng, 11)
            text = f"{letter}{d[:3]}-{d[3:7]}-{d[7:]}"
        elif state == "IL-":
            text = letter + _digits(rng, 11)
        elif state == "CA":
            text = rng.choice("ABCDEFGHJKMNSTY") + _digits(rng, 7)
        elif state == "FL":
            d = _digits(rng, 12)
            text = f"{letter}{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:11]}-{d[11]}"
        elif state == "WI":
            d = _digits(rng, 13)
            text = f"{letter}{d[:3]}-{d[3:7]}-{d[7:11]}-{d[11:]}"
        elif state == "NY":
            d = str(rng.randint(100_000_000, 999_999_999))
            text = f"{d[:3]} {d[3:6]} {d[6:]}" if rng.random() < 0.5 else d
        else:
            text = str(rng.randint(10_000_000, 49_999_999))
        return [(text, DRIVER_LICENSE, None)]

    def p_passport(self, p: _Person) -> list[Piece]:
        rng = self.rng
        if rng.random() < 0.8:
            return [(str(rng.randint(100_000_000, 999_999_999)), PASSPORT, None)]
        return [(rng.choice("ACEFGHJKLMNPRSTUVWXZ") + _digits(rng, 8), PASSPORT, None)]

    # -- decoys ------------------------------------------------------------------------------

    def _decoy(self, text: str, kind: str) -> list[Piece]:
        return [(text, None, kind)]

    def _year(self) -> int:
        return self.rng.choice((2024, 2025, 2026, 2026))

    def d_sr(self) -> list[Piece]:
        return self._decoy(f"SR-{self._year()}-{self.rng.randint(1, 999_999):06d}", "case_number")

    def d_case(self) -> list[Piece]:
        rng, y = self.rng, self._year()
        text = rng.choice(
            (
                f"{y}-{rng.randint(1, 9999):04d}-{rng.randint(1, 99):02d}",
                f"#{y}-{rng.randint(10_000, 99_999)}",
                f"CE-{y}-{rng.randint(1, 99_999):05d}",
            )
        )
        return self._decoy(text, "case_number")

    def _phone_like(self) -> str:
        rng = self.rng
        return f"{rng.choice(_AREA_CODES)}{rng.randint(200, 999)}{_digits(rng, 4)}"

    def d_srnum(self) -> list[Piece]:
        return self._decoy(self._phone_like(), "request_number_10_digits")

    def d_ticket(self) -> list[Piece]:
        return self._decoy(self._phone_like(), "ticket_number_10_digits")

    def d_amount(self) -> list[Piece]:
        rng = self.rng
        value = rng.randint(5, 15_000)
        text = f"${value:,}.{rng.randint(0, 99):02d}" if rng.random() < 0.7 else f"${value:,}"
        return self._decoy(text, "amount")

    def d_appt(self) -> list[Piece]:
        rng = self.rng
        when = date(rng.choice((2025, 2026, 2026, 2027)), rng.randint(1, 12), rng.randint(1, 28))
        return self._decoy(_format_date(rng, when), "appointment_date")

    def d_time(self) -> list[Piece]:
        rng = self.rng
        h, m = rng.randint(7, 18), rng.choice((0, 15, 30, 45))
        h12 = (h - 1) % 12 + 1
        half = "AM" if h < 12 else "PM"
        text = rng.choice((f"{h}:{m:02d}", f"{h12}:{m:02d} {half}", f"{h12}:{m:02d}{half.lower()}"))
        return self._decoy(text, "time")

    def d_bad_ssn(self) -> list[Piece]:
        rng = self.rng
        a, g, s = f"{rng.randint(1, 899):03d}", f"{rng.randint(1, 99):02d}", _digits(rng, 4)
        form = rng.randrange(5)
        if form == 0:
            a = "000"
        elif form == 1:
            a = "666"
        elif form == 2:
            g = "00"
        elif form == 3:
            s = "0000"
        else:  # 9xx with a group no ITIN has
            groups = (*range(10, 50), *range(66, 70), 89, 93)
            a, g = f"9{rng.randint(0, 99):02d}", f"{rng.choice(groups):02d}"
        if s == "0000" and form != 3:
            s = "1234"
        return self._decoy(f"{a}-{g}-{s}", "invalid_ssn")

    def d_order(self) -> list[Piece]:
        rng = self.rng
        text = rng.choice(
            (
                f"#A-{rng.randint(10_000_000, 99_999_999)}",
                str(rng.randint(100_000_000, 999_999_999)),
                f"WO-{rng.randint(100_000, 999_999)}",
            )
        )
        return self._decoy(text, "order_number")

    def d_parcel(self) -> list[Piece]:
        rng = self.rng
        text = (
            f"{rng.randint(1, 99):02d}-{rng.randint(1, 36):02d}-"
            f"{rng.randint(100, 499)}-{rng.randint(1, 99):03d}"
        )
        return self._decoy(text, "parcel_number")

    def d_meter(self) -> list[Piece]:
        return self._decoy(str(self.rng.randint(10_000_000, 99_999_999)), "meter_number")

    def d_permit(self) -> list[Piece]:
        return self._decoy(f"BP-{self._year()}-{self.rng.randint(1, 99_999):05d}", "permit")

    def d_citation(self) -> list[Piece]:
        return self._decoy(f"PC-{self.rng.randint(1_000_000, 9_999_999)}", "citation")

    def d_acct(self) -> list[Piece]:
        rng = self.rng
        return self._decoy(f"{rng.randint(100_000, 999_999)}-{rng.randint(0, 999):03d}", "account")

    def d_zip(self) -> list[Piece]:
        rng = self.rng
        text = f"627{rng.randint(1, 99):02d}" if rng.random() < 0.6 else self.fake.zipcode()
        return self._decoy(text, "zip_code")

    def d_dept(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_DEPTS), "department")

    def d_place(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_PLACES), "place")

    def d_park(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_PARKS), "place")

    def d_school(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_SCHOOLS), "place")

    def d_street_name(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_STREETS), "street_name")

    def d_cross(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_CROSS), "street_name")

    def d_weekday(self) -> list[Piece]:
        return self._decoy(self.rng.choice(_WEEKDAYS), "weekday")

    def d_month_day(self) -> list[Piece]:
        rng = self.rng
        day = rng.randint(1, 28)
        suffix = "th" if 10 < day < 14 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        text = rng.choice(
            (
                f"{rng.choice(_MONTHS)} {day}",
                f"{rng.choice(_MONTHS)} {day}{suffix}",
                f"the {day}{suffix}",
            )
        )
        return self._decoy(text, "date_without_year")


def _format_date(rng: random.Random, d: date) -> str:
    month = _MONTHS[d.month - 1]
    short = month if month == "May" else month[:3] + "."
    forms = (
        f"{d.month:02d}/{d.day:02d}/{d.year}",
        f"{d.month}/{d.day}/{d.year}",
        f"{d.year}-{d.month:02d}-{d.day:02d}",
        f"{month} {d.day}, {d.year}",
        f"{d.day} {month} {d.year}",
        f"{short} {d.day}, {d.year}",
        f"{d.month:02d}-{d.day:02d}-{d.year}",
        f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
    )
    return rng.choices(forms, weights=(25, 15, 12, 18, 8, 8, 8, 6))[0]


# --------------------------------------------------------------------------------------
# Building


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Span] = []
        self.values: list[str] = []
        self.decoys: list[Decoy] = []
        self.decoy_values: list[str] = []

    def add(self, text: str, pii: str | None = None, decoy: str | None = None) -> None:
        end = self.pos + len(text)
        if pii is not None:
            self.spans.append(Span(self.pos, end, pii))
            self.values.append(text)
        elif decoy is not None:
            self.decoys.append(Decoy(self.pos, end, decoy))
            self.decoy_values.append(text)
        self.parts.append(text)
        self.pos = end

    def unadd(self, n: int) -> None:
        """Take back the last ``n`` characters of literal text."""
        last = self.parts[-1]
        assert len(last) >= n
        assert not (self.spans and self.spans[-1].end > self.pos - n)
        assert not (self.decoys and self.decoys[-1].end > self.pos - n)
        self.parts[-1] = last[:-n]
        self.pos -= n


def _render(template: str, filler: _Filler, out: _Builder, *, nested: bool = False) -> None:
    for m in _SLOT.finditer(template):
        if m.group(3):
            filler.genders[int(m.group(2) or 1)] = m.group(3)
        if m.group(4):
            filler.kin.add(int(m.group(2) or 1))
    at = 0
    for m in _SLOT.finditer(template):
        out.add(template[at : m.start()])
        at = m.end()
        base, idx = m.group(1), m.group(2)
        if base == "decoy":
            if nested:
                raise ValueError("a decoy sentence cannot hold a decoy sentence")
            pool = _DECOY_SENTENCES[filler.kind]
            if filler.rng.random() < 0.8:
                _render(filler.rng.choice(pool), filler, out, nested=True)
                if filler.rng.random() < 0.35:
                    out.add(" ")
                    _render(filler.rng.choice(pool), filler, out, nested=True)
            elif out.parts and out.parts[-1].endswith(" "):
                out.unadd(1)  # no sentence: no space before nothing
            continue
        for text, pii, decoy in filler.pieces(base, idx):
            out.add(text, pii, decoy)
    out.add(template[at:])


def check_document(text: str, spans: Sequence[Span], decoys: Sequence[Decoy] = ()) -> None:
    """Assert the spans are in order, do not overlap, and no decoy overlaps a span."""
    end = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(text), s
        assert s.start >= end, f"spans overlap at {s}"
        assert text[s.start : s.end].strip() == text[s.start : s.end], s
        end = s.end
    for d in decoys:
        assert not any(d.start < s.end and s.start < d.end for s in spans), d


def make_documents(n_docs: int, seed: int) -> list[Document]:
    """``n_docs`` documents, with their decoys and parties, deterministic for ``seed``."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    docs: list[Document] = []
    for i in range(n_docs):
        kind = KINDS[i % len(KINDS)]
        which = rng.randrange(len(TEMPLATES[kind]))
        filler = _Filler(rng, fake, kind)
        out = _Builder()
        _render(TEMPLATES[kind][which], filler, out)
        text = "".join(out.parts)
        for span, value in zip(out.spans, out.values, strict=True):
            assert text[span.start : span.end] == value
        for decoy, value in zip(out.decoys, out.decoy_values, strict=True):
            assert text[decoy.start : decoy.end] == value
        check_document(text, out.spans, out.decoys)
        parties = Parties(
            names=tuple(filler.names),
            emails=tuple(filler.emails),
            phones=tuple(filler.phones),
            addresses=tuple(filler.addresses),
        )
        docs.append(Document(kind, which, text, out.spans, out.decoys, parties))
    return docs


def make_corpus(n_docs: int, seed: int) -> list[Doc]:
    """``n_docs`` labelled documents ``(text, [(start, end, type), ...])``."""
    return [d.doc() for d in make_documents(n_docs, seed)]
