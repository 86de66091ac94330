"""
Reading an inbound email: the raw bytes of an RFC 5322 message as its identity,
threading headers, sender, text and attachments' metadata, or the reason it cannot be
read. Pure: no I/O, and it never raises for any input.

The standard library's :mod:`email` package reads the message (``policy.default``);
what that policy cannot take (a header it fails to parse) is read again the older,
more lenient way (``policy.compat32`` and :func:`email.header.decode_header`). Text is
decoded from quoted-printable and base64 and from its charset (a few legacy charsets
by their usual superset, so that what mail clients write under those names reads
right); an unknown charset is decoded as UTF-8 with replacement, and said so in a note.
HTML-only text is turned into plain text with :mod:`html.parser`.

Notes and problems quote nothing from the message (no subject, address or text): they
end up in logs, receipts and the quarantine's reason.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import codecs
import email.header
import email.policy
import email.utils
import hashlib
import re
from email import errors as email_errors
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from html.parser import HTMLParser
from typing import Final

import attrs

from civiccrm.models._mail import MailAttachment
from civiccrm.models._party import normalize_email

__all__ = [
    "ParsedMail",
    "html_to_text",
    "is_outbound_id",
    "message_digest",
    "message_id_of",
    "outbound_case_id",
    "parse_message",
]

#: More parts than this, or deeper nesting, is not a citizen's email.
MAX_PARTS: Final = 1000
MAX_DEPTH: Final = 40
#: What a subject or a file name is cut to.
_MAX_SUBJECT: Final = 998
_MAX_FILENAME: Final = 255

#: Legacy charsets read by their usual superset (as web browsers and mail clients do):
#: what is valid in the named charset reads the same, and what mail clients write under
#: that name (Windows characters in "iso-8859-1") reads right too.
_SUPERSETS: Final = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
}
#: Python codecs that are not charsets a message may name.
_NOT_CHARSETS: Final = frozenset(
    {"unicode_escape", "raw_unicode_escape", "undefined", "idna", "punycode", "mbcs", "oem"}
)
_ASCII: Final = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "us"})
_BASE64_DEFECTS: Final = (
    email_errors.InvalidBase64PaddingDefect,
    email_errors.InvalidBase64CharactersDefect,
    email_errors.InvalidBase64LengthDefect,
)
_ID: Final = re.compile(r"<([^<>\s]{1,900})>")
_TOKEN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:/-]{0,59}")
#: ``<c.{case uuid hex}.{random hex}@{domain}>``: the Message-ID of our outbound email
#: about a case.
_OUTBOUND: Final = re.compile(r"c\.([0-9a-f]{32})\.[0-9a-f]{4,64}@[^<>\s@]+", re.IGNORECASE)
#: ``<m.{random hex}@{domain}>``: the Message-ID of our outbound email about no case.
_OUTBOUND_OTHER: Final = re.compile(r"m\.[0-9a-f]{4,64}@[^<>\s@]+", re.IGNORECASE)
#: Headers that make a message one (the others alone do not).
_ORIGIN: Final = ("from", "sender", "reply-to", "date", "message-id", "subject")
_PRECEDENCE_AUTO: Final = frozenset({"bulk", "junk", "auto_reply"})


@attrs.frozen(kw_only=True)
class ParsedMail:
    """
    An inbound message as civiccrm reads it.

    .. versionadded:: 0.1.0
    """

    #: The Message-ID without its angle brackets; None if it has none.
    message_id: str | None = None
    #: The ids of In-Reply-To, then of References (oldest first), without brackets.
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str | None = None
    #: The author's address (From, else Sender), normalised; None if none is usable.
    sender: str | None = None
    #: Why this is an automatic message (a bounce, an auto-reply), or None.
    automatic: str | None = None
    #: The text: text/plain preferred, else HTML made text.
    body: str = ""
    #: True when the text came from HTML only.
    from_html: bool = False
    attachments: tuple[MailAttachment, ...] = ()
    #: What was noticed (quotes nothing from the message).
    notes: tuple[str, ...] = ()
    #: Why it cannot be taken as it is (quotes nothing from the message), or None.
    problem: str | None = None
    #: SHA-256 (hex) of the content after the header section.
    digest: str = ""


def message_digest(data: bytes) -> str:
    """SHA-256 (hex) of a raw message's content after its header section."""
    cut = [i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0]
    start = min(cut) if cut else 0
    return hashlib.sha256(data[start:]).hexdigest()


def outbound_case_id(message_id: str) -> str | None:
    """
    The case id (32 hex digits) in the Message-ID of civiccrm's outbound email about a
    case (``c.{case uuid hex}.{random hex}@{domain}``), or None for any other id.
    """
    found = _OUTBOUND.fullmatch(message_id.strip().strip("<>"))
    return found.group(1).lower() if found else None


