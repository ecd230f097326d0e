"""`medcode serve` against hostile and broken clients: input that is not Unicode or not the
right shape answers 4xx (never 500) on a connection that stays open; no error and no log line
repeats the request; the Host allow-list; slow, idle and surplus connections are cut off
(ServiceProtocol's time-outs and connection cap). Real uvicorn servers on loopback, in threads.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import pickle
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from medcode.engine.coding.coder import Coder  # noqa: E402
from medcode.engine.coding.pace import TurnLock  # noqa: E402
from medcode.engine.interfaces.service import (  # noqa: E402
    CodeRequest,
    Engine,
    Guard,
    Limits,
    ServiceProtocol,
    create_app,
    server_options,
)

from . import live_server  # noqa: E402

LIMIT = 65_536
NOTE = "Assessment: COPD with acute exacerbation. Denies chest pain."
# In every bad request below: no answer and no log line may repeat it.
MARKER = "Zebulon-Quixotic-4417"
FHIR = "application/fhir+json"


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


@dataclass
class Running:
    port: int
    server: Any  # uvicorn.Server


@contextmanager
def serving(app: Any, limits: Limits) -> Iterator[Running]:
    """`app` on a real uvicorn on 127.0.0.1 with `server_options(limits)`, in a thread.
    uvicorn configures no logging (log_config=None): its records reach the `logs` fixture."""
    with live_server.serving(app, log_config=None, **server_options(limits)) as (port, server):
        yield Running(port, server)


@pytest.fixture(scope="module")
def port(coder: Coder) -> Iterator[int]:
    """The service with `medcode serve`'s default limits, but a small body limit."""
    limits = Limits(max_body_bytes=LIMIT)
    with serving(create_app(Engine(coder), limits=limits), limits) as running:
        yield running.port


# Time-outs short enough for tests; the cases below wait for them to pass, they do not time them.
STRICT = Limits(
    max_body_bytes=LIMIT,
    header_timeout=0.3,
    read_timeout=0.3,
    keep_alive_timeout=0.3,
    max_header_bytes=1024,
)


@pytest.fixture(scope="module")
def strict_port(coder: Coder) -> Iterator[int]:
    with serving(create_app(Engine(coder), limits=STRICT), STRICT) as running:
        yield running.port


class Records(logging.Handler):
    """Every log record of the service and of uvicorn, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logs() -> Iterator[Records]:
    records = Records()
    names = ("medcode", "uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = [logging.getLogger(n) for n in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    yield records
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(records)
        logger.setLevel(level)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    content_type: str = "application/json",
    host: str | None = None,
) -> tuple[int, str, Any]:
    """One request on a fresh connection: (status, content type, decoded JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type}
    if host is not None:
        headers["Host"] = host
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, response.getheader("content-type", ""), json.loads(payload)


def exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a raw connection, then read until the server closes it (the socket's
    time-out only guards against a server that never does)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        if data:
            sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """(status, headers, decoded JSON body) of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    assert len(body) == int(headers["content-length"])
    return int(status_line.split()[1]), headers, json.loads(body)


def outcome(code: str, diagnostics: str) -> dict[str, Any]:
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def document(text: str, **fields: Any) -> dict[str, Any]:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    resource = {
        "resourceType": "DocumentReference",
        "id": "n1",
        "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
    }
    return {**resource, **fields}


# -- bad input: 422, never 500, and the connection stays open -----------------------------------

SURROGATE_TEXT = b'{"text": "COPD \\udcff"}'  # JSON escapes can carry half a surrogate pair


def test_a_lone_surrogate_in_the_note_is_422(port: int) -> None:
    why = "text holds a lone surrogate (a \\ud800-\\udfff escape): not Unicode text"
    assert call(port, "POST", "/v1/code", SURROGATE_TEXT) == (
        422,
        "application/json",
        {
            "error": "invalid_request",
            "message": f"text: {why}",
            "errors": [
                {"loc": ["body", "text"], "type": "value_error", "msg": f"Value error, {why}"}
            ],
        },
    )
    explain = b'{"text": "\\ud800 COPD", "code": "J44.9"}'
    assert call(port, "POST", "/v1/explain", explain)[:2] == (422, "application/json")
    assert call(port, "POST", "/v1/search", b'{"phrase": "copd \\udfff"}') == (
        422,
        "application/json",
        {
            "error": "invalid_request",
            "message": "phrase: not Unicode text (a lone surrogate)",
            "errors": [
                {
                    "loc": ["body", "phrase"],
                    "type": "string_unicode",
                    "msg": "Input should be a valid string, unable to parse raw data as a "
                    "unicode string",
                }
            ],
        },
    )


def test_a_lone_surrogate_in_a_fhir_resource_is_422(port: int) -> None:
    resource = json.dumps(document(NOTE, subject={"display": "\udcff"})).encode()
    assert b"\\udcff" in resource
    assert call(port, "POST", "/fhir/r4/$code", resource, content_type=FHIR) == (
        422,
        FHIR,
        outcome(
            "invalid",
            "DocumentReference.subject: not Unicode text (a lone surrogate, \\ud800-\\udfff)",
        ),
    )


@pytest.mark.parametrize(
    ("resource", "diagnostics"),
    [
        (
            {"resourceType": "DocumentReference", "content": 5},
            "DocumentReference.content must be a list",
        ),
        (document(NOTE, id=5), "DocumentReference.id must be a string"),
        (document(NOTE, subject="Patient/1"), "DocumentReference.subject must be a JSON object"),
        ({"resourceType": "Bundle", "entry": 5}, "Bundle.entry must be a list"),
        ({"resourceType": "Bundle", "entry": [5]}, "Bundle.entry[0] must be a JSON object"),
        (["DocumentReference"], "body: expected a JSON object"),
        (5, "body: expected a JSON object"),
    ],
)
def test_wrongly_typed_fhir_elements_are_422(port: int, resource: object, diagnostics: str) -> None:
    body = json.dumps(resource).encode()
    assert call(port, "POST", "/fhir/r4/$code", body, content_type=FHIR) == (
        422,
        FHIR,
        outcome("invalid", diagnostics),
    )


def test_deeply_nested_json_is_400(port: int) -> None:
    nested = b"[" * 20_000 + b"]" * 20_000
    assert call(port, "POST", "/v1/code", nested) == (
        400,
        "application/json",
        {"error": "malformed_json", "message": "the body is not UTF-8 JSON (or nests too deeply)"},
    )


# Each of these, then a request that succeeds, on one connection.
FOUR_XX = [
    ("POST", "/v1/code", SURROGATE_TEXT, "application/json", None, 422),
    (
        "POST",
        "/fhir/r4/$code",
        b'{"resourceType": "DocumentReference", "content": 5}',
        FHIR,
        None,
        422,
    ),
    ("POST", "/v1/code", b'{"text": 7}', "application/json", None, 422),
    ("POST", "/v1/code", b'{"text": "COPD"', "application/json", None, 400),
    ("POST", "/v1/code", b"COPD", "text/plain", None, 415),
    ("POST", "/v1/code", b" " * (LIMIT + 1), "application/json", None, 413),
    ("GET", "/v2/code", None, "application/json", None, 404),
    ("GET", "/v1/code", None, "application/json", None, 405),
    ("GET", "/healthz", None, "application/json", "rebound.example", 421),
]


def test_the_connection_survives_every_4xx(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    opened = conn.sock
    seen = []
    for method, path, body, content_type, host, status in FOUR_XX:
        headers = {"Content-Type": content_type, **({"Host": host} if host else {})}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.request("POST", "/v1/code", body=json.dumps({"text": NOTE}), headers=headers_ok())
        coded = conn.getresponse()
        codes = [c["code"] for c in json.loads(coded.read())["codes"]]
        seen.append((response.status, response.getheader("connection"), coded.status, codes))
        assert "error" in answer or answer["resourceType"] == "OperationOutcome"
        assert conn.sock is opened, (method, path, status)  # not closed and reopened
    assert seen == [(status, None, 200, ["J44.1"]) for *_, status in FOUR_XX]
    conn.close()


def headers_ok() -> dict[str, str]:
    return {"Content-Type": "application/json"}


# -- no request content in any answer or log line ------------------------------------------------


def fhir_body(resource: object) -> tuple[str, bytes, str, int]:
    """A FHIR request the server refuses (422)."""
    return "/fhir/r4/$code", json.dumps(resource).encode(), FHIR, 422


BAD_REQUESTS: list[tuple[str, bytes, str, int]] = [
    ("/v1/code", json.dumps({"text": NOTE, MARKER: 1}).encode(), "application/json", 422),
    ("/v1/code", json.dumps({"text": f"{MARKER}\x00"}).encode(), "application/json", 422),
    ("/v1/code", json.dumps({"text": NOTE, "setting": MARKER}).encode(), "application/json", 422),
    (
        "/v1/code",
        json.dumps({"text": NOTE, "document": MARKER * 20}).encode(),
        "application/json",
        422,
    ),
    ("/v1/code", json.dumps({"text": [MARKER]}).encode(), "application/json", 422),
    ("/v1/code", f'{{"text": "{MARKER} \\udcff"}}'.encode(), "application/json", 422),
    ("/v1/code", f'{{"text": "{MARKER}", "\\udcff{MARKER}": 1}}'.encode(), "application/json", 422),
    ("/v1/code", f'{{"text": "{MARKER}"'.encode(), "application/json", 400),
    ("/v1/code", f"text={MARKER}".encode(), "text/plain", 415),
    (
        "/v1/search",
        json.dumps({"phrase": MARKER, "limit": MARKER}).encode(),
        "application/json",
        422,
    ),
    ("/v1/check", json.dumps({"codes": [f"{MARKER} x"]}).encode(), "application/json", 422),
    ("/v1/validate", json.dumps({"codes": {MARKER: 1}}).encode(), "application/json", 422),
    # A code-shaped marker the code set lacks.
    (
        "/v1/explain",
        json.dumps({"text": NOTE, "code": "Q99ZQX9"}).encode(),
        "application/json",
        422,
    ),
    fhir_body({"resourceType": MARKER}),
    fhir_body(document(NOTE, id=f"{MARKER} x")),
    fhir_body(
        document(NOTE, content=[{"attachment": {"contentType": "text/plain", "data": MARKER}}])
    ),
    fhir_body(
        document(NOTE, content=[{"attachment": {"contentType": f"text/plain; charset={MARKER}"}}])
    ),
    fhir_body(
        document(NOTE, content=[{"attachment": {"contentType": "text/plain", "url": MARKER}}])
    ),
    fhir_body(document(NOTE, subject=MARKER)),
    fhir_body(document(NOTE, subject={"display": f"{MARKER}\udcff"})),
    fhir_body({"resourceType": "Bundle", "entry": [{"resource": document(NOTE, id=MARKER)}] * 2}),
    fhir_body({"resourceType": "Bundle", "entry": [{"fullUrl": [MARKER]}]}),
]


def test_no_answer_and_no_log_line_repeats_the_request(port: int, logs: Records) -> None:
    statuses = []
    for path, body, content_type, _ in BAD_REQUESTS:
        got, _, answer = call(port, "POST", path, body, content_type=content_type)
        statuses.append(got)
        assert MARKER not in json.dumps(answer), (path, body)
        assert "Q99ZQX9" not in json.dumps(answer)
    assert statuses == [status for *_, status in BAD_REQUESTS]
    # A Host that is not allowed, and a note that is coded: neither is logged.
    assert call(port, "GET", "/healthz", host=f"{MARKER}.example")[0] == 421
    assert (
        call(port, "POST", "/v1/code", json.dumps({"text": f"{NOTE} {MARKER}"}).encode())[0] == 200
    )
    assert "POST /v1/code" in logs.text  # the access log ran, and holds no request content
    assert MARKER not in logs.text
    assert "Q99ZQX9" not in logs.text


class BrokenEngine(Engine):
    """An engine with a bug whose message quotes the note."""

    def code(self, request: CodeRequest) -> dict[str, Any]:
        raise RuntimeError(f"cannot code {request.text!r}")


def test_a_bug_is_a_500_logged_without_the_request(coder: Coder, logs: Records) -> None:
    limits = Limits()
    with serving(create_app(BrokenEngine(coder), limits=limits), limits) as running:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
        conn.request("POST", "/v1/code", body=json.dumps({"text": MARKER}), headers=headers_ok())
        response = conn.getresponse()
        answer = json.loads(response.read())
        opened = conn.sock
        conn.request("GET", "/healthz")
        health = conn.getresponse()
        health.read()
        conn.close()
    assert (response.status, response.getheader("content-type"), answer) == (
        500,
        "application/json",
        {"error": "internal", "message": "internal error; see the server log"},
    )
    assert (health.status, opened is not None) == (200, True)
    errors = [line for line in logs.lines if " ERROR " in line]
    assert len(errors) == 1
    assert errors[0].startswith(
        "medcode.service ERROR internal error on POST /v1/code: RuntimeError (its message is "
        "withheld: it may quote the request)\nTraceback (most recent call last):\n"
    )
    assert "in code\n" in errors[0]
    assert MARKER not in logs.text


# -- the Host allow-list (DNS rebinding) ----------------------------------------------------------

MISDIRECTED = (
    "this server does not answer for the name in the Host header "
    "(medcode serve --allow-host NAME adds one)"
)


def test_an_unknown_host_gets_421(port: int) -> None:
    assert call(port, "GET", "/healthz", host="rebound.example") == (
        421,
        "application/json",
        {"error": "misdirected_request", "message": MISDIRECTED},
    )
    assert call(
        port, "POST", "/fhir/r4/$code", b"{}", content_type=FHIR, host="rebound.example"
    ) == (
        421,
        FHIR,
        outcome("security", MISDIRECTED),
    )


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "LOCALHOST.",
        "[::1]",
        "127.0.0.1:{port}",
        "localhost:{port}",
        "[::1]:{port}",
    ],
)
def test_loopback_names_are_answered(port: int, host: str) -> None:
    assert call(port, "GET", "/healthz", host=host.format(port=port))[:2] == (
        200,
        "application/json",
    )


def test_a_request_without_host_is_answered(port: int) -> None:
    status, _, answer = parse(exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n"))
    assert (status, answer["status"]) == (200, "ok")


def guard_status(allowed: tuple[str, ...], host: bytes, server: tuple[str, int]) -> int:
    """The status Guard answers for a request with Host `host` on a connection to `server`."""

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/healthz",
        "headers": [(b"host", host)],
        "server": server,
    }
    asyncio.run(Guard(inner, allowed)(scope, receive, send))
    return sent[0]["status"]


@pytest.mark.parametrize(
    ("allowed", "host", "server", "status"),
    [
        # the address the client connected to (a LAN address when bound to 0.0.0.0)
        ((), b"10.1.2.3:8000", ("10.1.2.3", 8000), 204),
        ((), b"10.1.2.4:8000", ("10.1.2.3", 8000), 421),
        ((), b"[fd00::5]:8000", ("fd00::5", 8000), 204),
        ((), b"coder.internal", ("10.1.2.3", 8000), 421),
        (("Coder.Internal",), b"coder.internal:443", ("10.1.2.3", 8000), 204),
        (("coder.internal",), b"other.internal", ("10.1.2.3", 8000), 421),
        (("*",), b"anything.example", ("10.1.2.3", 8000), 204),
    ],
)
def test_the_allow_list(allowed: tuple[str, ...], host: bytes, server: tuple, status: int) -> None:
    assert guard_status(allowed, host, server) == status


# -- slow, idle and surplus connections ----------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed(strict_port: int) -> None:
    assert exchange(strict_port, b"") == b""


def test_headers_that_do_not_arrive_in_time_get_408(strict_port: int) -> None:
    status, headers, answer = parse(
        exchange(strict_port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    )
    assert (status, headers["content-type"], headers["connection"]) == (
        408,
        "application/json",
        "close",
    )
    assert answer == {
        "error": "request_timeout",
        "message": "the request line and headers did not arrive within 0.3 s",
    }


@pytest.mark.parametrize(
    ("path", "content_type", "answer"),
    [
        (
            "/v1/code",
            "application/json",
            {"error": "request_timeout", "message": "the request body did not arrive within 0.3 s"},
        ),
        (
            "/fhir/r4/$code",
            FHIR,
            outcome("timeout", "the request body did not arrive within 0.3 s"),
        ),
    ],
)
def test_a_body_that_does_not_arrive_in_time_gets_408(
    strict_port: int, path: str, content_type: str, answer: dict
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    status, headers, got = parse(exchange(strict_port, head.encode() + b'{"text": "CO'))
    assert (status, headers["content-type"], headers["connection"], got) == (
        408,
        content_type,
        "close",
        answer,
    )


def test_the_rest_of_a_body_answered_early_is_not_waited_for(strict_port: int) -> None:
    head = (
        b"POST /v1/code HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    # 415 at once; then the connection is closed when the rest of the body is late.
    status, _, answer = parse(exchange(strict_port, head + b"COPD"))
    assert (status, answer["error"]) == (415, "unsupported_media_type")


def test_an_idle_kept_alive_connection_is_closed(strict_port: int) -> None:
    status, headers, answer = parse(
        exchange(strict_port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    )
    assert (status, "connection" in headers, answer["status"]) == (200, False, "ok")


@pytest.mark.parametrize(
    ("request_bytes", "status", "answer"),
    [
        (
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n",
            431,
            {
                "error": "headers_too_large",
                "message": "the request line and headers are over 1024 bytes",
            },
        ),
        (
            b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"a" * 2000,  # and no end in sight
            431,
            {
                "error": "headers_too_large",
                "message": "the request line and headers are over 1024 bytes",
            },
        ),
        (
            b"NOT HTTP AT ALL\r\n\r\n",
            400,
            {
                "error": "bad_request",
                "message": "the request line or headers are not valid HTTP/1.1",
            },
        ),
    ],
)
def test_oversized_or_malformed_headers_are_refused_in_json(
    strict_port: int, request_bytes: bytes, status: int, answer: dict
) -> None:
    got, headers, body = parse(exchange(strict_port, request_bytes))
    assert (got, headers["content-type"], headers["connection"], body) == (
        status,
        "application/json",
        "close",
        answer,
    )


def test_headers_just_under_the_limit_are_read(strict_port: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: \r\n\r\n"
    fitting = head.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (1024 - len(head)))
    assert len(fitting) == 1024
    conn = socket.create_connection(("127.0.0.1", strict_port), timeout=60)
    with conn:
        for byte in range(0, 1024, 100):  # in pieces: the size is counted across reads
            conn.sendall(fitting[byte : byte + 100])
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    status, _, answer = parse(received)
    assert (status, answer["status"]) == (200, "ok")


def test_connections_over_the_limit_are_refused_and_do_not_pile_up(coder: Coder) -> None:
    limits = Limits(max_connections=2)
    with serving(create_app(Engine(coder), limits=limits), limits) as running:
        kept = [http.client.HTTPConnection("127.0.0.1", running.port, timeout=60) for _ in range(2)]
        for conn in kept:  # two kept-alive, idle connections: the limit
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
        refused = [parse(exchange(running.port, b"")) for _ in range(20)]
        assert {(s, h["connection"], json.dumps(a)) for s, h, a in refused} == {
            (
                503,
                "close",
                json.dumps(
                    {
                        "error": "too_many_connections",
                        "message": "the server holds 2 connections, its limit; retry later",
                    }
                ),
            )
        }
        # The refused connections hold no file descriptor: the server has the two it kept.
        assert len(running.server.server_state.connections) == 2
        for conn in kept:
            conn.close()
        for _ in range(500):  # the server sees the two close, then takes new connections
            if not running.server.server_state.connections:
                break
            time.sleep(0.01)
        assert call(running.port, "GET", "/healthz")[0] == 200


# -- the limits themselves ---------------------------------------------------------------------


def test_limits_come_from_the_environment() -> None:
    environ = {
        "MEDCODE_MAX_BODY_BYTES": "1000",
        "MEDCODE_ALLOWED_HOSTS": "coder.internal, 10.0.0.5,",
        "MEDCODE_HEADER_TIMEOUT": "2.5",
        "MEDCODE_READ_TIMEOUT": "60",
        "MEDCODE_KEEP_ALIVE_TIMEOUT": "1",
        "MEDCODE_MAX_CONNECTIONS": "50",
        "MEDCODE_MAX_HEADER_BYTES": "8192",
    }
    limits = Limits.from_environment(environ)
    assert limits == Limits(1000, ("coder.internal", "10.0.0.5"), 2.5, 60.0, 1.0, 50, 8192)
    assert Limits.from_environment(limits.environment()) == limits
    assert Limits.from_environment({}) == Limits()
    assert Limits() == Limits(2_000_000, (), 10.0, 30.0, 5.0, 100, 16_384)
    assert Limits(allowed_hosts=["a.internal"]).allowed_hosts == ("a.internal",)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MEDCODE_MAX_CONNECTIONS": "many"}, "MEDCODE_MAX_CONNECTIONS must be a number"),
        ({"MEDCODE_MAX_CONNECTIONS": "0"}, "max_connections must be a whole number, at least 1"),
        ({"MEDCODE_READ_TIMEOUT": "-1"}, "read_timeout must be a number of seconds above 0"),
        ({"MEDCODE_HEADER_TIMEOUT": "nan"}, "header_timeout must be a number of seconds above 0"),
    ],
)
def test_unusable_limits_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Limits.from_environment(environ)
    assert str(caught.value) == message


def test_server_options_survive_the_trip_to_a_worker_process() -> None:
    limits = Limits(max_connections=7, allowed_hosts=("coder.internal",))
    options = pickle.loads(pickle.dumps(server_options(limits)))
    assert options["http"].func is ServiceProtocol
    assert options["http"].keywords == {"limits": limits}


# -- long notes: a time budget per note, the engine taken in turns --------------------------

LONG_NOTE = "Assessment: COPD.\n" * 3000  # 3 chunks of text, 3,000 mentions


def test_a_note_over_its_time_budget_is_422_and_the_next_request_is_answered(
    coder: Coder,
) -> None:
    limits = Limits(max_body_bytes=LIMIT * 10, note_budget=0.001)
    with serving(create_app(Engine(coder, note_budget=0.001), limits=limits), limits) as running:
        body = json.dumps({"text": LONG_NOTE}).encode()
        status, _, answer = call(running.port, "POST", "/v1/code", body)
        assert status == 422
        assert answer["error"] == "over_budget"
        assert answer["message"].startswith("note over the time budget: stopped after ")
        assert answer["message"].endswith(" s of work (limit 0.001 s)")
        assert call(running.port, "GET", "/healthz")[0] == 200


def test_a_long_note_takes_the_engine_in_turns_with_the_requests_that_wait(
    coder: Coder,
) -> None:
    class CountedTurns(TurnLock):
        taken = 0

        def __enter__(self) -> None:
            self.taken += 1
            super().__enter__()

    engine = Engine(coder)
    engine._lock = turns = CountedTurns()
    answer = engine.code_note(LONG_NOTE, "long", "outpatient")
    # 3 chunks read, 12 blocks of 256 mentions coded, then combination, the rules, the claim
    assert turns.taken == 18
    assert [c.code for c in answer.codes] == ["J44.9"]
