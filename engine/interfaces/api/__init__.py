"""medcode: deterministic ICD-10-CM coding, as a Python library (docs/API.md).

    import medcode

    result = medcode.code("Assessment: type 2 diabetes with CKD stage 3a.", setting="outpatient")
    for c in result.codes:
        print(c.sequence, c.code, c.description)

    coder = medcode.Coder()  # load once (a few seconds), then code many notes
    for result in coder.pipe(notes, n_process=2):
        rows = result.to_dataframe()

This folder is the `medcode` package itself (pyproject.toml maps it): the repository's top level
is fixed, and the API is an interface of the engine, so it sits among the interfaces. Importing
it is cheap: spaCy and the code set load when the first Coder is built.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .coder import Coder
    from .document import Result

try:  # the installed distribution's; `medcode.terminology` would cost 0.2 s to import
    __version__: str = version("medcode")
except PackageNotFoundError:
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    # `medcode.Coder` and `medcode.Result` import the engine on first use, not at `import medcode`
    if name == "Coder":
        from .coder import Coder

        return Coder
    if name == "Result":
        from .document import Result

        return Result
    raise AttributeError(f"module 'medcode' has no attribute {name!r}")


@lru_cache(maxsize=1)
def default_coder() -> Coder:
    """The Coder `code` uses: built on the first call, then shared (the shipped code set and
    rule packs; $MEDCODE_CMS_DIR and $MEDCODE_LLM_URL apply as for the command line)."""
    from .coder import Coder

    return Coder()


def code(
    text: str,
    *,
    setting: str = "auto",
    age: int | None = None,
    sex: str | None = None,
    discharge_status: int | None = None,
    date: datetime.date | None = None,
    document: str = "-",
) -> Result:
    """Code one note with the default Coder (see `Coder.code`): its codes in sequence, the
    candidates not reported and why, edits, provider queries and the claim."""
    return default_coder().code(
        text,
        document=document,
        setting=setting,
        age=age,
        sex=sex,
        discharge_status=discharge_status,
        date=date,
    )


__all__ = ["Coder", "Result", "__version__", "code", "default_coder"]
