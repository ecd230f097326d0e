"""The handlers behind each `medcode` subcommand: parse-free, they take argparse namespaces."""

from __future__ import annotations

import argparse
from typing import Any

from medcode.terminology import CodeSet, NodeKind, Validation, load_codeset, validate_code
from medcode.terminology.index_release import CMS_DIR_ENV

from .console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, one_line, print_json, say


def _codeset(args: argparse.Namespace) -> CodeSet:
    return load_codeset(args.tabular)


def code(args: argparse.Namespace) -> int:
    """Code each note; an unreadable or uncodable one gets one line on stderr and the others
    are still coded (exit status 2 at the end)."""
    from medcode.engine.coding.coder import Coder, InputError

    from .inputs import UnreadableInput, read_each
    from .rule_commands import linted_book

    if getattr(args, "fhir", None) is not None:
        return code_fhir(args)
    if not args.paths and args.text is None:
        raise UsageError("medcode code: give a PATH, - for stdin, or --text")
    patient = claim_options(args)
    coder = Coder(args.tabular, rules=linted_book(args), cms_dir=args.cms_dir)
    pages: list[str] = []  # html: one page, printed once every note is read
    status = EXIT_OK
    for name, text in read_each(args.paths, args.text):
        if isinstance(text, UnreadableInput):
            say(f"medcode: {text}")
            status = EXIT_USAGE
            continue
        try:
            # The input record (sha256, length) lets `medcode replay` check the note later.
            result = coder.code(text, document=name, setting=args.setting, **patient)
            result = result.with_input(text)
        except InputError as exc:
            say(f"medcode: {exc}" if name == "text" else f"medcode: {name}: {exc}")
            status = EXIT_USAGE
            continue
        if args.format == "json":
            print_json(result.to_json())
        elif args.format == "html":
            pages.append(_html_document(coder, result, text, len(pages) + 1))
        else:
            print(render_text(result, explain=args.explain))
    if args.format == "html" and pages:
        from medcode.engine.audit.report_html import render_page

        print(render_page(pages), end="")
    return status


def claim_options(args: argparse.Namespace) -> dict[str, Any]:
    """--age, --sex, --discharge-status and --date as Coder.code takes them; a bad one is one
    line and exit 2 before any note is read."""
    from medcode.engine.coding.claim import coder_options
    from medcode.engine.coding.errors import InputError

    try:
        return coder_options(args.age, args.sex, args.discharge_status, args.date)
    except InputError as exc:
        raise UsageError(f"medcode {args.command}: {exc}") from exc


def _html_document(coder, result, text: str, number: int) -> str:
    from medcode.engine.audit.report_html import render_document

    def describe(code: str) -> str | None:
        node = coder.codeset.get(code)
        return node.title if node is not None else None

    return render_document(result, text, anchor=f"d{number}", describe=describe)


def render_text(result, *, explain: bool) -> str:
    """A readable listing: codes in sequence with their words, the edits (errors and warnings
    of the rules) and the provider queries; with --explain, the traces and the rejected
    candidates."""
    from .rule_commands import edit_line

    lines = [f"{one_line(result.document)} ({result.setting}, FY{result.fy})"]
    claim = result.claim or {}
    marks = {line["code"]: _claim_marks(line) for line in claim.get("lines", ())}
    for c in result.codes:
        words = "; ".join(f'"{e.text}" [{e.section or "-"}]' for e in c.evidence)
        mark = f"  [{marks[c.code]}]" if marks.get(c.code) else ""
        lines.append(
            f"{c.sequence:>3}. {c.code:<9} {c.description}  ({c.confidence}) <- {words}{mark}"
        )
        if explain:
            lines += [f"        {_step_text(step)}" for step in c.trace]
    if explain:
        for e in result.excluded:
            lines.append(f'  not coded: {e.code:<9} {e.reason} <- "{e.evidence[0].text}"')
    if claim:
        lines += _claim_text(claim, explain)
    lines += [edit_line(e) for e in result.edits]
    for q in result.queries:
        lines.append(f"  query: {q.code} missing {q.missing}: {q.question}")
        if q.impact is not None:
            lines.append(f"    impact: {q.impact['change'] or 'none on the claim'}")
    return "\n".join(lines)


