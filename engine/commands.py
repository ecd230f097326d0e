"""The handlers behind each `medcode` subcommand: parse-free, they take argparse namespaces."""

from __future__ import annotations

import argparse

from medcode.terminology import CodeSet, NodeKind, load_codeset, validate_code

from .cli import EXIT_FINDINGS, EXIT_OK, print_json


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("medcode")
    except PackageNotFoundError:
        return "0+unknown"


def _codeset(args: argparse.Namespace) -> CodeSet:
    return load_codeset(args.tabular)


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


__all__ = ["show", "terminology_info", "validate", "version"]
