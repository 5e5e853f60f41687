"""HTML pages read as their text (core.memory._html): the reader's output and the chunks stored from it."""
from __future__ import annotations

import io
import json

from _memory_helpers import read_one

from core.memory.chunking import chunk_text
from core.memory.phrases import extract_phrases
from core.memory.readers import ReadError, read_stream


def test_shell_comments_in_a_pre_never_open_a_chunk(tmp_path):
    # a "# install the packages" line of a <pre> was a heading: it opened a chunk, on a line of its own
    (tmp_path / "setup.html").write_text(
        "<html><head><title>Setup notes</title></head><body><h1>Setup notes</h1>\n"
        "<p>Run the following script on the server to prepare it.</p>\n"
        "<pre><code># install the packages\napt-get install -y nginx\n\n# enable the site\n"
        "ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/\n</code></pre>\n"
        "<p>Then restart nginx.</p></body></html>\n", encoding="utf-8")
    rec = read_one(tmp_path / "setup.html")
    assert rec.text == ("# Setup notes\n\nRun the following script on the server to prepare it.\n\n"
                        "    # install the packages\n    apt-get install -y nginx\n\n    # enable the site\n"
                        "    ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/\n\nThen restart nginx.")
    assert chunk_text(rec.text) == [
        "# Setup notes\nRun the following script on the server to prepare it.\n# install the packages apt-get "
        "install -y nginx\n# enable the site ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/\n"
        "Then restart nginx."]  # a paragraph of two lines reads as one (_kept_lines._lines_kept)
    # a page opening with highlighted code (a <span> a token): no heading either
    (tmp_path / "first.html").write_text(
        '<html><body><pre>\n<span class="c"># Only a comment</span>\n<span class="k">make</span> all\n</pre>'
        "<p>Body para.</p></body></html>", encoding="utf-8")
    rec = read_one(tmp_path / "first.html")
    assert rec.text == "    # Only a comment\n    make all\n\nBody para."
    assert chunk_text(rec.text) == ["# Only a comment make all\nBody para."]


def test_blocks_are_lines_and_a_table_row_is_one(tmp_path):
    # a <summary>, <figcaption> or <address> ran into the text beside it ("How do I reset my password?Open
    # settings"), and a table lost its rows and cells ("City Pop Paris 2.1M", each cell a paragraph); an empty
    # cell is left out, a cell's <p> (Sphinx's, Word's HTML) breaks no row
    (tmp_path / "faq.html").write_text(
        "<html><head><title>FAQ</title></head><body><h1>FAQ</h1>\n"
        "<details><summary>How do I reset my password?</summary>Open settings and click reset.</details>\n"
        "<details><summary>Can I export data?</summary><p>Yes, use the export button.</p></details>\n"
        "<dl><dt>Term</dt><dd>Its definition.</dd></dl>\n"
        '<figure><img src="p.png" alt="A photo"><figcaption>The harbour at dawn.</figcaption></figure>\n'
        "<p>Contact us<address>12 Main Street</address></p>\n"
        "<table><caption>Cities</caption>\n<tr><th>City</th><th>Pop</th></tr>\n<tr><td>Paris</td><td>2.1M</td></tr>\n"
        "<tr><td> Lyon\n</td><td></td><td><p>0.5M</p></td></tr>\n</table>\n"
        "<p>After the table.</p></body></html>\n", encoding="utf-8")
    rec = read_one(tmp_path / "faq.html")
    assert rec.text == ("# FAQ\n\nHow do I reset my password?\nOpen settings and click reset.\n\nCan I export data?\n\n"
                        "Yes, use the export button.\n\nTerm\n\nIts definition.\n\nThe harbour at dawn.\n\n"
                        "Contact us\n12 Main Street\n\nCities\n\nCity | Pop\nParis | 2.1M\nLyon | 0.5M\n\n"
                        "After the table.")
    assert chunk_text(rec.text) == [
        "# FAQ\nHow do I reset my password? Open settings and click reset.\nCan I export data?\nYes, use the export "
        "button.\nTerm\nIts definition.\nThe harbour at dawn.\nContact us 12 Main Street\nCities\nCity | Pop\n"
        "Paris | 2.1M\nLyon | 0.5M\nAfter the table."]


