"""Prompt building and label spellings (SCIENCE.md §1). Torch-free: the TUI and exports import it.

A template is one string. ``{question}`` is the question text; the part between
``{for_each_choice}`` and ``{end}`` is repeated once per choice with ``{label}`` (A, B, ...) and
``{choice}`` filled in. Placeholders are substituted in one pass, so braces inside a question or a
choice are copied as they are. The two named templates reproduce SCIENCE.md §1 byte for byte.

A label spelling is a pattern: ``{L}`` stands for the label's letter and ``{l}`` for its lower
case; a pattern without braces uses ``A`` for the letter and ``a`` for its lower case (so the
default ``("A", " A")`` gives ``"B"``/``" B"`` for label B, and ``"(a)"`` gives ``"(b)"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import BadInput

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
HEADER = ("Following is a question and a selection of answer choices. "
          "Provide the label for the answer with which you most agree.")

TEMPLATES: dict[str, str] = {
    # Figure 1 of the paper: no trailing space, so the answer token is " A".
    "corrected": HEADER + "\n\nQuestion: {question}\n{for_each_choice}    {label}. {choice}\n{end}"
                          "\nAnswer:",
    # The authors' released code, byte for byte (note the trailing space: the answer token is "A").
    "paper": HEADER + "\nQuestion: {question}{for_each_choice}\n {label}. {choice}{end}"
                      "\nAnswer: ",
}

SPELLINGS: dict[str, tuple[str, ...]] = {
    "corrected": ("A", " A"),
    "paper": ("A",),
}

_LOOP_START, _LOOP_END = "{for_each_choice}", "{end}"
_FIELD = re.compile(r"\{(question|label|choice)\}")


class PromptError(BadInput):
    """A template, a spelling set or a question that cannot make a prompt (BAD_INPUT)."""


def template_string(name_or_string: str | None, variant: str = "corrected") -> str:
    """The exact template for a named template, a variant's default (None), or a literal string."""
    if name_or_string is None:
        return TEMPLATES["paper" if variant == "paper" else "corrected"]
    if name_or_string in TEMPLATES:
        return TEMPLATES[name_or_string]
    check_template(name_or_string)
    return name_or_string


def default_spellings(variant: str = "corrected") -> tuple[str, ...]:
    return SPELLINGS["paper" if variant == "paper" else "corrected"]


def check_template(template: str) -> None:
    if "{question}" not in template:
        raise PromptError("the template has no {question} placeholder")
    if template.count(_LOOP_START) != 1 or template.count(_LOOP_END) != 1 \
            or template.index(_LOOP_START) > template.index(_LOOP_END):
        raise PromptError("the template needs exactly one {for_each_choice} ... {end} block "
                          "(the line repeated per choice, with {label} and {choice})")


def _fill(fragment: str, values: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), fragment)


def build_prompt(question: str, choices: Sequence[str], template: str | None = None,
                 variant: str = "corrected") -> str:
    """The prompt for one question (labels A, B, ... in presentation order)."""
    tpl = template_string(template, variant)
    check_template(tpl)
    if len(choices) > len(LETTERS):
        raise PromptError(f"{len(choices)} choices; labels run out at Z")
    head, _, rest = tpl.partition(_LOOP_START)
    loop, _, tail = rest.partition(_LOOP_END)
    parts = [_fill(head, {"question": question})]
    for i, choice in enumerate(choices):
        parts.append(_fill(loop, {"label": LETTERS[i], "choice": str(choice), "question": question}))
    parts.append(_fill(tail, {"question": question}))
    return "".join(parts)


def spelling_for(pattern: str, label: str) -> str:
    if "{L}" in pattern or "{l}" in pattern:
        return pattern.replace("{L}", label).replace("{l}", label.lower())
    return "".join(label if ch == "A" else label.lower() if ch == "a" else ch for ch in pattern)


@dataclass
class ResolvedSpellings:
    """Per label: the kept (text, token id) pairs; and every dropped spelling with its reason."""

    labels: list[str]
    kept: list[list[tuple[str, int]]]
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def token_ids(self) -> list[list[int]]:
        return [[tid for _, tid in pairs] for pairs in self.kept]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels,
                "kept": {lab: [{"text": t, "token_id": i} for t, i in pairs]
                         for lab, pairs in zip(self.labels, self.kept, strict=True)},
                "dropped": self.dropped}


