"""Drug classes and the status codes a list of drugs implies (drugs.yaml): long-term (current)
drug therapy (Z79.-) from a medication list, allergy status (Z88.-, Z91.0-) from an allergy list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .lexicon import normalize_tokens

DRUGS_FILE = Path(__file__).with_name("drugs.yaml")


@dataclass(frozen=True, slots=True)
class DrugClass:
    name: str
    long_term: str | None  # Z79.- for the drug on a medication list, or None
    allergy: str | None  # Z88.- / Z91.0- for the drug on an allergy list, or None


class DrugTable:
    """Drug names (as normalised words) -> their class; the words of a short course."""

    def __init__(
        self,
        names: dict[tuple[str, ...], tuple[str, DrugClass]],
        short_course: re.Pattern[str] | None = None,
    ):
        self.names = names
        self.longest = max((len(words) for words in names), default=0)
        self.short_course = short_course

    @classmethod
    def load(cls, path: Path = DRUGS_FILE) -> DrugTable:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        names: dict[tuple[str, ...], tuple[str, DrugClass]] = {}
        for name, row in data["classes"].items():
            drug_class = DrugClass(name, row.get("long_term"), row.get("allergy"))
            for drug in row["names"]:
                names.setdefault(normalize_tokens(str(drug)), (str(drug), drug_class))
        short = data.get("short_course", ())
        return cls(names, re.compile("|".join(short), re.IGNORECASE) if short else None)

    def codes(self) -> set[str]:
        """Every code the table names (each must be a billable code of the code set)."""
        return {
            code
            for _, drug_class in self.names.values()
            for code in (drug_class.long_term, drug_class.allergy)
            if code
        }

    def match(self, words: list[str], start: int) -> tuple[int, str, DrugClass] | None:
        """The longest drug name at words[start]: its length in words, name and class."""
        for length in range(min(self.longest, len(words) - start), 0, -1):
            found = self.names.get(tuple(words[start : start + length]))
            if found is not None:
                return length, *found
        return None
