"""The web page's hits, network panel and header as a reader sees them: concepts as the text writes them,
an unknown concept said plainly, neighbours strongest first, more hits on request, a blank question answered,
and a phone's header and drawing. Real chromium, real `mycelial serve`."""
from __future__ import annotations

import httpx
import pytest
from _server_helpers import QUESTION, sample_and_another_served
from playwright.sync_api import expect


PHONE = {"width": 375, "height": 740}
LONG_NAMES = [  # concepts with long names: on a phone their labels ran past the drawing's right edge
    "The Colony of Rhode Island and Providence Plantations signed a charter with the Narragansett Bay Commissioners.",
    "Providence Plantations traded with the Massachusetts Bay Company and the Narragansett Bay Commissioners.",
    "Roger Williams founded Providence Plantations; the Massachusetts Bay Company had banished Roger Williams.",
    "The Narragansett Bay Commissioners met Roger Williams at Providence Plantations in the Warwick Town Hall.",
    "The Massachusetts Bay Company and the Warwick Town Hall kept records of Providence Plantations.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    records = [{"id": f"p{i}", "title": f"Note {i}", "text": t} for i, t in enumerate(LONG_NAMES)]
    with sample_and_another_served(tmp_path_factory.mktemp("page_hits"), embedder, "long", records) as srv:
        yield srv


def _open(browser, server, viewport=None):
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
    page.goto(server.url + "/?memory=sample")
    expect(page.locator("#status")).to_have_text("ready", timeout=30_000)
    return page


def _ask(page, question: str) -> None:
    page.fill("#q", question)
    page.press("#q", "Enter")
    expect(page.locator("#hits li.hit").first).to_be_visible(timeout=30_000)


def test_the_answer_gives_each_concept_as_written(server):
    # why.phrases and why.seed_phrases hold folded keys only: the page had nothing else to show
    hit = httpx.get(server.url + "/v1/memories/sample/recall", params={"q": QUESTION, "k": 8}, timeout=60).json()["hits"]
    assert all("written" in h["why"] for h in hit)
    for h in hit:
        assert set(h["why"]["written"]) >= {p[0] for p in h["why"]["phrases"]} | set(h["why"]["seed_phrases"])
        assert h["why"]["written"].get("trajan", "Trajan") == "Trajan"  # under a hit on Nero too (a seed)


def test_concept_chips_and_the_heading_read_as_the_text_writes_them(server, browser):
    # the chips read "trajan", the heading 'around "trajan"', while the paths and the graph said "Trajan"
    page = _open(browser, server)
    try:
        _ask(page, QUESTION)
        chips = page.locator("#hits li.hit .concepts button.concept")
        texts = chips.all_inner_texts()
        assert "Trajan" in texts and "trajan" not in texts, texts
        chips.get_by_text("Trajan", exact=True).first.click()
        expect(page.locator("#concept-name")).to_have_text("around “Trajan”", timeout=30_000)
        expect(page.locator("#graph circle.root")).to_have_attribute("data-concept", "trajan")
    finally:
        page.close()


def test_an_unknown_concept_is_said_unknown_and_neighbours_come_strongest_first(server, browser):
    page = _open(browser, server)
    try:
        page.fill("#concept", "Juryz")
        page.press("#concept", "Enter")
        expect(page.locator("#neighbours li.unknown")).to_be_visible(timeout=30_000)
        # 'Network around "Juryz"' stood over an empty drawing
        expect(page.locator("#concept-name")).to_have_text("· “Juryz” is unknown")
        page.fill("#concept", "the")  # refused: the heading does not go back to a concept drawn before
        page.press("#concept", "Enter")
        expect(page.locator("#status")).to_have_class("error", timeout=30_000)
        expect(page.locator("#concept-name")).not_to_contain_text("around")
        page.fill("#concept", "nerva")
        page.press("#concept", "Enter")
        expect(page.locator("#concept-name")).to_have_text("around “Nerva”", timeout=30_000)
        items = page.locator("#neighbours li.neighbour").all_inner_texts()
        weights = [float(t.rsplit("(", 1)[1].rstrip(")")) for t in items]
        assert len(weights) >= 3 and weights == sorted(weights, reverse=True), items  # they were alphabetical
    finally:
        page.close()


def test_a_blank_question_clears_the_error_and_more_hits_asks_for_more(server, browser):
    page = _open(browser, server)
    try:
        page.fill("#q", "x" * 4001)  # the server's 422, in red
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_have_class("error", timeout=30_000)
        page.fill("#q", "   ")  # spaces and Enter did nothing, under that red error
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_have_text("type a question first")
        expect(page.locator("#status")).not_to_have_class("error")
        _ask(page, QUESTION)
        expect(page.locator("#hits li.hit")).to_have_count(8)
        with page.expect_request(lambda r: "/recall?" in r.url and "k=16" in r.url):
            page.click("#more-hits")
        expect(page.locator("#hits li.hit")).to_have_count(16, timeout=30_000)
    finally:
        page.close()


def test_on_a_phone_the_header_is_one_line_and_labels_stay_in_the_drawing(server, browser):
    page = _open(browser, server, PHONE)
    try:
        _ask(page, QUESTION)
        expect(page.locator("#status")).to_have_text("8 hits")
        height = page.evaluate("document.querySelector('header').getBoundingClientRect().height")
        assert height <= 48, height  # it wrapped to two lines (85 px of 740)
        page.select_option("#memory", "long")  # the question is asked of it too
        expect(page.locator("#status")).to_contain_text("hit", timeout=30_000)
        for concept in ("narragansett bay commissioners", "massachusetts bay company"):
            page.fill("#concept", concept)
            page.press("#concept", "Enter")
            expect(page.locator("#graph circle.root")).to_have_attribute("data-concept", concept, timeout=30_000)
            out = page.evaluate("""[...document.querySelectorAll('#graph text')].map((t) => t.getBBox())
                .filter((b) => b.x < -300 || b.x + b.width > 300).length""")
            assert out == 0, (concept, out)  # "Providence Plantation[s]" was cut at the right edge
    finally:
        page.close()
