"""`medcode explain NOTE --code CODE`: why one code was, or was not, reported for a note.

- reported: its sequence, confidence, evidence and trace;
- rejected: the reason and the deciding step (the last step of the candidate's trace: the
  policy, combination or rule that took it out);
- never a candidate: the nearest lexicon/search matches for its title, the terms that name it,
  and the title words the note lacks: the documentation it would need.

Steps of other candidates that name the code (a specificity walk through it, a rule or history
step that turned it into another code) are listed in every case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from medcode.engine.coding.search import Searcher
from medcode.engine.reading.words import content_words
from medcode.engine.result import CodingResult
from medcode.terminology import CodeSet
from medcode.terminology.lexicon import SOURCE_RANK, Lexicon, normalize_tokens

# Trace fields that name a code or node.
CODE_FIELDS = ("node", "from", "to", "into", "before", "after")
NEAREST = 5
NOT_DOCUMENTATION = frozenset({"unspecified", "other", "nos"})
WORD = re.compile(r"[a-z0-9]+")
TERMS = 8


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer for one code; `to_json` is the `--format json` output."""

    code: str
    description: str
    billable: bool
    status: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "billable": self.billable,
            "status": self.status,
            **self.data,
        }


def explain(
    result: CodingResult,
    text: str,
    code: str,
    codeset: CodeSet,
    lexicon: Lexicon,
    searcher: Searcher,
) -> Explanation:
    """Explain `code` (a dotted code present in `codeset`) for the note `text` and its result."""
    node = codeset.node(code)
    data: dict[str, Any] = {"document": result.document, "setting": result.setting}
    coded = next((c for c in result.codes if c.code == node.code), None)
    excluded = [x for x in result.excluded if x.code == node.code]
    if coded is not None:
        status = "coded"
        data["coded"] = coded.to_json()
    elif excluded:
        status = "excluded"
        data["excluded"] = [
            {**x.to_json(), "deciding_step": x.trace[-1] if x.trace else None} for x in excluded
        ]
    else:
        status = "not a candidate"
    data["named_in"] = _named_in(result, node.code)
    category = node.code[:3]
    data["coded_in_category"] = [
        c.code for c in result.codes if c.code[:3] == category and c.code != node.code
    ]
    if status == "not a candidate":
        wanted = _title_words(node.title)
        words = set(normalize_tokens(text)) | _concept_words(result, codeset)
        data["nearest"] = [c.to_json() for c in searcher.search(node.title, NEAREST)]
        # the Tabular's own words first, then curated, inclusion and Index terms
        ranked = sorted(
            (SOURCE_RANK[entry.source], entry.term) for _, entry in lexicon.entries_for(node.key)
        )
        data["terms"] = list(dict.fromkeys(term for _, term in ranked))[:TERMS]
        data["title_words_found"] = [w for w, n in wanted if n in words]
        data["title_words_missing"] = [w for w, n in wanted if n not in words]
    if not node.billable:
        data["billable_below"] = _billable_below(codeset, node.key)
    return Explanation(node.code, node.title, node.billable, status, data)


def _title_words(title: str) -> list[tuple[str, str]]:
    """(word as written, normalised word) for the title's distinguishing words, in title
    order; "unspecified", "other" and "NOS" name the absence of documentation, not a need."""
    distinct = content_words(title) - NOT_DOCUMENTATION
    seen: dict[str, str] = {}
    for word in WORD.findall(title.lower()):
        normal = "".join(normalize_tokens(word))
        if normal in distinct and normal not in seen.values():
            seen[word] = normal
    return list(seen.items())


def _concept_words(result: CodingResult, codeset: CodeSet) -> set[str]:
    """The title words of the nodes the reported codes were matched to: "COPD" documents
    "chronic obstructive pulmonary disease" (the coder reads the note the same way)."""
    words: set[str] = set()
    for coded in result.codes:
        node = codeset.get(str(coded.trace[0].get("node", ""))) if coded.trace else None
        if node is not None:
            words |= content_words(node.title)
    return words


