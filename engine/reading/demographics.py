"""The patient's age, sex and discharge disposition as a note states them: "This 72-year-old
male ...", "Age: 54  Sex: Female", "She was discharged to a skilled nursing facility."

The phrases are regular expressions in demographics.yaml. Age and sex are read from the opening
of the note (the first `scan_chars` characters), from its first statement about the patient, not
about a relative ("his 80-year-old mother", "father died at age 62"). Sex, strongest first:
a sex word in the age phrase ("72-year-old male", "72 y/o F", "45-year-old gravida 2"), a
stated field ("Sex: Female"), a statement "is a ... woman"; then, weak, a title ("Mr.",
"Mrs.", "Ms."), then the pronouns of the opening when one set clearly outnumbers the other.
The discharge status (a CMS patient discharge status code) is read from the sentences that speak
of discharge, disposition, transfer or death; the last such statement in the note wins, and a
note that states none has None. Each value keeps the words it was read from.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PATTERNS_FILE = Path(__file__).with_name("demographics.yaml")
# Sentence ends, and the ",HEADER:" of notes flattened to one line ("Stable.,DISPOSITION:")
_BOUNDARY = re.compile(r"[.!?;](?=[\s,])|\n|,(?=[A-Z][A-Z /&]{2,}:)")
# Where a statement about a relative ends: "(obtained from boyfriend): This 31 y/o ..."
_CLAUSE = re.compile(r"[.!?;:()](?=\s)|\n")
_MONTHS = ("mo",)
_WEEKS_DAYS = ("w", "d")


@dataclass(frozen=True, slots=True)
class Statement:
    """Words of the note a value was read from: character offsets, the words, and how strong
    the evidence is ("stated"; "weak: title", "weak: pronouns")."""

    start: int
    end: int
    text: str
    strength: str = "stated"

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "strength": self.strength}


@dataclass(frozen=True, slots=True)
class Demographics:
    """Age in whole years (0 under a year), sex "F"/"M", CMS discharge status code; each None
    when the note does not state it, with the statement it was read from."""

    age: int | None = None
    sex: str | None = None
    discharge_status: int | None = None
    age_evidence: Statement | None = None
    sex_evidence: Statement | None = None
    discharge_evidence: Statement | None = None

    def evidence(self, name: str) -> Statement | None:
        """The statement `name` ("age", "sex", "discharge_status") was read from."""
        return {
            "age": self.age_evidence,
            "sex": self.sex_evidence,
            "discharge_status": self.discharge_evidence,
        }[name]

    def source(self, name: str) -> str | None:
        """Where `name` came from, for the trace: "note: '72-year-old male'" (weak evidence
        says so: "note (weak: title): 'Mr.'"); None when not read."""
        found = self.evidence(name)
        if found is None:
            return None
        where = "note" if found.strength == "stated" else f"note ({found.strength})"
        return f"{where}: '{found.text}'"

    def to_json(self) -> dict[str, Any]:
        return {
            "age": self.age,
            "sex": self.sex,
            "discharge_status": self.discharge_status,
            "evidence": {
                name: (found.to_json() if (found := self.evidence(name)) else None)
                for name in ("age", "sex", "discharge_status")
            },
        }


@dataclass(frozen=True, slots=True)
class _Patterns:
    scan_chars: int
    discharge_anchors: int
    sentence_chars: int
    max_age: int
    age: tuple[re.Pattern[str], ...]
    age_in_words: re.Pattern[str]
    age_in_words_unit: re.Pattern[str]
    age_in_words_chars: int
    number_words: dict[str, int]
    age_not_after: re.Pattern[str]
    sex_after_chars: int
    female: re.Pattern[str]
    male: re.Pattern[str]
    female_units: frozenset[str]
    male_units: frozenset[str]
    letter_sex: re.Pattern[str]
    sex_label: re.Pattern[str]
    sex_statement: re.Pattern[str]
    relative_before_chars: int
    relative_before: re.Pattern[str]
    relative_after: re.Pattern[str]
    others_before: re.Pattern[str]
    titles: tuple[tuple[str, re.Pattern[str]], ...]
    pronouns: tuple[tuple[str, re.Pattern[str]], ...]
    pronoun_majority: int
    pronoun_minimum: int
    discharge_anchor: re.Pattern[str]
    not_discharge: re.Pattern[str]
    past_discharge: re.Pattern[str]
    discharge: tuple[tuple[int, re.Pattern[str], re.Pattern[str] | None], ...]


@lru_cache(maxsize=1)
def patterns() -> _Patterns:
    """The compiled phrases of demographics.yaml."""
    table = yaml.safe_load(PATTERNS_FILE.read_text(encoding="utf-8"))

    def rx(source: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
        return re.compile(source, flags)

    relatives = table["relatives"]
    words = table["number_words"]
    return _Patterns(
        scan_chars=int(table["scan_chars"]),
        discharge_anchors=int(table["discharge_anchors"]),
        sentence_chars=int(table["sentence_chars"]),
        max_age=int(table["max_age"]),
        age=tuple(rx(p) for p in table["age"]),
        age_in_words=rx(table["age_in_words"].replace("{words}", "|".join(words))),
        age_in_words_unit=rx(table["age_in_words_unit"]),
        age_in_words_chars=int(table["age_in_words_chars"]),
        number_words={word: number for number, word in enumerate(words)},
        age_not_after=rx(table["age_not_after"]),
        sex_after_chars=int(table["sex_after_chars"]),
        female=rx("|".join(table["female"])),
        male=rx("|".join(table["male"])),
        female_units=frozenset(table["female_units"]),
        male_units=frozenset(table["male_units"]),
        letter_sex=re.compile(table["letter_sex"]),  # capitals only
        sex_label=rx(table["sex_label"]),
        sex_statement=rx(table["sex_statement"]),
        relative_before_chars=int(table["relative_before_chars"]),
        relative_before=rx(relatives),
        relative_after=rx(r"^[\s,-]*(?:[\w-]+\s+){0,2}?" + relatives),
        others_before=rx(table["others_before"]),
        titles=tuple((sex, re.compile(p)) for sex, p in table["titles"].items()),
        pronouns=tuple((sex, rx(p)) for sex, p in table["pronouns"].items()),
        pronoun_majority=int(table["pronoun_majority"]),
        pronoun_minimum=int(table["pronoun_minimum"]),
        discharge_anchor=rx(table["discharge_anchor"]),
        not_discharge=rx(table["not_discharge"]),
        past_discharge=rx(table["past_discharge"]),
        discharge=tuple(
            (int(d["status"]), rx(d["pattern"]), rx(d["unless"]) if "unless" in d else None)
            for d in table["discharge"]
        ),
    )


def read_demographics(text: str) -> Demographics:
    """The age, sex and discharge status `text` states, each with its words (None when not
    stated). Reads at most the opening `scan_chars` characters for age and sex; linear in the
    length of the text."""
    p = patterns()
    head = text[: p.scan_chars]
    age, age_evidence, sex, sex_evidence = _age_and_sex(head, p)
    if sex is None:
        sex, sex_evidence = _stated_sex(head, p)
    if sex is None:
        sex, sex_evidence = _weak_sex(head, p)
    status, status_evidence = _discharge(text, p)
    return Demographics(age, sex, status, age_evidence, sex_evidence, status_evidence)


def _sentence_start(
    text: str, position: int, limit: int, boundary: re.Pattern[str] = _BOUNDARY
) -> int:
    floor = max(0, position - limit)
    last = floor
    for found in boundary.finditer(text, floor, position):
        last = found.end()
    return last


def _sentence_end(text: str, position: int, limit: int) -> int:
    found = _BOUNDARY.search(text, position, min(len(text), position + limit))
    return found.start() if found else min(len(text), position + limit)


def _years(number: int, unit: str) -> int:
    unit = unit.lower()
    if unit.startswith(_MONTHS):
        return number // 12
    if unit.startswith(_WEEKS_DAYS):
        return 0
    return number


def _about_someone_else(head: str, match: re.Match[str], p: _Patterns) -> bool:
    start = _sentence_start(head, match.start(), p.relative_before_chars, _CLAUSE)
    before = head[start : match.start()]
    if p.relative_before.search(before) or p.others_before.search(before):
        return True
    if p.age_not_after.search(before):
        return True
    after = head[match.end() : _sentence_end(head, match.end(), p.sex_after_chars)]
    return bool(p.relative_after.match(after))


def _age_and_sex(
    head: str, p: _Patterns
) -> tuple[int | None, Statement | None, str | None, Statement | None]:
    matches = [m for pattern in p.age for m in pattern.finditer(head)]
    # ages in words are rare and slow to look for: only before the first age in digits
    before = min((m.start() for m in matches), default=len(head))
    for unit in p.age_in_words_unit.finditer(head, 0, before):
        start = max(0, unit.start() - p.age_in_words_chars)
        if word := p.age_in_words.search(head, start, unit.end()):
            matches.append(word)
    matches.sort(key=lambda m: (m.start(), -m.end()))
    for match in matches:
        number = match["n"].lower()
        count = p.number_words[number] if number in p.number_words else int(number)
        years = _years(count, match.groupdict().get("unit") or "y")
        if years > p.max_age or _about_someone_else(head, match, p):
            continue
        age_evidence = Statement(match.start(), match.end(), match.group(0))
        sex, end = _sex_after(head, match, p)
        if sex is None:
            return years, age_evidence, None, None
        # one statement gives both: "72-year-old male"
        statement = Statement(match.start(), end, head[match.start() : end])
        return years, statement, sex, statement
    return None, None, None, None


def _sex_after(head: str, match: re.Match[str], p: _Patterns) -> tuple[str | None, int]:
    """The sex the age phrase states: its unit ("72 YOF"), a capital letter right after
    ("72 y/o M"), or the first sex word after it in its sentence."""
    unit = re.sub(r"\W", "", (match.groupdict().get("unit") or "").lower())
    if unit in p.female_units:
        return "F", match.end()
    if unit in p.male_units:
        return "M", match.end()
    end = _sentence_end(head, match.end(), p.sex_after_chars)
    after = head[match.end() : end]
    if letter := p.letter_sex.match(after):
        return letter["s"], match.end() + letter.end()
    words = [(m.start(), "F", m.end()) for m in [p.female.search(after)] if m]
    words += [(m.start(), "M", m.end()) for m in [p.male.search(after)] if m]
    if not words:
        return None, match.end()
    _, sex, stop = min(words)
    return sex, match.end() + stop


def _stated_sex(head: str, p: _Patterns) -> tuple[str | None, Statement | None]:
    for pattern in (p.sex_label, p.sex_statement):
        for match in pattern.finditer(head):
            start = _sentence_start(head, match.start(), p.relative_before_chars)
            if p.relative_before.search(head[start : match.start("s")]):
                continue
            word = match["s"].lower()
            sex = "F" if word in ("f", "female", "woman", "lady", "girl") else "M"
            return sex, Statement(match.start(), match.end(), match.group(0))
    return None, None


def _weak_sex(head: str, p: _Patterns) -> tuple[str | None, Statement | None]:
    titles = [(m.start(), sex, m) for sex, pattern in p.titles if (m := pattern.search(head))]
    if titles:
        _, sex, match = min(titles, key=lambda t: t[0])
        title = match.group(0)[:-1].rstrip()  # without the name's first letter
        return sex, Statement(match.start(), match.start() + len(title), title, "weak: title")
    counts = {sex: [m for m in pattern.finditer(head)] for sex, pattern in p.pronouns}
    (more, many), (_, few) = sorted(counts.items(), key=lambda kv: -len(kv[1]))
    if len(many) >= p.pronoun_minimum and len(many) >= p.pronoun_majority * max(1, len(few)):
        first = many[0]
        words = f"{first.group(0)} ({len(many)} {more} pronouns, {len(few)} other)"
        return more, Statement(first.start(), first.end(), words, "weak: pronouns")
    return None, None


def _discharge(text: str, p: _Patterns) -> tuple[int | None, Statement | None]:
    """The status of the last sentence in the note that states a discharge of this stay."""
    anchors: deque[re.Match[str]] = deque(p.discharge_anchor.finditer(text), p.discharge_anchors)
    previous = -1
    found: tuple[int, Statement] | None = None
    for anchor in anchors:
        start = _sentence_start(text, anchor.start(), p.sentence_chars)
        if start == previous:
            continue  # the same sentence
        end = _sentence_end(text, anchor.end(), p.sentence_chars)
        sentence = text[start:end]
        if p.past_discharge.search(sentence):
            continue
        if all(
            any(
                m.start() <= a.start() - start < m.end() for m in p.not_discharge.finditer(sentence)
            )
            for a in p.discharge_anchor.finditer(sentence)
        ):
            continue
        previous = start
        for status, pattern, unless in p.discharge:
            if pattern.search(sentence) and not (unless and unless.search(sentence)):
                words = sentence.strip(" ,:\n\t")
                offset = start + sentence.index(words)
                found = status, Statement(offset, offset + len(words), words)
                break
    return found if found else (None, None)
