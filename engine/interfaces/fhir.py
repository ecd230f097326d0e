"""FHIR R4 in and out, as plain JSON values (no FHIR library at run time).

In: a `DocumentReference`, or a `Bundle` whose entries hold them, with one `text/plain`
attachment carried inline (base64 `data`). Out: a `Bundle` (type `collection`) of one
`Condition` per reported code, ICD-10-CM coding and evidence spans as extensions with character
offsets into the decoded note, and one `Provenance` per document naming the engine, code-set and
rule versions (a contained `Device`).

Ids are UUID v5 of the document and code, so the same note gives the same Bundle; only
`Bundle.timestamp` and `Provenance.recorded` carry the time of coding (`SOURCE_DATE_EPOCH`
fixes it, for reproducible output).
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

from medcode.engine.result import CodedCode, CodingResult, Evidence

from .inputs import UnreadableInput, decode_note

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
EXTENSION = "https://medcode.invalid/fhir/StructureDefinition/"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
# Deterministic resource ids: uuid5 in a namespace of our own.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://medcode.invalid/fhir")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
DEVICE_ID = "medcode"


class FhirInputError(ValueError):
    """A resource that is not a DocumentReference (or a Bundle of them) with an inline
    text/plain attachment; the message names the resource and the problem."""


@dataclass(frozen=True, slots=True)
class FhirNote:
    """The text of one DocumentReference and what the Conditions coded from it point back to."""

    document: str
    text: str
    reference: dict[str, str]
    subject: dict[str, Any] | None
    encounter: dict[str, Any] | None


def read_notes(resource: object) -> list[FhirNote]:
    """The notes of a DocumentReference or of every DocumentReference in a Bundle (other
    entries, a Patient for example, are passed over)."""
    if not isinstance(resource, dict):
        raise FhirInputError("expected a FHIR resource: a JSON object with a resourceType")
    kind = resource.get("resourceType")
    if kind == "DocumentReference":
        return [_note(resource, "DocumentReference", None)]
    if kind != "Bundle":
        raise FhirInputError(f"expected a DocumentReference or a Bundle, not {kind!r}")
    entries = resource.get("entry") or []
    if not isinstance(entries, list):
        raise FhirInputError("Bundle.entry must be a list")
    notes: list[FhirNote] = []
    for number, entry in enumerate(entries):
        item = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(item, dict) and item.get("resourceType") == "DocumentReference":
            notes.append(_note(item, f"Bundle.entry[{number}]", entry.get("fullUrl")))
    if not notes:
        raise FhirInputError("the Bundle holds no DocumentReference")
    seen: set[str] = set()
    for note in notes:
        if note.document in seen:
            raise FhirInputError(f"two DocumentReferences have the id {note.document!r}")
        seen.add(note.document)
    return notes


def _note(resource: dict[str, Any], where: str, full_url: object) -> FhirNote:
    ident = resource.get("id")
    if ident is not None and (not isinstance(ident, str) or not FHIR_ID.fullmatch(ident)):
        raise FhirInputError(f"{where}: id {ident!r} is not a FHIR id")
    name = f"DocumentReference/{ident}" if ident else where
    attachments = [
        c.get("attachment")
        for c in resource.get("content") or []
        if isinstance(c, dict) and isinstance(c.get("attachment"), dict)
    ]
    plain = [a for a in attachments if _is_plain_text(a.get("contentType"))]
    if not plain:
        raise FhirInputError(f"{name}: no text/plain attachment")
    if len(plain) > 1:
        raise FhirInputError(f"{name}: {len(plain)} text/plain attachments; give one")
    attachment = plain[0]
    charset = _charset(attachment.get("contentType"))
    if charset not in (None, "utf-8", "us-ascii"):
        raise FhirInputError(f"{name}: charset {charset!r} is not supported (UTF-8 only)")
    data = attachment.get("data")
    if data is None:
        where_to = " (attachment by url is not fetched)" if "url" in attachment else ""
        raise FhirInputError(f"{name}: the text/plain attachment has no inline data{where_to}")
    if not isinstance(data, str):
        raise FhirInputError(f"{name}: attachment data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FhirInputError(f"{name}: attachment data is not valid base64") from exc
    try:
        text = decode_note(raw, name)
    except UnreadableInput as exc:
        raise FhirInputError(str(exc)) from exc
    if not text.strip():
        raise FhirInputError(f"{name}: the attachment is empty")
    if ident:
        reference = {"reference": f"DocumentReference/{ident}"}
    elif isinstance(full_url, str) and full_url:
        reference = {"reference": full_url}
    else:
        reference = {"display": name}
    context = resource.get("context") if isinstance(resource.get("context"), dict) else {}
    encounters = context.get("encounter") if isinstance(context.get("encounter"), list) else []
    subject = resource.get("subject")
    return FhirNote(
        document=ident or name,
        text=text,
        reference=reference,
        subject=subject if isinstance(subject, dict) else None,
        encounter=encounters[0] if encounters and isinstance(encounters[0], dict) else None,
    )


def _is_plain_text(content_type: object) -> bool:
    return isinstance(content_type, str) and content_type.split(";")[0].strip().lower() == (
        "text/plain"
    )


def _charset(content_type: object) -> str | None:
    for param in str(content_type).split(";")[1:]:
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
    """A `collection` Bundle: for each note its Conditions, in sequence, then its Provenance."""
    entries: list[dict[str, Any]] = []
    for note, result in coded:
        conditions = [(_uuid(note.document, "Condition", c.code), c) for c in result.codes]
        for ident, code in conditions:
            entries.append(_entry(ident, _condition(ident, code, note, result)))
        ident = _uuid(note.document, "Provenance")
        targets = [{"reference": f"urn:uuid:{i}"} for i, _ in conditions] or [note.reference]
        entries.append(_entry(ident, _provenance(ident, targets, note, result, recorded)))
    return {"resourceType": "Bundle", "type": "collection", "timestamp": recorded, "entry": entries}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\0".join(parts)))


def _entry(ident: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{ident}", "resource": resource}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _condition(ident: str, code: CodedCode, note: FhirNote, result: CodingResult) -> dict:
    # Inpatient coding reports uncertain diagnoses as if established (II.H): FHIR keeps the
    # doubt in verificationStatus when every span of the code was uncertain.
    provisional = all(e.assertion == "uncertain" for e in code.evidence)
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": ident,
        "extension": [
            {"url": EXTENSION + "sequence", "valuePositiveInt": code.sequence},
            {"url": EXTENSION + "confidence", "valueCode": code.confidence},
        ],
        "clinicalStatus": _concept(CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": _concept(
            CONDITION_VERIFICATION,
            *(("provisional", "Provisional") if provisional else ("confirmed", "Confirmed")),
        ),
        "category": [_concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
        "code": {
            "coding": [
                {
                    "system": ICD10CM,
                    "version": str(result.fy),
                    "code": code.code,
                    "display": code.description,
                }
            ],
            "text": code.description,
        },
        # Condition.subject is required: the note's subject, or a display-only reference.
        "subject": note.subject or {"display": f"the subject of {note.document}"},
    }
    if note.encounter is not None:
        condition["encounter"] = note.encounter
    condition["evidence"] = [
        {"extension": [_span(e)], "detail": [note.reference]} for e in code.evidence
    ]
    return condition


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


def _provenance(
    ident: str,
    targets: list[dict[str, str]],
    note: FhirNote,
    result: CodingResult,
    recorded: str,
) -> dict[str, Any]:
    versions = result.versions
    device = {
        "resourceType": "Device",
        "id": DEVICE_ID,
        "deviceName": [{"name": "medcode", "type": "model-name"}],
        "version": [
            {"type": {"text": key}, "value": versions[key]}
            for key in ("engine", "code_set", "index", "rules")
            if versions.get(key)
        ],
    }
    return {
        "resourceType": "Provenance",
        "id": ident,
        "contained": [device],
        "target": targets,
        "recorded": recorded,
        "activity": _concept(DATA_OPERATION, "CREATE", "create"),
        "agent": [
            {
                "type": _concept(PARTICIPANT_TYPE, "assembler", "Assembler"),
                "who": {
                    "reference": f"#{DEVICE_ID}",
                    "display": f"medcode {versions.get('engine', '')}".strip(),
                },
            }
        ],
        "entity": [{"role": "source", "what": note.reference}],
    }


__all__ = [
    "ICD10CM",
    "FhirInputError",
    "FhirNote",
    "read_notes",
    "recorded_now",
    "to_bundle",
]
