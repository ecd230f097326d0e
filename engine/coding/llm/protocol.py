"""The conversation with the model: the prompt and request sent, and how an answer is read."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .values import ABSTAIN, Ambiguity, Choice

ANSWER_CHARS = 300  # of the raw answer kept in the trace
SENTENCE_CHARS = 1_500  # of the sentence sent; longer ones are cut around the span
MAX_TOKENS = 256
SYSTEM_PROMPT = (
    "You assist a deterministic ICD-10-CM coding engine with one ambiguous mention in a "
    "clinical note. Choose the single candidate code that the documentation supports, "
    "following the ICD-10-CM Official Guidelines for Coding and Reporting and the Tabular "
    "notes given. Never answer a code that is not a candidate. If the documentation does not "
    "clearly support exactly one candidate, abstain. Answer only with a JSON object: "
    '{"code": "<candidate code>"} or {"code": "abstain"}.'
)


def build_messages(ambiguity: Ambiguity) -> list[dict[str, str]]:
    """The chat messages for one ambiguity: the same ambiguity gives the same messages."""
    by_code = {c.code: c for c in ambiguity.candidates}
    lines = [
        f"Mention: {_quoted(ambiguity.span)}",
        f"Sentence: {_quoted(_window(ambiguity.sentence, ambiguity.span))}",
        f"Section: {ambiguity.section or 'unknown'}",
        f"Why the engine could not decide: {ambiguity.reason}",
        "Candidate codes:",
    ]
    for number, code in enumerate(ambiguity.codes, 1):
        lines.append(f"{number}. {code} {by_code[code].description}")
        lines += [f"   - {note}" for note in by_code[code].notes]
    choices = ", ".join(_quoted(code) for code in (*ambiguity.codes, ABSTAIN))
    lines.append(f'Answer with JSON only: {{"code": X}} where X is one of {choices}.')
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def request_body(model: str, ambiguity: Ambiguity) -> dict[str, Any]:
    """The chat-completions request: temperature 0, and a JSON schema whose `code` is one of
    the candidates or "abstain" (servers that ignore response_format are parsed the same)."""
    return {
        "model": model,
        "messages": build_messages(ambiguity),
        "temperature": 0,
        "seed": 0,
        "max_tokens": MAX_TOKENS,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "icd10cm_choice",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"code": {"type": "string", "enum": [*ambiguity.codes, ABSTAIN]}},
                    "required": ["code"],
                    "additionalProperties": False,
                },
            },
        },
    }


def read_answer(
    ambiguity: Ambiguity,
    model: str,
    prompt_sha256: str,
    answer: tuple[str | None, str | None],
    *,
    cached: bool,
) -> Choice:
    """The choice a raw (content, refusal) answer makes: a candidate (matched whatever its
    case), abstain, or why neither (refused, invalid, malformed)."""
    content, refusal = answer
    code, status, raw = None, "malformed", content or ""
    if refusal:
        status, raw = "refused", refusal
    elif content:
        value = _json_object(content)
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            said = value["code"].strip()
            codes = {c.upper(): c for c in ambiguity.codes}
            if said.lower() == ABSTAIN:
                status = "abstained"
            elif said.upper() in codes:
                code, status = codes[said.upper()], "chosen"
            else:
                status = "invalid"
    return Choice(code, status, model, prompt_sha256, raw[:ANSWER_CHARS], cached)


def _json_object(content: str) -> Any:
    """The JSON value of an answer, tolerating a ``` fence or words around one object."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        try:
            return json.JSONDecoder().raw_decode(text[start:])[0] if start >= 0 else None
        except ValueError:
            return None


def digest(value: Any) -> str:
    """sha256 of a JSON value written canonically (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _window(sentence: str, span: str) -> str:
    """The sentence, or SENTENCE_CHARS of it centred on the span when it is longer."""
    if len(sentence) <= SENTENCE_CHARS:
        return sentence
    centre = max(0, sentence.find(span)) + len(span) // 2
    start = max(0, min(centre - SENTENCE_CHARS // 2, len(sentence) - SENTENCE_CHARS))
    return sentence[start : start + SENTENCE_CHARS]
