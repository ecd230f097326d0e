"""What the FHIR endpoint says about itself (engine/interfaces/fhir_metadata.py): the
CapabilityStatement at /fhir/r4/metadata and the OperationDefinition of $code, valid against the
fhir.resources R4B models (R4B is R4 for both) and served without loading the engine."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition

from medcode.engine.interfaces.fhir_metadata import (
    OPERATION_URL,
    capability_statement,
    code_operation,
)
from medcode.terminology.cache import package_version

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from medcode.engine.interfaces.service import NoteSetting, create_app

from .live_server import serving


def test_the_capability_statement_declares_the_code_operation() -> None:
    statement = capability_statement()
    parsed = CapabilityStatement.model_validate(statement)
    assert json.loads(parsed.model_dump_json()) == statement  # nothing dropped or renamed
    version = package_version()
    assert (statement["status"], statement["kind"], statement["fhirVersion"]) == (
        "active",
        "instance",
        "4.0.1",
    )
    assert statement["software"] == {"name": "medcode", "version": version}
    assert statement["format"] == ["application/fhir+json"]
    (rest,) = statement["rest"]
    assert rest["mode"] == "server"
    assert rest["operation"] == [
        {"name": "code", "definition": "https://medcode.invalid/fhir/OperationDefinition/code"}
    ]
    assert rest["security"]["description"].startswith("$code takes an API key")
    # Only the OperationDefinition can be read: coded resources are not stored.
    assert rest["resource"] == [{"type": "OperationDefinition", "interaction": [{"code": "read"}]}]


def test_the_code_operation_is_a_system_operation_on_a_resource_returning_a_bundle() -> None:
    operation = code_operation()
    parsed = OperationDefinition.model_validate(operation)
    assert json.loads(parsed.model_dump_json()) == operation
    assert (operation["url"], operation["id"], operation["code"]) == (OPERATION_URL, "code", "code")
    assert (operation["system"], operation["type"], operation["instance"]) == (True, False, False)
    assert operation["affectsState"] is False
    assert [
        (p["name"], p["use"], p["min"], p["max"], p["type"]) for p in operation["parameter"]
    ] == [
        ("resource", "in", 1, "1", "Resource"),
        ("setting", "in", 0, "1", "code"),
        ("return", "out", 1, "1", "Bundle"),
    ]
    # The documented settings are the ones the route accepts.
    (_, setting, _) = operation["parameter"]
    assert setting["documentation"].startswith(" | ".join(get_args(NoteSetting)) + ":")


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A real uvicorn on 127.0.0.1 serving an app with no engine: metadata does not need one."""
    with serving(create_app(), log_level="warning") as (port, _):
        yield port


def get(port: int, path: str) -> tuple[int, str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, response.getheader("content-type", ""), json.loads(payload)


def test_the_service_answers_metadata_and_the_operation_definition(port: int) -> None:
    assert get(port, "/fhir/r4/metadata") == (200, "application/fhir+json", capability_statement())
    assert get(port, "/fhir/r4/OperationDefinition/code") == (
        200,
        "application/fhir+json",
        code_operation(),
    )


def test_an_unknown_operation_definition_is_a_404_operation_outcome(port: int) -> None:
    status, kind, answer = get(port, "/fhir/r4/OperationDefinition/other")
    assert (status, kind, answer["resourceType"]) == (
        404,
        "application/fhir+json",
        "OperationOutcome",
    )
    assert [i["code"] for i in answer["issue"]] == ["not-found"]
