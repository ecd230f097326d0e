"""The rule language: rule packs in plain files, parsed with Lark, evaluated on encounters.

book = RuleBook.load()                      # rules/*.rules
engine = RuleEngine(codeset, book)
outcome = engine.run(Encounter([Fact("I10"), Fact("N18.30")]))
outcome.codes                               # ['I12.9', 'N18.30']
"""

from __future__ import annotations

from medcode.terminology import CodeSet

from .book import RULES_DIR, RuleBook, display_path, rule_files
from .evaluate import Encounter, Evaluator, Fact, Outcome, RuleQuery, Supporter
from .parser import RuleSyntaxError
from .sets import CodeSets


class InvalidRules(ValueError):
    """Rules that parse but fail the checks of `medcode rules lint`."""


class RuleEngine:
    """A rule book bound to a code set, checked as `medcode rules lint` checks it; `run` is
    safe to call from many threads."""

    def __init__(self, codeset: CodeSet, book: RuleBook | None = None):
        from .lint import check_packs

        self.book = book if book is not None else RuleBook.load()
        findings = check_packs(self.book.packs, codeset)
        if findings:
            more = f" (and {len(findings) - 1} more; run `medcode rules lint`)"
            raise InvalidRules(
                f"{findings[0].at}: {findings[0].message}" + more * (len(findings) > 1)
            )
        self.sets = CodeSets(codeset, self.book.definitions)
        self.evaluator = Evaluator(self.book.rules, self.sets)

    def run(self, encounter: Encounter, supporter: Supporter | None = None) -> Outcome:
        return self.evaluator.run(encounter, supporter)


__all__ = [
    "RULES_DIR",
    "CodeSets",
    "Encounter",
    "Fact",
    "InvalidRules",
    "Outcome",
    "RuleBook",
    "RuleEngine",
    "RuleQuery",
    "RuleSyntaxError",
    "Supporter",
    "display_path",
    "rule_files",
]
