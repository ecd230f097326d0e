"""Concepts a note writes as a measurement: "BMI 36.4" is Z68.36 (I.B.14).

The body mass index codes name ranges of values, which no term of the lexicon can match; the
value is read here and its code chosen by the ranges of the Tabular (adult codes: the note
rarely says the patient's age, and the pediatric codes name percentiles, not values).
"""

from __future__ import annotations

import re

from spacy.tokens import Doc, Span

from medcode.terminology.lexicon import LexiconEntry

ORIGIN = "engine/pipeline/measurements.py"
_BMI_WORDS = (("bmi",), ("body", "mass", "index"))
_VALUE = re.compile(r"^\d{2}(\.\d+)?$")
_BETWEEN = frozenset({"of", "is", "was", ":", "=", "now", "today"})
_PERCENTILE = frozenset({"percentile", "th", "%", "pct"})
# Adult BMI codes above 39.9 name wider ranges (Z68.41 40.0-44.9 ... Z68.45 70 or greater).
_WIDE = ((45, "Z68.41"), (50, "Z68.42"), (60, "Z68.43"), (70, "Z68.44"))


def bmi_code(value: float) -> str:
    """The adult BMI code of a value."""
    if value < 20:
        return "Z68.1"
    if value < 40:
        return f"Z68.{int(value)}"
    return next((code for bound, code in _WIDE if value < bound), "Z68.45")


def bmi_spans(doc: Doc, label: str) -> list[Span]:
    """Spans from "BMI" (or "body mass index") to its value, each with the entry of its code;
    a percentile ("BMI 97th percentile") is none of these."""
    spans = []
    lower = [t.lower_ for t in doc]
    for start in range(len(doc)):
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
        span = Span(doc, start, end + 1, label=label)
        code = bmi_code(float(doc[end].text))
        span._.lexicon_entries = (LexiconEntry(code, "measurement", ORIGIN, span.text),)
        span._.match_words = end + 1 - start
        spans.append(span)
    return spans
