"""The service a hospital deploys: API keys (constant-time, one 401 for every wrong key),
the keys' configuration and the loopback-only `--no-auth`, /readyz, request ids in answers and
log lines, Prometheus /metrics with exact counts, and /docs and /redoc from local files."""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from medcode.engine.coding.coder import Coder  # noqa: E402
from medcode.engine.interfaces.service import (  # noqa: E402
    Auth,
    AuthError,
    Engine,
    Limits,
    RequestIdFilter,
    create_app,
    is_loopback,
    server_options,
)

from .live_server import serving  # noqa: E402

KEY = "k-0123456789abcdef"
OTHER_KEY = "k-fedcba9876543210"
NOTE = "Assessment: COPD with acute exacerbation. Denies chest pain."
UNAUTHORIZED = {
    "error": "unauthorized",
    "message": "authentication required: send an API key as Authorization: Bearer KEY "
    "or X-API-Key: KEY",
}


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


@contextmanager
def running(app: object) -> Iterator[int]:
    """`app` on a real uvicorn on 127.0.0.1 in a thread, with the limits of `medcode serve`;
    its port."""
    with serving(app, log_config=None, **server_options(Limits())) as (port, _):
        yield port


@pytest.fixture(scope="module")
def port(coder: Coder) -> Iterator[int]:
    with running(create_app(Engine(coder), auth=Auth.of([KEY, OTHER_KEY]))) as bound:
        yield bound


def call(
    port: int, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# -- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer k-0123456789abcdeX"},  # one character off
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {KEY}"},
        {"X-API-Key": "short"},
    ],
    ids=["none", "wrong", "empty", "not-bearer", "short"],
)
def test_a_request_without_a_valid_key_is_401_and_says_nothing_more(
    port: int, headers: dict[str, str]
) -> None:
    status, answer_headers, body = call(port, "POST", "/v1/validate", {"codes": ["E11.9"]}, headers)
    assert status == 401
    assert answer_headers["www-authenticate"] == 'Bearer realm="medcode"'
    assert json.loads(body) == UNAUTHORIZED
    assert b"\n" not in body


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"X-API-Key": OTHER_KEY},
        {"authorization": f"bearer {KEY}"},
    ],
    ids=["bearer", "x-api-key-second-key", "lower-case"],
)
def test_either_key_in_either_header_is_let_in(port: int, headers: dict[str, str]) -> None:
    status, _, body = call(port, "POST", "/v1/validate", {"codes": ["e119"]}, headers)
    assert status == 200
    assert json.loads(body)[0]["code"] == "E11.9"


def test_a_key_is_compared_with_every_key_even_after_a_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[bool] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append(a == b)
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    auth = Auth.of([KEY, OTHER_KEY, "k-third-key-000000"])
    assert auth.admits({"path": "/v1/code", "headers": [(b"x-api-key", KEY.encode())]})
    assert compared == [True, False, False]


def test_no_log_line_holds_a_key(port: int) -> None:
    records = Records()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error", "medcode")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    try:
        for key in (KEY, "k-wrong-key-00000000"):
            for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
                call(port, "POST", "/v1/validate", {"codes": ["I10"]}, headers)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(records)
            logger.setLevel(level)
    assert len(records.lines) == 4  # the access log lines: 200, 200, 401, 401
    assert not [line for line in records.lines if "k-" in line]


def test_the_key_is_asked_for_before_the_body_is_read(port: int) -> None:
    # 3 MB: over the body limit, but the answer is 401, not 413
    status, _, body = call(port, "POST", "/v1/code", {"text": "x" * 3_000_000})
    assert (status, json.loads(body)) == (401, UNAUTHORIZED)


def test_fhir_gets_its_401_as_an_operation_outcome(port: int) -> None:
    status, headers, body = call(port, "POST", "/fhir/r4/$code", {"resourceType": "Bundle"})
    assert (status, headers["content-type"]) == (401, "application/fhir+json")
    assert json.loads(body) == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login", "diagnostics": UNAUTHORIZED["message"]}],
    }


