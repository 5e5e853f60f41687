"""What `mycelial encode` and `train` read: a text file or standard input a line a row, a .npy of embeddings."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

STDIN = "-"


def read_lines(source: str, npy_out: bool) -> list[str]:
    """The stripped lines of a text file or of standard input (``-``), '' for a blank line; a text of blank
    lines only is an error."""
    from core.memory._files import decode_text as _decode

    name, data = _text_bytes(source)
    try:
        lines = [line.strip() for line in split_lines(_decode(data, name))]
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if not any(lines):
        raise ValueError(f"{name} holds no text: every line is blank")
    blank = [i + 1 for i, t in enumerate(lines) if not t]
    if npy_out and blank:
        shown = ", ".join(map(str, blank[:5])) + (", ..." if len(blank) > 5 else "")
        which = f"lines {shown} are" if len(blank) > 1 else f"line {shown} is"
        grep = "grep -v '^[[:space:]]*$'" + ("" if source == STDIN else f" {shlex.quote(name)}")
        raise ValueError(f"{name}: {which} blank and a .npy row cannot be empty, so rows would no "
                         f"longer match lines; remove blank lines first ({grep}) "
                         f"or write text/JSON, which keeps an empty row")
    return lines


def _text_bytes(source: str) -> tuple[str, bytes]:
    """(name for messages, bytes) of a file, or of standard input for ``-`` (`encode -` encoded the text "-")."""
    if source != STDIN:
        path = Path(source)
        regular_file(path)
        return str(path), path.read_bytes()
    if _is_terminal(sys.stdin):  # as `ingest -`: a command waiting in silence looks hung
        click.echo("reading the texts to encode from the terminal, one a line: paste or type them, then Ctrl-D on "
                   "a line of its own (or pipe them: cat sentences.txt | mycelial encode -)", err=True)
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    data = stream.read()
    return "standard input", data.encode("utf-8") if isinstance(data, str) else data


def _is_terminal(fh) -> bool:
    try:
        return bool(fh.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or custom stream
        return False


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` as ``wc -l``, ``paste`` and ``diff`` count them: split at "\n" only (a "\r" before it
    dropped, the newline ending the last line ends no extra line). str.splitlines also broke at a form feed,
    \v, \x1c-\x1e, \x85 and U+2028, so rows no longer matched the file's lines."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def regular_file(path: Path) -> None:
    """/dev/null or a folder said "not found"."""
    if not path.is_file():
        if path.exists():
            raise ValueError(f"{path} is not a regular file (a folder, device or FIFO); give a file")
        raise FileNotFoundError(f"{path} not found")


def load_npy(path):
    """One array saved by ``numpy.save``; anything else is named (numpy itself calls a text file
    "pickled (object) data" and suggests loading it unsafely)."""
    import numpy as np

    path = Path(path)
    regular_file(path)
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:4] == b"PK\x03\x04":
        raise ValueError(f"{path} is an .npz archive; give one array saved with numpy.save (.npy)")
    if head != b"\x93NUMPY":
        raise ValueError(f"{path} is not a .npy file; save the embeddings with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            raise ValueError(f"{path} holds Python objects, not numbers; save a float array (n, 384)") from None
        raise ValueError(f"{path}: {exc}") from None
