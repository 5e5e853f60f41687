"""Which files of a folder hold text to read, and how to get their text.

Real folders are not our benchmark: /usr/share/doc holds 1,890 ``.gz`` files, 1,075 files without a suffix
(``copyright``, ``README``), 242 ``.html`` and 62 ``.rst`` of its 4,530 files, and ingest read only ``.txt``
and ``.md`` (7 of 230 files of 65 package folders). A gzip file is read through a bounded decompression (a
gzip bomb is refused, never inflated), a file without a suffix or named like a document (``README.Debian``,
``NEWS``) only when its start is UTF-8 text, HTML as its text without tags (core.memory._html).
"""
from __future__ import annotations

import gzip
import os
import re
import stat
import zlib
from pathlib import Path

# read whatever their start
PLAIN = (".txt", ".md", ".pdf", ".docx", ".pptx", ".odt", ".odp", ".epub", ".eml", ".jsonl")
TEXT = (".rst", ".text", ".markdown", ".html", ".htm")  # read too; also inside .gz (with .txt and .md)
SUFFIXES = PLAIN + TEXT
READS = (".txt, .md, .rst, .html, .pdf, .docx, .pptx, .odt, .odp, .epub, .eml, .jsonl or text without a suffix "
         "(README), gzipped too")  # in messages
READS_NAMED = (".txt, .md, .rst, .html, .pdf, .docx, .pptx, .odt, .odp, .epub, .eml, .mbox, .jsonl, .json, .csv, "
               ".xlsx or other UTF-8 text, gzipped too")  # a file named or uploaded
NO_GZ = (".pdf", ".docx", ".pptx", ".odt", ".odp", ".epub", ".xlsx")  # read from a file (seeking in it): not in a .gz
_SNIFF = 8192
# names of documents whatever follows a dot (README.Debian, NEWS.Debian.gz, LICENSE.APACHE2, changelog.Debian.gz)
_DOC_NAME = re.compile(r"(readme|news|changes|changelog|copying|copyright|licen[cs]e|authors|todo|install|thanks|"
                       r"bugs|history|notice|contributing|contributors|credits|faq|upgrading|metadata)"
                       r"([._-][^/]*)?", re.I)


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


JSONL = (".jsonl", ".jsonl.gz")  # read the same way, the gzipped one streamed (core.memory._jsonl)


def is_jsonl(name) -> bool:
    """Is this file (a path, or a record's source) a JSONL file, plain or gzipped? The one test of it: the
    reader, ``--sync``, moved folders, parallel ingest, the store and the server all ask it."""
    return os.fspath(name).lower().endswith(JSONL)


JSON = (".json", ".json.gz")  # read given by name only (core.memory._json): a folder's are configuration


def is_json(name) -> bool:
    return os.fspath(name).lower().endswith(JSON)


def is_mbox(name) -> bool:
    """A mailbox (read by name only, core.memory._mbox)."""
    return os.fspath(name).lower().endswith(".mbox")


def is_csv(name) -> bool:
    """A table of records, gzipped too (read by name only, core.memory._csv)."""
    return os.fspath(name).lower().endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz"))


def is_xlsx(name) -> bool:
    """An Excel workbook: tables of records (read by name only, core.memory._xlsx)."""
    return os.fspath(name).lower().endswith(".xlsx")


def has_own_ids(name) -> bool:
    """Does this file (a path, or a record's source) hold records with ids of their own (JSONL, JSON, a mailbox,
    CSV, a workbook), rather than being one document named by its path?"""
    return is_jsonl(name) or is_json(name) or is_mbox(name) or is_csv(name) or is_xlsx(name)


def inner_name(path: Path) -> str:
    """The name of the file a ``.gz`` holds (``NEWS.Debian.gz`` -> ``NEWS.Debian``), else the name."""
    return path.name[:-3] if is_gzip(path) else path.name


def inner_suffix(path: Path) -> str:
    return Path(inner_name(path)).suffix.lower()


# LGPL-2.1, Apache-2.0: a version, not a suffix; not ls.1 or c89.1 (man pages), nor eed8c118.0 (a certificate link)
_VERSIONED = re.compile(r"[A-Za-z][\w.+]*[-_]v?\d+(\.\d+)+")


# a wheel's install records (PEP 376/427): 105 RECORD files of one venv's site-packages were 4.3 MB of
# "path,sha256=...,size" lines, about 10,000 chunks of hashes
_MACHINE = {"RECORD", "WHEEL", "INSTALLER", "REQUESTED", "zip-safe"}


def _sniffed(path: Path) -> bool:
    """A name that says nothing of the format (no suffix, ``README.Debian``, ``LGPL-2.1``): read only when
    it is text."""
    name = inner_name(path)
    suffix = Path(name).suffix.lower()
    return suffix not in PLAIN + TEXT and (suffix == "" or _DOC_NAME.fullmatch(name) is not None
                                           or _VERSIONED.fullmatch(name) is not None)


