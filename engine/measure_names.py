"""Names of the per-question measures (SCIENCE.md §2), shared by the engine, the store, the
analyses and the exports. Torch-free.
"""

from __future__ import annotations

DEFAULT_TOPK: tuple[int, ...] = (5, 10, 25, 50, 100)
DEFAULT_TOPP: tuple[float, ...] = (0.95, 0.9, 0.75, 0.5)
VARIANTS = ("corrected", "paper")
TOP_TOKENS_KEPT = 100

CHOICE_MEASURES = ("choice_entropy", "choice_top1", "choice_margin")


def fmt_p(p: float) -> str:
    return f"{p:g}"


def topk_entropy(k: int) -> str:
    return f"topk_entropy@{k}"


def topp_size(p: float) -> str:
    return f"topp_size@{fmt_p(p)}"


def topp_entropy(p: float) -> str:
    return f"topp_entropy@{fmt_p(p)}"


def measure_names(topk: tuple[int, ...] = DEFAULT_TOPK,
                  topp: tuple[float, ...] = DEFAULT_TOPP) -> list[str]:
    """Every stored measure, in export order."""
    return (["top1_prob", "total_entropy"]
            + [topk_entropy(k) for k in topk]
            + [topp_size(p) for p in topp]
            + [topp_entropy(p) for p in topp]
            + list(CHOICE_MEASURES))


def successor_measures() -> list[str]:
    """The successor study's 17 multiple-choice measures, in its figures' row order (choice-ent,
    choice-prob, total-ent, top-1-prob, top-k, top-p-len, top-p-ent): ``--measures successor``."""
    return (["choice_entropy", "choice_top1", "total_entropy", "top1_prob"]
            + [topk_entropy(k) for k in DEFAULT_TOPK] + [topp_size(p) for p in DEFAULT_TOPP]
            + [topp_entropy(p) for p in DEFAULT_TOPP])


def parse_measure(name: str) -> tuple[str, float | None]:
    """``'topk_entropy@5'`` -> ``('topk_entropy', 5.0)``; ``'choice_entropy'`` -> (name, None)."""
    if "@" in name:
        kind, _, arg = name.partition("@")
        return kind, float(arg)
    return name, None


FREE_RECALL_PREFIXES = ("fr_", "bfr_", "tok1_")   # engine.free_recall_names


def base_name(name: str) -> str:
    """A free-recall measure without its family prefix (``bfr_topk_entropy@5`` ->
    ``topk_entropy@5``); any other name as it is."""
    for prefix in FREE_RECALL_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def is_uncertainty_like(name: str) -> bool:
    """Entropies, set sizes and perplexities grow with uncertainty; top-1 probabilities and
    margins shrink."""
    kind, _ = parse_measure(base_name(name))
    return kind in {"total_entropy", "topk_entropy", "topp_size", "topp_entropy", "choice_entropy",
                    "first_token_entropy", "perplexity"}
