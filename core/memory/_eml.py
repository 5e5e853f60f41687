"""E-mail messages (``.eml``): the subject as title, the sender and date as the first line, the body as text.

A saved message was refused by name ("unsupported file type '.eml'") and counted as unsupported in a folder.
The body is the message's text/plain part, else its text/html part read as an HTML page is; a forwarded message
(an attached ``message/rfc822`` part) follows as a quoted block; other attachments are left out (their names are
listed at the end, so a search for one finds its message). Parsed with the standard library's e-mail parser,
which decodes MIME words, transfer encodings and charsets; 8-bit text that declares no charset is UTF-8 when it
is valid, else Windows-1252, as most mailers mean it.

A message piped to ``ingest -`` is read so too (`looks_like_email`): its headers, MIME boundaries and base64 were
stored as text, untitled.
"""
from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from core.memory._html import html_parts
from core.text import newlines

_HEAD = ("From", "To", "Date")
_ESCAPED = re.compile("[\udc80-\udcff]")  # a raw 8-bit byte of a header, as the parser keeps it
_DEPTH = 3  # forwarded messages read inside one another; a deeper one is left out
# header names a message has; piped text is a message when its first lines are headers, 3 of them these
_KNOWN = frozenset({b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"received"})
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")  # a header line's name (printable ASCII but ":") and its colon


def looks_like_email(data: bytes | str) -> bool:
    """Is piped input an e-mail message (RFC 822)? Every line before the first blank one is a header (or
    continues one), and 3 or more of them have names a message has (From, To, Subject, Date, Message-ID,
    MIME-Version, Received). A text opening with "Note: ..." is none, nor are "Title:/Author:/Date:" lines."""
    head = data[:65536] if isinstance(data, bytes) else data[:65536].encode("utf-8", "replace")
    names = set()
    for i, line in enumerate(re.split(rb"\r\n|\r|\n", head.removeprefix(b"\xef\xbb\xbf"))):
        if not line.strip():
            return len(names & _KNOWN) >= 3
        if line[:1] in (b" ", b"\t") and i:  # a folded header's next line
            continue
        if i == 0 and line.startswith(b"From "):  # a mailbox's separator line
            continue
        if (m := _FIELD.match(line)) is None:
            return False
        names.add(m.group(1).lower())
    return False  # 64 KB of headers and no body: not a message


def read_eml(data: bytes) -> tuple[str, str]:
    """(title, text) of one message; ValueError when it holds no header a message has."""
    return message_parts(BytesParser(policy=policy.default).parsebytes(data))


def message_parts(msg) -> tuple[str, str]:
    """(title, text) of a parsed message (`read_eml`; a mailbox's messages keep theirs for the Message-ID)."""
    subject, head, rest = _pieces(msg, 0)
    return subject, "\n\n".join(p for p in [head, *rest] if p)


def _pieces(msg, depth: int) -> tuple[str, str, list[str]]:
    """(subject, sender line, [body, forwarded messages, attachments line]) of a message ``depth`` forwards in."""
    if not any(msg.get(h) for h in ("From", "Subject", "Date", "Message-ID")):
        raise ValueError("no From, Subject, Date or Message-ID header: not an e-mail message")
    head = "; ".join(f"{h}: {_header(msg, h)}" for h in _HEAD if msg.get(h))
    # a message that is only a wrapper of another (message/rfc822 at its top) has no parts to iterate
    attached = [msg] if msg.get_content_type() == "message/rfc822" else list(msg.iter_attachments())
    # a forwarded message was dropped: neither its words nor its name were stored
    forwarded = [_forwarded(p.get_content(), depth) for p in attached
                 if p.get_content_type() == "message/rfc822" and depth < _DEPTH]
    files = [p.get_filename() for p in attached if p.get_filename()]
    rest = [_body(msg).strip(), *forwarded] + ([f"Attachments: {', '.join(files)}"] if files else [])
    return _header(msg, "Subject"), head, rest


def _body(msg) -> str:
    """The text of the message's plain body, else of its HTML one as a page's; "" when it has neither."""
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = _content(body)
    except (LookupError, UnicodeError, ValueError) as exc:  # an unknown charset, a broken encoding
        raise ValueError(f"its body cannot be decoded ({exc})") from None
    return html_parts(content)[1] if body.get_content_subtype() == "html" else newlines(content)


def _content(part) -> str:
    """A text part's content; 8-bit bytes under no charset (or "us-ascii") are read as `_guessed` reads them:
    the standard library put U+FFFD in place of each ('caf\\ufffd')."""
    charset = part.get_param("charset")
    if charset is None or str(charset).lower() in ("us-ascii", "ascii"):
        data = part.get_payload(decode=True) or b""
        if not data.isascii():
            return _guessed(data)
    return part.get_content()


def _header(msg, name: str) -> str:
    """A header's value on one line; its raw 8-bit bytes (no MIME words) read as `_guessed` reads them."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
    if isinstance(raw, str) and _ESCAPED.search(raw):  # it was 'Jos\ufffd <jose@example.org>'
        value = msg.policy.header_fetch_parse(name, _guessed(raw.encode("ascii", "surrogateescape")))
    else:
        value = msg.get(name, "")
    return " ".join(str(value).split())


def _guessed(data: bytes) -> str:
    """Text that does not say its encoding: UTF-8 when it is valid, else Windows-1252 (Latin-1 for the five
    bytes it leaves undefined), as most mailers mean it."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _forwarded(inner, depth: int) -> str:
    """A forwarded message (an attached ``message/rfc822`` part) as a quoted block: its subject and sender
    line, then its body, each line after ``> `` (paragraphs stay apart)."""
    try:
        subject, head, rest = _pieces(inner, depth + 1)
    except ValueError:  # no header: its body alone
        subject, head, rest = "", "", [_body(inner).strip()]
    top = "\n".join(p for p in (f"Forwarded message: {subject}" if subject else "Forwarded message", head) if p)
    block = "\n\n".join(p for p in [top, *rest] if p)
    return "\n".join(f"> {line}" if line.strip() else "" for line in block.split("\n"))
