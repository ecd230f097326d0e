"""Encounter-level rules from rules/code_rules.yaml: combination codes and integral symptoms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from medcode.terminology import CodeSet, normalize_code
from medcode.terminology.coderefs import parse_references

from .policy import RULES_DIR

CODE_RULES_FILE = RULES_DIR / "code_rules.yaml"


@dataclass(frozen=True, slots=True)
class CodeRule:
    id: str
    kind: str
    citation: str
    source: str
    spec: dict[str, Any]


class CodeRules:
    """The rules of code_rules.yaml, with their code references resolved once."""

    def __init__(self, codeset: CodeSet):
        self.codeset = codeset
        lines = CODE_RULES_FILE.read_text(encoding="utf-8").splitlines()
        starts = [i + 1 for i, line in enumerate(lines) if line.startswith("- id:")]
        self.rules = [
            CodeRule(
                item["id"],
                item["kind"],
                item["citation"],
                f"rules/{CODE_RULES_FILE.name}:{line}",
                item,
            )
            for item, line in zip(yaml.safe_load("\n".join(lines)), starts, strict=True)
        ]
        self._targets: dict[str, tuple[str, ...]] = {}

    def matches(self, code: str, reference: str) -> bool:
        """Whether `code` is at or below a node the reference list denotes."""
        targets = self._targets.get(reference)
        if targets is None:
            targets = self._targets[reference] = tuple(
                t for ref in parse_references(reference) for t in self.codeset.resolve(ref)
            )
        return any(self.codeset.is_below(code, t) for t in targets)

    def apply(self, candidates: list) -> None:
        """Rewrite the reported candidates in place (`code`, `action`, `reason`, `trace`)."""
        for rule in self.rules:
            reported = [c for c in candidates if c.action == "code"]
            codes = {c.code for c in reported}
            if rule.kind == "combine":
                self._combine(rule, reported, codes)
            elif rule.kind == "drop":
                self._drop(rule, reported, codes)

    def _step(self, rule: CodeRule, before: str, after: str | None) -> dict[str, Any]:
        return {
            "step": "rule",
            "rule": rule.id,
            "citation": rule.citation,
            "source": rule.source,
            "before": before,
            "after": after,
        }

    def _combine(self, rule: CodeRule, reported: list, codes: set[str]) -> None:
        spec = rule.spec
        if not all(any(self.matches(c, ref) for c in codes) for ref in spec["when_all"]):
            return
        replace, new = normalize_code(spec["replace"]), normalize_code(spec["with"])
        for candidate in reported:
            if candidate.code == replace:
                candidate.trace.append(self._step(rule, replace, new))
                candidate.code = new

    def _drop(self, rule: CodeRule, reported: list, codes: set[str]) -> None:
        spec = rule.spec
        causes = sorted(c for c in codes if self.matches(c, spec["when_any"]))
        if not causes:
            return
        for candidate in reported:
            if self.matches(candidate.code, spec["drop"]):
                candidate.trace.append(self._step(rule, candidate.code, None))
                candidate.action = "exclude"
                candidate.reason = f"integral to {', '.join(causes)} ({rule.citation})"
