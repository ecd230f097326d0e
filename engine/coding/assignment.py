"""Assignment: a mention -> its candidate code. The matched term's node, walked down to the most
specific billable code the words support, then the assertion policy of the setting and the
history-code table decide whether it is coded, excluded or becomes a history Z code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medcode.engine.reading.measurements import ORIGIN as MEASUREMENT_ORIGIN
from medcode.engine.reading.mentions import Mention
from medcode.terminology.drug_table import SOURCE as DRUG_SOURCE
from medcode.terminology.index_terms import SOURCE as INDEX_SOURCE
from medcode.terminology.index_terms import IndexBuild
from medcode.terminology.lexicon import LexiconEntry, normalize_tokens
from medcode.terminology.neoplasm_table import behavior

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


# A morphology term, the Neoplasm Table column its phrase decides, and the site's code and path.
Sited = tuple[LexiconEntry, str, tuple[str, tuple[str, ...]]]


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

    def __init__(self, walker: SpecificityWalker, policy: AssertionPolicy, index: IndexBuild):
        self.walker = walker
        self.policy = policy
        self.index = index
        self.neoplasm = index.neoplasm

    def _default_walked(self, key: str, words: frozenset[str]) -> str:
        """An Index code that is its subcategory's default ("Ulcer, duodenum, acute": K26.3,
        acute without hemorrhage or perforation) gives way to a sibling that the sentence's
        words choose outright ("with active bleeding": K26.0); with no such words it stands
        ("Klinefelter's syndrome" is Q98.4, not the Q98.9 a walk from Q98 defaults to)."""
        node = self.walker.codeset.node(key)
        parent = self.walker.codeset.parent(key)
        title = node.title.lower()
        if (
            not node.billable
            or parent is None
            or ":" in parent
            or "-" in parent
            or (" without " not in f" {title} " and "unspecified" not in title)
        ):
            return key
        again = self.walker.most_specific(parent, words)
        return parent if again.code != key and not any(s.fallback for s in again.steps) else key

    def _sited(self, mention: Mention) -> Sited | None:
        """A morphology term whose phrase names a Neoplasm Table site ("hard palate cancer"),
        with its column and site: the Index path to the table outranks a term that names no
        site."""
        for entry in mention.entries:
            if entry.table is not None:
                column = behavior(mention.phrase_words, entry.table)
                found = self.neoplasm.site(mention.phrase_words, column)
                return (entry, column, found) if found else None
        return None

    def _continued(
        self, entry: LexiconEntry, mention: Mention
    ) -> tuple[str, dict[str, Any], frozenset[str]] | None:
        """An Index path continued past its connector by the words of the sentence ("Type 2
        diabetes ... with CKD": Diabetes, type 2, with, chronic kidney disease, E11.22), I.A.15:
        "with" links two conditions the note names. The paths are those the Index writes with
        the term's words, whatever lexicon source matched them ("dermatitis")."""
        terms = dict.fromkeys((normalize_tokens(mention.text), normalize_tokens(entry.term)))
        found = next(
            (
                f
                for t in terms
                if (f := self.index.continue_path(t, mention.sentence_words, mention.phrase_words))
            ),
            None,
        )
        if found is None:
            return None
        words, key, titles, _presumed = found
        step = {"step": "index", "path": list(titles), "code": key, "words": sorted(words)}
        return self._default_walked(key, mention.sentence_words), step, words

    @staticmethod
    def _unsited(mention: Mention, step: dict[str, Any] | None) -> bool:
        """A morphology or behavior word ("adenocarcinoma", "malignancy") whose phrase names no
        Neoplasm Table site."""
        if step is not None:
            return step.get("table") == "neoplasm" and not step["site"]
        return any(e.table is not None for e in mention.entries)

    def _index(
        self, entry: LexiconEntry, mention: Mention, sited: Sited | None
    ) -> tuple[str, dict[str, Any] | None, frozenset[str]]:
        """The node an Index term leads to, its trace step and the words of the sentence that
        continued its path: the path as printed; for a morphology term ("adenocarcinoma"), the
        Neoplasm Table row its phrase names and the column its words decide ("metastatic":
        secondary)."""
        continued = self._continued(entry, mention) if entry.table is None else None
        if continued is not None:
            return continued
        if entry.source not in (INDEX_SOURCE, DRUG_SOURCE):
            return entry.key, None, frozenset()
        path = entry.origin.split(" > ")[1:]
        if entry.table is None:
            step = {"step": "index", "path": path, "code": entry.key}
            return self._default_walked(entry.key, mention.sentence_words), step, frozenset()
        if sited is not None and sited[0] is entry:
            column, found = sited[1], sited[2]
        else:
            column = behavior(mention.phrase_words, entry.table)
            found = self.neoplasm.site(mention.phrase_words, column)
        key, site = found if found else (self.neoplasm.default(column) or entry.key, ())
        step = {
            "step": "index",
            "path": path,
            "table": "neoplasm",
            "site": list(site),
            "column": column,
            "code": key,
        }
        return key, step, frozenset()

    def candidate(self, mention: Mention, setting: str) -> Candidate:
        sited = self._sited(mention)
        first = sited[0] if sited else mention.entries[0]
        # one curated line may name several nodes (an Index term's subterms by site or type)
        subterms = [e for e in mention.entries if e.origin == first.origin]
        chosen = self.walker.choose([e.key for e in subterms], first.term, mention.sentence_words)
        entry = next(e for e in subterms if e.key == chosen)
        node, index_step, continued = self._index(entry, mention, sited)
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
        if action == "code" and self._unsited(mention, index_step):
            # "carcinoma" with no site in its phrase: the site is written elsewhere in the note,
            # and "unspecified site" (C80.1) would be a guess; the CDI query asks for it
            action, reason = "exclude", "neoplasm site not written with it (I.C.2)"
            trace.append({"step": "index", "table": "neoplasm", "site": None, "excluded": True})
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
        support = frozenset(w for s in specific.steps for w in s.words) | continued
        return Candidate(code, mention, trace, missing, action, reason, support)