def _claim_marks(line: dict) -> str:
    """What a code is on the claim: CC/MCC and POA inpatient, its HCCs outpatient."""
    marks = [line["cc_mcc"]] if line.get("cc_mcc") not in (None, "NONE") else []
    if line.get("poa"):
        marks.append(f"POA {line['poa']}")
    marks += [f"HCC {h}" for h in line.get("hccs", ())]
    return ", ".join(marks)


def _claim_text(claim: dict, explain: bool) -> list[str]:
    """The claim in two lines: what it groups to and the patient it was grouped for; with
    --explain, what could not be done."""
    if (drg := claim.get("drg")) is not None:
        head = (
            f"  claim: MS-DRG {drg['drg']} {drg['description']} (MDC {drg['mdc']}, "
            f"{drg['severity']}; grouper v{claim['grouper_version']}, FY{claim['fy']})"
        )
    elif (hcc := claim.get("hcc")) is not None:
        hccs = ", ".join(f"HCC {h['hcc']}" for h in hcc["hccs"]) or "no HCC"
        head = (
            f"  claim: RAF {hcc['risk_score']:.3f} ({hccs}; {hcc['model']}, "
            f"payment year {hcc['payment_year']})"
        )
    else:
        head = "  claim: not grouped"
    patient = claim["patient"]
    sources = patient["sources"]
    facts = ", ".join(
        f"{name.replace('_', ' ')} {patient[name] if patient[name] is not None else '?'} "
        f"({sources[name]})"
        for name in ("age", "sex", "discharge_status")
    )
    notes = claim["notes"] if explain else ()
    return [head, f"  patient: {facts}", *(f"  claim note: {n}" for n in notes)]


def _step_text(step: dict) -> str:
    if step["step"] == "rule":
        return f"rule {step['rule']} [{step['source']}; {step['citation']}]: {step['action']}"
    details = ", ".join(f"{k}={v}" for k, v in step.items() if k != "step" and v not in ([], None))
    return f"{step['step']}: {details}"


def search(args: argparse.Namespace) -> int:
    from medcode.engine.coding.search import Searcher
    from medcode.engine.coding.specificity import SpecificityWalker
    from medcode.terminology.cache import load_index, load_lexicon

    codeset = _codeset(args)
    lexicon = load_lexicon(codeset, load_index(codeset, args.cms_dir))
    searcher = Searcher(codeset, lexicon, SpecificityWalker(codeset))
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
    results = [_validate(codeset, code) for code in args.codes]
    if args.format == "json":
        print_json([r.to_json() for r in results])
    else:
        for r in results:
            status = "billable" if r.billable else ("not billable" if r.valid else "invalid")
            print(f"{one_line(r.code)}\t{status}\t{r.description or '-'}\t{one_line(r.message)}")
    return EXIT_OK if all(r.billable for r in results) else EXIT_FINDINGS


def _validate(codeset: CodeSet, code: str) -> Validation:
    # Codes are ASCII: refused before any case folding, since str.upper() turns the long s
    # U+017F into 'S' and the dotless i U+0131 into 'I' (U+017F "11.9" would read as S11.9).
    if not code.isascii():
        return Validation(code.strip(), False, False, "", "not an ICD-10-CM code")
    return validate_code(codeset, code)


def show(args: argparse.Namespace) -> int:
    codeset = _codeset(args)
    if not args.code.isascii():  # see _validate: no case folding of other scripts
        raise UsageError(f"medcode show: not an ICD-10-CM code: {args.code.strip()}")
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
    from medcode.terminology.cache import load_index

    codeset = _codeset(args)
    p = codeset.provenance
    index = load_index(codeset, args.cms_dir)
    info = {
        "fy": p.fy,
        "source": p.source,
        "sha256": p.sha256,
        **codeset.counts(),
        "index": index.label,
        "index_terms": len(index.entries),
        # how the Index's codes met the FY2026 Tabular (terminology/index_codes.py)
        **{f"index_codes_{status}": n for status, n in index.counts.items()},
    }
    if args.format == "json":
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return EXIT_OK