def test_hidden_elements_menus_and_fine_print_are_left_out(tmp_path):
    # hidden elements (hidden, aria-hidden="true", style="display:none"), the <nav> menus and the <footer> were
    # stored with the article; <header> and <aside> stay (a title, real notes); "until-found" is searchable text
    (tmp_path / "news.html").write_text(
        "<!doctype html><html><head><title>Harbour news</title></head><body>\n"
        '<header><a href="/">Harbour Times</a><nav><ul><li><a href="/">Home</a></li><li>Sports</li></ul></nav>'
        "</header>\n<main><h1>The bell rings again</h1>\n<p>Vask rang the harbour bell at noon.</p>\n"
        "<p hidden>Draft: do not publish.</p>\n"
        '<div style="color: red; display: none">A hidden promo.</div>\n<span aria-hidden="true">★</span>\n'
        "<p>The bell was cast in 1821.\n<p hidden>An unclosed hidden paragraph.\n<div>Shown after it.</div>\n"
        "<ul><li hidden>Gone item<li>Kept item</ul>\n"
        '<details><summary>More</summary><div hidden="until-found">Found by search.</div></details>\n</main>\n'
        "<aside>Related: the lighthouse keeper's notes.</aside>\n"
        '<footer>© 2024 Harbour Times. <a href="/privacy">Privacy</a></footer>\n</body></html>\n', encoding="utf-8")
    rec = read_one(tmp_path / "news.html")
    assert (rec.title, rec.text) == ("Harbour news", (
        "Harbour Times\n\n# The bell rings again\n\nVask rang the harbour bell at noon.\n\nThe bell was cast in "
        "1821.\n\nShown after it.\n\nKept item\n\nMore\n\nFound by search.\n\nRelated: the lighthouse keeper's notes."))
    assert chunk_text(rec.text) == [
        "Harbour Times",
        "# The bell rings again\nVask rang the harbour bell at noon.\nThe bell was cast in 1821.\nShown after it.\n"
        "Kept item\nMore\nFound by search.\nRelated: the lighthouse keeper's notes."]
    # a page of menus and fine print only keeps them: it was stored so, and storing nothing would lose it
    (tmp_path / "map.html").write_text(
        '<html><head><title>Site map</title></head><body><nav><a href="/a">Alpha guide</a> <a href="/b">Beta '
        "guide</a></nav><footer>Contact: harbour@example.org</footer></body></html>", encoding="utf-8")
    rec = read_one(tmp_path / "map.html")
    assert (rec.title, rec.text) == ("Site map", "Alpha guide Beta guide\n\nContact: harbour@example.org")


def test_a_page_piped_to_ingest_is_read_as_a_page(tmp_path):
    # `curl URL | mycelial ingest -` stored the page's markup as text, untitled
    from click.testing import CliRunner

    from core.cli import cli

    page = ("\ufeff\n  <!DOCTYPE html>\n<html><head><title>Harbour &amp; bell</title><style>p {color: red}</style>"
            "</head><body><nav>Home</nav><h1>The bell</h1><p>Vask rang the harbour bell at noon.</p>"
            "<script>track()</script></body></html>\n")
    mem = str(tmp_path / "mem")
    r = CliRunner().invoke(cli, ["ingest", "-", "--memory", mem, "-q"], input=page.encode("utf-8"))
    assert r.exit_code == 0 and "1 document ingested" in r.output, r.output
    doc_id = json.loads(CliRunner().invoke(cli, ["list", "--memory", mem, "--json"]).stdout)[0]["id"]
    got = json.loads(CliRunner().invoke(cli, ["get", doc_id, "--memory", mem, "--json"]).stdout)
    assert (got["title"], [c["text"] for c in got["chunks"]]) == (
        "Harbour & bell", ["# The bell\nVask rang the harbour bell at noon."])
    # in the charset it declares, as an HTML file is (it was "not valid UTF-8")
    latin = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e.</p>'
    errors: list[ReadError] = []
    recs = list(read_stream(io.TextIOWrapper(io.BytesIO(latin.encode("latin-1"))), errors))
    assert errors == [] and [(r.title, r.text) for r in recs] == [("Café", "Crème brûlée.")]


