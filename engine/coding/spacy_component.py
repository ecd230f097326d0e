"""`medcode_coder`: the whole Coder as a spaCy component, its codes put on the Doc.

`nlp.add_pipe("medcode_coder")` codes each Doc's text and sets `doc._.icd10` (one dict per
code: code, description, sequence, confidence) and `doc.spans["icd10"]` (each code's evidence,
label "ICD10", `kb_id_` the code), which displaCy's span style and medspaCy's DocConsumer show.
"""

# No `from __future__ import annotations`: spaCy validates a factory's arguments by their
# annotations, which must be types, not strings.
from spacy.language import Language
from spacy.tokens import Doc, Span

from medcode.engine.reading.extensions import declare_extensions

from .coder import AUTO, Coder

SPANS_KEY = "icd10"
LABEL = "ICD10"


class CoderComponent:
    """Codes a Doc's text with a Coder; the Doc's own tokens and entities are left as they are."""

    def __init__(self, coder: Coder, setting: str = AUTO):
        declare_extensions()
        self.coder = coder
        self.setting = setting

    def __call__(self, doc: Doc) -> Doc:
        if not doc.text.strip():  # the Coder refuses an empty note; an empty Doc has no codes
            doc._.icd10 = []
            doc.spans[SPANS_KEY] = []
            return doc
        result = self.coder.code(doc.text, setting=self.setting)
        doc._.icd10 = [
            {
                "code": c.code,
                "description": c.description,
                "sequence": c.sequence,
                "confidence": c.confidence,
            }
            for c in result.codes
        ]
        doc.spans[SPANS_KEY] = [
            span
            for c in result.codes
            for e in c.evidence
            if (span := _span(doc, e.start, e.end, c.code)) is not None
        ]
        return doc


def _span(doc: Doc, start: int, end: int, code: str) -> Span | None:
    # "expand": the Coder's tokenizer may cut words where this pipeline's does not
    return doc.char_span(start, end, label=LABEL, kb_id=code, alignment_mode="expand")


@Language.factory(
    "medcode_coder",
    default_config={"tabular": None, "cms_dir": None, "setting": AUTO},
)
def make_coder(
    nlp: Language, name: str, tabular: str | None, cms_dir: str | None, setting: str
) -> CoderComponent:
    """spaCy factory: a Coder on the cached code set (`tabular`, `cms_dir` as for `Coder`);
    `setting` is "inpatient", "outpatient" or "auto" (read from the kind of note)."""
    return CoderComponent(Coder(tabular, cms_dir=cms_dir), setting)