def replay(args: argparse.Namespace) -> int:
    """Re-code the note of each recorded result; exit 1 when anything differs."""
    from medcode.engine.audit.replay import (
        ReplayError,
        compare,
        load_results,
        note_path,
        verify_input,
    )
    from medcode.engine.coding.coder import Coder, InputError

    from .inputs import UnreadableInput

    try:
        recorded = load_results(args.result)
        if args.note is not None and len(recorded) > 1:
            raise ReplayError(
                f"{args.result}: --note applies to one result; the file holds {len(recorded)}"
            )
        notes = []
        for result in recorded:
            name, text = _one_note(note_path(result, args.note, args.result), None)
            notes.append((verify_input(result, text, name), text))
        coder = Coder(args.tabular, cms_dir=args.cms_dir)
        status = EXIT_OK
        for result, (verified, text) in zip(recorded, notes, strict=True):
            # a setting read from the note is read again, as the recorded run did
            auto = str(result.get("setting_reason", "")).startswith("auto")
            setting = "auto" if auto else result["setting"]
            again = coder.code(text, document=result["document"], setting=setting)
            diffs = compare(result, again.with_input(text).to_json())
            status = EXIT_FINDINGS if diffs else status
            if args.format == "json":
                print_json(
                    {
                        "document": result["document"],
                        "identical": not diffs,
                        "input_verified": verified,
                        "differences": [d.to_json() for d in diffs],
                    }
                )
                continue
            head = "identical" if not diffs else f"{len(diffs)} difference(s)"
            print(f"{result['document']}: {head}")
            if not verified:
                print("  note: the result records no input sha256; the note was not verified")
            for d in diffs:
                print(f"  {d.text()}")
    except (ReplayError, UnreadableInput, InputError) as exc:
        raise UsageError(f"medcode replay: {exc}") from exc
    return status


def explain(args: argparse.Namespace) -> int:
    """Why one code was, or was not, reported for a note."""
    from medcode.engine.audit.explain import explain as explain_code
    from medcode.engine.audit.explain import render_text as render_explanation
    from medcode.engine.coding.coder import Coder, InputError
    from medcode.engine.coding.search import Searcher
    from medcode.terminology import normalize_code

    from .inputs import UnreadableInput

    if (args.note is None) == (args.text is None):
        raise UsageError("medcode explain: give a NOTE path, - for stdin, or --text")
    coder = Coder(args.tabular, cms_dir=args.cms_dir)
    is_ascii = args.code.isascii()  # see _validate: no case folding of other scripts
    node = coder.codeset.get(args.code) if is_ascii else None
    if node is None:
        shown = normalize_code(args.code) if is_ascii else args.code.strip()
        raise UsageError(f"medcode explain: {shown} is not an ICD-10-CM code")
    try:
        name, text = _one_note(args.note, args.text)
        result = coder.code(text, document=name, setting=args.setting)
    except (UnreadableInput, InputError) as exc:
        raise UsageError(f"medcode explain: {exc}") from exc
    searcher = Searcher(coder.codeset, coder.lexicon, coder.walker)
    answer = explain_code(result, text, node.key, coder.codeset, coder.lexicon, searcher)
    if args.format == "json":
        print_json(answer.to_json())
    else:
        print(render_explanation(answer))
    return EXIT_OK


def _one_note(path: str | None, text: str | None) -> tuple[str, str]:
    from .inputs import UnreadableInput, read_notes

    notes = list(read_notes([path] if path is not None else [], text))
    if len(notes) != 1:
        raise UnreadableInput(f"{path}: give one note, not a folder of {len(notes)}")
    return notes[0]


# -- embedding: FHIR in and out, the REST service, batch (docs/SERVICE.md) ---------------------


