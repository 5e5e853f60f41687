"""Line breaks inside a paragraph: a wrapped sentence is one line, a line its writer ended (HTML's ``<br>``, a
Markdown hard break) stays a line in the chunk, whatever its length; no two words are ever glued. (Plain text has
no markup to say which: the chunker judges by the lines' lengths, tests/test_chunking.py.)"""
from __future__ import annotations

from _memory_helpers import read_one

from core.memory.chunking import chunk_text
from core.memory.phrases import extract_phrases

VERSE = ["So long as men can breathe or eyes can see,", "So long lives this, and this gives life to thee."]


def test_an_html_br_keeps_its_line_and_a_source_wrap_is_a_space(tmp_path):
    # a <br/> broke two lines (its start and end tag): a verse's two lines were two paragraphs; a two-line
    # address was joined into one name ("Jane Doe 1 Main Street"); the source's own line break inside a <p>
    # was kept as a line ("From zlib.h" / "we use the basic ...", zlib's how-to)
    (tmp_path / "page.html").write_text(
        "<html><body><p>" + "<br/>\n".join(VERSE) + "</p>\n"
        "<address>Jane Doe<br>1 Main Street</address>\n"
        "<p><b>From zlib.h</b>\nwe use the basic compression functions of the library.</p>\n"
        "<p>First part.<br><br>Second part.</p></body></html>", encoding="utf-8")
    (chunk,) = chunk_text(read_one(tmp_path / "page.html").text)
    assert chunk.split("\n") == [*VERSE, "Jane Doe", "1 Main Street",
                                 "From zlib.h we use the basic compression functions of the library.",
                                 "First part.", "Second part."]
    assert {"jane doe", "main street"} <= set(extract_phrases(chunk))
    # in a heading a <br> is a space (its second line was body text); a paragraph opening with "#" (a README set
    # in <br> lines, valgrind's) keeps its lines too
    (tmp_path / "head.html").write_text("<html><body><h2>Rivers<br>of Europe</h2><p># Set the paths.<br>#<br>"
                                        "export NDK=/opt/ndk</p></body></html>", encoding="utf-8")
    assert chunk_text(read_one(tmp_path / "head.html").text) == [  # (the bare heading joins the text under it)
        "## Rivers of Europe\n# Set the paths.\n#\nexport NDK=/opt/ndk"]


def test_a_markdown_hard_break_keeps_its_line_and_a_soft_one_is_a_space(tmp_path):
    # two spaces or a backslash ending a line are a hard break (CommonMark): the backslash was stored
    # ("Violets are blue,\"), and long lines were joined as a wrap; a soft break still joins a wrapped sentence
    (tmp_path / "poem.md").write_text(
        f"{VERSE[0]}  \n{VERSE[1]}\\\nShakespeare, Sonnet 18\n\n"
        "A sentence that wraps across\ntwo lines of the note.\n\nJane Doe<br>1 Main Street\n", encoding="utf-8")
    (chunk,) = chunk_text(read_one(tmp_path / "poem.md").text)
    assert chunk.split("\n") == [*VERSE, "Shakespeare, Sonnet 18",
                                 "A sentence that wraps across two lines of the note.", "Jane Doe", "1 Main Street"]
    escaped = tmp_path / "escaped.md"  # an escaped backslash is a backslash, a shell's "\" after a space stays
    escaped.write_text("C:\\\\\nis the drive of the machine, where the whole system and the data of it lie.\n\n"
                       "git request-pull commit-id \\\n  git://example.org/your-clone.git\n", encoding="utf-8")
    assert chunk_text(read_one(escaped).text) == ["C:\\ is the drive of the machine, where the whole system and "
                                                  "the data of it lie.\ngit request-pull commit-id \\ "
                                                  "git://example.org/your-clone.git"]

