"""`medcode serve`: the REST service on a real uvicorn on loopback, its errors, its OpenAPI
contract (docs/openapi.json) and its FHIR endpoint. One engine for the module."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

import jsonschema  # noqa: E402

from medcode.engine.coding import coder as coder_module  # noqa: E402
from medcode.engine.coding.coder import Coder  # noqa: E402
from medcode.engine.interfaces.cli import main  # noqa: E402
from medcode.engine.interfaces.service import (  # noqa: E402
    Engine,
    Limits,
    create_app,
    server_options,
)

from .live_server import serving  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "openapi.json"
LIMIT = 65_536
NOTE = (
    "Assessment: acute on chronic systolic CHF. Type 2 diabetes with diabetic CKD stage 3a. "
    "Denies chest pain."
)
UNCERTAIN = "Assessment: possible pneumonia. Cough for 3 days."


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


@pytest.fixture(scope="module")
def port(coder: Coder) -> Iterator[int]:
    """A real uvicorn serving the app on 127.0.0.1, in a thread, sharing the module's Coder,
    with the connection limits of `medcode serve` (ServiceProtocol)."""
    limits = Limits(LIMIT)
    app = create_app(Engine(coder), limits=limits)
    with serving(app, log_level="warning", **server_options(limits)) as (port, _):
        yield port


def call(
    port: int,
    method: str,
    path: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
    chunks: list[bytes] | None = None,
    host: str | None = None,
    key: str | None = None,
) -> tuple[int, str, Any]:
    """One request on a fresh connection: (status, content type, decoded JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type} if content_type else {}
    if key is not None:
        headers["X-API-Key"] = key
    if host is not None:
        headers["Host"] = host
    data: Any = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if chunks is not None:
        conn.request(method, path, body=iter(chunks), headers=headers, encode_chunked=True)
    else:
        conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, response.getheader("content-type", ""), json.loads(payload)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], coder: Coder):
    """`medcode ARGS --format json` as JSON, with the module's Coder (no second load)."""
    monkeypatch.setattr(coder_module, "Coder", lambda *args, **kwargs: coder)

    def run(*argv: str) -> Any:
        main([*argv, "--format", "json"])
        return json.loads(capsys.readouterr().out)

    return run


# -- the same JSON as the command line ----------------------------------------------------------


def test_code_answers_with_the_json_of_medcode_code(port: int, cli) -> None:
    status, kind, answer = call(port, "POST", "/v1/code", {"text": NOTE})
    assert (status, kind) == (200, "application/json")
    assert [c["code"] for c in answer["codes"]] == ["I50.23", "E11.22", "N18.31"]
    assert [(x["code"], x["reason"]) for x in answer["excluded"]] == [
        ("R07.9", "A negated condition is not coded (I.A; IV.A)")
    ]
    assert answer == cli("code", "--text", NOTE)


def test_code_follows_the_setting(port: int) -> None:
    body = {"text": UNCERTAIN, "setting": "outpatient", "document": "visit-7"}
    _, _, outpatient = call(port, "POST", "/v1/code", body)
    _, _, inpatient = call(port, "POST", "/v1/code", {**body, "setting": "inpatient"})
    assert (outpatient["document"], outpatient["setting"]) == ("visit-7", "outpatient")
    assert [c["code"] for c in outpatient["codes"]] == ["R05.9"]
    assert [(x["code"], x["reason"]) for x in outpatient["excluded"]] == [
        (
            "J18.9",
            "Outpatient: an uncertain diagnosis is not coded; its signs and symptoms are (IV.H)",
        )
    ]
    assert [c["code"] for c in inpatient["codes"]] == ["J18.9"]


