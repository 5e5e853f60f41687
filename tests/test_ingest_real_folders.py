"""Folders as people have them (/usr/share/doc): gzipped text, README and copyright without a suffix, HTML and
reStructuredText, binaries, FIFOs and gzip bombs beside them. Ingest read 7 of 230 files of 65 package folders."""
from __future__ import annotations

import gzip
import json
import os
import threading
import zlib

import pytest
from _peak import traced_peak
from click.testing import CliRunner

from core.cli import cli
from core.memory.readers import ReadError, is_blank, read_paths

_ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4


def _read(paths, **kw):
    errors: list[ReadError] = []
    recs = list(read_paths(paths, errors, **kw))
    return recs, errors


@pytest.fixture()
def doc(tmp_path):
    """A /usr/share/doc in miniature."""
    root = tmp_path / "doc"
    (root / "bash").mkdir(parents=True)
    (root / "curl").mkdir()
    (root / "bash" / "README.gz").write_bytes(gzip.compress(b"Bash is the GNU Project's shell.\n\nReport bugs "
                                                             b"with the bashbug command.\n"))
    (root / "bash" / "changelog.Debian.gz").write_bytes(gzip.compress(b"bash (5.2-2) unstable; urgency=medium\n"))
    (root / "bash" / "copyright").write_text("Files: *\nCopyright: 1987-2022 Free Software Foundation\n"
                                             "License: GPL-3+\n", encoding="utf-8")
    (root / "bash" / "README.Debian").write_text("Bash configuration for Debian.\n", encoding="utf-8")
    (root / "curl" / "NEWS").write_text("curl 8.0 adds HTTP/3.\n", encoding="utf-8")
    (root / "LGPL-2.1").write_text("GNU Lesser General Public License, version 2.1\n", encoding="utf-8")
    (root / "ls.1").write_text(".TH LS 1\n.SH NAME\nls\n", encoding="utf-8")  # troff, not read
    (root / "c89.1").write_text(".TH C89 1\n", encoding="utf-8")  # nor this one (/etc/alternatives)
    (root / "eed8c118.0").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")  # /etc/ssl/certs
    (root / "curl" / "guide.md.gz").write_bytes(gzip.compress(b"# Using curl\n\nFetch a URL with curl URL.\n"))
    (root / "curl" / "notes.rst").write_text("Notes\n=====\n\nLibcurl is thread safe.\n", encoding="utf-8")
    (root / "curl" / "index.html").write_text(
        "<html><head><title>curl &amp; libcurl</title><style>p {color: red}</style></head><body>"
        "<h1>Overview</h1><p>curl transfers data&nbsp;with URLs.</p><script>var x = 1;</script>"
        "<h2>Bugs</h2><p>Report them on GitHub.</p></body></html>", encoding="utf-8")
    (root / "curl" / "curl-bin").write_bytes(_ELF)  # a binary without a suffix: not text
    (root / "curl" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (root / "curl" / "curl.1.gz").write_bytes(gzip.compress(b".TH CURL 1\n.SH NAME\ncurl\n"))  # troff: not read
    return root


def test_gzipped_and_suffixless_text_html_and_rst_of_a_folder_are_read(doc):
    recs, errors = _read(doc)
    got = {r.doc_id: (r.title, r.text) for r in recs}
    assert sorted(got) == ["LGPL-2.1", "bash/README.Debian", "bash/README.gz", "bash/changelog.Debian.gz",
                           "bash/copyright", "curl/NEWS", "curl/guide.md.gz", "curl/index.html", "curl/notes.rst"]
    assert got["bash/README.gz"] == ("bash README", "Bash is the GNU Project's shell.\n\nReport bugs with the "
                                                   "bashbug command.\n")
    assert got["bash/copyright"][0] == "bash copyright" and "GPL-3+" in got["bash/copyright"][1]
    assert got["bash/changelog.Debian.gz"][0] == "bash changelog.Debian"
    assert got["curl/NEWS"][0] == "curl NEWS"
    assert got["curl/guide.md.gz"][0] == "Using curl"  # a gzipped note is still Markdown
    assert got["curl/notes.rst"][0] == "notes"
    assert got["LGPL-2.1"][0] == "LGPL-2.1"  # /usr/share/common-licenses: a version, not a suffix
    title, text = got["curl/index.html"]
    assert title == "curl & libcurl"
    assert text == "# Overview\n\ncurl transfers data with URLs.\n\n## Bugs\n\nReport them on GitHub."
    # the rest counted in one line, by what they are; nothing is an error
    assert [e.message.split(";")[0] for e in errors] == [
        "skipped 6 unsupported files (.1 2, not UTF-8 text 1, .1.gz 1, .png 1, .0 1)"]
    assert all(e.skipped for e in errors)
    assert errors[0].message.endswith("; the 3 .1-.9 files look like man pages (troff, not read): save one as text "
                                      "with `man -l FILE | col -b > FILE.txt`")


def test_a_suffixless_binary_or_latin1_file_given_by_its_path_is_one_clear_error(doc, tmp_path):
    (tmp_path / "latin").write_bytes("Caf\xe9 cr\xe8me\n".encode("latin-1"))
    recs, errors = _read([doc / "curl" / "curl-bin", tmp_path / "latin", doc / "bash" / "copyright"])
    assert [r.doc_id for r in recs] == [str((doc / "bash" / "copyright").resolve())]
    assert [r.title for r in recs] == ["bash copyright"]
    # named, the binary is told it is binary, the Latin-1 file the word it misreads and the fix
    assert [e.message.split(";")[0] for e in errors] == [
        "unsupported file: its start is binary (NUL bytes)",
        "not valid UTF-8 (byte 3, line 1: 'Café' if it is Windows-1252 or Latin-1)"]


def _bomb(path, size):
    """A gzip file of ``size`` bytes of text ("AAAA..."), written in steps (about size/1000 bytes on disk)."""
    comp, block = zlib.compressobj(9, zlib.DEFLATED, 31), b"A" * (1 << 20)
    with open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(comp.compress(block))
        fh.write(comp.flush())


def test_a_gzip_bomb_is_refused_in_bounded_memory_and_the_rest_is_read(tmp_path):
    (tmp_path / "docs").mkdir()
    _bomb(tmp_path / "docs" / "README.gz", 200 << 20)  # 200 MB of text in 200 KB: its start looks like a README
    (tmp_path / "docs" / "a.txt").write_text("Lichens are fungi and algae.", encoding="utf-8")
    (recs, errors), peak = traced_peak(lambda: _read(tmp_path / "docs", max_bytes=1 << 20))
    assert [r.doc_id for r in recs] == ["a.txt"]
    assert len(errors) == 1 and not errors[0].skipped and errors[0].source.endswith("README.gz")
    assert errors[0].message.startswith("decompresses to more than 1,048,576 bytes, the limit for one file "
                                        "(a gzip bomb?)")
    assert peak < 16 << 20, peak  # the limit, not the 200 MB


def test_a_damaged_or_truncated_gzip_file_is_one_error(tmp_path):
    (tmp_path / "docs").mkdir()
    data = gzip.compress(b"Some text that was cut short in transfer. " * 50)
    (tmp_path / "docs" / "cut.txt.gz").write_bytes(data[:len(data) // 2])
    (tmp_path / "docs" / "fake.txt.gz").write_bytes(b"plain text, not gzip at all")
    recs, errors = _read(tmp_path / "docs")
    assert recs == []
    msgs = sorted(e.message for e in errors if not e.skipped)
    assert len(msgs) == 2 and all(m.startswith("damaged gzip file (") and "gzip -t" in m for m in msgs), msgs


def test_an_empty_gzip_or_html_file_is_a_skip_not_an_error(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "NEWS.gz").write_bytes(gzip.compress(b"\n\n"))
    (tmp_path / "docs" / "empty.html").write_text("<html><head><title>x</title></head><body> </body></html>")
    recs, errors = _read(tmp_path / "docs")
    assert recs == [] and all(e.skipped for e in errors)
    assert sorted(e.message for e in errors if e.message.startswith("empty")) == [
        "empty file (no text outside its tags); nothing to store", "empty file (only whitespace); nothing to store"]
    assert is_blank(tmp_path / "docs" / "NEWS.gz") and is_blank(tmp_path / "docs" / "empty.html")


def test_fifos_named_like_documents_do_not_hang_the_walk(tmp_path):
    (tmp_path / "docs").mkdir()
    for name in ("README", "NEWS.gz", "notes.txt"):
        os.mkfifo(tmp_path / "docs" / name)  # opening one to look at its start would wait for a writer forever
    (tmp_path / "docs" / "copyright").write_text("GPL-2", encoding="utf-8")
    out: list = []
    t = threading.Thread(target=lambda: out.append(_read(tmp_path / "docs")), daemon=True)
    t.start()
    t.join(20)
    assert out, "reading a folder with FIFOs hung"
    recs, errors = out[0]
    assert [r.doc_id for r in recs] == ["copyright"]
    assert errors[0].skipped and errors[0].message.startswith("skipped 3 entries that are not regular files")


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_ingest_sync_and_again_of_a_doc_folder(doc, tmp_path):
    mem = tmp_path / "mem"
    r = _run("ingest", doc, "--memory", mem, "-q")
    assert r.exit_code == 0, r.output
    assert "9 documents ingested" in r.output and " 0 errors" in r.output, r.output
    assert "skipped 6 unsupported files (.1 2, not UTF-8 text 1, .1.gz 1, .png 1, .0 1)" in r.output
    listed = {d["id"]: d["title"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)}
    assert listed["bash/README.gz"] == "bash README" and listed["curl/index.html"] == "curl & libcurl"
    # the same folder again: nothing re-embedded
    r = _run("ingest", doc, "--memory", mem, "-q")
    assert "0 documents ingested" in r.output and "9 unchanged" in r.output, r.output
    # a gzipped file edited, a suffixless one deleted, one gzipped emptied: --sync
    (doc / "bash" / "README.gz").write_bytes(gzip.compress(b"Bash 5.3 reads ~/.bashrc at start.\n"))
    (doc / "bash" / "copyright").unlink()
    (doc / "bash" / "changelog.Debian.gz").write_bytes(gzip.compress(b""))
    r = _run("ingest", doc, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0, r.output
    assert "1 replaced" in r.output and "forgot bash/copyright" in r.output, r.output
    assert "forgot bash/changelog.Debian.gz" in r.output
    got = _run("get", "bash/README.gz", "--memory", mem).output
    assert "Bash 5.3 reads" in got


def test_a_link_to_a_file_read_in_the_same_folder_is_not_read_twice(tmp_path):
    """common-licenses: GPL -> GPL-3 stored the license twice, and recall listed each passage twice."""
    lic = tmp_path / "licenses"
    lic.mkdir()
    (lic / "GPL-3").write_text("GNU General Public License, version 3.\n", encoding="utf-8")
    (lic / "GPL").symlink_to("GPL-3")
    (tmp_path / "BSD").write_text("Redistribution and use in source and binary forms.\n", encoding="utf-8")
    (lic / "BSD").symlink_to(tmp_path / "BSD")  # its target is outside the folder: read under the link's name
    recs, errors = _read(lic)
    assert sorted(r.doc_id for r in recs) == ["BSD", "GPL-3"]
    assert [e.message for e in errors] == ["skipped 1 entry that is not a regular file: GPL (link to GPL-3, read "
                                           "under that name)"]


_READ = ("import json, sys; from core.memory.readers import read_paths; errors = []; "
         "ids = [r.doc_id for r in read_paths([sys.argv[1]], errors)]; "
         "print(json.dumps([ids, [[e.message, e.skipped] for e in errors]]))")


def test_a_subfolder_and_files_the_user_cannot_read_are_reported_and_the_rest_is_read(tmp_path):
    """As a user, not root: a subfolder without read permission stopped the whole ingest ("Error: Permission
    denied: '.../sub/mycelial.json'", from the check for a memory folder inside)."""
    import subprocess
    import sys

    from _unwritable import NO_DAC, REPO

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("Readable notes about lichens.", encoding="utf-8")
    (tmp_path / "d" / "README").write_text("A readme only its owner reads.", encoding="utf-8")
    (tmp_path / "d" / "NEWS.gz").write_bytes(gzip.compress(b"News only its owner reads."))
    (tmp_path / "d" / "sub" / "x.txt").write_text("hidden", encoding="utf-8")
    for p in ("README", "NEWS.gz", "sub"):
        (tmp_path / "d" / p).chmod(0)
    try:
        out = subprocess.run([*NO_DAC, sys.executable, "-c", _READ, str(tmp_path / "d")], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        for p in ("README", "NEWS.gz", "sub"):
            (tmp_path / "d" / p).chmod(0o755)
    assert out.returncode == 0, out.stderr
    ids, errors = json.loads(out.stdout)
    assert ids == ["a.txt"]
    assert errors == [["skipped 1 entry that is not a regular file: sub (folder cannot be read (Permission denied); "
                       "its files are left out)", True],
                      ["cannot be read (Permission denied)", False], ["cannot be read (Permission denied)", False]]


def test_a_wheels_install_records_are_not_read_its_metadata_and_license_are(tmp_path):
    info = tmp_path / "site" / "click-8.1.dist-info"
    info.mkdir(parents=True)
    (info / "RECORD").write_text("click/__init__.py,sha256=abc,3058\n" * 50, encoding="utf-8")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: bdist_wheel\n", encoding="utf-8")
    (info / "INSTALLER").write_text("pip\n", encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: click\n\nClick is a command line toolkit.\n",
                                   encoding="utf-8")
    (info / "LICENSE").write_text("Copyright 2014 Pallets. BSD-3-Clause.\n", encoding="utf-8")
    (info / "licenses").mkdir()  # pillow's: titled "licenses LICENSE"
    (info / "licenses" / "COPYING").write_text("MIT-CMU\n", encoding="utf-8")
    (info / "README.rst").write_text("Click\n=====\n\nComposable command line interfaces.\n", encoding="utf-8")
    recs, errors = _read(tmp_path / "site")
    assert {r.doc_id: r.title for r in recs} == {"click-8.1.dist-info/LICENSE": "click-8.1.dist-info LICENSE",
                                                 "click-8.1.dist-info/METADATA": "click-8.1.dist-info METADATA",
                                                 "click-8.1.dist-info/README.rst": "click-8.1.dist-info README",
                                                 "click-8.1.dist-info/licenses/COPYING": "click-8.1.dist-info COPYING"}
    assert [e.message.split(";")[0] for e in errors] == ["skipped 3 unsupported files (INSTALLER 1, RECORD 1, WHEEL 1)"]


def test_an_html_page_is_read_in_the_encoding_it_declares(tmp_path):
    """libxslt's manual in /usr/share/doc is ISO-8859-1 and says so: 6 pages were 'not valid UTF-8' errors."""
    (tmp_path / "docs").mkdir()
    page = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<html><head><meta http-equiv="Content-Type" '
            'content="text/html; charset=ISO-8859-1"><title>Daniel Veillard</title></head>'
            '<body><p>Merci \xe0 Fran\xe7ois.</p></body></html>')
    (tmp_path / "docs" / "news.html").write_bytes(page.encode("latin-1"))
    (tmp_path / "docs" / "plain.txt").write_bytes("Fran\xe7ois".encode("latin-1"))  # text declares nothing
    recs, errors = _read(tmp_path / "docs")
    assert [(r.title, r.text) for r in recs] == [("Daniel Veillard", "Merci \xe0 Fran\xe7ois.")]
    assert [e.message.split(" (")[0] for e in errors] == ["not valid UTF-8"]


def test_an_archive_given_by_its_path_names_its_whole_type(tmp_path):
    (tmp_path / "src.tar.gz").write_bytes(gzip.compress(b"ustar archive bytes"))
    recs, errors = _read(tmp_path / "src.tar.gz")
    assert recs == [] and errors[0].message.startswith("unsupported file type '.tar.gz'; expected .txt, .md,")


def test_a_gzipped_pdf_is_named_with_how_to_read_it_and_gzipped_jsonl_is_read(tmp_path):
    # "gzipped too" in the line of what is read, and paper.pdf.gz counted as unsupported beside it: no way on.
    # records.jsonl.gz is read as records.jsonl (tests/test_ingest_jsonl_gz.py); it was refused as the PDF is
    (tmp_path / "records.jsonl.gz").write_bytes(gzip.compress(b'{"id": "a", "text": "Nerva adopted Trajan."}\n'))
    (tmp_path / "paper.pdf.gz").write_bytes(gzip.compress(b"%PDF-1.4"))
    (tmp_path / "notes.txt").write_text("Du Fu was a poet of the Tang dynasty.\n", encoding="utf-8")
    recs, errors = _read(tmp_path)
    assert sorted(r.doc_id for r in recs) == ["a", "notes.txt"]
    assert errors[0].skipped and "(.pdf.gz 1)" in errors[0].message
    assert errors[0].message.endswith("; .pdf.gz files are read only decompressed: `gunzip -k FILE` first")
    recs, errors = _read(tmp_path / "paper.pdf.gz")
    assert recs == [] and errors[0].message.startswith("unsupported file type '.pdf.gz'")
    assert errors[0].message.endswith("`gunzip -k FILE` first")


def test_text_of_a_suffix_ingest_does_not_know_is_read_when_named(tmp_path):
    # the shared WikiText files (wiki.test.raw, wiki.valid.tokens) were refused by name: "unsupported file type
    # '.raw'"; a folder still leaves such files out (source code, data, configuration)
    from core.config import data_file
    from core.memory._ingest_progress import _expected_documents

    raw = data_file("wikitext2/wiki.test.raw")
    (tmp_path / "notes.log").write_text("The tide mill of Pellow grinds corn.\n", encoding="utf-8")
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = pellow\n", encoding="utf-8")
    for name, data in (("tool.exe", b"MZ"), ("x.ods", b"PK"), ("page.xml", b"<a>x</a>"), ("ls.1", b".TH LS 1")):
        (tmp_path / name).write_bytes(data)  # their types say they are no prose, whatever their start
    recs, errors = _read([raw, tmp_path / "notes.log", tmp_path / "setup.cfg"])
    assert errors == [] and [r.title for r in recs] == ["wiki.test", "notes", "setup"]
    assert recs[0].text == raw.read_bytes().decode("utf-8").replace("\r\n", "\n") and recs[0].merge  # CRLF
    assert _expected_documents([str(raw), str(tmp_path / "notes.log")]) == 2
    recs, errors = _read([tmp_path / n for n in ("tool.exe", "x.ods", "page.xml", "ls.1")])
    assert recs == [] and [e.message.split(";")[0] for e in errors] == [
        "unsupported file type '.exe'", "unsupported file type '.ods'", "unsupported file type '.xml'",
        "unsupported file type '.1'"]
    recs, errors = _read(raw.parent)  # a folder: .raw and .tokens files are not read
    assert recs == [] and "(.raw 1, .tokens 1)" in errors[0].message and errors[0].skipped
