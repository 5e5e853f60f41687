"""Saved e-mail messages (.eml) are read: the subject as title, sender and date first, the text body (else the
HTML one as text), attachments named. They were refused by name and counted as unsupported in a folder.

The messages are written by the standard library's e-mail package from real WikiText articles.
"""
from __future__ import annotations

from email.message import EmailMessage

from core.memory.readers import ReadError, read_paths


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def _message(subject: str, **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = headers.get("sender", "Ida Wren <ida@example.org>")
    msg["To"] = "notes@example.org"
    msg["Date"] = "Thu, 03 Dec 2026 10:00:00 +0000"
    return msg


def test_messages_give_subject_sender_body_and_attachments(tmp_path, wiki_docs):
    a, b, c = wiki_docs[0], wiki_docs[1], wiki_docs[2]
    plain = _message(f"Notes on {a.title}")
    plain.set_content(" ".join(a.sentences[:3]))
    (tmp_path / "plain.eml").write_bytes(bytes(plain))
    html = _message(f"Über {b.title}")  # a MIME-encoded subject; an HTML body only, sent in Latin-1
    words = (" ".join(b.sentences[:2]) + " Café.").encode("latin-1", "replace").decode("latin-1")
    html.set_content(f"<h1>{b.title}</h1><p>{words}</p><script>x()</script>", subtype="html", charset="iso-8859-1")
    (tmp_path / "html.eml").write_bytes(bytes(html))
    mixed = _message(c.title)
    mixed.set_content(" ".join(c.sentences[:2]))
    mixed.add_alternative(f"<p>{' '.join(c.sentences[:2])}</p>", subtype="html")
    mixed.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="data.bin")
    (tmp_path / "mixed.eml").write_bytes(bytes(mixed))
    recs, errors = _read(sorted(tmp_path.iterdir()))
    assert errors == [] and all(r.merge for r in recs)
    by = {r.doc_id.rsplit("/", 1)[1]: r for r in recs}
    head = "From: Ida Wren <ida@example.org>; To: notes@example.org; Date: Thu, 03 Dec 2026 10:00:00 +0000"
    assert by["plain.eml"].title == f"Notes on {a.title}"
    assert by["plain.eml"].text == f"{head}\n\n{' '.join(a.sentences[:3])}"
    assert by["html.eml"].title == f"Über {b.title}"
    assert by["html.eml"].text == f"{head}\n\n# {b.title}\n\n{words}"
    assert by["mixed.eml"].text == f"{head}\n\n{' '.join(c.sentences[:2])}\n\nAttachments: data.bin"  # plain first


def test_a_folder_reads_its_messages_and_a_file_that_is_none_is_one_error(tmp_path, wiki_docs):
    (tmp_path / "mail").mkdir()
    msg = _message(wiki_docs[3].title)
    msg.set_content(wiki_docs[3].sentences[0])
    (tmp_path / "mail" / "a.eml").write_bytes(bytes(msg))
    (tmp_path / "mail" / "b.eml").write_text("just some words, no header at all\n", encoding="utf-8")
    recs, errors = _read(tmp_path / "mail")
    assert [r.doc_id for r in recs] == ["a.eml"] and [r.title for r in recs] == [wiki_docs[3].title]
    assert [(e.source.rsplit("/", 1)[1], e.message) for e in errors] == [
        ("b.eml", "no From, Subject, Date or Message-ID header: not an e-mail message")]


def _mailbox(path, articles, extra=()):
    """An mbox written by the standard library: one message an article (the second without a Message-ID, one
    body line starting 'From ', which mbox quotes), then ``extra`` messages."""
    import mailbox

    box = mailbox.mbox(path)
    for i, a in enumerate(articles):
        msg = _message(a.title)
        if i != 1:
            msg["Message-ID"] = f"<m{i}@example.org>"
        msg.set_content(" ".join(a.sentences[:2]) + ("\nFrom the archive." if i == 0 else ""))
        box.add(msg)
    for msg in extra:
        box.add(msg)
    box.close()
    return path


