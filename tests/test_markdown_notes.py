"""Markdown notes read as the text their reader sees (core.memory._markdown, _markdown_text): the reader's output
and the chunks stored from it."""
from __future__ import annotations

import time

from _memory_helpers import read_one

from core.memory._markdown_text import markdown_text
from core.memory.chunking import chunk_text
from core.memory.readers import ReadError, is_blank, read_paths


def test_code_in_a_note_never_opens_a_chunk(tmp_path):
    # a fenced "# Install the dependencies" (after a blank line in the block) and an indented "# comment" were
    # headings: each opened a chunk; a note opening with a fenced "# clone ..." was titled by it
    (tmp_path / "install.md").write_text(
        "# Install Guide\n\nRun these commands on a fresh machine.\n\n```bash\n# Update the package index first\n"
        "sudo apt-get update\n\n# Install the dependencies\nsudo apt-get install -y build-essential\n```\n\n"
        "After that the tool is ready.\n", encoding="utf-8")
    rec = read_one(tmp_path / "install.md")
    assert rec.title == "Install Guide"
    assert rec.text == ("# Install Guide\n\nRun these commands on a fresh machine.\n\n"
                        "    # Update the package index first\n    sudo apt-get update\n\n"
                        "    # Install the dependencies\n    sudo apt-get install -y build-essential\n\n"
                        "After that the tool is ready.\n")
    assert chunk_text(rec.text) == [  # merged paragraphs keep a line each (chunking.py)
        "# Install Guide\nRun these commands on a fresh machine.\n# Update the package index first sudo apt-get "
        "update\n# Install the dependencies sudo apt-get install -y build-essential\nAfter that the tool is ready."]
    (tmp_path / "indented.md").write_text("Intro without heading.\n\n    # indented code comment\n    make all\n\n"
                                          "More text.\n", encoding="utf-8")
    rec = read_one(tmp_path / "indented.md")
    assert chunk_text(rec.text) == ["Intro without heading.\n# indented code comment make all\nMore text."]
    (tmp_path / "clone.md").write_text("~~~\n# clone the repository\ngit clone https://x/y.git\n~~~\n\n"
                                       "Some intro text.\n", encoding="utf-8")
    rec = read_one(tmp_path / "clone.md")
    assert (rec.title, rec.text) == ("clone", "    # clone the repository\n    git clone https://x/y.git\n\n"
                                              "Some intro text.\n")
    assert chunk_text(rec.text) == ["# clone the repository git clone https://x/y.git\nSome intro text."]


def test_markup_is_not_stored(tmp_path):
    # emphasis markers, link addresses, an image's markup, a table's delimiter row and fence lines were stored
    # (embedded, mined for concepts); a link keeps its text, an image its alt, a row is "cell | cell"
    (tmp_path / "q3.md").write_text(
        '---\ntitle: "Meeting Notes: Q3 Planning"\ntags: [planning, q3]\n---\n\n'
        "Intro with **bold**, *em*, __strong__, _italic_, `inline_code()`, a [link text](https://example.com/p?x=1 "
        '"Title") and an image ![alt text of image](img.png). A snake_case_name, 2 * 3 * 4, and escaped \\*stars\\*.'
        "\n\n## **Decisions**\n\n| Item | Owner | Due |\n|------|:-----:|----:|\n"
        "| Budget review | **Alice** | 2024-07-15 |\n| Hiring plan | Bob | |\n\n"
        "```python\ndef compute_budget(x):\n    return x * 2\n```\n\nSee [the guide][guide].\n\n"
        "[guide]: https://example.com/guide\n", encoding="utf-8")
    rec = read_one(tmp_path / "q3.md")
    assert rec.title == "Meeting Notes: Q3 Planning"
    assert rec.text == (
        "\nIntro with bold, em, strong, italic, `inline_code()`, a link text and an image alt text of image. "
        "A snake_case_name, 2 * 3 * 4, and escaped *stars*.\n\n## Decisions\n\nItem | Owner | Due\n"
        "Budget review | Alice | 2024-07-15\nHiring plan | Bob\n\n    def compute_budget(x):\n        return x * 2\n\n"
        "See the guide.\n\n")
    assert chunk_text(rec.text) == [
        "Intro with bold, em, strong, italic, `inline_code()`, a link text and an image alt text of image. "
        "A snake_case_name, 2 * 3 * 4, and escaped *stars*.",
        "## Decisions\nItem | Owner | Due\nBudget review | Alice | 2024-07-15\nHiring plan | Bob\n"
        "def compute_budget(x): return x * 2\nSee the guide."]


def test_underlined_headings_are_headings(tmp_path):
    # "Harbour Guide\n=====" (setext) was a line of text: no chunk opened at it, and the note had no title
    (tmp_path / "guide.md").write_text("Harbour Guide\n=============\n\nThe bell rings at noon.\n\nOpening hours\n"
                                       "-------------\n\nNine to five.\n", encoding="utf-8")
    rec = read_one(tmp_path / "guide.md")
    assert (rec.title, rec.text) == ("Harbour Guide", "# Harbour Guide\n\nThe bell rings at noon.\n\n"
                                                      "## Opening hours\n\nNine to five.\n")
    assert chunk_text(rec.text) == ["# Harbour Guide\nThe bell rings at noon.", "## Opening hours\nNine to five."]