def kind(path: Path) -> str | None:
    """What ``read_file`` reads ``path`` as: "jsonl", "pdf", "md", "html" or "text"; None when it is not read
    (see :func:`skip_label`). Looks into the file only for a name that does not say (its first 8 KB)."""
    suffix = inner_suffix(path)
    if is_gzip(path) and suffix in NO_GZ:  # read from a file, not a stream
        return None
    if suffix in (".md", ".markdown"):
        return "md"
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".pdf", ".docx", ".pptx", ".odt", ".odp", ".epub", ".eml", ".jsonl"):
        return suffix[1:]
    if suffix in PLAIN + TEXT:
        return "text"
    if _sniffed(path) and inner_name(path) not in _MACHINE and looks_like_text(path):
        return "text"
    return None


# binary or markup formats Python's own type table does not name (it is used without the system's, whose
# contents vary from machine to machine)
_NOT_PROSE = {".doc", ".ods", ".rtf", ".sqlite", ".db", ".7z", ".rar",
              ".jar", ".whl", ".apk", ".dmg", ".iso", ".woff", ".woff2", ".ttf", ".otf"}
_TYPES = None


def named_kind(path: Path) -> str | None:
    """What ``read_file`` reads a file named by the user (or uploaded) as: its :func:`kind`, or "text" for a suffix
    ingest does not know (``wiki.test.raw``, ``notes.log``, ``setup.cfg``) when its type is text or unknown and its
    start is UTF-8 text. Named, it was refused ("unsupported file type '.raw'") though the user asked for it; in a
    folder such a file stays unread (source code, data, configuration)."""
    if (what := kind(path)) is not None:
        return what
    return "text" if maybe_text(path) and looks_like_text(path, utf8=False) else None


def maybe_text(path: Path) -> bool:
    """Does a suffix ingest does not know leave the file to its content (a type that is text, or none known)?
    ``.xlsx``, ``.exe``, ``.png``, man pages (``.1``) and wheels' ``RECORD`` files do not."""
    global _TYPES
    suffix = inner_suffix(path)
    if suffix in SUFFIXES + NO_GZ or suffix in _NOT_PROSE or _MAN.fullmatch(suffix) or inner_name(path) in _MACHINE:
        return False  # a known suffix kind() refused (a .pdf.gz, an .xlsx.gz) is not left to the content
    if not suffix:
        return True
    if _TYPES is None:
        import mimetypes

        _TYPES = mimetypes.MimeTypes()  # its own table only: the same answer on every machine
    mime = _TYPES.guess_type("x" + suffix)[0]
    return mime is None or (mime.startswith("text/") and mime != "text/xml")


def skip_label(path: Path) -> str:
    """How an unread file is counted in the summary: its suffix (``.png``, ``.1.gz``), its name (``RECORD``), or
    "not UTF-8 text" for a file whose name did not say and whose start is binary or another encoding."""
    if inner_name(path) in _MACHINE:
        return inner_name(path)
    if _sniffed(path):
        return "not UTF-8 text"
    suffix = inner_suffix(path)
    return (suffix + ".gz" if is_gzip(path) else suffix) or "no suffix"


_MAN = re.compile(r"\.[1-9][a-z]*(\.gz)?")


def man_hint(skipped) -> str:
    """A hint for the skipped manual pages (``ls.1.gz``: troff, 17,904 in /usr/share/man/man1), else ""."""
    n = sum(k for label, k in skipped.items() if _MAN.fullmatch(label))
    if n == 1 and len(skipped) == 1:  # one file given (or uploaded): "the 1 .1-.9 files look like"
        return "; it looks like a man page (troff, not read): save it as text with `man -l FILE | col -b > FILE.txt`"
    return (f"; the {n:,} .1-.9 files look like man pages (troff, not read): save one as text with "
            f"`man -l FILE | col -b > FILE.txt`") if n else ""


def named_hint(skipped) -> str:
    """A hint for the skipped files of a folder that are read when named (.json, .mbox, .csv, .xlsx), else ""."""
    n = skipped.get(".json", 0) + skipped.get(".json.gz", 0)
    json = ("; .json files are read when named (`mycelial ingest FILE.json`: a list of records, or an object of "
            "them keyed by id), not found in a folder, where they are mostly configuration") if n else ""
    mbox = "; .mbox files are read when named (`mycelial ingest mail.mbox`: a record a message)" \
        if skipped.get(".mbox") else ""
    table = "; .csv, .tsv and .xlsx files are read when named (`mycelial ingest notes.csv`: a record a row)" \
        if any(skipped.get(k) for k in (".csv", ".tsv", ".xlsx", ".csv.gz", ".tsv.gz")) else ""
    return json + mbox + table


