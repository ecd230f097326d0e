"""The optional LLM fallback for ambiguous spans (docs/LLM.md): an OpenAI-compatible server
chooses one of the candidate codes the engine found for a mention, or abstains.

Off unless configured: without MEDCODE_LLM_URL (or a config file) nothing leaves the machine.
The model never adds a code: an answer outside the candidates, or any failure, is a `Choice`
with code None; the engine then keeps its deterministic choice and raises a review edit.
Answers are cached on disk by sha256 of (model, prompt), so a rerun gives the same bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .result import Edit

if TYPE_CHECKING:
    from medcode.terminology import CodeSet

ABSTAIN = "abstain"
STATUSES = (
    "chosen",
    "abstained",
    "invalid",
    "malformed",
    "timeout",
    "http-error",
    "refused",
    "budget",
)
ANSWER_CHARS = 300  # of the raw answer kept in the trace
SENTENCE_CHARS = 1_500  # of the sentence sent; longer ones are cut around the span
NOTES_PER_CANDIDATE = 12
MAX_TOKENS = 256
MAX_RESPONSE_BYTES = 1_000_000
ENV_KEYS = {
    "url": "MEDCODE_LLM_URL",
    "model": "MEDCODE_LLM_MODEL",
    "api_key": "MEDCODE_LLM_API_KEY",
    "timeout": "MEDCODE_LLM_TIMEOUT",
    "max_calls": "MEDCODE_LLM_MAX_CALLS",
}
# Notes that tell sibling codes apart; sequencing notes (code first, use additional) do not.
CHOICE_NOTE_KINDS = ("inclusionTerm", "includes", "excludes1", "excludes2", "notes")
SYSTEM_PROMPT = (
    "You assist a deterministic ICD-10-CM coding engine with one ambiguous mention in a "
    "clinical note. Choose the single candidate code that the documentation supports, "
    "following the ICD-10-CM Official Guidelines for Coding and Reporting and the Tabular "
    "notes given. Never answer a code that is not a candidate. If the documentation does not "
    "clearly support exactly one candidate, abstain. Answer only with a JSON object: "
    '{"code": "<candidate code>"} or {"code": "abstain"}.'
)


class LLMConfigError(ValueError):
    """The LLM configuration is unusable; the CLI reports it in one line with exit status 2."""


def default_cache_dir() -> Path:
    """<medcode cache>/llm: $MEDCODE_CACHE_DIR/llm, else ~/.cache/medcode/llm."""
    from medcode.terminology.cache import cache_dir  # lazy: the terminology package is heavy

    return cache_dir() / "llm"


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """Where to ask and how much: an OpenAI-compatible base URL (".../v1") and a model."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    max_calls: int = 10
    cache_dir: Path = field(default_factory=default_cache_dir)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LLMConfigError(f"LLM url must be http(s)://HOST[:PORT]/..., not {self.url!r}")
        if not self.model.strip():
            raise LLMConfigError("LLM model is empty: set MEDCODE_LLM_MODEL or 'model'")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise LLMConfigError(f"LLM timeout must be > 0 seconds, not {self.timeout!r}")
        if self.max_calls < 0:
            raise LLMConfigError(f"LLM max_calls must be >= 0, not {self.max_calls!r}")
        object.__setattr__(self, "url", self.url.rstrip("/"))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMConfig | None:
        """The configuration in MEDCODE_LLM_*; None (no LLM, no network) without a URL."""
        env = os.environ if environ is None else environ
        if not env.get(ENV_KEYS["url"], "").strip():
            return None
        values: dict[str, Any] = {
            key: env[name] for key, name in ENV_KEYS.items() if env.get(name, "").strip()
        }
        if "model" not in values:
            raise LLMConfigError(f"{ENV_KEYS['url']} is set but {ENV_KEYS['model']} is not")
        if env.get("MEDCODE_CACHE_DIR"):
            values["cache_dir"] = Path(env["MEDCODE_CACHE_DIR"]) / "llm"
        return cls._parsed(values, {k: f"${n}" for k, n in ENV_KEYS.items()})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LLMConfig:
        """The configuration in a YAML or JSON file with the keys url, model, api_key,
        timeout, max_calls, cache_dir (relative to the file's folder)."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise LLMConfigError(f"{path}: cannot read LLM configuration: {error}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except json.JSONDecodeError as error:
            raise LLMConfigError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(error, "problem", None) or str(error)
            raise LLMConfigError(f"{where}: invalid YAML: {problem}".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise LLMConfigError(f"{path}: expected a mapping of url, model, ...")
        allowed = (*ENV_KEYS, "cache_dir")
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise LLMConfigError(f"{path}: unknown key(s) {unknown}; allowed: {list(allowed)}")
        for key in ("url", "model"):
            if not isinstance(data.get(key), str):
                raise LLMConfigError(f"{path}: '{key}' is required (a string)")
        if data.get("cache_dir") is not None:
            data["cache_dir"] = path.parent / str(data["cache_dir"])
        return cls._parsed(data, {k: f"{path}: '{k}'" for k in allowed})

    @classmethod
    def _parsed(cls, values: dict[str, Any], names: dict[str, str]) -> LLMConfig:
        values = {k: v for k, v in values.items() if v is not None}
        for key, kind in (("timeout", float), ("max_calls", int)):
            if key in values:
                raw = values[key]
                try:
                    if isinstance(raw, bool) or (kind is int and isinstance(raw, float)):
                        raise ValueError
                    values[key] = kind(raw)
                except ValueError:
                    raise LLMConfigError(
                        f"{names[key]} must be {'a number' if kind is float else 'an integer'},"
                        f" not {raw!r}"
                    ) from None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A code the engine could report for the mention, with the Tabular notes that apply."""

    code: str
    description: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """A mention whose words support several codes: what the model is shown."""

    span: str
    sentence: str
    section: str | None
    candidates: tuple[Candidate, ...]
    reason: str

    def __post_init__(self) -> None:
        codes = [c.code for c in self.candidates]
        if not codes or len(set(codes)) != len(codes):
            raise ValueError(f"an ambiguity needs distinct candidate codes, not {codes}")

    @property
    def codes(self) -> tuple[str, ...]:
        """The candidate codes, sorted (the order shown to the model)."""
        return tuple(sorted(c.code for c in self.candidates))


