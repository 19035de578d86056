"""Named prompt protocols: a run's whole way of asking, fixed by one name (SCIENCE-successor.md §3).

A run without a protocol is asked as the first paper asked (its template, spellings, few-shot
and chat options, ``engine.prompts``). A protocol fixes all of them at once:

- ``successor``: the successor study's multiple-choice protocol. Two fixed examples (gold, First
  World War) as completion blocks joined by a blank line, after the model's BOS as a literal
  string (tokenised without adding special tokens: exactly one BOS); with ``--chat-template``
  (instruct models) the same examples as user/assistant turns, the system line as a system turn
  where the template takes one (else before the first user turn), the template's generation
  prompt last. Label spellings: nine templates in upper and lower case, single tokens only,
  their probabilities summed. Texts pass through the released code's ``unicode_clean``.
- ``successor-as-released``: the same, but the chat prompt ends in ``{`` as the released code's
  did (§3.3, fault 1: the letter is then scored after a brace, and most of the probability mass
  of many instruct models falls outside the letters). Only for reproducing the released numbers.

A generation run (free recall, ``task`` ``generate``) under ``successor`` is asked the successor's
free-recall way (§3.1-3.3): base models get BOS, the two examples as ``question\nFR_ANSWER_PROMPT
answer`` blocks and the question's block, ending in `` {`` (the opening bracket primed); instruct
models (``--chat-template``) the system line (as above), each example's bare question as a user
turn and its bracketed answer as the assistant's, the question's block last, then the template's
generation prompt and ``{``.

Torch-free: the exports rebuild a run's prompts from its manifest with :func:`protocol_prompt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.prompts import LETTERS, PromptError, build_prompt, render_chat

RELEASED_CHAT_TAIL = "{"

SUCCESSOR_TEMPLATE = "Question: {question}\n{for_each_choice}{label}. {choice}\n{end}Answer:"
MCQA_SYSTEM = "Answer each multiple choice question with only the letter of the correct answer."
SUCCESSOR_EXAMPLES = (
    {"question_id": "successor-example-1", "text": "What is the chemical symbol for gold?",
     "choices": ["Ag", "Mo", "Au", "Gd"], "answer": 2},
    {"question_id": "successor-example-2", "text": "In what year did the First World War end?",
     "choices": ["1939", "1918", "1914", "1945"], "answer": 1},
)
_SPELLING_FORMS = ("{}", "{}.", "{} ", "{})", "{},", "{}:", " {}", "({})", "{}\u3002")
# each form in upper then lower case (engine.prompts' {L}/{l} patterns); identical strings once
SUCCESSOR_SPELLINGS = tuple(dict.fromkeys(
    form.format(case) for form in _SPELLING_FORMS for case in ("{L}", "{l}")))
FR_SYSTEM = ("Answer each question concisely. Wrap the key part of your answer in {} brackets. "
             "Do not explain or elaborate beyond the bracketed answer.")
FR_ANSWER_PROMPT = "Answer in as few words as possible, wrapping the key part in {} brackets:"
FR_ANSWERS = ("The chemical symbol for gold is {Au}.", "{1918}.")  # of SUCCESSOR_EXAMPLES
OPEN_BRACKET = "{"
UNICODE_CLEAN = {"\u2013": "-", "\u2014": "-", "\u2019": "'", "\u2018": "'", "\u201d": '"',
                 "\u201c": '"', "\u2026": "..."}


def unicode_clean(text: str) -> str:
    """The released code's clean-up of every prompt text (SCIENCE-successor.md §2)."""
    for old, new in UNICODE_CLEAN.items():
        text = text.replace(old, new)
    return text


def _block(text: str, choices: Sequence[str]) -> str:
    return build_prompt(unicode_clean(str(text)), [unicode_clean(str(c)) for c in choices],
                        SUCCESSOR_TEMPLATE)


def _letter(example: dict[str, Any]) -> str:
    return LETTERS[int(example["answer"])]


