"""The Coder: a note's text -> its codes, one call per stage (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import datetime
import multiprocessing
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from itertools import islice
from typing import Any

from medcode.engine.reading import build_pipeline
from medcode.engine.reading.mentions import MentionReader
from medcode.engine.result import CodingResult
from medcode.engine.rulelang import Outcome, RuleBook, RuleEngine
from medcode.engine.rulelang.book import shipped_digest
from medcode.engine.rulelang.model import SETTINGS
from medcode.terminology import CodeSet
from medcode.terminology.cache import package_version
from medcode.terminology.index_terms import IndexBuild
from medcode.terminology.lexicon import Lexicon

from .ambiguity import AmbiguityResolver
from .assembly import assemble
from .assignment import Assigner
from .claim.fiscal import period
from .claim.view import ClaimView
from .combination import Combiner
from .encounter import WordSupporter, encounter
from .errors import BudgetExceeded, InputError
from .pace import Pace
from .policy import AssertionPolicy
from .specificity import SpecificityWalker

MAX_CHARS = 20_000_000
_SURROGATE = re.compile("[\ud800-\udfff]")
# Mentions coded per chunk of work (`Pace.step`): a few hundred milliseconds at most.
MENTION_BLOCK = 256
# The setting read from the kind of document the note is (engine/reading/document_types.yaml).
AUTO = "auto"


class Coder:
    """The coding engine: load once, then `code(text)` many times (thread-compatible reads)."""

    def __init__(
        self,
        tabular: str | None = None,
        rules: RuleBook | None = None,
        ambiguity: AmbiguityResolver | None = None,
        cms_dir: str | None = None,
    ):
        """`tabular` is a CMS Tabular XML file, `rules` a rule book (the shipped packs by
        default). `ambiguity` decides whether an LLM is consulted; by default, only when
        $MEDCODE_LLM_URL is set (docs/LLM.md). `cms_dir` is a CMS release folder whose Index
        family replaces the packaged FY2025 one ($MEDCODE_CMS_DIR)."""
        # what a worker process of `pipe` builds its own Coder from
        self.arguments = {"tabular": tabular, "rules": rules, "cms_dir": cms_dir}
        self.nlp = build_pipeline(tabular, cms_dir)
        matcher = self.nlp.get_pipe("medcode_concepts")
        self.codeset: CodeSet = matcher.codeset
        self.lexicon: Lexicon = matcher.lexicon
        self.index: IndexBuild = matcher.index
        self.walker = SpecificityWalker(self.codeset)
        self.reader = MentionReader(self.nlp, self.walker.lent_words)
        self.assigner = Assigner(self.walker, AssertionPolicy(self.codeset), self.index)
        self.combiner = Combiner(self.codeset, self.walker)
        self.supporter = WordSupporter(self.codeset, self.walker)
        self.rules = RuleEngine(self.codeset, rules)
        self.ambiguity = ambiguity or AmbiguityResolver.from_env(self.codeset, self.walker)
        self.claims = ClaimView(self.codeset)
        self.versions = {
            "engine": package_version(),
            "code_set": f"FY{self.codeset.provenance.fy} {self.codeset.provenance.sha256[:16]}",
            "index": f"{self.index.label} {self.index.identity[:16]}",
            # the shipped packs and tables, or the rule book given
            "rules": shipped_digest() if rules is None else rules.digest,
        }

    def code(
        self,
        text: str,
        *,
        document: str = "-",
        setting: str = AUTO,
        age: int | None = None,
        sex: str | None = None,
        discharge_status: int | None = None,
        date: datetime.date | None = None,
        pace: Pace | None = None,
    ) -> CodingResult:
        """Code one note. `setting` decides the policy for uncertain diagnoses (II.H / IV.H);
        "auto" reads it from the kind of document the note is (a discharge summary is
        inpatient, an office note outpatient), and the result says why. `age` (years), `sex`
        ("F" or "M") and `discharge_status` (a CMS code, 1 home) are the patient's; those not
        given are read from the note where it states them ("72-year-old male"), and the claim
        says which. They reach the rule packs and the claim view (docs/CLAIMS.md), whose
        grouper version and code tables `date` (of discharge or service) selects. `pace` gives
        the note a time budget (BudgetExceeded when spent) and a lock to hold per chunk of
        work."""
        return self.code_traced(
            text,
            document=document,
            setting=setting,
            age=age,
            sex=sex,
            discharge_status=discharge_status,
            date=date,
            pace=pace,
        )[0]

    def pipe(
        self,
        texts: Iterable[str],
        *,
        setting: str = AUTO,
        age: int | None = None,
        sex: str | None = None,
        discharge_status: int | None = None,
        date: datetime.date | None = None,
        n_process: int = 1,
        batch_size: int = 16,
    ) -> Iterator[CodingResult]:
        """`code` for each text, results in input order (spaCy's `nlp.pipe`). With
        `n_process` > 1, a pool of spawned processes each loads its own Coder from the same
        `tabular`, `rules` and `cms_dir` (the LLM chooser from the environment, as in
        `medcode batch`) and codes `batch_size` notes per task; results come back pickled and
        equal those of `code`. Documents are named by their place in `texts` ("1", "2", ...)."""
        if n_process < 1 or batch_size < 1:
            raise InputError(
                f"n_process and batch_size must be at least 1: {n_process}, {batch_size}"
            )
        options = {
            "setting": setting,
            "age": age,
            "sex": sex,
            "discharge_status": discharge_status,
            "date": date,
        }
        numbered = enumerate(texts, 1)
        if n_process == 1:
            for number, text in numbered:
                yield self.code(text, document=str(number), **options)
            return
        context = multiprocessing.get_context("spawn")  # fork would copy spaCy's threads
        with ProcessPoolExecutor(
            n_process,
            mp_context=context,
            initializer=_start_worker,
            initargs=(type(self), self.arguments),
        ) as pool:
            # a bounded window of batches in flight: memory stays flat on a long iterator
            window = []
            while batch := list(islice(numbered, batch_size)):
                window.append(pool.submit(_code_batch, batch, options))
                if len(window) >= 2 * n_process:
                    yield from window.pop(0).result()
            for future in window:
                yield from future.result()

    def code_traced(
        self,
        text: str,
        *,
        document: str = "-",
        setting: str = AUTO,
        age: int | None = None,
        sex: str | None = None,
        discharge_status: int | None = None,
        date: datetime.date | None = None,
        pace: Pace | None = None,
    ) -> tuple[CodingResult, Outcome]:
        """`code`, plus what the rule packs did (every firing), for rule tests and audits."""
        if setting not in (*SETTINGS, AUTO):
            raise InputError(f"unknown setting {setting!r} (inpatient, outpatient or auto)")
        if len(text) > MAX_CHARS:
            raise InputError(f"note too large: {len(text)} characters (limit {MAX_CHARS})")
        if not text.strip():
            raise InputError("empty note: there is nothing to code")
        if (surrogate := _SURROGATE.search(text)) is not None:
            # half of a UTF-16 pair, from a JSON escape or undecodable bytes: not Unicode text
            raise InputError(f"not Unicode text: a lone surrogate at character {surrogate.start()}")
        # the patient given (checked: one line if invalid) or read from the note
        patient = self.claims.patient(text, age, sex, discharge_status)
        if date is not None:
            period(date)  # a date no grouper version covers: refused before the work
        pace = pace or Pace()
        reading = self.reader.read(text, pace.step)
        kind = reading.document_type
        if setting == AUTO:
            setting, why = kind.setting, f"auto: {kind.reason}"
        else:
            why = f"given (the note reads as: {kind.reason})"
        candidates = []
        for block in range(0, len(reading.mentions), MENTION_BLOCK):
            with pace.step():
                mentions = reading.mentions[block : block + MENTION_BLOCK]
                candidates += [self.assigner.candidate(m, setting) for m in mentions]
        with pace.step():
            self.combiner.combine(candidates)
            reviews = self.ambiguity.resolve(candidates, text)
        with pace.step():
            outcome = self.rules.run(
                encounter(candidates, setting, text, patient.age, patient.sex), self.supporter
            )
            result = assemble(
                self.codeset, self.versions, document, setting, candidates, outcome, reviews
            )
        with pace.step():
            result = self.claims.apply(result, text, patient, date)
        return replace(result, setting_reason=why), outcome


# The Coder of a `pipe` worker process, built once by `_start_worker`.
_worker: dict[str, Coder] = {}


def _start_worker(kind: type[Coder], arguments: dict[str, Any]) -> None:
    _worker["coder"] = kind(**arguments)


def _code_batch(batch: list[tuple[int, str]], options: dict[str, Any]) -> list[CodingResult]:
    coder = _worker["coder"]
    return [coder.code(text, document=str(number), **options) for number, text in batch]


__all__ = ["AUTO", "BudgetExceeded", "Coder", "InputError", "Pace"]
