"""Mailboxes (``.mbox``, Thunderbird's and Google Takeout's export) given by name: one record a message, its id the
message's ``Message-ID`` (else ``FILE#N``), read as an ``.eml`` file is (`core.memory._eml`).

A mailbox is a stream of documents, like a JSONL file: its messages keep their own ids, so ingesting the file
again after new mail arrived adds the new messages and leaves the others unchanged. Read by name only, as a
``.json`` file is. The file is read a line at a time and never opened for writing (the standard library's
``mailbox`` opens it read-write); a message over the one-file limit is one error, and the mailbox has no limit.
"""
from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Iterator

from core.memory._eml import message_parts
from core.memory.records import ReadError, Record


def read_mbox(path: Path, source: str, errors: list, max_bytes: int) -> Iterator[Record]:
    """The messages of a mailbox as records; a message that cannot be read is an error naming its number."""
    first: dict[str, int] = {}
    n = 0
    for n, data in enumerate(_messages(path, max_bytes), 1):
        if data is None:
            errors.append(ReadError(source, f"message {n} is over the {max_bytes:,}-byte limit of one message; "
                                            f"skipped"))
            continue
        msg = BytesParser(policy=policy.default).parsebytes(data)  # parsed once: its text and its Message-ID
        try:
            title, text = message_parts(msg)
        except ValueError as exc:
            errors.append(ReadError(source, f"message {n}: {exc}"))
            continue
        msg_id = " ".join(str(msg.get("Message-ID", "")).split()).strip("<>")
        msg_id = msg_id or f"{path.name}#{n}"
        if msg_id in first:  # a message saved twice
            errors.append(ReadError(source, f"message {n}: duplicate id {msg_id!r} (first as message {first[msg_id]}); "
                                            f"skipped"))
            continue
        first[msg_id] = n
        yield Record(msg_id, text, title, {"mailbox": path.name, "message": n}, source, merge=True)
    if n == 0:
        raise ValueError("no message: a mailbox's messages each begin with a line 'From ...'")


def _messages(path: Path, max_bytes: int) -> Iterator[bytes | None]:
    """Each message's bytes (its 'From ' line left out, '>From ' lines unquoted), None for one over ``max_bytes``."""
    lines: list[bytes] = []
    size, started, too_big = 0, False, False
    with open(path, "rb") as fh:
        while line := fh.readline(1 << 20):
            if line.startswith(b"From ") and (not lines or lines[-1] in (b"\n", b"\r\n")):
                if started:
                    yield None if too_big else b"".join(lines)
                lines, size, started, too_big = [], 0, True, False
                continue
            if not started or too_big:
                continue
            size += len(line)
            if size > max_bytes:
                lines, too_big = [], True
                continue
            lines.append(line[1:] if line.startswith(b">From ") else line)
    if started:
        yield None if too_big else b"".join(lines)
