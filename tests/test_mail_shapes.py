"""
Inbound email as it arrives in the real world, read by the parser: multipart, HTML
only, quoted-printable, base64, legacy and unknown charsets, no body, no headers,
truncated. The builders here make the test mailboxes of the other mail tests.

Hypothesis: any bytes at all are read without raising (taken or quarantined).
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.comms._mailparse import (
    html_to_text,
    is_outbound_id,
    message_digest,
    message_id_of,
    outbound_case_id,
    parse_message,
)

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# Builders


def outbound_id(case_id: uuid.UUID, domain: str = "springfield.example.gov") -> str:
    """The Message-ID our outbound email about ``case_id`` carries."""
    return f"<c.{case_id.hex}.{os.urandom(8).hex()}@{domain}>"


def headers(
    sender: str = "Chris Doe <chris.doe@example.net>",
    subject: str | None = "Pothole on Elm Street",
    *,
    to: str = "zoning@springfield.example.gov",
    message_id: str | None = None,
    extra: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if subject is not None:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    for name, value in (extra or {}).items():
        msg[name] = value
    return msg


def plain(text: str = "There is a deep pothole outside number 12.", **kw: object) -> bytes:
    msg = headers(**kw)  # type: ignore[arg-type]
    msg.set_content(text)
    return msg.as_bytes()


def alternative(text: str, html: str, **kw: object) -> bytes:
    msg = headers(**kw)  # type: ignore[arg-type]
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def html_only(html: str, **kw: object) -> bytes:
    msg = headers(**kw)  # type: ignore[arg-type]
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def encoded(text: str, charset: str, cte: str, **kw: object) -> bytes:
    """A text/plain message in ``charset`` with the transfer encoding ``cte``."""
    msg = headers(**kw)  # type: ignore[arg-type]
    msg.set_content(text.encode(charset), maintype="text", subtype="plain", cte=cte)
    msg.replace_header("Content-Type", f'text/plain; charset="{charset}"')
    return msg.as_bytes()


def raw_charset(body: bytes, charset: str, subject: str = "Question") -> bytes:
    """A message written by hand, with 8-bit text in ``charset`` (which may not exist)."""
    return (
        b"From: Chris <chris.doe@example.net>\r\n"
        b"To: zoning@springfield.example.gov\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Message-ID: <" + os.urandom(6).hex().encode() + b"@example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
    )


def no_body(**kw: object) -> bytes:
    """Headers only: nothing after them, not even the blank line."""
    msg = headers(**kw)  # type: ignore[arg-type]
    return msg.as_bytes().rstrip(b"\r\n") + b"\n"


def with_attachment(
    text: str, data: bytes, filename: str = "photo.jpg", ctype: str = "image/jpeg", **kw: object
) -> bytes:
    msg = headers(**kw)  # type: ignore[arg-type]
    msg.set_content(text)
    main, sub = ctype.split("/")
    msg.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return msg.as_bytes()


def truncated() -> bytes:
    """A multipart message cut off in the middle of its attachment."""
    whole = with_attachment("See the photo.", os.urandom(20_000))
    return whole[: len(whole) * 2 // 3]


def no_headers() -> bytes:
    return b"hello, the streetlight on Oak Avenue is out again\nthanks\n"


# --------------------------------------------------------------------------------------
# The shapes, read


def test_plain_text() -> None:
    p = parse_message(plain(subject="Pothole", message_id="<a1@example.org>"))
    assert p.problem is None
    assert p.body == "There is a deep pothole outside number 12."
    assert p.subject == "Pothole"
    assert p.message_id == "a1@example.org"
    assert p.sender == "chris.doe@example.net"
    assert p.attachments == ()
    assert p.notes == ()
    assert p.automatic is None


def test_multipart_alternative_prefers_plain_text() -> None:
    p = parse_message(alternative("plain words", "<p>html <b>words</b></p>"))
    assert p.body == "plain words"
    assert not p.from_html
    assert p.attachments == ()


def test_html_only_becomes_text() -> None:
    html = (
        "<html><head><title>x</title><style>p {color: red}</style></head><body>"
        "<p>The light at <b>Oak&nbsp;&amp;&nbsp;3rd</b> is out.</p><script>evil()</script>"
        "<ul><li>since Monday</li><li>flickers at night</li></ul>Thanks,<br>Ana</body></html>"
    )
    p = parse_message(html_only(html))
    assert p.from_html
    assert p.body == (
        "The light at Oak & 3rd is out.\n\n- since Monday\n- flickers at night\nThanks,\nAna"
    )


def test_quoted_printable_and_base64_with_legacy_charsets() -> None:
    text = "Le nid-de-poule près de l'école est énorme — encore!"
    qp = parse_message(encoded("Café près de l'école", "iso-8859-1", "quoted-printable"))
    assert qp.body == "Café près de l'école"
    assert qp.notes == ()
    b64 = parse_message(encoded(text, "utf-8", "base64"))
    assert b64.body == text
    smart = "“Quoted” \u2013 costs €20"
    assert parse_message(encoded(smart, "windows-1252", "quoted-printable")).body == smart
    japanese = "道路に大きな穴があります。"
    sjis = parse_message(encoded(japanese, "shift_jis", "base64"))
    assert sjis.body == japanese
    assert sjis.notes == ()


def test_iso_8859_1_read_as_windows_1252_as_mail_clients_write_it() -> None:
    p = parse_message(raw_charset("“smart” quotes".encode("cp1252"), "iso-8859-1"))
    assert p.body == "“smart” quotes"


def test_unknown_charset_is_decoded_with_replacement_and_noted() -> None:
    p = parse_message(raw_charset("naïve café".encode(), "x-klingon"))
    assert p.problem is None
    assert p.body == "naïve café"  # UTF-8 bytes decode as UTF-8
    assert p.notes == (
        "text part 1: unknown charset 'x-klingon': decoded as UTF-8 with replacement",
    )
    latin = parse_message(raw_charset("café".encode("latin-1"), "x-klingon"))
    assert latin.body == "caf\ufffd"


def test_bytes_invalid_in_their_charset_are_replaced_and_noted() -> None:
    p = parse_message(raw_charset(b"ok \xff\xfe bad", "utf-8"))
    assert p.body == "ok \ufffd\ufffd bad"
    assert p.notes == ("text part 1: bytes not valid in 'utf-8' were replaced",)


def test_python_codecs_that_are_not_charsets_are_unknown() -> None:
    p = parse_message(raw_charset(b"\\u0041", "unicode_escape"))
    assert p.body == "\\u0041"
    assert "unknown charset" in p.notes[0]


def test_no_body() -> None:
    p = parse_message(no_body(subject="Re: SR-2026-000101"))
    assert p.problem is None
    assert p.body == ""
    assert p.subject == "Re: SR-2026-000101"


def test_attachments_keep_metadata_not_bytes() -> None:
    data = os.urandom(5000)
    p = parse_message(with_attachment("See attached.", data, filename="pothole on Elm.jpg"))
    assert p.body == "See attached."
    (a,) = p.attachments
    assert a.filename == "pothole on Elm.jpg"
    assert a.content_type == "image/jpeg"
    assert a.size == 5000
    assert a.sha256 == hashlib.sha256(data).hexdigest()


def test_inline_image_of_an_html_alternative_is_an_attachment() -> None:
    msg = headers()
    msg.set_content("text version")
    msg.add_alternative("<p>html <img src='cid:x'></p>", subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    html_part.add_related(b"GIF89a...", maintype="image", subtype="gif", cid="<x>")
    p = parse_message(msg.as_bytes())
    assert p.body == "text version"
    assert [a.content_type for a in p.attachments] == ["image/gif"]


def test_forwarded_message_is_an_attachment() -> None:
    inner = headers(subject="inner")
    inner.set_content("inner text")
    outer = headers(subject="Fwd: inner")
    outer.set_content("see below")
    outer.add_attachment(inner)
    p = parse_message(outer.as_bytes())
    assert p.body == "see below"
    assert [a.content_type for a in p.attachments] == ["message/rfc822"]
    assert p.attachments[0].size > 0


def test_what_cannot_be_read_has_a_problem_quoting_nothing() -> None:
    assert parse_message(b"").problem == "empty: no content at all"
    assert parse_message(no_headers()).problem == "no header fields: not an email message"
    cut = parse_message(truncated())
    assert cut.problem == "truncated: a multipart part's closing boundary is missing"
    broken = b"From: a@example.org\nContent-Type: multipart/mixed; boundary=XX\n\nno parts\n"
    assert parse_message(broken).problem == "malformed: a multipart part's boundary is not found"
    header_junk = b"From: a@example.org\nnot a header line\nSubject: x\n\nbody\n"
    assert parse_message(header_junk).problem == (
        "malformed header section: a line in it is not a header field"
    )
    for p in (parse_message(no_headers()), cut):
        assert "streetlight" not in p.problem
        assert "photo" not in p.problem


def test_lenient_reading_takes_what_can_be_read() -> None:
    p = parse_message(no_headers(), lenient=True)
    assert p.problem is None
    assert p.body.startswith("hello, the streetlight")
    assert p.notes == ("taken as it could be read: no header fields: not an email message",)
    cut = parse_message(truncated(), lenient=True)
    assert cut.problem is None
    assert cut.body == "See the photo."


def test_a_text_too_long() -> None:
    p = parse_message(plain("x" * 50), max_body_chars=10)
    assert p.problem == "the text is longer than 10 characters"
    assert parse_message(plain("x" * 50), max_body_chars=10, lenient=True).body == "x" * 10


def test_threading_headers() -> None:
    case_id = uuid.uuid4()
    ours = outbound_id(case_id)
    p = parse_message(plain(extra={"In-Reply-To": ours, "References": f"<a@b> {ours}"}))
    assert p.in_reply_to == (ours.strip("<>"),)
    assert p.references == ("a@b", ours.strip("<>"))
    assert outbound_case_id(ours) == case_id.hex
    assert outbound_case_id("<a1@example.org>") is None
    assert outbound_case_id("c.nothex.abcd@x") is None
    assert is_outbound_id(ours)
    assert is_outbound_id("<m.0123456789abcdef@springfield.example.gov>")
    assert not is_outbound_id("<m1@example.org>")


def test_automatic_messages() -> None:
    assert parse_message(plain(extra={"Auto-Submitted": "auto-replied"})).automatic == (
        "Auto-Submitted: 'auto-replied'"
    )
    assert parse_message(plain(extra={"Auto-Submitted": "no"})).automatic is None
    assert parse_message(plain(extra={"Precedence": "bulk"})).automatic == "Precedence: bulk"
    assert parse_message(plain(extra={"Return-Path": "<>"})).automatic is not None


def test_senders() -> None:
    assert parse_message(plain(sender="ANA@Example.ORG")).sender == "ANA@example.org"
    assert parse_message(plain(sender="not an address")).sender is None
    two = parse_message(plain(sender="a@example.org, b@example.org"))
    assert two.sender == "a@example.org"
    assert "the From header holds 2 addresses: the first is used" in two.notes
    eight_bit = b"From: Jos\xe9 <jose@example.org>\nSubject: caf\xc3\xa9\n\nhi\n"
    p = parse_message(eight_bit)
    assert p.sender == "jose@example.org"
    assert p.subject == "café"


def test_encoded_subjects_in_any_charset() -> None:
    p = parse_message(plain(subject="Réparation urgente 道路"))
    assert p.subject == "Réparation urgente 道路"
    bogus = b"From: a@example.org\nSubject: =?x-nope?q?caf=E9?=\n\nhi\n"
    assert parse_message(bogus).subject == "caf\ufffd"


def test_digest_and_message_id_of_headers() -> None:
    data = plain(message_id="<id-1@example.org>")
    head = data[: data.index(b"\n\n") + 2] if b"\n\n" in data else data
    assert message_id_of(head) == "id-1@example.org"
    assert message_digest(b"A: 1\n\nbody") == hashlib.sha256(b"\n\nbody").hexdigest()
    # A redelivery (another Received line) has the same digest.
    assert message_digest(b"Received: x\nA: 1\n\nbody") == message_digest(b"A: 1\n\nbody")


def test_html_to_text_survives_what_html_parser_gives_up_on() -> None:
    assert html_to_text("<![if !supportLists]>one<![endif]> <p>two</p>").endswith("two")


# --------------------------------------------------------------------------------------
# Hypothesis: arbitrary bytes never crash the parser


@settings(max_examples=400)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    p = parse_message(data)
    assert isinstance(p.body, str)
    assert p.problem is None or isinstance(p.problem, str)
    assert "\x00" not in p.body
    p.body.encode("utf-8")  # no lone surrogates: storable


_HEADER_NAMES = st.sampled_from(
    [
        "From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
        "Auto-Submitted", "X-Junk",
    ]
)  # fmt: skip
_CHARSETS = st.sampled_from(
    ["utf-8", "iso-8859-1", "windows-1252", "shift_jis", "x-klingon", "utf-7", "", "gb2312"]
)
_CTYPES = st.sampled_from(
    [
        "text/plain", "text/html", "multipart/mixed", "multipart/alternative",
        "application/pdf", "message/rfc822", "multipart/report", "text/plain; format=flowed",
    ]
)  # fmt: skip


@st.composite
def near_emails(draw: st.DrawFn) -> bytes:
    """Messages that look like email, with arbitrary parts broken."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(_HEADER_NAMES)
        value = draw(st.one_of(st.text(max_size=60), st.binary(max_size=40).map(repr)))
        lines.append(f"{name}: {value}".encode("utf-8", "surrogatepass"))
    boundary = "B" + draw(st.text("abc123", min_size=1, max_size=5))
    ctype = draw(_CTYPES)
    charset = draw(_CHARSETS)
    lines.append(f'Content-Type: {ctype}; charset="{charset}"; boundary="{boundary}"'.encode())
    cte = draw(st.sampled_from(["base64", "quoted-printable", "8bit", "7bit", "x-uuencode"]))
    lines.append(f"Content-Transfer-Encoding: {cte}".encode())
    body = draw(st.binary(max_size=300))
    parts = [body]
    for _ in range(draw(st.integers(0, 3))):
        sub = draw(_CTYPES)
        chunk = draw(st.binary(max_size=200))
        encoded_chunk = base64.b64encode(chunk) if draw(st.booleans()) else chunk
        parts.append(
            f"--{boundary}\r\nContent-Type: {sub}; charset={draw(_CHARSETS)}\r\n\r\n".encode()
            + encoded_chunk
        )
    if draw(st.booleans()):
        parts.append(f"--{boundary}--".encode())
    sep = draw(st.sampled_from([b"\r\n", b"\n"]))
    return sep.join(lines) + sep + sep + sep.join(parts)


@settings(max_examples=400)
@given(near_emails())
def test_near_emails_never_crash(data: bytes) -> None:
    p = parse_message(data)
    assert isinstance(p.body, str)
    assert "\x00" not in p.body
    p.body.encode("utf-8")
    for a in p.attachments:
        assert a.size >= 0
        assert len(a.sha256) == 64
    if p.subject is not None:
        p.subject.encode("utf-8")
