"""The assertion policy and the history-code table, read from the rule packs in rules/."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from medcode.engine.rulelang.book import RULES_DIR
from medcode.terminology import CodeSet
from medcode.terminology.coderefs import parse_references

POLICY_FILE = RULES_DIR / "assertion_policy.yaml"
HISTORY_FILE = RULES_DIR / "history_codes.yaml"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    action: str
    citation: str
    source: str


@dataclass(frozen=True, slots=True)
class HistoryRow:
    condition: str
    targets: tuple[str, ...]
    family: str | None
    history: str | None
    source: str


class AssertionPolicy:
    """What to do with a mention of each assertion in each setting, and which Z code to use."""

    def __init__(self, codeset: CodeSet):
        self.codeset = codeset
        text = POLICY_FILE.read_text(encoding="utf-8")
        self.table = yaml.safe_load(text)
        self.lines = _lines_of(text)
        services = self.table.get("reason_for_encounter_only", {}).get("codes", "")
        self._services = tuple(
            t for ref in parse_references(services) for t in codeset.resolve(ref)
        )
        lines = HISTORY_FILE.read_text(encoding="utf-8").splitlines()
        row_lines = [i + 1 for i, line in enumerate(lines) if line.startswith("- ")]
        self.history = [
            HistoryRow(
                row["condition"],
                tuple(
                    t for ref in parse_references(row["condition"]) for t in codeset.resolve(ref)
                ),
                row.get("family"),
                row.get("history"),
                f"rules/{HISTORY_FILE.name}:{line}",
            )
            for row, line in zip(yaml.safe_load("\n".join(lines)), row_lines, strict=True)
        ]

    def incidental_service(self, code: str, section: str | None) -> PolicyDecision | None:
        """The decision not to code a service (counseling) outside the reason for the
        encounter, or None when the code is not such a service or is that reason."""
        rule = self.table.get("reason_for_encounter_only")
        if not rule or section in rule["sections"]:
            return None
        if not any(self.codeset.is_below(code, target) for target in self._services):
            return None
        line = self.lines["reason_for_encounter_only", "codes"]
        return PolicyDecision("exclude", rule["citation"], f"rules/{POLICY_FILE.name}:{line}")

    def decide(self, setting: str, assertion: str) -> PolicyDecision:
        rule = self.table[setting][assertion]
        line = self.lines[setting, assertion]
        return PolicyDecision(rule["action"], rule["citation"], f"rules/{POLICY_FILE.name}:{line}")

    def history_code(self, code: str, kind: str) -> tuple[str | None, HistoryRow | None]:
        """The family- or personal-history code for a condition code (kind: family|history);
        `self` in the table means the code already is one, `current` that the condition is
        chronic and coded itself, `none` that there is none."""
        for row in self.history:
            if any(self.codeset.is_below(code, target) for target in row.targets):
                value = getattr(row, kind)
                return {"self": code, "current": code, "none": None}.get(value or "", value), row
        return None, None


def _lines_of(text: str) -> dict[tuple[str, str], int]:
    """(setting, assertion) -> line number in the policy file, for traces."""
    lines: dict[tuple[str, str], int] = {}
    setting = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line and not line[0].isspace() and line.endswith(":"):
            setting = line[:-1]
        elif setting and ":" in line and not line.lstrip().startswith("#"):
            lines[setting, line.strip().split(":")[0]] = number
    return lines
