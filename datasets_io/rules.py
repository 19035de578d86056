"""SCIENCE.md §6: refusal filtering, validity, option counts, renormalisation, shuffle, sampling.

Importers only parse; they hand :class:`RawQuestion` objects to :func:`build_dataset`, which applies
every rule in one place so all sources behave the same and every dropped question gets a reason.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import (
    DROPPED_COLUMNS,
    HUMAN_PREFIX,
    Dataset,
    check_name,
    questions_frame,
)

if TYPE_CHECKING:
    from datasets_io.table import TableMapping

DEFAULT_SEED = 20250811  # the paper's arXiv date; any fixed value works, it is recorded
MAX_OPTIONS = 26

# Paper, Appendix A. Matched exactly, case-insensitively, on the trimmed label.
DEFAULT_REFUSALS: tuple[str, ...] = (
    "don't know/refused", "don't know/skipped", "don't know/skippedrefused", "no answer",
    "not selected", "not selected/no answer", "not sure/refused", "not sure/skipped", "omit",
    "refused", "refused/web blank", "skip", "skipped", "skipped on web", "skipped/refused",
    "skipped/web blank", "web blank",
)


@dataclass
class RawQuestion:
    """One question as parsed, before any rule. ``shares`` are as read (percents or fractions)."""

    question_id: str
    text: str
    choices: list[str]
    shares: list[float] | None = None
    correct: int | None = None
    subject: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    location: str = ""  # "file:line" for messages
    human: dict[str, float] = field(default_factory=dict)  # per-question human variables (NaN: none)


@dataclass
class Parsed:
    """What every importer returns: the questions as read, and what it learnt about the file.

    ``details`` go into the report's settings; ``pre_dropped`` are rows the parser set aside
    itself (``question_id, reason, detail, text``: an MMLU header line repeated as a row), reported
    like every other drop. ``mapping`` and ``head``: a table's column mapping as used and its first
    rows. ``refusals``: the refusal list the parse itself applied (Pew relabels code 99 by it),
    None when it applied none.
    """

    format: str
    file: Path
    raw: list[RawQuestion]
    details: dict[str, Any]
    warnings: list[str]
    pre_dropped: list[dict[str, Any]] = field(default_factory=list)
    mapping: TableMapping | None = None
    head: pd.DataFrame | None = None
    refusals: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ImportSettings:
    seed: int = DEFAULT_SEED
    shuffle: bool = True
    sample: int | None = None
    refusals: tuple[str, ...] = DEFAULT_REFUSALS

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "shuffle": self.shuffle, "sample": self.sample,
                "refusals": list(self.refusals)}


_NORMALISED: dict[str, str] = {}


def normalise_label(label: str) -> str:
    """Trimmed, inner whitespace collapsed, typographic apostrophe -> ', lower case (cached)."""
    out = _NORMALISED.get(label)
    if out is None:
        out = " ".join(label.replace("\u2019", "'").split()).lower()
        if len(_NORMALISED) < 100_000:
            _NORMALISED[label] = out
    return out


@lru_cache(maxsize=64)
def _refusal_set(refusals: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise_label(r) for r in refusals)


def is_refusal(label: str, refusals: tuple[str, ...] | list[str]) -> bool:
    return normalise_label(label) in _refusal_set(tuple(refusals))


