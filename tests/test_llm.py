"""The LLM fallback against a loopback chat-completions server that answers from a script."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from medcode.engine.coding.llm import (
    Ambiguity,
    Candidate,
    Choice,
    LLMChooser,
    LLMConfig,
    LLMConfigError,
    build_messages,
    candidates_from_codeset,
    review_edit,
)
from medcode.engine.result import CodedCode, CodingResult, Edit, Evidence, ExcludedCode
from medcode.terminology import CodeSet

CKD = Ambiguity(
    span="CKD stage 3",
    sentence="Assessment: CKD stage 3, GFR 52.",
    section="assessment",
    candidates=(
        Candidate("N18.31", "Chronic kidney disease, stage 3a", ("Inclusion term: CKD 3a",)),
        Candidate("N18.30", "Chronic kidney disease, stage 3 unspecified"),
        Candidate("N18.32", "Chronic kidney disease, stage 3b"),
    ),
    reason="stage 3 without a or b",
)
PROMPT = """Mention: "CKD stage 3"
Sentence: "Assessment: CKD stage 3, GFR 52."
Section: assessment
Why the engine could not decide: stage 3 without a or b
Candidate codes:
1. N18.30 Chronic kidney disease, stage 3 unspecified
2. N18.31 Chronic kidney disease, stage 3a
   - Inclusion term: CKD 3a
