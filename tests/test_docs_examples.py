"""Every `$ medcode ...` example in README.md and docs/*.md runs and prints what the page shows,
so examples cannot drift from the engine (issue 18, item 7). The rules of an example are in
tools/doc_examples.py, which also rewrites the outputs that differ (--update)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from doc_examples import Example, examples, matches, prepare, run


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for all examples, run in page order: an example may read what one before it
    wrote (`medcode code copd.txt --format json > copd.json`, then `medcode replay copd.json`)."""
    return prepare(tmp_path_factory.mktemp("examples"))


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.name[:70])
def test_the_example_prints_what_the_page_shows(example: Example, folder: Path) -> None:
    printed = run(example, folder)
    assert matches(example.shown, printed), "\n".join([example.name, "printed:", *printed])


def test_the_pages_have_examples() -> None:
    pages = {e.page.name for e in examples()}
    assert {"README.md", "AUDIT.md", "CLI.md", "RULES.md"} <= pages
