"""An e-book whose reading order names chapters the file does not hold is damaged, and says so: it stored the
chapters left without a word (12 of 20 chunks, no error). Real EPUB files written by EbookLib."""
from __future__ import annotations

import zipfile

from ebooklib import epub  # EbookLib, a dev dependency: it writes the test books

from core.memory.readers import read_paths


def _book(path, texts, names=None):
    book = epub.EpubBook()
    book.set_identifier("mycelial-damage")
    book.set_title("Harbour Notes")
    book.set_language("en")
    chapters = []
    for i, text in enumerate(texts):
        c = epub.EpubHtml(title=f"Part {i}", file_name=(names or {}).get(i, f"c{i}.xhtml"), lang="en")
        c.content = f"<h1>Part {i}</h1><p>{text}</p>" if text else "<p></p>"
        book.add_item(c)
        chapters.append(c)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def _without(src, dst, drop):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if not any(info.filename.endswith(d) for d in drop):
                zout.writestr(info, zin.read(info))
    return dst


def _read(path):
    recs, errors = [], []
    for rec in read_paths([str(path)], errors):
        recs.append(rec)
    return recs, errors


def test_chapters_missing_from_the_file_are_one_error_naming_them(tmp_path):
    texts = [f"The ferry of Pellow ran {n} times a day in the summer of 1921." for n in range(1, 5)]
    good = _book(tmp_path / "good.epub", texts)
    recs, errors = _read(good)
    assert errors == [] and "Part 3" in recs[0].text
    recs, errors = _read(_without(good, tmp_path / "holes.epub", ["c1.xhtml", "c3.xhtml"]))
    assert recs == [] and len(errors) == 1, (recs, errors)
    assert errors[0].message.startswith("damaged .epub: 2 of the chapters its reading order names are not in the "
                                        "file (EPUB/c1.xhtml, EPUB/c3.xhtml)"), errors[0].message


def test_a_chapter_named_with_an_escaped_space_is_found_and_an_empty_book_says_an_e_book(tmp_path):
    texts = ["The lock keeper of Orla counted barges.", "Eels ran up the Orla stream in May."]
    recs, errors = _read(_book(tmp_path / "spaced.epub", texts, names={1: "part two.xhtml"}))
    assert errors == [] and "Eels ran up" in recs[0].text, errors
    recs, errors = _read(_book(tmp_path / "blank.epub", ["", ""]))
    assert recs == [] and "(an e-book with no paragraph of text)" in errors[0].message, errors
