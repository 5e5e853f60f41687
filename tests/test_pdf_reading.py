"""PDFs read as a person reads them: running headers, footers and page numbers out, words hyphenated at a line's
end whole, a sentence over a page break in one paragraph, the title from the document information dictionary.

Before: pypdf's text of each page was joined with a blank line, headers, footers and page numbers inside it (a
sentence cut at each page break, "Page 3 of 9" a concept), "associa-" "tion" two words, and the title was always
the file's name."""
from __future__ import annotations

from collections import Counter

import pytest

from core.memory._pdf import (continues, edge_number, join_hyphens, page_blocks, page_number, pdf_text, pdf_title,
                              roman_page, strip_running)
from _memory_helpers import read_one, write_pdf

BODY = [["The Danube flows east.", "It passes four capitals."], ["Vienna lies on it.", "So does Budapest."],
        ["Its delta is in Romania.", "Many birds nest there."], ["Boats carry grain on it.", "It freezes rarely."],
        ["Fish are plentiful.", "Anglers come in spring."], ["The river is long.", "It ends in the Black Sea."]]


def test_a_running_header_and_page_numbers_are_left_out_and_the_first_page_keeps_its_title():
    pages = [["River Board Annual Report", *body, f"Page {i + 1} of 6"] for i, body in enumerate(BODY)]
    assert strip_running(pages) == [["River Board Annual Report", *BODY[0]], *BODY[1:]]


def test_a_chapter_head_with_its_page_number_is_left_out_but_body_text_at_an_edge_stays():
    # texinfo's way: a chapter's first page has its number alone, the others "Chapter N: name PAGE" (the page's
    # printed number is its index - 2: two cover pages). A line repeated once or twice, or ending in a number that
    # is not in the sequence, is body text.
    pages = [["Rivers of Europe"], ["Copyright notice."], ["1", "1 The Danube", "The Danube flows east."],
             ["Chapter 1: The Danube 2", "Vienna lies on it.", "See Table 7"],
             ["Chapter 1: The Danube 3", "Vienna lies on it.", "Its delta is in Romania."],
             ["4", "2 The Rhine", "The Rhine flows north."], ["Chapter 2: The Rhine 5", "Boats carry grain."],
             ["Chapter 2: The Rhine 6", "It ends at sea in 1999"]]
    assert strip_running(pages) == [
        ["Rivers of Europe"], ["Copyright notice."], ["1 The Danube", "The Danube flows east."],
        ["Vienna lies on it.", "See Table 7"], ["Vienna lies on it.", "Its delta is in Romania."],
        ["2 The Rhine", "The Rhine flows north."], ["Boats carry grain."], ["It ends at sea in 1999"]]


def test_a_number_alone_is_a_page_number_only_in_its_sequence():
    # a table's last cell ("42") at one page's foot stays; front matter's "ii" goes, an index's letter "I" stays
    pages = [["Rivers"], ["Contents", "ii"], ["I", "Intro, 3"], ["Body text.", "42"], ["More text.", "4"],
             ["Yet more.", "5"], ["The end.", "6"]]
    assert strip_running(pages) == [["Rivers"], ["Contents"], ["I", "Intro, 3"], ["Body text.", "42"],
                                    ["More text."], ["Yet more."], ["The end."]]


@pytest.mark.parametrize("line, number", [("12", 12), ("- 12 -", 12), ("\u2014 12 \u2014", 12), ("(12)", 12),
                                          ("Page 12", 12), ("page 12 of 40", 12), ("12 / 40", 12), ("p. 12", 12),
                                          ("12 apples", None), ("Route 66 north", None), ("", None)])
def test_page_number_forms(line, number):
    assert page_number(line) == number


def test_roman_and_edge_numbers():
    assert [roman_page(x) for x in ("i", "iv", "xii", "xlix", "I", "mix", "vi x")] == [1, 4, 12, 49, None, None, None]
    assert [edge_number(x) for x in ("12 CHAPTER 1. INTRODUCTION", "1.2 Scope 13", "Report, page 3 of 9",
                                     "version 4.19.0", "Plain words")] == [12, 13, 3, None, None]


