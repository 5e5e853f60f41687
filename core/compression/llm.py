"""LLM reconstruction of a sentence from its nearest neighbours: OpenAI, Claude or Gemini.

Decoding compressed codes gives a vector; similarity matching turns it into the nearest
known sentence. An LLM can do better by reading the several nearest sentences and
writing the one they most likely surround. This module speaks the three HTTP APIs with
the standard library only (no SDK), so it works, and is tested, against any server that
speaks the same JSON, including an OpenAI-compatible local server.

Settings come from the environment:

- ``SEMANTIC_RECON_BACKEND``: ``openai``, ``claude`` or ``gemini`` (unset: no LLM).
- keys: ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``GOOGLE_API_KEY``.
- ``SEMANTIC_RECON_BASE_URL`` (or ``OPENAI_BASE_URL`` for openai): another server, e.g.
  ``http://127.0.0.1:8000/v1`` for a local OpenAI-compatible one (no key needed then).
- ``SEMANTIC_RECON_MODEL``, ``SEMANTIC_RECON_TIMEOUT`` (seconds), ``SEMANTIC_RECON_RETRIES``.

Nothing here may crash a run: :func:`reconstruct` returns ``None`` plus a reason
instead of raising, and the caller keeps its similarity result.
"""
from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

BACKENDS = ("openai", "claude", "gemini")
KEY_VARS = {"openai": "OPENAI_API_KEY", "claude": "ANTHROPIC_API_KEY", "gemini": "GOOGLE_API_KEY"}
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "claude": "claude-3-5-haiku-latest", "gemini": "gemini-1.5-flash"}
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "claude": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
SYSTEM_PROMPT = (
    "You reconstruct a lost sentence from a compressed memory. You are given the sentences "
    "whose meaning is closest to it. Answer with the single sentence they most likely came "
    "from, in the same style, and nothing else."
)
_RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMError(RuntimeError):
    """A request failed for good (after retries, or a status/response not worth retrying)."""


@dataclass
class LLMSettings:
    """Where and how to ask: backend, key, model, base URL, timeout and retry policy."""

    backend: str
    api_key: str | None = None
    model: str | None = None
    base_url: str | None = None
    timeout: float = 30.0
    max_retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_tokens: int = 120

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"SEMANTIC_RECON_BACKEND must be one of {BACKENDS}, got {self.backend!r}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        self.model = self.model or DEFAULT_MODELS[self.backend]
        self.base_url = (self.base_url or DEFAULT_BASE_URLS[self.backend]).rstrip("/")


def settings_from_env(env: Mapping[str, str] | None = None) -> tuple[LLMSettings | None, str]:
    """Read the LLM settings from the environment.

    Returns
    -------
    settings : LLMSettings or None
        ``None`` when no backend is chosen or its key is missing.
    reason : str
        A one-line explanation, meant to be printed once.
    """
    env = os.environ if env is None else env
    backend = env.get("SEMANTIC_RECON_BACKEND", "").strip().lower()
    if not backend:
        return None, "no LLM configured (SEMANTIC_RECON_BACKEND unset): using similarity matching only"
    if backend not in BACKENDS:
        return None, (f"SEMANTIC_RECON_BACKEND={backend!r} is not one of {BACKENDS}: "
                      f"using similarity matching only")
    key = env.get(KEY_VARS[backend], "").strip() or None
    base_url = env.get("SEMANTIC_RECON_BASE_URL", "").strip() or None
    if backend == "openai" and base_url is None:
        base_url = env.get("OPENAI_BASE_URL", "").strip() or None
    if key is None and not (backend == "openai" and base_url):
        return None, (f"{KEY_VARS[backend]} is not set: LLM reconstruction with {backend} is off, "
                      f"using similarity matching only")
    try:
        settings = LLMSettings(
            backend=backend, api_key=key, base_url=base_url,
            model=env.get("SEMANTIC_RECON_MODEL", "").strip() or None,
            timeout=float(env.get("SEMANTIC_RECON_TIMEOUT", "30")),
            max_retries=int(env.get("SEMANTIC_RECON_RETRIES", "3")),
        )
    except ValueError as exc:
        return None, f"bad LLM setting ({exc}): using similarity matching only"
    return settings, f"LLM reconstruction with {backend} ({settings.model} at {settings.base_url})"


def build_prompt(neighbours: Sequence[str]) -> str:
    """The user message: the nearest sentences, closest first, and the question."""
    lines = [f"{i + 1}. {text}" for i, text in enumerate(neighbours)]
    return ("Sentences closest in meaning to the lost one, closest first:\n" + "\n".join(lines)
            + "\n\nWrite the one sentence they most likely came from.")


