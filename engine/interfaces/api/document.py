"""The result of `medcode.Coder.code`: the engine's CodingResult plus the note's text, read out
as a DataFrame, a FHIR Bundle or an HTML audit page."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from medcode.engine.result import CodingResult

if TYPE_CHECKING:
    import pandas

# The columns of `Result.to_dataframe`, one row per piece of evidence of a reported code.
COLUMNS = (
    "document",
    "sequence",
    "code",
    "description",
    "confidence",
    "evidence_start",
    "evidence_end",
    "evidence_text",
)


@dataclass(frozen=True, slots=True)
class Result(CodingResult):
    """A CodingResult (its fields and `to_json`, the `medcode code --format json` object) that
    keeps the text it was coded from, for the readings that quote it. Picklable; the text is
    never part of `to_json` (notes carry PHI)."""

    text: str = field(default="", repr=False)
    # titles of the excluded codes (the result names them only), for the HTML page
    titles: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, result: CodingResult, text: str, titles: dict[str, str]) -> Result:
        """`result`, coded from `text`; `titles` describes its excluded codes."""
        values = {f.name: getattr(result, f.name) for f in fields(CodingResult)}
        return cls(**values, text=text, titles=titles)

    def to_dataframe(self) -> pandas.DataFrame:
        """The reported codes as a pandas DataFrame: one row per piece of evidence
        (a code with no evidence, added by a rule, has one row with empty evidence), in
        sequence. Needs pandas: `pip install 'medcode[dataframe]'`."""
        try:
            import pandas
        except ImportError as exc:
            raise ImportError(
                "Result.to_dataframe needs pandas: pip install 'medcode[dataframe]'"
            ) from exc
        rows = [
            (self.document, c.sequence, c.code, c.description, c.confidence, *span)
            for c in self.codes
            for span in ([(e.start, e.end, e.text) for e in c.evidence] or [(None, None, None)])
        ]
        frame = pandas.DataFrame(rows, columns=list(COLUMNS))
        # offsets stay integers when a row has none
        return frame.astype({"evidence_start": "Int64", "evidence_end": "Int64"})

    def to_fhir(
        self,
        *,
        reference: dict[str, str] | None = None,
        subject: dict[str, Any] | None = None,
        encounter: dict[str, Any] | None = None,
        recorded: str | None = None,
    ) -> dict[str, Any]:
        """The FHIR R4 Bundle `medcode code --fhir` prints for this note (docs/SERVICE.md):
        Conditions, an OperationOutcome of the edits, Tasks for the queries, a Provenance.
        `reference` is the note's DocumentReference (by default one named by `document`),
        `subject` and `encounter` the references the Conditions carry, `recorded` the FHIR
        instant of coding (now, or $SOURCE_DATE_EPOCH). Needs fhir.resources (the models that
        validate the Bundle as it is built)."""
        from medcode.engine.interfaces.fhir import FhirNote, recorded_now, to_bundle

        note = FhirNote(
            document=self.document,
            text=self.text,
            reference=reference or {"display": self.document},
            subject=subject,
            encounter=encounter,
        )
        return to_bundle([(note, self)], recorded or recorded_now())

    def to_html(self, *, page: bool = True) -> str:
        """The audit report of `medcode code --format html`: the note with every evidence span
        marked, the codes with their traces, candidates not reported, queries, edits. A whole
        page, or with `page=False` the `<section>` alone, to place in a page of your own."""
        from medcode.engine.audit.report_html import render_document, render_page

        section = render_document(self, self.text, describe=self.titles.get)
        return render_page([section]) if page else section


__all__ = ["COLUMNS", "Result"]
