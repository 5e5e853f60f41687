"""LLM backends against a fake HTTP server on 127.0.0.1 (the real services are unreachable here)."""
from __future__ import annotations

import socket

import pytest

from _fake_llm import FakeServer

from core.compression.llm import (LLMClient, LLMError, LLMSettings, SYSTEM_PROMPT, build_prompt, reconstruct,
                      settings_from_env)

NEIGHBOURS = ["The cathedral was rebuilt in 1250.", "Its spire fell in a storm."]


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def _client(backend, url, sleeps=None, **kw):
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff", 0.5)
    settings = LLMSettings(backend=backend, api_key="sk-test", base_url=url, **kw)
    return LLMClient(settings, sleep=(sleeps.append if sleeps is not None else lambda s: None))


OK_BODIES = {
    "openai": {"choices": [{"message": {"role": "assistant", "content": "The spire was rebuilt."}}]},
    "claude": {"content": [{"type": "text", "text": "The spire was rebuilt."}]},
    "gemini": {"candidates": [{"content": {"parts": [{"text": "The spire was rebuilt."}]}}]},
}


def test_openai_request_shape(server):
    server.reply(body=OK_BODIES["openai"])
    text, err = reconstruct(_client("openai", server.url + "/v1"), NEIGHBOURS)
    assert (text, err) == ("The spire was rebuilt.", None)
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert body["messages"][1]["role"] == "user"
    assert all(n in body["messages"][1]["content"] for n in NEIGHBOURS)


def test_claude_request_shape(server):
    server.reply(body=OK_BODIES["claude"])
    text, err = reconstruct(_client("claude", server.url), NEIGHBOURS)
    assert (text, err) == ("The spire was rebuilt.", None)
    req = server.requests[0]
    assert req["path"] == "/v1/messages"
    assert req["headers"]["x-api-key"] == "sk-test"
    assert req["headers"]["anthropic-version"] == "2023-06-01"
    assert req["body"]["system"] == SYSTEM_PROMPT
    assert req["body"]["max_tokens"] > 0
    assert req["body"]["messages"] == [{"role": "user", "content": build_prompt(NEIGHBOURS)}]


def test_gemini_request_shape(server):
    server.reply(body=OK_BODIES["gemini"])
    text, err = reconstruct(_client("gemini", server.url, model="gemini-1.5-flash"), NEIGHBOURS)
    assert (text, err) == ("The spire was rebuilt.", None)
    req = server.requests[0]
    assert req["path"] == "/v1beta/models/gemini-1.5-flash:generateContent"
    assert req["headers"]["x-goog-api-key"] == "sk-test"
    assert req["body"]["contents"][0]["parts"][0]["text"] == build_prompt(NEIGHBOURS)
    assert req["body"]["systemInstruction"]["parts"][0]["text"] == SYSTEM_PROMPT


def test_answer_is_cleaned_to_one_line(server):
    server.reply(body={"choices": [{"message": {"content": '\n "A rebuilt spire."\nExplanation: ...'}}]})
    assert reconstruct(_client("openai", server.url), NEIGHBOURS)[0] == "A rebuilt spire."


def test_retries_with_exponential_backoff_then_succeeds(server):
    server.reply(503, b"busy")
    server.reply(502, b"bad gateway")
    server.reply(body=OK_BODIES["openai"])
    sleeps = []
    text, err = reconstruct(_client("openai", server.url, sleeps), NEIGHBOURS)
    assert text == "The spire was rebuilt." and err is None
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_retry_after_header_is_honoured(server):
    server.reply(429, b"slow down", headers={"Retry-After": "2"})
    server.reply(body=OK_BODIES["claude"])
    sleeps = []
    assert reconstruct(_client("claude", server.url, sleeps), NEIGHBOURS)[0] == "The spire was rebuilt."
    assert sleeps == [2.0]