def code_fhir(args: argparse.Namespace) -> int:
    """`medcode code --fhir FILE`: a DocumentReference or a Bundle of them in, a FHIR Bundle of
    Conditions and Provenance out."""
    import json
    from pathlib import Path

    from medcode.engine.coding.coder import Coder, InputError

    from .fhir import FhirInputError, read_notes, recorded_now, to_bundle
    from .inputs import UnreadableInput, decode_note, read_stdin
    from .rule_commands import linted_book

    if args.paths or args.text is not None:
        raise UsageError("medcode code: --fhir reads the notes from FILE; give no PATH or --text")
    if args.format == "html":
        raise UsageError("medcode code: --fhir prints a FHIR Bundle (JSON), not html")
    name = "stdin" if args.fhir == "-" else args.fhir
    try:
        data = read_stdin() if args.fhir == "-" else Path(args.fhir).read_bytes()
        notes = read_notes(json.loads(decode_note(data, name)))
        coder = Coder(args.tabular, rules=linted_book(args), cms_dir=args.cms_dir)
        coded = [(n, coder.code(n.text, document=n.document, setting=args.setting)) for n in notes]
    except OSError as exc:
        raise UsageError(f"medcode code: {name}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"medcode code: {name}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    except UnreadableInput as exc:  # its message names the input already
        raise UsageError(f"medcode code: {exc}") from exc
    except (FhirInputError, InputError) as exc:
        raise UsageError(f"medcode code: {name}: {exc}") from exc
    print_json(to_bundle(coded, recorded_now()))
    return EXIT_OK


def serve(args: argparse.Namespace) -> int:
    """`medcode serve`: the REST service (needs the `service` extra: fastapi, uvicorn)."""
    import json
    import os

    from .rule_commands import rules_environment

    try:
        import uvicorn

        from .service import (
            API_KEYS_FILE_ENV,
            NO_AUTH_ENV,
            Auth,
            AuthError,
            Limits,
            create_app,
            log_config,
            server_options,
        )
    except ImportError as exc:
        raise UsageError(
            f"medcode serve: needs the service extra ({exc.name} is not installed): "
            "pip install 'medcode[service]'"
        ) from exc
    if args.openapi:
        print(json.dumps(create_app().openapi(), indent=2, ensure_ascii=False))
        return EXIT_OK
    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        allowed_hosts=(args.host, *args.allow_host),
        header_timeout=args.header_timeout,
        read_timeout=args.read_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
        max_header_bytes=args.max_header_bytes,
        note_budget=args.budget,
    )
    # The workers are processes that build the app themselves: settings go by environment.
    if args.api_keys_file:
        os.environ[API_KEYS_FILE_ENV] = args.api_keys_file
    if args.no_auth:
        os.environ[NO_AUTH_ENV] = "1"
    os.environ.update(limits.environment())
    os.environ.update(rules_environment(args))  # the added packs, linted
    try:  # before uvicorn starts: keys that cannot be used, or --no-auth off loopback
        Auth.for_server(args.host)
    except AuthError as exc:
        raise UsageError(f"medcode serve: {exc}") from exc
    if args.tabular:
        os.environ["MEDCODE_TABULAR"] = args.tabular
    if args.cms_dir:
        os.environ[CMS_DIR_ENV] = args.cms_dir
    uvicorn.run(
        "medcode.engine.interfaces.service:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.log_level in ("debug", "info"),
        log_config=log_config(),
        **server_options(limits),
    )
    return EXIT_OK


def batch(args: argparse.Namespace) -> int:
    """`medcode batch IN -o OUT.jsonl`: exit 1 when a document of this run failed, 130 when
    Ctrl-C ended it."""
    import os
    import sys
    from pathlib import Path

    from .batch import BatchError, run_batch
    from .rule_commands import linted_paths

    rules = linted_paths(args)
    if args.cms_dir:  # the workers are processes: they read the Index folder from the environment
        os.environ[CMS_DIR_ENV] = args.cms_dir
    try:
        summary = run_batch(
            Path(args.source),
            Path(args.output),
            workers=args.workers,
            setting=args.setting,
            tabular=args.tabular,
            progress=None if args.no_progress else sys.stderr,
            notices=sys.stderr,
            budget=args.budget,
            rules=rules,
        )
    except BatchError as exc:
        raise UsageError(f"medcode batch: {exc}") from exc
    if summary.interrupted:  # Ctrl-C: the usual exit status of a command ended by SIGINT
        say(
            f"medcode batch: interrupted: {summary.coded} coded, {summary.failed} failed, "
            f"{summary.remaining} remaining; rerun to resume"
        )
        return 130
    say(
        f"medcode batch: {summary.total} documents: {summary.coded} coded, {summary.failed} "
        f"failed, {summary.already} already in {args.output}; {summary.seconds:.1f} s"
    )
    return EXIT_FINDINGS if summary.failed else EXIT_OK


__all__ = [
    "batch",
    "code",
    "code_fhir",
    "explain",
    "replay",
    "search",
    "serve",
    "show",
    "terminology_info",
    "validate",
]
