"""`medcode.Coder`: the engine's Coder, whose results are `medcode.Result`s."""

from __future__ import annotations

from typing import Any

from medcode.engine.coding.coder import Coder as EngineCoder
from medcode.engine.coding.coder import InputError
from medcode.engine.result import CodingResult
from medcode.engine.rulelang import Outcome

from .document import Result


class Coder(EngineCoder):
    """The coding engine: build once (it loads spaCy, the code set and the rule packs, a few
    seconds; a cold cache builds in ~15 s), then `code(text)` or `pipe(texts)` many times.

    `tabular` is a CMS Tabular XML file (the packaged FY2026 one by default), `rules` a
    RuleBook (the shipped packs by default), `cms_dir` a CMS release folder whose Index family
    replaces the packaged one. Bad input (an empty note, an unknown setting or sex) raises
    `InputError`, a ValueError. `code` and `pipe` return `Result`s."""

    def code_traced(self, text: str, **options: Any) -> tuple[Result, Outcome]:
        """`code`, plus what the rule packs did: every firing."""
        result, outcome = super().code_traced(text, **options)
        return self._result(result, text), outcome

    def _result(self, result: CodingResult, text: str) -> Result:
        nodes = {e.code: self.codeset.get(e.code) for e in result.excluded}
        titles = {code: node.title for code, node in nodes.items() if node is not None}
        return Result.of(result, text, titles)


__all__ = ["Coder", "InputError"]