def test_a_byte_order_mark_before_a_declared_charsets_text_is_dropped(tmp_path):
    # an editor's UTF-8 byte order mark before Windows-1252 bytes: the page was read in its charset, "ï»¿" first
    page = '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head><body><p>\x93Cr\xe8me\x94</p>'
    (tmp_path / "menu.html").write_bytes(b"\xef\xbb\xbf" + page.encode("latin-1"))
    rec = read_one(tmp_path / "menu.html")
    assert (rec.title, rec.text) == ("Caf\u00e9", "\u201cCr\u00e8me\u201d")


def test_an_inline_svg_title_is_not_the_page_title(tmp_path):
    # an icon's <svg><title> was read into the page's: "Harbour newsClose"; with no <title>, it was the title
    (tmp_path / "icons.html").write_text(
        "<html><head><title>Harbour news</title></head><body><button><svg><title>Close</title><path d='M0'/></svg>"
        "</button><h1>The bell</h1><p>Vask rang it.</p></body></html>", encoding="utf-8")
    (tmp_path / "untitled.html").write_text(
        "<html><body><svg><title>Menu</title></svg><h1>The bell</h1><p>Vask rang it.</p></body></html>",
        encoding="utf-8")
    assert [(r.title, r.text) for r in (read_one(tmp_path / "icons.html"), read_one(tmp_path / "untitled.html"))] == [
        ("Harbour news", "# The bell\n\nVask rang it."), ("The bell", "# The bell\n\nVask rang it.")]


def test_controls_footnote_markers_exponents_and_consent_banners(tmp_path):
    # a form's controls ran into the words beside them ("SearchGo", "OsloBergen"), a footnote's marker into its
    # word ("bell[1]", "noon2"), an exponent into its base ("4 m2"), and a cookie banner was stored
    (tmp_path / "bell.html").write_text(
        '<html><head><title>Harbour bell</title></head><body>'
        '<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk"><p>We use cookies to improve your '
        'experience.</p><button>Accept All Cookies</button><button>Reject All</button></div></div>'
        '<div id="CybotCookiebotDialog" role="dialog"><h2>This website uses cookies</h2></div>'
        '<section aria-label="Cookie consent"><p>Manage your preferences</p></section>'
        '<h1>The bell</h1><p>Vask rang the bell<sup id="cite_ref-1" class="reference"><a href="#cite_note-1">[1]'
        '</a></sup> at noon<a href="#fn2" role="doc-noteref"><sup>2</sup></a>. The tower is 4 m<sup>2</sup>, '
        'x<sup>n</sup> grows, H<sub>2</sub>O, the 21<sup>st</sup> bell.</p>'
        '<form><label for="q">Find a ship</label><input id="q" type="text"><button type="submit">Go</button>'
        '<select name="port"><option>Oslo</option><option selected>Bergen</option></select></form>'
        '<p>Ring it?<button>Yes</button><button>No</button>then wait.</p>'
        '<div class="cookie-recipe"><p>Bake the cookie bars for 20 minutes.</p></div>'
        '<form class="consent-form"><p>I consent to the harbour rules.</p></form></body></html>', encoding="utf-8")
    rec = read_one(tmp_path / "bell.html")
    assert (rec.title, rec.text) == ("Harbour bell", (
        "# The bell\n\nVask rang the bell at noon. The tower is 4 m^2, x^n grows, H2O, the 21st bell.\n\n"
        "Find a ship Go Oslo Bergen\n\nRing it? Yes No then wait.\n\nBake the cookie bars for 20 minutes.\n\n"
        "I consent to the harbour rules."))
    # a page of nothing but the banner keeps it (as a page of nothing but a menu keeps its <nav>)
    (tmp_path / "only.html").write_text('<html><body><div class="cookie-banner"><p>We use cookies.</p></div>'
                                        '</body></html>', encoding="utf-8")
    assert read_one(tmp_path / "only.html").text == "We use cookies."
    # an exponent in a link to a fragment is no note's marker; a sidebar of cookie recipes is no banner
    (tmp_path / "mass.html").write_text('<html><body><p>See <a href="#eq">E=mc<sup>2</sup></a>.</p>'
                                        '<div class="cookies sidebar"><p>Ginger cookies.</p></div></body></html>',
                                        encoding="utf-8")
    assert read_one(tmp_path / "mass.html").text == "See E=mc^2.\n\nGinger cookies."