def refusal_list(*, file: str | Path | None = None, lines: list[str] | None = None,
                 add: list[str] | tuple[str, ...] = (),
                 keep: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """The editable refusal list: the default (or one label per line of ``file``, or of
    ``lines``, as edited in the console; ``#`` starts a comment), plus ``add``, minus ``keep``
    (labels the user wants kept as real options)."""
    if file is not None:
        from datasets_io.textio import read_text

        lines = read_text(file).lines
    if lines is not None:
        labels = [ln.split("#", 1)[0].strip() for ln in lines]
        base = [lab for lab in labels if lab]
    else:
        base = list(DEFAULT_REFUSALS)
    drop = {normalise_label(k) for k in keep}
    unknown = sorted(k for k in keep if normalise_label(k) not in {normalise_label(b) for b in base})
    if unknown:
        raise BadInput(f"--keep-refusal {unknown[0]!r} is not in the refusal list",
                       fix="see the list in the README (labels match case-insensitively)")
    out: list[str] = []
    seen: set[str] = set()
    for lab in [*base, *add]:
        key = normalise_label(lab)
        if key and key not in drop and key not in seen:
            seen.add(key)
            out.append(lab.strip())
    return tuple(out)


def share_scale(shares: list[float]) -> str:
    """'fraction' if the shares look like proportions (sum near 1), else 'percent'."""
    n = len(shares)
    total = float(sum(shares))
    if max(shares, default=0.0) <= 1.0 and total <= 1.0 + n / 100.0:
        return "fraction"
    return "percent"


def _key(seed: int, *parts: str) -> bytes:
    """64-bit blake2b of (seed, parts): the one source of randomness of an import.

    Defined by this function alone (no library RNG stream), so an order or a sample is the same
    on every machine and every numpy/Python version, and one question's option order does not
    depend on which other questions are in the file.
    """
    return hashlib.blake2b("\x1f".join((str(seed), *parts)).encode("utf-8"),
                           digest_size=8).digest()


def option_order(seed: int, question_id: str, n: int) -> list[int]:
    """The seeded shuffle: positions sorted by 4-byte keys read from
    ``blake2b(seed, question_id, block)`` (64-byte blocks 0, 1, ...; ties keep position order).

    ``order[k]`` is the original position of the option shown k-th (recorded in
    ``meta["option_order"]``).
    """
    base = f"{seed}\x1f{question_id}\x1f".encode()
    stream = b""
    block = 0
    while len(stream) < 4 * n:
        stream += hashlib.blake2b(base + str(block).encode(), digest_size=64).digest()
        block += 1
    keys = [stream[4 * j:4 * j + 4] for j in range(n)]
    return sorted(range(n), key=keys.__getitem__)


def sample_ids(seed: int, question_ids: list[str], n: int) -> set[str]:
    """The seeded sample: the ``n`` ids with the smallest ``blake2b(seed, "sample", id)``."""
    ranked = sorted(question_ids, key=lambda q: _key(seed, "sample", q))
    return set(ranked[:n])


@dataclass
class _Outcome:
    kept: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    refusal_options_removed: int = 0
    scales: dict[str, int] = field(default_factory=lambda: {"fraction": 0, "percent": 0})
    repeated_labels: list[str] = field(default_factory=list)


def _drop(out: _Outcome, q: RawQuestion, reason: str, detail: str) -> None:
    out.dropped.append({"question_id": q.question_id, "reason": reason, "detail": detail,
                        "text": q.text})


def _apply_survey_rules(q: RawQuestion, refusals: frozenset[str], out: _Outcome) -> dict | None:
    """Validity, refusal removal, option count, renormalisation for a question with shares."""
    shares = q.shares or []
    n = len(shares)
    if n != len(q.choices):
        _drop(out, q, "invalid_share", f"{n} shares for {len(q.choices)} options")
        return None
    total = float(sum(shares))
    if n and (min(shares) < 0 or not math.isfinite(total)):
        _drop(out, q, "invalid_share", "a share is negative or not a number")
        return None
    # share_scale(), inlined: this loop runs once per question of large files
    if n and max(shares) <= 1.0 and total <= 1.0 + n / 100.0:
        scale = "fraction"
        percents = [s * 100.0 for s in shares]
        total = sum(percents)
    else:
        scale = "percent"
        percents = [float(s) for s in shares]
    out.scales[scale] += 1
    if not (100.0 - n < total < 100.0 + n):
        _drop(out, q, "shares_sum_outside_interval",
              f"percentages sum to {total:g}, outside ({100 - n}, {100 + n}) for {n} options")
        return None
    labels = q.choices
    norm = [normalise_label(c) for c in labels]
    keep = [i for i, c in enumerate(norm) if c not in refusals]
    removed = n - len(keep)
    out.refusal_options_removed += removed
    if removed:
        choices = [labels[i] for i in keep]
        kept_shares = [percents[i] for i in keep]
        removed_labels = [labels[i] for i, c in enumerate(norm) if c in refusals]
        if len({norm[i] for i in keep}) < len(keep):
            out.repeated_labels.append(q.question_id)
    else:
        choices, kept_shares, removed_labels = list(labels), percents, []
        if len(set(norm)) < n:
            out.repeated_labels.append(q.question_id)
    if len(choices) < 2:
        _drop(out, q, "fewer_than_2_options",
              f"{len(choices)} option(s) left after removing {removed} refusal option(s)")
        return None
    if len(choices) > MAX_OPTIONS:
        _drop(out, q, "more_than_26_options", f"{len(choices)} options; labels run out at Z")
        return None
    mass = sum(kept_shares)
    if mass <= 0:
        _drop(out, q, "no_responses", "every remaining option has a share of 0")
        return None
    correct = q.correct
    if correct is not None and removed:
        correct = keep.index(correct) if correct in keep else None
    meta = dict(q.meta)
    meta["share_scale"] = scale
    meta["removed_refusals"] = removed_labels
    return {"choices": choices, "human_share": [s / mass for s in kept_shares],
            "correct": correct, "meta": meta}


def _apply_benchmark_rules(q: RawQuestion, out: _Outcome) -> dict | None:
    n = len(q.choices)
    if len({normalise_label(c) for c in q.choices}) < n:
        out.repeated_labels.append(q.question_id)
    if n < 2:
        _drop(out, q, "fewer_than_2_options", f"{n} option(s)")
        return None
    if n > MAX_OPTIONS:
        _drop(out, q, "more_than_26_options", f"{n} options; labels run out at Z")
        return None
    return {"choices": list(q.choices), "human_share": None, "correct": q.correct,
            "meta": dict(q.meta)}


def _shuffle(row: dict[str, Any], question_id: str, seed: int) -> None:
    order = option_order(seed, question_id, len(row["choices"]))
    row["choices"] = [row["choices"][i] for i in order]
    if row["human_share"] is not None:
        row["human_share"] = [row["human_share"][i] for i in order]
    if row["correct"] is not None:
        row["correct"] = order.index(row["correct"])
    row["meta"]["option_order"] = order


def check_unique_ids(raw: list[RawQuestion], *,
                     fix: str = "make the ids unique or map another --id-col") -> None:
    seen: dict[str, str] = {}
    for q in raw:
        if q.question_id in seen:
            raise BadInput(f"duplicate question id {q.question_id!r} (first at {seen[q.question_id]})",
                           where=q.location or None, fix=fix)
        seen[q.question_id] = q.location or "?"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects (an import of 30,000
    questions makes millions and none of them cycles): about a fifth of the time otherwise."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def build_dataset(name: str, source: str, raw: list[RawQuestion], settings: ImportSettings, *,
                  file: str | Path | None = None, file_sha256: str | None = None,
                  details: dict[str, Any] | None = None,
                  warnings: list[str] | None = None,
                  pre_dropped: list[dict[str, Any]] | None = None,
                  allow_empty: bool = False) -> Dataset:
    """Apply SCIENCE.md §6 to parsed questions and return the (unwritten) Dataset.

    ``pre_dropped`` are rows the parser itself set aside (``question_id, reason, detail, text``),
    e.g. a header line repeated inside an MMLU file; they are reported like every other drop.
    Raises BadInput when no question survives (unless ``allow_empty``): an empty dataset is
    never what the user wanted, and the message lists the reasons.
    """
    with gc_paused():
        return _build_dataset(name, source, raw, settings, file=file, file_sha256=file_sha256,
                              details=details, warnings=warnings, pre_dropped=pre_dropped,
                              allow_empty=allow_empty)


