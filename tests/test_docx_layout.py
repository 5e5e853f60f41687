"""What Word writes around the text of a .docx is read as Word shows it: a text box once (not its VML copy too),
a table inside a table once, a title style of a non-English template as a heading, hidden text and the table of
contents left out, a non-breaking hyphen as a hyphen.

The files are made by python-docx (a dev dependency); the constructs it cannot write (text boxes, fields, content
controls, hidden runs) are patched into its document as the XML Word writes for them.
"""
from __future__ import annotations

import itertools
import zipfile

import docx  # python-docx, a dev dependency: it writes the test documents
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from core.memory.readers import ReadError, read_paths

_NS = nsdecls("w", "wp", "a") + (  # python-docx does not know the last three
    ' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:v="urn:schemas-microsoft-com:vml"'
    ' xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"')


def _blocks(path) -> tuple[str, list[str]]:
    """(title, paragraphs) of the one record the reader the CLI uses makes of ``path``."""
    errors: list[ReadError] = []
    recs = list(read_paths(path, errors))
    assert errors == [] and len(recs) == 1, errors
    return recs[0].title, recs[0].text.split("\n\n")


def _with(path, *xml: str):
    """A .docx at ``path`` whose body holds the blocks ``xml`` (Word's XML, namespaces declared here)."""
    d = docx.Document()
    body = d.element.body
    for block in xml:
        body.insert(len(body) - 1, parse_xml(block))
    d.save(path)
    return path


def _p(inner: str) -> str:
    return f"<w:p {_NS}>{inner}</w:p>"


def _r(text: str, props: str = "") -> str:
    return f'<w:r>{f"<w:rPr>{props}</w:rPr>" if props else ""}<w:t xml:space="preserve">{text}</w:t></w:r>'


def _text_box(text: str) -> str:
    """A floating text box as Word 2010+ writes it: the shape (``mc:Choice``), then its VML copy for older Words
    (``mc:Fallback``), each with the box's paragraph."""
    box = f"<w:txbxContent><w:p>{_r(text)}</w:p></w:txbxContent>"
    return ('<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData '
            'uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp><wps:txbx>'
            f"{box}</wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
            f"<mc:Fallback><w:pict><v:rect><v:textbox>{box}</v:textbox></v:rect></w:pict></mc:Fallback>"
            "</mc:AlternateContent></w:r>")


def test_a_text_box_is_read_once_apart_from_its_sentence(tmp_path):
    # it was read twice (the shape and its VML copy), glued: "Intro. Box text.Box text."
    path = _with(tmp_path / "boxes.docx", _p(_r("Intro.")), _p(_text_box("Box text.")),
                 _p(_r("Before the box ") + _text_box("Second box.") + _r("and after it.")))
    assert _blocks(path)[1] == ["Intro.", "Box text.", "Before the box and after it.", "Second box."]


def test_a_table_in_a_table_gives_each_cell_once(tmp_path):
    # the inner cells came three times: "outer | A B | A | B", then "A | B" as a row of the outer table
    d = docx.Document()
    outer = d.add_table(rows=2, cols=2)
    outer.cell(0, 0).text, outer.cell(1, 0).text, outer.cell(1, 1).text = "outer", "last", "row"
    inner = outer.cell(0, 1).add_table(rows=2, cols=2)
    for (r, c), text in zip(((0, 0), (0, 1), (1, 0), (1, 1)), "ABCD"):
        inner.cell(r, c).text = text
    d.save(tmp_path / "nested.docx")
    assert _blocks(tmp_path / "nested.docx")[1] == ["outer | A B C D\nlast | row"]


def test_a_localized_title_style_is_found_by_its_name(tmp_path):
    # German Word's Title style has the id "Titel", Dutch Word's Heading 1 "Kop1": they were read as plain text
    d = docx.Document()
    d.add_heading("Jahresbericht", 0)
    d.add_paragraph("Erster Absatz.")
    d.add_heading("Kapitel eins", 1)
    d.add_heading("Abschnitt", 2)
    d.save(tmp_path / "english.docx")
    ids = {"Title": "Titel", "Heading1": "Kop1", "Heading2": "Kop2"}
    with zipfile.ZipFile(tmp_path / "english.docx") as src, zipfile.ZipFile(tmp_path / "titel.docx", "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename in ("word/document.xml", "word/styles.xml"):
                for (old, new), attr in itertools.product(ids.items(), ("w:styleId", "w:pStyle w:val")):
                    data = data.replace(f'{attr}="{old}"'.encode(), f'{attr}="{new}"'.encode())  # not w:name
            out.writestr(info, data)
    assert _blocks(tmp_path / "titel.docx") == (
        "Jahresbericht", ["# Jahresbericht", "Erster Absatz.", "# Kapitel eins", "## Abschnitt"])


def test_hidden_text_is_left_out_and_hyphens_read_as_word_shows_them(tmp_path):
    # hidden text was stored; "No‑break" (a non-breaking hyphen) was "Nobreak"
    path = _with(tmp_path / "runs.docx",
                 _p(_r("Visible words ") + _r("HIDDEN WORDS", "<w:vanish/>") + _r("more visible.")),
                 _p(_r("Shown ") + _r("again.", '<w:vanish w:val="0"/>')),
                 _p(_r("No") + "<w:r><w:noBreakHyphen/></w:r>" + _r("break and soft")
                    + "<w:r><w:softHyphen/></w:r>" + _r("hyphen.")))
    assert _blocks(path)[1] == ["Visible words more visible.", "Shown again.", "No-break and softhyphen."]


def _field(instr: str, *result: str) -> list[str]:
    """A field (``instr``) whose result is the paragraphs ``result``, as Word writes it: begin and the
    instruction in the first paragraph, end in the last."""
    begin = (f'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> {instr} '
             '</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>')
    end = '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    return [_p((begin if i == 0 else "") + _r(text) + (end if i == len(result) - 1 else ""))
            for i, text in enumerate(result)]


def test_a_table_of_contents_is_left_out(tmp_path):
    # its entries were stored: "Introduction TOCENTRY 1" at the document's start
    toc = _field('TOC \\o "1-3" \\h \\z \\u', "Introduction\t1", "Methods\t2")
    gallery = (f'<w:sdt {_NS}><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/>'
               f'<w:docPartUnique/></w:docPartObj></w:sdtPr><w:sdtContent>{_p(_r("Contents"))}'
               f'{"".join(toc)}</w:sdtContent></w:sdt>')
    page = _p(_r("On page ") + '<w:fldSimple w:instr=" PAGE "><w:r><w:t>7</w:t></w:r></w:fldSimple>' + _r("."))
    path = _with(tmp_path / "toc.docx", gallery, *toc, _p(_r("Introduction")), page,
                 _p('<w:fldSimple w:instr="TOC \\o">' + _r("Methods 2") + "</w:fldSimple>"))
    assert _blocks(path)[1] == ["Introduction", "On page 7."]  # other fields' results are kept
