"""Index lookups: every Alphabetic Index path that carries a code and every Neoplasm Table cell,
phrased as printed and as clinicians write them, through `Coder.code` and beside icd10-coder.

A phrase is answered right when the first code is the path's code reconciled with FY2026, or a
billable code below it: a code printed with "-" or without its 7th character needs characters
the phrase does not give ("7th character aside").
"""

from __future__ import annotations

from collections.abc import Callable

from bench_tasks import Tally, sample

from medcode.terminology import CodeSet
from medcode.terminology.cms_index import CmsIndex, IndexTerm
from medcode.terminology.index_codes import Reconciled, reconcile
from medcode.terminology.index_release import release_year, resolve_index_source
from medcode.terminology.index_terms import index_words

Item = tuple[str, frozenset[str]]
# A subterm that starts with a connector is written after the main term ("with", "due to").
CONNECTORS = index_words()["connectors"]
# How each Neoplasm Table column is written: (before the site, after the site).
BEHAVIOR_PHRASES = {
    "Malignant Primary": ("malignant neoplasm of {site}", "{site} cancer"),
    "Malignant Secondary": ("secondary malignant neoplasm of {site}", "{site} metastases"),
    "Ca in situ": ("carcinoma in situ of {site}", "{site} carcinoma in situ"),
    "Benign": ("benign neoplasm of {site}", "benign {site} tumor"),
    "Uncertain Behavior": (
        "neoplasm of uncertain behavior of {site}",
        "{site} tumor of uncertain behavior",
    ),
    "Unspecified Behavior": ("neoplasm of {site}", "{site} neoplasm"),
}


def load(codeset: CodeSet) -> tuple[CmsIndex, Reconciled]:
    source = resolve_index_source()
    index = source.load()
    return index, reconcile(index, codeset, release_year(index))


def targets(codeset: CodeSet, key: str) -> frozenset[str]:
    """The path's code, or the billable codes below it ("7th character aside")."""
    return frozenset(codeset.billable_descendants(key)) or frozenset({key})


def index_items(index: CmsIndex, reconciled: Reconciled, codeset: CodeSet) -> dict[str, list]:
    """Every Index path with a code: as printed ("Pneumonia cytomegaloviral") and phrased
    ("cytomegaloviral pneumonia", "type 2 diabetes with chronic kidney disease")."""
    printed: list[Item] = []
    phrased: list[Item] = []
    file = index.get("index")
    for chain in file.walk() if file else ():
        code = chain[-1].code
        key = reconciled.key(code) if code else None
        if key is None:
            continue
        wanted = targets(codeset, key)
        titles = [_written(t) for t in chain]
        printed.append((" ".join(titles), wanted))
        if len(chain) > 1:
            phrased.append((_clinician(titles), wanted))
    return {"printed": _distinct(printed), "phrased": _distinct(phrased)}


def neoplasm_items(index: CmsIndex, reconciled: Reconciled, codeset: CodeSet) -> dict[str, list]:
    """Every Neoplasm Table cell: site x behavior, the behavior written before the site
    ("malignant neoplasm of the sigmoid colon") and after it ("liver metastases")."""
    before: list[Item] = []
    after: list[Item] = []
    file = index.get("neoplasm")
    for chain in file.walk() if file else ():
        if len(chain) < 2:
            continue
        site = _clinician([_written(t) for t in chain[1:]])
        for column, printed in chain[-1].cells:
            key = reconciled.key(printed) if printed else None
            if key is None or column not in BEHAVIOR_PHRASES:
                continue
            first, second = BEHAVIOR_PHRASES[column]
            wanted = targets(codeset, key)
            before.append((first.format(site=f"the {site}"), wanted))
            after.append((second.format(site=site), wanted))
    return {"behavior_first": _distinct(before), "site_first": _distinct(after)}