def test_search_check_validate_explain_answer_as_the_cli(port: int, cli) -> None:
    _, _, search = call(port, "POST", "/v1/search", {"phrase": "heart failure", "limit": 2})
    assert search == cli("search", "heart", "failure", "--limit", "2")
    assert [c["code"] for c in search["candidates"]] == ["I50.9", "I50.89"]

    status, _, check = call(port, "POST", "/v1/check", {"codes": ["E11.9", "E10.9"]})
    assert check == cli("check", "E11.9", "E10.9")
    assert (status, check["codes"]) == (200, ["E11.9", "E10.9"])
    assert [(e["rule"], e["severity"]) for e in check["edits"]] == [("excludes1-conflict", "error")]

    body = {"codes": ["I10", "N18.30"], "setting": "outpatient", "age": 70, "sex": "F"}
    _, _, proposed = call(port, "POST", "/v1/check", body)
    assert proposed == cli(
        "check", "I10", "N18.30", "--setting", "outpatient", "--age", "70", "--sex", "F"
    )
    assert (proposed["codes"], proposed["edits"]) == (["I12.9", "N18.30"], [])

    _, _, validate = call(port, "POST", "/v1/validate", {"codes": ["e119", "E11.99"]})
    assert validate == cli("validate", "e119", "E11.99")
    assert [(v["code"], v["valid"], v["billable"]) for v in validate] == [
        ("E11.9", True, True),
        ("E11.99", False, False),
    ]

    _, _, explain = call(port, "POST", "/v1/explain", {"text": NOTE, "code": "R07.9"})
    assert explain == cli("explain", "--text", NOTE, "--code", "R07.9")
    assert (explain["status"], explain["excluded"][0]["reason"]) == (
        "excluded",
        "A negated condition is not coded (I.A; IV.A)",
    )


def test_healthz_names_the_versions(port: int, coder: Coder) -> None:
    assert call(port, "GET", "/healthz") == (
        200,
        "application/json",
        {"status": "ok", "versions": coder.versions},
    )


# -- bad input: a clear 4xx, never a 500 ---------------------------------------------------------


