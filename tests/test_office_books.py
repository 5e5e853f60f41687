"""Word documents (.docx), OpenDocument texts (.odt) and e-books (.epub) are read: paragraphs and chapters,
headings as Markdown lines, a table a row a line, the title from the document's own metadata. They were counted
as "unsupported" in a folder and refused by name.

The files are made by python-docx, odfpy and EbookLib (real writers of those formats, dev dependencies) from real
WikiText articles; real model, SQLite, FAISS for the end-to-end part.
"""
from __future__ import annotations

import zipfile

import docx  # python-docx, a dev dependency: it writes the test documents
from ebooklib import epub  # EbookLib, a dev dependency: it writes the test books
from odf import dc as odf_dc, table as odf_table, text as odf_text  # odfpy, a dev dependency: the .odt files
from odf.opendocument import OpenDocumentText

from core.memory.readers import ReadError, read_paths


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def _word(path, article, title: str | None = None, heading: bool = True):
    """A .docx of ``article``'s first sentences: a heading, two paragraphs, a section, a table."""
    d = docx.Document()
    if title is not None:
        d.core_properties.title = title
    if heading:
        d.add_heading(article.title, level=1)
    d.add_paragraph(" ".join(article.sentences[:2]))
    d.add_paragraph(" ".join(article.sentences[2:4]))
    d.add_heading("Details", level=2)
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in zip(((0, 0), (0, 1), (1, 0), (1, 1)), ("name", "value", "first", article.sentences[4][:40])):
        table.cell(r, c).text = text
    d.add_paragraph("")  # an empty paragraph is left out
    d.save(path)
    return path


def test_a_word_document_gives_its_paragraphs_headings_and_tables(tmp_path, wiki_docs):
    a = wiki_docs[0]
    recs, errors = _read(_word(tmp_path / "notes.docx", a, title="Report on " + a.title))
    assert errors == [] and len(recs) == 1 and recs[0].merge
    rec = recs[0]
    assert rec.title == "Report on " + a.title and rec.doc_id.endswith("/notes.docx")
    assert rec.text.split("\n\n") == [f"# {a.title}", " ".join(a.sentences[:2]), " ".join(a.sentences[2:4]),
                                      "## Details", f"name | value\nfirst | {a.sentences[4][:40]}"]
    recs, _ = _read(_word(tmp_path / "untitled.docx", a))  # no title property: the first heading
    assert recs[0].title == a.title
    recs, _ = _read(_word(tmp_path / "plain_notes.docx", a, heading=False))  # neither: the file's name
    assert recs[0].title == "plain notes"


def test_a_folder_reads_its_word_documents_and_e_books(tmp_path, wiki_docs):
    from core.memory._ingest_progress import _expected_documents

    (tmp_path / "docs").mkdir()
    _word(tmp_path / "docs" / "a.docx", wiki_docs[1])
    (tmp_path / "docs" / "b.txt").write_text(" ".join(wiki_docs[2].sentences[:3]), encoding="utf-8")
    (tmp_path / "docs" / "c.xlsx").write_bytes(b"PK\x03\x04")
    _book(tmp_path / "docs" / "d.epub", wiki_docs[9:11])
    recs, errors = _read(tmp_path / "docs")
    assert [r.doc_id for r in recs] == ["a.docx", "b.txt", "d.epub"]
    assert [e.message.split(";")[0] for e in errors] == ["skipped 1 unsupported file (.xlsx 1)"]
    assert _expected_documents([str(tmp_path / "docs")]) == 3