def test_a_mailbox_gives_a_record_a_message_with_its_message_id(tmp_path, wiki_docs, embedder):
    from core.memory import SemanticMemory
    from core.memory._ingest_progress import _expected_documents

    arts = wiki_docs[20:23]
    dup = _message("again")
    dup["Message-ID"] = "<m0@example.org>"
    dup.set_content("The first message, saved twice.")
    big = _message("big")
    big.set_content("x" * 5000)
    path = _mailbox(tmp_path / "mail.mbox", arts, extra=(dup, big))
    recs, errors = _read(path, max_bytes=4000)
    assert [(r.doc_id, r.title) for r in recs] == [("m0@example.org", arts[0].title), ("mail.mbox#2", arts[1].title),
                                                   ("m2@example.org", arts[2].title)]
    assert recs[0].text.endswith(" ".join(arts[0].sentences[:2]) + "\nFrom the archive.")  # unquoted
    assert recs[1].meta == {"mailbox": "mail.mbox", "message": 2} and all(r.merge for r in recs)
    assert [e.message for e in errors] == [
        "message 4: duplicate id 'm0@example.org' (first as message 1); skipped",
        "message 5 is over the 4,000-byte limit of one message; skipped"]
    assert _expected_documents([str(path)]) is None
    (tmp_path / "none.mbox").write_text("no message here\n", encoding="utf-8")
    assert _read(tmp_path / "none.mbox")[1][0].message == ("no message: a mailbox's messages each begin with a line "
                                                           "'From ...'")
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "mail.mbox").write_bytes(path.read_bytes())
    assert "; .mbox files are read when named" in _read(tmp_path / "box")[1][0].message  # not in a folder
    # new mail: the file ingested again adds the new message, the others unchanged
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        assert mem.ingest(str(path)).documents == 4  # the big one too, under the real limit
        _mailbox(path, [], extra=[_message("new")])
        rep = mem.ingest(str(path))
        assert (rep.documents, rep.unchanged) == (1, 4), rep.to_dict()


def test_a_forwarded_message_is_read_as_a_quoted_block_after_the_body(tmp_path, wiki_docs):
    from email.mime.message import MIMEMessage
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    a = wiki_docs[40]
    inner = _message(a.title, sender="Otto Lind <otto@example.org>")
    inner.set_content(f"{a.sentences[0]}\n\n{a.sentences[1]}")
    inner.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="minutes.pdf")
    outer = MIMEMultipart()
    outer["Subject"], outer["From"], outer["To"] = f"Fwd: {a.title}", "Ida Wren <ida@example.org>", "me@example.org"
    outer.attach(MIMEText("See the forwarded message below.", "plain"))
    outer.attach(MIMEMessage(inner))
    (tmp_path / "fwd.eml").write_bytes(outer.as_bytes())
    recs, errors = _read(tmp_path / "fwd.eml")
    assert errors == [] and recs[0].title == f"Fwd: {a.title}"
    # it was dropped: neither its words nor its name were stored
    assert recs[0].text == ("From: Ida Wren <ida@example.org>; To: me@example.org\n\n"
                            "See the forwarded message below.\n\n"
                            f"> Forwarded message: {a.title}\n"
                            "> From: Otto Lind <otto@example.org>; To: notes@example.org; "
                            "Date: Thu, 03 Dec 2026 10:00:00 +0000\n\n"
                            f"> {a.sentences[0]}\n\n> {a.sentences[1]}\n\n> Attachments: minutes.pdf")


