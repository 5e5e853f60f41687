"""Markdown notes read as the text their reader sees (core.memory._markdown, _markdown_text): the reader's output
and the chunks stored from it."""
from __future__ import annotations

from core.memory.chunking import chunk_text
from core.memory.readers import ReadError, read_paths


def _read(path):
    errors: list[ReadError] = []
    recs = list(read_paths(path, errors))
    assert errors == [] and len(recs) == 1
    return recs[0]


def test_code_in_a_note_never_opens_a_chunk(tmp_path):
    # a fenced "# Install the dependencies" (after a blank line in the block) and an indented "# comment" were
    # headings: each opened a chunk; a note opening with a fenced "# clone ..." was titled by it
    (tmp_path / "install.md").write_text(
        "# Install Guide\n\nRun these commands on a fresh machine.\n\n```bash\n# Update the package index first\n"
        "sudo apt-get update\n\n# Install the dependencies\nsudo apt-get install -y build-essential\n```\n\n"
        "After that the tool is ready.\n", encoding="utf-8")
    rec = _read(tmp_path / "install.md")
    assert rec.title == "Install Guide"
    assert rec.text == ("# Install Guide\n\nRun these commands on a fresh machine.\n\n"
                        "    # Update the package index first\n    sudo apt-get update\n\n"
                        "    # Install the dependencies\n    sudo apt-get install -y build-essential\n\n"
                        "After that the tool is ready.\n")
    assert chunk_text(rec.text) == [
        "# Install Guide\nRun these commands on a fresh machine. # Update the package index first sudo apt-get "
        "update # Install the dependencies sudo apt-get install -y build-essential After that the tool is ready."]
    (tmp_path / "indented.md").write_text("Intro without heading.\n\n    # indented code comment\n    make all\n\n"
                                          "More text.\n", encoding="utf-8")
    rec = _read(tmp_path / "indented.md")
    assert chunk_text(rec.text) == ["Intro without heading. # indented code comment make all More text."]
    (tmp_path / "clone.md").write_text("~~~\n# clone the repository\ngit clone https://x/y.git\n~~~\n\n"
                                       "Some intro text.\n", encoding="utf-8")
    rec = _read(tmp_path / "clone.md")
    assert (rec.title, rec.text) == ("clone", "    # clone the repository\n    git clone https://x/y.git\n\n"
                                              "Some intro text.\n")
    assert chunk_text(rec.text) == ["# clone the repository git clone https://x/y.git Some intro text."]
