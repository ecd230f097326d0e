"""Custom spaCy attributes of medcode, declared once.

Every attribute a Doc stores holds plain data (strings, numbers, tuples), so that
`doc.to_bytes()` and `DocBin` serialize it; the objects the engine reads are rebuilt from that
data by getters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import srsly
from spacy.tokens import Doc, Span

from medcode.terminology.lexicon import LexiconEntry

# The msgpack decoder that reads back what medspaCy's own decoders cannot (`_decode`).
_DECODER = "medcode_medspacy"


def declare_extensions() -> None:
    """Declare `Span._.lexicon_rows` (the lexicon entries a concept span matched, as plain rows:
    key, source, origin, term, case_sensitive, table), `Span._.lexicon_entries` (the same as
    `LexiconEntry`s; setting it stores the rows), `Span._.match_words` (how many normalised
    words it covered), `Span._.is_other_person` (ConText: the condition is someone else's, not
    a relative's: a donor, a source patient) and `Doc._.icd10` (the codes `medcode_coder`
    gives the note); and register the decoder that reads medspaCy's attributes back from
    bytes."""
    for name, default in (("lexicon_rows", ()), ("match_words", 0), ("is_other_person", False)):
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
    if not Span.has_extension("lexicon_entries"):
        Span.set_extension("lexicon_entries", getter=_entries, setter=_set_entries)
    if not Doc.has_extension("icd10"):
        Doc.set_extension("icd10", default=None)
    _register_decoder()


def _entries(span: Span) -> tuple[LexiconEntry, ...]:
    return tuple(LexiconEntry(*row) for row in span._.lexicon_rows)


def _set_entries(span: Span, entries: Iterable[LexiconEntry]) -> None:
    span._.lexicon_rows = tuple(
        (e.key, e.source, e.origin, e.term, e.case_sensitive, e.table) for e in entries
    )


def declare_context_graph() -> None:
    """Make `Doc._.context_graph` serializable.

    medspaCy's ConText stores a graph that holds Spans, which a Doc cannot serialize. Setting
    the graph stores its parts in `Doc._.context_graph_data` instead: its targets as token
    offsets, its modifiers (which do serialize) and its edges as indices; reading it rebuilds
    the graph (medspaCy's DocConsumer reads its edges, `SentenceIndex` its negations). Called
    after ConText is made: making one declares the attribute anew.
    """
    if not Doc.has_extension("context_graph_data"):
        Doc.set_extension("context_graph_data", default=None)
    Doc.set_extension("context_graph", getter=_context_graph, setter=_keep_graph, force=True)


def _keep_graph(doc: Doc, graph: Any) -> None:
    if graph is None:
        doc._.context_graph_data = None
        return
    targets = [(t.start, t.end) for t in graph.targets]
    target_index = {bounds: i for i, bounds in enumerate(targets)}
    modifier_index = {id(m): i for i, m in enumerate(graph.modifiers)}
    edges = [(target_index[(t.start, t.end)], modifier_index[id(m)]) for t, m in graph.edges]
    # tuples, not lists: medspaCy's encoder wraps a list of modifiers its decoder then misreads
    doc._.context_graph_data = (tuple(targets), tuple(graph.modifiers), tuple(edges))


def _context_graph(doc: Doc) -> Any:
    from medspacy.context.context_graph import ConTextGraph

    if doc._.context_graph_data is None:
        return None
    targets, modifiers, edges = doc._.context_graph_data
    ents = {(e.start, e.end): e for e in doc.ents}
    spans = [ents.get((start, end)) or doc[start:end] for start, end in targets]
    return ConTextGraph(
        targets=spans,
        modifiers=list(modifiers),
        edges=[(spans[t], modifiers[m]) for t, m in edges],
    )


def _register_decoder() -> None:
    """Read medspaCy's attributes back from bytes where medspaCy (1.3) cannot: a ConText
    modifier, which it writes bare but reads only wrapped, and a section without a header
    (the text before the first one), which it writes but fails to read. srsly tries the decoder
    registered last first, so medspaCy's are registered before ours."""
    if _DECODER in srsly.msgpack_decoders.get_all():
        return
    import medspacy.context
    import medspacy.section_detection  # noqa: F401  (registers medspaCy's decoders)

    srsly.msgpack_decoders.register(_DECODER, func=_decode)


def _decode(obj: Any, chain: Any = None) -> Any:
    if isinstance(obj, dict) and "context_rule" in obj and "scope_start" in obj:
        from medspacy.context import ConTextModifier

        return ConTextModifier.from_serialized_representation(obj)
    section = obj.get("section") if isinstance(obj, dict) else None
    if isinstance(section, dict) and section.get("rule", False) is None:
        from medspacy.section_detection import Section

        return Section(**{k: v for k, v in section.items() if k != "rule"})
    return obj if chain is None else chain(obj)
