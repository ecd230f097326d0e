"""Property-based fuzzing of `Coder.code` (hypothesis, derandomized and bounded for CI): any
text gets either an InputError or a result whose codes are billable FY2026 codes, each with
evidence that is exactly the text at its offsets (docs/RELIABILITY.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medcode.engine.coding.coder import Coder, InputError
from medcode.terminology import CodeSet

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Words that make concepts, cues and headers, so that fuzzed notes reach the whole engine.
WORDS = [
    "COPD", "pneumonia", "no", "denies", "history", "of", "type 2 diabetes", "with", "CKD",
    "stage 3a", "Assessment:", "HPI:", "family", "mother", "possible", "right", "fracture",
    "acetaminophen overdose", "metastatic", "adenocarcinoma", "colon", ",", ".", "\n", "\t",
]  # fmt: skip
NOTES = st.one_of(
    st.text(max_size=400),  # any code point but surrogates, control characters among them
    st.builds(  # a lone surrogate, as a JSON escape or undecodable bytes leave one
        "{}{}{}".format,
        st.text(max_size=40),
        st.sampled_from(["\ud800", "\udbff", "\udc00", "\udcff", "\udfff"]),
        st.text(max_size=40),
    ),
    st.lists(st.sampled_from(WORDS), max_size=80).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=400).map("\n".join),  # many short lines
    st.builds(lambda w, n: " ".join([w] * n), st.sampled_from(WORDS), st.integers(1, 3000)),
)


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def test_a_lone_surrogate_is_refused_with_its_position(coder: Coder) -> None:
    with pytest.raises(InputError, match=r"^not Unicode text: a lone surrogate at character 5$"):
        coder.code("COPD \udcff")


@FUZZ
@given(text=NOTES, setting=st.sampled_from(["auto", "inpatient", "outpatient"]))
def test_any_text_is_coded_with_billable_codes_and_exact_evidence(
    coder: Coder, codeset: CodeSet, text: str, setting: str
) -> None:
    try:
        result = coder.code(text, setting=setting)
    except InputError as refused:
        assert not text.strip() or "lone surrogate" in str(refused)
        return
    assert not any("\ud800" <= ch <= "\udfff" for ch in text)
    for code in result.codes:
        node = codeset.get(code.code)
        assert node is not None and node.billable, code.code
        for evidence in code.evidence:
            assert text[evidence.start : evidence.end] == evidence.text
    assert result.to_json()["document"] == "-"
