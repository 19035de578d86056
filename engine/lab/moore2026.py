"""The successor study's released per-question results (Moore et al. 2026; ``data/moore2026``,
SCIENCE-successor.md §8) as runs of a dataset imported from the same study's ``<ds>_data.parquet``.

A released file ``Results/<ds>/<ds>_<model>.parquet`` holds one row per question, row i being
row i of the data file (no question id). Its multiple-choice measures are stored normalised
(divided by log V, log K, log n or log len) and clipped at 1, in the model's dtype; here they are
turned back into alignuq's measures in nats (SCIENCE.md §2) by multiplying by the same logs, so
that ``--scale normalized`` gives the released values again. What a file cannot give is said in
the run's manifest (``import.not_recoverable``).

A file with free-recall answers (``fr_model_answer``: Coane) also becomes a generation run
``moore2026-<model>-fr`` (manifest ``task`` "generate"): each question's released answer (stop
"released": no tokens, no steps) and its released ``fr_``/``bfr_``/``fr_tok1_`` measures and flags
under alignuq's names (``engine.free_recall_names``), unchanged (they are already normalised).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import LETTERS, Dataset, load_dataset
from datasets_io.workspace import Workspace, resolve_workspace
from engine.choice_measures import choice_measures
from engine.free_recall_names import released_columns
from engine.lab.run_import import ImportedRun, write_run
from engine.measure_names import fmt_p
from engine.protocols import unicode_clean
from engine.store import Generation, ResultRow

LAYOUT = "moore2026"
TOPK = (5, 10, 25, 50, 100)
TOPP = (0.95, 0.9, 0.75, 0.5)
# V of each family, from its public config (SCIENCE-successor.md §8: not in the released files)
VOCAB_SIZES = (("Llama_2", 32000), ("Mistral_0.1", 32000), ("Mistral_0.3", 32768),
               ("Llama_3", 128256), ("Gemma2", 256000), ("Gemma", 256000), ("Falcon3", 131072))
NOT_RECOVERABLE = ["the label token sets", "the top-k token lists",
                   "values above the clip at 1 (none is possible for an entropy ratio)",
                   "the options' shuffle seed (Coane's shuffle had none)"]
_FILE_RE = re.compile(r"^(?P<ds>[a-z]+)_(?P<model>.+)\.parquet$")


@dataclass(frozen=True)
class ReleasedFile:
    path: Path
    model: str


def vocab_size(model: str) -> int | None:
    """V of ``model`` (a released name such as ``Llama_3.2_1B_Ins``), from its family's config."""
    return next((v for prefix, v in VOCAB_SIZES if model.startswith(prefix)), None)