def test_a_word_hyphenated_at_a_line_end_is_made_whole_and_a_compound_keeps_its_hyphen():
    words = Counter({"well-known": 2, "database": 1, "data-base": 0})
    lines = ["the associa-", "tion of rivers, a well-", "known one, the data-", "base of the ELE-", "MENT and an e-",
             "mail from the Anglo-", "Saxon state-of-the-", "art, for ex-", "ample.", "Soft\u00ad", "ware, ASN1-",
             "value, end -", "here"]
    assert join_hyphens(lines, words) == [
        "the association", "of rivers, a well-known", "one, the database", "of the ELEMENT", "and an e-mail",
        "from the Anglo-Saxon", "state-of-the-art,", "for example.", "Software,", "ASN1-", "value, end -", "here"]


def test_a_compound_the_document_writes_nowhere_else_keeps_its_hyphen(tmp_path):
    # it was "selfcontained", "nontrivial": the document's own words were the only evidence asked for
    lines = ["a self-", "contained idea, contain-", "ing a non-", "trivial hyphena-", "tion, there-", "fore a photo-",
             "synthesis of in-", "formation"]
    assert join_hyphens(lines, Counter()) == [
        "a self-contained", "idea, containing", "a non-trivial", "hyphenation,", "therefore", "a photo-synthesis",
        "of information"]
    write_pdf(tmp_path / "h.pdf", ["The self-", "contained unit is well-", "known for its rare hyphena-",
                                   "tion and its non-", "trivial use."])
    assert read_one(tmp_path / "h.pdf").text == ("The self-contained\nunit is well-known\nfor its rare hyphenation\n"
                                                 "and its non-trivial\nuse.")


def test_the_document_decides_a_hyphen_it_writes_both_ways():
    lines = ["a co-", "operation"]
    assert join_hyphens(lines, Counter({"co-operation": 3, "cooperation": 1})) == ["a co-operation"]
    assert join_hyphens(lines, Counter({"co-operation": 1, "cooperation": 3})) == ["a cooperation"]


def test_a_sentence_over_a_page_break_stays_in_one_paragraph():
    assert continues("The Danube flows", "east to the sea.") and continues("as e.g.", "the Rhine")
    assert continues("four capitals:", "Vienna, Bratislava") and not continues("It ends.", "Vienna lies on it.")
    assert not continues("\u201cIt ends.\u201d", "Vienna")
    assert page_blocks([["One.", "The Danube"], ["flows east."], ["Vienna lies on it."]]) == [
        ["One.", "The Danube", "flows east."], ["Vienna lies on it."]]


def test_pdf_text_puts_it_together():
    pages = ["Rivers\nThe Danube flows east-\n1", "Rivers\nward to the sea.\n2", "Rivers\nVienna lies on it.\n3"]
    assert pdf_text(pages) == "Rivers\nThe Danube flows eastward\nto the sea.\n\nVienna lies on it."
    assert pdf_text(["", "  \n"]) == ""


def test_an_identifier_cut_after_an_underscore_at_a_line_end_is_made_whole(tmp_path):
    write_pdf(tmp_path / "api.pdf", [["It fails with ASN1_MAX_", "NAME_SIZE characters, or the function asn1_der_",
                                      "decoding() fails. A lone _", "stays where it is."]])
    text = read_one(tmp_path / "api.pdf").text
    assert "ASN1_MAX_NAME_SIZE" in text and "asn1_der_decoding()" in text
    assert "_ NAME" not in text and "der_ decoding" not in text
    assert "A lone _" in text  # no identifier before it: not cut


def test_a_table_of_contents_is_left_out_its_titles_being_the_headings_again(tmp_path):
    # "7.1 Hash functions . . . . . 8" was stored, dots and page number too (nettle's manual: 4 pages of them and
    # a 12-page index alike); LaTeX sets a chapter's entry without a leader, a long title wraps (valgrind's FAQ)
    contents = ["Rivers of Europe", "Table of Contents", "Preface . . . . . . . . . . . . vii", "1 The Danube 1",
                "1.1 Its delta . . . . . . . . . . . . . . . . 2", "1.2 Its bridges and the towns that they join",
                "and the ferries . . . . . . . . . . . 3", "2 The Rhine.......................4",
                "2.1 Boats \u00b7 \u00b7 \u00b7 \u00b7 \u00b7 5",
                "A very long title that wraps from one line to the next",
                ". . . . . . . . . . . . . . . . . . . . . . . . 6"]
    body = ["1 The Danube", "The Danube flows east. It counted 1, 2, ... 10 bridges.", "Wait for it . . . . soon.",
            "Chapter 2: The Rhine 4"]  # an ellipsis, a leader without a page number, a running head: no contents
    write_pdf(tmp_path / "rivers.pdf", [contents, body])
    assert read_one(tmp_path / "rivers.pdf").text.split("\n") == ["Rivers of Europe", *body]
    from core.memory._pdf import drop_contents

    assert drop_contents(contents) == ["Rivers of Europe"] and drop_contents(body) == body
    assert drop_contents(["Boats\u2026\u2026\u2026\u2026 5", "Ferries\u2026\u2026 6"]) == []  # Word's leader
    assert pdf_text(["\n".join(contents[2:5])]) == "Preface\n1 The Danube 1\n1.1 Its delta"  # only contents: titles


