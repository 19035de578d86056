"""The first paper's three-choice framework (SCIENCE.md §6.2's proposal) on a free-recall answer:
after the generated answer the model is asked whether it is true, false or neutral, and the
measures of the label probabilities (``engine.choice_measures``) are taken on that three-label
distribution, stored as ``tc_choice_entropy``, ``tc_choice_top1`` and ``tc_choice_margin``.

The question is appended to the prompt and the answer as plain text (for chat runs too: inside
the assistant's turn, not as a new user turn), and computed with the key/value cache of prompt and
answer (``engine.generate``). A label's probability is the sum over its single-token spellings
(``" true"``, ``" True"``, ``"true"``, ``"True"``, as the successor sums letter spellings).
Torch-free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from common.errors import BadInput
from engine.choice_measures import choice_measures

QUESTION = "\nIs this answer true, false or neutral? Answer:"
LABELS = ("true", "false", "neutral")
PREFIX = "tc_"
MEASURES = tuple(PREFIX + name for name in ("choice_entropy", "choice_top1", "choice_margin"))


def spellings(label: str) -> list[str]:
    return list(dict.fromkeys(form.format(case) for form in (" {}", "{}")
                              for case in (label, label.capitalize())))


def label_token_ids(tokenizer: Any) -> list[list[int]]:
    """Per label, the ids of its spellings that are one token (each id once)."""
    out = []
    for label in LABELS:
        ids = [tokenizer.encode(s, add_special_tokens=False) for s in spellings(label)]
        out.append(list(dict.fromkeys(i[0] for i in ids if len(i) == 1)))
    missing = [label for label, ids in zip(LABELS, out, strict=True) if not ids]
    if missing:
        raise BadInput(f"no spelling of the three-choice label(s) {', '.join(missing)} is one "
                       "token for this tokenizer", fix="free recall needs them: use another model")
    return out


def question_ids(tokenizer: Any) -> list[int]:
    return tokenizer.encode(QUESTION, add_special_tokens=False)


def label_probabilities(p: np.ndarray, label_ids: list[list[int]]) -> np.ndarray:
    """q_l = the sum of ``p`` over label l's spelling ids."""
    return np.array([float(p[ids].sum()) for ids in label_ids])


def measures(q: np.ndarray) -> dict[str, float]:
    return {PREFIX + name: value for name, value in choice_measures(q).items()}