def released_files(path: Path) -> list[ReleasedFile]:
    """``path`` itself, or every released results file in the folder (not its ``_data`` files)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BadInput("no such file or folder", where=path, fix="check the path")
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    out = []
    for f in files:
        m = _FILE_RE.match(f.name)
        if m is None or m.group("model").startswith("data"):
            if not path.is_dir():
                raise BadInput("not a released results file (<dataset>_<model>.parquet)",
                               where=f, fix="give a Results/<dataset>/<dataset>_<model>.parquet "
                                            "file or its folder")
            continue
        out.append(ReleasedFile(f, m.group("model")))
    if not out:
        raise BadInput("no released results files (<dataset>_<model>.parquet) here", where=path)
    return out


def dataset_rows(ds: Dataset) -> dict[int, tuple[str, list[int], str]]:
    """Each question's row in the Parquet file it was imported from (0-based), with its id, its
    option order (displayed option k = the file's option order[k]) and its text; empty for a
    dataset imported from anything else."""
    if not ds.report.get("settings", {}).get("parquet"):
        return {}
    out = {}
    for qid, meta, text, n in zip(ds.questions["question_id"], ds.questions["meta"],
                                  ds.questions["text"], ds.questions["n_choices"], strict=True):
        meta = json.loads(meta) if isinstance(meta, str) else meta
        if "row" not in meta or meta.get("removed_refusals"):
            continue
        out[int(meta["row"]) - 1] = (str(qid), list(meta.get("option_order") or range(n)), text)
    return out


def import_released(workspace: Path | None, path: Path, dataset: str, *,
                    force: bool = False, answers: bool = True) -> list[ImportedRun]:
    """Every released file at ``path`` as a run ``moore2026-<model>`` of ``dataset`` (and, with
    ``answers``, its free-recall answers as ``moore2026-<model>-fr``)."""
    ws = resolve_workspace(workspace).ensure()
    ds = load_dataset(ws, dataset)
    rows_of = dataset_rows(ds)
    if not rows_of:
        raise BadInput(f"dataset {dataset!r} was not imported from a Parquet table, so its "
                       "questions have no row to match the released rows by",
                       fix="import Results/<dataset>/<dataset>_data.parquet with `alignuq "
                           "import table`")
    return [run for f in released_files(path) for run in _import_one(ws, ds, rows_of, f, force, answers)]


def _import_one(ws: Workspace, ds: Dataset, rows_of: dict[int, tuple[str, list[int], str]],
                released: ReleasedFile, force: bool, answers: bool) -> list[ImportedRun]:
    """The file's multiple-choice run, and its free-recall run where it has answers."""
    frame = pd.read_parquet(released.path)
    vocab = vocab_size(released.model)
    rows, skipped = [], 0
    for i, rec in enumerate(frame.to_dict("records")):
        if i not in rows_of:
            skipped += 1        # a question the dataset left out (a derived version)
            continue
        qid, order, text = rows_of[i]
        if "Question" in rec and unicode_clean(str(rec["Question"]).strip()) != unicode_clean(text):
            raise BadInput(f"row {i + 1}: the question is not question {qid!r} of dataset "
                           f"{ds.name!r}", where=released.path,
                           fix="import the data file of the same study (<dataset>_data.parquet)")
        rows.append(_row(rec, qid, order, vocab, released.path, i))
    measures = list(rows[0].measures) if rows else []
    details = {"layout": LAYOUT, "model": released.model,
               "model_type": str(frame["model_type"].iloc[0]),
               "model_size": int(frame["model_size"].iloc[0]),
               "rows_matched": len(rows), "rows_not_in_dataset": skipped,
               "vocab_size_source": "the family's public config (not in the released file)",
               "not_recoverable": NOT_RECOVERABLE if vocab else
               [*NOT_RECOVERABLE, "the vocabulary size, so total_entropy"]}
    prompts = frame.loc[[i for i in range(len(frame)) if i in rows_of],
                        [c for c in frame.columns if c.startswith("formatted_question")]]
    prompts.insert(0, "question_id", [rows_of[i][0] for i in prompts.index])
    runs = [write_run(ws, ds, rows, measures, released.path, released.model,
                      run_id=f"{LAYOUT}-{released.model}", vocab_size=vocab, force=force,
                      details=details, side_files={"released_prompts.parquet": prompts})]
    if answers and "fr_model_answer" in frame.columns:
        runs.append(_free_recall_run(ws, ds, frame, rows_of, released, vocab, details, force))
    return runs


def _free_recall_run(ws: Workspace, ds: Dataset, frame: pd.DataFrame,
                     rows_of: dict[int, tuple[str, list[int], str]], released: ReleasedFile,
                     vocab: int | None, details: dict, force: bool) -> ImportedRun:
    """The released answers and their measures as run ``moore2026-<model>-fr``."""
    columns = {c: m for c, m in released_columns().items() if c in frame.columns}
    rows, generations = [], []
    for i, rec in enumerate(frame.to_dict("records")):
        if i not in rows_of:
            continue
        qid = rows_of[i][0]
        rows.append(ResultRow(question_id=qid, cloze=-1, label_probs=[], choice_mass=0.0,
                              measures={m: float(rec[c]) for c, m in columns.items()}))
        generations.append(Generation(qid, str(rec["fr_model_answer"]), "released"))
    details = {**details, "not_recoverable": [
        "the generated tokens and each step's distribution (measures cannot be recomputed)",
        "the released bfr_tok1_* columns (equal to fr_tok1_*, SCIENCE-successor.md §5.4)"]}
    prompts = frame.loc[sorted(rows_of), ["formatted_question_fr"]] \
        if "formatted_question_fr" in frame.columns else None
    side = {} if prompts is None else {"released_prompts.parquet": prompts.assign(
        question_id=[rows_of[i][0] for i in prompts.index])[["question_id", *prompts.columns]]}
    return write_run(ws, ds, rows, list(columns.values()), released.path, released.model,
                     run_id=f"{LAYOUT}-{released.model}-fr", vocab_size=vocab, force=force,
                     details=details, side_files=side, task="generate",
                     generations=generations)


def _row(rec: dict, qid: str, order: list[int], vocab: int | None, where: Path,
         i: int) -> ResultRow:
    """One released row in alignuq's terms: label probabilities and cloze in the dataset's
    option order, every measure in nats."""
    log_q = np.asarray(rec["mc_choice-pdf"], float)
    if len(log_q) != len(order):
        raise BadInput(f"row {i + 1}: {len(log_q)} choice probabilities, but question {qid!r} "
                       f"has {len(order)} options", where=where)
    q = np.exp(log_q)[order]                     # unnormalised, as the runner stores them
    file_index = LETTERS.index(str(rec["cloze_pred"]).strip().upper())
    measures: dict[str, float | None] = {
        "top1_prob": math.exp(rec["mc_top-1-prob"]),
        "total_entropy": rec["mc_total-ent"] * math.log(vocab) if vocab else None,
        **{f"topk_entropy@{k}": rec[f"mc_top-k-ent-{k}"] * math.log(k) for k in TOPK},
    }
    for p in TOPP:
        size = int(rec[f"mc_top-p-len-{p}"])
        measures[f"topp_size@{fmt_p(p)}"] = float(size)
        measures[f"topp_entropy@{fmt_p(p)}"] = rec[f"mc_top-p-ent-{p}"] * math.log(size)
    measures.update(choice_measures(q))
    measures["choice_entropy"] = rec["mc_choice-ent"] * math.log(len(q))   # the released value
    return ResultRow(question_id=qid, cloze=order.index(file_index), label_probs=q.tolist(),
                     choice_mass=float(q.sum()), measures=measures)
