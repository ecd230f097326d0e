"""The REST service behind `medcode serve` (docs/SERVICE.md; the spec is docs/openapi.json).

Every /v1 endpoint answers with the JSON of the matching command (`medcode code --format json`,
`search`, `check`, `validate`, `explain`); FHIR R4 in and out at /fhir/r4/$code (fhir.py).

One engine per process, loaded at start-up and shared by every request. Calls into it are
serialised by one lock: spaCy does not promise that a pipeline may run in several threads at
once (the vocabulary grows as new words are seen, and medspaCy components keep state per call),
and under the GIL the work is CPU-bound anyway, so the lock costs no throughput. A note holds
the lock per chunk of its work (`Pace`), and the chunks of waiting requests take turns
(`TurnLock`): a 1 MB note does not hold the others back. Each note has a time budget of work
(`Limits.note_budget`). Parallelism is by processes: `medcode serve --workers N`, each worker
with its own engine.

Bad input is a 4xx JSON answer with one clear line: 400 malformed JSON, 413 a body over the
limit, 415 not JSON, 421 a Host header the server does not answer for, 422 a request the engine
cannot take (empty, binary or non-Unicode text, unknown setting, malformed codes, unknown
fields). Under /fhir the same errors are OperationOutcomes. Errors and logs never hold request
content: notes carry PHI. A 4xx keeps the connection open.

Against slow or idle clients (`Limits`): `ServiceProtocol`, uvicorn's h11 protocol with a time
limit on a request's headers and another on its body, and a cap on open connections; run it
with `server_options(limits)`.

Who may call (`Auth`): API keys from the environment, as `Authorization: Bearer KEY` or
`X-API-Key: KEY`, compared in constant time; /healthz and /readyz are open. Every request
has an id (`X-Request-ID`), in its answer and in every log line of it (`log_config`).
Prometheus metrics at /metrics; /docs and /redoc from local files (fastapi-offline).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import datetime
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Annotated, Any, Literal

import h11
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, Counter
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from medcode.engine.coding.coder import BudgetExceeded, Coder, InputError, Pace
from medcode.engine.coding.pace import TurnLock
from medcode.engine.result import CodingResult
from medcode.engine.rulelang import RuleBook
from medcode.terminology import validate_code
from medcode.terminology.cache import package_version

from .fhir import FhirInputError, lone_surrogate, read_notes, recorded_now, to_bundle
from .fhir_metadata import capability_statement, code_operation
from .service_schemas import (
    CHECK_RESULT,
    CODE_RESULT,
    EXPLAIN_RESULT,
    FHIR_BUNDLE,
    FHIR_INPUT,
    FHIR_JSON,
    HEALTH,
    READY,
    SEARCH_RESULT,
    VALIDATE_RESULT,
    answers,
    health_answers,
)

MAX_BODY_BYTES = 2_000_000
# Seconds of work one note may take (a 1 MB note of real text takes about 5 s; docs/RELIABILITY.md).
NOTE_BUDGET = 60.0
MAX_CODES = 200
MAX_SEARCH_RESULTS = 100
LOG = logging.getLogger("medcode.service")

Setting = Literal["inpatient", "outpatient"]
# a note's setting may also be read from the kind of document it is (`medcode code --setting`)
NoteSetting = Literal["auto", "inpatient", "outpatient"]
# A code as a user writes it ("e119", "E11.9"); its shape only: unknown codes are findings.
CodeText = Annotated[str, StringConstraints(pattern=r"^\s*[A-Za-z0-9][A-Za-z0-9.]{0,9}\s*$")]
DocumentName = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _note_text(value: str) -> str:
    if not value.strip():
        raise ValueError("text is empty")
    if "\x00" in value:
        raise ValueError("text holds NUL characters: binary data, not a note")
    # JSON's \\u escapes can carry half a surrogate pair, which is not Unicode text: the
    # pipeline and the UTF-8 answer would both fail on it.
    if lone_surrogate(value) is not None:
        raise ValueError("text holds a lone surrogate (a \\ud800-\\udfff escape): not Unicode text")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _example(**fields: Any) -> ConfigDict:
    """Unknown fields refused, and one example in the spec (the fuzz tests start from it)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [fields]})


EXAMPLE_NOTE = "Assessment: COPD with acute exacerbation. Denies chest pain."


class _Patient(_Request):
    """The patient and date of the claim (docs/CLAIMS.md); in a note, those not given are read
    from the note where it states them."""

    age: int | None = Field(None, ge=0, le=124, description="age in years")
    sex: Literal["F", "M"] | None = None
    discharge_status: int | None = Field(None, description="CMS discharge status (default 1)")
    date: datetime.date | None = Field(
        None, description="discharge or service date: the MS-DRG version, MCE and HCC year"
    )

    def patient(self) -> dict[str, Any]:
        return {
            "age": self.age,
            "sex": self.sex,
            "discharge_status": self.discharge_status,
            "date": self.date,
        }