@dataclass(frozen=True, slots=True)
class Choice:
    """The model's answer to one ambiguity: a candidate code, or None and why not."""

    code: str | None
    status: str
    model: str
    prompt_sha256: str
    answer: str
    cached: bool = False

    def to_trace(self) -> dict[str, Any]:
        """The trace step: {"step": "llm", "model", "prompt_sha256", "status", "answer", ...}."""
        return {
            "step": "llm",
            "model": self.model,
            "prompt_sha256": self.prompt_sha256,
            "status": self.status,
            "answer": self.answer,
            "code": self.code,
            "cached": self.cached,
        }


_FAILURES = {
    "abstained": "the model abstained",
    "invalid": "the model answered a code outside the candidates",
    "malformed": "the model's answer was not the JSON asked for",
    "timeout": "the model did not answer in time",
    "http-error": "the model server failed",
    "refused": "the model refused",
    "budget": "the document's limit of model calls was reached",
}


def review_edit(ambiguity: Ambiguity, choice: Choice, kept: str) -> Edit | None:
    """The "needs review" edit when the model did not choose: `kept` (the deterministic
    choice) stands, and a coder should confirm it. None when the model chose."""
    if choice.status == "chosen":
        return None
    others = [c for c in ambiguity.codes if c != kept]
    return Edit(
        "llm-needs-review",
        "warning",
        (kept, *others),
        f'"{ambiguity.span}" could also be {", ".join(others) or "none"} ({ambiguity.reason}); '
        f"{_FAILURES.get(choice.status, choice.status)}, so {kept} was kept: please review",
        "engine/llm.py",
    )


def candidates_from_codeset(codeset: CodeSet, codes: Iterable[str]) -> tuple[Candidate, ...]:
    """Candidates with their titles and the notes that tell them apart: inclusion terms,
    includes, excludes and notes that apply to some candidates but not to all."""
    codes = list(dict.fromkeys(codes))
    applied = {
        code: [
            f"{a.note.kind.label}: {a.note.text}"
            for a in codeset.applicable_notes(code)
            if a.note.kind.value in CHOICE_NOTE_KINDS
        ]
        for code in codes
    }
    shared = set.intersection(*(set(n) for n in applied.values())) if len(codes) > 1 else set()
    notes = {code: [n for n in applied[code] if n not in shared] for code in codes}
    candidates = [
        Candidate(code, codeset.node(code).title, tuple(notes[code][:NOTES_PER_CANDIDATE]))
        for code in codes
    ]
    return tuple(candidates)


def build_messages(ambiguity: Ambiguity) -> list[dict[str, str]]:
    """The chat messages for one ambiguity: the same ambiguity gives the same messages."""
    by_code = {c.code: c for c in ambiguity.candidates}
    lines = [
        f"Mention: {_quoted(ambiguity.span)}",
        f"Sentence: {_quoted(_window(ambiguity.sentence, ambiguity.span))}",
        f"Section: {ambiguity.section or 'unknown'}",
        f"Why the engine could not decide: {ambiguity.reason}",
        "Candidate codes:",
    ]
    for number, code in enumerate(ambiguity.codes, 1):
        lines.append(f"{number}. {code} {by_code[code].description}")
        lines += [f"   - {note}" for note in by_code[code].notes]
    choices = ", ".join(_quoted(code) for code in (*ambiguity.codes, ABSTAIN))
    lines.append(f'Answer with JSON only: {{"code": X}} where X is one of {choices}.')
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def request_body(model: str, ambiguity: Ambiguity) -> dict[str, Any]:
    """The chat-completions request: temperature 0, and a JSON schema whose `code` is one of
    the candidates or "abstain" (servers that ignore response_format are parsed the same)."""
    return {
        "model": model,
        "messages": build_messages(ambiguity),
        "temperature": 0,
        "seed": 0,
        "max_tokens": MAX_TOKENS,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "icd10cm_choice",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"code": {"type": "string", "enum": [*ambiguity.codes, ABSTAIN]}},
                    "required": ["code"],
                    "additionalProperties": False,
                },
            },
        },
    }