def test_a_bad_word_document_is_one_clear_error_in_bounded_memory(tmp_path, wiki_docs):
    from _peak import traced_peak

    good = _word(tmp_path / "good.docx", wiki_docs[3]).read_bytes()
    (tmp_path / "cut.docx").write_bytes(good[:len(good) // 2])
    with zipfile.ZipFile(tmp_path / "other.docx", "w") as zf:  # a zip, but no Word document
        zf.writestr("content.xml", "<x/>")
    with zipfile.ZipFile(tmp_path / "dtd.docx", "w") as zf:  # entity expansion ("billion laughs") is refused
        zf.writestr("word/document.xml", '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>')
    with zipfile.ZipFile(tmp_path / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as zf:  # 60 MB of zeros in 60 KB
        with zf.open("word/document.xml", "w") as fh:
            for _ in range(60):
                fh.write(b"0" * (1 << 20))
    d = docx.Document()
    d.add_paragraph("   ")
    d.save(tmp_path / "empty.docx")
    names = ["cut.docx", "other.docx", "dtd.docx", "bomb.docx", "empty.docx"]
    (recs, errors), peak = traced_peak(lambda: _read([tmp_path / n for n in names], max_bytes=8 << 20))
    assert recs == []
    got = {e.source.rsplit("/", 1)[1]: e.message for e in errors}
    assert got["cut.docx"].startswith("not a readable .docx (a zip of XML)")
    assert got["other.docx"] == "no word/document.xml: not a Word document (.docx), or a damaged one"
    assert got["dtd.docx"] == "its XML declares a DTD or entities, which no .docx needs; not read"
    assert got["bomb.docx"].startswith("word/document.xml inflates to more than 8,388,608 bytes")
    assert got["empty.docx"] == "empty file (a Word document with no paragraph of text); nothing to store"
    assert [e.skipped for e in errors] == [False, False, False, False, True]
    assert peak < 24 << 20, peak  # the limit, not the 60 MB


def test_a_word_document_is_recalled_and_uploaded(tmp_path, wiki_docs, embedder):
    from core.memory import SemanticMemory
    from core.server.uploads import files_records

    a = wiki_docs[4]
    path = _word(tmp_path / "essay.docx", a, title=a.title)
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        rep = mem.ingest(str(path))
        assert rep.documents == 1 and not rep.errors, rep.to_dict()
        hits = mem.recall(a.sentences[2], k=1, mode="similar")
        assert hits[0].title == a.title and a.sentences[2][:60] in hits[0].text
    recs, errors, skipped = files_records([("essay.docx", path.read_bytes())])
    assert [(r.doc_id, r.title) for r in recs] == [("file:essay.docx", a.title)] and not errors and not skipped


def _book(path, articles, title: str | None = "Articles"):
    """An .epub of one chapter an article (its title a heading, three sentences), with EPUB 3's nav page."""
    book = epub.EpubBook()
    book.set_identifier("mycelial-test")
    if title is not None:
        book.set_title(title)
    book.set_language("en")
    chapters = []
    for i, a in enumerate(articles):
        c = epub.EpubHtml(title=a.title, file_name=f"c{i}.xhtml", lang="en")
        c.content = f"<h1>{a.title}</h1><p>{' '.join(a.sentences[:3])}</p><script>ignored()</script>"
        book.add_item(c)
        chapters.append(c)
    book.toc = tuple(chapters)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def test_an_e_book_gives_its_chapters_in_reading_order(tmp_path, wiki_docs):
    arts = wiki_docs[5:8]
    recs, errors = _read(_book(tmp_path / "articles.epub", arts))
    assert errors == [] and len(recs) == 1 and recs[0].title == "Articles" and recs[0].merge
    want = [part for a in arts for part in (f"# {a.title}", " ".join(a.sentences[:3]))]
    assert recs[0].text.split("\n\n") == want  # no table of contents, no script
    recs, _ = _read(_book(tmp_path / "no_title.epub", arts[:1], title=None))
    assert recs[0].title == "no title"


def test_a_bad_e_book_is_one_clear_error(tmp_path, wiki_docs):
    good = _book(tmp_path / "good.epub", wiki_docs[8:9]).read_bytes()
    (tmp_path / "cut.epub").write_bytes(good[:len(good) // 2])
    with zipfile.ZipFile(tmp_path / "other.epub", "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
    with zipfile.ZipFile(tmp_path / "good.epub") as src, zipfile.ZipFile(tmp_path / "drm.epub", "w") as zf:
        for info in src.infolist():
            zf.writestr(info, src.read(info))
        zf.writestr("META-INF/encryption.xml", '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                    'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
                    '<enc:CipherReference URI="EPUB/c0.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>')
    recs, errors = _read([tmp_path / n for n in ("cut.epub", "other.epub", "drm.epub")])
    got = {e.source.rsplit("/", 1)[1]: e.message for e in errors}
    assert recs == [] and got["cut.epub"].startswith("not a readable .epub (a zip of XHTML)"), got
    assert got["other.epub"] == "no META-INF/container.xml naming its package: not an EPUB, or a damaged one"
    assert got["drm.epub"] == "its chapters are encrypted (DRM); not read"


def test_a_gzipped_word_document_or_e_book_names_gunzip(tmp_path, wiki_docs):
    import gzip

    (tmp_path / "a.docx.gz").write_bytes(gzip.compress(_word(tmp_path / "a.docx", wiki_docs[0]).read_bytes()))
    (tmp_path / "b.epub.gz").write_bytes(gzip.compress(_book(tmp_path / "b.epub", wiki_docs[1:2]).read_bytes()))
    recs, errors = _read([tmp_path / "a.docx.gz", tmp_path / "b.epub.gz"])
    assert recs == [] and [e.message.split("; ")[0] for e in errors] == [
        "unsupported file type '.docx.gz'", "unsupported file type '.epub.gz'"]
    assert all(e.message.endswith("files are read only decompressed: `gunzip -k FILE` first") for e in errors)


def _odt(path, article, title: str | None = None):
    """An .odt of ``article``: a heading, a paragraph with a space element and a footnote, a list, a table."""
    doc = OpenDocumentText()
    if title is not None:
        doc.meta.addElement(odf_dc.Title(text=title))
    doc.text.addElement(odf_text.H(outlinelevel=1, text=article.title))
    para = odf_text.P(text=article.sentences[0])
    para.addElement(odf_text.S(c=1))
    para.addText(article.sentences[1])
    note = odf_text.Note(noteclass="footnote")
    body = odf_text.NoteBody()
    body.addElement(odf_text.P(text="A footnote."))
    note.addElement(body)
    para.addElement(note)
    doc.text.addElement(para)
    items = odf_text.List()
    for sentence in article.sentences[2:4]:
        item = odf_text.ListItem()
        item.addElement(odf_text.P(text=sentence))
        items.addElement(item)
    doc.text.addElement(items)
    grid = odf_table.Table()
    row = odf_table.TableRow()
    for cell_text in ("name", article.title):
        cell = odf_table.TableCell()
        cell.addElement(odf_text.P(text=cell_text))
        row.addElement(cell)
    grid.addElement(row)
    doc.text.addElement(grid)
    doc.text.addElement(odf_text.H(outlinelevel=2, text="Details"))
    doc.save(str(path))
    return path


def test_an_opendocument_text_gives_its_paragraphs_lists_and_tables(tmp_path, wiki_docs):
    a = wiki_docs[12]
    recs, errors = _read([_odt(tmp_path / "a.odt", a, title="Notes"), _odt(tmp_path / "b.odt", a)])
    assert errors == [] and [r.title for r in recs] == ["Notes", a.title] and recs[0].merge
    assert recs[0].text.split("\n\n") == [f"# {a.title}", f"{a.sentences[0]} {a.sentences[1]}", a.sentences[2],
                                            a.sentences[3], f"name | {a.title}", "## Details"]  # no footnote
    with zipfile.ZipFile(tmp_path / "other.odt", "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    recs, errors = _read(tmp_path / "other.odt")
    assert recs == [] and errors[0].message == "no content.xml: not an OpenDocument text (.odt), or a damaged one"


def test_an_opendocument_comment_is_left_out_of_its_sentence(tmp_path):
    # the comment was put into the sentence, its author glued: "Commented textBobReviewer note continues."
    from odf import office as odf_office

    doc = OpenDocumentText()
    para = odf_text.P(text="Commented text")
    note = odf_office.Annotation(name="c1")
    note.addElement(odf_dc.Creator(text="Bob"))
    note.addElement(odf_dc.Date(text="2024-05-01T10:00:00"))
    note.addElement(odf_text.P(text="Reviewer note"))
    para.addElement(note)
    para.addText(" continues")
    para.addElement(odf_office.AnnotationEnd(name="c1"))
    para.addText(".")
    doc.text.addElement(para)
    doc.save(str(tmp_path / "commented.odt"))
    recs, errors = _read(tmp_path / "commented.odt")
    assert errors == [] and recs[0].text == "Commented text continues."


def test_an_opendocument_text_frame_is_a_paragraph_of_its_own(tmp_path):
    # a frame's text was glued into the paragraph it is anchored in ("The river runs northSidebar: the VistulaIt
    # is 1047 km long. to the Baltic Sea."), and a frame anchored to the page was left out
    from odf import draw as odf_draw

    def frame(*lines, anchor="paragraph"):
        box = odf_draw.TextBox()
        for line in lines:
            box.addElement(odf_text.P(text=line) if isinstance(line, str) else line)
        shape = odf_draw.Frame(name=f"Frame{id(box)}", anchortype=anchor, width="5cm", height="2cm")
        shape.addElement(box)
        return shape

    doc = OpenDocumentText()
    doc.text.addElement(frame("A page frame about Gdansk.", anchor="page"))  # LibreOffice writes it before the text
    para = odf_text.P(text="The river runs north")
    para.addElement(frame("Sidebar: the Vistula", "It is 1047 km long."))
    para.addText(" to the Baltic Sea.")
    doc.text.addElement(para)
    image = odf_draw.Frame(name="Image1", anchortype="as-char", width="5cm", height="3cm")
    image.addElement(odf_draw.Image(href="Pictures/map.png"))
    caption = odf_text.P()  # a captioned image: a frame holding the image and its caption
    caption.addElement(image)
    caption.addText("Illustration 1: A map of Warsaw")
    holder = odf_text.P()
    holder.addElement(frame(caption, anchor="as-char"))
    doc.text.addElement(holder)
    doc.save(str(tmp_path / "frames.odt"))
    recs, errors = _read(tmp_path / "frames.odt")
    assert errors == [] and recs[0].text.split("\n\n") == [
        "A page frame about Gdansk.", "The river runs north to the Baltic Sea.", "Sidebar: the Vistula",
        "It is 1047 km long.", "Illustration 1: A map of Warsaw"]


def test_a_line_break_in_a_word_or_opendocument_paragraph_keeps_its_line(tmp_path):
    # Shift+Enter's line break read as a space: an address's lines were one line ("Jane Doe 1 Main Street"),
    # a list of people one name; a page break inside a paragraph stays a space, a heading one line
    from docx.enum.text import WD_BREAK

    from core.memory.chunking import chunk_text

    d = docx.Document()
    head = d.add_heading("Letter", level=1)
    head.runs[0].add_break()
    head.add_run("to Jane")
    p = d.add_paragraph()
    for i, line in enumerate(["Jane Doe", "Alice Smith", "1 Main Street"]):
        run = p.add_run(line)
        run.add_break(WD_BREAK.LINE if i < 2 else WD_BREAK.PAGE)
    p.add_run("Springfield")
    d.save(str(tmp_path / "letter.docx"))
    doc = OpenDocumentText()
    para = odf_text.P(text="Jane Doe")
    for line in ("Alice Smith", "1 Main Street Springfield"):
        para.addElement(odf_text.LineBreak())
        para.addText(line)
    head = odf_text.H(outlinelevel=1, text="Letter")
    head.addElement(odf_text.LineBreak())
    head.addText("to Jane")
    doc.text.addElement(head)
    doc.text.addElement(para)
    doc.save(str(tmp_path / "letter.odt"))
    recs, errors = _read([tmp_path / "letter.docx", tmp_path / "letter.odt"])
    assert errors == [] and len(recs) == 2
    for rec in recs:
        assert chunk_text(rec.text) == ["# Letter to Jane\nJane Doe\nAlice Smith\n1 Main Street Springfield"], \
            rec.source