def test_undeclared_8bit_text_is_utf8_when_valid_else_windows_1252(tmp_path):
    cp1252 = (b"From: Jos\xe9 Mart\xednez <jose@example.org>\nTo: me@example.org\nSubject: Caf\xe9 \xe0 Paris\n"
              b"Date: Sat, 05 Oct 2024 12:00:00 +0000\nContent-Type: text/plain\n\n"
              b"A body without a charset: caf\xe9 cr\xe8me, \x93quoted\x94.\n")
    (tmp_path / "cp1252.eml").write_bytes(cp1252)
    (tmp_path / "utf8.eml").write_bytes("From: Jürg Kälin <jk@example.org>\nSubject: Grüezi Zürich\n"
                                        "MIME-Version: 1.0\nContent-Type: text/plain\n"
                                        "Content-Transfer-Encoding: 8bit\n\nDer Bäcker am Üetliberg.\n"
                                        .encode("utf-8"))
    recs, errors = _read([tmp_path / "cp1252.eml", tmp_path / "utf8.eml"])
    assert errors == []
    # both were stored with U+FFFD in place of every such letter, without a word
    assert [(r.title, r.text) for r in recs] == [
        ("Café à Paris", "From: José Martínez <jose@example.org>; To: me@example.org; "
                         "Date: Sat, 05 Oct 2024 12:00:00 +0000\n\nA body without a charset: café crème, “quoted”."),
        ("Grüezi Zürich", "From: Jürg Kälin <jk@example.org>\n\nDer Bäcker am Üetliberg.")]


def test_a_message_piped_to_ingest_is_read_as_its_file_is(tmp_path, wiki_docs):
    # `cat msg.eml | mycelial ingest -` stored the raw source: headers, MIME boundaries, base64, untitled
    import io
    import json

    from click.testing import CliRunner

    from core.cli import cli
    from core.memory.chunking import chunk_text
    from core.memory.readers import read_stream

    a = wiki_docs[50]
    msg = _message(f"Über {a.title}")
    msg["Message-ID"] = "<harbour-7@example.org>"
    msg["Received"] = ("from mx.example.org (mx.example.org [192.0.2.7]) by mail.example.org with ESMTPS id "
                       "4Hk2x; Thu, 03 Dec 2026 10:00:01 +0000")  # long: written folded on two lines
    msg.set_content(" ".join(a.sentences[:2]))
    msg.add_alternative(f"<p>{' '.join(a.sentences[:2])}</p>", subtype="html")
    msg.add_attachment(bytes(range(256)), maintype="application", subtype="octet-stream", filename="log.bin")
    mem = str(tmp_path / "mem")
    r = CliRunner().invoke(cli, ["ingest", "-", "--memory", mem, "-q"], input=bytes(msg))
    assert r.exit_code == 0 and "1 document ingested" in r.output, r.output
    doc_id = json.loads(CliRunner().invoke(cli, ["list", "--memory", mem, "--json"]).stdout)[0]["id"]
    got = json.loads(CliRunner().invoke(cli, ["get", doc_id, "--memory", mem, "--json"]).stdout)
    (tmp_path / "msg.eml").write_bytes(bytes(msg))
    (rec,), _ = _read(tmp_path / "msg.eml")
    assert rec.text == ("From: Ida Wren <ida@example.org>; To: notes@example.org; Date: Thu, 03 Dec 2026 10:00:00 "
                        f"+0000\n\n{' '.join(a.sentences[:2])}\n\nAttachments: log.bin")
    assert (got["title"], [c["text"] for c in got["chunks"]]) == (f"Über {a.title}", chunk_text(rec.text))

    def piped(data: bytes):
        errors: list[ReadError] = []
        recs = list(read_stream(io.TextIOWrapper(io.BytesIO(data)), errors))
        return [(r.title, r.text) for r in recs], [e.message for e in errors]

    # 8-bit Windows-1252 under no charset is read as a .eml file's is (it was "not valid UTF-8")
    assert piped(b"From: Jos\xe9 <jose@example.org>\r\nTo: me@example.org\r\nSubject: Caf\xe9\r\n\r\nCr\xe8me.\r\n") == (
        [("Café", "From: José <jose@example.org>; To: me@example.org\n\nCrème.")], [])
    # text that opens with a line or two like headers is text: a note, a memo's metadata
    for text in ("Note: the bell rang at noon.\nSubject: bells\n\nVask heard it.\n",
                 "Title: Harbour\nAuthor: Vask\nDate: 2026-12-03\n\nThe bell rang.\n",
                 "From: Vask\nTo: Ida\nthe bell rang at noon.\n\nMore.\n"):
        assert piped(text.encode("utf-8")) == ([("", text)], []), text
