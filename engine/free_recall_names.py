"""Names of a free-recall run's measures (SCIENCE-successor.md §5.3/§5.4), and the released
files' column for each. Torch-free; the one place for these names.

Values are as §5.3/§5.4 define them: already normalised by log V / log K / log n_t, not clipped.
``fr_`` averages over the generated steps up to the stop, ``bfr_`` over the bracket span, and
``tok1_`` is the multiple-choice measure set applied to step 0's distribution (the first token
after the primed ``{``). The flags are 0/1 measures.
"""

from __future__ import annotations

from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP, FREE_RECALL_PREFIXES, fmt_p

SEQUENCE_PREFIXES = ("fr", "bfr")     # whole answer, bracket span
PREFIXES = FREE_RECALL_PREFIXES       # fr_, bfr_, tok1_: the families of names
FIGURE_SETS = ("fr", "bfr", "tok1")   # --measures fr|bfr|tok1: a published figure's rows
FLAGS = ("fr_bracket_found", "fr_bracket_inferred", "fr_hit_cap", "fr_gen_length")


def sequence_measures(prefix: str, topk: tuple[int, ...] = DEFAULT_TOPK,
                      topp: tuple[float, ...] = DEFAULT_TOPP) -> list[str]:
    """The §5.3 measures under ``prefix`` (``fr`` or ``bfr``)."""
    return ([f"{prefix}_total_entropy", f"{prefix}_first_token_entropy"]
            + [f"{prefix}_topk_entropy@{k}" for k in topk]
            + [f"{prefix}_topp_size@{fmt_p(p)}" for p in topp]
            + [f"{prefix}_topp_entropy@{fmt_p(p)}" for p in topp]
            + [f"{prefix}_perplexity"])


def first_token_measures(topk: tuple[int, ...] = DEFAULT_TOPK,
                         topp: tuple[float, ...] = DEFAULT_TOPP) -> list[str]:
    """The §5.4 measures of step 0's distribution."""
    return (["tok1_total_entropy", "tok1_top1_prob"]
            + [f"tok1_topk_entropy@{k}" for k in topk]
            + [f"tok1_topp_size@{fmt_p(p)}" for p in topp]
            + [f"tok1_topp_entropy@{fmt_p(p)}" for p in topp])


def free_recall_measures(topk: tuple[int, ...] = DEFAULT_TOPK,
                         topp: tuple[float, ...] = DEFAULT_TOPP) -> list[str]:
    """Every measure of a free-recall run, in export order."""
    return ([m for prefix in SEQUENCE_PREFIXES for m in sequence_measures(prefix, topk, topp)]
            + first_token_measures(topk, topp) + list(FLAGS))


def _released_stem(stem: str) -> str:
    """``total_entropy`` -> ``total-ent`` etc. (the released files' spelling of a measure)."""
    kind, _, arg = stem.partition("@")
    released = {"total_entropy": "total-ent", "first_token_entropy": "first-token-ent",
                "topk_entropy": "top-k-ent-", "topp_size": "top-p-len-",
                "topp_entropy": "top-p-ent-", "perplexity": "ppl", "top1_prob": "top-1-prob"}[kind]
    return released + arg


def released_columns(topk: tuple[int, ...] = DEFAULT_TOPK,
                     topp: tuple[float, ...] = DEFAULT_TOPP) -> dict[str, str]:
    """Released column -> measure name (``fr_total-ent`` -> ``fr_total_entropy``, ...). The
    released ``bfr_tok1_*`` columns equal ``fr_tok1_*`` exactly (§5.4) and map to nothing."""
    out: dict[str, str] = {}
    for prefix in SEQUENCE_PREFIXES:
        for name in sequence_measures(prefix, topk, topp):
            out[f"{prefix}_{_released_stem(name.split('_', 1)[1])}"] = name
    for name in first_token_measures(topk, topp):
        out[f"fr_tok1_{_released_stem(name.split('_', 1)[1])}"] = name
    out.update({flag: flag for flag in FLAGS})
    return out


def figure_rows(family: str) -> list[str]:
    """The 15 rows of the successor's FR, BFR or 1TFR heatmap (§6.1) for ``family`` fr, bfr or
    tok1: the family's measures without first_token_entropy (its sweep figures add it)."""
    if family == "tok1":
        return first_token_measures()
    return [m for m in sequence_measures(family) if not m.endswith("first_token_entropy")]


def split(name: str) -> tuple[str, str]:
    """``'bfr_topk_entropy@5'`` -> ``('bfr_', 'topk_entropy@5')``; ``('', name)`` for a flag or
    any other name."""
    for prefix in PREFIXES:
        if name.startswith(prefix) and name not in FLAGS:
            return prefix, name[len(prefix):]
    return "", name


def is_free_recall(name: str) -> bool:
    return split(name)[0] != ""


RELEASED_COLUMNS = released_columns()
_COLUMN_OF = {ours: theirs for theirs, ours in RELEASED_COLUMNS.items()}


def released_column(name: str) -> str:
    """The released file's column of a measure (``tok1_top1_prob`` -> ``fr_tok1_top-1-prob``)."""
    return _COLUMN_OF[name]
