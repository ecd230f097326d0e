"""The JSON Schemas of the service's answers, as the OpenAPI document (docs/openapi.json) shows
them: the contract of `medcode code --format json` and the other commands, written once."""

from __future__ import annotations

from typing import Any

FHIR_JSON = "application/fhir+json"

STRINGS = {"type": "array", "items": {"type": "string"}}
EVIDENCE = {
    "type": "object",
    "required": ["start", "end", "text", "section", "assertion"],
    "properties": {
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "text": {"type": "string"},
        "section": {"type": ["string", "null"]},
        "assertion": {"type": "string"},
    },
}
EDIT = {
    "type": "object",
    "required": ["rule", "severity", "codes", "message", "source"],
    "properties": {
        "rule": {"type": "string"},
        "severity": {"enum": ["error", "warning", "info"]},
        "codes": STRINGS,
        "message": {"type": "string"},
        "source": {"type": "string"},
    },
}
CODE_RESULT = {
    "type": "object",
    "description": "`medcode code --format json` (docs/schema/code-result.schema.json).",
    "required": [
        "document",
        "fy",
        "setting",
        "codes",
        "excluded",
        "edits",
        "queries",
        "versions",
        "input",
    ],
    "properties": {
        "document": {"type": "string"},
        "fy": {"type": "integer"},
        "setting": {"enum": ["inpatient", "outpatient"]},
        "codes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "description", "sequence", "confidence", "evidence", "trace"],
                "properties": {
                    "code": {"type": "string"},
                    "description": {"type": "string"},
                    "sequence": {"type": "integer", "minimum": 1},
                    "confidence": {"enum": ["high", "medium", "low"]},
                    "evidence": {"type": "array", "items": EVIDENCE},
                    "trace": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
        "excluded": {"type": "array", "items": {"type": "object"}},
        "edits": {"type": "array", "items": EDIT},
        "queries": {"type": "array", "items": {"type": "object"}},
        "versions": {
            "type": "object",
            "required": ["engine", "code_set", "rules"],
            "properties": {k: {"type": "string"} for k in ("engine", "code_set", "rules")},
        },
        "input": {
            "type": "object",
            "required": ["sha256", "chars"],
            "properties": {"sha256": {"type": "string"}, "chars": {"type": "integer"}},
        },
    },
}
SEARCH_RESULT = {
    "type": "object",
    "required": ["query", "candidates"],
    "properties": {
        "query": {"type": "string"},
        "candidates": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "description", "score", "matched"],
                "properties": {
                    "code": {"type": "string"},
                    "description": {"type": "string"},
                    "score": {"type": "number"},
                    "matched": {"type": "string"},
                },
            },
        },
    },
}
CHECK_RESULT = {
    "type": "object",
    "description": "`medcode check --format json` (docs/schema/check-result.schema.json).",
    "required": ["codes", "edits", "given", "trace"],
    "properties": {
        "codes": STRINGS,
        "edits": {"type": "array", "items": EDIT},
        "given": STRINGS,
        "trace": {"type": "array", "items": {"type": "object"}},
        "claim": {
            "type": "object",
            "description": "With drg: the claim of the codes as given (docs/CLAIMS.md); its "
            "Medicare Code Editor edits are among the edits (rule 'MCE ...').",
        },
    },
}
VALIDATE_RESULT = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "valid", "billable", "description", "suggestions"],
        "properties": {
            "code": {"type": "string"},
            "valid": {"type": "boolean"},
            "billable": {"type": "boolean"},
            "description": {"type": "string"},
            "suggestions": STRINGS,
        },
    },
}
EXPLAIN_RESULT = {
    "type": "object",
    "description": "`medcode explain --format json`.",
    "required": ["code", "description", "billable", "status", "document", "setting"],
    "properties": {
        "code": {"type": "string"},
        "description": {"type": "string"},
        "billable": {"type": "boolean"},
        "status": {"enum": ["coded", "excluded", "not a candidate"]},
        "document": {"type": "string"},
        "setting": {"enum": ["inpatient", "outpatient"]},
    },
}
HEALTH = {
    "type": "object",
    "required": ["status", "versions"],
    "properties": {"status": {"const": "ok"}, "versions": {"type": "object"}},
}
READY = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ready"}},
}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable kind: invalid_request, ..."},
        "message": {"type": "string", "description": "One line, for people."},
        "errors": {
            "type": "array",
            "description": "For invalid_request: each field that failed and why.",
            "items": {"type": "object"},
        },
    },
}
FHIR_BUNDLE = {
    "type": "object",
    "description": "A FHIR R4 Bundle (type collection) of Condition resources and Provenance.",
    "required": ["resourceType", "type", "entry"],
    "properties": {"resourceType": {"const": "Bundle"}, "type": {"const": "collection"}},
}
FHIR_INPUT = {
    "type": "object",
    "description": "A DocumentReference, or a Bundle of them (text/plain attachment, base64 data).",
    "required": ["resourceType"],
    "properties": {"resourceType": {"enum": ["DocumentReference", "Bundle"]}},
    "examples": [
        {
            "resourceType": "DocumentReference",
            "id": "note-1",
            "status": "current",
            "subject": {"reference": "Patient/p1"},
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        # "Assessment: COPD with acute exacerbation. Denies chest pain.\n"
                        "data": "QXNzZXNzbWVudDogQ09QRCB3aXRoIGFjdXRlIGV4YWNlcmJhdGlvbi4g"
                        "RGVuaWVzIGNoZXN0IHBhaW4uCg==",
                    }
                }
            ],
        }
    ],
}
OPERATION_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def answers(schema: dict[str, Any], media: str = "application/json") -> dict[int | str, Any]:
    """The answers of a POST operation: `schema` for 200, the error JSON (an OperationOutcome
    for FHIR) for each status a request can get from the app."""
    error = OPERATION_OUTCOME if media == FHIR_JSON else ERROR
    answers: dict[int | str, Any] = {200: {"content": {media: {"schema": schema}}}}
    for status, why in (
        (400, "malformed JSON"),
        (408, "the body did not arrive in time (the connection is closed)"),
        (413, "body over the size limit"),
        (401, "no valid API key (when the server asks for keys)"),
        (415, "body not JSON"),
        (421, "a Host header the server does not answer for"),
        (422, "a request the engine cannot take"),
    ):
        answers[status] = {"description": why, "content": {media: {"schema": error}}}
    return answers


def health_answers(schema: dict[str, Any], *more: int) -> dict[int | str, Any]:
    """The answers of GET /healthz and /readyz: `schema`, 421 for a Host the server does not
    answer for, and 503 (in `more`) while the engine is not loaded."""
    why = {421: "a Host header the server does not answer for", 503: "the engine is not loaded"}
    errors = {
        status: {"description": why[status], "content": {"application/json": {"schema": ERROR}}}
        for status in (421, *more)
    }
    return {200: {"content": {"application/json": {"schema": schema}}}, **errors}
