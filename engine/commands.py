"""The handlers behind each `medcode` subcommand: parse-free, they take argparse namespaces."""

from __future__ import annotations

import argparse

from medcode.terminology import CodeSet, NodeKind, load_codeset, validate_code

from .cli import EXIT_FINDINGS, EXIT_OK, UsageError, print_json


def _codeset(args: argparse.Namespace) -> CodeSet:
    return load_codeset(args.tabular)


def code(args: argparse.Namespace) -> int:
    from .coder import Coder, InputError
    from .inputs import UnreadableInput, read_notes

    if not args.paths and args.text is None:
        raise UsageError("medcode code: give a PATH, - for stdin, or --text")
    coder = Coder(args.tabular)
    try:
        for name, text in read_notes(args.paths, args.text):
            result = coder.code(text, document=name, setting=args.setting)
            if args.format == "json":
                print_json(result.to_json())
            else:
                print(render_text(result, explain=args.explain))
    except (UnreadableInput, InputError) as exc:
        raise UsageError(str(exc)) from exc
    return EXIT_OK


def render_text(result, *, explain: bool) -> str:
    """A readable listing: codes in sequence with their words; with --explain, the traces and
    the rejected candidates."""
    lines = [f"{result.document} ({result.setting}, FY{result.fy})"]
    for c in result.codes:
        words = "; ".join(f'"{e.text}" [{e.section or "-"}]' for e in c.evidence)
        lines.append(f"{c.sequence:>3}. {c.code:<9} {c.description}  ({c.confidence}) <- {words}")
        if explain:
            lines += [f"        {_step_text(step)}" for step in c.trace]
    if explain:
        for e in result.excluded:
            lines.append(f'  not coded: {e.code:<9} {e.reason} <- "{e.evidence[0].text}"')
    for q in result.queries:
        lines.append(f"  query: {q.code} missing {q.missing}: {q.question}")
    return "\n".join(lines)


def _step_text(step: dict) -> str:
    details = ", ".join(f"{k}={v}" for k, v in step.items() if k != "step" and v not in ([], None))
    return f"{step['step']}: {details}"


def search(args: argparse.Namespace) -> int:
    from medcode.terminology.cache import load_lexicon

    from .search import Searcher
    from .specificity import SpecificityWalker

    codeset = _codeset(args)
    searcher = Searcher(codeset, load_lexicon(codeset), SpecificityWalker(codeset))
    phrase = " ".join(args.phrase)
    candidates = searcher.search(phrase, args.limit)
    if args.format == "json":
        print_json({"query": phrase, "candidates": [c.to_json() for c in candidates]})
    else:
        for c in candidates:
            print(f"{c.code:<9} {c.score:.3f}  {c.description}  [{c.matched}]")
    return EXIT_OK


def validate(args: argparse.Namespace) -> int:
    codeset = _codeset(args)
    results = [validate_code(codeset, code) for code in args.codes]
    if args.format == "json":
        print_json([r.to_json() for r in results])
    else:
        for r in results:
            status = "billable" if r.billable else ("not billable" if r.valid else "invalid")
            print(f"{r.code}\t{status}\t{r.description or '-'}\t{r.message}")
    return EXIT_OK if all(r.billable for r in results) else EXIT_FINDINGS


def show(args: argparse.Namespace) -> int:
    codeset = _codeset(args)
    node = codeset.node(args.code)
    path = [codeset.node(key) for key in codeset.ancestors(node.key)] + [node]
    notes = codeset.applicable_notes(node.key)
    seventh = codeset.seventh_characters(node.key)
    if args.format == "json":
        print_json(
            {
                "code": node.code,
                "description": node.title,
                "billable": node.billable,
                "path": [
                    {"code": n.code, "kind": str(n.kind), "description": n.title} for n in path
                ],
                "notes": [
                    {
                        "kind": str(a.note.kind),
                        "text": a.note.text,
                        "origin": a.origin,
                        "references": [
                            {"text": r.text, "resolves_to": list(codeset.resolve(r))}
                            for r in a.note.refs
                        ],
                    }
                    for a in notes
                ],
                "seventh_characters": [{"char": c, "meaning": m} for c, m in seventh],
                "children": codeset.children(node.key),
            }
        )
        return EXIT_OK
    for depth, n in enumerate(path):
        label = {NodeKind.CHAPTER: "Chapter ", NodeKind.SECTION: ""}.get(n.kind, "")
        print(f"{'  ' * depth}{label}{n.code}  {n.title}")
    print(f"billable: {'yes' if node.billable else 'no'}")
    for a in notes:
        print(f"{a.note.kind.label} [{a.origin}]: {a.note.text}")
    if seventh and not node.billable:
        print("7th characters: " + ", ".join(f"{c} {m}" for c, m in seventh))
    children = codeset.children(node.key)
    if children:
        print("children: " + ", ".join(children))
    return EXIT_OK


def terminology_info(args: argparse.Namespace) -> int:
    codeset = _codeset(args)
    p = codeset.provenance
    info = {"fy": p.fy, "source": p.source, "sha256": p.sha256, **codeset.counts()}
    if args.format == "json":
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return EXIT_OK


__all__ = ["code", "search", "show", "terminology_info", "validate"]