def test_code_takes_the_patient_and_date_of_the_claim(port: int, cli) -> None:
    patient = {"age": 81, "sex": "F", "discharge_status": 3}
    body = {"text": NOTE, "setting": "inpatient", **patient, "date": "2025-01-15"}
    status, _, answer = call(port, "POST", "/v1/code", body)
    assert status == 200
    claim = answer["claim"]
    assert claim["patient"] == {
        **patient,
        "sources": {"age": "given", "sex": "given", "discharge_status": "given"},
    }
    assert (claim["fy"], claim["grouper_version"], claim["date"]) == (2025, 420, "2025-01-15")
    options = ("--age", "81", "--sex", "F", "--discharge-status", "3", "--date", "2025-01-15")
    assert answer == cli("code", "--text", NOTE, "--setting", "inpatient", *options)
    status, _, refused = call(port, "POST", "/v1/code", {"text": NOTE, "date": "1999-01-01"})
    assert (status, refused["error"]) == (422, "invalid_input")
    assert refused["message"].startswith("date 1999-01-01 is outside the supported fiscal years")


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "message"),
    [
        ("/v1/code", {"text": "  \n"}, 422, "invalid_request", "text: text is empty"),
        (
            "/v1/code",
            {"text": "MZ\x00\x00\x90"},
            422,
            "invalid_request",
            "text: text holds NUL characters: binary data, not a note",
        ),
        (
            "/v1/code",
            {"text": NOTE, "setting": "emergency"},
            422,
            "invalid_request",
            "setting: input should be 'auto', 'inpatient' or 'outpatient'",
        ),
        ("/v1/code", {"setting": "inpatient"}, 422, "invalid_request", "text: field required"),
        (
            "/v1/code",
            {"text": NOTE, "settings": "outpatient"},
            422,
            "invalid_request",
            "body: unknown field (the fields are: age, sex, discharge_status, date, text, setting, "
            "document)",
        ),
        (
            "/v1/code",
            ["not", "an", "object"],
            422,
            "invalid_request",
            "body: expected a JSON object",
        ),
        (
            "/v1/check",
            {"codes": ["E11.9", "DROP TABLE"]},
            422,
            "invalid_request",
            "codes.1: not shaped like an ICD-10-CM code (letters, digits, a dot)",
        ),
        (
            "/v1/check",
            {"codes": []},
            422,
            "invalid_request",
            "codes: list should have at least 1 item after validation, not 0",
        ),
        (
            "/v1/check",
            {"codes": ["E11.9"], "sex": "X"},
            422,
            "invalid_request",
            "sex: input should be 'F' or 'M'",
        ),
        (
            "/v1/validate",
            {"codes": [119]},
            422,
            "invalid_request",
            "codes.0: input should be a valid string",
        ),
        (
            "/v1/explain",
            {"text": NOTE, "code": "E11.99"},
            422,
            "unknown_code",
            "code: not a code of the ICD-10-CM code set",
        ),
        (
            "/v1/search",
            {"phrase": "heart failure", "limit": 0},
            422,
            "invalid_request",
            "limit: input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_requests_get_one_clear_line(
    port: int, path: str, body: object, status: int, error: str, message: str
) -> None:
    got_status, kind, answer = call(port, "POST", path, body)
    assert (got_status, kind) == (status, "application/json")
    assert (answer["error"], answer["message"]) == (error, message)
    # The request is never echoed (notes carry PHI): pydantic's "input" is left out.
    assert all(sorted(e) == ["loc", "msg", "type"] for e in answer.get("errors", []))


def test_malformed_bodies_are_400_415_and_413(port: int) -> None:
    assert call(port, "POST", "/v1/code", raw=b'{"text": "COPD"') == (
        400,
        "application/json",
        {"error": "malformed_json", "message": "the body is not valid JSON"},
    )
    assert call(port, "POST", "/v1/code", raw=b'{"text": "\xff\xfe COPD"}') == (
        400,
        "application/json",
        {"error": "malformed_json", "message": "the body is not UTF-8 JSON (or nests too deeply)"},
    )
    assert call(port, "POST", "/v1/code", raw=b"COPD", content_type="text/plain") == (
        415,
        "application/json",
        {
            "error": "unsupported_media_type",
            "message": "send the body as JSON (Content-Type: application/json)",
        },
    )
    too_large = {"error": "too_large", "message": f"request body over {LIMIT} bytes"}
    big = json.dumps({"text": "COPD. " * (LIMIT // 6 + 1)}).encode()
    assert call(port, "POST", "/v1/code", raw=big) == (413, "application/json", too_large)
    # Without Content-Length (chunked), the body is counted as it streams.
    chunks = [big[i : i + 8192] for i in range(0, len(big), 8192)]
    assert call(port, "POST", "/v1/code", chunks=chunks) == (413, "application/json", too_large)
    # Just under the limit is coded.
    fits = json.dumps({"text": "Assessment: COPD." + " " * (LIMIT - 40)}).encode()
    status, _, answer = call(port, "POST", "/v1/code", raw=fits)
    assert (len(fits) <= LIMIT, status, [c["code"] for c in answer["codes"]]) == (
        True,
        200,
        ["J44.9"],
    )


def test_unknown_paths_and_methods_are_json_errors(port: int) -> None:
    assert call(port, "GET", "/v2/code") == (
        404,
        "application/json",
        {"error": "not_found", "message": "Not Found"},
    )
    assert call(port, "GET", "/v1/code") == (
        405,
        "application/json",
        {"error": "method_not_allowed", "message": "Method Not Allowed"},
    )


# -- one engine, many clients ------------------------------------------------------------------


def test_concurrent_requests_get_the_answers_of_serial_ones(port: int) -> None:
    notes = [NOTE, UNCERTAIN, "Discharge Diagnoses: COPD with acute exacerbation.", "HTN, CKD 3b."]
    bodies = [{"text": notes[i % 4], "document": f"n{i}"} for i in range(48)]
    serial = [call(port, "POST", "/v1/code", b)[2] for b in bodies[:4]]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: call(port, "POST", "/v1/code", b), bodies))
    assert {a[0] for a in answers} == {200}
    for i, (_, _, answer) in enumerate(answers):
        assert answer == {**serial[i % 4], "document": f"n{i}"}


# -- the OpenAPI contract ------------------------------------------------------------------------


def test_the_committed_spec_is_what_the_server_serves(port: int) -> None:
    status, _, served = call(port, "GET", "/openapi.json")
    committed = json.loads(SPEC.read_text(encoding="utf-8"))
    assert status == 200
    assert served == committed, "regenerate: medcode serve --openapi > docs/openapi.json"
    assert sorted((p, m) for p, ops in served["paths"].items() for m in ops) == [
        ("/fhir/r4/$code", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/check", "post"),
        ("/v1/code", "post"),
        ("/v1/explain", "post"),
        ("/v1/search", "post"),
        ("/v1/validate", "post"),
    ]


def test_serve_openapi_prints_the_committed_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--openapi"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SPEC.read_text(encoding="utf-8"))


def _document_reference(ident: str, text: str) -> dict[str, Any]:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return {
        "resourceType": "DocumentReference",
        "id": ident,
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
    }


# For every operation of the spec: a body the spec and the server accept, and one both refuse
# (the FHIR body's problem is below what the spec can say: only the server refuses it).
CONTRACT: dict[tuple[str, str], tuple[object, object, bool]] = {
    ("/healthz", "get"): (None, None, False),
    ("/readyz", "get"): (None, None, False),
    ("/v1/code", "post"): ({"text": NOTE, "setting": "outpatient"}, {"text": 7}, True),
    ("/v1/search", "post"): ({"phrase": "copd"}, {"phrase": ""}, True),
    ("/v1/check", "post"): ({"codes": ["I10"], "age": 50}, {"codes": ["I10"], "age": -1}, True),
    ("/v1/validate", "post"): ({"codes": ["E11.9"]}, {"codes": "E11.9"}, True),
    ("/v1/explain", "post"): ({"text": NOTE, "code": "I50.23"}, {"text": NOTE}, True),
    ("/fhir/r4/$code", "post"): (
        _document_reference("n1", NOTE),
        {"resourceType": "DocumentReference", "content": []},
        False,
    ),
}


def _schema(spec: dict, operation: dict, status: str) -> tuple[str, dict]:
    (media, content), *_ = operation["responses"][status]["content"].items()
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; refs point into the spec's components.
    return media, {**content["schema"], "components": spec["components"]}


def test_every_operation_of_the_spec_keeps_its_contract(port: int) -> None:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    operations = {(p, m): op for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert sorted(operations) == sorted(CONTRACT)
    checked = []
    for (path, method), operation in operations.items():
        valid, invalid, spec_refuses = CONTRACT[path, method]
        status, kind, answer = call(port, method.upper(), path, valid)
        media, schema = _schema(spec, operation, "200")
        assert (status, kind) == (200, media), path
        jsonschema.validate(answer, schema)
        checked.append((path, "200"))
        if method == "get":
            status, kind, answer = call(port, "GET", path, host="rebound.example")
            media, schema = _schema(spec, operation, "421")
            assert (status, kind) == (421, media)
            jsonschema.validate(answer, schema)
            checked.append((path, "421"))
            continue
        assert sorted(operation["responses"]) == [
            "200",
            "400",
            "401",
            "408",
            "413",
            "415",
            "421",
            "422",
        ], path
        request = next(iter(operation["requestBody"]["content"].values()))["schema"]
        request = {**request, "components": spec["components"]}
        jsonschema.validate(valid, request)
        if spec_refuses:
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(invalid, request)
        for code, kwargs in (
            ("422", {"body": invalid}),
            ("400", {"raw": b"{"}),
            ("415", {"raw": b"{}", "content_type": "text/plain"}),
            ("413", {"raw": b" " * (LIMIT + 1)}),
            ("421", {"body": valid, "host": "rebound.example"}),
        ):
            status, kind, answer = call(port, "POST", path, **kwargs)
            media, schema = _schema(spec, operation, code)
            assert (str(status), kind) == (code, media), (path, code)
            jsonschema.validate(answer, schema)
            checked.append((path, code))
    # 408 (a body that does not arrive in time) is tested in test_service_hostile.py, 401 (a
    # server with keys) in test_service_auth.py.
    assert len(checked) == 2 * 2 + 6 * 6


# -- FHIR over HTTP ------------------------------------------------------------------------------


def test_fhir_code_returns_a_bundle_of_conditions(port: int) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": _document_reference("n1", NOTE)},
            {"resource": _document_reference("n2", UNCERTAIN)},
        ],
    }
    status, kind, answer = call(
        port,
        "POST",
        "/fhir/r4/$code?setting=outpatient",
        bundle,
        content_type="application/fhir+json",
    )
    assert (status, kind) == (200, "application/fhir+json")
    rows = [
        (
            e["resource"]["resourceType"],
            e["resource"].get("code", {}).get("coding", [{}])[0].get("code"),
            e["resource"].get("entity", [{}])[0].get("what", {}).get("reference"),
            e["resource"].get("verificationStatus", {}).get("coding", [{}])[0].get("code"),
        )
        for e in answer["entry"]
    ]
    # excluded candidates too: the denied chest pain refuted, the possible pneumonia
    # unconfirmed, with the provider query about it as a Task (docs/SERVICE.md, FHIR R4)
    assert rows == [
        ("Condition", "I50.23", None, "confirmed"),
        ("Condition", "E11.22", None, "confirmed"),
        ("Condition", "N18.31", None, "confirmed"),
        ("Condition", "R07.9", None, "refuted"),
        ("Provenance", None, "DocumentReference/n1", None),
        ("Condition", "R05.9", None, "confirmed"),
        ("Condition", "J18.9", None, "unconfirmed"),
        ("Task", "provider-query", None, None),
        ("Provenance", None, "DocumentReference/n2", None),
    ]


def test_fhir_errors_are_operation_outcomes(port: int) -> None:
    status, kind, answer = call(port, "POST", "/fhir/r4/$code", {"resourceType": "Patient"})
    assert (status, kind) == (422, "application/fhir+json")
    assert answer == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "expected a DocumentReference or a Bundle (resourceType)",
            }
        ],
    }


