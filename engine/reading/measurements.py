"""Concepts a note writes as a measurement: "BMI 36.4" is Z68.36 (I.B.14), "32 weeks 3 days
gestation" or "32w3d" is Z3A.32 (I.C.15.a.3).

These codes name values or ranges of values, which no term of the lexicon can match; the value
is read here and its code chosen by the ranges of the Tabular (adult BMI codes: the note rarely
says the patient's age, and the pediatric codes name percentiles, not values). The rule packs
decide whether a measured code is reported (rules/bmi.rules, rules/obstetrics.rules).
"""

from __future__ import annotations

import re

from spacy.tokens import Doc, Span

from medcode.terminology.lexicon import LexiconEntry

ORIGIN = "engine/reading/measurements.py"
_BMI_WORDS = (("bmi",), ("body", "mass", "index"))
_BMI_FIRST = frozenset(words[0] for words in _BMI_WORDS)
# one search of the text before a look at its tokens: most notes have neither
_BMI_TEXT = re.compile(r"\bbmi\b|body mass index", re.IGNORECASE)
_WEEKS_TEXT = re.compile(r"\d\s*-?\s*w(?:ee)?ks?\b|\d\s*w\d", re.IGNORECASE)
_VALUE = re.compile(r"^\d{2}(\.\d+)?$")
_BETWEEN = frozenset({"of", "is", "was", ":", "=", "now", "today"})
_PERCENTILE = frozenset({"percentile", "th", "%", "pct"})
# Adult BMI codes above 39.9 name wider ranges (Z68.41 40.0-44.9 ... Z68.45 70 or greater).
_WIDE = ((45, "Z68.41"), (50, "Z68.42"), (60, "Z68.43"), (70, "Z68.44"))
# "32w3d", "39w"; "32 weeks (3 days) gestation", "39 wks GA", "32-week gestation"
_COMPACT_WEEKS = re.compile(r"^(\d{1,2})w(\dd?)?$")
_WEEKS = frozenset({"weeks", "week", "wks", "wk"})
_GESTATION = frozenset({"gestation", "gestational", "ga", "ega", "pregnant", "pregnancy", "iup"})
_SKIPPED = frozenset({"-", "days", "day", "d", "and", "of", "'", "\u2019"})


def bmi_code(value: float) -> str:
    """The adult BMI code of a value."""
    if value < 20:
        return "Z68.1"
    if value < 40:
        return f"Z68.{int(value)}"
    return next((code for bound, code in _WIDE if value < bound), "Z68.45")


def bmi_spans(doc: Doc, text: str, label: str) -> list[Span]:
    """Spans from "BMI" (or "body mass index") to its value, each with the entry of its code;
    a percentile ("BMI 97th percentile") is none of these."""
    if not _BMI_TEXT.search(text):
        return []
    spans = []
    lower = [t.lower_ for t in doc]
    for start in range(len(doc)):
        if lower[start] not in _BMI_FIRST:
            continue
        words = next((w for w in _BMI_WORDS if tuple(lower[start : start + len(w)]) == w), None)
        if words is None:
            continue
        end = start + len(words)
        while end < len(doc) and lower[end] in _BETWEEN and end - start < len(words) + 2:
            end += 1
        if end >= len(doc) or not _VALUE.match(doc[end].text):
            continue
        if end + 1 < len(doc) and lower[end + 1] in _PERCENTILE:
            continue
        spans.append(_measured(doc, start, end + 1, label, bmi_code(float(doc[end].text))))
    return spans


def gestation_code(weeks: int) -> str:
    """The weeks of gestation code (Z3A) of a whole number of weeks."""
    if weeks < 8:
        return "Z3A.01"
    if weeks > 42:
        return "Z3A.49"
    return f"Z3A.{weeks:02d}"


def gestation_spans(doc: Doc, text: str, label: str) -> list[Span]:
    """Spans of a week of gestation: "32w3d", or a number of weeks that a word of gestation
    follows within a few tokens ("32 weeks 3 days gestation", "39 wks GA")."""
    if not _WEEKS_TEXT.search(text):
        return []
    spans = []
    lower = [t.lower_ for t in doc]
    for i, token in enumerate(doc):
        if not lower[i][:1].isdigit():
            continue
        if match := _COMPACT_WEEKS.match(lower[i]):
            weeks, end = int(match.group(1)), i + 1
        elif token.like_num and token.text.isdigit() and i + 1 < len(doc):
            j = i + 1
            if lower[j] == "-":
                j += 1
            if j >= len(doc) or lower[j] not in _WEEKS:
                continue
            end = j + 1
            while end < len(doc) and end - j <= 4 and lower[end] not in _GESTATION:
                if lower[end] not in _SKIPPED and not lower[end].isdigit():
                    break
                end += 1
            if end >= len(doc) or lower[end] not in _GESTATION:
                continue
            weeks, end = int(token.text), end + 1
        else:
            continue
        if weeks > 45:
            continue
        spans.append(_measured(doc, i, end, label, gestation_code(weeks)))
    return spans


def _measured(doc: Doc, start: int, end: int, label: str, code: str) -> Span:
    span = Span(doc, start, end, label=label)
    span._.lexicon_entries = (LexiconEntry(code, "measurement", ORIGIN, span.text),)
    span._.match_words = end - start
    return span
