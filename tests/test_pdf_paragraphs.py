"""A PDF page's paragraphs as its layout sets them: a vertical gap over the usual line spacing, or a first-line
indent, starts one.

Before: pypdf's text of a page has no blank line, so a page was one paragraph: its unrelated paragraphs and its
headings were packed into chunks together, a heading's words read as the text's."""
from __future__ import annotations

from core.memory._pdf import Opens, page_blocks, pdf_text
from core.memory.chunking import chunk_text
from _memory_helpers import read_one, write_pdf

SPACED = ["The Danube", (692, "The Danube flows east through ten countries."), "It ends in a wide delta.",
          (650, "Vienna lies on the river, and so does Budapest."), "Both are capitals.",
          (608, "The Rhine"), (580, "The Rhine flows north to the sea.")]


def test_a_vertical_gap_starts_a_paragraph(tmp_path):
    write_pdf(tmp_path / "rivers.pdf", [SPACED])
    assert read_one(tmp_path / "rivers.pdf").text == (
        "The Danube\n\nThe Danube flows east through ten countries.\nIt ends in a wide delta.\n\n"
        "Vienna lies on the river, and so does Budapest.\nBoth are capitals.\n\nThe Rhine\n\n"
        "The Rhine flows north to the sea.")


def test_a_first_line_indent_starts_a_paragraph_but_a_list_items_second_line_does_not(tmp_path):
    page = [(96, 720, "The Danube flows east through ten countries and"), "four capitals to the Black Sea.",
            (96, 692, "Vienna lies on the river, and so does Budapest,"), "each a capital of its own.",
            (72, 660, "* Boats carry grain on it all the year round and"), (84, 646, "fish are plentiful."),
            (72, 632, "* It freezes rarely.")]
    write_pdf(tmp_path / "indented.pdf", [page])
    assert read_one(tmp_path / "indented.pdf").text.split("\n\n") == [
        "The Danube flows east through ten countries and\nfour capitals to the Black Sea.",
        "Vienna lies on the river, and so does Budapest,\neach a capital of its own.",
        "* Boats carry grain on it all the year round and\nfish are plentiful.\n* It freezes rarely."]


def test_paragraphs_chunk_apart_and_a_sentence_over_a_page_break_stays_whole(tmp_path):
    write_pdf(tmp_path / "two.pdf", [SPACED[:5] + [(608, "The Rhine flows")], ["north to the sea."]])
    text = read_one(tmp_path / "two.pdf").text
    assert text.endswith("Both are capitals.\n\nThe Rhine flows\nnorth to the sea.")
    assert chunk_text(text, target_tokens=None)[-1] == "The Rhine flows north to the sea."


def test_pdf_text_reads_a_blank_line_as_a_paragraph_break():
    assert pdf_text(["One.\nTwo\n\nThree.", "four.\n\n\nFive."]) == "One.\nTwo\n\nThree.\nfour.\n\nFive."
    assert page_blocks([["a", Opens("b")], [Opens("c.")]]) == [["a"], ["b", "c."]]