# -- the command ---------------------------------------------------------------------------------


def test_serve_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "medcode serve: needs the service extra (uvicorn is not installed): "
        "pip install 'medcode[service]'\n"
    )


def test_medcode_serve_runs_and_stops_on_sigterm() -> None:
    key = "serve-test-key-0123456789"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    command = [sys.executable, "-m", "medcode.engine.interfaces.cli", "serve", "--port", str(free)]
    server = subprocess.Popen(
        [*command, "--max-body-bytes", "100", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "MEDCODE_API_KEYS": key},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = call(free, "GET", "/healthz")
                break
            except ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert (health[0], health[2]["status"]) == (200, "ok")
        assert call(free, "GET", "/readyz")[::2] == (200, {"status": "ready"})
        assert call(free, "POST", "/v1/validate", {"codes": ["J44.1"]})[0] == 401
        assert call(free, "POST", "/v1/validate", {"codes": ["J44.1"]}, key=key)[0] == 200
        too_large = call(free, "POST", "/v1/code", {"text": "x" * 100}, key=key)
        assert too_large[:2] == (413, "application/json")
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    # uvicorn (>= 0.29) shuts down gracefully, then re-raises the signal it caught.
    assert server.returncode == -signal.SIGTERM
    assert b"Traceback" not in err