3. N18.32 Chronic kidney disease, stage 3b
Answer with JSON only: {"code": X} where X is one of "N18.30", "N18.31", "N18.32", "abstain"."""


@dataclass
class Script:
    """What the server answers, in order, and what it was asked."""

    answers: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


def completion(content: str | None, **message: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "stop",
            }
        ],
    }


class Handler(BaseHTTPRequestHandler):
    script: Script

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.script.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
        )
        status, payload, delay, *headers = self.script.answers.pop(0)
        time.sleep(delay)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (the timeout test)
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    handler = type("ScriptedHandler", (Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ask(server: tuple[str, Script], tmp_path: Path):
    """ask(*answers, **config) -> (chooser, script): a chooser on the scripted server."""
    url, script = server

    def make(*answers: tuple[Any, ...], **config: Any) -> tuple[LLMChooser, Script]:
        script.answers[:] = list(answers)
        script.requests.clear()
        settings = {"model": "qwen2.5-7b", "cache_dir": tmp_path / "llm", **config}
        return LLMChooser(LLMConfig(url, **settings)), script

    return make


def answer(content: str | None, **message: Any) -> tuple[int, Any, float]:
    return 200, completion(content, **message), 0.0


def test_a_candidate_is_chosen_and_the_request_is_exact(ask) -> None:
    chooser, script = ask(answer('{"code": "N18.30"}'), api_key="sk-test")
    choice = chooser.choose(CKD)
    prompt_sha256 = choice.prompt_sha256
    assert choice == Choice("N18.30", "chosen", "qwen2.5-7b", prompt_sha256, '{"code": "N18.30"}')
    assert len(prompt_sha256) == 64
    [request] = script.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "qwen2.5-7b"
    assert body["temperature"] == 0
    assert body["messages"][1] == {"role": "user", "content": PROMPT}
    assert body["messages"][0]["role"] == "system"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == {
        "type": "object",
        "properties": {
            "code": {"type": "string", "enum": ["N18.30", "N18.31", "N18.32", "abstain"]}
        },
        "required": ["code"],
        "additionalProperties": False,
    }
    assert choice.to_trace() == {
        "step": "llm",
        "model": "qwen2.5-7b",
        "prompt_sha256": prompt_sha256,
        "status": "chosen",
        "answer": '{"code": "N18.30"}',
        "code": "N18.30",
        "cached": False,
    }


def test_the_prompt_does_not_depend_on_the_order_of_candidates() -> None:
    shuffled = replace(CKD, candidates=tuple(reversed(CKD.candidates)))
    assert build_messages(shuffled) == build_messages(CKD)


def test_abstain_is_no_code(ask) -> None:
    chooser, _ = ask(answer('{"code": "abstain"}'))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status, choice.answer) == (None, "abstained", '{"code": "abstain"}')


def test_a_code_outside_the_candidates_is_invalid(ask) -> None:
    chooser, _ = ask(answer('{"code": "N18.4"}'))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status, choice.answer) == (None, "invalid", '{"code": "N18.4"}')


def test_an_answer_that_is_not_json_is_malformed(ask) -> None:
    chooser, _ = ask(answer("The patient has stage 3 CKD, I would pick N18.30"))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status) == (None, "malformed")
    assert choice.answer == "The patient has stage 3 CKD, I would pick N18.30"


def test_a_json_answer_without_a_code_is_malformed(ask) -> None:
    chooser, _ = ask(answer('{"choice": "N18.30"}'), answer('["N18.30"]'))
    assert chooser.choose(CKD).status == "malformed"
    assert chooser.choose(CKD).status == "malformed"


def test_servers_that_ignore_response_format_are_read(ask) -> None:
    fenced = '```json\n{"code": "n18.32"}\n```'
    chooser, _ = ask(answer(fenced), answer('Answer: {"code": "N18.31"} (CKD 3a)'))
    first = chooser.choose(CKD)
    assert (first.code, first.status, first.answer) == ("N18.32", "chosen", fenced)
    second = replace(CKD, span="CKD 3")  # another prompt: not the cached answer
    assert (chooser.choose(second).code, chooser.choose(second).status) == ("N18.31", "chosen")


def test_a_slow_answer_times_out(ask) -> None:
    chooser, script = ask((200, completion('{"code": "N18.30"}'), 1.5), timeout=0.5)
    started = time.monotonic()
    choice = chooser.choose(CKD)
    assert time.monotonic() - started < 1.2
    assert (choice.code, choice.status, choice.answer) == (
        None,
        "timeout",
        "no answer within 0.5 s",
    )
    assert choice.model == "qwen2.5-7b" and len(choice.prompt_sha256) == 64
    assert len(script.requests) == 1


def test_an_http_error_is_reported_and_not_cached(ask) -> None:
    chooser, script = ask((500, {"error": "model not loaded"}, 0.0), answer('{"code": "N18.31"}'))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status) == (None, "http-error")
    assert choice.answer == 'HTTP 500 Internal Server Error: {"error": "model not loaded"}'
    assert chooser.choose(CKD).status == "chosen"  # the failure was not cached
    assert len(script.requests) == 2


def test_a_body_that_is_not_a_chat_completion_is_malformed(ask) -> None:
    chooser, _ = ask((200, b"<html>proxy login</html>", 0.0))
    choice = chooser.choose(CKD)
    assert (choice.status, choice.answer) == (
        "malformed",
        "not a chat completion: <html>proxy login</html>",
    )


def test_an_unreachable_server_is_an_http_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LLMConfig(f"http://127.0.0.1:{port}/v1", "m", cache_dir=tmp_path)
    choice = LLMChooser(config).choose(CKD)
    assert (choice.code, choice.status) == (None, "http-error")
    assert choice.answer.startswith("cannot reach the server: ")


def test_a_redirect_is_not_followed(ask) -> None:
    chooser, script = ask((307, b"", 0.0, ("Location", "http://example.org/v1/chat/completions")))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status, choice.answer) == (
        None,
        "http-error",
        "HTTP 307 Temporary Redirect: ",
    )
    assert len(script.requests) == 1


def test_a_content_filter_stop_is_a_refusal(ask) -> None:
    filtered = completion("")
    filtered["choices"][0]["finish_reason"] = "content_filter"
    chooser, _ = ask((200, filtered, 0.0))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status, choice.answer) == (
        None,
        "refused",
        "finish_reason: content_filter",
    )


def test_a_refusal_is_refused(ask) -> None:
    chooser, _ = ask(answer(None, refusal="I can't help with medical coding."))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.status) == (None, "refused")
    assert choice.answer == "I can't help with medical coding."


def test_the_second_run_is_answered_from_the_cache(ask, tmp_path: Path) -> None:
    chooser, script = ask(answer('{"code": "N18.31"}'))
    first = chooser.choose(CKD)
    again, script = ask()  # a new chooser, the same cache folder; the server has no answer
    second = again.choose(CKD)
    third = again.choose(CKD)
    assert script.requests == []
    assert second == replace(first, cached=True)
    assert json.dumps(second.to_trace()) == json.dumps(third.to_trace())
    [entry] = (tmp_path / "llm").glob("*/*.json")
    assert json.loads(entry.read_text())["answer"] == ['{"code": "N18.31"}', None]
    assert [p.name for p in (tmp_path / "llm").rglob(".*")] == []  # no temporary file left


def test_another_model_is_not_answered_from_the_cache(ask) -> None:
    chooser, _ = ask(answer('{"code": "N18.31"}'))
    chooser.choose(CKD)
    other, script = ask(answer('{"code": "abstain"}'), model="llama-3.1-8b")
    assert other.choose(CKD).status == "abstained"
    assert len(script.requests) == 1


def test_a_corrupt_cache_file_is_ignored_and_overwritten(ask, tmp_path: Path) -> None:
    chooser, _ = ask(answer('{"code": "N18.31"}'))
    chooser.choose(CKD)
    [entry] = (tmp_path / "llm").glob("*/*.json")
    entry.write_text('{"model": "qwen2.5-7b", "answ')
    chooser, script = ask(answer('{"code": "N18.32"}'))
    choice = chooser.choose(CKD)
    assert (choice.code, choice.cached, len(script.requests)) == ("N18.32", False, 1)
    assert json.loads(entry.read_text())["answer"] == ['{"code": "N18.32"}', None]


def test_the_budget_stops_calls_and_counts_cached_answers(ask) -> None:
    chooser, script = ask(answer('{"code": "N18.30"}'), answer('{"code": "N18.31"}'), max_calls=2)
    session = chooser.session()
    other = replace(CKD, span="CKD 3")
    statuses = [session.choose(a).status for a in (CKD, other, replace(CKD, span="CKD III"))]
    assert statuses == ["chosen", "chosen", "budget"]
    assert len(script.requests) == 2
    # the next document has its own budget; its answers come from the cache and still count
    rerun = chooser.session()
    assert [rerun.choose(a).cached for a in (CKD, other)] == [True, True]
    budget = rerun.choose(CKD)
    assert (budget.code, budget.status, budget.answer, budget.cached) == (None, "budget", "", False)
    assert budget.prompt_sha256 == chooser.choose(CKD).prompt_sha256
    assert rerun.calls_left == 0 and len(script.requests) == 2


def test_review_edit_keeps_the_deterministic_choice() -> None:
    choice = Choice(None, "timeout", "m", "0" * 64, "no answer within 0.5 s")
    assert review_edit(CKD, choice, "N18.30") == Edit(
        "llm-needs-review",
        "warning",
        ("N18.30", "N18.31", "N18.32"),
        '"CKD stage 3" could also be N18.31, N18.32 (stage 3 without a or b); the model did not '
        "answer in time, so N18.30 was kept: please review",
        "engine/llm",
    )
    assert review_edit(CKD, replace(choice, code="N18.31", status="chosen"), "N18.30") is None


def test_an_ambiguity_needs_distinct_candidates() -> None:
    with pytest.raises(ValueError, match="distinct candidate codes"):
        replace(CKD, candidates=(CKD.candidates[0], CKD.candidates[0]))
    with pytest.raises(ValueError, match="distinct candidate codes"):
        replace(CKD, candidates=())


def test_candidates_carry_the_notes_that_tell_them_apart(codeset: CodeSet) -> None:
    type1, type2 = candidates_from_codeset(codeset, ["E10.9", "E11.9"])
    assert type2 == Candidate(
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        (
            "Excludes1: type 2 diabetes mellitus, without complications in remission (E11.A)",
            "Includes: diabetes (mellitus) due to insulin secretory defect",
            "Includes: diabetes NOS",
            "Includes: insulin resistant diabetes (mellitus)",
            "Excludes1: type 1 diabetes mellitus (E10.-)",
        ),
    )
    assert type1.notes[-2:] == (
        "Excludes1: hyperglycemia NOS (R73.9)",
        "Excludes1: type 2 diabetes mellitus (E11.-)",
    )
    # notes shared by every candidate (the chapter's, gestational diabetes...) are left out
    assert not any("gestational" in note for note in type1.notes + type2.notes)


# -- configuration ---------------------------------------------------------------------------


def test_without_a_url_there_is_no_llm() -> None:
    assert LLMConfig.from_env({}) is None
    assert LLMConfig.from_env({"MEDCODE_LLM_MODEL": "m", "MEDCODE_LLM_URL": " "}) is None


def test_the_configuration_is_read_from_the_environment() -> None:
    config = LLMConfig.from_env(
        {
            "MEDCODE_LLM_URL": "http://127.0.0.1:8080/v1/",
            "MEDCODE_LLM_MODEL": "qwen2.5-7b",
            "MEDCODE_LLM_API_KEY": "sk-secret",
            "MEDCODE_LLM_TIMEOUT": "2.5",
            "MEDCODE_LLM_MAX_CALLS": "3",
            "MEDCODE_CACHE_DIR": "/srv/cache",
        }
    )
    assert config == LLMConfig(
        "http://127.0.0.1:8080/v1", "qwen2.5-7b", "sk-secret", 2.5, 3, Path("/srv/cache/llm")
    )
    assert "sk-secret" not in repr(config)


def test_the_default_cache_is_under_the_medcode_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDCODE_CACHE_DIR", "/tmp/medcode-test")
    config = LLMConfig.from_env({"MEDCODE_LLM_URL": "http://h/v1", "MEDCODE_LLM_MODEL": "m"})
    assert (config.cache_dir, config.timeout, config.max_calls) == (
        Path("/tmp/medcode-test/llm"),
        20.0,
        10,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDCODE_LLM_URL": "http://h/v1"}, "MEDCODE_LLM_URL is set but MEDCODE_LLM_MODEL is not"),
        (
            {"MEDCODE_LLM_URL": "h:8000", "MEDCODE_LLM_MODEL": "m"},
            "LLM url must be http(s)://HOST[:PORT]/..., not 'h:8000'",
        ),
        (
            {"MEDCODE_LLM_URL": "http://h", "MEDCODE_LLM_MODEL": "m", "MEDCODE_LLM_TIMEOUT": "x"},
            "$MEDCODE_LLM_TIMEOUT must be a number, not 'x'",
        ),
        (
            {"MEDCODE_LLM_URL": "http://h", "MEDCODE_LLM_MODEL": "m", "MEDCODE_LLM_TIMEOUT": "0"},
            "LLM timeout must be > 0 seconds, not 0.0",
        ),
        (
            {
                "MEDCODE_LLM_URL": "http://h",
                "MEDCODE_LLM_MODEL": "m",
                "MEDCODE_LLM_MAX_CALLS": "1.5",
            },
            "$MEDCODE_LLM_MAX_CALLS must be an integer, not '1.5'",
        ),
    ],
)
def test_a_bad_environment_is_one_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(LLMConfigError) as error:
        LLMConfig.from_env(env)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


def test_the_configuration_is_read_from_yaml_or_json(tmp_path: Path) -> None:
    (tmp_path / "llm.yaml").write_text(
        "url: http://127.0.0.1:11434/v1\nmodel: llama3.1:8b\nmax_calls: 0\ncache_dir: cache\n"
    )
    assert LLMConfig.from_file(tmp_path / "llm.yaml") == LLMConfig(
        "http://127.0.0.1:11434/v1", "llama3.1:8b", max_calls=0, cache_dir=tmp_path / "cache"
    )
    (tmp_path / "llm.json").write_text(
        '{"url": "https://api.example/v1", "model": "m", "timeout": 5}'
    )
    config = LLMConfig.from_file(tmp_path / "llm.json")
    assert (config.url, config.model, config.timeout) == ("https://api.example/v1", "m", 5.0)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.yaml", "url: http://h\nmodle: m\n", "unknown key(s) ['modle']"),
        ("a.yaml", "url: http://h\n", "'model' is required (a string)"),
        (
            "a.yaml",
            "url: [http://h\nmodel: m\n",
            "a.yaml:2: invalid YAML: expected ',' or ']', but got ':'",
        ),
        ("a.json", '{"url": "http://h",\n "model": }', "a.json:2: invalid JSON: Expecting value"),
        ("a.yaml", "- url\n", "expected a mapping of url, model, ..."),
        ("a.yaml", "url: http://h\nmodel: m\nmax_calls: true\n", "'max_calls' must be an integer"),
        ("a.yaml", "url: http://h\nmodel: m\ntimeout: [1]\n", "'timeout' must be a number"),
        ("missing.yaml", None, "cannot read LLM configuration"),
    ],
)
def test_a_bad_configuration_file_is_one_clear_error(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(LLMConfigError) as error:
        LLMConfig.from_file(tmp_path / name)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


# -- tools/bench_llm.py ----------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import bench_llm  # noqa: E402

NOTE = "A 60-year-old man.\nHe has chronic kidney disease stage 3.\nNo fever."
CKD_EVIDENCE = Evidence(26, 48, "chronic kidney disease", None, "affirmed")
FEVER_EVIDENCE = Evidence(61, 66, "fever", None, "negated")
AMBIGUOUS = {"step": "ambiguity", "candidates": ["N18.30", "N18.31"], "reason": "stage 3 a or b"}


def coded_note(*codes: CodedCode, excluded: tuple[ExcludedCode, ...] = ()) -> CodingResult:
    return CodingResult("doc-1", 2026, "inpatient", codes, excluded)


def ckd_code(trace: tuple[dict[str, Any], ...]) -> CodedCode:
    title = "Chronic kidney disease, stage 3 unspecified"
    return CodedCode("N18.30", title, 1, "low", (CKD_EVIDENCE,), trace)


FEVER = ExcludedCode(
    "R50.9",
    "negated",
    (FEVER_EVIDENCE,),
    ({"step": "ambiguity", "candidates": ["R50.9", "R50.81"], "reason": "x"},),
)


def test_the_bench_reads_ambiguity_steps_of_codes_and_excluded_candidates() -> None:
    result = coded_note(ckd_code(({"step": "match"}, AMBIGUOUS)), excluded=(FEVER,))
    assert bench_llm.marks(result) == [
        bench_llm.Mark("N18.30", True, ("N18.30", "N18.31"), "stage 3 a or b", CKD_EVIDENCE),
        bench_llm.Mark("R50.9", False, ("R50.9", "R50.81"), "x", FEVER_EVIDENCE),
    ]
    assert bench_llm.sentence_of(NOTE, CKD_EVIDENCE) == "He has chronic kidney disease stage 3."
    assert bench_llm.sentence_of(NOTE, FEVER_EVIDENCE) == "No fever."
    assert bench_llm.replaced({"N18.30", "I10"}, [("N18.30", "N18.31")]) == {"N18.31", "I10"}


def test_the_bench_counts_ambiguities_and_what_a_perfect_choice_could_gain() -> None:
    result = coded_note(ckd_code((AMBIGUOUS,)), excluded=(FEVER,))
    per_note = {"doc-1": bench_llm.marks(result), "doc-2": []}
    docs = {"doc-1": (NOTE, frozenset({"N18.31"})), "doc-2": ("", frozenset())}
    assert bench_llm.counting(per_note, docs) == {
        "notes": 2,
        "notes_with_ambiguity": 1,
        "mentions": 2,
        "in_reported_codes": 1,
        "in_excluded_candidates": 1,
        "per_note_mean": 1.0,
        "per_note_max": 2,
        "per_note_distribution": {"0": 1, "1": 0, "2": 1, "3": 0, "4": 0, "5+": 0},
        "candidates_per_mention": {2: 2},
        "reasons": {"stage 3 a or b": 1, "x": 1},
        "reported_headroom": {"another candidate is gold": 1},
        "top_candidate_sets": {"N18.30 | N18.31": 1, "R50.81 | R50.9": 1},
    }


def test_the_bench_scores_the_model_s_choices(ask, codeset: CodeSet) -> None:
    chooser, script = ask(answer('{"code": "N18.31"}'))
    result = coded_note(ckd_code((AMBIGUOUS,)))
    results = {"doc-1": (result, bench_llm.marks(result))}
    docs = {"doc-1": (NOTE, frozenset({"N18.31", "I10"}))}
    coder = SimpleNamespace(codeset=codeset)
    report = bench_llm.with_model(coder, chooser.config, results, docs)
    assert (
        "He has chronic kidney disease stage 3."
        in script.requests[0]["body"]["messages"][1]["content"]
    )
    assert (report["statuses"], report["codes_changed"]) == ({"chosen": 1}, 1)
    assert report["scores"]["exact"] == {
        "tp": 0,
        "fp": 1,
        "fn": 2,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
    }
    assert report["scores"]["exact_llm"] == {
        "tp": 1,
        "fp": 0,
        "fn": 1,
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
    }
    assert report["delta"] == {
        "exact": {"precision": 1.0, "recall": 0.5, "f1": 0.6667},
        "category": {"precision": 0.0, "recall": 0.0, "f1": 0.0},
    }


def test_the_bench_fails_clearly_when_the_coder_marks_no_ambiguity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import medcode.engine.coding.coder

    (tmp_path / "text_files_en").mkdir()
    (tmp_path / "text_files_en" / "doc-1.txt").write_text(NOTE)
    (tmp_path / "trainD.tsv").write_text("doc-1\tn18.31\n")

    class Plain:
        def __init__(self) -> None:
            self.versions: dict[str, str] = {}

        def code_traced(self, text: str, **kwargs: Any) -> tuple[CodingResult, None]:
            return coded_note(ckd_code(({"step": "match"},))), None

    monkeypatch.setattr(medcode.engine.coding.coder, "Coder", Plain)
    output = tmp_path / "out.json"
    assert bench_llm.main(["--codiesp", str(tmp_path), "--json", str(output)]) == 1
    assert capsys.readouterr().err == (
        'bench_llm: no ambiguity marking found: the coder reported no {"step": "ambiguity"} '
        "trace step in 1 notes, so there is nothing for the LLM to decide (is the ambiguity "
        "marking of engine/coder.py in place?)\n"
    )
    assert not output.exists()
    assert bench_llm.main(["--codiesp", str(tmp_path / "absent")]) == 0
    assert "skipped" in capsys.readouterr().out


# -- through the coder ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def coder_parts():
    from medcode.engine.coding.coder import Coder

    coder = Coder()
    return coder, coder.codeset, coder.walker


def coder_with(coder_parts, chooser: LLMChooser | None):
    from medcode.engine.coding.ambiguity import AmbiguityResolver

    coder, codeset, walker = coder_parts
    coder.ambiguity = AmbiguityResolver(codeset, walker, chooser)
    return coder


CHF = "Assessment: CHF, stable on diuretics."


def test_without_a_model_the_ambiguity_is_marked_and_the_fallback_stands(coder_parts) -> None:
    result = coder_with(coder_parts, None).code(CHF)
    (code,) = result.codes
    assert (code.code, code.confidence, [q.missing for q in result.queries]) == (
        "I50.9",
        "low",
        ["type"],
    )
    assert [s for s in code.trace if s["step"] == "ambiguity"] == [
        {
            "step": "ambiguity",
            "reason": "the note does not document the type",
            "candidates": ["I50.9", "I50.1", "I50.20", "I50.30", "I50.40", "I50.89"],
        }
    ]
    assert result.edits == ()


def test_the_model_chooses_a_candidate_and_the_rules_still_run(coder_parts, ask) -> None:
    chooser, script = ask(answer('{"code": "I50.30"}'))
    result = coder_with(coder_parts, chooser).code(CHF)
    (code,) = result.codes
    assert (code.code, result.queries, result.edits) == ("I50.30", (), ())
    llm = [s for s in code.trace if s["step"] == "llm"]
    assert [(s["status"], s["code"], s["cached"]) for s in llm] == [("chosen", "I50.30", False)]
    assert code.trace[-1] == {"step": "sequence", "position": 1}
    sent = script.requests[0]["body"]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["code"]["enum"] == [
        "I50.1", "I50.20", "I50.30", "I50.40", "I50.89", "I50.9", "abstain",
    ]  # fmt: skip


def test_a_failing_model_keeps_the_fallback_with_a_review_edit(coder_parts, ask) -> None:
    chooser, _ = ask(answer("I think it is diastolic"))
    result = coder_with(coder_parts, chooser).code(CHF)
    assert [c.code for c in result.codes] == ["I50.9"]
    assert [(e.rule, e.severity, e.codes) for e in result.edits] == [
        ("llm-needs-review", "warning", ("I50.9", "I50.1", "I50.20", "I50.30", "I50.40", "I50.89"))
    ]
