"""E-mail messages (``.eml``): the subject as title, the sender and date as the first line, the body as text.

A saved message was refused by name ("unsupported file type '.eml'") and counted as unsupported in a folder.
The body is the message's text/plain part, else its text/html part read as an HTML page is; attachments are
left out (their names are listed at the end, so a search for one finds its message). Parsed with the standard
library's e-mail parser, which decodes MIME words, transfer encodings and charsets.
"""
from __future__ import annotations

from email import policy
from email.parser import BytesParser

from core.memory._html import html_parts


def read_eml(data: bytes) -> tuple[str, str]:
    """(title, text) of one message; ValueError when it holds no header a message has."""
    return message_parts(BytesParser(policy=policy.default).parsebytes(data))


def message_parts(msg) -> tuple[str, str]:
    """(title, text) of a parsed message (`read_eml`; a mailbox's messages keep theirs for the Message-ID)."""
    if not any(msg.get(h) for h in ("From", "Subject", "Date", "Message-ID")):
        raise ValueError("no From, Subject, Date or Message-ID header: not an e-mail message")
    subject = " ".join(str(msg.get("Subject", "")).split())
    head = "; ".join(f"{h}: {' '.join(str(msg[h]).split())}" for h in ("From", "To", "Date") if msg.get(h))
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, UnicodeError, ValueError) as exc:  # an unknown charset, a broken encoding
            raise ValueError(f"its body cannot be decoded ({exc})") from None
        text = html_parts(content)[1] if body.get_content_subtype() == "html" else content
    files = [p.get_filename() for p in msg.iter_attachments() if p.get_filename()]
    parts = [head, text.strip()] + ([f"Attachments: {', '.join(files)}"] if files else [])
    return subject, "\n\n".join(p for p in parts if p)
