"""Shared fixtures: one FY2026 code set per test session, cached in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medcode.terminology import CodeSet, load_codeset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests never touch the user's cache; subprocesses inherit the variable.
    os.environ["MEDCODE_CACHE_DIR"] = str(tmp_path_factory.mktemp("medcode-cache"))
    os.environ.pop("MEDCODE_TABULAR", None)


@pytest.fixture(scope="session")
def codeset(_private_cache: None) -> CodeSet:
    return load_codeset()
