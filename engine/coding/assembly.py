"""The rule packs' outcome -> the result: reported codes in sequence with their evidence,
confidence and trace, excluded candidates with reasons, edits and provider queries."""

from __future__ import annotations

from medcode.engine.result import CodedCode, CodingResult, Edit, ExcludedCode, Query
from medcode.engine.rulelang import Fact, Outcome
from medcode.terminology import CodeSet

from .assignment import Candidate
from .encounter import CONCLUSION_SECTIONS, rank_for_first


def assemble(
    codeset: CodeSet,
    versions: dict[str, str],
    document: str,
    setting: str,
    candidates: list[Candidate],
    outcome: Outcome,
    reviews: list[Edit],
) -> CodingResult:
    codes, queries = [], []
    active = _merged(outcome.encounter.active)
    for position, fact in enumerate(active, 1):
        group = _group(fact)
        evidence = tuple(c.mention.evidence() for c in group)
        first_listed = () if position > 1 else (_first_listed(setting, fact, group, active[1:2]),)
        trace = (
            *(group[0].trace if fact.handle else ()),
            *fact.steps,
            *first_listed,
            {"step": "sequence", "position": position},
        )
        confidence = _confidence(group) if fact.handle else "medium"
        title = codeset.node(fact.code).title
        codes.append(CodedCode(fact.code, title, position, confidence, evidence, trace))
        # fact.handle: the code comes from mentions (a rule's code may have none behind it)
        if fact.handle and fact.code == group[0].code and all(c.missing for c in group):
            queries += [
                Query(fact.code, m, _question(codeset, fact.code, m, group[0]), evidence)
                for m in group[0].missing
            ]
    for q in outcome.queries:
        title = codeset.node(q.code).title
        question = f"Please document the {q.missing} for {q.code} ({title})."
        evidence = tuple(c.mention.evidence() for c in _group(q.fact))
        queries.append(Query(q.code, q.missing, question, evidence))
    reported = set(outcome.codes)
    excluded: dict[tuple[str, str], list[tuple[Candidate, tuple]]] = {}
    for c in candidates:
        if c.action != "code" and c.code not in reported:
            excluded.setdefault((c.code, c.reason), []).append((c, ()))
    for fact in outcome.encounter.facts:
        if not fact.active and fact.code not in reported:
            for c in _group(fact):
                excluded.setdefault((fact.code, fact.reason), []).append((c, fact.steps))
    return CodingResult(
        document,
        codeset.provenance.fy,
        setting,
        tuple(codes),
        tuple(
            ExcludedCode(
                code,
                reason,
                tuple(c.mention.evidence() for c, _ in group),
                (*group[0][0].trace, *group[0][1]),
            )
            for (code, reason), group in excluded.items()
        ),
        edits=(*outcome.edits, *reviews),
        queries=tuple(queries),
        versions=versions,
    )


def _first_listed(
    setting: str, fact: Fact, group: list[Candidate], rest: list[Fact]
) -> dict[str, object]:
    """Why the code is first: the principal diagnosis (II, inpatient) or the first-listed
    diagnosis (IV.G, outpatient) is the rule that put it first, or the section and words the
    provider documents it in; the runner-up is the code that comes next."""
    moved = [s for s in fact.steps if str(s.get("action", "")).startswith("sequence ")]
    if moved:
        why = f"sequenced first by rule {moved[-1]['rule']} ({moved[-1]['citation']})"
    else:
        mention = min(
            (c.mention for c in group),
            key=lambda m: (rank_for_first(m.section), m.start),
            default=None,
        )
        where = (mention.section or "the note") if mention else "a rule"
        said = f' "{mention.text}"' if mention else ""
        why = f"the first condition documented in {where}{said}"
    return {
        "step": "first-listed",
        "guideline": "II" if setting == "inpatient" else "IV.G",
        "why": why,
        "runner_up": rest[0].code if rest else None,
    }


def _merged(facts: list[Fact]) -> list[Fact]:
    """Facts reported under the same code (rules kept a negated mention) as one code."""
    first: dict[str, Fact] = {}
    for fact in facts:
        if fact.code in first and fact.handle and first[fact.code].handle:
            first[fact.code].handle = [*first[fact.code].handle, *fact.handle]
        first.setdefault(fact.code, fact)
    return list(first.values())


def _group(fact: Fact) -> list[Candidate]:
    """The candidates behind a fact; for a code a rule added, those of the codes it matched."""
    if fact.handle:
        return fact.handle
    return [c for origin in fact.origin for c in _group(origin)]


def _confidence(group: list[Candidate]) -> str:
    """high: an exact term in a conclusion section, nothing left unspecified; medium: exact
    term elsewhere; low: the code is an unspecified fallback (a query goes with it)."""
    if all(c.missing for c in group):
        return "low"
    if any(c.mention.section in CONCLUSION_SECTIONS for c in group):
        return "high"
    return "medium"


def _question(codeset: CodeSet, code: str, missing: str, candidate: Candidate) -> str:
    return (
        f"The note supports only {code} ({codeset.node(code).title}) for "
        f'"{candidate.mention.text}". Please document the {missing}.'
    )