class CodeRequest(_Patient):
    """A note to code; `document` names it in the result."""

    model_config = _example(text=EXAMPLE_NOTE, setting="outpatient", document="visit-1")

    text: str = Field(description="The note, plain text (UTF-8). Offsets count its characters.")
    setting: NoteSetting = "auto"
    document: DocumentName = "text"

    _text = field_validator("text")(_note_text)


class SearchRequest(_Request):
    model_config = _example(phrase="heart failure", limit=2)

    phrase: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    limit: int = Field(10, ge=1, le=MAX_SEARCH_RESULTS)


class CheckRequest(_Patient):
    """Codes to check against the rule packs, as `medcode check`; `drg` also groups the claim
    and runs the Medicare Code Editor, as `medcode check --drg` (docs/CLAIMS.md)."""

    model_config = _example(codes=["E11.9", "E10.9"], setting="inpatient", age=70, sex="F")

    codes: list[CodeText] = Field(min_length=1, max_length=MAX_CODES)
    setting: Setting = "inpatient"
    drg: bool = False


class ValidateRequest(_Request):
    model_config = _example(codes=["e119", "S72.001"])

    codes: list[CodeText] = Field(min_length=1, max_length=MAX_CODES)


class ExplainRequest(_Request):
    """Why `code` was, or was not, reported for the note."""

    model_config = _example(text=EXAMPLE_NOTE, code="R07.9")

    text: str
    code: CodeText
    setting: NoteSetting = "auto"
    document: DocumentName = "text"

    _text = field_validator("text")(_note_text)