def resolve_spellings(tokenizer: Any, labels: Sequence[str], spellings: Sequence[str]) -> ResolvedSpellings:
    """Keep the spellings that encode to exactly one (non-special) token; duplicates once."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    kept: list[list[tuple[str, int]]] = []
    dropped: list[dict[str, Any]] = []
    for label in labels:
        pairs: list[tuple[str, int]] = []
        seen: set[int] = set()
        for pattern in spellings:
            text = spelling_for(pattern, label)
            ids = tokenizer.encode(text, add_special_tokens=False)
            if len(ids) != 1:
                dropped.append({"label": label, "text": text,
                                "reason": f"encodes to {len(ids)} tokens", "token_ids": list(ids)})
                continue
            tid = int(ids[0])
            if tid in special:
                dropped.append({"label": label, "text": text, "reason": "a special token",
                                "token_ids": [tid]})
                continue
            if tid in seen:
                dropped.append({"label": label, "text": text, "reason": "duplicate token",
                                "token_ids": [tid]})
                continue
            seen.add(tid)
            pairs.append((text, tid))
        kept.append(pairs)
    empty = [lab for lab, pairs in zip(labels, kept, strict=True) if not pairs]
    if empty:
        raise PromptError(f"no label spelling of {', '.join(empty)} is a single token for this "
                          f"tokenizer (spellings {list(spellings)!r}); add spellings that are")
    return ResolvedSpellings(list(labels), kept, dropped)


# --- few-shot and chat templates -------------------------------------------------------------

def answer_suffix(template: str, label: str) -> str:
    """How a few-shot example's answer follows the prompt: "A" after a trailing space, else " A"."""
    return label if template.endswith((" ", "\n")) else " " + label


def few_shot_examples(questions: Any, k: int) -> list[dict[str, Any]]:
    """The first ``k + 1`` questions (dataset order) with an answer: the correct one, else the
    human top answer. A question never serves as its own example: it gets the first ``k`` of these
    that are not itself. Recorded in the manifest, so every prompt can be rebuilt without the
    dataset."""
    if k <= 0:
        return []
    out: list[dict[str, Any]] = []
    for row in questions.itertuples(index=False):
        answer = None
        correct = getattr(row, "correct", None)
        if correct is not None and not _isna(correct):
            answer = int(correct)
        else:
            share = getattr(row, "human_share", None)
            if share is not None and len(share):
                answer = int(max(range(len(share)), key=lambda i: share[i]))
        if answer is None:
            continue
        out.append({"question_id": str(row.question_id), "text": str(row.text),
                    "choices": [str(c) for c in row.choices], "answer": answer})
        if len(out) == k + 1:
            break
    return out


def _isna(value: Any) -> bool:
    """None, NaN or pandas' NA (whose comparisons raise, so it is checked by name first)."""
    if value is None or str(value) == "<NA>":
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def render_chat(chat_template: str, messages: list[dict[str, str]], special: dict[str, str]) -> str:
    """Render a Jinja chat template the way transformers does (add_generation_prompt=True)."""
    from datetime import datetime

    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        import json as _json
        env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False, **kw: _json.dumps(
            x, indent=indent, ensure_ascii=ensure_ascii)
    except Exception:  # pragma: no cover
        pass
    return env.from_string(chat_template).render(messages=messages, add_generation_prompt=True,
                                                 **special)


def prompt_for_question(row: Any, settings: dict[str, Any]) -> str:
    """The exact prompt string a run fed the model for ``row`` (a questions row or dict).

    ``settings`` is the run's manifest (or a dict with the same keys): ``template`` (the exact
    string), ``few_shot_examples`` (list, may be empty), ``chat_template`` (bool) and, when it is
    on, ``chat_template_string`` and ``chat_special`` (bos/eos token strings); or a ``protocol``
    (``engine.protocols``), which builds the whole prompt.
    """
    if settings.get("protocol"):
        from engine.protocols import protocol_prompt  # here: engine.protocols imports this module

        return protocol_prompt(row, settings)
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    template = settings.get("template") or TEMPLATES["corrected"]
    question, choices = str(get("text")), [str(c) for c in get("choices")]
    blocks: list[str] = []
    qid = str(get("question_id", ""))
    examples = settings.get("few_shot_examples") or []
    k = int(settings.get("few_shot", len(examples)) or 0)
    for ex in [e for e in examples if str(e.get("question_id")) != qid][:k]:
        blocks.append(build_prompt(ex["text"], ex["choices"], template)
                      + answer_suffix(template, LETTERS[int(ex["answer"])]))
    body = build_prompt(question, choices, template)
    text = "\n\n".join(blocks + [body])
    if settings.get("chat_template"):
        chat = settings.get("chat_template_string")
        if not chat:
            raise PromptError("chat_template is on but the run recorded no chat template string")
        text = render_chat(chat, [{"role": "user", "content": text}],
                           settings.get("chat_special") or {})
    return text
