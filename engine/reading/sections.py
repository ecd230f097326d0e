"""Note sections: medspaCy's Sectionizer with the headers of sections.yaml, found where a line or
a sentence starts (the sentence splitter has marked both), so that headers written inline
("Family History: none. Social History: smoker.", "obesity.,DISCHARGE DIAGNOSIS: ,") count."""

from pathlib import Path

import yaml
from spacy.language import Language
from spacy.tokens import Doc

SECTIONS_FILE = Path(__file__).with_name("sections.yaml")


def section_rules() -> list:
    """medspaCy SectionRules from sections.yaml: each header with its colon."""
    from medspacy.section_detection import SectionRule

    table = yaml.load(SECTIONS_FILE.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    return [
        SectionRule(literal=f"{header}:", category=category)
        for category, headers in table.items()
        for header in headers
    ]


@Language.factory("medcode_sections")
def make_sectionizer(nlp: Language, name: str):
    """The Sectionizer; a header starts a sentence, and so does the text after it."""
    from medspacy.section_detection import Sectionizer

    class NoteSectionizer(Sectionizer):
        def filter_start_lines(self, doc: Doc, matches: list) -> list:
            return [m for m in matches if doc[m[1]].is_sent_start or m[1] == 0]

    sectionizer = NoteSectionizer(
        nlp, name=name, rules=None, require_start_line=True, apply_sentence_boundary=True
    )
    sectionizer.add(section_rules())
    return sectionizer
