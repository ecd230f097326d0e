"""FHIR R4 in and out (engine/interfaces/fhir.py, `medcode code --fhir`): what we emit is built
with the fhir.resources R4B models and validated again here (R4B is R4 for DocumentReference,
Condition, OperationOutcome, Task and Provenance)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import bundle as r4b_bundle
from fhir.resources.R4B import documentreference as r4b_document

from medcode.engine.coding import coder as coder_module
from medcode.engine.coding.coder import Coder
from medcode.engine.interfaces.cli import main
from medcode.engine.interfaces.fhir import (
    ICD10CM,
    FhirInputError,
    read_notes,
    recorded_now,
    to_bundle,
)
from medcode.engine.result import Edit

NOTE = (
    "Assessment: acute on chronic systolic CHF. Type 2 diabetes with diabetic CKD stage 3a. "
    "Denies chest pain."
)
UNCERTAIN = "Discharge Diagnoses: possible pneumonia."
RECORDED = "2026-11-26T12:00:00Z"
EXT = "https://medcode.invalid/fhir/StructureDefinition/"


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


def document(ident: str | None, text: str | bytes, **attachment: Any) -> dict[str, Any]:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "context": {"encounter": [{"reference": "Encounter/e1"}]},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(raw).decode("ascii"),
                    **attachment,
                }
            }
        ],
    }
    if ident is not None:
        resource["id"] = ident
    return resource


def bundle_of(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-0000-0000-00000000000{i}", "resource": r}
            for i, r in enumerate(resources)
        ],
    }


def code_bundle(
    coder: Coder, resource: dict, setting: str = "inpatient", recorded: str = RECORDED
) -> dict[str, Any]:
    notes = read_notes(resource)
    coded = [(n, coder.code(n.text, document=n.document, setting=setting)) for n in notes]
    return to_bundle(coded, recorded)


def resources(bundle: dict, kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def reported(bundle: dict) -> list[dict[str, Any]]:
    """The Conditions of reported codes (the excluded candidates are refuted or unconfirmed)."""
    return [
        c
        for c in resources(bundle, "Condition")
        if c["verificationStatus"]["coding"][0]["code"] in ("confirmed", "provisional")
    ]


def extension(resource: dict, name: str) -> Any:
    (found,) = [e for e in resource["extension"] if e["url"] == EXT + name]
    return next(v for k, v in found.items() if k.startswith("value"))


def test_a_document_reference_becomes_validated_conditions_and_provenance(coder: Coder) -> None:
    source = document("note-1", NOTE)
    r4b_document.DocumentReference.model_validate(source)  # our test input is valid R4(B)
    bundle = code_bundle(coder, source)
    parsed = r4b_bundle.Bundle.model_validate(bundle)
    assert json.loads(parsed.model_dump_json()) == bundle  # nothing dropped or renamed
    assert (bundle["type"], bundle["timestamp"]) == ("collection", RECORDED)
    conditions = reported(bundle)
    assert [
        (
            c["code"]["coding"][0]["system"],
            c["code"]["coding"][0]["code"],
            c["code"]["coding"][0]["version"],
            extension(c, "sequence"),
            extension(c, "confidence"),
            c["verificationStatus"]["coding"][0]["code"],
        )
        for c in conditions
    ] == [
        (ICD10CM, "I50.23", "2026", 1, "high", "confirmed"),
        (ICD10CM, "E11.22", "2026", 2, "high", "confirmed"),
        (ICD10CM, "N18.31", "2026", 3, "medium", "confirmed"),
    ]
    first = conditions[0]
    assert first["code"]["coding"][0]["display"] == (
        "Acute on chronic systolic (congestive) heart failure"
    )
    assert (first["subject"], first["encounter"]) == (
        {"reference": "Patient/p1"},
        {"reference": "Encounter/e1"},
    )
    assert first["category"][0]["coding"][0]["code"] == "encounter-diagnosis"


def test_evidence_extensions_point_at_the_words_of_the_note(coder: Coder) -> None:
    bundle = code_bundle(coder, document("note-1", NOTE))
    spans = []
    for condition in reported(bundle):
        for evidence in condition["evidence"]:
            assert evidence["detail"] == [{"reference": "DocumentReference/note-1"}]
            (span,) = evidence["extension"]
            assert span["url"] == EXT + "evidence-span"
            parts = {
                p["url"]: next(v for k, v in p.items() if k != "url") for p in span["extension"]
            }
            assert NOTE[parts["start"] : parts["end"]] == parts["text"]
            spans.append(
                (condition["code"]["coding"][0]["code"], parts["text"], parts["assertion"])
            )
    assert spans == [
        ("I50.23", "acute on chronic systolic CHF", "affirmed"),
        ("E11.22", "Type 2 diabetes", "affirmed"),
        ("E11.22", "diabetic CKD", "affirmed"),
        # N18.31 is added by a rule from the words of E11.22 (use additional code): its
        # evidence is theirs, as in the JSON result.
        ("N18.31", "Type 2 diabetes", "affirmed"),
        ("N18.31", "diabetic CKD", "affirmed"),
    ]
    result = coder.code(NOTE)
    assert spans == [(c.code, e.text, e.assertion) for c in result.codes for e in c.evidence]


def test_provenance_names_engine_code_set_and_rule_versions(coder: Coder) -> None:
    bundle = code_bundle(coder, document("note-1", NOTE))
    (provenance,) = resources(bundle, "Provenance")
    (device,) = provenance["contained"]
    assert device["resourceType"] == "Device"
    assert {v["type"]["text"]: v["value"] for v in device["version"]} == coder.versions
    assert provenance["agent"][0]["who"] == {
        "reference": "#medcode",
        "display": f"medcode {coder.versions['engine']}",
    }
    # Its targets: every other resource made from the note (Conditions, Tasks).
    made = [e["fullUrl"] for e in bundle["entry"][:-1]]
    assert [t["reference"] for t in provenance["target"]] == made
    assert provenance["entity"] == [
        {"role": "source", "what": {"reference": "DocumentReference/note-1"}}
    ]
    assert provenance["recorded"] == RECORDED


def test_the_same_note_gives_the_same_bundle(coder: Coder) -> None:
    first = code_bundle(coder, document("note-1", NOTE))
    assert code_bundle(coder, document("note-1", NOTE)) == first
    other = code_bundle(coder, document("note-2", NOTE))
    assert [e["fullUrl"] for e in other["entry"]] != [e["fullUrl"] for e in first["entry"]]


def test_uncertain_inpatient_diagnoses_are_provisional(coder: Coder) -> None:
    inpatient = code_bundle(coder, document("n", UNCERTAIN))
    (condition,) = resources(inpatient, "Condition")
    assert condition["code"]["coding"][0]["code"] == "J18.9"
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    outpatient = code_bundle(coder, document("n", UNCERTAIN), setting="outpatient")
    assert reported(outpatient) == []
    (excluded,) = resources(outpatient, "Condition")
    assert excluded["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    r4b_bundle.Bundle.model_validate(outpatient)


def test_a_note_that_yields_nothing_has_a_provenance_of_the_document(coder: Coder) -> None:
    bundle = code_bundle(coder, document("n", "Seen today. Follow up in two weeks."))
    (provenance,) = [e["resource"] for e in bundle["entry"]]
    assert provenance["target"] == [{"reference": "DocumentReference/n"}]
    r4b_bundle.Bundle.model_validate(bundle)


def test_a_bundle_of_documents_skips_other_resources(coder: Coder) -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    source = bundle_of(patient, document("a", NOTE), document(None, UNCERTAIN))
    notes = read_notes(source)
    assert [(n.document, n.reference) for n in notes] == [
        ("a", {"reference": "DocumentReference/a"}),
        ("Bundle.entry[2]", {"reference": "urn:uuid:00000000-0000-0000-0000-000000000002"}),
    ]
    bundle = code_bundle(coder, source)
    r4b_bundle.Bundle.model_validate(bundle)
    assert [
        (
            e["resource"]["resourceType"],
            e["resource"].get("code", {}).get("coding", [{}])[0].get("code"),
        )
        for e in bundle["entry"]
    ] == [
        ("Condition", "I50.23"),
        ("Condition", "E11.22"),
        ("Condition", "N18.31"),
        ("Condition", "R07.9"),  # excluded: "Denies chest pain"
        ("Provenance", None),
        ("Condition", "J18.9"),
        ("Task", "provider-query"),  # J18.9: pneumonia of unspecified organism
        ("Provenance", None),
    ]


# A negated condition, an uncertain one and an unspecified code the note could make specific.
MIXED = "Discharge Diagnoses: possible pneumonia. Heart failure. Denies chest pain."
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
TASK = "https://medcode.invalid/fhir/CodeSystem/task"


def span(start: int, end: int, text: str, assertion: str) -> dict[str, Any]:
    return {
        "url": EXT + "evidence-span",
        "extension": [
            {"url": "start", "valueInteger": start},
            {"url": "end", "valueInteger": end},
            {"url": "text", "valueString": text},
            {"url": "section", "valueString": "discharge_diagnoses"},
            {"url": "assertion", "valueCode": assertion},
        ],
    }


def excluded_condition(
    code: str, status: str, reason: str, evidence: dict[str, Any]
) -> dict[str, Any]:
    return {
        "verificationStatus": {
            "coding": [{"system": VER, "code": status, "display": status.capitalize()}]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                        "display": "Encounter Diagnosis",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": ICD10CM, "version": "2026", "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "evidence": [{"extension": [evidence], "detail": [{"reference": "DocumentReference/m"}]}],
        "note": [{"text": reason}],
    }


def without_id(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("resourceType", "id")}


def test_excluded_candidates_are_refuted_or_unconfirmed_conditions_with_the_reason(
    coder: Coder,
) -> None:
    bundle = code_bundle(coder, document("m", MIXED), setting="outpatient")
    r4b_bundle.Bundle.model_validate(bundle)
    (coded,) = reported(bundle)
    assert coded["code"]["coding"][0]["code"] == "I50.9"
    uncertain, negated = resources(bundle, "Condition")[1:]
    assert without_id(uncertain) == excluded_condition(
        "J18.9",
        "unconfirmed",
        "Outpatient: an uncertain diagnosis is not coded; its signs and symptoms are (IV.H)",
        span(30, 39, "pneumonia", "uncertain"),
    )
    assert without_id(negated) == excluded_condition(
        "R07.9",
        "refuted",
        "A negated condition is not coded (I.A; IV.A)",
        span(63, 73, "chest pain", "negated"),
    )
    # The JSON result excludes the same candidates for the same reasons.
    result = coder.code(MIXED, document="m", setting="outpatient")
    assert [(e.code, e.reason) for e in result.excluded] == [
        ("J18.9", uncertain["note"][0]["text"]),
        ("R07.9", negated["note"][0]["text"]),
    ]


def test_provider_queries_are_tasks_that_focus_on_their_condition(coder: Coder) -> None:
    bundle = code_bundle(coder, document("m", MIXED))  # inpatient: pneumonia is coded
    r4b_bundle.Bundle.model_validate(bundle)
    url_of = {
        e["resource"]["code"]["coding"][0]["code"]: e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Condition"
    }
    # by what they could change on the claim: the heart failure's type can reach an MCC
    heart_failure, pneumonia = resources(bundle, "Task")
    assert without_id(pneumonia) == {
        "extension": [span(30, 39, "pneumonia", "uncertain")],
        "status": "requested",
        "intent": "proposal",
        "code": {
            "coding": [
                {
                    "system": TASK,
                    "code": "provider-query",
                    "display": "Provider documentation query",
                }
            ]
        },
        "description": (
            "The note supports only J18.9 (Pneumonia, unspecified organism) for "
            '"pneumonia". Please document the specificity.'
        ),
        "focus": {"reference": url_of["J18.9"]},
        "for": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "authoredOn": RECORDED,
        "input": [
            {
                "type": {
                    "coding": [
                        {"system": TASK, "code": "missing", "display": "Missing documentation"}
                    ]
                },
                "valueString": "specificity",
            }
        ],
    }
    assert (heart_failure["focus"], heart_failure["input"][0]["valueString"]) == (
        {"reference": url_of["I50.9"]},
        "type",
    )
    (provenance,) = resources(bundle, "Provenance")
    assert [t["reference"] for t in provenance["target"]][-2:] == [
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"
    ]


def test_edits_are_the_issues_of_an_operation_outcome(coder: Coder) -> None:
    (note,) = read_notes(document("m", MIXED))
    result = coder.code(note.text, document=note.document, setting="outpatient")
    # Few notes raise an edit: two given to the coded result, as the rule engine makes them.
    edits = (
        Edit("excludes1-conflict", "error", ("I50.9", "J18.9"), "never together", "rules/a:3"),
        Edit("use-additional", "info", ("I50.9",), "asks for an additional code", "rules/b:5"),
    )
    bundle = to_bundle([(note, replace(result, edits=edits))], RECORDED)
    r4b_bundle.Bundle.model_validate(bundle)
    (outcome,) = resources(bundle, "OperationOutcome")
    rule = "https://medcode.invalid/fhir/CodeSystem/edit-rule"

    def code(value: str) -> dict[str, Any]:
        return {"url": EXT + "edit-code", "valueCoding": {"system": ICD10CM, "code": value}}

    assert outcome["issue"] == [
        {
            "extension": [code("I50.9"), code("J18.9")],
            "severity": "error",
            "code": "business-rule",
            "details": {
                "coding": [{"system": rule, "code": "excludes1-conflict"}],
                "text": "never together",
            },
            "diagnostics": "rules/a:3",
        },
        {
            "extension": [code("I50.9")],
            "severity": "information",
            "code": "business-rule",
            "details": {
                "coding": [{"system": rule, "code": "use-additional"}],
                "text": "asks for an additional code",
            },
            "diagnostics": "rules/b:5",
        },
    ]
    # After the Conditions, before the Task and the Provenance; a target of the Provenance.
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == [
        "Condition",
        "Condition",
        "Condition",
        "OperationOutcome",
        "Task",
        "Provenance",
    ]
    (provenance,) = resources(bundle, "Provenance")
    assert {"reference": bundle["entry"][3]["fullUrl"]} in provenance["target"]


MARKER = "Zebulon-Quixotic-4417"  # in bad resources: no message may repeat it


def with_fields(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**resource, **changes}


def with_attachment(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    (content,) = resource["content"]
    return {
        **resource,
        "content": [{**content, "attachment": {**content["attachment"], **changes}}],
    }


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            {"resourceType": "Patient", "id": MARKER},
            "expected a DocumentReference or a Bundle (resourceType)",
        ),
        ({"resourceType": MARKER}, "expected a DocumentReference or a Bundle (resourceType)"),
        ([1, 2], "expected a FHIR resource: a JSON object with a resourceType"),
        (bundle_of({"resourceType": "Patient"}), "the Bundle holds no DocumentReference"),
        (
            bundle_of(document(MARKER, NOTE), document(MARKER, NOTE)),
            "Bundle.entry[0] and Bundle.entry[1] have the same id",
        ),
        (
            {
                **document("a", NOTE),
                "content": [{"attachment": {"contentType": "application/pdf"}}],
            },
            "DocumentReference: no text/plain attachment",
        ),
        (
            document("a", NOTE, data=None, url=f"https://example.org/{MARKER}.txt"),
            "DocumentReference.content[0].attachment: the text/plain attachment has no inline "
            "data (attachment by url is not fetched)",
        ),
        (
            document("a", NOTE, data=f"{MARKER}!"),
            "DocumentReference.content[0].attachment.data: not valid base64",
        ),
        (
            document("a", b"MZ\x00\x00"),
            "DocumentReference.content[0].attachment.data: binary data, not a text note",
        ),
        (
            document("a", "caf\xe9".encode("latin-1")),
            "DocumentReference.content[0].attachment.data: not UTF-8 text (byte 3)",
        ),
        (
            document("a", NOTE, contentType=f"text/plain; charset={MARKER}"),
            "DocumentReference.content[0].attachment.contentType: the charset is not "
            "supported (UTF-8 only)",
        ),
        (
            document("a", "  \n"),
            "DocumentReference.content[0].attachment.data: the note is empty",
        ),
        (
            document(f"{MARKER} b", NOTE),
            "DocumentReference.id is not a FHIR id (1-64 letters, digits, '-', '.')",
        ),
        (
            bundle_of({"resourceType": "Patient"}, document(f"{MARKER} b", NOTE)),
            "Bundle.entry[1].resource.id is not a FHIR id (1-64 letters, digits, '-', '.')",
        ),
    ],
)
def test_unusable_resources_are_refused_with_the_reason(resource: object, message: str) -> None:
    with pytest.raises(FhirInputError) as caught:
        read_notes(resource)
    assert str(caught.value) == message
    assert MARKER not in str(caught.value)


# Wrongly typed elements are refused by name, never crash and never quote the value.
@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (with_fields(document("a", NOTE), content=5), "DocumentReference.content must be a list"),
        (
            with_fields(document("a", NOTE), content=[MARKER]),
            "DocumentReference.content[0] must be a JSON object",
        ),
        (
            with_fields(document("a", NOTE), content=[{"attachment": MARKER}]),
            "DocumentReference.content[0].attachment must be a JSON object",
        ),
        (
            with_attachment(document("a", NOTE), contentType=5),
            "DocumentReference.content[0].attachment.contentType must be a string",
        ),
        (
            with_attachment(document("a", NOTE), data=[MARKER]),
            "DocumentReference.content[0].attachment.data must be a string",
        ),
        (with_fields(document("a", NOTE), id=7), "DocumentReference.id must be a string"),
        (
            with_fields(document("a", NOTE), subject=MARKER),
            "DocumentReference.subject must be a JSON object",
        ),
        (
            with_fields(document("a", NOTE), subject={"reference": 5}),
            "DocumentReference.subject.reference must be a string",
        ),
        (
            with_fields(document("a", NOTE), context=[MARKER]),
            "DocumentReference.context must be a JSON object",
        ),
        (
            with_fields(document("a", NOTE), context={"encounter": {"reference": MARKER}}),
            "DocumentReference.context.encounter must be a list",
        ),
        (
            with_fields(document("a", NOTE), context={"encounter": [MARKER]}),
            "DocumentReference.context.encounter[0] must be a JSON object",
        ),
        ({"resourceType": "Bundle", "entry": {"resource": {}}}, "Bundle.entry must be a list"),
        ({"resourceType": "Bundle", "entry": [MARKER]}, "Bundle.entry[0] must be a JSON object"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": [MARKER]}]},
            "Bundle.entry[0].resource must be a JSON object",
        ),
        (
            {"resourceType": "Bundle", "entry": [{"fullUrl": 5, "resource": document(None, NOTE)}]},
            "Bundle.entry[0].fullUrl must be a string",
        ),
    ],
)
def test_wrongly_typed_elements_are_named(resource: dict[str, Any], message: str) -> None:
    with pytest.raises(FhirInputError) as caught:
        read_notes(resource)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            with_fields(document("a", NOTE), subject={"display": "Mr \udcff " + MARKER}),
            "DocumentReference.subject: not Unicode text (a lone surrogate, \\ud800-\\udfff)",
        ),
        (
            with_fields(document("a", NOTE), subject={"reference": "Patient/1"}, note="\ud800"),
            "DocumentReference: not Unicode text (a lone surrogate, \\ud800-\\udfff)",
        ),
        (
            bundle_of(document("a", NOTE), with_attachment(document("b", NOTE), title="\udfff")),
            "Bundle.entry[1].resource.content[0].attachment: not Unicode text (a lone "
            "surrogate, \\ud800-\\udfff)",
        ),
        (
            {"resourceType": "DocumentReference", "\udcff" + MARKER: 1},
            "DocumentReference: not Unicode text (a lone surrogate, \\ud800-\\udfff)",
        ),
    ],
)
def test_lone_surrogates_are_not_unicode_text(resource: dict[str, Any], message: str) -> None:
    # JSON's \u escapes can carry half a surrogate pair; json.loads keeps it.
    assert json.loads(json.dumps(resource)) == resource
    with pytest.raises(FhirInputError) as caught:
        read_notes(resource)
    assert str(caught.value) == message


def test_only_the_reference_parts_of_subject_and_encounter_are_repeated(coder: Coder) -> None:
    source = with_fields(
        document("n", NOTE),
        subject={
            "reference": "Patient/p1",
            "display": "Patient One",
            "identifier": {"system": "urn:mrn", "value": "42", "period": {"start": "2020"}},
            "extension": [{"url": "x", "valueString": MARKER}],
        },
        context={"encounter": [{"reference": "Encounter/e1", "deep": [[[[MARKER]]]]}]},
    )
    (note,) = read_notes(source)
    assert note.subject == {
        "reference": "Patient/p1",
        "display": "Patient One",
        "identifier": {"system": "urn:mrn", "value": "42"},
    }
    assert note.encounter == {"reference": "Encounter/e1"}
    bundle = code_bundle(coder, source)
    r4b_bundle.Bundle.model_validate(bundle)
    assert MARKER not in json.dumps(bundle)
    # A subject with nothing to repeat: the display-only subject R4 requires.
    (bare,) = read_notes(with_fields(document("n", NOTE), subject={"extension": []}))
    assert bare.subject is None


def test_recorded_time_is_fixed_by_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    assert recorded_now() == "2026-11-18T11:06:40Z"


def test_medcode_code_fhir_prints_the_bundle(
    coder: Coder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(coder_module, "Coder", lambda *args, **kwargs: coder)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    path = tmp_path / "note.json"
    path.write_text(json.dumps(document("note-1", NOTE)), encoding="utf-8")
    assert main(["code", "--fhir", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = code_bundle(coder, document("note-1", NOTE), recorded="2026-11-18T11:06:40Z")
    assert printed == expected
    assert [e["resource"]["resourceType"] for e in printed["entry"]] == [
        "Condition",
        "Condition",
        "Condition",
        "Condition",
        "Provenance",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--text", NOTE],
            "medcode code: --fhir reads the notes from FILE; give no PATH or --text",
        ),
        (["--format", "html"], "medcode code: --fhir prints a FHIR Bundle (JSON), not html"),
    ],
)
def test_medcode_code_fhir_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["code", "--fhir", str(tmp_path / "x.json"), *argv]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_medcode_code_fhir_reports_bad_files_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert main(["code", "--fhir", str(missing)]) == 2
    assert capsys.readouterr().err == f"medcode code: {missing}: No such file or directory\n"
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": ', encoding="utf-8")
    assert main(["code", "--fhir", str(broken)]) == 2
    assert capsys.readouterr().err == (
        f"medcode code: {broken}: not JSON (Expecting value, line 1)\n"
    )


def test_the_example_of_docs_service_md_is_what_the_note_gives(coder: Coder) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "SERVICE.md").read_text("utf-8")
    section = docs[docs.index("## FHIR R4") : docs.index("## Batch")]
    (data,) = re.findall(r'"data": "([^"]+)"', section)
    example = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert example is not None
    source = {
        "resourceType": "DocumentReference",
        "id": "note-1",
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": data}}],
    }
    bundle = code_bundle(coder, source, setting="outpatient", recorded="2026-11-18T11:06:40Z")
    excluded_pneumonia, query = json.loads(f"[{example.group(1)}]")
    assert [excluded_pneumonia, query] == [bundle["entry"][1], bundle["entry"][3]]
