"""PowerPoint (.pptx) and OpenDocument (.odp) presentations are read: a slide at a time in the deck's order, its
title a Markdown heading, its text boxes, tables and speaker notes; dates, footers and slide numbers left out.
They were counted as "unsupported" in a folder and refused by name.

The files are made by python-pptx and odfpy (real writers of those formats, dev dependencies) from real WikiText
articles; real model, SQLite, FAISS for the end-to-end part.
"""
from __future__ import annotations

import zipfile

import pptx  # python-pptx, a dev dependency: it writes the test presentations
from odf import dc as odf_dc, draw as odf_draw, presentation as odf_presentation, style as odf_style
from odf import text as odf_text
from odf.namespaces import PRESENTATIONNS
from odf.opendocument import OpenDocumentPresentation
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.util import Inches

from core.memory.readers import ReadError, read_paths

_ON_EVERY_SLIDE = (PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER)


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def _deck(path, articles, title: str | None = None, first_last: bool = False):
    """A .pptx: a title slide (the first article's title, a subtitle), then a slide an article (its title, two
    bullets, a footer and slide number, speaker notes), the last with a table and a group of two text boxes.
    ``first_last``: the title slide is moved to the end of the deck's slide list (its file stays slide1.xml)."""
    deck = pptx.Presentation()
    if title is not None:
        deck.core_properties.title = title
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = articles[0].title
    first.placeholders[1].text = "Notes on " + ", ".join(a.title for a in articles[1:])
    for a in articles[1:]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = a.title
        body = slide.placeholders[1].text_frame
        body.text = a.sentences[0]
        body.add_paragraph().text = a.sentences[1]
        for ph in slide.slide_layout.placeholders:
            if ph.placeholder_format.type in _ON_EVERY_SLIDE:
                slide.shapes.clone_placeholder(ph)
        for ph in slide.placeholders:
            if ph.placeholder_format.type in _ON_EVERY_SLIDE:
                ph.text = "Mycelial reading group 2026"
        slide.notes_slide.notes_text_frame.text = a.sentences[2]
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(6), Inches(1)).table
    for (r, c), text in zip(((0, 0), (0, 1), (1, 0), (1, 1)), ("name", "value", "first", articles[-1].title)):
        table.cell(r, c).text = text
    group = slide.shapes.add_group_shape()
    for i, words in enumerate(("grouped box one", "grouped box two")):
        group.shapes.add_textbox(Inches(1 + 3 * i), Inches(6), Inches(2), Inches(1)).text_frame.text = words
    if first_last:
        ids = deck.slides._sldIdLst
        ids.append(ids[0])  # moved: lxml keeps one element in one place
    deck.save(path)
    return path


def _slides(articles) -> list[str]:
    """What `_deck` holds, as the reader gives it (paragraphs of the text), title slide first."""
    head = [f"# {articles[0].title}", "Notes on " + ", ".join(a.title for a in articles[1:])]
    body = []
    for a in articles[1:]:
        body += [f"# {a.title}", f"{a.sentences[0]}\n{a.sentences[1]}"]
        if a is articles[-1]:
            body += [f"name | value\nfirst | {a.title}", "grouped box one", "grouped box two"]
        body.append(a.sentences[2])
    return head + body


def test_a_presentation_gives_its_slides_titles_tables_and_notes(tmp_path, wiki_docs):
    arts = wiki_docs[0:3]
    recs, errors = _read(_deck(tmp_path / "talk.pptx", arts, title="A talk on " + arts[0].title))
    assert errors == [] and len(recs) == 1 and recs[0].merge
    rec = recs[0]
    assert rec.title == "A talk on " + arts[0].title and rec.doc_id.endswith("/talk.pptx")
    assert rec.text.split("\n\n") == _slides(arts)  # no footer, date or slide number
    assert "reading group" not in rec.text
    recs, _ = _read(_deck(tmp_path / "untitled.pptx", arts))  # no title of its own: its first slide's
    assert recs[0].title == arts[0].title


def test_slides_come_in_the_decks_order_not_their_files(tmp_path, wiki_docs):
    arts = wiki_docs[3:6]
    recs, errors = _read(_deck(tmp_path / "moved.pptx", arts, first_last=True))
    want = _slides(arts)
    assert errors == [] and recs[0].text.split("\n\n") == want[2:] + want[:2]
    assert recs[0].title == arts[1].title  # the first slide the deck shows


