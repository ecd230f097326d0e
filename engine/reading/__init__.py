"""Reading: a note's text -> the mentions of conditions in it.

Takes text; gives spaCy `Doc`s whose entities are lexicon concepts with their section and
ConText modifiers (negated, uncertain, historical, hypothetical, family), and from them
`Mention`s (mentions.py) with an assertion and the words of their sentence. The medspaCy
pipeline: sentences, sections, concepts, measurements (BMI, weeks of gestation), ConText.
Each stage is a spaCy component, so users can add them to their own pipeline:
`nlp.add_pipe("medcode_sentences")`, `nlp.add_pipe("medcode_sections")`,
`nlp.add_pipe("medcode_concepts")`, `nlp.add_pipe("medcode_context")`; a saved pipeline
holds only their configs and loads anywhere medcode is installed (docs/SPACY.md).
"""

from pathlib import Path

import spacy
import yaml
from spacy.language import Language
from spacy.tokens import Span

from . import (
    concepts,  # noqa: F401  (registers "medcode_concepts")
    sections,  # noqa: F401  (registers "medcode_sections")
    sentences,  # noqa: F401  (registers "medcode_sentences")
)
from .extensions import declare_context_graph, declare_extensions
from .sentences import split_flattened_lines

_HERE = Path(__file__).parent
CONTEXT_FILE = _HERE / "context_rules.yaml"


def context_rules() -> list:
    """medspaCy ConTextRules from context_rules.yaml. A trigger is a literal, or a mapping with
    its literal and options: `max_scope` (tokens), `one_item` (never past a comma), `pattern`
    (a spaCy token pattern matched instead of the literal)."""
    from medspacy.context import ConTextRule

    # BaseLoader keeps every literal a string: YAML 1.1 would read `no` as false.
    table = yaml.load(CONTEXT_FILE.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    rules = []
    for category, directions in table.items():
        for direction, triggers in directions.items():
            for trigger in triggers:
                options = trigger if isinstance(trigger, dict) else {"literal": trigger}
                rules.append(
                    ConTextRule(
                        literal=options["literal"],
                        category=category,
                        direction=direction,
                        pattern=options.get("pattern"),
                        max_scope=int(options["max_scope"]) if "max_scope" in options else None,
                        on_modifies=_within_item if "one_item" in options else None,
                    )
                )
    return rules


def _within_item(target: object, modifier: object, between: Span) -> bool:
    """A trigger that qualifies one item of a list does not reach past a comma: "DM2 without
    retinopathy, HTN", "carcinoma, ER positive, HER2 negative"."""
    return not any(token.text == "," for token in between)


@Language.factory("medcode_context")
def make_context(nlp: Language, name: str):
    """medspaCy's ConText with the rules of context_rules.yaml.

    Modifiers that overlap a concept are dropped: "without" inside the title "GERD without
    esophagitis" does not negate it. `doc._.context_graph` is rebuilt from the spans' modifiers
    when read, so that the Doc serializes (extensions.py).
    """
    from medspacy.context import ConText
    from medspacy.context.context import DEFAULT_ATTRIBUTES

    declare_extensions()

    context = ConText(
        nlp,
        name=name,
        rules=None,
        prune_on_target_overlap=True,
        span_attrs={**DEFAULT_ATTRIBUTES, "OTHER_PERSON": {"is_other_person": True}},
    )
    context.add(context_rules())
    declare_context_graph()  # after ConText, which declares the attribute anew
    return context


def build_pipeline(tabular: str | None = None, cms_dir: str | None = None) -> Language:
    """A blank English tokenizer that also splits lines flattened to commas, and the four
    medcode components."""
    nlp = spacy.blank("en")
    split_flattened_lines(nlp)
    nlp.add_pipe("medcode_sentences")
    nlp.add_pipe("medcode_sections")
    nlp.add_pipe("medcode_concepts", config={"tabular": tabular, "cms_dir": cms_dir})
    nlp.add_pipe("medcode_context")
    return nlp
