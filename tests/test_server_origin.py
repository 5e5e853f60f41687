"""Other web pages cannot change a served memory (CSRF), a rebinding domain cannot reach it, no page frames it:
a real `mycelial serve` on 127.0.0.1 without a token, a real chromium loading a page of another origin."""
from __future__ import annotations

import httpx
import pytest
from _server_helpers import LiveServer

NOTE = {"id": "wren", "title": "Ida Wren", "text": "Ida Wren mapped the limestone caves of Orla in 1921."}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer([f"m={tmp_path_factory.mktemp('origin') / 'm'}"])
    assert httpx.post(srv.url + "/v1/memories/m/documents", json=[NOTE], timeout=120).status_code == 201
    yield srv
    srv.stop()


def _text(server) -> str:
    got = httpx.get(server.url + "/v1/memories/m/documents/wren", timeout=30)
    assert got.status_code == 200, got.text
    return " ".join(c["text"] for c in got.json()["chunks"])


@pytest.fixture(scope="module")
def evil_page():
    """A page of another origin on this machine: another local web server's, on localhost."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><p>another site</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://localhost:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_a_page_of_another_origin_cannot_replace_a_document(server, browser, evil_page):
    # a multipart upload needs no CORS preflight: a page elsewhere replaced 'wren' with "PWNED" (no-cors fetch)
    page = browser.new_page()
    try:
        page.goto(evil_page)
        for body in ("fd", "JSON.stringify([{id: 'wren', text: 'PWNED'}])"):
            page.evaluate(f"""async () => {{
                const fd = new FormData();
                fd.append("file", new Blob(['{{"id": "wren", "text": "PWNED"}}\\n']), "x.jsonl");
                await fetch("{server.url}/v1/memories/m/documents", {{method: "POST", mode: "no-cors", body: {body},
                    headers: {{}}}});
            }}""")
    finally:
        page.close()
    assert _text(server) == NOTE["text"]


@pytest.mark.parametrize("origin", ["http://localhost:8650", "null", "http://127.0.0.1:1"])
def test_writes_naming_another_origin_are_refused_and_change_nothing(server, origin):
    for method, path, kw in (("POST", "documents", {"json": [{"id": "wren", "text": "PWNED"}]}),
                             ("DELETE", "documents/wren", {}), ("POST", "forget", {"json": {"ids": ["wren"]}})):
        r = httpx.request(method, f"{server.url}/v1/memories/m/{path}", headers={"Origin": origin}, timeout=30, **kw)
        assert r.status_code == 403 and "another web page" in r.json()["error"], (method, path, r.text)
    r = httpx.delete(server.url + "/v1/memories/m/documents/wren", headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert r.status_code == 403, r.text
    assert _text(server) == NOTE["text"]


def test_the_pages_own_origin_and_clients_without_one_may_write(server):
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    note = {"id": "moss", "text": "Moss grows on the north side of the Orla caves' entrance."}
    assert httpx.post(server.url + "/v1/memories/m/documents", json=[note], headers=own, timeout=120).status_code == 201
    assert httpx.delete(server.url + "/v1/memories/m/documents/moss", headers=own, timeout=30).status_code == 200
    # reading needs no origin check: a browser keeps another origin's answers from its page (no CORS headers)
    r = httpx.get(server.url + "/v1/memories/m/recall", params={"q": "limestone caves"}, headers={"Origin": "http://localhost:8650"},
                  timeout=60)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8470", "127.0.0.1.nip.io", "192.168.1.5"])
def test_a_server_on_loopback_answers_only_to_loopback_names(server, host):
    # DNS rebinding: a domain re-pointed at 127.0.0.1 is same-origin with the server, so its page could read all
    r = httpx.get(server.url + "/v1/memories/m/documents/wren", headers={"Host": host}, timeout=30)
    assert r.status_code == 403 and "answers only to 127.0.0.1" in r.json()["error"], r.text
    port = server.url.rsplit(":", 1)[1]
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert httpx.get(server.url + "/healthz", headers={"Host": name}, timeout=30).status_code == 200, name


def test_no_page_may_frame_the_server(server):
    for path in ("/", "/v1/memories", "/v1/memories/m/documents/nope"):
        r = httpx.get(server.url + path, timeout=30)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'", path


def test_a_server_with_a_token_takes_a_proxys_host_and_origin(tmp_path):
    # behind a proxy (TLS, a domain) a token server sees the proxy's Host and the page's Origin; the token, which
    # a page elsewhere does not hold, is what guards it
    srv = LiveServer([f"m={tmp_path / 'm'}"], token="tok-3f9a")
    try:
        auth = {"Authorization": "Bearer tok-3f9a", "Host": "mem.example.com", "Origin": "https://mem.example.com"}
        r = httpx.post(srv.url + "/v1/memories/m/documents", json=[NOTE], headers=auth, timeout=120)
        assert r.status_code == 201, r.text
        r = httpx.post(srv.url + "/v1/memories/m/forget", json={"ids": ["wren"]}, headers={**auth, "Origin": "null"},
                       timeout=30)
        assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY", r.text
        r = httpx.post(srv.url + "/v1/memories/m/forget", json={"ids": ["wren"]}, headers={"Origin": "null"}, timeout=30)
        assert r.status_code == 401, r.text
    finally:
        srv.stop()
