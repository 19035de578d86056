"""Stable engine error codes (the protocol's `error.code`). Torch-free."""

from __future__ import annotations

from datasets_io.errors import BadInput

BAD_INPUT = "BAD_INPUT"
MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
BAD_MODEL = "BAD_MODEL"
OOM = "OOM"
CANCELLED = "CANCELLED"
INTERNAL = "INTERNAL"
CODES = (BAD_INPUT, MODEL_NOT_FOUND, BAD_MODEL, OOM, CANCELLED, INTERNAL)

SUGGESTIONS = {
    BAD_INPUT: "check the dataset name and the run settings",
    MODEL_NOT_FOUND: "run `alignuq models list` to see the models found locally",
    BAD_MODEL: "the path must hold a causal LM with its tokenizer (config.json, weights, tokenizer files) or be a .gguf file",
    OOM: "lower --batch-tokens, or use a smaller model or dtype",
    CANCELLED: "run the same command again to resume where it stopped",
    INTERNAL: "this is a bug: please report it with the run's events.jsonl",
}


class EngineError(Exception):
    """An error with a stable code, carried to the front end as the protocol's `error`.

    ``suggestion`` (what to do) defaults to the code's; an error that knows better gives its own.
    """

    def __init__(self, code: str, message: str, suggestion: str | None = None):
        assert code in CODES, code
        self.code = code
        self.message = message
        self.suggestion = suggestion or SUGGESTIONS[code]
        super().__init__(f"{code}: {message}")

    @classmethod
    def from_bad_input(cls, err: BadInput) -> EngineError:
        """BAD_INPUT with the error's own fix as the suggestion (what and where as the message)."""
        return cls(BAD_INPUT, BadInput(err.what, where=err.where, line=err.line).message, err.fix)
