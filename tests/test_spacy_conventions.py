"""spaCy conventions: a saved pipeline loads in a fresh process, Docs serialize, and
`medcode_coder` puts the Coder's codes on the Doc (docs/SPACY.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import spacy
from spacy import displacy
from spacy.tokens import Doc, DocBin

from medcode.engine.coding.coder import Coder
from medcode.engine.coding.spacy_component import SPANS_KEY
from medcode.engine.reading import build_pipeline
from medcode.engine.reading.mentions import assertion
from medcode.engine.reading.sentences import SentenceIndex

# The lines pyproject.toml gives under [project.entry-points.spacy_factories].
FACTORIES = {
    "medcode_sentences": "medcode.engine.reading.sentences:split_sentences",
    "medcode_sections": "medcode.engine.reading.sections:make_sectionizer",
    "medcode_concepts": "medcode.engine.reading.concepts:make_concept_matcher",
    "medcode_context": "medcode.engine.reading:make_context",
    "medcode_coder": "medcode.engine.coding.spacy_component:make_coder",
}
# A note flattened to one line (the tokenizer's own infixes must survive saving), with a
# negation, a family history section and a case-sensitive acronym.
NOTE = (
    "Assessment: obesity.,DISCHARGE DIAGNOSIS: ,DM2 without retinopathy, HTN. No pneumonia. "
    "Family history: breast cancer."
)
CODED_NOTE = (
    "Assessment: Type 2 diabetes with diabetic chronic kidney disease stage 3. No pneumonia. "
    "Family history: breast cancer."
)
# Prints the entities a saved pipeline finds in a text and the codes it puts on the Doc, in a
# process that has not imported medcode.
LOAD_AND_READ = """
import json, sys, spacy
doc = spacy.load(sys.argv[1])(sys.argv[2])
ents = [[e.start_char, e.end_char, e.label_, [r[0] for r in e._.lexicon_rows],
         e._.is_negated, e._.section_category] for e in doc.ents]
codes = [c["code"] for c in doc._.icd10] if doc.has_extension("icd10") and doc._.icd10 else []
print(json.dumps([ents, codes]))
"""


def _entities(doc: Doc) -> list[list]:
    keys = [[x.key for x in e._.lexicon_entries] for e in doc.ents]
    return [
        [e.start_char, e.end_char, e.label_, k, e._.is_negated, e._.section_category]
        for e, k in zip(doc.ents, keys, strict=True)
    ]


def _read(doc: Doc) -> list[tuple]:
    """What the engine reads of each concept: its entries, section, assertion, modifiers."""
    return [
        (
            e.start_char,
            e.end_char,
            e._.lexicon_entries,
            e._.section_category,
            assertion(e, e._.section_category),
            [(m.modifier_span, m.category) for m in e._.modifiers],
        )
        for e in doc.ents
    ]


@pytest.fixture(scope="module")
def nlp(_private_cache: None) -> spacy.Language:
    return build_pipeline()


@pytest.fixture(scope="module")
def coding_nlp(_private_cache: None) -> spacy.Language:
    coding = spacy.blank("en")
    coding.add_pipe("medcode_coder")
    return coding


def _load_in_fresh_process(saved: Path, text: str, pythonpath: str) -> list:
    """[entities, codes] of `text` read by the pipeline saved in `saved`, in a new process."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run(
        [sys.executable, "-c", LOAD_AND_READ, str(saved), text],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=saved,  # not the repository: medcode must come from the installed package
    )
    return json.loads(out.stdout)


def test_saved_pipeline_holds_only_configs(
    nlp: spacy.Language, coding_nlp: spacy.Language, tmp_path: Path
) -> None:
    nlp.to_disk(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == [
        "config.cfg",
        "meta.json",
        "tokenizer",
        "vocab",
    ]
    assert nlp.config["components"]["medcode_concepts"] == {
        "factory": "medcode_concepts",
        "cms_dir": None,
        "tabular": None,
    }
    assert coding_nlp.config["components"]["medcode_coder"] == {
        "factory": "medcode_coder",
        "cms_dir": None,
        "setting": "auto",
        "tabular": None,
    }


def test_saved_pipeline_loads_through_the_entry_point_lines(
    nlp: spacy.Language, coding_nlp: spacy.Language, tmp_path: Path
) -> None:
    """The FACTORIES lines, installed as a distribution's entry points, are all a fresh process
    needs to load the pipelines: it imports nothing of medcode itself."""
    nlp.to_disk(tmp_path / "saved")
    coding_nlp.to_disk(tmp_path / "coding")
    dist = tmp_path / "site" / "medcode_spacy_factories-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: medcode-spacy-factories\n")
    lines = "".join(f"{name} = {target}\n" for name, target in FACTORIES.items())
    (dist / "entry_points.txt").write_text(f"[spacy_factories]\n{lines}")
    site = str(tmp_path / "site")
    loaded, _ = _load_in_fresh_process(tmp_path / "saved", NOTE, site)
    assert loaded == _entities(nlp(NOTE))
    assert loaded == [
        [12, 19, "CONDITION", ["E66", "E66.9", "E66.9"], False, "assessment"],
        [43, 46, "CONDITION", ["E11"], False, "discharge_diagnoses"],
        [55, 66, "CONDITION", ["H35.00"], True, "discharge_diagnoses"],
        [68, 71, "CONDITION", ["I10"], False, "discharge_diagnoses"],
        [76, 85, "CONDITION", ["J18", "J12", "J15"], True, "discharge_diagnoses"],
        [103, 116, "CONDITION", ["C50"], False, "family_history"],
    ]
    coded = _load_in_fresh_process(tmp_path / "coding", CODED_NOTE, site)
    assert coded == [[], ["E11.22", "N18.30", "Z80.3"]]