def test_gives_up_after_max_retries(server):
    for _ in range(4):
        server.reply(500, b"boom")
    sleeps = []
    text, err = reconstruct(_client("gemini", server.url, sleeps), NEIGHBOURS)
    assert text is None
    assert "HTTP 500" in err and "4 attempts" in err
    assert len(server.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(server, status):
    server.reply(status, b'{"error": "nope"}')
    sleeps = []
    text, err = reconstruct(_client("openai", server.url, sleeps), NEIGHBOURS)
    assert text is None and f"HTTP {status}" in err
    assert len(server.requests) == 1 and sleeps == []


@pytest.mark.parametrize("backend,body", [
    ("openai", b"this is not json"),
    ("openai", {"choices": []}),
    ("openai", {"choices": [{"message": {"content": "   "}}]}),
    ("claude", {"content": [{"type": "tool_use", "id": "x"}]}),
    ("claude", {"content": "oops"}),
    ("gemini", {"candidates": []}),
    ("gemini", {"promptFeedback": {"blockReason": "SAFETY"}}),
])
def test_malformed_responses_fail_cleanly(server, backend, body):
    server.reply(200, body)
    text, err = reconstruct(_client(backend, server.url), NEIGHBOURS)
    assert text is None
    assert "malformed" in err or "empty" in err
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(server):
    server.reply(body=OK_BODIES["openai"], delay=1.0)
    server.reply(body=OK_BODIES["openai"], delay=1.0)
    sleeps = []
    client = _client("openai", server.url, sleeps, timeout=0.2, max_retries=1)
    text, err = reconstruct(client, NEIGHBOURS)
    assert text is None and "timed out" in err
    assert len(server.requests) == 2 and sleeps == [0.5]


def test_unreachable_server_does_not_raise():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    text, err = reconstruct(_client("claude", f"http://127.0.0.1:{port}", sleeps, max_retries=2), NEIGHBOURS)
    assert text is None and "unreachable" in err
    assert sleeps == [0.5, 1.0]


def test_complete_raises_llmerror_not_other_exceptions(server):
    server.reply(200, b"[]")
    with pytest.raises(LLMError):
        _client("openai", server.url).complete("hi")


def test_settings_from_env():
    s, why = settings_from_env({})
    assert s is None and "SEMANTIC_RECON_BACKEND" in why
    s, why = settings_from_env({"SEMANTIC_RECON_BACKEND": "claude"})
    assert s is None and "ANTHROPIC_API_KEY" in why
    s, why = settings_from_env({"SEMANTIC_RECON_BACKEND": "bard", "GOOGLE_API_KEY": "k"})
    assert s is None and "bard" in why
    s, _ = settings_from_env({"SEMANTIC_RECON_BACKEND": "gemini", "GOOGLE_API_KEY": "g",
                              "SEMANTIC_RECON_MODEL": "gemini-2.0-flash", "SEMANTIC_RECON_TIMEOUT": "5"})
    assert (s.backend, s.api_key, s.model, s.timeout) == ("gemini", "g", "gemini-2.0-flash", 5.0)
    assert s.base_url == "https://generativelanguage.googleapis.com"
    # a local OpenAI-compatible server needs no key
    s, _ = settings_from_env({"SEMANTIC_RECON_BACKEND": "OpenAI", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1/"})
    assert s.backend == "openai" and s.api_key is None and s.base_url == "http://127.0.0.1:8000/v1"
    s, why = settings_from_env({"SEMANTIC_RECON_BACKEND": "openai", "OPENAI_API_KEY": "k",
                                "SEMANTIC_RECON_TIMEOUT": "-1"})
    assert s is None and "timeout" in why


def test_local_server_without_key_sends_no_authorization(server):
    server.reply(body=OK_BODIES["openai"])
    settings, _ = settings_from_env({"SEMANTIC_RECON_BACKEND": "openai", "SEMANTIC_RECON_BASE_URL": server.url})
    assert reconstruct(LLMClient(settings), NEIGHBOURS)[0] == "The spire was rebuilt."
    assert "authorization" not in server.requests[0]["headers"]
