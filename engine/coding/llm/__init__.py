"""The optional LLM fallback for ambiguous spans (docs/LLM.md): an OpenAI-compatible server
chooses one of the candidate codes the engine found for a mention, or abstains.

Off unless configured: without MEDCODE_LLM_URL (or a config file) nothing leaves the machine.
The model never adds a code: an answer outside the candidates, or any failure, is a `Choice`
with code None; the engine then keeps its deterministic choice and raises a review edit
(`review_edit`). Answers are cached on disk by sha256 of (model, prompt), so a rerun makes no
call and gives the same choices.

    config = LLMConfig.from_env()          # None: no LLM
    chooser = LLMChooser(config)           # once per engine
    session = chooser.session()            # once per document (the call budget)
    choice = session.choose(Ambiguity(span, sentence, section, candidates, reason))
    trace.append(choice.to_trace())
"""

from .chooser import LLMChooser, LLMSession
from .config import LLMConfig, LLMConfigError, default_cache_dir
from .protocol import build_messages, request_body
from .values import (
    ABSTAIN,
    STATUSES,
    Ambiguity,
    Candidate,
    Choice,
    candidates_from_codeset,
    review_edit,
)

__all__ = [
    "ABSTAIN",
    "STATUSES",
    "Ambiguity",
    "Candidate",
    "Choice",
    "LLMChooser",
    "LLMConfig",
    "LLMConfigError",
    "LLMSession",
    "build_messages",
    "candidates_from_codeset",
    "default_cache_dir",
    "request_body",
    "review_edit",
]