def test_a_notes_link_back_to_its_reference_is_left_out(tmp_path):
    # a note's "↩︎" (pandoc, GitHub, Python-Markdown) or "^" (Wikipedia) link back to where it was cited was
    # stored with its text: "Cast in 1850.↩︎", "^ Cited twice."
    (tmp_path / "notes.html").write_text(
        '<html><body><p>The bell rang<sup><a href="#fn1" role="doc-noteref">1</a></sup> twice.</p>'
        '<section role="doc-endnotes"><ol>'
        '<li id="fn1"><p>Cast in 1850.<a href="#fnref1" class="footnote-back" role="doc-backlink">↩︎</a></p></li>'
        '<li id="fn:2"><p>A note.&#160;<a class="footnote-backref" href="#fnref:2">&#8617;</a></p></li>'
        '<li id="fn3"><p>Older pandoc\'s. <a href="#fnref3">↩</a></p></li>'
        '<li><p>GitHub\'s. <a href="#user-content-fnref-4" data-footnote-backref="">↩</a> '
        '<a href="#user-content-fnref-4-2" data-footnote-backref="">↩<sup>2</sup></a></p></li></ol></section>'
        '<ol class="references"><li id="cite_note-5"><span class="mw-cite-backlink">^ <a href="#cite_ref-a_5-0">'
        '<sup><i><b>a</b></i></sup></a> <a href="#cite_ref-a_5-1"><sup><i><b>b</b></i></sup></a></span> '
        '<span class="reference-text">Cited twice.</span></li></ol>'
        '<p>Press ↩ to go on, or <a href="https://example.org/keys">↩</a> to read more.</p>'
        '</body></html>', encoding="utf-8")
    assert read_one(tmp_path / "notes.html").text.split("\n\n") == [
        "The bell rang twice.", "Cast in 1850.", "A note.", "Older pandoc's.", "GitHub's.", "Cited twice.",
        "Press ↩ to go on, or ↩ to read more."]  # (an arrow in the text, a link elsewhere: kept)


def test_a_subscript_never_fuses_two_words(tmp_path):
    # a <sub> was glued to the word before it: "x<sub>i</sub>" read "xi" (a Greek letter), "1010<sub>2</sub>"
    # "10102", "John<sub>i</sub>" the name "Johni"; a formula's count stays glued (H2O), an exponent after a "^"
    page = ("<p>Water is H<sub>2</sub>O, CO<sub>2</sub> a gas, Ca(OH)<sub>2</sub> lime; the mean of x<sub>i</sub> "
            "over all samples, the rate V<sub>max</sub>, 1010<sub>2</sub> is ten. John<sub>i</sub> thinks he<sub>i"
            "</sub> is smart; 2<sup>32</sup> bytes.</p>")
    (tmp_path / "sub.html").write_text(f"<html><body>{page}</body></html>", encoding="utf-8")
    (tmp_path / "sub.md").write_text(page[3:-4] + "\n", encoding="utf-8")  # inline HTML of a note
    for name in ("sub.html", "sub.md"):
        text = read_one(tmp_path / name).text
        assert text.strip() == ("Water is H2O, CO2 a gas, Ca(OH)2 lime; the mean of x_i over all samples, the rate "
                                "V_max, 1010_2 is ten. John i thinks he i is smart; 2^32 bytes."), name
        assert "john" in extract_phrases(text), name