def completion_prompt(text: str, choices: Sequence[str], bos: str) -> str:
    """The base-model prompt (§3.2): BOS, the two answered examples, the question."""
    shots = [_block(e["text"], e["choices"]) + " " + _letter(e) for e in SUCCESSOR_EXAMPLES]
    return bos + "\n\n".join([*shots, _block(text, choices)])


def chat_messages(text: str, choices: Sequence[str], system_role: bool) -> list[dict[str, str]]:
    """The instruct-model conversation (§3.3)."""
    turns: list[dict[str, str]] = []
    for e in SUCCESSOR_EXAMPLES:
        turns += [{"role": "user", "content": _block(e["text"], e["choices"])},
                  {"role": "assistant", "content": _letter(e)}]
    turns.append({"role": "user", "content": _block(text, choices)})
    if system_role:
        return [{"role": "system", "content": MCQA_SYSTEM}, *turns]
    turns[0] = {"role": "user", "content": MCQA_SYSTEM + "\n\n" + turns[0]["content"]}
    return turns


def fr_block(text: str) -> str:
    return f"{unicode_clean(str(text))}\n{FR_ANSWER_PROMPT}"


def fr_completion_prompt(text: str, bos: str) -> str:
    """The base-model free-recall prompt (§3.2), ending in `` {``."""
    shots = [f"{fr_block(e['text'])} {answer}"
             for e, answer in zip(SUCCESSOR_EXAMPLES, FR_ANSWERS, strict=True)]
    return bos + "\n\n".join([*shots, fr_block(text)]) + " " + OPEN_BRACKET


def fr_chat_messages(text: str, system_role: bool) -> list[dict[str, str]]:
    """The instruct-model free-recall conversation (§3.3): bare example questions."""
    turns: list[dict[str, str]] = []
    for e, answer in zip(SUCCESSOR_EXAMPLES, FR_ANSWERS, strict=True):
        turns += [{"role": "user", "content": unicode_clean(e["text"])},
                  {"role": "assistant", "content": answer}]
    turns.append({"role": "user", "content": fr_block(text)})
    if system_role:
        return [{"role": "system", "content": FR_SYSTEM}, *turns]
    turns[0] = {"role": "user", "content": FR_SYSTEM + "\n\n" + turns[0]["content"]}
    return turns


def supports_system_role(chat_template: str, special: dict[str, str]) -> bool:
    """Whether the template renders a system turn (Gemma's refuse one; the successor's test)."""
    from jinja2.exceptions import TemplateError

    try:
        render_chat(chat_template, [{"role": "system", "content": "x"}], special)
    except TemplateError:
        return False
    return True


def protocol_prompt(row: Any, settings: dict[str, Any]) -> str:
    """The exact prompt of ``row`` under the run's protocol (``settings``: its manifest, which
    records ``protocol``, ``bos`` and, for chat prompts, the template, its special tokens and
    ``system_role``)."""
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    if settings.get("task") == "generate":
        return free_recall_prompt(get("text"), settings)
    text, choices = get("text"), list(get("choices"))
    if not settings.get("chat_template"):
        return completion_prompt(text, choices, str(settings.get("bos") or ""))
    chat = settings.get("chat_template_string")
    if not chat:
        raise PromptError("chat_template is on but the run recorded no chat template string")
    messages = chat_messages(text, choices, bool(settings.get("system_role")))
    prompt = render_chat(chat, messages, settings.get("chat_special") or {})
    return prompt + (RELEASED_CHAT_TAIL if settings["protocol"] == "successor-as-released" else "")


def free_recall_prompt(text: str, settings: dict[str, Any]) -> str:
    """The free-recall prompt of ``text`` under the run's settings (as ``protocol_prompt``)."""
    if not settings.get("chat_template"):
        return fr_completion_prompt(text, str(settings.get("bos") or ""))
    chat = settings.get("chat_template_string")
    if not chat:
        raise PromptError("chat_template is on but the run recorded no chat template string")
    messages = fr_chat_messages(text, bool(settings.get("system_role")))
    return render_chat(chat, messages, settings.get("chat_special") or {}) + OPEN_BRACKET
