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