def test_toml_front_matter_and_a_list_title(tmp_path):
    # Hugo's TOML front matter (+++) was stored as text and gave no title; a YAML title that is a list was
    # the title "- a - b"
    (tmp_path / "hugo.md").write_text('+++\ntitle = "Hugo \\"TOML\\" Title"\ndate = 2024-01-01\n[params]\n'
                                      'title = "not this one"\n+++\n\nHugo body text about static sites.\n',
                                      encoding="utf-8")
    (tmp_path / "lists.md").write_text("---\ntitle:\n  - a\n  - b\ndate: 2024-01-01\n---\n\nBody with a list "
                                       "title.\n", encoding="utf-8")
    (tmp_path / "flow.md").write_text("---\ntitle: [a, b]\n---\n# Flow heading\n\nBody.\n", encoding="utf-8")
    got = {p: (r.title, r.text) for p in ("hugo.md", "lists.md", "flow.md") for r in [read_one(tmp_path / p)]}
    assert got == {"hugo.md": ('Hugo "TOML" Title', "\nHugo body text about static sites.\n"),
                   "lists.md": ("lists", "\nBody with a list title.\n"),
                   "flow.md": ("Flow heading", "# Flow heading\n\nBody.\n")}
    # a TOML front matter alone is an empty note, as a YAML one is (`ingest --sync` forgets an emptied one)
    (tmp_path / "draft.md").write_text('+++\ntitle = "Draft"\n+++\n', encoding="utf-8")
    errors: list[ReadError] = []
    assert list(read_paths(tmp_path / "draft.md", errors)) == [] and is_blank(tmp_path / "draft.md")
    assert [(e.message, e.skipped) for e in errors] == [("empty file (only front matter); nothing to store", True)]


def test_quotes_tasks_entities_html_and_footnotes_read_as_rendered(tmp_path):
    # a quote's "> " markers, a task's "[ ]"/"[x]", "&amp;"/"&nbsp;"/"&#8212;", inline HTML tags, an autolink's
    # brackets and footnote markers were stored as written (a README's, as GitHub shows it: node's own)
    (tmp_path / "README.md").write_text(
        "# Node.js\n\n"
        "> **Note:** There is [a bug](https://github.com/nodejs/build/issues/3739) in `17.10.x`.\n"
        "> > See <https://nodejs.org/api/> for the &quot;Current&quot; docs.\n\n"
        "## Release checklist\n\n- [x] Tag the release &amp; push it\n"
        "- [ ] Update the <kbd>CHANGELOG</kbd>&nbsp;file &#8212; by hand\n\n"
        "The largest buffer is 2<sup>32</sup>-1 bytes on 64-bit kernels[^1].<br>\n"
        "Ask Rich Trott <<rtrott@gmail.com>> about it.\n\n"
        '<p align="center"><img src="logo.svg" alt="Node.js logo" width="200"></p>\n\n'
        "[^1]: Older kernel versions may work.\n\n[docs]: https://nodejs.org/api/\n", encoding="utf-8")
    rec = read_one(tmp_path / "README.md")
    assert (rec.title, rec.text) == ("Node.js", (
        "# Node.js\n\nNote: There is a bug in `17.10.x`.\nSee https://nodejs.org/api/ for the \"Current\" docs.\n\n"
        "## Release checklist\n\n- ☑ Tag the release & push it\n- ☐ Update the CHANGELOG file — by hand\n\n"
        "The largest buffer is 2^32-1 bytes on 64-bit kernels.\u2028\nAsk Rich Trott <rtrott@gmail.com> about it.\n\n"
        "Node.js logo\n\nOlder kernel versions may work.\n\n"))
    # code keeps all of it: a code span's entity and tag, a fence's "> " prompt (a quoted fence loses the quote's)
    (tmp_path / "code.md").write_text(
        "Run `a &amp; b` and `<br>` as written; Vec<T> stays.\n\n```console\n> node --version\nv20.0.0 &amp;\n```"
        "\n\n> ```js\n> const x = 1; // &amp;\n> ```\n", encoding="utf-8")
    assert read_one(tmp_path / "code.md").text == (
        "Run `a &amp; b` and `<br>` as written; Vec<T> stays.\n\n    > node --version\n    v20.0.0 &amp;\n\n"
        "    const x = 1; // &amp;\n")
    # a quote opening under a paragraph is a block of its own: "> Foo" under "Bar" and above "---" is no heading
    (tmp_path / "break.md").write_text("Bar\n> Foo\n---\n\nEnd.\n", encoding="utf-8")
    assert read_one(tmp_path / "break.md").text == "Bar\nFoo\n---\n\nEnd.\n"
    # an unclosed tag scans no further than the next "<": a line of "<a <a <a ..." took minutes
    start = time.perf_counter()
    assert markdown_text("<a " * 20000) == "<a " * 20000 and time.perf_counter() - start < 2
