"""HTML pages read as their text (core.memory._html): the reader's output and the chunks stored from it."""
from __future__ import annotations

from core.memory.chunking import chunk_text
from core.memory.readers import ReadError, read_paths


def _read(path):
    errors: list[ReadError] = []
    recs = list(read_paths(path, errors))
    assert errors == [] and len(recs) == 1
    return recs[0]


def test_shell_comments_in_a_pre_never_open_a_chunk(tmp_path):
    # a "# install the packages" line of a <pre> was a heading: it opened a chunk, on a line of its own
    (tmp_path / "setup.html").write_text(
        "<html><head><title>Setup notes</title></head><body><h1>Setup notes</h1>\n"
        "<p>Run the following script on the server to prepare it.</p>\n"
        "<pre><code># install the packages\napt-get install -y nginx\n\n# enable the site\n"
        "ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/\n</code></pre>\n"
        "<p>Then restart nginx.</p></body></html>\n", encoding="utf-8")
    rec = _read(tmp_path / "setup.html")
    assert rec.text == ("# Setup notes\n\nRun the following script on the server to prepare it.\n\n"
                        "    # install the packages\n    apt-get install -y nginx\n\n    # enable the site\n"
                        "    ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/\n\nThen restart nginx.")
    assert chunk_text(rec.text) == [
        "# Setup notes\nRun the following script on the server to prepare it. # install the packages apt-get "
        "install -y nginx # enable the site ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/ "
        "Then restart nginx."]
    # a page opening with highlighted code (a <span> a token): no heading either
    (tmp_path / "first.html").write_text(
        '<html><body><pre>\n<span class="c"># Only a comment</span>\n<span class="k">make</span> all\n</pre>'
        "<p>Body para.</p></body></html>", encoding="utf-8")
    rec = _read(tmp_path / "first.html")
    assert rec.text == "    # Only a comment\n    make all\n\nBody para."
    assert chunk_text(rec.text) == ["# Only a comment make all Body para."]
