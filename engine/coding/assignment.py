"""Assignment: a mention -> its candidate code. The matched term's node, walked down to the most
specific billable code the words support, then the assertion policy of the setting and the
history-code table decide whether it is coded, excluded or becomes a history Z code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medcode.engine.reading.measurements import ORIGIN as MEASUREMENT_ORIGIN
from medcode.engine.reading.mentions import Mention
from medcode.terminology.index_terms import SOURCE as INDEX_SOURCE
from medcode.terminology.index_terms import NeoplasmTable, behavior
from medcode.terminology.lexicon import LexiconEntry

from .policy import AssertionPolicy
from .specificity import SpecificityWalker


@dataclass(slots=True)
class Candidate:
    """A mention's code and what became of it (`action` "code" or "exclude", and why)."""

    code: str
    mention: Mention
    trace: list[dict[str, Any]]
    missing: tuple[str, ...]
    action: str
    reason: str
    support: frozenset[str] = frozenset()

    @property
    def real(self) -> bool:
        """Whether the note says the condition is there (not negated, not hypothetical)."""
        return self.mention.assertion not in ("negated", "hypothetical")

    @property
    def measured(self) -> bool:
        """A value the note measured ("BMI 24.5"), not a condition it states."""
        return self.trace[0].get("source") == MEASUREMENT_ORIGIN


def matched_node(candidate: Candidate) -> str:
    """The node the mention's term names: the Index's, where the Index decided it (a
    morphology term's Neoplasm Table cell), else the lexicon match's."""
    for step in candidate.trace[:2]:
        if step["step"] == "index":
            return step["code"]
    return candidate.trace[0]["node"]


# The section whose conditions without a history code are the patient's chronic conditions.
CHRONIC_LIST = "past_medical_history"


class Assigner:
    """Turns each mention into a candidate code, every step traced."""

    def __init__(self, walker: SpecificityWalker, policy: AssertionPolicy, neoplasm: NeoplasmTable):
        self.walker = walker
        self.policy = policy
        self.neoplasm = neoplasm

    def _default_walked(self, key: str) -> str:
        """An Index code that is its subcategory's default ("Ulcer, duodenum, acute": K26.3,
        acute without hemorrhage or perforation) is walked again from its parent, so that the
        sentence's words can still say what the default leaves out ("with active bleeding")."""
        node = self.walker.codeset.node(key)
        parent = self.walker.codeset.parent(key)
        if not node.billable or parent is None or ":" in parent or "-" in parent:
            return key
        title = node.title.lower()
        return parent if " without " in f" {title} " or "unspecified" in title else key

    def _sited(self, mention: Mention) -> LexiconEntry | None:
        """A morphology term whose phrase names a Neoplasm Table site ("hard palate cancer"):
        the Index path to the table outranks a term that names no site."""
        for entry in mention.entries:
            if entry.table is not None:
                column = behavior(mention.phrase_words, entry.table)
                return entry if self.neoplasm.site(mention.phrase_words, column) else None
        return None

    def _index(self, entry: LexiconEntry, mention: Mention) -> tuple[str, dict[str, Any] | None]:
        """The node an Index term leads to, and its trace step: the path as printed; for a
        morphology term ("adenocarcinoma"), the Neoplasm Table row its phrase names and the
        column its words decide ("metastatic": secondary)."""
        if entry.source != INDEX_SOURCE:
            return entry.key, None
        path = entry.origin.split(" > ")[1:]
        if entry.table is None:
            return self._default_walked(entry.key), {
                "step": "index",
                "path": path,
                "code": entry.key,
            }
        column = behavior(mention.phrase_words, entry.table)
        # the site is read in the phrase first, then in the rest of the clause ("a biopsy of
        # the left kidney showed clear cell carcinoma")
        found = self.neoplasm.site(mention.phrase_words, column) or self.neoplasm.site(
            mention.sentence_words, column
        )
        key, site = found if found else (self.neoplasm.default(column) or entry.key, ())
        step = {
            "step": "index",
            "path": path,
            "table": "neoplasm",
            "site": list(site),
            "column": column,
            "code": key,
        }
        return key, step

    def candidate(self, mention: Mention, setting: str) -> Candidate:
        first = self._sited(mention) or mention.entries[0]
        # one curated line may name several nodes (an Index term's subterms by site or type)
        subterms = [e for e in mention.entries if e.origin == first.origin]
        chosen = self.walker.choose([e.key for e in subterms], first.term, mention.sentence_words)
        entry = next(e for e in subterms if e.key == chosen)
        node, index_step = self._index(entry, mention)
        trace: list[dict[str, Any]] = [
            {
                "step": "match",
                "term": entry.term,
                "node": entry.key,
                "source": entry.origin,
                "alternatives": [e.key for e in mention.entries if e is not entry],
            },
            *([index_step] if index_step else []),
            {
                "step": "context",
                "assertion": mention.assertion,
                "section": mention.section,
                "modifiers": list(mention.modifiers),
            },
        ]
        specific = self.walker.from_match(
            node, entry.term, mention.text, mention.sentence_words, mention.attached_words
        )
        trace += [
            {
                "step": "specificity",
                "from": s.parent,
                "to": s.child,
                "words": list(s.words),
                "fallback": s.fallback,
            }
            for s in specific.steps
        ]
        decision = self.policy.decide(setting, mention.assertion)
        trace.append(
            {
                "step": "policy",
                "setting": setting,
                "assertion": mention.assertion,
                "action": decision.action,
                "citation": decision.citation,
                "source": decision.source,
            }
        )
        code, action, reason = specific.code, decision.action, mention.assertion
        service = self.policy.incidental_service(code, mention.section)
        if action == "code" and service is not None:
            action, reason = "exclude", f"not the reason for the encounter ({service.citation})"
            trace.append(
                {
                    "step": "policy",
                    "setting": setting,
                    "assertion": mention.assertion,
                    "action": service.action,
                    "citation": service.citation,
                    "source": service.source,
                }
            )
        missing = specific.missing
        if action in ("family", "history"):
            z_code, row = self.policy.history_code(code, action)
            if z_code is not None and row is not None:
                trace.append({"step": "history", "from": code, "to": z_code, "source": row.source})
                code, action, missing = z_code, "code", ()
            elif (
                action == "history"
                and (row is None or row.history is None)
                and mention.section == CHRONIC_LIST
                and not any(m["category"] in ("historical", "resolved") for m in mention.modifiers)
            ):
                # A past medical history list (no "history of", no "resolved") names the
                # patient's chronic conditions (HTN, T2DM, CKD); those with a personal-history
                # code are over. A past surgical history names what surgery treated.
                source = row.source if row is not None else decision.source
                trace.append(
                    {"step": "history", "from": code, "to": code, "source": source, "chronic": True}
                )
                action = "code"
            else:
                action, reason = "exclude", f"{mention.assertion}: no {action}-history code"
        support = frozenset(w for s in specific.steps for w in s.words)
        return Candidate(code, mention, trace, missing, action, reason, support)
