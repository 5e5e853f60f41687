"""Document ids and upload file names that a browser or a multipart parser bent, against a real `mycelial serve`.

An id `.` or `..` (a posted record's) could not be opened from the page: the browser resolves such a path
segment, even written `%2E%2E`, before the request leaves. A file name that is not UTF-8 was read as Latin-1 and
stored as mojibake (CP1251 `При.txt` became the id `file:Ïðè.txt`).
"""
from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest
from _server_helpers import LiveServer
from playwright.sync_api import expect

DOTS = [{"id": ".", "title": "Dot note", "text": "The dot note names the lighthouse of Brae."},
        {"id": "..", "title": "Dot dot note", "text": "The dot dot note names the ferry of Skerry."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer([f"m={tmp_path_factory.mktemp('names') / 'm'}"])  # an empty memory, filled per test
    yield srv
    srv.stop()


def _forget(server, ids) -> None:
    r = httpx.post(server.url + "/v1/memories/m/forget", json={"ids": ids}, timeout=60)
    assert r.status_code == 200, r.text


@contextmanager
def _page(browser, server, **kwargs):
    """The page, ready, in a browser context of its own (no cookies, storage or cache shared), closed after."""
    page = browser.new_page(**kwargs)
    try:
        page.goto(server.url + "/")
        expect(page.locator("#status")).to_have_text("ready", timeout=30_000)
        yield page
    finally:
        page.close()


def test_a_dot_id_is_read_by_the_query_form_and_every_other_id_by_both(server):
    base = server.url + "/v1/memories/m"
    docs = DOTS + [{"id": "a/b c", "title": "Plain", "text": "A plain note about the harbour of Brae."}]
    assert httpx.post(base + "/documents", json=docs, timeout=60).status_code == 201
    try:
        for d in docs:
            r = httpx.get(base + "/document", params={"id": d["id"]}, timeout=30)
            assert r.status_code == 200, r.text
            assert (r.json()["id"], r.json()["title"]) == (d["id"], d["title"])
            assert r.json()["chunks"][0]["text"] == d["text"]
        assert httpx.get(base + "/documents/a%2Fb%20c", timeout=30).json()["title"] == "Plain"  # the path form stays
        r = httpx.get(base + "/document", params={"id": "nope"}, timeout=30)
        assert r.status_code == 404 and "no document 'nope'" in r.json()["error"]
        r = httpx.get(base + "/document", timeout=30)
        assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["id"]
        r = httpx.get(base + "/document", params={"doc_id": "."}, timeout=30)  # a misspelt parameter is named
        assert r.status_code == 422 and "doc_id" in [f["field"] for f in r.json()["fields"]]
        assert httpx.head(base + "/document?id=..", timeout=30).status_code == 200
        schema = httpx.get(server.url + "/openapi.json", timeout=30).json()["paths"]["/v1/memories/{name}/document"]
        assert [p["name"] for p in schema["get"]["parameters"]] == ["name", "id"]
        assert {"401", "404", "422"} <= set(schema["get"]["responses"])
    finally:
        _forget(server, [d["id"] for d in docs])


def test_the_page_opens_and_forgets_a_document_whose_id_is_dot_dot(server, browser):
    assert httpx.post(server.url + "/v1/memories/m/documents", json=DOTS, timeout=60).status_code == 201
    try:
        with _page(browser, server) as page:
            docs = page.locator("#doc-list li.doc")
            expect(docs).to_have_count(2, timeout=30_000)
            view = page.locator("#doc-view")
            for d in DOTS:
                docs.locator(".doc-title[title='%s']" % d["id"]).click()
                expect(view.locator("h3")).to_have_text(d["title"], timeout=30_000)
                expect(view.locator("li.chunk")).to_have_text([d["text"]])
            page.once("dialog", lambda dlg: dlg.accept())
            view.locator(".doc-forget").click()  # the view shows "..": its DELETE path would have been resolved
            expect(page.locator("#status")).to_have_text("forgot ..", timeout=30_000)
            expect(docs).to_have_count(1, timeout=30_000)
            expect(page.locator("#status")).not_to_have_class("error")
        listed = httpx.get(server.url + "/v1/memories/m/documents", timeout=30).json()["documents"]
        assert [d["id"] for d in listed] == ["."]
    finally:
        _forget(server, [d["id"] for d in DOTS])


def _multipart(*names: bytes, charset: str = "") -> tuple[bytes, dict]:
    """A multipart body with one `file` part per raw file name (as curl sends a name: its bytes, unencoded)."""
    parts = b"".join(b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + n
                     + b'"\r\nContent-Type: text/plain\r\n\r\nThe ferry of Skerry leaves at noon, note '
                     + str(i).encode() + b".\r\n" for i, n in enumerate(names))
    ctype = "multipart/form-data; boundary=XyZ" + (f"; charset={charset}" if charset else "")
    return parts + b"--XyZ--\r\n", {"content-type": ctype}


def _ids(server) -> list[str]:
    return [d["id"] for d in httpx.get(server.url + "/v1/memories/m/documents", timeout=30).json()["documents"]]


def test_utf8_upload_names_are_kept_and_a_name_that_is_not_utf8_is_refused_naming_file(server):
    url = server.url + "/v1/memories/m/documents"
    body, headers = _multipart("naïve.md".encode(), "日本.txt".encode())
    r = httpx.post(url, content=body, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    try:
        assert sorted(_ids(server)) == ["file:naïve.md", "file:日本.txt"]
        # a name that is not UTF-8 (curl sends the bytes of the name on disk): refused, with the good file beside it
        body, headers = _multipart(b"caf\xe9.txt", b"ok.txt", "При.txt".encode("cp1251"))
        r = httpx.post(url, content=body, headers=headers, timeout=60)
        assert r.status_code == 422, r.text
        assert r.json()["fields"] == [
            {"field": "file", "message": "caf\\xe9.txt: the file name is not valid UTF-8 (byte 0xe9); rename the file"},
            {"field": "file", "message": "\\xcf\\xf0\\xe8.txt: the file name is not valid UTF-8 (byte 0xcf); "
                                         "rename the file"}]
        assert "none of the 3 files was ingested" in r.json()["error"]
        assert sorted(_ids(server)) == ["file:naïve.md", "file:日本.txt"]  # nothing stored, no mojibake
        # a body that says its names are Latin-1 is read so
        body, headers = _multipart(b"caf\xe9.txt", charset="latin-1")
        assert httpx.post(url, content=body, headers=headers, timeout=60).status_code == 201
        assert "file:café.txt" in _ids(server)
    finally:
        _forget(server, _ids(server))


def test_the_page_uploads_files_with_utf8_names(server, browser):
    with _page(browser, server) as page:
        page.set_input_files("#file", [
            {"name": "naïve.md", "mimeType": "text/markdown", "buffer": b"# Naive\n\nA naive note about Brae."},
            {"name": "日本.txt", "mimeType": "text/plain", "buffer": "日本の港。".encode()}])
        page.click("#upload button[type=submit]")
        # "ingested": the followed job says "0 of 2 documents" first
        expect(page.locator("#upload-result")).to_contain_text("2 documents ingested", timeout=30_000)
    try:
        assert sorted(_ids(server)) == ["file:naïve.md", "file:日本.txt"]
    finally:
        _forget(server, _ids(server))


def _focused(page) -> str:
    return page.evaluate("(e => e.id || e.getAttribute('data-concept') && 'node:' + e.getAttribute('data-concept')"
                         " || e.className + ':' + e.textContent)(document.activeElement)")


def _tab_to(page, want, most: int = 30) -> str:
    """Tab until the focused element matches ``want`` (a predicate on _focused); its description."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if want(now := _focused(page)):
            return now
    raise AssertionError(f"Tab never reached it; last: {now}")


def test_a_phone_wide_page_is_used_by_keyboard_alone(server, browser):
    # at 375 px the Ask button stood 27 px out of the window (the page scrolled sideways); a concept chosen under
    # a hit was drawn out of view, below the hits; a graph node could not be reached without a mouse
    notes = [{"id": f"e{i}", "title": t, "text": x} for i, (t, x) in enumerate([
        ("Trajan", "Trajan was adopted by Nerva as his successor. Nerva ruled Rome briefly."),
        ("Nerva", "Nerva adopted Trajan. Nerva was emperor of Rome after Domitian."),
        ("Hadrian", "Hadrian followed Trajan as emperor of Rome and built a wall in Britain.")])]
    assert httpx.post(server.url + "/v1/memories/m/documents", json=notes, timeout=60).status_code == 201
    try:
        with _page(browser, server, viewport={"width": 375, "height": 700}) as page:
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            _tab_to(page, lambda f: f == "q", most=3)  # the memory selector, then the question
            page.keyboard.type("Which emperor adopted Trajan?")
            page.keyboard.press("Enter")
            expect(page.locator("#hits li.hit").first).to_be_visible(timeout=30_000)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            chip = _tab_to(page, lambda f: f.startswith("concept:"), most=5).split(":", 1)[1]
            page.keyboard.press("Enter")
            expect(page.locator("#concept-name")).to_have_text(f"around “{chip}”", timeout=30_000)
            expect(page.locator("#graph circle")).not_to_have_count(0)
            expect(page.locator("#graph")).to_be_in_viewport(ratio=1, timeout=10_000)  # the drawing, in view
            node = _tab_to(page, lambda f: f.startswith("node:") and f != f"node:{chip}")[5:]
            label = page.evaluate("document.activeElement.getAttribute('aria-label')").split(": show")[0]
            page.keyboard.press("Enter")
            expect(page.locator("#concept-name")).to_have_text(f"around “{label}”", timeout=30_000)  # as written
            assert _focused(page) == f"node:{node}"  # the new centre keeps the keyboard's place
            expect(page.locator("#status")).not_to_have_class("error")
    finally:
        _forget(server, [n["id"] for n in notes])
