"""FHIR R4 in and out. In: plain JSON values, read with messages that never quote them. Out:
resources built with the fhir.resources R4B models (R4B is R4 for the resources we emit).

In: a `DocumentReference`, or a `Bundle` whose entries hold them, with one `text/plain`
attachment carried inline (base64 `data`). Out: a `Bundle` (type `collection`); for each
document one `Condition` per reported code (confirmed or provisional) and per excluded
candidate (refuted or unconfirmed, the reason as its note), ICD-10-CM coding and evidence spans
as extensions with character offsets into the decoded note; an `OperationOutcome` of the edits;
one `Task` per provider query, its focus the Condition; and one `Provenance` naming the engine,
code-set and rule versions (a contained `Device`).

Ids are UUID v5 of the document and code, so the same note gives the same Bundle; only
`Bundle.timestamp`, `Task.authoredOn` and `Provenance.recorded` carry the time of coding
(`SOURCE_DATE_EPOCH` fixes it, for reproducible output).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.task import Task

from medcode.engine.result import CodedCode, CodingResult, Edit, Evidence, ExcludedCode, Query

from .inputs import MAX_BYTES

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
EXTENSION = "https://medcode.invalid/fhir/StructureDefinition/"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
# Code systems of our own: the rule of an edit, and what a Task asks.
EDIT_RULE = "https://medcode.invalid/fhir/CodeSystem/edit-rule"
TASK_CODE = "https://medcode.invalid/fhir/CodeSystem/task"
# A rule pack's edit severities as OperationOutcome.issue.severity.
ISSUE_SEVERITY = {"error": "error", "warning": "warning", "info": "information"}
# Deterministic resource ids: uuid5 in a namespace of our own.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://medcode.invalid/fhir")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
DEVICE_ID = "medcode"


class FhirInputError(ValueError):
    """A resource that is not a DocumentReference (or a Bundle of them) with an inline
    text/plain attachment. The message says where (a FHIRPath such as
    `Bundle.entry[1].resource.content[0].attachment.data`) and what is wrong, and never quotes
    the resource: notes carry PHI."""


@dataclass(frozen=True, slots=True)
class FhirNote:
    """The text of one DocumentReference and what the Conditions coded from it point back to."""

    document: str
    text: str
    reference: dict[str, str]
    subject: dict[str, Any] | None
    encounter: dict[str, Any] | None


SURROGATE = re.compile("[\ud800-\udfff]")
# The elements read_notes looks at: the only names its messages may show.
ELEMENTS = frozenset(
    {"resourceType", "entry", "fullUrl", "resource", "id", "content", "attachment"}
    | {"contentType", "data", "url", "subject", "context", "encounter"}
)
REFERENCE_STRINGS = ("reference", "type", "display")


def lone_surrogate(value: object) -> tuple[str | int, ...] | None:
    """Where parsed JSON holds half a surrogate pair (JSON's \\u escapes can, Unicode text
    cannot): the keys and indexes down to the string, or None. Iterative: any depth."""
    stack: list[tuple[tuple[str | int, ...], object]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                return path
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and SURROGATE.search(key):
                    return path
                stack.append(((*path, key), inner))
        elif isinstance(item, list):
            stack.extend(((*path, i), inner) for i, inner in enumerate(item))
    return None


def _fhir_path(root: str, path: tuple[str | int, ...]) -> str:
    """`root` and `path` as FHIRPath, up to the first name read_notes does not know."""
    text = root
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ELEMENTS:
            text += f".{part}"
        else:
            break
    return text


def _field(resource: dict[str, Any], name: str, kind: type, where: str) -> Any:
    """`resource[name]` if it is a `kind`, None if absent; a FhirInputError if mistyped."""
    value = resource.get(name)
    if value is None or isinstance(value, kind):
        return value
    expected = {str: "a string", list: "a list", dict: "a JSON object"}[kind]
    raise FhirInputError(f"{where}.{name} must be {expected}")


def read_notes(resource: object) -> list[FhirNote]:
    """The notes of a DocumentReference or of every DocumentReference in a Bundle (other
    entries, a Patient for example, are passed over)."""
    if not isinstance(resource, dict):
        raise FhirInputError("expected a FHIR resource: a JSON object with a resourceType")
    kind = resource.get("resourceType")
    root = kind if kind in ("DocumentReference", "Bundle") else "resource"
    surrogate = lone_surrogate(resource)
    if surrogate is not None:
        where = _fhir_path(root, surrogate)
        raise FhirInputError(f"{where}: not Unicode text (a lone surrogate, \\ud800-\\udfff)")
    if kind == "DocumentReference":
        return [_note(resource, "DocumentReference", "DocumentReference", None)]
    if kind != "Bundle":
        raise FhirInputError("expected a DocumentReference or a Bundle (resourceType)")
    entries = _field(resource, "entry", list, "Bundle") or []
    notes: list[FhirNote] = []
    seen: dict[str, str] = {}
    for number, entry in enumerate(entries):
        name = f"Bundle.entry[{number}]"
        if not isinstance(entry, dict):
            raise FhirInputError(f"{name} must be a JSON object")
        item = _field(entry, "resource", dict, name)
        if item is None or item.get("resourceType") != "DocumentReference":
            continue
        full_url = _field(entry, "fullUrl", str, name)
        note = _note(item, f"{name}.resource", name, full_url)
        if note.document in seen:
            raise FhirInputError(f"{seen[note.document]} and {name} have the same id")
        seen[note.document] = name
        notes.append(note)
    if not notes:
        raise FhirInputError("the Bundle holds no DocumentReference")
    return notes


def _note(resource: dict[str, Any], where: str, name: str, full_url: str | None) -> FhirNote:
    """One DocumentReference, at FHIRPath `where`; `name` is its document name if no id."""
    ident = _field(resource, "id", str, where)
    if ident is not None and not FHIR_ID.fullmatch(ident):
        raise FhirInputError(f"{where}.id is not a FHIR id (1-64 letters, digits, '-', '.')")
    plain: list[tuple[str, dict[str, Any], str]] = []
    for number, content in enumerate(_field(resource, "content", list, where) or []):
        at = f"{where}.content[{number}]"
        if not isinstance(content, dict):
            raise FhirInputError(f"{at} must be a JSON object")
        attachment = _field(content, "attachment", dict, at)
        if attachment is None:
            continue
        content_type = _field(attachment, "contentType", str, f"{at}.attachment")
        if _is_plain_text(content_type):
            plain.append((f"{at}.attachment", attachment, content_type))
    if not plain:
        raise FhirInputError(f"{where}: no text/plain attachment")
    if len(plain) > 1:
        raise FhirInputError(f"{where}: {len(plain)} text/plain attachments; give one")
    at, attachment, content_type = plain[0]
    if _charset(content_type) not in (None, "utf-8", "us-ascii"):
        raise FhirInputError(f"{at}.contentType: the charset is not supported (UTF-8 only)")
    data = _field(attachment, "data", str, at)
    if data is None:
        fetched = " (attachment by url is not fetched)" if "url" in attachment else ""
        raise FhirInputError(f"{at}: the text/plain attachment has no inline data{fetched}")
    text = _decode(data, f"{at}.data")
    subject = _reference(_field(resource, "subject", dict, where), f"{where}.subject")
    context = _field(resource, "context", dict, where) or {}
    encounters = _field(context, "encounter", list, f"{where}.context") or []
    encounter = None
    if encounters:
        if not isinstance(encounters[0], dict):
            raise FhirInputError(f"{where}.context.encounter[0] must be a JSON object")
        encounter = _reference(encounters[0], f"{where}.context.encounter[0]")
    if ident:
        reference = {"reference": f"DocumentReference/{ident}"}
    elif full_url:
        reference = {"reference": full_url}
    else:
        reference = {"display": name}
    return FhirNote(
        document=ident or name,
        text=text,
        reference=reference,
        subject=subject,
        encounter=encounter,
    )


def _decode(data: str, where: str) -> str:
    """The note of an attachment's base64 `data`: UTF-8 text (a BOM is dropped)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FhirInputError(f"{where}: not valid base64") from exc
    if len(raw) > MAX_BYTES:
        raise FhirInputError(f"{where}: note too large ({len(raw)} bytes, limit {MAX_BYTES})")
    if b"\x00" in raw:
        raise FhirInputError(f"{where}: binary data, not a text note")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FhirInputError(f"{where}: not UTF-8 text (byte {exc.start})") from exc
    if not text.strip():
        raise FhirInputError(f"{where}: the note is empty")
    return text