class ServiceError(Exception):
    """A request the engine cannot take: answered with `status` and one line."""

    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class Engine:
    """The loaded engine shared by all requests; `run` serialises calls into it."""

    def __init__(self, coder: Coder, note_budget: float | None = NOTE_BUDGET):
        from medcode.engine.coding.search import Searcher

        self.coder = coder
        self.searcher = Searcher(coder.codeset, coder.lexicon, coder.walker)
        self.versions = dict(coder.versions)
        self.note_budget = note_budget
        # Taken per chunk of a note's work, in turn: a long note does not hold the others back.
        self._lock = TurnLock()

    def run(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            return work()

    def code_note(self, text: str, document: str, setting: str, **patient: Any) -> CodingResult:
        """One note, chunk by chunk under the engine's lock, within the note's time budget;
        `patient`: age, sex, discharge_status, date (Coder.code)."""
        pace = Pace(self.note_budget, self._lock)
        return self.coder.code(text, document=document, setting=setting, pace=pace, **patient)

    def code(self, request: CodeRequest) -> dict[str, Any]:
        result = self.code_note(
            request.text, request.document, request.setting, **request.patient()
        )
        return result.with_input(request.text).to_json()

    def search(self, request: SearchRequest) -> dict[str, Any]:
        found = self.run(lambda: self.searcher.search(request.phrase, request.limit))
        return {"query": request.phrase, "candidates": [c.to_json() for c in found]}

    def check(self, request: CheckRequest) -> dict[str, Any]:
        from medcode.engine.coding.claim import Patient, claim_grouper
        from medcode.engine.rulelang.check import check_codes

        from .rule_commands import check_json

        patient = Patient.parse(request.age, request.sex, request.discharge_status)
        codeset, rules = self.coder.codeset, self.coder.rules
        report = self.run(
            lambda: check_codes(
                codeset, rules, request.codes, request.setting, request.age, request.sex
            )
        )
        claim = None
        if request.drg:  # an InputError (a date, a code the grouper refuses) answers 422
            claim = claim_grouper().claim(
                report.given, setting=request.setting, patient=patient, date=request.date
            )
        return check_json(report.to_json(), claim)

    def validate(self, request: ValidateRequest) -> list[dict[str, Any]]:
        codeset = self.coder.codeset
        return self.run(lambda: [validate_code(codeset, c).to_json() for c in request.codes])

    def explain(self, request: ExplainRequest) -> dict[str, Any]:
        from medcode.engine.audit.explain import explain

        coder = self.coder
        node = coder.codeset.get(request.code)
        if node is None:
            raise ServiceError(422, "unknown_code", "code: not a code of the ICD-10-CM code set")

        text = request.text
        result = self.code_note(text, request.document, request.setting)
        return self.run(
            lambda: explain(
                result, text, node.key, coder.codeset, coder.lexicon, self.searcher
            ).to_json()
        )

    def fhir_code(self, resource: object, setting: str) -> tuple[dict[str, Any], int]:
        """The Bundle for the DocumentReferences of `resource`, and how many notes it coded."""
        notes = read_notes(resource)
        coded = [(n, self.code_note(n.text, n.document, setting)) for n in notes]
        return to_bundle(coded, recorded_now()), len(coded)


# -- response schemas (OpenAPI): the keys of the CLI's JSON; docs/schema/ has the full ones ---


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


# -- limits ------------------------------------------------------------------------------------

# How `medcode serve` hands each limit to its worker processes, which build the app themselves.
ENVIRONMENT = {
    "max_body_bytes": "MEDCODE_MAX_BODY_BYTES",
    "allowed_hosts": "MEDCODE_ALLOWED_HOSTS",
    "header_timeout": "MEDCODE_HEADER_TIMEOUT",
    "read_timeout": "MEDCODE_READ_TIMEOUT",
    "keep_alive_timeout": "MEDCODE_KEEP_ALIVE_TIMEOUT",
    "max_connections": "MEDCODE_MAX_CONNECTIONS",
    "max_header_bytes": "MEDCODE_MAX_HEADER_BYTES",
    "note_budget": "MEDCODE_NOTE_BUDGET",
}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one server process accepts (docs/SERVICE.md, "Limits and time-outs"). The app keeps
    the body limit and the Host allow-list; `ServiceProtocol` the rest (`server_options`).

    - `max_body_bytes`: a larger request body gets 413.
    - `allowed_hosts`: Host header names answered besides localhost, 127.0.0.1, ::1 and the
      address the client connected to; "*" answers any (and gives up the DNS-rebinding defence).
    - `header_timeout`: seconds from a connection's opening, or a request's first byte on a
      kept-alive connection, to the end of the request's headers.
    - `read_timeout`: seconds from the end of the headers to the end of the body.
    - `keep_alive_timeout`: idle seconds between requests before the connection is closed.
    - `max_connections`: open connections per process; one more is answered 503 and closed.
    - `max_header_bytes`: the request line and headers together.
    - `note_budget`: seconds of work a note may take (the time it waits for the engine is not
      counted); a note over it gets 422, and the requests behind it go on.
    """

    max_body_bytes: int = MAX_BODY_BYTES
    allowed_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0
    read_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 100
    max_header_bytes: int = 16_384
    note_budget: float = NOTE_BUDGET

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))  # a list is fine
        for name in ("max_body_bytes", "max_connections", "max_header_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number, at least 1")
        for name in ("header_timeout", "read_timeout", "keep_alive_timeout", "note_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds above 0")
        if not all(isinstance(h, str) and h.strip() for h in self.allowed_hosts):
            raise ValueError("allowed_hosts must be host names")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The limits named by the `MEDCODE_*` variables of `ENVIRONMENT`; defaults for the
        others. A value that is not a number is a ValueError naming the variable."""
        given: dict[str, Any] = {}
        for field in fields(cls):
            variable = ENVIRONMENT[field.name]
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            if field.name == "allowed_hosts":
                given[field.name] = tuple(h.strip() for h in raw.split(",") if h.strip())
                continue
            try:
                given[field.name] = int(raw) if isinstance(field.default, int) else float(raw)
            except ValueError:
                raise ValueError(f"{variable} must be a number") from None
        return cls(**given)

    def environment(self) -> dict[str, str]:
        """The variables that carry these limits to `app_from_environment` and
        `ServiceProtocol` in every worker process."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["allowed_hosts"] = ",".join(self.allowed_hosts)
        return {ENVIRONMENT[name]: str(value) for name, value in values.items()}


# -- who may call ------------------------------------------------------------------------------

API_KEYS_ENV = "MEDCODE_API_KEYS"  # comma-separated
API_KEYS_FILE_ENV = "MEDCODE_API_KEYS_FILE"  # one key a line
NO_AUTH_ENV = "MEDCODE_NO_AUTH"  # "1": no keys, chosen (medcode serve --no-auth, loopback only)
OPEN_METRICS_ENV = "MEDCODE_OPEN_METRICS"  # "1": /metrics without a key
MIN_KEY_CHARS = 16
# Answered without a key: probes, and the API's description (the spec is public: docs/openapi.json).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc"})
OPEN_PREFIXES = ("/openapi.json", "/static-offline-docs/")
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what an HTTP header carries as is


# The two ways to send a key, declared in the spec (Swagger UI's "Authorize"); `Authenticate`
# does the checking, before FastAPI sees the request.
KEYED = [
    Depends(HTTPBearer(auto_error=False, description="an API key as a bearer token")),
    Depends(APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")),
]


class AuthError(ValueError):
    """Keys that cannot be used, or a server that would be open where it must not be: one line
    that never quotes a key."""


@dataclass(frozen=True, slots=True)
class Auth:
    """Who may call: any request bearing one of the keys, as `Authorization: Bearer KEY` or
    `X-API-Key: KEY`. Only the keys' SHA-256 digests are kept, and a presented key is compared
    with every one of them by `hmac.compare_digest` (equal lengths, no early exit), so the time
    of an answer tells nothing of which key, or how much of one, matched. `open_metrics` lets
    /metrics answer without a key."""

    digests: tuple[bytes, ...] = dataclass_field(repr=False)
    open_metrics: bool = False

    @classmethod
    def of(cls, keys: tuple[str, ...] | list[str], open_metrics: bool = False) -> Auth:
        """Checked keys: at least one, each at least `MIN_KEY_CHARS` visible ASCII characters."""
        if not keys:
            raise AuthError("no API keys given")
        for number, key in enumerate(keys, 1):
            if len(key) < MIN_KEY_CHARS or not _KEY_SHAPE.match(key):
                raise AuthError(
                    f"API key {number}: must be at least {MIN_KEY_CHARS} characters, "
                    "letters, digits and punctuation (no spaces)"
                )
        digests = tuple(hashlib.sha256(k.encode("ascii")).digest() for k in keys)
        return cls(digests, open_metrics)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Auth | None:
        """The keys of `MEDCODE_API_KEYS` and of the file `MEDCODE_API_KEYS_FILE` (blank lines
        and `#` comments skipped); None when `MEDCODE_NO_AUTH=1` chose no authentication. No
        keys and no such choice, or both, is an AuthError."""
        keys = [k.strip() for k in environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
        path = environ.get(API_KEYS_FILE_ENV, "").strip()
        if path:
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                why = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise AuthError(f"{API_KEYS_FILE_ENV}: cannot read {path}: {why}") from None
            keys += [k.strip() for k in lines if k.strip() and not k.lstrip().startswith("#")]
        no_auth = environ.get(NO_AUTH_ENV, "").strip() == "1"
        if no_auth:
            if keys:
                raise AuthError("API keys given and authentication turned off: choose one")
            return None
        if not keys:
            raise AuthError(
                f"no API keys: set {API_KEYS_ENV} or {API_KEYS_FILE_ENV} "
                "(or --no-auth, on a loopback address only)"
            )
        return cls.of(keys, environ.get(OPEN_METRICS_ENV, "").strip() == "1")

    @classmethod
    def for_server(cls, host: str, environ: Mapping[str, str] = os.environ) -> Auth | None:
        """`from_environment`, and no authentication only on a loopback address: what
        `medcode serve` checks before it starts."""
        chosen = cls.from_environment(environ)
        if chosen is None and not is_loopback(host):
            raise AuthError(
                f"--no-auth is for a loopback address only, not {host}: give API keys "
                f"({API_KEYS_ENV} or --api-keys-file)"
            )
        return chosen

    def admits(self, scope: dict) -> bool:
        """Whether the request may go on: an open path, or one of the keys."""
        path = scope["path"]
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return True
        if path == "/metrics" and self.open_metrics:
            return True
        presented = _presented_key(scope["headers"])
        if presented is None:
            return False
        digest = hashlib.sha256(presented).digest()
        matched = False
        for known in self.digests:  # every key, always: no early exit
            matched |= hmac.compare_digest(digest, known)
        return matched


def _presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, as given to --host) is this machine only."""
    name = _host_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Authenticate:
    """ASGI middleware: 401 for a request without a valid key (`Auth.admits`), the same answer
    for a missing, malformed or unknown key, with `WWW-Authenticate: Bearer`. It runs before
    the body is read."""

    def __init__(self, app: Callable, auth: Auth):
        self.app, self.auth = app, auth

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or self.auth.admits(scope):
            await self.app(scope, receive, send)
            return
        body, media = _error_body(
            scope["path"],
            401,
            "unauthorized",
            "authentication required: send an API key as Authorization: Bearer KEY "
            "or X-API-Key: KEY",
        )
        answer = JSONResponse(
            body,
            status_code=401,
            media_type=media,
            headers={"WWW-Authenticate": 'Bearer realm="medcode"'},
        )
        await answer(scope, receive, send)


# -- request ids and logs ----------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is taken only in this shape (a UUID, a trace id): never free text, which could
# carry anything into the logs.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "medcode_request_id", default="-"
)


