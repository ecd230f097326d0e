"""Is a code valid and billable, and if not, what should be used instead?"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codeset import CodeSet, normalize_code
from .tabular import CODE_SHAPE, with_seventh

MAX_SUGGESTIONS = 12


@dataclass(frozen=True, slots=True)
class Validation:
    """The verdict on one code, as `medcode validate` reports it."""

    code: str
    valid: bool
    billable: bool
    description: str
    message: str
    suggestions: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "valid": self.valid,
            "billable": self.billable,
            "description": self.description,
            "message": self.message,
            "suggestions": list(self.suggestions),
        }


def _limited(codes: list[str]) -> tuple[str, ...]:
    return tuple(codes[:MAX_SUGGESTIONS])


def _listing(codes: list[str]) -> str:
    shown = ", ".join(codes[:MAX_SUGGESTIONS])
    more = len(codes) - MAX_SUGGESTIONS
    return f"{shown} and {more} more" if more > 0 else shown


def validate_code(codeset: CodeSet, text: str) -> Validation:
    """Validate one code as written by a user (`e119`, `E11.9`, ` E119 ` are the same code)."""
    code = normalize_code(text)
    if not CODE_SHAPE.match(code):
        return Validation(text.strip(), False, False, "", "not an ICD-10-CM code")
    node = codeset.get(code)
    if node is None:
        return _unknown(codeset, code)
    if node.billable:
        return Validation(code, True, True, node.title, "valid and billable")
    seventh = codeset.seventh_characters(code)
    options = [c for c in (with_seventh(code, char) for char, _ in seventh) if c in codeset]
    if options and _only_seventh_children(codeset, code, options):
        return Validation(
            code,
            True,
            False,
            node.title,
            f"needs a 7th character: {_listing(options)}",
            _limited(options),
        )
    billable = [c for c in codeset.billable_descendants(code) if c != code]
    return Validation(
        code,
        True,
        False,
        node.title,
        f"header code, not billable; billable codes below it: {_listing(billable)}",
        _limited(billable),
    )


def _only_seventh_children(codeset: CodeSet, code: str, options: list[str]) -> bool:
    """Whether the code's only children are its 7th-character extensions."""
    return set(codeset.children(code)) == set(options)


def _unknown(codeset: CodeSet, code: str) -> Validation:
    """Suggest from the longest existing prefix: its billable codes, or its siblings."""
    prefix = code
    while prefix and prefix not in codeset:
        prefix = normalize_code(prefix.replace(".", "")[:-1]) if len(prefix) > 1 else ""
    if not prefix:
        return Validation(code, False, False, "", f"{code} does not exist in the code set")
    nearest = codeset.billable_descendants(prefix)
    return Validation(
        code,
        False,
        False,
        "",
        f"{code} does not exist in the code set; nearest valid codes: {_listing(nearest)}",
        _limited(nearest),
    )