def test_installed_entry_points_load_a_saved_pipeline(nlp: spacy.Language, tmp_path: Path) -> None:
    installed = {e.name: e.value for e in entry_points(group="spacy_factories")}
    if "medcode_concepts" not in installed:
        pytest.skip(
            "pyproject.toml has no [project.entry-points.spacy_factories] yet (or the package "
            "was installed before it had): reinstall medcode to register the factories"
        )
    assert {name: installed.get(name) for name in FACTORIES} == FACTORIES
    nlp.to_disk(tmp_path / "saved")
    loaded, _ = _load_in_fresh_process(tmp_path / "saved", NOTE, "")
    assert loaded == _entities(nlp(NOTE))


def test_doc_round_trips_through_bytes(nlp: spacy.Language) -> None:
    doc = nlp(NOTE)
    again = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert _read(again) == _read(doc)
    assert [(e.text, a) for e, a in zip(again.ents, (r[4] for r in _read(again)), strict=True)] == [
        ("obesity", "affirmed"),
        ("DM2", "affirmed"),
        ("retinopathy", "negated"),
        ("HTN", "affirmed"),
        ("pneumonia", "negated"),
        ("breast cancer", "family"),
    ]


def test_doc_round_trips_through_docbin(nlp: spacy.Language) -> None:
    docs = [nlp(NOTE), nlp("Chronic systolic heart failure.")]
    stored = DocBin(store_user_data=True, docs=docs).to_bytes()
    again = list(DocBin().from_bytes(stored).get_docs(nlp.vocab))
    assert [_read(d) for d in again] == [_read(d) for d in docs]


def test_context_graph_survives_bytes(nlp: spacy.Language) -> None:
    """The graph keeps the modifiers that modify no concept: their negation scopes still
    keep words from the concepts of the sentence ("no perforation" is no K35.211)."""
    doc = nlp("Acute appendicitis, no perforation or abscess. No pneumonia.")
    again = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    graph = again._.context_graph
    assert [(m.modifier_span, m.category) for m in graph.modifiers] == [
        ((3, 4), "NEGATED_EXISTENCE"),
        ((8, 9), "NEGATED_EXISTENCE"),
    ]
    assert [(e.text, e.label_, m.modifier_span) for e, m in graph.edges] == [
        ("pneumonia", "CONDITION", (8, 9))
    ]
    assert SentenceIndex(again).negated == SentenceIndex(doc).negated == {4, 5, 6, 7, 9, 10}


def test_medcode_coder_puts_the_coders_codes_on_the_doc(coding_nlp: spacy.Language) -> None:
    doc = coding_nlp(CODED_NOTE)
    coder: Coder = coding_nlp.get_pipe("medcode_coder").coder
    codes = coder.code(CODED_NOTE).codes
    assert doc._.icd10 == [
        {
            "code": "E11.22",
            "description": "Type 2 diabetes mellitus with diabetic chronic kidney disease",
            "sequence": 1,
            "confidence": "high",
        },
        {
            "code": "N18.30",
            "description": "Chronic kidney disease, stage 3 unspecified",
            "sequence": 2,
            "confidence": "low",
        },
        {
            "code": "Z80.3",
            "description": "Family history of malignant neoplasm of breast",
            "sequence": 3,
            "confidence": "medium",
        },
    ]
    assert [c["code"] for c in doc._.icd10] == [c.code for c in codes]
    assert [(s.text, s.label_, s.kb_id_) for s in doc.spans[SPANS_KEY]] == [
        ("Type 2 diabetes", "ICD10", "E11.22"),
        ("chronic kidney disease stage 3", "ICD10", "N18.30"),
        ("breast cancer", "ICD10", "Z80.3"),
    ]
    assert [(s.start_char, s.end_char) for s in doc.spans[SPANS_KEY]] == [
        (e.start, e.end) for c in codes for e in c.evidence
    ]


def test_displacy_shows_the_codes(coding_nlp: spacy.Language) -> None:
    html = displacy.render(coding_nlp(CODED_NOTE), style="span", options={"spans_key": SPANS_KEY})
    # each span's label, then its kb_id as displaCy writes it
    shown = 'href="#">{}</a>'
    assert [code for code in ("E11.22", "N18.30", "Z80.3") if shown.format(code) in html] == [
        "E11.22",
        "N18.30",
        "Z80.3",
    ]
    assert html.count("ICD10") == 3


def test_doc_consumer_lists_the_codes(coding_nlp: spacy.Language) -> None:
    from medspacy.io import DocConsumer

    consumer = DocConsumer(
        coding_nlp,
        dtypes=("group",),
        dtype_attrs={"group": ["text", "label_", "kb_id_"]},
        span_group_name=SPANS_KEY,
    )
    data = consumer(coding_nlp(CODED_NOTE))._.data["group"]
    assert data["kb_id_"] == ["E11.22", "N18.30", "Z80.3"]
    assert data["label_"] == ["ICD10", "ICD10", "ICD10"]


def test_coded_doc_round_trips_through_bytes(coding_nlp: spacy.Language) -> None:
    doc = coding_nlp(CODED_NOTE)
    again = Doc(coding_nlp.vocab).from_bytes(doc.to_bytes())
    assert again._.icd10 == doc._.icd10
    assert [(s.text, s.kb_id_) for s in again.spans[SPANS_KEY]] == [
        (s.text, s.kb_id_) for s in doc.spans[SPANS_KEY]
    ]