# How each Drug Table column is written by a clinician around the substance.
DRUG_PHRASES = {
    "Poisoning Accidental (unintentional)": "accidental overdose of {drug}",
    "Poisoning Intentional self-harm": "intentional overdose of {drug}",
    "Poisoning Assault": "{drug} poisoning by assault",
    "Poisoning Undetermined": "{drug} poisoning of undetermined intent",
    "Adverse effect": "adverse effect of {drug}",
    "Underdosing": "underdosing of {drug}",
}


def drug_items(index: CmsIndex, reconciled: Reconciled, codeset: CodeSet) -> dict[str, list]:
    """Every Drug Table cell: substance x column, answered by its code with the 7th character
    of an initial encounter (A), which a phrase that says nothing more documents."""
    items: list[Item] = []
    file = index.get("drug")
    for chain in file.walk() if file else ():
        drug = _clinician([_written(t) for t in chain])
        for column, printed in chain[-1].cells:
            key = reconciled.key(printed) if printed else None
            if key is None or column not in DRUG_PHRASES:
                continue
            initial = [c for c in codeset.billable_descendants(key) if c.endswith("A")]
            wanted = frozenset(initial) or targets(codeset, key)
            items.append((DRUG_PHRASES[column].format(drug=drug), wanted))
    return {"cells": _distinct(items)}


def _written(term: IndexTerm) -> str:
    """A title as words: no NEC, "Disease, diseased" as its first word, "Acrospiroma,
    eccrine" in its printed order."""
    title = term.title.removesuffix(" NEC").removesuffix(" NOS")
    parts = [p.strip() for p in title.split(",") if p.strip()]
    if len(parts) > 1 and all(p[:4].lower() == parts[0][:4].lower() for p in parts):
        return parts[0]
    return " ".join(parts)


def _clinician(titles: list[str]) -> str:
    """Modifiers before the main term, in reverse ("congestive heart failure"); from the
    first connector on, in printed order ("with chronic kidney disease")."""
    main, subs = titles[0], titles[1:]
    cut = next(
        (i for i, s in enumerate(subs) if s.split(" ", 1)[0].lower() in CONNECTORS), len(subs)
    )
    return " ".join((*reversed(subs[:cut]), main, *subs[cut:]))


def _distinct(items: list[Item]) -> list[Item]:
    """One item per phrase; a phrase the Index gives two codes accepts either."""
    merged: dict[str, set[str]] = {}
    for phrase, wanted in items:
        merged.setdefault(phrase, set()).update(wanted)
    return [(phrase, frozenset(wanted)) for phrase, wanted in merged.items()]


def score(
    sets: dict[str, list[Item]],
    size: int | None,
    seed: int,
    answers: dict[str, Callable[[str], str | None]],
    is_billable: Callable[[str], bool],
) -> dict[str, dict]:
    """Each phrase set (a seeded sample of `size`, or all) answered by each system."""
    out: dict[str, dict] = {}
    for name, items in sets.items():
        chosen = [items[i] for i in sample(range(len(items)), size, seed)]
        out[name] = {"population": len(items)}
        for system, answer in answers.items():
            tally = Tally()
            for phrase, wanted in chosen:
                code = answer(phrase)
                tally.add(phrase, wanted, code, code is None or is_billable(code))
            out[name][system] = tally.to_json(examples=30)
    return out


def run(engine, size: int | None, seed: int, peer=None) -> dict[str, dict]:
    """Index paths and Neoplasm Table cells, medcode beside icd10-coder when installed."""
    index, reconciled = load(engine.codeset)
    answers: dict[str, Callable[[str], str | None]] = {"medcode": engine.first_code}
    if peer is not None:
        answers["icd10-coder"] = peer[0]
    codeset = engine.codeset
    sets = {
        **{f"index_{k}": v for k, v in index_items(index, reconciled, codeset).items()},
        **{f"neoplasm_{k}": v for k, v in neoplasm_items(index, reconciled, codeset).items()},
        **{f"drug_{k}": v for k, v in drug_items(index, reconciled, codeset).items()},
    }
    return score(sets, size, seed, answers, engine.is_billable)
