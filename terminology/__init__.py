"""The ICD-10-CM terminology: CMS Tabular List -> code set graph, typed notes, code references.

This package never imports `medcode.engine`.
"""

from .cache import load_codeset
from .codeset import CodeSet, normalize_code
from .errors import TerminologyError
from .notes import AppliedNote, CodeRef, Note, NoteKind
from .tabular import CodeNode, NodeKind
from .validation import Validation, validate_code

__all__ = [
    "AppliedNote",
    "CodeNode",
    "CodeRef",
    "CodeSet",
    "NodeKind",
    "Note",
    "NoteKind",
    "TerminologyError",
    "Validation",
    "load_codeset",
    "normalize_code",
    "validate_code",
]
