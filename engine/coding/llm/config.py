"""Where the LLM fallback asks, and how much: from MEDCODE_LLM_* or a YAML/JSON file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_KEYS = {
    "url": "MEDCODE_LLM_URL",
    "model": "MEDCODE_LLM_MODEL",
    "api_key": "MEDCODE_LLM_API_KEY",
    "timeout": "MEDCODE_LLM_TIMEOUT",
    "max_calls": "MEDCODE_LLM_MAX_CALLS",
}


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
                except (TypeError, ValueError):
                    raise LLMConfigError(
                        f"{names[key]} must be {'a number' if kind is float else 'an integer'},"
                        f" not {raw!r}"
                    ) from None
        return cls(**values)
