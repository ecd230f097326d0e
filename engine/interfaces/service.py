"""The REST service behind `medcode serve` (docs/SERVICE.md; the spec is docs/openapi.json).

Every /v1 endpoint answers with the JSON of the matching command (`medcode code --format json`,
`search`, `check`, `validate`, `explain`); FHIR R4 in and out at /fhir/r4/$code (fhir.py).

One engine per process, loaded at start-up and shared by every request. Calls into it are
serialised by one lock: spaCy does not promise that a pipeline may run in several threads at
once (the vocabulary grows as new words are seen, and medspaCy components keep state per call),
and under the GIL the work is CPU-bound anyway, so the lock costs no throughput. Parallelism is
by processes: `medcode serve --workers N`, each worker with its own engine.

Bad input is a 4xx JSON answer with one clear line: 400 malformed JSON, 413 a body over the
limit, 415 not JSON, 422 a request the engine cannot take (empty or binary text, unknown
setting, malformed codes, unknown fields). Under /fhir the same errors are OperationOutcomes.
Errors never echo the request: notes carry PHI.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from medcode.engine.coding.coder import Coder, InputError
from medcode.terminology import normalize_code, validate_code
from medcode.terminology.cache import package_version

from .fhir import FhirInputError, read_notes, recorded_now, to_bundle
from .service_schemas import (
    CHECK_RESULT,
    CODE_RESULT,
    EXPLAIN_RESULT,
    FHIR_BUNDLE,
    FHIR_INPUT,
    FHIR_JSON,
    HEALTH,
    SEARCH_RESULT,
    VALIDATE_RESULT,
    answers,
)

MAX_BODY_BYTES = 2_000_000
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
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeRequest(_Request):
    """A note to code; `document` names it in the result."""

    text: str = Field(description="The note, plain text (UTF-8). Offsets count its characters.")
    setting: NoteSetting = "auto"
    document: DocumentName = "text"

    _text = field_validator("text")(_note_text)


class SearchRequest(_Request):
    phrase: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    limit: int = Field(10, ge=1, le=MAX_SEARCH_RESULTS)


class CheckRequest(_Request):
    """Codes to check against the rule packs, as `medcode check`."""

    codes: list[CodeText] = Field(min_length=1, max_length=MAX_CODES)
    setting: Setting = "inpatient"
    age: int | None = Field(None, ge=0, le=150)
    sex: Literal["F", "M"] | None = None


class ValidateRequest(_Request):
    codes: list[CodeText] = Field(min_length=1, max_length=MAX_CODES)


class ExplainRequest(_Request):
    """Why `code` was, or was not, reported for the note."""

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

    def __init__(self, coder: Coder):
        from medcode.engine.coding.search import Searcher

        self.coder = coder
        self.searcher = Searcher(coder.codeset, coder.lexicon, coder.walker)
        self.versions = dict(coder.versions)
        self._lock = threading.Lock()

    def run(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            return work()

    def code(self, request: CodeRequest) -> dict[str, Any]:
        result = self.run(
            lambda: self.coder.code(
                request.text, document=request.document, setting=request.setting
            )
        )
        return result.with_input(request.text).to_json()

    def search(self, request: SearchRequest) -> dict[str, Any]:
        found = self.run(lambda: self.searcher.search(request.phrase, request.limit))
        return {"query": request.phrase, "candidates": [c.to_json() for c in found]}

    def check(self, request: CheckRequest) -> dict[str, Any]:
        from medcode.engine.rulelang.check import check_codes

        codeset, rules = self.coder.codeset, self.coder.rules
        report = self.run(
            lambda: check_codes(
                codeset, rules, request.codes, request.setting, request.age, request.sex
            )
        )
        return report.to_json()

    def validate(self, request: ValidateRequest) -> list[dict[str, Any]]:
        codeset = self.coder.codeset
        return self.run(lambda: [validate_code(codeset, c).to_json() for c in request.codes])

    def explain(self, request: ExplainRequest) -> dict[str, Any]:
        from medcode.engine.audit.explain import explain

        coder = self.coder
        node = coder.codeset.get(request.code)
        if node is None:
            code = normalize_code(request.code)
            raise ServiceError(422, "unknown_code", f"{code} is not an ICD-10-CM code")

        def work() -> dict[str, Any]:
            text = request.text
            result = coder.code(text, document=request.document, setting=request.setting)
            answer = explain(result, text, node.key, coder.codeset, coder.lexicon, self.searcher)
            return answer.to_json()

        return self.run(work)

    def fhir_code(self, resource: object, setting: str) -> dict[str, Any]:
        notes = read_notes(resource)
        coded = self.run(
            lambda: [
                (n, self.coder.code(n.text, document=n.document, setting=setting)) for n in notes
            ]
        )
        return to_bundle(coded, recorded_now())


# -- response schemas (OpenAPI): the keys of the CLI's JSON; docs/schema/ has the full ones ---


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


# -- the app -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = MAX_BODY_BYTES


def create_app(
    engine: Engine | None = None,
    *,
    limits: Limits = Limits(),
    load: Callable[[], Engine] | None = None,
) -> FastAPI:
    """The ASGI app. `engine` is shared by every request; without one, `load` builds it at
    start-up (uvicorn runs the lifespan before it accepts a connection)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "engine", None) is None and load is not None:
            app.state.engine = load()
        yield

    app = FastAPI(
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

    @app.get("/healthz", responses={200: {"content": {"application/json": {"schema": HEALTH}}}})
    async def healthz(request: Request) -> JSONResponse:
        """Liveness and the versions every answer is made with."""
        return JSONResponse({"status": "ok", "versions": current(request).versions})

    @app.post("/v1/code", responses=answers(CODE_RESULT))
    def code(body: CodeRequest, request: Request) -> JSONResponse:
        """Code one note: the JSON of `medcode code --format json`."""
        return JSONResponse(current(request).code(body))

    @app.post("/v1/search", responses=answers(SEARCH_RESULT))
    def search(body: SearchRequest, request: Request) -> JSONResponse:
        """Ranked candidate codes for a phrase: `medcode search --format json`."""
        return JSONResponse(current(request).search(body))

    @app.post("/v1/check", responses=answers(CHECK_RESULT))
    def check(body: CheckRequest, request: Request) -> JSONResponse:
        """Rule edits on a set of codes: `medcode check --format json` (200 even with error
        edits: they are findings about the codes, not a failed request)."""
        return JSONResponse(current(request).check(body))

    @app.post("/v1/validate", responses=answers(VALIDATE_RESULT))
    def validate(body: ValidateRequest, request: Request) -> JSONResponse:
        """Valid? billable? description, suggestions: `medcode validate --format json`."""
        return JSONResponse(current(request).validate(body))

    @app.post("/v1/explain", responses=answers(EXPLAIN_RESULT))
    def explain(body: ExplainRequest, request: Request) -> JSONResponse:
        """Why a code was or was not reported for a note: `medcode explain --format json`."""
        return JSONResponse(current(request).explain(body))

    @app.post(
        "/fhir/r4/$code",
        response_class=FhirResponse,
        responses=answers(FHIR_BUNDLE, FHIR_JSON),
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
            bundle = current(request).fhir_code(resource, setting)
        except FhirInputError as exc:
            raise ServiceError(422, "invalid_fhir", str(exc)) from exc
        return FhirResponse(bundle)

    _install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    return app


def _error(request_path: str, status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    if request_path.startswith("/fhir/"):
        issue = {"severity": "error", "code": _FHIR_ISSUE.get(status, "invalid")}
        issue["diagnostics"] = message
        body = {"resourceType": "OperationOutcome", "issue": [issue]}
        return JSONResponse(body, status_code=status, media_type=FHIR_JSON)
    return JSONResponse({"error": kind, "message": message, **extra}, status_code=status)


# Clearer words than pydantic's for the errors a caller is likely to make.
_REASONS = {
    "string_pattern_mismatch": "not shaped like an ICD-10-CM code (letters, digits, a dot)",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
}
_FHIR_ISSUE = {413: "too-long", 415: "not-supported", 500: "exception", 503: "transient"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(request.url.path, exc.status, exc.kind, exc.message)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return _error(request.url.path, 422, "invalid_input", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never the "input" of pydantic's errors: it would echo the note.
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type"), "msg": e["msg"]}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return _error(request.url.path, 400, "malformed_json", "the body is not valid JSON")
        first = errors[0] if errors else {"loc": [], "type": "", "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "body"
        why = _REASONS.get(first["type"]) or first["msg"].removeprefix("Value error, ")
        message = f"{where}: {why[0].lower()}{why[1:]}"
        return _error(
            request.url.path, 422, "invalid_request", message, errors=jsonable_encoder(errors)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode
            return _error(request.url.path, 400, "malformed_json", "the body is not UTF-8 JSON")
        return _error(request.url.path, exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("internal error on %s %s", request.method, request.url.path)
        return _error(request.url.path, 500, "internal", "internal error; see the server log")


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


def app_from_environment() -> FastAPI:
    """The app `medcode serve` runs (a uvicorn factory, so every worker process loads its own
    engine): `MEDCODE_TABULAR` as for the CLI, `MEDCODE_MAX_BODY_BYTES` the body limit."""
    limit = int(os.environ.get("MEDCODE_MAX_BODY_BYTES", MAX_BODY_BYTES))
    tabular = os.environ.get("MEDCODE_TABULAR") or None
    return create_app(limits=Limits(limit), load=lambda: Engine(Coder(tabular)))


__all__ = ["BodyLimit", "Engine", "Limits", "ServiceError", "app_from_environment", "create_app"]
