"""A scripted HTTP server on 127.0.0.1 standing in for the LLM services (unreachable here)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """Serves scripted replies in order and records every request it receives."""

    def __init__(self):
        self.replies: list[tuple] = []   # (status, body bytes, headers dict, delay seconds)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": json.loads(raw)})
                status, body, headers, delay = (server.replies.pop(0) if server.replies
                                                else (500, b"no reply scripted", {}, 0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def reply(self, status=200, body=b"", headers=None, delay=0.0):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.replies.append((status, body, headers or {}, delay))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
