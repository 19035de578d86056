"""Curated versions: a NEW dataset made from an existing one (datasets are never edited in place).

The new dataset keeps every kept question's row exactly (text, option order, shares), so results
of the parent and the child are comparable question by question. Its report records the parent
(name and report sha256) and the excluded ids; its ``dropped.csv`` is the parent's plus one row per
excluded question (reason ``excluded_by_user``), so nothing disappears silently.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import (
    DROPPED_COLUMNS,
    Dataset,
    check_name,
    list_datasets,
    load_dataset,
    write_dataset,
)
from datasets_io.textio import read_text
from datasets_io.workspace import Workspace


def read_id_file(path: str | Path) -> list[str]:
    """One question id per line (a CSV's first column works too); '#' starts a comment."""
    ids: list[str] = []
    for line in read_text(path).lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        first = line.split(",", 1)[0].strip().strip('"')
        if first and first != "question_id":
            ids.append(first)
    return ids


def _clean(ids: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for i in ids or []:
        for part in str(i).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def derive_dataset(ws: Workspace, source_name: str, new_name: str, *,
                   exclude_ids: Iterable[str] | None = None,
                   include_ids: Iterable[str] | None = None,
                   note: str | None = None, force: bool = False) -> Dataset:
    """Write ``new_name`` = ``source_name`` minus ``exclude_ids`` (and/or only ``include_ids``)."""
    check_name(new_name)
    if new_name == source_name:
        raise BadInput(f"the new name {new_name!r} is the source's name",
                       fix="datasets are never edited in place: choose another --name")
    parent = load_dataset(ws, source_name)
    exclude = _clean(exclude_ids)
    include = _clean(include_ids) if include_ids is not None else None
    if not exclude and include is None:
        raise BadInput("nothing to change", fix="pass --exclude ID... or --exclude-file F")
    if (ws.datasets / new_name).exists() and not force and new_name in list_datasets(ws):
        raise BadInput(f"dataset {new_name!r} already exists", where=ws.datasets / new_name,
                       fix="choose another --name, or pass --force to replace it")
    known = set(parent.questions["question_id"])
    unknown = [i for i in [*exclude, *(include or [])] if i not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise BadInput(f"{len(unknown)} id(s) not in dataset {source_name!r}: {shown}"
                       f"{' ...' if len(unknown) > 5 else ''}",
                       fix=f"see `alignuq datasets questions {source_name}` for the ids")
    q = parent.questions
    keep = ~q["question_id"].isin(exclude)
    if include is not None:
        keep &= q["question_id"].isin(include)
    removed = q[~keep]
    if keep.sum() == 0:
        raise BadInput("no question would be left", fix="exclude fewer questions")
    extra = pd.DataFrame({
        "question_id": removed["question_id"].astype(str),
        "reason": "excluded_by_user",
        "detail": f"curated from {source_name}" + (f": {note}" if note else ""),
        "text": removed["text"].astype(str),
    }, columns=DROPPED_COLUMNS)
    dropped = pd.concat([parent.dropped.reindex(columns=DROPPED_COLUMNS).astype(str), extra],
                        ignore_index=True)
    report = copy.deepcopy(parent.report)
    report["name"] = new_name
    report["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["parent"] = {"name": source_name, "report_sha256": parent.report_hash()}
    report["curation"] = {"excluded_ids": [i for i in exclude if i in set(removed["question_id"])],
                          "included_ids": include, "note": note,
                          "n_removed": int(len(removed))}
    counts = dict(report.get("counts", {}))
    counts["n_kept"] = int(keep.sum())
    counts["n_dropped"] = int(len(dropped))
    counts["dropped_by_reason"] = {str(k): int(v) for k, v in
                                   dropped["reason"].value_counts().sort_index().items()}
    report["counts"] = counts
    child = Dataset(name=new_name, questions=q[keep].reset_index(drop=True).copy(), report=report,
                    dropped=dropped)
    write_dataset(ws, child, force=force)
    return child