def is_outbound_id(message_id: str) -> bool:
    """
    Whether ``message_id`` is the Message-ID of civiccrm's own outbound email
    (``c.{case hex}.{random hex}@{domain}`` or ``m.{random hex}@{domain}``).
    """
    bare = message_id.strip().strip("<>")
    return _OUTBOUND.fullmatch(bare) is not None or _OUTBOUND_OTHER.fullmatch(bare) is not None


def message_id_of(header_block: bytes) -> str | None:
    """The Message-ID of a message from its header section alone (None if none)."""
    try:
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block)
        raw = headers.get("Message-ID")
        return None if raw is None else _first_id(_clean(str(raw)))
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        return None


# --------------------------------------------------------------------------------------
# Text


def _clean(text: str) -> str:
    """
    ``text`` made safe to store: bytes the parser kept as surrogates decoded (UTF-8,
    else Windows-1252), NUL and other lone surrogates replaced, CRLF made LF.
    """
    if any("\ud800" <= c <= "\udfff" for c in text):
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "replace")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", "replace")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _shown(name: str) -> str:
    """A charset's or type's name as safe to put in a note."""
    return repr(name) if _TOKEN.fullmatch(name) else "(an unreadable name)"


def _codec(charset: str) -> str | None:
    """The Python codec for a MIME charset name, or None if there is none."""
    name = _SUPERSETS.get(charset, charset)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if info.name.replace("-", "_") in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _decode(payload: bytes, charset: str | None, where: str, notes: list[str]) -> str:
    """Bytes of a text part as text, by their charset, never failing."""
    cs = (charset or "").strip().strip('"').lower()
    if not cs or cs in _ASCII:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            notes.append(f"{where}: 8-bit text without a charset was read as Windows-1252")
            return payload.decode("cp1252", "replace")
    codec = _codec(cs)
    if codec is None:
        notes.append(f"{where}: unknown charset {_shown(cs)}: decoded as UTF-8 with replacement")
        return payload.decode("utf-8", "replace")
    try:
        return payload.decode(codec)
    except UnicodeDecodeError:
        notes.append(f"{where}: bytes not valid in {_shown(cs)} were replaced")
    except Exception:  # noqa: BLE001 - a codec failing in its own way
        notes.append(f"{where}: charset {_shown(cs)} failed: decoded as UTF-8 with replacement")
        return payload.decode("utf-8", "replace")
    try:
        return payload.decode(codec, "replace")
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        return payload.decode("utf-8", "replace")


_BLOCK: Final = frozenset(
    {
        "p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
        "pre", "ul", "ol", "dl", "dt", "dd", "hr", "section", "article", "header", "footer",
        "address", "form", "fieldset",
    }
)  # fmt: skip
_SKIP: Final = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _HtmlText(HTMLParser):
    """Collects the text of an HTML document, with line breaks where blocks end."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n")
            if tag == "pre":
                self.pre += 1
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.parts.append(data if self.pre else re.sub(r"[ \t\r\n\f\v]+", " ", data))


def html_to_text(html: str) -> str:
    """
    The text of an HTML document: no tags, scripts or styles, character references
    resolved, a line break where a block ends, list items as ``- item``.

    >>> html_to_text("<p>Hello&nbsp;<b>there</b></p><ul><li>one<li>two</ul>")
    'Hello there\\n\\n- one\\n- two'

    .. versionadded:: 0.1.0
    """
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # noqa: BLE001 - html.parser gives up on some input
        text = re.sub(r"<[^>]*>", " ", html)
    lines = [line.strip(" ") for line in text.replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------------------
# Headers


def _decode_words(raw: str) -> str:
    """A raw header value with its RFC 2047 encoded words decoded, never failing."""
    try:
        pieces = email.header.decode_header(raw)
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        return raw
    out: list[str] = []
    for text, charset in pieces:
        if isinstance(text, str):
            out.append(text)
        else:
            out.append(_decode(text, charset, "header", []))
    return "".join(out)


def _header(msg: Message, name: str, notes: list[str]) -> str | None:
    """A header's value as text (the first one), never failing."""
    try:
        value = msg.get(name)
        if value is None:
            return None
        if msg.policy is email.policy.compat32:
            return _clean(_decode_words(str(value)))
        return _clean(str(value))
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        notes.append(f"the {name} header could not be parsed: read as written")
    try:
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                return _clean(_decode_words(str(raw)))
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        pass
    return None