def gz_hint(skipped) -> str:
    """A hint for gzipped PDF, Word and EPUB files (read from a file, not a stream: only decompressed), else ""."""
    kinds = [k + ".gz" for k in NO_GZ if k + ".gz" in skipped]
    return f"; {', '.join(kinds)} files are read only decompressed: `gunzip -k FILE` first" if kinds else ""


def looks_like_text(path: Path, utf8: bool = True) -> bool:
    """Its first 8 KB (decompressed for a .gz) hold no NUL and are UTF-8 (or UTF-16 with its mark). An
    unreadable file counts as text, so its reading error is reported rather than the file silently left out.
    ``utf8=False``: no NUL is enough (a file named by the user: its Latin-1 is told with the fix, as a .txt's)."""
    try:
        head = head_bytes(path, _SNIFF)
    except (OSError, ValueError):
        return True
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    if b"\x00" in head:
        return False
    if not utf8:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return len(head) == _SNIFF and exc.start >= len(head) - 3  # a character cut by the 8 KB
    return True


def head_bytes(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of the file's content (decompressed for a .gz)."""
    if is_gzip(path):
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ValueError(damaged_message(exc)) from None
    with open(path, "rb") as fh:
        return fh.read(n)


def damaged_message(exc: Exception) -> str:
    return f"damaged gzip file ({exc or 'it ends too early'}); check it with `gzip -t`"


def content_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, decompressed for a .gz, at most ``max_bytes`` (ValueError beyond): a gzip file is
    inflated in bounded steps, so a gzip bomb (10 GB of zeros in 10 MB) costs ``max_bytes`` of memory at most."""
    if not is_gzip(path):
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(damaged_message(exc)) from None
    if len(data) > max_bytes:
        raise ValueError(f"decompresses to more than {max_bytes:,} bytes, the limit for one file (a gzip bomb?); "
                         f"not read: decompress it yourself and split it")
    return data


def file_title(path: Path, folders: bool = True) -> str:
    """The title of a file whose text names none: ``bash README`` (below), ``LGPL-2.1``, else its stem.
    ``folders=False``: its folder names it not (an upload, written to a temporary folder): ``README``."""
    name = inner_name(path)
    return (generic_title(path) if folders else None) or (name if _sniffed(path) else Path(name).stem)


# folders named for what they hold, not whose it is: pillow's licenses/LICENSE was titled "licenses LICENSE"
_GENERIC_FOLDERS = {"licenses", "license", "licensing", "doc", "docs", "documentation", "html", "txt", "text"}


def generic_title(path: Path) -> str | None:
    """``bash README`` for ``bash/README.gz``: 60 package folders each hold a ``README`` and a ``copyright``,
    and a title is embedded with every chunk. None for a file whose own name is its title (notes.txt, and
    README.md and LICENSE.txt, as before: their titles are kept)."""
    name = inner_name(path)
    if _DOC_NAME.fullmatch(name) is None or not (_sniffed(path) or is_gzip(path) or inner_suffix(path) == ".rst"):
        return None
    folders = Path(os.path.abspath(path)).parent.parts[1:]  # the link's, not its target's; the same on a worker
    owner = next((f for f in reversed(folders) if f.lower() not in _GENERIC_FOLDERS), "")
    return f"{owner} {Path(name).stem if inner_suffix(path) == '.rst' else name}" if owner else None


def linked_twin(link: Path, folder: Path) -> str | None:
    """The folder-relative name of the file a link leads to, when that file is read in the same walk."""
    try:
        target, top = link.resolve(), folder.resolve()
        rel = target.relative_to(top)
    except (OSError, ValueError, RuntimeError):
        return None
    if any(part.startswith(".") for part in rel.parts) or not target.is_file() or kind(target) is None:
        return None
    return rel.as_posix()


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a regular file or folder (None when it can).

    A FIFO would block a read forever and a device never ends; links that lead nowhere or
    in a loop are named as such, not as "no such file".
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)" if path.is_symlink() else "no such file or folder"
    except OSError as exc:  # ELOOP, EACCES, ...
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = ("named pipe (FIFO)" if stat.S_ISFIFO(mode) else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "socket" if stat.S_ISSOCK(mode) else "special file")
    return f"is a {kind}, not a regular file"


def unreadable_folder(folder: Path) -> str | None:
    """Why a folder cannot be listed, else None (rglob skips it silently: `--sync` forgot its documents)."""
    try:
        with os.scandir(folder):
            return None
    except OSError as exc:
        return f"folder cannot be read ({exc.strerror}); its files are left out"


def is_memory(p: Path, marker: str) -> bool:
    try:  # a subfolder a user cannot read raised PermissionError here: `ingest` of its parent stopped whole
        return (p / marker).is_file() and (p / "memory.sqlite").is_file()
    except OSError:
        return False