class RequestId:
    """ASGI middleware: the request's id, the caller's `X-Request-ID` if well formed, else a
    new UUID; echoed in the answer's `X-Request-ID` and set for every log line written while
    the request runs (`RequestIdFilter`), the access log line included."""

    def __init__(self, app: Callable):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        given_text = given.decode("latin-1")
        request_id = given_text if _REQUEST_ID.match(given_text) else uuid.uuid4().hex
        token = _current_request_id.set(request_id)

        async def tagged(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            _current_request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every log record a `request_id`: the id of the request it was written for, "-"
    outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current_request_id.get()
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration (`uvicorn.run(log_config=...)`) with the request id in
    every line, the service's own log (`medcode.*`) included."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"request_id": {"()": RequestIdFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["request_id"]
    config["formatters"]["default"]["fmt"] = "%(levelprefix)s [%(request_id)s] %(message)s"
    config["formatters"]["access"]["fmt"] = (
        '%(levelprefix)s [%(request_id)s] %(client_addr)s - "%(request_line)s" %(status_code)s'
    )
    config["loggers"]["medcode"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


# -- metrics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    """The app's Prometheus registry (one per app, so apps in one process do not share counts)
    and the service's own counters; the instrumentator adds the HTTP ones to it."""

    registry: CollectorRegistry
    notes_coded: Counter
    notes_over_budget: Counter

    @classmethod
    def new(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry,
            Counter(
                "medcode_notes_coded",
                "Notes coded, by endpoint.",
                ["endpoint"],
                registry=registry,
            ),
            Counter(
                "medcode_notes_over_budget",
                "Notes stopped by their time budget (answered 422 over_budget), by endpoint.",
                ["endpoint"],
                registry=registry,
            ),
        )


# -- the app -----------------------------------------------------------------------------------


def create_app(
    engine: Engine | None = None,
    *,
    limits: Limits = Limits(),
    load: Callable[[], Engine] | None = None,
    auth: Auth | None = None,
) -> FastAPI:
    """The ASGI app. `engine` is shared by every request; without one, `load` builds it at
    start-up (uvicorn runs the lifespan before it accepts a connection). `auth` None answers
    anyone: an embedder that puts authentication in front; `medcode serve` asks for keys."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "engine", None) is None and load is not None:
            app.state.engine = load()
        yield

    # /docs and /redoc from the package's own copies of Swagger UI and ReDoc: no CDN
    app = FastAPIOffline(
        title="medcode",
        version=package_version(),
        description=(
            "Deterministic ICD-10-CM coding: the `medcode` command line as a REST service, "
            "and FHIR R4 in and out. See docs/SERVICE.md."
        ),
        lifespan=lifespan,
    )
    app.state.engine = engine

    def current(request: Request) -> Engine:
        loaded = request.app.state.engine
        if loaded is None:
            raise ServiceError(503, "not_ready", "the engine is not loaded")
        return loaded

    metrics = Metrics.new()
    app.state.metrics = metrics

    @app.get("/healthz", responses=health_answers(HEALTH))
    async def healthz(request: Request) -> JSONResponse:
        """Liveness and the versions every answer is made with."""
        return JSONResponse({"status": "ok", "versions": current(request).versions})

    @app.get("/readyz", responses=health_answers(READY, 503))
    async def readyz(request: Request) -> JSONResponse:
        """Ready for requests: the engine is loaded (503 `not_ready` before)."""
        current(request)
        return JSONResponse({"status": "ready"})

    @app.post("/v1/code", responses=answers(CODE_RESULT), dependencies=KEYED)
    def code(body: CodeRequest, request: Request) -> JSONResponse:
        """Code one note: the JSON of `medcode code --format json`."""
        answer = current(request).code(body)
        metrics.notes_coded.labels("/v1/code").inc()
        return JSONResponse(answer)

    @app.post("/v1/search", responses=answers(SEARCH_RESULT), dependencies=KEYED)
    def search(body: SearchRequest, request: Request) -> JSONResponse:
        """Ranked candidate codes for a phrase: `medcode search --format json`."""
        return JSONResponse(current(request).search(body))

    @app.post("/v1/check", responses=answers(CHECK_RESULT), dependencies=KEYED)
    def check(body: CheckRequest, request: Request) -> JSONResponse:
        """Rule edits on a set of codes: `medcode check --format json` (200 even with error
        edits: they are findings about the codes, not a failed request)."""
        return JSONResponse(current(request).check(body))

    @app.post("/v1/validate", responses=answers(VALIDATE_RESULT), dependencies=KEYED)
    def validate(body: ValidateRequest, request: Request) -> JSONResponse:
        """Valid? billable? description, suggestions: `medcode validate --format json`."""
        return JSONResponse(current(request).validate(body))

    @app.post("/v1/explain", responses=answers(EXPLAIN_RESULT), dependencies=KEYED)
    def explain(body: ExplainRequest, request: Request) -> JSONResponse:
        """Why a code was or was not reported for a note: `medcode explain --format json`."""
        answer = current(request).explain(body)
        metrics.notes_coded.labels("/v1/explain").inc()
        return JSONResponse(answer)

    @app.post(
        "/fhir/r4/$code",
        response_class=FhirResponse,
        responses=answers(FHIR_BUNDLE, FHIR_JSON),
        dependencies=KEYED,
        openapi_extra={
            "requestBody": {
                "content": {m: {"schema": FHIR_INPUT} for m in (FHIR_JSON, "application/json")}
            }
        },
    )
    def fhir_code(
        request: Request,
        resource: Annotated[
            dict[str, Any],
            Body(description=FHIR_INPUT["description"]),
        ],
        setting: Annotated[NoteSetting, Query()] = "auto",
    ) -> JSONResponse:
        """FHIR R4 in and out: a Bundle of Condition (ICD-10-CM) and Provenance resources."""
        try:
            bundle, notes = current(request).fhir_code(resource, setting)
        except FhirInputError as exc:
            raise ServiceError(422, "invalid_fhir", str(exc)) from exc
        metrics.notes_coded.labels("/fhir/r4/$code").inc(notes)
        return FhirResponse(bundle)

    # FHIR's own discovery, answered without the engine; FHIR clients read these, not OpenAPI.
    @app.get("/fhir/r4/metadata", response_class=FhirResponse, include_in_schema=False)
    def fhir_metadata() -> JSONResponse:
        """The CapabilityStatement of the FHIR endpoint."""
        return FhirResponse(capability_statement())

    @app.get(
        "/fhir/r4/OperationDefinition/code", response_class=FhirResponse, include_in_schema=False
    )
    def fhir_code_operation() -> JSONResponse:
        """The OperationDefinition of $code."""
        return FhirResponse(code_operation())

    _install_error_handlers(app)
    # The last added runs first: Guard, RequestId, the metrics (which count 401s, 413s...),
    # Authenticate (before any body is read), BodyLimit.
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    if auth is not None:
        app.add_middleware(Authenticate, auth=auth)
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["^/metrics$"],
        registry=metrics.registry,
    ).instrument(app).expose(app, include_in_schema=False)
    app.add_middleware(RequestId)
    app.add_middleware(Guard, allowed_hosts=limits.allowed_hosts)  # outermost
    return app


# -- errors: one line, never the request -------------------------------------------------------

# The body model of each endpoint: its field names are the only names an error may show.
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v1/code": CodeRequest,
    "/v1/search": SearchRequest,
    "/v1/check": CheckRequest,
    "/v1/validate": ValidateRequest,
    "/v1/explain": ExplainRequest,
}
_LOC_NAMES = frozenset(
    {"body", "query", "setting"} | {f for m in REQUEST_MODELS.values() for f in m.model_fields}
)
# Clearer words than pydantic's for the errors a caller is likely to make.
_REASONS = {
    "string_pattern_mismatch": "not shaped like an ICD-10-CM code (letters, digits, a dot)",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "string_unicode": "not Unicode text (a lone surrogate)",
}
_FHIR_ISSUE = {
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    401: "login",
    413: "too-long",
    415: "not-supported",
    421: "security",
    500: "exception",
    503: "transient",
}


def _error_body(
    path: str, status: int, kind: str, message: str, **extra: Any
) -> tuple[dict[str, Any], str]:
    """The JSON of an error and its media type: an OperationOutcome under /fhir/."""
    if path.startswith("/fhir/"):
        issue = {"severity": "error", "code": _FHIR_ISSUE.get(status, "invalid")}
        issue["diagnostics"] = message
        return {"resourceType": "OperationOutcome", "issue": [issue]}, FHIR_JSON
    return {"error": kind, "message": message, **extra}, "application/json"


def _error(request_path: str, status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    body, media = _error_body(request_path, status, kind, message, **extra)
    return JSONResponse(body, status_code=status, media_type=media)


def _safe_loc(loc: tuple[Any, ...] | list[Any]) -> list[str]:
    """A pydantic error's location up to its first part that is not a field name of ours or
    a list index: an unknown key is request content, and is not echoed."""
    safe: list[str] = []
    for part in loc:
        if not (isinstance(part, int) or part in _LOC_NAMES):
            break
        safe.append(str(part))
    return safe


def _log_internal(scope: dict, exc: BaseException) -> None:
    """The traceback of a bug, without the exception's message: it may quote the note."""
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    LOG.error(
        "internal error on %s %s: %s (its message is withheld: it may quote the request)\n"
        "Traceback (most recent call last):\n%s",
        scope.get("method"),
        scope.get("path"),
        type(exc).__qualname__,
        frames,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(request.url.path, exc.status, exc.kind, exc.message)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        kind = "over_budget" if isinstance(exc, BudgetExceeded) else "invalid_input"
        if kind == "over_budget":
            request.app.state.metrics.notes_over_budget.labels(request.url.path).inc()
        return _error(request.url.path, 422, kind, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never the "input" or "ctx" of pydantic's errors, nor a key we do not know: they
        # would echo the request.
        raw = exc.errors()
        if any(e.get("type") == "json_invalid" for e in raw):
            return _error(request.url.path, 400, "malformed_json", "the body is not valid JSON")
        errors = [
            {"loc": _safe_loc(e.get("loc", ())), "type": str(e.get("type")), "msg": e["msg"]}
            for e in raw
        ]
        first = errors[0] if errors else {"loc": [], "type": "", "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body", "query")) or "body"
        if first["type"] == "extra_forbidden":
            model = REQUEST_MODELS.get(request.url.path)
            known = ", ".join(model.model_fields) if model else ""
            why = f"unknown field (the fields are: {known})" if known else "unknown field"
        else:
            why = _REASONS.get(first["type"]) or first["msg"].removeprefix("Value error, ")
            why = why[0].lower() + why[1:]
        return _error(request.url.path, 422, "invalid_request", f"{where}: {why}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        if exc.status_code == 400:  # FastAPI's answer to a body json.loads cannot take
            why = "the body is not UTF-8 JSON (or nests too deeply)"
            return _error(request.url.path, 400, "malformed_json", why)
        return _error(request.url.path, exc.status_code, kind, str(exc.detail))


class Guard:
    """The outermost ASGI middleware. It answers only for the allowed Host names: a web page
    whose DNS name is pointed at this server's address (DNS rebinding) sends its own name as
    Host, and gets 421. And it is the last word on a bug: 500 JSON, the traceback logged
    without the exception's message, the connection kept open."""

    def __init__(self, app: Callable, allowed_hosts: tuple[str, ...] = ()):
        self.app = app
        self.any_host = "*" in allowed_hosts
        names = (*LOOPBACK_NAMES, *(h for h in allowed_hosts if h != "*"))
        self.allowed = frozenset(_host_name(h) for h in names)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._allowed(scope):
            await _send(
                scope,
                receive,
                send,
                scope["path"],
                421,
                "misdirected_request",
                "this server does not answer for the name in the Host header "
                "(medcode serve --allow-host NAME adds one)",
            )
            return
        started = False

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            _log_internal(scope, exc)
            if not started:  # else uvicorn closes the connection of an unfinished answer
                await _send(
                    scope,
                    receive,
                    send,
                    scope["path"],
                    500,
                    "internal",
                    "internal error; see the server log",
                )

    def _allowed(self, scope: dict) -> bool:
        if self.any_host:
            return True
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        if host is None:  # HTTP/1.0 without Host: no browser sends that
            return True
        name = _host_name(host.decode("latin-1"))
        server = scope.get("server")
        return name in self.allowed or (server is not None and name == _host_name(server[0]))


def _host_name(host: str) -> str:
    """The name of a Host header or an address: no port, no brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # a name or IPv4 address with a port (an IPv6 address has more)
        host = host.partition(":")[0]
    return host.rstrip(".")


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes (by Content-Length, or counted while
    it streams: the body is read before the app sees it, so memory stays bounded), 415 for a
    POST body that is not JSON."""

    def __init__(self, app: Callable, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            await _send(
                scope,
                receive,
                send,
                path,
                415,
                "unsupported_media_type",
                "send the body as JSON (Content-Type: application/json)",
            )
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await _send(scope, receive, send, path, 413, "too_large", self._too_large())
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _send(scope, receive, send, path, 413, "too_large", self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body over {self.limit} bytes"


async def _send(
    scope: dict,
    receive: Callable,
    send: Callable[[dict], Awaitable[None]],
    path: str,
    status: int,
    kind: str,
    message: str,
) -> None:
    await _error(path, status, kind, message)(scope, receive, send)


# -- the connection: time-outs and a cap -------------------------------------------------------


class ServiceProtocol(H11Protocol):
    """uvicorn's h11 protocol with the connection-level `Limits` uvicorn lacks. A request's
    line and headers must arrive within `header_timeout` (counted from the connection's
    opening, or from the request's first byte on a kept-alive connection) and its body within
    `read_timeout` of the headers; else the answer is 408 and the connection is closed (a
    connection that never sent a byte is just closed). A connection beyond `max_connections`
    is answered 503 and closed at once, so idle clients cannot use up the process's file
    descriptors. Idle kept-alive connections close after `keep_alive_timeout`; a request line
    and headers over `max_header_bytes` get 431, malformed ones 400 (as JSON, like every other
    error), and the connection is closed."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits if limits is not None else Limits.from_environment()
        self.conn = h11.Connection(h11.SERVER, self.limits.max_header_bytes)
        self.timeout_keep_alive = self.limits.keep_alive_timeout  # type: ignore[assignment]
        self._timer: asyncio.TimerHandle | None = None
        self._reading: Literal["headers", "body"] | None = None
        self._head_bytes = 0  # of the request line and headers read so far
        self._head_tail = b""  # their last bytes, to find the blank line that ends them

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning(
                "Refused a connection: %d are open, the limit.", self.limits.max_connections
            )
            self._answer_and_close(
                503,
                "too_many_connections",
                f"the server holds {self.limits.max_connections} connections, its limit; "
                "retry later",
            )
            return
        self._expect("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading is None and self.conn.their_state is h11.IDLE:
            self._expect("headers")  # the first bytes of the next request
        if self._reading == "headers" and not self._head_fits(data):
            self._expect(None)
            self._answer_and_close(
                431,
                "headers_too_large",
                f"the request line and headers are over {self.limits.max_header_bytes} bytes",
            )
            return
        super().data_received(data)
        self._follow()

    def _head_fits(self, data: bytes) -> bool:
        """Whether the request line and headers, with `data`, are within the limit. (h11's own
        limit only bounds headers still incomplete: a large head in one read would pass.)"""
        seen = self._head_tail + data
        end = HEAD_END.search(seen)
        if end is None:
            self._head_bytes += len(data)
            self._head_tail = seen[-3:]
        else:
            self._head_bytes += end.end() - len(self._head_tail)
        return self._head_bytes <= self.limits.max_header_bytes

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def send_400_response(self, msg: str) -> None:
        # h11 refused the request line or headers: answered as JSON, like every other error
        body = json.dumps(
            {
                "error": "bad_request",
                "message": "the request line or headers are not valid HTTP/1.1",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _follow(self) -> None:
        """Time what the client sends now: the rest of the headers, a body, or nothing."""
        if self.transport.is_closing():
            self._expect(None)
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._reading != "body":
                self._expect("body")
        elif state is h11.IDLE and self._reading == "headers":
            pass  # the headers are still coming in
        else:
            self._expect(None)
            # Between requests: uvicorn's keep-alive timer, which the unread rest of a body
            # answered early (a 413) may have cancelled as it came in.
            if state is h11.IDLE and self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def _expect(self, part: Literal["headers", "body"] | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._reading = part
        if part == "headers":
            self._head_bytes, self._head_tail = 0, b""
            self._timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)
        elif part == "body":
            self._timer = self.loop.call_later(self.limits.read_timeout, self._body_late)

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if not self._head_bytes:  # an idle connection that never asked for anything
            self.transport.close()
            return
        self.logger.info("Closed a connection: its request headers were late.")
        self._answer_and_close(
            408,
            "request_timeout",
            f"the request line and headers did not arrive within {self.limits.header_timeout:g} s",
        )

    def _body_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:  # answered already: the rest is not read
            self.transport.close()
            return
        self.logger.info("Closed a connection: its request body was late.")
        # The app waiting for the body is told the client left; its answer would be too late.
        cycle.disconnected = True
        cycle.message_event.set()
        self._answer_and_close(
            408,
            "request_timeout",
            f"the request body did not arrive within {self.limits.read_timeout:g} s",
            self.scope["path"],
        )

    def _answer_and_close(self, status: int, kind: str, message: str, path: str = "") -> None:
        """An answer written past h11 (no request to answer, or one the app no longer may),
        then the end of the connection."""
        body, media = _error_body(path, status, kind, message)
        payload = json.dumps(body, separators=(",", ":")).encode()
        reason = STATUS_REASONS[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: {media}\r\n"
            f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + payload)
        self.transport.close()


STATUS_REASONS = {
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
# The blank line that ends a request's headers (h11 also takes bare newlines).
HEAD_END = re.compile(rb"\n\r?\n")


def server_options(limits: Limits | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` or `uvicorn.Config` that apply `limits` (default:
    from the environment) to every connection: `ServiceProtocol` with the time-outs, the
    connection cap and the header size limit. Picklable, for uvicorn's worker processes."""
    chosen = limits if limits is not None else Limits.from_environment()
    return {"http": functools.partial(ServiceProtocol, limits=chosen)}


def app_from_environment() -> FastAPI:
    """The app `medcode serve` runs (a uvicorn factory, so every worker process loads its own
    engine): `MEDCODE_TABULAR` as for the CLI, the `Limits` from `ENVIRONMENT`'s variables,
    the keys as `Auth.from_environment` reads them (an AuthError without any), added rule
    packs from `MEDCODE_RULES`."""
    tabular = os.environ.get("MEDCODE_TABULAR") or None
    limits = Limits.from_environment()
    rules = RuleBook.from_environment()  # `serve --rules` / `--rules-only`, linted by the CLI
    return create_app(
        limits=limits,
        load=lambda: Engine(Coder(tabular, rules=rules), note_budget=limits.note_budget),
        auth=Auth.from_environment(),
    )


__all__ = [
    "ENVIRONMENT",
    "Auth",
    "AuthError",
    "Authenticate",
    "BodyLimit",
    "Engine",
    "Guard",
    "Limits",
    "Metrics",
    "RequestId",
    "RequestIdFilter",
    "ServiceError",
    "ServiceProtocol",
    "app_from_environment",
    "create_app",
    "is_loopback",
    "log_config",
    "server_options",
]
