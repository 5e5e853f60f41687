"""Uploads read the kinds of file `mycelial ingest` reads from a folder, as the same documents, against a real
`mycelial serve` on 127.0.0.1. The files are this machine's own (/usr/share/doc, /bin/ls, a man page) and a
WikiText-2 article.

Before: an upload took .txt .md .pdf .jsonl only, so a README.gz, notes.html or LICENSE that the CLI read was
"unsupported type"; a binary, a damaged .gz and a man page were all told "expected one of .txt, .md, .pdf, .jsonl".
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import httpx
import pytest
from _server_helpers import LiveServer

DOC = Path("/usr/share/doc")
FILES = {  # uploaded name: (file on this machine, its title uploaded; ingested from its folder: "bash README")
    "README.gz": (DOC / "bash/README.gz", "README"),
    "users-and-groups.html": (DOC / "base-passwd/users-and-groups.html", "Users and Groups in the Debian System"),
    "README.rst": (DOC / "python3-jwt/README.rst", "README"),
    "README": (DOC / "base-files/README", "README"),
    "copyright": (DOC / "bash/copyright", "copyright"),
}


def _du_fu() -> bytes:
    """The Du Fu article of WikiText-2's test split (its lines 16-71), gzipped as Du_Fu.txt.gz."""
    from core.config import data_file

    lines = data_file("wikitext2/wiki.test.raw").read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[14].strip() == "= Du Fu ="
    return gzip.compress("".join(lines[15:71]).encode("utf-8"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    """(server, {uploaded name: (bytes, chunk texts as the CLI stored them)}): the CLI's documents are ingested
    from folders (so their titles take the folder's name) into memory "cli"; "up" starts empty."""
    from core.memory import SemanticMemory
    from core.memory.documents import get_document

    root = tmp_path_factory.mktemp("formats")
    want = {}
    with SemanticMemory(root / "cli", embedder=embedder) as mem:
        for name, (src, _) in FILES.items():
            (root / "docs" / src.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / "docs" / src.parent.name / name)
        (root / "docs" / "wiki").mkdir()
        (root / "docs" / "wiki" / "Du_Fu.txt.gz").write_bytes(_du_fu())
        rep = mem.ingest([str(root / "docs")])
        assert rep.documents == len(FILES) + 1 and not rep.errors, rep.to_dict()
        for path in sorted((root / "docs").rglob("*")):
            if path.is_file():
                doc = get_document(mem, path.relative_to(root / "docs").as_posix())
                want[path.name] = (path.read_bytes(), doc["title"], [c["text"] for c in doc["chunks"]])
    srv = LiveServer([f"up={root / 'up'}"])
    yield srv, want
    srv.stop()


def _post(server, files: list[tuple[str, bytes]]):
    return httpx.post(server.url + "/v1/memories/up/documents", timeout=300,
                      files=[("file", (name, data, "application/octet-stream")) for name, data in files])


def _doc(server, name: str) -> dict:
    r = httpx.get(server.url + "/v1/memories/up/document", params={"id": f"file:{name}"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _total(server) -> int:
    return httpx.get(server.url + "/v1/memories/up/documents", timeout=60).json()["total"]


@pytest.mark.parametrize("name", [*FILES, "Du_Fu.txt.gz"])
def test_an_upload_is_the_document_ingest_reads_from_the_file(served, name):
    server, want = served
    data, cli_title, chunks = want[name]
    r = _post(server, [(name, data)])
    assert r.status_code == 201 and r.json()["documents"] == 1, r.text
    doc = _doc(server, name)
    assert [c["text"] for c in doc["chunks"]] == chunks and len(chunks) >= 2
    title = FILES[name][1] if name in FILES else "Du Fu"  # a generic name has no folder to take uploaded
    assert doc["title"] == title and doc["kind"] == "file"
    assert cli_title == (f"{FILES[name][0].parent.name} {title}" if title in ("README", "copyright") else title)
    again = _post(server, [(name, data)])  # the same file again: the same document, unchanged
    assert again.status_code == 201 and again.json()["unchanged"] == 1, again.text


def test_what_the_text_holds_comes_through(served):
    server, want = served
    assert _post(server, [("README.gz", want["README.gz"][0])]).status_code == 201
    text = "\n".join(c["text"] for c in _doc(server, "README.gz")["chunks"])
    assert "Bash is the GNU Project's Bourne Again SHell" in text  # inflated, not the gzip bytes
    assert _post(server, [("users-and-groups.html", want["users-and-groups.html"][0])]).status_code == 201
    text = "\n".join(c["text"] for c in _doc(server, "users-and-groups.html")["chunks"])
    assert "<div" not in text and "</p>" not in text and "&lt;" not in text  # tags dropped, entities decoded
    assert "<base-passwd@packages.debian.org>" in text and "# Chapter 2. Users and Groups" in text


def _bad_files() -> dict:
    readme = (DOC / "bash/README.gz").read_bytes()
    return {
        "ls": (Path("/bin/ls").read_bytes(), "ls: unsupported file: its start is binary (NUL bytes); expected .txt, .md"),
        "README.gz": (readme[:len(readme) // 2], "README.gz: damaged gzip file (Compressed file ended before"),
        "ls.1.gz": (Path("/usr/share/man/man1/ls.1.gz").read_bytes(), "ls.1.gz: unsupported type '.1.gz'; expected"),
        "zeros.txt.gz": (gzip.compress(b"0" * (50 * 1024 * 1024 + 1), 1), "zeros.txt.gz: decompresses to more than "
                                                                          "52,428,800 bytes"),
    }


@pytest.mark.parametrize("name", ["ls", "README.gz", "ls.1.gz", "zeros.txt.gz"])
def test_a_file_ingest_skips_is_refused_naming_it_and_why_and_nothing_is_stored(served, name):
    server, want = served
    data, start = _bad_files()[name]
    before = _total(server)
    good = ("Du_Fu.txt.gz", want["Du_Fu.txt.gz"][0])
    r = _post(server, [good, (name, data)])  # with a good file: neither is stored
    assert r.status_code == 422, r.text
    body = r.json()
    assert [f["field"] for f in body["fields"]] == ["file"] and body["fields"][0]["message"].startswith(start)
    assert body["error"].startswith(f"invalid request: file {start}") and "none of the 2 files" in body["error"]
    hint = {"README.gz": "gzip -t", "ls.1.gz": "man -l FILE | col -b > FILE.txt", "zeros.txt.gz": "gzip bomb",
            "ls": "or other UTF-8 text, gzipped too"}[name]
    assert hint in body["error"]
    assert _total(server) == before


def test_an_unsupported_type_says_what_is_read(served):
    server, _ = served
    r = _post(server, [("tool.exe", b"MZ")])
    assert r.status_code == 422
    assert r.json()["fields"][0]["message"] == (
        "tool.exe: unsupported type '.exe'; expected .txt, .md, .rst, .html, .pdf, .docx, .pptx, .odt, .odp, .epub, "
        ".eml, .mbox, .jsonl, .json, .csv, .xlsx or other UTF-8 text, gzipped too")


def test_an_upload_named_dot_dot_is_read_as_one_without_a_name(served):
    # a name without a suffix is sniffed now, so ".." was written to the temporary folder's parent (a 500); it was
    # "unsupported type '..'", while "." was read as upload.txt
    server, _ = served
    r = _post(server, [("..", b"The tide mill of Skerry ground oats until 1911.")])
    assert r.status_code == 201 and r.json()["documents"] == 1, r.text
    assert _doc(server, "upload.txt")["chunks"][0]["text"].startswith("The tide mill of Skerry")


def test_a_long_gzipped_name_is_cut_keeping_both_suffixes(served):
    # a name past 200 bytes is cut, its suffix kept: ".gz" alone made "港港...港.gz", a name whose start is sniffed
    server, _ = served
    name = "港" * 120 + ".md.gz"
    r = _post(server, [(name, gzip.compress(b"# Harbour of Pellow\n\nThe harbour of Pellow freezes late."))])
    assert r.status_code == 201, r.text
    doc = [d for d in httpx.get(server.url + "/v1/memories/up/documents", params={"prefix": "file:港"},
                                timeout=60).json()["documents"]]
    assert len(doc) == 1 and doc[0]["id"].endswith("港.md.gz") and doc[0]["title"] == "Harbour of Pellow", doc


def _brown_lines(n: int = 3) -> bytes:
    """The first ``n`` records of the shared Brown file as they are: {"doc_id", "category", "paragraphs"}."""
    from core.config import data_file

    with open(data_file("brown/brown_docs.jsonl"), "rb") as fh:
        return b"".join(next(fh) for _ in range(n))


def test_an_uploaded_jsonl_of_another_schema_takes_the_fields_parameter(served):
    server, _ = served
    data, url = _brown_lines(), server.url + "/v1/memories/up/documents"
    before = _total(server)
    r = _post(server, [("brown.jsonl", data)])  # without the mapping: every line says which parameter to give
    assert r.status_code == 422 and "(name the keys with ?fields=text=KEY,id=KEY)" in r.text, r.text
    assert "--fields" not in r.text and _total(server) == before
    for spec, words in [("text=paragraphs,oops", "'oops' is not ROLE=KEY"), ("body=x", "unknown role 'body'"),
                        ("text=a,id=a", 'both name the key "a"')]:
        r = httpx.post(url, params={"fields": spec}, files=[("file", ("brown.jsonl", data, "application/jsonl"))],
                       timeout=60)
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "fields" and words in r.json()["error"], r.text
    r = httpx.post(url, params={"fields": "text=paragraphs"}, json=[{"id": "x", "text": "A posted list."}], timeout=60)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "fields", r.text  # a list has its own schema
    r = httpx.post(url, params={"fields": "text=paragraphs,id=doc_id"},
                   files=[("file", ("brown.jsonl", data, "application/jsonl"))], timeout=300)
    assert r.status_code == 201 and r.json()["documents"] == 3, r.text
    doc = httpx.get(server.url + "/v1/memories/up/document", params={"id": "ca01"}, timeout=60).json()
    assert doc["metadata"] == {"category": "news"} and doc["chunks"][0]["text"].startswith("The Fulton County")
    assert _total(server) == before + 3
