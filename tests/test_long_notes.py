"""Long notes cost in proportion to their length, and a shared engine takes them chunk by chunk
(docs/RELIABILITY.md). Timings are in tools/bench.py, never here."""

from __future__ import annotations

import threading

import pytest

from medcode.engine.coding.coder import BudgetExceeded, Coder, InputError, Pace
from medcode.engine.coding.pace import TurnLock
from medcode.terminology import CodeSet

PROBLEMS = ["COPD", "hypertension", "GERD", "gout", "hypothyroidism", "osteoarthritis"]
PROBLEM_CODES = ["E03.9", "I10", "J44.9", "K21.9", "M10.9", "M19.90"]
# 3,000 lines of 18 characters: three chunks of text (cut at a line's end) and 3,000 mentions
REPEATED = "Assessment: COPD.\n" * 3000


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def codes(coder: Coder, text: str, pace: Pace | None = None) -> list[str]:
    return sorted({c.code for c in coder.code(text, setting="outpatient", pace=pace).codes})


class CountingLock:
    """A lock that counts how often it is taken."""

    def __init__(self) -> None:
        self.taken = 0

    def __enter__(self) -> None:
        self.taken += 1

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_list_of_six_hundred_problems_codes_like_a_list_of_six(coder: Coder) -> None:
    # each concept reads a window of its sentence, not the whole of a flattened list
    assert codes(coder, "Assessment: " + ", ".join(PROBLEMS) + ".") == PROBLEM_CODES
    assert codes(coder, "Assessment: " + ", ".join(PROBLEMS * 100) + ".") == PROBLEM_CODES


def test_a_long_sentence_keeps_the_words_written_with_a_concept(coder: Coder) -> None:
    filler = ", ".join(["status post appendectomy"] * 300)
    text = f"Assessment: type 2 diabetes with diabetic CKD stage 3a, {filler}."
    assert codes(coder, text) == ["E11.22", "N18.31", "Z90.49"]


@pytest.mark.parametrize("specific_first", [True, False])
def test_every_repeat_of_a_condition_folds_into_its_specific_code(
    coder: Coder, specific_first: bool
) -> None:
    specific = "Type 2 diabetes mellitus with diabetic CKD stage 3a.\n"
    repeats = "Type 2 diabetes.\n" * 500
    text = "Assessment: " + (specific + repeats if specific_first else repeats + specific)
    result = coder.code(text, setting="outpatient")
    assert sorted({c.code for c in result.codes}) == ["E11.22", "N18.31"]
    (folded,) = [c for c in result.excluded if c.code == "E11.9"]
    assert folded.reason == "documented more specifically as E11.22"
    assert len(folded.evidence) == 500


def test_a_shared_engine_is_held_once_per_chunk_of_work(coder: Coder) -> None:
    lock = CountingLock()
    paced = coder.code(REPEATED, setting="outpatient", pace=Pace(lock=lock))
    # 3 chunks of text read, 3,000 mentions coded 256 at a time (12), then 3 steps for the note
    # (combination, the rules, the claim)
    assert lock.taken == 3 + 12 + 3
    assert paced.to_json() == coder.code(REPEATED, setting="outpatient").to_json()


def test_a_note_over_its_time_budget_is_an_input_error_for_that_note(coder: Coder) -> None:
    with pytest.raises(BudgetExceeded) as refused:
        coder.code(REPEATED, setting="outpatient", pace=Pace(budget=0.001))
    message = str(refused.value)
    assert isinstance(refused.value, InputError)
    assert message.startswith("note over the time budget: stopped after ")
    assert message.endswith(" s of work (limit 0.001 s)")
    # the engine goes on with the next note
    assert codes(coder, "Assessment: COPD.", Pace(budget=60)) == ["J44.9"]


@pytest.mark.parametrize("budget", [0, -1.5])
def test_a_time_budget_is_a_positive_number_of_seconds(budget: float) -> None:
    with pytest.raises(ValueError, match="a time budget is a positive number of seconds"):
        Pace(budget=budget)


def test_the_turn_lock_serves_its_waiters_in_the_order_they_came() -> None:
    lock, order = TurnLock(), []

    def wait(name: str) -> None:
        with lock:
            order.append(name)

    lock.__enter__()
    threads = []
    for name in ["first", "second", "third"]:
        thread = threading.Thread(target=wait, args=(name,))
        thread.start()
        while len(lock._queue) < len(threads) + 1:  # until it waits in line
            threading.Event().wait(0.001)
        threads.append(thread)
    order.append("holder")
    lock.__exit__(None, None, None)
    # the holder takes it again at once, and queues behind the three already waiting
    wait("holder again")
    for thread in threads:
        thread.join()
    assert order == ["holder", "first", "second", "third", "holder again"]


def test_a_note_over_twenty_million_characters_is_refused(coder: Coder) -> None:
    with pytest.raises(InputError) as refused:
        coder.code("COPD\n" * 4_000_001)
    assert str(refused.value) == "note too large: 20000005 characters (limit 20000000)"