def test_a_bad_presentation_is_one_clear_error_in_bounded_memory(tmp_path, wiki_docs):
    from _peak import traced_peak

    good = _deck(tmp_path / "good.pptx", wiki_docs[6:8]).read_bytes()
    (tmp_path / "cut.pptx").write_bytes(good[:len(good) // 2])
    with zipfile.ZipFile(tmp_path / "other.pptx", "w") as zf:  # a zip, but no presentation
        zf.writestr("word/document.xml", "<x/>")
    with zipfile.ZipFile(tmp_path / "good.pptx") as src, zipfile.ZipFile(tmp_path / "bomb.pptx", "w",
                                                                          zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():  # every slide small, together past the limit: 30 slides of 2 MB each
            if info.filename not in ("ppt/presentation.xml", "ppt/_rels/presentation.xml.rels"):
                zf.writestr(info, src.read(info))
        for i in range(3, 33):
            zf.writestr(f"ppt/slides/slide{i}.xml", b"<x>" + b"0" * (2 << 20) + b"</x>")
        zf.writestr("ppt/_rels/presentation.xml.rels", _many_slides(src.read("ppt/_rels/presentation.xml.rels")))
        zf.writestr("ppt/presentation.xml", _many_ids(src.read("ppt/presentation.xml")))
    with zipfile.ZipFile(tmp_path / "dtd.pptx", "w") as zf:
        zf.writestr("ppt/presentation.xml", '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>')
    empty = pptx.Presentation()
    empty.slides.add_slide(empty.slide_layouts[6])  # a blank slide
    empty.save(tmp_path / "empty.pptx")
    names = ["cut.pptx", "other.pptx", "bomb.pptx", "dtd.pptx", "empty.pptx"]
    (recs, errors), peak = traced_peak(lambda: _read([tmp_path / n for n in names], max_bytes=8 << 20))
    got = {e.source.rsplit("/", 1)[1]: e.message for e in errors}
    assert recs == [] and got["cut.pptx"].startswith("not a readable .pptx (a zip of XML)"), got
    assert got["other.pptx"] == "no ppt/presentation.xml: not a PowerPoint presentation (.pptx), or a damaged one"
    assert "inflates to more than" in got["bomb.pptx"] and "(a zip bomb?)" in got["bomb.pptx"]
    assert got["dtd.pptx"] == "its XML declares a DTD or entities, which no .pptx needs; not read"
    assert got["empty.pptx"] == "empty file (a presentation with no paragraph of text); nothing to store"
    assert [e.skipped for e in errors] == [False, False, False, False, True]
    assert peak < 24 << 20, peak  # the one-file limit for the whole deck, not 60 MB of slides


def _many_slides(rels: bytes) -> bytes:
    extra = "".join(f'<Relationship Id="rIdX{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    f'relationships/slide" Target="slides/slide{i}.xml"/>' for i in range(3, 33))
    return rels.replace(b"</Relationships>", extra.encode() + b"</Relationships>")


def _many_ids(pres: bytes) -> bytes:
    extra = "".join(f'<p:sldId id="{300 + i}" r:id="rIdX{i}"/>' for i in range(3, 33))
    return pres.replace(b"</p:sldIdLst>", extra.encode() + b"</p:sldIdLst>")


def _impress(path, articles, title: str | None = None):
    """An .odp: a slide an article (a title frame, a bulleted outline of two sentences, a footer frame, notes)."""
    doc = OpenDocumentPresentation()
    if title is not None:
        doc.meta.addElement(odf_dc.Title(text=title))
    layout = odf_style.PageLayout(name="PM1")
    doc.automaticstyles.addElement(layout)
    master = odf_style.MasterPage(name="Default", pagelayoutname=layout)
    doc.masterstyles.addElement(master)
    for a in articles:
        page = odf_draw.Page(name=a.title, masterpagename=master)
        doc.presentation.addElement(page)
        _frame(page, "title").addElement(odf_text.P(text=a.title))
        items = odf_text.List()
        _frame(page, "outline").addElement(items)
        for s in a.sentences[:2]:
            item = odf_text.ListItem()
            item.addElement(odf_text.P(text=s))
            items.addElement(item)
        _frame(page, "footer").addElement(odf_text.P(text="Mycelial reading group 2026"))
        notes = odf_presentation.Notes()
        page.addElement(notes)
        _frame(notes, "notes").addElement(odf_text.P(text=a.sentences[2]))
    doc.save(str(path))
    return path


def _frame(parent, kind: str):
    frame = odf_draw.Frame(width="20cm", height="3cm", x="1cm", y="1cm")
    frame.setAttrNS(PRESENTATIONNS, "class", kind)
    parent.addElement(frame)
    box = odf_draw.TextBox()
    frame.addElement(box)
    return box


def test_an_opendocument_presentation_gives_its_slides_and_notes(tmp_path, wiki_docs):
    arts = wiki_docs[8:10]
    recs, errors = _read(_impress(tmp_path / "deck.odp", arts, title="Two articles"))
    assert errors == [] and len(recs) == 1 and recs[0].title == "Two articles"
    want = [part for a in arts for part in (f"# {a.title}", f"{a.sentences[0]}\n{a.sentences[1]}", a.sentences[2])]
    assert recs[0].text.split("\n\n") == want and "reading group" not in recs[0].text
    recs, _ = _read(_impress(tmp_path / "plain.odp", arts))
    assert recs[0].title == arts[0].title


def test_a_folder_reads_its_presentations_and_they_are_recalled_and_uploaded(tmp_path, wiki_docs, embedder):
    from core.memory import SemanticMemory
    from core.server.uploads import files_records

    arts = wiki_docs[10:13]
    (tmp_path / "talks").mkdir()
    _deck(tmp_path / "talks" / "a.pptx", arts, title="Talk A")
    _impress(tmp_path / "talks" / "b.odp", wiki_docs[13:15], title="Talk B")
    (tmp_path / "talks" / "c.ppt").write_bytes(b"\xd0\xcf\x11\xe0")  # the old binary format stays unread
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        rep = mem.ingest(str(tmp_path / "talks"))
        assert (rep.documents, [e.message.split(";")[0] for e in rep.errors]) == (
            2, ["skipped 1 unsupported file (.ppt 1)"]), rep.to_dict()
        hits = mem.recall(arts[2].sentences[2], k=1, mode="similar")  # a speaker's note
        assert hits[0].title == "Talk A" and arts[2].sentences[2][:60] in hits[0].text
    recs, errors, skipped = files_records([("a.pptx", (tmp_path / "talks" / "a.pptx").read_bytes()),
                                           ("b.odp", (tmp_path / "talks" / "b.odp").read_bytes())])
    assert [(r.doc_id, r.title) for r in recs] == [("file:a.pptx", "Talk A"), ("file:b.odp", "Talk B")]
    assert not errors and not skipped


def test_hidden_slides_are_left_out(tmp_path):
    # a hidden slide (PowerPoint's "Hide Slide", Impress's "Hide Slide") was read as if shown
    deck = pptx.Presentation()
    for words in ("Hidden opener", "Shown one", "Hidden middle", "Shown two"):
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
        slide.shapes.title.text = words
        if words.startswith("Hidden"):
            slide._element.set("show", "0")
    deck.save(tmp_path / "hidden.pptx")
    doc = OpenDocumentPresentation()
    layout = odf_style.PageLayout(name="PM1")
    doc.automaticstyles.addElement(layout)
    master = odf_style.MasterPage(name="Default", pagelayoutname=layout)
    doc.masterstyles.addElement(master)
    for words in ("Hidden opener", "Shown one", "Hidden middle", "Shown two"):
        page = odf_draw.Page(name=words, masterpagename=master)
        if words.startswith("Hidden"):
            page.setAttrNS(PRESENTATIONNS, "visibility", "hidden")
        doc.presentation.addElement(page)
        _frame(page, "title").addElement(odf_text.P(text=words))
    doc.save(str(tmp_path / "hidden.odp"))
    recs, errors = _read([tmp_path / "hidden.pptx", tmp_path / "hidden.odp"])
    assert errors == [] and [(r.title, r.text) for r in recs] == [("Shown one", "# Shown one\n\n# Shown two")] * 2


def test_a_line_break_in_a_slides_paragraph_keeps_its_line(tmp_path):
    # PowerPoint's Shift+Enter (a:br) read as a space: "Jane Doe Alice Smith" was one name; a table's cell and a
    # title stay one line
    from core.memory.chunking import chunk_text

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    slide.shapes.title.text = "Team\vLeads"  # python-pptx writes "\v" as a line break
    slide.placeholders[1].text_frame.text = "Jane Doe\vAlice Smith"
    table = slide.shapes.add_table(1, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Role", "Lead\vDesign"
    deck.save(tmp_path / "team.pptx")
    (rec,), errors = _read(tmp_path / "team.pptx")
    assert errors == [] and rec.title == "Team Leads"
    assert chunk_text(rec.text) == ["# Team Leads\nJane Doe\nAlice Smith\nRole | Lead Design"]