def _named_in(result: CodingResult, code: str) -> list[dict[str, Any]]:
    """Steps of other candidates' traces that name `code`."""
    found = []
    entries = [(c.code, "coded", c.trace) for c in result.codes] + [
        (x.code, "excluded", x.trace) for x in result.excluded
    ]
    for owner, kind, trace in entries:
        if owner == code:
            continue
        for number, step in enumerate(trace, 1):
            names = [step.get(f) for f in CODE_FIELDS] + list(step.get("alternatives", ()))
            if code in names:
                found.append({"code": owner, "kind": kind, "step_number": number, "step": step})
    return found


def _billable_below(codeset: CodeSet, key: str, limit: int = 10) -> list[str]:
    found: list[str] = []
    stack = list(reversed(codeset.children(key)))
    while stack and len(found) < limit:
        child = stack.pop()
        if codeset.node(child).billable:
            found.append(child)
        stack.extend(reversed(codeset.children(child)))
    return found


def render_text(explanation: Explanation) -> str:
    """The readable answer printed by `medcode explain`."""
    e, d = explanation, explanation.data
    lines = [f"{e.code}  {e.description}  ({'billable' if e.billable else 'not billable'})"]
    if e.status == "coded":
        c = d["coded"]
        lines.append(f"CODED: sequence {c['sequence']}, confidence {c['confidence']}")
        lines += [f"  evidence: {_evidence(ev)}" for ev in c["evidence"]]
        lines.append("  trace:")
        lines += [f"    {n}. {step_text(s)}" for n, s in enumerate(c["trace"], 1)]
    elif e.status == "excluded":
        for x in d["excluded"]:
            lines.append(f"NOT CODED: {x['reason']}")
            lines += [f"  evidence: {_evidence(ev)}" for ev in x["evidence"]]
            lines.append(f"  deciding step: {step_text(x['deciding_step'])}")
            lines.append("  trace:")
            lines += [f"    {n}. {step_text(s)}" for n, s in enumerate(x["trace"], 1)]
    else:
        lines.append("NEVER A CANDIDATE: no words of the note led to this code.")
    for named in d["named_in"]:
        lines.append(
            f"  named in the trace of {named['code']} ({named['kind']}), "
            f"step {named['step_number']}: {step_text(named['step'])}"
        )
    if d["coded_in_category"]:
        lines.append(f"  coded in the same category: {', '.join(d['coded_in_category'])}")
    if e.status == "not a candidate":
        if d["terms"]:
            lines.append("  terms that name it: " + "; ".join(d["terms"]))
        found = ", ".join(d["title_words_found"]) or "none"
        lines.append(f"  title words documented (words or concepts of the note): {found}")
        missing = ", ".join(d["title_words_missing"]) or "none"
        lines.append(f"  documentation needed (title words not in the note): {missing}")
        lines.append("  nearest matches for its title:")
        lines += [
            f"    {c['code']:<9} {c['score']:.3f}  {c['description']}  [{c['matched']}]"
            for c in d["nearest"]
        ]
    if "billable_below" in d:
        lines.append("  billable codes below it: " + ", ".join(d["billable_below"]))
    return "\n".join(lines)


def _evidence(ev: dict[str, Any]) -> str:
    return f'"{ev["text"]}" [{ev["start"]}:{ev["end"]}] {ev["section"] or "-"}, {ev["assertion"]}'


def step_text(step: dict[str, Any] | None) -> str:
    """One trace step on one line: `name: key=value, ...` (empty values left out)."""
    if step is None:
        return "(none)"
    details = ", ".join(
        f"{k}={v}" for k, v in step.items() if k != "step" and v not in ([], None, "")
    )
    return f"{step.get('step', '?')}: {details}"


__all__ = ["Explanation", "explain", "render_text", "step_text"]
