"""How a note's words and a code title's words read: the words that tell codes apart, phrases
read as one word, and sites read as the regions the Tabular names. Shared by the reading of
mentions and the walk down the hierarchy, so that a note and a title are read alike."""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise

from medcode.terminology.lexicon import normalize_tokens

# Words that carry no distinction between sibling codes ("diabetic" qualifies every diabetes
# complication title; the complication's own word makes the distinction).
FILLER = frozenset(
    {"of", "the", "and", "or", "in", "on", "a", "an", "to", "for", "by", "as", "at", "is", "be"}
    | {"with", "due", "diabetic"}
)
PARENS = re.compile(r"\([^()]*\)")

# Phrases read as one word, in titles and in the words a concept lends: a region the Tabular
# names ("Cellulitis of left lower limb"), which a note's site word also reads as ("upper arm"
# is no upper limb); a trimester or a diabetes type ("third" alone is a degree of laceration,
# "1" alone a stage or a class).
ONE_WORD = {
    "lower limb": "lower_limb",
    "upper limb": "upper_limb",
    "large intestine": "large_intestine",
    "first trimester": "first_trimester",
    "second trimester": "second_trimester",
    "third trimester": "third_trimester",
    "type 1": "type_1",
    "type 2": "type_2",
}
LOWER_LIMB = ("foot", "ankle", "heel", "leg", "knee", "thigh", "shin", "calf")
UPPER_LIMB = ("hand", "wrist", "forearm", "elbow", "arm", "shoulder")
REGION_WORDS = frozenset({"lower_limb", "upper_limb", "large_intestine"})
READS_AS = {
    **dict.fromkeys(LOWER_LIMB, ("lower_limb",)),
    **dict.fromkeys(UPPER_LIMB, ("upper_limb",)),
    **dict.fromkeys(("colon", "sigmoid", "cecum", "colonic"), ("large_intestine",)),
    "both": ("bilateral",),
    # Index: Diabetes, uncontrolled, meaning hyperglycemia; Epilepsy or Migraine, intractable
    # (pharmacoresistant) (treatment resistant) (refractory) (poorly controlled)
    "uncontrolled": ("hyperglycemia", "intractable"),
    "refractory": ("intractable",),
    "pharmacoresistant": ("intractable",),
    # the Tabular says hemorrhage where notes say bleeding ("ulcer with active bleeding")
    "bleeding": ("hemorrhage",),
    "bleed": ("hemorrhage",),
}


def one_word_phrases(text: str) -> set[str]:
    """The one-word forms of the phrases of ONE_WORD that a text has ("third_trimester")."""
    lower = " ".join(normalize_tokens(text))
    return {word for phrase, word in ONE_WORD.items() if phrase in lower}


# Two words that read as one more: "poorly controlled" diabetes is with hyperglycemia, a poorly
# controlled migraine intractable (Index).
READS_AS_PAIRS = {
    ("poorly", "controlled"): ("hyperglycemia", "intractable"),
    ("inadequately", "controlled"): ("hyperglycemia", "intractable"),
    ("suboptimally", "controlled"): ("hyperglycemia", "intractable"),
    ("of", "control"): ("hyperglycemia", "intractable"),
}
# A roman numeral after a word that counts reads as its number: "stage III" is stage 3, "type II"
# type 2, "class III" class 3. Not alone: "I" is a pronoun, "IV" intravenous.
ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5"}
COUNTED = frozenset({"stage", "type", "class", "grade"})


def read_as(words: Iterable[str]) -> set[str]:
    """The note's words, in order, with what they also read as (READS_AS, READS_AS_PAIRS,
    ROMAN)."""
    ordered = list(words)
    read = set(ordered).union(*(READS_AS.get(w, ()) for w in ordered))
    for before, word in pairwise(ordered):
        if before in COUNTED and word in ROMAN:
            # "type II" is the one word "type_2" (ONE_WORD), never a stage 2 elsewhere
            read.add(f"type_{ROMAN[word]}" if before == "type" else ROMAN[word])
        read.update(READS_AS_PAIRS.get((before, word), ()))
    return read


def content_words(title: str) -> frozenset[str]:
    """A title's distinguishing words: no parenthesised modifiers, no filler words."""
    return frozenset(normalize_tokens(PARENS.sub(" ", title))) - FILLER
