"""What the FHIR endpoint says about itself: the CapabilityStatement of `GET /fhir/r4/metadata`
and the OperationDefinition of `$code` (`GET /fhir/r4/OperationDefinition/code`), built with the
fhir.resources R4B models (R4B is R4 for both) and answered without the engine.

The server implements FHIR R4 (4.0.1); the canonical URLs are under the same placeholder host as
the output's extensions (`medcode.invalid`), since a deployment has no URL of its own here.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition

from medcode.terminology.cache import package_version

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"
CANONICAL = "https://medcode.invalid/fhir/"
OPERATION_URL = CANONICAL + "OperationDefinition/code"
# The values of $code's `setting` (the service's NoteSetting; a test keeps them equal).
SETTINGS = ("auto", "inpatient", "outpatient")
# When the statement or the operation last changed (both require a date): update with them.
PUBLISHED = "2026-12-03"


def capability_statement() -> dict[str, Any]:
    """The CapabilityStatement of this server, as FHIR JSON: one system operation, `$code`, and
    the read of its OperationDefinition."""
    version = package_version()
    statement = CapabilityStatement(
        url=CANONICAL + "CapabilityStatement/medcode",
        version=version,
        name="MedcodeCodingService",
        title="medcode: ICD-10-CM coding of clinical notes",
        status="active",
        date=PUBLISHED,
        kind="instance",
        software={"name": "medcode", "version": version},
        implementation={"description": "medcode serve: the FHIR R4 endpoint at /fhir/r4"},
        fhirVersion=FHIR_VERSION,
        format=[FHIR_JSON],
        rest=[
            {
                "mode": "server",
                "documentation": (
                    "Codes clinical notes in ICD-10-CM: POST a DocumentReference (or a Bundle "
                    "of them) to $code; the answer is a Bundle of Condition, OperationOutcome, "
                    "Task and Provenance resources. Nothing is stored: no resource can be read "
                    "back or searched."
                ),
                # None of FHIR's security service codes (OAuth, SMART...) is an API key.
                "security": {
                    "description": (
                        "$code takes an API key, as `Authorization: Bearer KEY` or "
                        "`X-API-Key: KEY`, unless the server runs without keys on loopback "
                        "(docs/SERVICE.md)."
                    )
                },
                "resource": [{"type": "OperationDefinition", "interaction": [{"code": "read"}]}],
                "operation": [{"name": "code", "definition": OPERATION_URL}],
            }
        ],
    )
    return statement.model_dump(mode="json")


def code_operation() -> dict[str, Any]:
    """The OperationDefinition of `$code`, as FHIR JSON."""
    definition = OperationDefinition(
        id="code",
        url=OPERATION_URL,
        version=package_version(),
        name="Code",
        title="Code clinical notes in ICD-10-CM",
        status="active",
        kind="operation",
        date=PUBLISHED,
        description=(
            "Reads the text/plain attachment of each DocumentReference and answers a Bundle "
            "(type collection): per note one Condition per reported code (confirmed or "
            "provisional) and per excluded candidate (refuted or unconfirmed, the reason as its "
            "note), an OperationOutcome of the edits, one Task per provider query and one "
            "Provenance."
        ),
        # Not a Parameters resource: the body is the resource itself, and the only other
        # input, a code, travels in the URL.
        comment=(
            "POST [base]/$code?setting=inpatient with the DocumentReference or Bundle as the "
            "body (application/fhir+json); a Parameters body is not read."
        ),
        code="code",
        system=True,
        type=False,
        instance=False,
        affectsState=False,
        parameter=[
            {
                "name": "resource",
                "use": "in",
                "min": 1,
                "max": "1",
                "documentation": (
                    "A DocumentReference with one inline text/plain attachment (base64 data, "
                    "UTF-8), or a Bundle whose entries hold them."
                ),
                "type": "Resource",
            },
            {
                "name": "setting",
                "use": "in",
                "min": 0,
                "max": "1",
                "documentation": (
                    f"{' | '.join(SETTINGS)}: the coding rules of the setting; auto (the "
                    "default) reads it from the note."
                ),
                "type": "code",
            },
            {
                "name": "return",
                "use": "out",
                "min": 1,
                "max": "1",
                "documentation": "The Bundle (type collection) of the coded notes.",
                "type": "Bundle",
            },
        ],
    )
    return definition.model_dump(mode="json")


__all__ = ["OPERATION_URL", "capability_statement", "code_operation"]