# ---------------------------------------------------------------------------- requests
def _request(settings: LLMSettings, prompt: str) -> tuple[str, dict, bytes]:
    """(url, headers, body) for one request in the backend's own JSON shape."""
    s = settings
    headers = {"Content-Type": "application/json"}
    if s.backend == "openai":
        url = f"{s.base_url}/chat/completions"
        if s.api_key:
            headers["Authorization"] = f"Bearer {s.api_key}"
        body = {"model": s.model, "temperature": 0, "max_tokens": s.max_tokens,
                "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                             {"role": "user", "content": prompt}]}
    elif s.backend == "claude":
        url = f"{s.base_url}/v1/messages"
        headers["x-api-key"] = s.api_key or ""
        headers["anthropic-version"] = "2023-06-01"
        body = {"model": s.model, "max_tokens": s.max_tokens, "temperature": 0, "system": SYSTEM_PROMPT,
                "messages": [{"role": "user", "content": prompt}]}
    else:  # gemini
        url = f"{s.base_url}/v1beta/models/{urllib.parse.quote(s.model, safe='.-_')}:generateContent"
        headers["x-goog-api-key"] = s.api_key or ""
        body = {"systemInstruction": {"parts": [{"text": SYSTEM_PROMPT}]},
                "contents": [{"role": "user", "parts": [{"text": prompt}]}],
                "generationConfig": {"temperature": 0, "maxOutputTokens": s.max_tokens}}
    return url, headers, json.dumps(body).encode("utf-8")


def _parse(backend: str, payload: bytes) -> str:
    """The answer text of a response body; ``LLMError`` if the body is not what it should be."""
    try:
        data = json.loads(payload.decode("utf-8"))
        if backend == "openai":
            text = data["choices"][0]["message"]["content"]
        elif backend == "claude":
            text = next(b["text"] for b in data["content"] if b.get("type") == "text")
        else:
            text = "".join(p.get("text", "") for p in data["candidates"][0]["content"]["parts"])
    except (ValueError, KeyError, IndexError, TypeError, StopIteration, AttributeError) as exc:
        raise LLMError(f"malformed {backend} response ({type(exc).__name__}): {payload[:200]!r}") from exc
    if not isinstance(text, str) or not text.strip():
        raise LLMError(f"empty {backend} response: {payload[:200]!r}")
    return clean_answer(text)


def clean_answer(text: str) -> str:
    """First non-empty line, without surrounding quotes or a list number."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = line.strip().strip('"\u201c\u201d').strip()
    return line


class LLMClient:
    """Send prompts to one backend with timeouts and retries with exponential backoff.

    Parameters
    ----------
    settings : LLMSettings
    sleep : callable, default=time.sleep
        How to wait between attempts (tests record the delays instead of sleeping).

    Notes
    -----
    Connection errors, timeouts, HTTP 408/409/425/429 and 5xx are retried up to
    ``settings.max_retries`` times, waiting ``backoff * 2**attempt`` seconds (or the
    server's numeric ``Retry-After``), capped at ``max_backoff``. Other HTTP errors
    (400, 401, 403, 404...) and malformed bodies fail at once: asking again would not help.
    """

    def __init__(self, settings: LLMSettings, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.sleep = sleep

    def complete(self, prompt: str) -> str:
        """The model's answer to ``prompt``, cleaned to one line; ``LLMError`` on failure."""
        s = self.settings
        url, headers, body = _request(s, prompt)
        last = "no attempt made"
        for attempt in range(s.max_retries + 1):
            retry_after = None
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=s.timeout) as resp:
                    payload = resp.read()
                return _parse(s.backend, payload)
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200] if exc.fp is not None else b""
                last = f"HTTP {exc.code} from {s.backend}: {detail!r}"
                if exc.code not in _RETRY_STATUSES:
                    raise LLMError(last) from exc
                retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"{s.backend} unreachable or timed out: {reason}"
            if attempt < s.max_retries:
                delay = retry_after if retry_after is not None else s.backoff * (2 ** attempt)
                self.sleep(min(delay, s.max_backoff))
        raise LLMError(f"{last} (gave up after {s.max_retries + 1} attempts)")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def reconstruct(client: LLMClient, neighbours: Sequence[str]) -> tuple[str | None, str | None]:
    """Ask the LLM for the sentence behind ``neighbours``; never raises.

    Returns
    -------
    text : str or None
        The reconstruction, or ``None`` when the request failed.
    error : str or None
        Why it failed, or ``None``.
    """
    try:
        return client.complete(build_prompt(neighbours)), None
    except LLMError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - an LLM must never take the run down
        return None, f"unexpected {type(exc).__name__}: {exc}"