def test_probes_and_docs_are_open_metrics_and_unknown_paths_are_not(port: int) -> None:
    open_paths = ["/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"]
    assert [call(port, "GET", p)[0] for p in open_paths] == [200] * 5
    assert [call(port, "GET", p)[0] for p in ("/metrics", "/nowhere")] == [401, 401]
    assert call(port, "GET", "/metrics", headers={"X-API-Key": KEY})[0] == 200


def test_open_metrics_is_a_choice(coder: Coder) -> None:
    auth = Auth.from_environment({"MEDCODE_API_KEYS": KEY, "MEDCODE_OPEN_METRICS": "1"})
    with running(create_app(Engine(coder), auth=auth)) as bound:
        assert call(bound, "GET", "/metrics")[0] == 200
        assert call(bound, "POST", "/v1/validate", {"codes": ["I10"]})[0] == 401


# -- where the keys come from --------------------------------------------------------------------


def test_keys_come_from_the_variable_and_the_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# the EHR\n{OTHER_KEY}\n\n", encoding="utf-8")
    auth = Auth.from_environment(
        {"MEDCODE_API_KEYS": f" {KEY} ,", "MEDCODE_API_KEYS_FILE": str(keys)}
    )
    assert auth is not None
    assert len(auth.digests) == 2
    assert KEY not in repr(auth)
    headers = [(b"x-api-key", OTHER_KEY.encode())]
    assert auth.admits({"path": "/v1/code", "headers": headers})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {},
            "no API keys: set MEDCODE_API_KEYS or MEDCODE_API_KEYS_FILE "
            "(or --no-auth, on a loopback address only)",
        ),
        (
            {"MEDCODE_API_KEYS": f"{KEY},too-short-key"},
            "API key 2: must be at least 16 characters, letters, digits and punctuation "
            "(no spaces)",
        ),
        (
            {"MEDCODE_API_KEYS": KEY, "MEDCODE_NO_AUTH": "1"},
            "API keys given and authentication turned off: choose one",
        ),
        (
            {"MEDCODE_API_KEYS_FILE": "/nonexistent/keys"},
            "MEDCODE_API_KEYS_FILE: cannot read /nonexistent/keys: No such file or directory",
        ),
    ],
    ids=["none", "short", "both", "no-file"],
)
def test_unusable_keys_are_one_line_that_quotes_no_key(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(AuthError) as raised:
        Auth.from_environment(environ)
    assert str(raised.value) == message


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2", "[::1]"])
def test_no_auth_is_allowed_on_loopback(host: str) -> None:
    assert is_loopback(host)
    assert Auth.for_server(host, {"MEDCODE_NO_AUTH": "1"}) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "medcode.hospital.example"])
