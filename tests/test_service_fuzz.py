"""Fuzzing the REST service against its committed OpenAPI (docs/openapi.json) with schemathesis:
for every operation, requests the spec allows and requests it forbids, sent to a real uvicorn on
loopback; no answer may be a 5xx, and every answer must be one the spec lists, with its media
type and schema. Deterministic (derandomized, fixed seed) and bounded: a few examples an
operation, a few seconds in all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from medcode.engine.coding.coder import Coder  # noqa: E402
from medcode.engine.interfaces.service import (  # noqa: E402
    Engine,
    Limits,
    create_app,
    server_options,
)

from .live_server import serving  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # what the spec forbids, the server refuses (a 4xx)
    negative_data_rejection,
]
EXAMPLES = 30  # an operation, in each of the two modes (allowed, forbidden)

schema = schemathesis.openapi.from_path(SPEC)
schema.config.seed = 19
schema.config.phases.update(phases=["examples", "fuzzing"])
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The service, with `medcode serve`'s limits, on a free loopback port."""
    limits = Limits()
    app = create_app(Engine(Coder()), limits=limits)
    with serving(app, log_level="warning", **server_options(limits)) as (port, _):
        yield f"http://127.0.0.1:{port}"


def test_the_fuzzed_spec_is_the_apps() -> None:
    assert json.loads(SPEC.read_text(encoding="utf-8")) == create_app().openapi(), (
        "regenerate: medcode serve --openapi > docs/openapi.json"
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=CHECKS)
