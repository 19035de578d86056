"""Names of a free-recall run's measures (SCIENCE-successor.md §5.3, §5.4) and the released
files' columns they come from. Torch-free, no numpy: the registry and the console read it.

The values are the successor's own forms: already normalised by log V, log K or log n_t (not
clipped), ``tok1_top1_prob`` a natural-log probability, ``*_perplexity`` a perplexity. Three
families: ``fr_`` over the generated steps up to the stop token, ``bfr_`` over the bracketed key
part only, ``tok1_`` the first generated step's distribution alone. The ``FLAGS`` are stored
beside them as 0/1 (and a length), but are not measures.
"""

from __future__ import annotations

from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP, FREE_RECALL_PREFIXES, fmt_p

PREFIXES = FREE_RECALL_PREFIXES        # fr_, bfr_, tok1_
FIRST_TOKEN_PREFIX = "tok1_"
FLAGS = ("fr_bracket_found", "fr_bracket_inferred", "fr_hit_cap", "fr_gen_length")


def sequence_measures(prefix: str, topk=DEFAULT_TOPK, topp=DEFAULT_TOPP) -> list[str]:
    """``fr_``/``bfr_``: total, first-token, top-k and top-p entropies, top-p sizes, perplexity."""
    return ([f"{prefix}total_entropy", f"{prefix}first_token_entropy"]
            + [f"{prefix}topk_entropy@{k}" for k in topk]
            + [f"{prefix}topp_size@{fmt_p(p)}" for p in topp]
            + [f"{prefix}topp_entropy@{fmt_p(p)}" for p in topp]
            + [f"{prefix}perplexity"])


def first_token_measures(topk=DEFAULT_TOPK, topp=DEFAULT_TOPP) -> list[str]:
    """``tok1_``: the multiple-choice measure set on the first generated step's distribution."""
    p = FIRST_TOKEN_PREFIX
    return ([f"{p}total_entropy", f"{p}top1_prob"] + [f"{p}topk_entropy@{k}" for k in topk]
            + [f"{p}topp_size@{fmt_p(q)}" for q in topp]
            + [f"{p}topp_entropy@{fmt_p(q)}" for q in topp])


def free_recall_measures(topk=DEFAULT_TOPK, topp=DEFAULT_TOPP) -> list[str]:
    """Every free-recall measure, in export order."""
    return (sequence_measures("fr_", topk, topp) + sequence_measures("bfr_", topk, topp)
            + first_token_measures(topk, topp))


def figure_rows(family: str) -> list[str]:
    """The 15 rows of the successor's FR, BFR or 1TFR heatmap (§6.1) for ``family`` fr, bfr or
    tok1: the family's measures without first_token_entropy (the sweep figures add it)."""
    if family == "tok1":
        return first_token_measures()
    return [m for m in sequence_measures(f"{family}_") if not m.endswith("first_token_entropy")]


FIGURE_SETS = ("fr", "bfr", "tok1")     # --measures fr|bfr|tok1


def split(name: str) -> tuple[str, str]:
    """``'bfr_topk_entropy@5'`` -> ``('bfr_', 'topk_entropy@5')``; ``('', name)`` otherwise."""
    for prefix in PREFIXES:
        if name.startswith(prefix) and name not in FLAGS:
            return prefix, name[len(prefix):]
    return "", name


def is_free_recall(name: str) -> bool:
    return split(name)[0] != ""


def _released_base(base: str) -> str:
    kind, _, arg = base.partition("@")
    return {"total_entropy": "total-ent", "first_token_entropy": "first-token-ent",
            "topk_entropy": f"top-k-ent-{arg}", "topp_size": f"top-p-len-{arg}",
            "topp_entropy": f"top-p-ent-{arg}", "perplexity": "ppl",
            "top1_prob": "top-1-prob"}[kind]


def released_column(name: str) -> str:
    """The released file's column of a measure: ``fr_topk_entropy@5`` -> ``fr_top-k-ent-5``,
    ``tok1_top1_prob`` -> ``fr_tok1_top-1-prob``; a flag keeps its name."""
    if name in FLAGS:
        return name
    prefix, base = split(name)
    released_prefix = "fr_tok1_" if prefix == FIRST_TOKEN_PREFIX else prefix
    return released_prefix + _released_base(base)


RELEASED_COLUMNS = {released_column(m): m for m in (*free_recall_measures(), *FLAGS)}