def test_no_auth_is_refused_off_loopback(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(AuthError) as raised:
        Auth.for_server(host, {"MEDCODE_NO_AUTH": "1"})
    assert str(raised.value) == (
        f"--no-auth is for a loopback address only, not {host}: give API keys "
        "(MEDCODE_API_KEYS or --api-keys-file)"
    )


# -- readiness -----------------------------------------------------------------------------------


def test_readyz_is_503_until_the_engine_is_loaded(coder: Coder) -> None:
    app = create_app()
    with running(app) as bound:
        assert call(bound, "GET", "/readyz")[::2] == (
            503,
            b'{"error":"not_ready","message":"the engine is not loaded"}',
        )
        app.state.engine = Engine(coder)
        assert call(bound, "GET", "/readyz")[::2] == (200, b'{"status":"ready"}')


# -- request ids ---------------------------------------------------------------------------------


class Records(logging.Handler):
    """The request id of every record of uvicorn's access log and of the service."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.seen: list[tuple[str, str]] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.name, record.request_id))  # type: ignore[attr-defined]
        self.lines.append(record.getMessage())


def test_a_request_id_is_echoed_and_in_every_log_line(port: int) -> None:
    records = Records()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "medcode")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    try:
        given = {"X-Request-ID": "trace-42.a:b", "X-API-Key": KEY}
        status, headers, _ = call(port, "POST", "/v1/code", {"text": NOTE}, given)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(records)
            logger.setLevel(level)
    assert (status, headers["x-request-id"]) == (200, "trace-42.a:b")
    assert ("uvicorn.access", "trace-42.a:b") in records.seen
    assert {request_id for _, request_id in records.seen} == {"trace-42.a:b"}


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "ünicode"])
def test_a_malformed_request_id_is_replaced(port: int, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    replaced = call(port, "GET", "/healthz", headers=headers)[1]["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", replaced)


def test_every_answer_has_its_own_request_id(port: int) -> None:
    ids = {call(port, "GET", path)[1]["x-request-id"] for path in ("/healthz", "/v1/code") * 2}
    assert len(ids) == 4


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_count_requests_statuses_notes_and_notes_over_budget(coder: Coder) -> None:
    app = create_app(Engine(coder), auth=Auth.of([KEY]))
    key = {"X-API-Key": KEY}
    with running(app) as bound:
        for _ in range(2):
            assert call(bound, "POST", "/v1/code", {"text": NOTE}, key)[0] == 200
        assert call(bound, "POST", "/v1/explain", {"text": NOTE, "code": "J44.1"}, key)[0] == 200
        assert call(bound, "POST", "/v1/code", {"text": ""}, key)[0] == 422
        assert call(bound, "POST", "/v1/code", {"text": NOTE})[0] == 401
        app.state.engine.note_budget = 1e-9  # every note is over it now
        status, _, body = call(bound, "POST", "/v1/code", {"text": NOTE}, key)
        assert (status, json.loads(body)["error"]) == (422, "over_budget")
        status, headers, text = call(bound, "GET", "/metrics", headers=key)
    assert (status, headers["content-type"].split(";")[0]) == (200, "text/plain")
    samples = dict(
        line.rsplit(" ", 1) for line in text.decode().splitlines() if not line.startswith("#")
    )
    code = 'handler="/v1/code",method="POST"'
    assert {
        name: samples.get(name)
        for name in (
            'medcode_notes_coded_total{endpoint="/v1/code"}',
            'medcode_notes_coded_total{endpoint="/v1/explain"}',
            'medcode_notes_over_budget_total{endpoint="/v1/code"}',
            f'http_requests_total{{{code},status="200"}}',
            f'http_requests_total{{{code},status="401"}}',
            f'http_requests_total{{{code},status="422"}}',
            f"http_request_duration_seconds_count{{{code}}}",
            'http_requests_total{handler="/v1/explain",method="POST",status="200"}',
        )
    } == {
        'medcode_notes_coded_total{endpoint="/v1/code"}': "2.0",
        'medcode_notes_coded_total{endpoint="/v1/explain"}': "1.0",
        'medcode_notes_over_budget_total{endpoint="/v1/code"}': "1.0",
        f'http_requests_total{{{code},status="200"}}': "2.0",
        f'http_requests_total{{{code},status="401"}}': "1.0",
        f'http_requests_total{{{code},status="422"}}': "2.0",
        f"http_request_duration_seconds_count{{{code}}}": "5.0",
        'http_requests_total{handler="/v1/explain",method="POST",status="200"}': "1.0",
    }


# -- documentation from local files --------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_files(port: int, page: str) -> None:
    status, headers, html = call(port, "GET", page)
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    text = html.decode()
    urls = sorted(set(re.findall(r"""(?:src|href)=["']([^"']+)|url: *["']([^"']+)""", text)))
    referenced = sorted({a or b for a, b in urls})
    assert not [u for u in referenced if not u.startswith("/")], referenced
    assert "http://" not in text.replace("http://www.w3.org", "")
    for url in referenced:
        assert call(port, "GET", url)[0] == 200, url
    expected = {
        "/docs": [
            "/openapi.json",
            "/static-offline-docs/favicon.png",
            "/static-offline-docs/swagger-ui-bundle.js",
            "/static-offline-docs/swagger-ui.css",
        ],
        "/redoc": [
            "/static-offline-docs/favicon.png",
            "/static-offline-docs/redoc.standalone.js",
        ],
    }
    assert referenced == expected[page]
