"""The successor study's released probe results (``Results/coane_activations/
uncertainty_alignment_10Fold_Results.parquet``, SCIENCE-successor.md §7.3) as rows of the probe
table, so that a user's own probes can be read beside them.

The released probes are plain least squares on unstandardised float32 features, 10-fold
``KFold(shuffle=True, random_state=42)``, on Coane's 421 questions. Their ``layer_<i>`` is the
output of block i+1, transformers' ``hidden_states`` index i+1 (embeddings excluded; the last is
after the final norm), which is alignuq's layer number: ``layer_0`` becomes layer 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import BadInput

# alignuq's target -> the released file's column prefix
RELEASED_TARGETS = {"human_entropy": "human_ent", "human-ent": "human_ent",
                    "MC_Human_RT_Correct": "rt_correct", "MC_Human_RT_Combined": "rt_combined"}
SUFFIX = " (released)"


def released_probe_rows(path: str | Path, target: str, notes: list[str]) -> list[dict]:
    """The file's rows for ``target`` in the probe table's columns (none, with a note, for a
    target the successor did not probe)."""
    path = Path(path).expanduser()
    prefix = RELEASED_TARGETS.get(target)
    if prefix is None:
        notes.append(f"the released probes have no target {target!r} (they have "
                     f"{', '.join(sorted(set(RELEASED_TARGETS) - {'human-ent'}))})")
        return []
    frame = _read(path, [f"{prefix}_mean_correlation", f"{prefix}_fold_correlations",
                         f"{prefix}_mean_r2", f"{prefix}_mean_mse"])
    notes.append(f"rows marked{SUFFIX}: the successor's released probes ({path.name}; least "
                 "squares, seed 42), their layer_<i> shown as layer i+1"
                 + ("" if prefix == "rt_combined" else "; n not released for this target "
                    "(the file's n_samples is rt_combined's)"))
    return [{"model": str(row["model"]) + SUFFIX, "layer": _layer(row["layer"], path),
             "target": target, "method": "ols", "n": int(row["n_samples"])
             if prefix == "rt_combined" else np.nan, "features": int(row["n_features"]),
             "r": float(row[f"{prefix}_mean_correlation"]),
             "r_sd": float(np.nanstd(np.asarray(row[f"{prefix}_fold_correlations"], float),
                                     ddof=1)),
             "r2": float(row[f"{prefix}_mean_r2"]), "mse": float(row[f"{prefix}_mean_mse"]),
             "auroc": np.nan, "penalty": np.nan, "null_mean": np.nan, "null_95": np.nan,
             "p_perm": np.nan} for _, row in frame.iterrows()]


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise BadInput("no such file", where=path,
                       fix="pass the released uncertainty_alignment_10Fold_Results.parquet")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader error means the same to the user
        raise BadInput(f"not a readable parquet file ({type(err).__name__})", where=path) from None
    missing = [c for c in ("model", "layer", "n_samples", "n_features", *columns)
               if c not in frame.columns]
    if missing:
        raise BadInput(f"not the released probe results: no column(s) {', '.join(missing)}",
                       where=path, fix="pass Results/coane_activations/"
                                       "uncertainty_alignment_10Fold_Results.parquet")
    return frame


def _layer(name: object, path: Path) -> int:
    text = str(name)
    if not text.startswith("layer_") or not text[6:].isdigit():
        raise BadInput(f"layer {text!r} is not layer_<number>", where=path)
    return int(text[6:]) + 1