@pytest.mark.parametrize("raw, title", [
    ("The Danube: a River Biography", "The Danube: a River Biography"),
    ("  Rivers\x00 of\n Europe ", "Rivers of Europe"),
    ("", ""), (None, ""), ("Untitled", ""), ("untitled document", ""), ("Document1", ""), ("Untitled-2", ""),
    ("Microsoft Word - report.docx", ""), ("Microsoft PowerPoint - Rivers", ""), ("draft.doc", ""),
    ("C:\\Users\\ann\\thesis.tex", ""), ("paper.dvi", ""), ("PowerPoint Presentation", ""),
    ("Node.js in Action", "Node.js in Action")])
def test_pdf_title_is_the_information_dictionarys_when_it_names_the_document(raw, title):
    assert pdf_title(raw) == title


def _river_report(path, title=None):
    """A 3-page PDF with a running header, a "Page N of 3" footer, a sentence and a word cut at the page breaks."""
    write_pdf(path, [["River Board Annual Report", "The Danube flows east through four capitals and", "then",
                      (40, "Page 1 of 3")],
                     ["River Board Annual Report", "reaches the Black Sea in a wide delta. Its associa-",
                      (40, "Page 2 of 3")],
                     ["River Board Annual Report", "tion with trade is old.", (40, "Page 3 of 3")]], title=title)


def test_a_pdf_file_reads_as_a_person_reads_it_titled_by_its_own_title_only(tmp_path):
    _river_report(tmp_path / "report_2024.pdf", title="The Danube in 2024")
    rec = read_one(tmp_path / "report_2024.pdf")
    assert rec.text == ("River Board Annual Report\nThe Danube flows east through four capitals and\nthen\n"
                        "reaches the Black Sea in a wide delta. Its association\nwith trade is old.")
    assert (rec.title, rec.name) == ("The Danube in 2024", "")
    _river_report(tmp_path / "report_2024.pdf", title="Microsoft Word - report_2024.docx")  # the program's: not one
    rec = read_one(tmp_path / "report_2024.pdf")
    assert (rec.title, rec.name) == ("report 2024", "report_2024")
    pdf = tmp_path / "report_2024.pdf"  # an information dictionary that is none: its text is still read
    pdf.write_bytes(pdf.read_bytes().replace(b"/Info 10 0 R", b"/Info (x)   "))
    rec = read_one(pdf)
    assert rec.title == "report 2024" and rec.text.endswith("Its association\nwith trade is old."), rec


def test_an_ingested_pdf_is_recalled_whole_under_its_title(tmp_path, wiki_docs, embedder):
    # a real article's sentences over 4 pages, one cut at each page break, a header and page numbers on each page
    from core.memory import SemanticMemory

    a = next(d for d in wiki_docs if len(d.sentences) >= 8 and all(s.isascii() and len(s.split()) > 8
                                                                    for s in d.sentences[:8]))
    pages, carry = [], []
    for i in range(4):
        first, cut = a.sentences[2 * i], a.sentences[2 * i + 1].split()
        half = len(cut) // 2 if i < 3 else len(cut)
        pages.append(["Annual River Report", *carry, first, " ".join(cut[:half]), f"- {i + 1} -"])
        carry = [" ".join(cut[half:])]
    write_pdf(tmp_path / "report.pdf", pages, title=a.title)
    whole = " ".join(a.sentences[3].split())
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        rep = mem.ingest(str(tmp_path / "report.pdf"))
        assert rep.documents == 1 and not rep.errors, rep.to_dict()
        hit = mem.recall(whole, k=1, mode="similar")[0]
        assert hit.title == a.title and whole in " ".join(hit.text.split()), hit.text
        (doc,) = mem.documents()
        stored = " ".join(c["text"] for c in mem.document(doc["id"])["chunks"])
    assert stored.count("Annual River Report") == 1 and "- 2 -" not in stored and "- 4 -" not in stored, stored
