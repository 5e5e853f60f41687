"""Decoding a text file's bytes and extracting a PDF's text (the readers' file formats)."""
from __future__ import annotations

import logging
from pathlib import Path

from core.text import newlines

_SNIFF = 8192  # bytes looked at for NULs (a binary file)


def decode_text(data: bytes, source: str) -> str:
    """A text file's bytes as str: UTF-8 (a BOM dropped) or UTF-16 with its BOM, line ends as ``\\n`` whatever
    they were (`core.text.newlines`); ValueError naming the problem."""
    return newlines(_decoded(data))


def bom_encoding(data: bytes) -> str | None:
    """"utf-32" or "utf-16" when ``data`` opens with that encoding's byte order mark, else None. UTF-32's little-
    endian mark starts with UTF-16's: a UTF-32 file was read as UTF-16, a NUL between each two letters."""
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    return "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else None


def _decoded(data: bytes) -> str:
    """`decode_text`'s str, line ends as they are."""
    if (wide := bom_encoding(data)) is not None:  # UTF-16 with its byte order mark (Windows PowerShell's `>`)
        try:
            return data.decode(wide)
        except UnicodeDecodeError as exc:
            raise ValueError(f"not valid {wide.upper()} ({exc.reason})") from None
    if b"\x00" in data[:_SNIFF]:
        head = data[:_SNIFF - _SNIFF % 2]
        for order, nuls, text in (("LE", head[1::2], head[0::2]), ("BE", head[0::2], head[1::2])):
            if len(head) >= 4 and nuls.count(0) >= 0.9 * len(nuls) and text.count(0) <= 0.1 * len(text):
                raise ValueError(f"UTF-16 text without a byte order mark, it seems; re-encode it as UTF-8 "
                                 f"(iconv -f UTF-16{order} -t UTF-8 in.txt > out.txt)")
        raise ValueError("binary file (NUL bytes); expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[:exc.start].replace(b"\r\n", b"\n")
        line = before.count(b"\n") + before.count(b"\r") + 1  # an old Mac's lines end in "\r"
        word = legacy_word(data, exc.start)
        if word is None:
            raise ValueError(f"not valid UTF-8 (byte {exc.start}, line {line}); re-encode the file as UTF-8") from None
        raise ValueError(f"not valid UTF-8 (byte {exc.start}, line {line}: {word!r} if it is Windows-1252 or Latin-1); "
                         f"re-encode the file as UTF-8: iconv -f CP1252 -t UTF-8 in.txt > out.txt") from None


def legacy_word(data: bytes, at: int) -> str | None:
    """The word around byte ``at`` as Windows-1252 reads it (Latin-1 text reads alike: 'café'), None when those
    bytes are no such text: an error naming only a byte left the user to guess the file's encoding."""
    start = max(data.rfind(b" ", 0, at), data.rfind(b"\n", 0, at), data.rfind(b"\r", 0, at)) + 1
    ends = [i for i in (data.find(b" ", at), data.find(b"\n", at), data.find(b"\r", at)) if i != -1]
    try:
        word = data[max(start, at - 40):min(ends + [len(data), at + 40])].decode("cp1252").strip(" \t\r\"'`{}[](),;:.")
    except UnicodeDecodeError:
        return None
    return word if word.isprintable() else None


def read_pdf(path: Path) -> tuple[str, str]:
    """(title, text) of a PDF: its pages read as `core.memory._pdf.pdf_text` makes them (running headers, footers
    and page numbers out, hyphenated words whole) in the paragraphs they are set in (`core.memory._pdf_layout`),
    the title its information dictionary's /Title when that names the document ("" else); ValueError for a
    damaged or password-protected one."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    from core.memory._pdf import pdf_text
    from core.memory._pdf_layout import page_lines, paragraph_pages

    # pypdf logs what it repairs ("EOF marker not found"); without a handler of its own, Python's
    # last-resort handler printed that beside our one-line error. A configured root logger still gets it.
    pdf_log = logging.getLogger("pypdf")
    if not pdf_log.handlers:
        pdf_log.addHandler(logging.NullHandler())

    try:
        reader = PdfReader(str(path))
        pages = paragraph_pages([page_lines(page) for page in reader.pages])
    except FileNotDecryptedError:  # was "unreadable PDF (File has not been decrypted)"
        raise ValueError("PDF is password-protected; save a copy without the password (e.g. `qpdf --decrypt "
                         "--password=PW in.pdf out.pdf`) and ingest that") from None
    except (PdfReadError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"unreadable PDF ({exc})") from None
    return _info_title(reader), pdf_text(pages)


def _info_title(reader) -> str:
    """The document's /Title (see `core.memory._pdf.pdf_title`); "" when the information dictionary is damaged:
    the pages were read, a bad /Info loses nothing else."""
    from pypdf.errors import PdfReadError

    from core.memory._pdf import pdf_title

    try:  # "/Info (x)": PdfReadError "Trailer not found or does not point to a document information dictionary"
        meta = reader.metadata
        return pdf_title(meta.title if meta is not None else None)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError):
        return ""