def _first_id(value: str) -> str | None:
    found = _ID.search(value)
    if found:
        return found.group(1)
    bare = value.strip()
    return bare if bare and len(bare) <= 900 and not any(c.isspace() for c in bare) else None


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(_ID.findall(value))[-50:] if value else ()


def _sender(msg: Message, notes: list[str]) -> str | None:
    for name in ("From", "Sender"):
        value = _header(msg, name, notes)
        if not value:
            continue
        try:
            found = [a for _, a in email.utils.getaddresses([value]) if "@" in a]
        except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
            found = []
        if not found:
            notes.append(f"the {name} header holds no usable address")
            continue
        if len(found) > 1:
            notes.append(f"the {name} header holds {len(found)} addresses: the first is used")
        try:
            return normalize_email(found[0][:320])
        except ValueError:
            notes.append(f"the {name} header's address is not valid")
    return None


def _automatic(msg: Message, notes: list[str]) -> str | None:
    auto = _header(msg, "Auto-Submitted", notes)
    if auto is not None:
        token = auto.split(";", 1)[0].strip().lower()
        if token != "no":
            return f"Auto-Submitted: {_shown(token) if token else '(empty)'}"
    precedence = (_header(msg, "Precedence", notes) or "").strip().lower()
    if precedence in _PRECEDENCE_AUTO:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if _header(msg, name, notes) is not None:
            return f"an {name} header"
    if (_header(msg, "Return-Path", notes) or "").strip() == "<>":
        return "a null return path (a bounce or an automatic message)"
    if _content_type(msg) == "multipart/report":
        return "a delivery or read report"
    return None


# --------------------------------------------------------------------------------------
# Parts


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        return "application/octet-stream"
    return (
        ctype
        if re.fullmatch(r"[a-z0-9!#$&^_.+-]{1,60}/[a-z0-9!#$&^_.+-]{1,60}", ctype)
        else ("application/octet-stream")
    )


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        disposition = ""
    return disposition == "attachment" or _filename(part) is not None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        return None
    if not name:
        return None
    name = _clean(_decode_words(str(name))).strip()
    return name[:_MAX_FILENAME] or None


class _Unreadable(Exception):
    """The message's structure cannot be read (quotes nothing from it)."""