def _build_dataset(name: str, source: str, raw: list[RawQuestion], settings: ImportSettings, *,
                   file: str | Path | None, file_sha256: str | None,
                   details: dict[str, Any] | None, warnings: list[str] | None,
                   pre_dropped: list[dict[str, Any]] | None, allow_empty: bool) -> Dataset:
    check_name(name)
    if settings.sample is not None and settings.sample < 1:
        raise BadInput(f"--sample {settings.sample} must be at least 1",
                       fix="give a positive number of questions")
    if not raw and not pre_dropped:
        raise BadInput("no questions found", where=file, fix="check the file and the options")
    check_unique_ids(raw)
    out = _Outcome()
    refusals = _refusal_set(tuple(settings.refusals))
    for row in pre_dropped or []:
        out.dropped.append({k: row.get(k, "") for k in DROPPED_COLUMNS})
    for q in raw:
        row = (_apply_survey_rules(q, refusals, out) if q.shares is not None
               else _apply_benchmark_rules(q, out))
        if row is None:
            continue
        if settings.shuffle:
            _shuffle(row, q.question_id, settings.seed)
        out.kept.append({"question_id": q.question_id, "source": source, "text": q.text,
                         "subject": q.subject, "n_choices": len(row["choices"]), **row,
                         **{HUMAN_PREFIX + k: v for k, v in q.human.items()}})
    n_before_sample = len(out.kept)
    kept = out.kept
    if settings.sample is not None and settings.sample < len(kept):
        chosen = sample_ids(settings.seed, [r["question_id"] for r in kept], settings.sample)
        kept = [r for r in kept if r["question_id"] in chosen]  # file order
    kept_ids = {r["question_id"] for r in kept}
    not_sampled = {r["question_id"] for r in out.kept} - kept_ids
    warnings, n_warnings_not_sampled = _warnings_in_sample(list(warnings or []), not_sampled)
    repeated = [i for i in out.repeated_labels if i in kept_ids]
    n_warnings_not_sampled += sum(1 for i in out.repeated_labels if i in not_sampled)
    if repeated:
        warnings.append(f"{len(repeated)} question(s) list the same option label twice (kept; "
                        f"check them): {', '.join(repeated[:10])}"
                        f"{' ...' if len(repeated) > 10 else ''}")
    dropped = pd.DataFrame(out.dropped, columns=DROPPED_COLUMNS)
    by_reason = {str(k): int(v) for k, v in dropped["reason"].value_counts().sort_index().items()}
    if not kept and not allow_empty:
        raise _nothing_left(len(raw) + len(pre_dropped or []), by_reason, file)
    report = {
        "name": name,
        "source": source,
        "file": str(file) if file is not None else None,
        "file_sha256": file_sha256,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {**settings.as_dict(), **(details or {})},
        "counts": {
            "n_read": len(raw) + len(pre_dropped or []),
            "n_kept": len(kept),
            "n_dropped": len(dropped),
            "n_not_sampled": n_before_sample - len(kept),
            "n_warnings_not_sampled": n_warnings_not_sampled,
            "dropped_by_reason": by_reason,
            "refusal_options_removed": out.refusal_options_removed,
            "share_scale": dict(out.scales),
        },
        "warnings": warnings,
        "alignuq_version": _version(),
    }
    return Dataset(name=name, questions=questions_frame(kept), report=report, dropped=dropped)


def check_not_empty(ds: Dataset) -> None:
    """Refuse a dataset without a question, as :func:`build_dataset` does unless
    ``allow_empty`` (which a preview passes, to show what the rules drop)."""
    if len(ds.questions) == 0:
        counts = ds.report["counts"]
        raise _nothing_left(counts["n_read"], counts["dropped_by_reason"], ds.report["file"])


def _nothing_left(n_read: int, by_reason: dict[str, int], file: str | Path | None) -> BadInput:
    reasons = ", ".join(f"{k}: {v}" for k, v in by_reason.items()) or "none"
    return BadInput(f"no question left: all {n_read} were dropped ({reasons})", where=file,
                    fix="check the file, or edit the refusal list (--keep-refusal)")


def _warnings_in_sample(warnings: list[str], not_sampled: set[str]) -> tuple[list[str], int]:
    """The warnings without those about one question left out by ``--sample`` (such a warning
    starts with ``"<question id>: "``), and how many those were."""
    if not not_sampled:
        return warnings, 0
    own = [w for w in warnings if w.split(": ", 1)[0] not in not_sampled]
    return own, len(warnings) - len(own)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("alignuq")
    except PackageNotFoundError:
        return "unknown"


