"""The model's answers on disk, keyed by sha256 of (model, prompt): a rerun asks nobody."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

Answer = tuple[str | None, str | None]  # (content, refusal) as the server sent them


class AnswerCache:
    """One JSON file per answer, `<folder>/<key[:2]>/<key>.json`, written atomically."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str, model: str, prompt_sha256: str) -> Answer | None:
        """The stored answer, or None when absent or unusable (the next `put` overwrites it)."""
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
            answer = entry["answer"]
            if (entry["model"], entry["prompt_sha256"]) != (model, prompt_sha256):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        valid = isinstance(answer, list) and len(answer) == 2
        if not valid or not all(v is None or isinstance(v, str) for v in answer):
            return None
        return answer[0], answer[1]

    def put(self, key: str, model: str, prompt_sha256: str, answer: Answer) -> None:
        """Store an answer (temporary file + rename, so a reader never sees half a file); a
        cache that cannot be written only costs the next run a call."""
        entry: dict[str, Any] = {"model": model, "prompt_sha256": prompt_sha256}
        entry["answer"] = list(answer)
        path = self.path(key)
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