@attrs.define
class _Walk:
    lenient: bool
    bodies: list[Message] = attrs.Factory(list)
    attachments: list[Message] = attrs.Factory(list)
    count: int = 0

    def walk(self, part: Message, depth: int, mode: str) -> None:
        """``mode``: ``body`` (text parts are the body), or ``skip_text`` (an
        alternative not chosen: its text repeats the body; other parts are attachments)."""
        self.count += 1
        if self.count > MAX_PARTS:
            raise _Unreadable(f"more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise _Unreadable(f"MIME parts nested deeper than {MAX_DEPTH}")
        ctype = _content_type(part)
        main, _, sub = ctype.partition("/")
        if part.is_multipart():
            if main == "message":
                self.attachments.append(part)
                return
            payload = part.get_payload()
            if not isinstance(payload, list):
                raise _Unreadable("a multipart part without its parts")
            children = [c for c in payload if isinstance(c, Message)]
            if sub == "alternative":
                best = _best_alternative(children)
                for child in children:
                    chosen = child is best and mode == "body"
                    self.walk(child, depth + 1, "body" if chosen else "skip_text")
            else:
                for child in children:
                    self.walk(child, depth + 1, mode)
            return
        if main == "multipart":
            if not self.lenient:
                raise _Unreadable("a multipart part without its parts (no boundary found)")
            if mode == "body":
                self.bodies.append(part)
            return
        if main == "text" and sub in ("plain", "html") and not _is_attachment(part):
            if mode == "body":
                self.bodies.append(part)
            return
        self.attachments.append(part)


def _best_alternative(children: list[Message]) -> Message | None:
    """The alternative to read: text/plain, else HTML, else the first multipart one."""
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if _content_type(child) == wanted and not _is_attachment(child):
                return child
    for child in children:
        if child.is_multipart():
            return child
    return children[0] if children else None


def _attachment(part: Message, n: int, notes: list[str]) -> MailAttachment:
    ctype = _content_type(part)
    data: bytes = b""
    try:
        if part.is_multipart():
            data = part.as_bytes()
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        notes.append(f"attachment {n}: its content could not be read")
    if any(isinstance(d, _BASE64_DEFECTS) for d in getattr(part, "defects", ())):
        notes.append(f"attachment {n}: its base64 is damaged (truncated?)")
    return MailAttachment(
        filename=_filename(part),
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _text_of(part: Message, n: int, notes: list[str]) -> tuple[str, bool]:
    """A body part's text and whether it was HTML."""
    where = f"text part {n}"
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    if any(isinstance(d, _BASE64_DEFECTS) for d in getattr(part, "defects", ())):
        notes.append(f"{where}: its base64 is damaged (truncated?): what decodes is kept")
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        charset = None
    text = _clean(_decode(payload, charset, where, notes))
    if _content_type(part) == "text/html":
        return html_to_text(text), True
    return text, False


# --------------------------------------------------------------------------------------
# The whole message


def _structure_problem(msg: Message) -> str | None:
    """What in the message's structure says it is truncated or malformed."""
    if not list(msg.keys()):
        return "no header fields: not an email message"
    lower = {k.lower() for k in msg}
    if not lower & set(_ORIGIN):
        return "none of From, Date, Message-ID or Subject: not an email message"
    for part in _parts(msg):
        for defect in getattr(part, "defects", ()):
            if isinstance(defect, email_errors.CloseBoundaryNotFoundDefect):
                return "truncated: a multipart part's closing boundary is missing"
            if isinstance(
                defect,
                email_errors.StartBoundaryNotFoundDefect
                | email_errors.MultipartInvariantViolationDefect,
            ):
                return "malformed: a multipart part's boundary is not found"
            if part is msg and isinstance(defect, email_errors.MissingHeaderBodySeparatorDefect):
                return "malformed header section: a line in it is not a header field"
    return None


def _parts(msg: Message) -> list[Message]:
    """Every part (depth first, at most MAX_PARTS)."""
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) <= MAX_PARTS:
        part = stack.pop()
        out.append(part)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return out


def _parse(data: bytes) -> Message:
    """The message by ``policy.default``, else by the lenient ``compat32``."""
    try:
        return BytesParser(policy=email.policy.default).parsebytes(data)
    except Exception:  # noqa: BLE001 - malformed mail must never crash the poller
        return BytesParser(policy=email.policy.compat32).parsebytes(data)


def parse_message(
    data: bytes, *, max_body_chars: int = 200_000, lenient: bool = False
) -> ParsedMail:
    """
    Read the raw bytes of a message. Never raises: what cannot be read is said in
    :attr:`ParsedMail.problem` (empty, not an email message, truncated, malformed,
    a text too long ...), without quoting the message.

    ``lenient`` takes what can be read of a message with a problem (a person asked
    for it): the problem becomes a note, a text too long is cut.

    .. versionadded:: 0.1.0
    """
    try:
        return _parse_message(data, max_body_chars=max_body_chars, lenient=lenient)
    except RecursionError:
        return ParsedMail(problem="MIME parts nested too deep", digest=message_digest(data))
    except Exception as exc:  # noqa: BLE001 - the email package failing in a way of its own
        return ParsedMail(
            problem=f"cannot be parsed ({type(exc).__name__})", digest=message_digest(data)
        )


def _parse_message(data: bytes, *, max_body_chars: int, lenient: bool) -> ParsedMail:
    notes: list[str] = []
    digest = message_digest(data)
    if not data.strip():
        return ParsedMail(problem="empty: no content at all", digest=digest)
    msg = _parse(data)
    problem = _structure_problem(msg)
    if problem is not None and lenient:
        notes.append(f"taken as it could be read: {problem}")
        problem = None
    walker = _Walk(lenient=lenient or problem is not None)
    try:
        walker.walk(msg, 0, "body")
    except _Unreadable as exc:
        if problem is None:
            problem = str(exc)
    texts: list[str] = []
    html_only = bool(walker.bodies)
    for n, part in enumerate(walker.bodies, 1):
        text, was_html = _text_of(part, n, notes)
        html_only = html_only and was_html
        if text.strip():
            texts.append(text.strip("\n"))
    body = "\n\n".join(texts)
    if len(body) > max_body_chars:
        if lenient:
            notes.append(f"the text was cut to {max_body_chars:,} characters")
            body = body[:max_body_chars]
        elif problem is None:
            problem = f"the text is longer than {max_body_chars:,} characters"
    attachments = tuple(_attachment(p, n, notes) for n, p in enumerate(walker.attachments, 1))
    subject = " ".join((_header(msg, "Subject", notes) or "").split())[:_MAX_SUBJECT]
    message_id = _header(msg, "Message-ID", notes)
    return ParsedMail(
        message_id=_first_id(message_id) if message_id else None,
        in_reply_to=_ids(_header(msg, "In-Reply-To", notes)),
        references=_ids(_header(msg, "References", notes)),
        subject=subject or None,
        sender=_sender(msg, notes),
        automatic=_automatic(msg, notes),
        body=body,
        from_html=html_only,
        attachments=attachments,
        notes=tuple(dict.fromkeys(notes)),
        problem=problem,
        digest=digest,
    )