def _reference(value: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """The parts of a FHIR Reference the Conditions repeat (`reference`, `type`, `display`,
    `identifier` system and value), so nothing else of the input is copied to the output; None
    if it has none of them."""
    if value is None:
        return None
    kept: dict[str, Any] = {}
    for key in REFERENCE_STRINGS:
        if (text := _field(value, key, str, where)) is not None:
            kept[key] = text
    identifier = _field(value, "identifier", dict, where)
    if identifier is not None:
        parts = {k: _field(identifier, k, str, f"{where}.identifier") for k in ("system", "value")}
        if any(parts.values()):
            kept["identifier"] = {k: v for k, v in parts.items() if v is not None}
    return kept or None


def _is_plain_text(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0]
    return media.strip().lower() == "text/plain"


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def recorded_now() -> str:
    """The time of coding as a FHIR instant, to the second; `SOURCE_DATE_EPOCH` fixes it."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_bundle(coded: Sequence[tuple[FhirNote, CodingResult]], recorded: str) -> dict[str, Any]:
    """A `collection` Bundle, as FHIR JSON: for each note its Conditions (the reported codes in
    sequence, then the excluded candidates), an OperationOutcome of its edits, a Task per
    provider query, then its Provenance. Built with the fhir.resources R4B models (R4B is R4
    for these resources), so what we emit is validated as it is made."""
    entries = [
        {"fullUrl": f"urn:uuid:{ident}", "resource": resource}
        for note, result in coded
        for ident, resource in _document(note, result, recorded)
    ]
    bundle = Bundle(type="collection", timestamp=recorded, entry=entries)
    return bundle.model_dump(mode="json")


def _document(note: FhirNote, result: CodingResult, recorded: str) -> list[tuple[str, Resource]]:
    """The resources of one note with their ids, Provenance last."""
    made: list[tuple[str, Resource]] = []
    condition_of: dict[str, str] = {}  # code -> id of its Condition: what a query is about
    for code in result.codes:
        ident = _uuid(note.document, "Condition", code.code)
        made.append((ident, _condition(ident, code, note, result)))
        condition_of.setdefault(code.code, ident)
    for excluded in result.excluded:
        # A code may be excluded for two reasons (two mentions): one Condition each.
        ident = _uuid(note.document, "Condition", excluded.code, excluded.reason)
        made.append((ident, _excluded(ident, excluded, note, result)))
        condition_of.setdefault(excluded.code, ident)
    if result.edits:
        ident = _uuid(note.document, "OperationOutcome")
        made.append((ident, _outcome(ident, result.edits)))
    for query in result.queries:
        ident = _uuid(note.document, "Task", query.code, query.missing)
        about = condition_of.get(query.code)
        focus = {"reference": f"urn:uuid:{about}"} if about else note.reference
        made.append((ident, _task(ident, query, focus, note, recorded)))
    ident = _uuid(note.document, "Provenance")
    targets = [{"reference": f"urn:uuid:{i}"} for i, _ in made] or [note.reference]
    made.append((ident, _provenance(ident, targets, note, result, recorded)))
    return made


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\0".join(parts)))


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _condition(ident: str, code: CodedCode, note: FhirNote, result: CodingResult) -> Condition:
    """A reported code: active, confirmed or provisional, with its sequence and confidence."""
    # Inpatient coding reports uncertain diagnoses as if established (II.H): FHIR keeps the
    # doubt in verificationStatus when every span of the code was uncertain.
    provisional = all(e.assertion == "uncertain" for e in code.evidence)
    return Condition(
        id=ident,
        extension=[
            {"url": EXTENSION + "sequence", "valuePositiveInt": code.sequence},
            {"url": EXTENSION + "confidence", "valueCode": code.confidence},
        ],
        clinicalStatus=_concept(CONDITION_CLINICAL, "active", "Active"),
        verificationStatus=_concept(
            CONDITION_VERIFICATION,
            *(("provisional", "Provisional") if provisional else ("confirmed", "Confirmed")),
        ),
        **_condition_parts(code.code, code.description, code.evidence, note, result),
    )


def _excluded(
    ident: str, excluded: ExcludedCode, note: FhirNote, result: CodingResult
) -> Condition:
    """A candidate not reported: refuted when the note negates every mention, else unconfirmed
    (uncertain outside inpatient, superseded by a more specific or combination code...); the
    reason is its note. No clinicalStatus: the engine makes no claim about it."""
    refuted = {e.assertion for e in excluded.evidence} == {"negated"}
    return Condition(
        id=ident,
        verificationStatus=_concept(
            CONDITION_VERIFICATION,
            *(("refuted", "Refuted") if refuted else ("unconfirmed", "Unconfirmed")),
        ),
        note=[{"text": excluded.reason}],
        **_condition_parts(excluded.code, None, excluded.evidence, note, result),
    )


def _condition_parts(
    code: str,
    description: str | None,
    evidence: Sequence[Evidence],
    note: FhirNote,
    result: CodingResult,
) -> dict[str, Any]:
    """What every Condition has: category, ICD-10-CM code, subject, encounter, evidence."""
    coding = {"system": ICD10CM, "version": str(result.fy), "code": code}
    concept: dict[str, Any] = {"coding": [coding]}
    if description:
        coding["display"] = description
        concept["text"] = description
    parts: dict[str, Any] = {
        "category": [_concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
        "code": concept,
        # Condition.subject is required: the note's subject, or a display-only reference.
        "subject": note.subject or {"display": f"the subject of {note.document}"},
        "evidence": [{"extension": [_span(e)], "detail": [note.reference]} for e in evidence],
    }
    if note.encounter is not None:
        parts["encounter"] = note.encounter
    return parts


def _span(evidence: Evidence) -> dict[str, Any]:
    """Where the words are: offsets in characters of the decoded note, end exclusive."""
    parts: list[dict[str, Any]] = [
        {"url": "start", "valueInteger": evidence.start},
        {"url": "end", "valueInteger": evidence.end},
        {"url": "text", "valueString": evidence.text},
    ]
    if evidence.section:
        parts.append({"url": "section", "valueString": evidence.section})
    parts.append({"url": "assertion", "valueCode": evidence.assertion})
    return {"url": EXTENSION + "evidence-span", "extension": parts}


def _outcome(ident: str, edits: Sequence[Edit]) -> OperationOutcome:
    """The edits of a note, one issue each: the rule as a coding, its message, the rule's
    source as diagnostics and the codes it concerns as `edit-code` extensions."""
    return OperationOutcome(
        id=ident,
        issue=[
            {
                "extension": [
                    {"url": EXTENSION + "edit-code", "valueCoding": {"system": ICD10CM, "code": c}}
                    for c in edit.codes
                ],
                "severity": ISSUE_SEVERITY[edit.severity],
                "code": "business-rule",
                "details": {
                    "coding": [{"system": EDIT_RULE, "code": edit.rule}],
                    "text": edit.message,
                },
                "diagnostics": edit.source,
            }
            for edit in edits
        ],
    )


def _task(ident: str, query: Query, focus: dict[str, str], note: FhirNote, recorded: str) -> Task:
    """A provider query: a proposed Task whose focus is the Condition it would make more
    specific, its description the question, its input the element the note lacks."""
    task: dict[str, Any] = {
        "id": ident,
        "extension": [_span(e) for e in query.evidence],
        "status": "requested",
        # A query asks; it does not order (AHIMA/ACDIS query practice): a proposal.
        "intent": "proposal",
        "code": _concept(TASK_CODE, "provider-query", "Provider documentation query"),
        "description": query.question,
        "focus": focus,
        "authoredOn": recorded,
        "input": [
            {
                "type": _concept(TASK_CODE, "missing", "Missing documentation"),
                "valueString": query.missing,
            }
        ],
    }
    if note.subject is not None:
        task["for"] = note.subject
    if note.encounter is not None:
        task["encounter"] = note.encounter
    return Task.model_validate(task)  # `for` is a Python keyword: the JSON name


def _provenance(
    ident: str,
    targets: list[dict[str, str]],
    note: FhirNote,
    result: CodingResult,
    recorded: str,
) -> Provenance:
    versions = result.versions
    device = Device(
        id=DEVICE_ID,
        deviceName=[{"name": "medcode", "type": "model-name"}],
        version=[
            {"type": {"text": key}, "value": versions[key]}
            for key in ("engine", "code_set", "index", "rules")
            if versions.get(key)
        ],
    )
    return Provenance(
        id=ident,
        contained=[device],
        target=targets,
        recorded=recorded,
        activity=_concept(DATA_OPERATION, "CREATE", "create"),
        agent=[
            {
                "type": _concept(PARTICIPANT_TYPE, "assembler", "Assembler"),
                "who": {
                    "reference": f"#{DEVICE_ID}",
                    "display": f"medcode {versions.get('engine', '')}".strip(),
                },
            }
        ],
        entity=[{"role": "source", "what": note.reference}],
    )


__all__ = [
    "ICD10CM",
    "FhirInputError",
    "FhirNote",
    "lone_surrogate",
    "read_notes",
    "recorded_now",
    "to_bundle",
]
