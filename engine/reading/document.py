"""The kind of document a note is, and so the setting a coder codes it in: discharge summaries
and admission H&Ps are inpatient (Section II), consultations, emergency department and office
notes outpatient (Section IV). The signs of each kind are data (document_types.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

TYPES_FILE = Path(__file__).with_name("document_types.yaml")
OPENING_CHARS = 400


@dataclass(frozen=True, slots=True)
class DocumentType:
    kind: str
    setting: str
    reason: str  # the signs that decided it, as the note writes them


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    setting: str
    opening: tuple[re.Pattern[str], ...]
    phrases: tuple[re.Pattern[str], ...]
    sections: frozenset[str]


class DocumentTypes:
    """Decides a note's kind from its opening, its phrases and its section categories."""

    def __init__(self, path: Path = TYPES_FILE):
        def patterns(row: dict, key: str) -> tuple[re.Pattern[str], ...]:
            return tuple(re.compile(p, re.IGNORECASE) for p in row.get(key, ()))

        self.kinds = [
            _Kind(
                row["kind"],
                row["setting"],
                patterns(row, "opening"),
                patterns(row, "phrases"),
                frozenset(row.get("sections", ())),
            )
            for row in yaml.safe_load(path.read_text(encoding="utf-8"))
        ]
        signs = [p.pattern for k in self.kinds for p in (*k.opening, *k.phrases)]
        self.any_sign = re.compile("|".join(f"(?:{p})" for p in signs), re.IGNORECASE)
        self.sections = frozenset().union(*(k.sections for k in self.kinds))

    def classify(self, text: str, sections: frozenset[str]) -> DocumentType:
        opening = text[:OPENING_CHARS]
        # most notes are office notes, the last kind: one search of the text for any sign of
        # another kind first (each pattern alone only to name the signs of the kind it found)
        if not sections & self.sections and not self.any_sign.search(text):
            kind = self.kinds[-1]
            return DocumentType(kind.name, kind.setting, kind.name)
        for kind in self.kinds:
            signs = [f"section {s}" for s in sorted(kind.sections & sections)]
            signs += [f'"{m.group(0)}"' for p in kind.opening if (m := p.search(opening))]
            signs += [f'"{m.group(0)}"' for p in kind.phrases if (m := p.search(text))]
            if signs or not (kind.opening or kind.phrases or kind.sections):
                reason = f"{kind.name}: {', '.join(signs)}" if signs else kind.name
                return DocumentType(kind.name, kind.setting, reason)
        raise ValueError("document_types.yaml needs a last kind without signs")
