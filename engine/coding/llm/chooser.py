"""Ask an OpenAI-compatible server (`POST {url}/chat/completions`) to choose a candidate."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .cache import Answer, AnswerCache
from .config import LLMConfig
from .protocol import ANSWER_CHARS, build_messages, digest, read_answer, request_body
from .values import Ambiguity, Choice

MAX_RESPONSE_BYTES = 1_000_000
LOOPBACK = ("localhost", "127.0.0.1", "::1")


class LLMChooser:
    """Asks the configured server to choose among an ambiguity's candidates. Never raises,
    never returns a code outside the candidates. One per engine; a `session()` per document."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self.cache = AnswerCache(config.cache_dir)
        # A local server is never reached through a proxy: the words stay on the machine.
        proxies = {} if urlsplit(config.url).hostname in LOOPBACK else None
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(proxies), _NoRedirect()
        )

    def session(self) -> LLMSession:
        """A per-document budget of `config.max_calls` consultations."""
        return LLMSession(self)

    def choose(self, ambiguity: Ambiguity) -> Choice:
        """The model's choice, from the cache when this model was asked this prompt before.
        Answers are cached; failures of the transport (timeout, HTTP error) are not."""
        model = self.config.model
        messages = build_messages(ambiguity)
        prompt_sha256, key = digest([messages]), digest([model, messages])
        cached = self.cache.get(key, model, prompt_sha256)
        if cached is not None:
            return read_answer(ambiguity, model, prompt_sha256, cached, cached=True)
        outcome = self._post(request_body(model, ambiguity))
        if isinstance(outcome, _Failure):
            return Choice(None, outcome.status, model, prompt_sha256, outcome.detail[:ANSWER_CHARS])
        self.cache.put(key, model, prompt_sha256, outcome)
        return read_answer(ambiguity, model, prompt_sha256, outcome, cached=False)

    def budget_spent(self, ambiguity: Ambiguity) -> Choice:
        """The choice when the document's budget is spent: no call, no code."""
        return Choice(None, "budget", self.config.model, digest([build_messages(ambiguity)]), "")

    def _post(self, body: dict[str, Any]) -> Answer | _Failure:
        """(content, refusal) of the server's answer, or why there is none."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request = urllib.request.Request(
            f"{self.config.url}/chat/completions",
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=headers,
            method="POST",
        )
        timeout = self.config.timeout
        late = _Failure("timeout", f"no answer within {timeout:g} s")
        deadline = time.monotonic() + timeout  # the socket timeout bounds each read, not all
        try:
            with self._opener.open(request, timeout=timeout) as response:
                raw = b""
                while chunk := response.read(65_536):
                    raw += chunk
                    if time.monotonic() > deadline:
                        return late
                    if len(raw) > MAX_RESPONSE_BYTES:
                        return _Failure("malformed", "response larger than 1 MB")
        except urllib.error.HTTPError as error:
            with error:
                detail = error.read(ANSWER_CHARS).decode("utf-8", "replace")
            return _Failure("http-error", f"HTTP {error.code} {error.reason}: {detail}")
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                return late
            return _Failure("http-error", f"cannot reach the server: {error.reason}")
        except TimeoutError:
            return late
        except (OSError, http.client.HTTPException) as error:
            return _Failure("http-error", f"connection failed: {error!r}")
        return _completion(raw)


class LLMSession:
    """One document's consultations: at most `max_calls`, then status "budget" without a
    call. Cached answers count too, so a rerun consults the same ambiguities, byte for byte."""

    def __init__(self, chooser: LLMChooser):
        self._chooser = chooser
        self._used = 0

    @property
    def calls_left(self) -> int:
        return max(0, self._chooser.config.max_calls - self._used)

    def choose(self, ambiguity: Ambiguity) -> Choice:
        if not self.calls_left:
            return self._chooser.budget_spent(ambiguity)
        self._used += 1
        return self._chooser.choose(ambiguity)


@dataclass(frozen=True, slots=True)
class _Failure:
    """No answer: the transport failed (not cached; the next run asks again)."""

    status: str
    detail: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: the note's words go to the configured server and nowhere else."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _completion(raw: bytes) -> Answer | _Failure:
    """(content, refusal) of a chat completion's first choice; a content filter is a refusal."""
    try:
        first = json.loads(raw)["choices"][0]
        content, refusal = first["message"].get("content"), first["message"].get("refusal")
        if first.get("finish_reason") == "content_filter" and not refusal:
            refusal = "finish_reason: content_filter"
        if all(v is None or isinstance(v, str) for v in (content, refusal)):
            return content, refusal
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    return _Failure("malformed", "not a chat completion: " + raw.decode("utf-8", "replace"))