class LLMChooser:
    """Asks the configured server to choose among an ambiguity's candidates. Never raises,
    never returns a code outside the candidates. One per engine; a `session()` per document."""

    def __init__(self, config: LLMConfig):
        self.config = config
        host = urlsplit(config.url).hostname or ""
        # A local server is never reached through a proxy (PHI stays on the machine).
        proxies = {} if host in ("localhost", "127.0.0.1", "::1") else None
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(proxies), _NoRedirect()
        )

    def session(self) -> LLMSession:
        """A per-document budget of `config.max_calls` consultations."""
        return LLMSession(self)

    def choose(self, ambiguity: Ambiguity) -> Choice:
        """The model's choice, from the cache when this model was asked this prompt before."""
        model = self.config.model
        messages = build_messages(ambiguity)
        prompt_sha256 = _sha256([messages])
        key = _sha256([model, messages])
        cached = self._cached(key, model, prompt_sha256)
        if cached is not None:
            return _judge(ambiguity, model, prompt_sha256, *cached, cached=True)
        outcome = self._ask(request_body(model, ambiguity))
        if isinstance(outcome, _Failure):  # of the transport: not an answer, not cached
            return Choice(None, outcome.status, model, prompt_sha256, outcome.detail[:ANSWER_CHARS])
        self._store(key, {"model": model, "prompt_sha256": prompt_sha256, "answer": outcome})
        return _judge(ambiguity, model, prompt_sha256, *outcome, cached=False)

    def budget_exhausted(self, ambiguity: Ambiguity) -> Choice:
        return Choice(None, "budget", self.config.model, _sha256([build_messages(ambiguity)]), "")

    def _ask(self, body: dict[str, Any]) -> tuple[str | None, str | None] | _Failure:
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
        deadline = time.monotonic() + timeout
        late = _Failure("timeout", f"no answer within {timeout:g} s")
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
        try:
            message = json.loads(raw)["choices"][0]
            content, refusal = message["message"].get("content"), message["message"].get("refusal")
            if message.get("finish_reason") == "content_filter" and not refusal:
                refusal = "finish_reason: content_filter"
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return _Failure("malformed", "not a chat completion: " + raw.decode("utf-8", "replace"))
        if not (content is None or isinstance(content, str)) or not (
            refusal is None or isinstance(refusal, str)
        ):
            return _Failure("malformed", "not a chat completion: " + raw.decode("utf-8", "replace"))
        return content, refusal

    def _path(self, key: str) -> Path:
        return self.config.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, key: str, model: str, prompt_sha256: str) -> tuple[Any, Any] | None:
        """The stored answer, or None when absent or unusable (it is then overwritten)."""
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            if entry["model"] != model or entry["prompt_sha256"] != prompt_sha256:
                return None
            content, refusal = entry["answer"] if isinstance(entry["answer"], list) else (0, 0)
            if all(v is None or isinstance(v, str) for v in (content, refusal)):
                return content, refusal
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        """Write the entry atomically (temporary file + rename); a cache that cannot be
        written only costs the next run a call."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    json.dump(entry, stream, ensure_ascii=False, sort_keys=True)
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            pass


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
            return self._chooser.budget_exhausted(ambiguity)
        self._used += 1
        return self._chooser.choose(ambiguity)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: the note's words go to the configured server and nowhere else."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _judge(
    ambiguity: Ambiguity,
    model: str,
    prompt_sha256: str,
    content: str | None,
    refusal: str | None,
    *,
    cached: bool,
) -> Choice:
    """The status of a raw answer: a candidate (case-insensitive), abstain, or a failure."""
    code, status, answer = None, "malformed", content or ""
    if refusal:
        status, answer = "refused", refusal
    elif content:
        value = _json_object(content)
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            said = value["code"].strip()
            codes = {c.upper(): c for c in ambiguity.codes}
            if said.lower() == ABSTAIN:
                status = "abstained"
            elif said.upper() in codes:
                code, status = codes[said.upper()], "chosen"
            else:
                status = "invalid"
    return Choice(code, status, model, prompt_sha256, answer[:ANSWER_CHARS], cached)


def _json_object(content: str) -> Any:
    """The JSON value of an answer, tolerating a ``` fence or words around one object."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        try:
            return json.JSONDecoder().raw_decode(text[start:])[0] if start >= 0 else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class _Failure:
    status: str
    detail: str


def _sha256(value: Any) -> str:
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _window(sentence: str, span: str) -> str:
    """The sentence, or SENTENCE_CHARS of it centred on the span when it is longer."""
    if len(sentence) <= SENTENCE_CHARS:
        return sentence
    centre = max(0, sentence.find(span)) + len(span) // 2
    start = max(0, min(centre - SENTENCE_CHARS // 2, len(sentence) - SENTENCE_CHARS))
    return sentence[start : start + SENTENCE_CHARS]
