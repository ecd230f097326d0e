"""The JSON output of `medcode code` and `medcode check` against docs/schema/*.schema.json, and
the audit invariants of every gold note: exact evidence offsets, a trace for every code, a reason
for every rejected candidate."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the `test` extra")

from medcode.engine.coding.coder import Coder  # noqa: E402
from medcode.engine.interfaces.cli import main  # noqa: E402
from medcode.terminology import CodeSet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs" / "schema"
NOTES = yaml.safe_load((Path(__file__).parent / "gold" / "notes.yaml").read_text("utf-8"))


def schema(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


CODE_VALIDATOR = jsonschema.Draft202012Validator(schema("code-result.schema.json"))
CHECK_VALIDATOR = jsonschema.Draft202012Validator(schema("check-result.schema.json"))


def errors(validator: Any, instance: Any) -> list[tuple[str, list[Any]]]:
    """(failing keyword, path of the failing value) for every schema error, sorted."""
    return sorted((e.validator, list(e.absolute_path)) for e in validator.iter_errors(instance))


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def test_schemas_are_valid_draft_2020_12() -> None:
    for name in ("code-result.schema.json", "check-result.schema.json"):
        document = schema(name)
        jsonschema.Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_check_schema_edit_is_the_code_schema_edit() -> None:
    assert (
        schema("check-result.schema.json")["$defs"]["edit"]
        == schema("code-result.schema.json")["$defs"]["edit"]
    )


@pytest.mark.parametrize("note", NOTES, ids=[n["id"] for n in NOTES])
def test_gold_result_follows_the_schema_and_is_auditable(coder: Coder, note: dict) -> None:
    text = note["text"]
    result = coder.code(text, document=note["id"], setting=note["setting"]).with_input(text)
    output = json.loads(json.dumps(result.to_json()))
    assert errors(CODE_VALIDATOR, output) == []
    claim = ["claim"] if output["codes"] else []  # a result without codes has no claim
    assert list(output)[7:] == ["versions", "setting_reason", "input", *claim]
    assert output["input"] == {
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "chars": len(text),
    }
    assert [c["sequence"] for c in output["codes"]] == list(range(1, len(output["codes"]) + 1))
    for coded in output["codes"]:
        assert coded["evidence"]
        # a code starts from the words it matched, or from the rule that added it
        assert coded["trace"][0]["step"] in ("match", "rule")
        assert coded["trace"][-1] == {"step": "sequence", "position": coded["sequence"]}
        for evidence in coded["evidence"]:
            assert text[evidence["start"] : evidence["end"]] == evidence["text"]
    for excluded in output["excluded"]:
        assert excluded["reason"].strip()
        assert excluded["trace"][0]["step"] == "match"
        for evidence in excluded["evidence"]:
            assert text[evidence["start"] : evidence["end"]] == evidence["text"]
    for query in output["queries"]:
        assert query["code"] in {c["code"] for c in output["codes"]}


def test_result_without_input_record_follows_the_schema(coder: Coder) -> None:
    output = coder.code("Assessment: essential hypertension.").to_json()
    assert "input" not in output
    assert errors(CODE_VALIDATOR, output) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("versions"), [("required", [])]),
        (lambda r: r.update(extra=1), [("additionalProperties", [])]),
        (lambda r: r.update(setting="emergency"), [("enum", ["setting"])]),
        (lambda r: r["codes"][0].update(code="I10.X9999"), [("pattern", ["codes", 0, "code"])]),
        (lambda r: r["codes"][0].update(confidence="sure"), [("enum", ["codes", 0, "confidence"])]),
        (lambda r: r["codes"][0].update(trace=[]), [("minItems", ["codes", 0, "trace"])]),
        (lambda r: r["codes"][0].update(evidence=[]), [("minItems", ["codes", 0, "evidence"])]),
        (
            lambda r: r["codes"][0]["trace"][0].pop("step"),
            [("required", ["codes", 0, "trace", 0])],
        ),
        (
            lambda r: r["codes"][0]["trace"][0].pop("term"),
            [("required", ["codes", 0, "trace", 0])],
        ),
        (
            lambda r: r["codes"][0]["evidence"][0].update(assertion="maybe"),
            [("enum", ["codes", 0, "evidence", 0, "assertion"])],
        ),
        (lambda r: r["input"].update(sha256="abc"), [("pattern", ["input", "sha256"])]),
        (
            lambda r: r["edits"].append({"rule": "x", "severity": "fatal", "codes": []}),
            [
                ("enum", ["edits", 0, "severity"]),
                ("required", ["edits", 0]),  # message
                ("required", ["edits", 0]),  # source
            ],
        ),
    ],
    ids=[
        "no-versions",
        "unknown-key",
        "bad-setting",
        "bad-code",
        "bad-confidence",
        "empty-trace",
        "no-evidence",
        "step-without-name",
        "match-without-term",
        "bad-assertion",
        "bad-sha256",
        "bad-edit",
    ],
)
def test_schema_rejects_broken_results(coder: Coder, change: Any, expected: list) -> None:
    text = "Assessment: essential hypertension."
    output = coder.code(text).with_input(text).to_json()
    broken = copy.deepcopy(output)
    change(broken)
    assert errors(CODE_VALIDATOR, broken) == expected


def test_trace_steps_are_open_to_new_steps_and_fields(coder: Coder) -> None:
    output = coder.code("Assessment: essential hypertension.").to_json()
    output["codes"][0]["trace"].insert(1, {"step": "llm", "model": "none", "score": 0.5})
    output["codes"][0]["trace"][0]["extra"] = ["a field a later engine adds"]
    assert errors(CODE_VALIDATOR, output) == []


def test_cli_json_lines_follow_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picked = [n for n in NOTES if n["id"].startswith("combination-")][:3]
    paths = []
    for note in picked:
        path = tmp_path / f"{note['id']}.txt"
        path.write_text(note["text"], encoding="utf-8")
        paths.append(path)
    status = main(["code", str(tmp_path), "--format", "json"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert [json.loads(line)["document"] for line in lines] == [str(p) for p in sorted(paths)]
    for line in lines:
        output = json.loads(line)
        assert errors(CODE_VALIDATOR, output) == []
        text = Path(output["document"]).read_text(encoding="utf-8")
        assert output["input"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_check_schema_accepts_the_contract_shape() -> None:
    example = {
        "codes": ["E11.22", "N18.31"],
        "edits": [
            {
                "rule": "excludes1",
                "severity": "error",
                "codes": ["E11.22", "E11.9"],
                "message": "E11.22 and E11.9 are never reported together",
                "source": "rules/excludes.rules:3",
            }
        ],
    }
    assert errors(CHECK_VALIDATOR, example) == []
    assert errors(CHECK_VALIDATOR, {"codes": ["E11.9"]}) == [("required", [])]


def test_check_cli_output_follows_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", "I10", "N18.30", "E11.99", "--format", "json"])
    output = json.loads(capsys.readouterr().out)
    assert status == 1  # E11.99 is not a code
    assert errors(CHECK_VALIDATOR, output) == []
    assert (output["codes"], output["given"]) == (["I12.9", "N18.30"], ["I10", "N18.30", "E11.99"])
