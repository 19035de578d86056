"""`alignuq datasets list|show|questions|dropped|derive|delete`.

JSON keys of `show` (a documented interface): name, source, n_questions, n_dropped,
dropped_by_reason, n_choices_histogram, subjects, has_human_share, has_correct, settings, warnings,
file, sample (null, or n, of, seed, warnings_not_sampled), human_variables (name: questions with
a value), created, parent. `questions` columns: question_id, text, choices, human_share, correct,
subject, n_choices, then one `human:NAME` column per human variable (lists as JSON; correct as a
letter or empty; an empty human cell has no value).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from common.errors import BadInput
from engine.lab import datasets as lab_datasets
from engine.lab.datasets import HUMAN_PREFIX
from tui.cli.common import (
    Format,
    WorkspaceOpt,
    YesOpt,
    confirm,
    existing_workspace,
    info,
    print_csv,
    print_json,
)

app = typer.Typer(no_args_is_help=True, help="List, inspect and curate imported datasets.")

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="human, json or csv.")]


@app.command("list")
def list_cmd(fmt: FormatOpt = Format.human, workspace_dir: WorkspaceOpt = None) -> None:
    """The datasets in the workspace."""
    ws = existing_workspace(workspace_dir)
    keys = ("name", "source", "n_questions", "n_dropped", "has_human_share", "has_correct",
            "created", "parent", "error")
    rows = [{k: s[k] for k in keys if k in s} for s in lab_datasets.summaries(ws)]
    if fmt is Format.json:
        print_json(rows)
        return
    if fmt is Format.csv:
        print_csv(pd.DataFrame(rows, columns=list(keys)))
        return
    if not rows:
        info(f"no datasets in {ws.datasets} (import one: alignuq import roper|table|pew|mmlu ...)")
        return
    width = max(len(r["name"]) for r in rows)
    typer.echo(f"{'name':<{width}}  {'source':<6}  {'questions':>9}  {'dropped':>7}  "
               f"{'kind':<13}  created")
    for r in rows:
        if r.get("error"):
            typer.echo(f"{r['name']:<{width}}  unreadable: {r['error']}")
            continue
        kind = "+".join(k for k, f in (("human", r["has_human_share"]),
                                        ("correct", r["has_correct"])) if f) or "-"
        typer.echo(f"{r['name']:<{width}}  {r['source']:<6}  {r['n_questions']:>9}  "
                   f"{r['n_dropped']:>7}  {kind:<13}  {r['created'] or ''}"
                   + (f"  (from {r['parent']})" if r["parent"] else ""))


def _fmt_counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or "-"


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Dataset name.", show_default=False)],
         fmt: FormatOpt = Format.human, workspace_dir: WorkspaceOpt = None) -> None:
    """What a dataset holds: counts, drops by reason, options histogram, subjects, settings."""
    s = lab_datasets.describe(lab_datasets.load(existing_workspace(workspace_dir), name))
    if fmt is not Format.human:
        print_json(s)
        return
    settings = s["settings"]
    subjects = s["subjects"]
    if len(subjects) > 12:
        top = sorted(subjects.items(), key=lambda kv: -kv[1])[:10]
        subj = f"{len(subjects)} subjects; largest: " + ", ".join(f"{k}: {v}" for k, v in top)
    else:
        subj = _fmt_counts(subjects)
    lines = [
        ("name", s["name"]),
        ("source", s["source"]),
        ("file", s["file"] or "-"),
        ("created", s["created"] or "-"),
        ("questions", f"{s['n_questions']} kept of {s['n_read']} read, {s['n_dropped']} dropped"
                      + (f", {s['sample']['of'] - s['sample']['n']} not in the sample"
                         if s["sample"] else "")),
        ("dropped", _fmt_counts(s["dropped_by_reason"])),
        ("options", _fmt_counts(s["n_choices_histogram"]) + "  (number of options: questions)"),
        ("subjects", subj),
        ("human shares", "yes" if s["has_human_share"] else "no"),
        ("correct answers", "yes" if s["has_correct"] else "no"),
        ("human variables", ", ".join(f"{name} ({n})" for name, n in
                                      s["human_variables"].items()) or "none"),
        ("option order", f"shuffled, seed {settings.get('seed')}" if settings.get("shuffle")
         else "as in the file"),
        ("sample", sample_line(s["sample"], settings.get("sample"))),
    ]
    if s["parent"]:
        lines.append(("derived from", s["parent"]))
    for w in s["warnings"]:
        lines.append(("warning", w))
    lines.append(("folder", s["path"]))
    for key, value in lines:
        typer.echo(f"{key:<16} {value}")


def sample_line(sample: dict[str, int] | None, asked: int | None) -> str:
    if sample is None:
        return "all" + (f" (--sample {asked} is not fewer than the questions)" if asked else "")
    line = f"{sample['n']} of {sample['of']} questions, drawn with seed {sample['seed']}"
    if sample["warnings_not_sampled"]:
        line += (f"; {sample['warnings_not_sampled']} warning(s) about questions outside the "
                 "sample not listed")
    return line


@app.command("questions")
def questions(name: Annotated[str, typer.Argument(help="Dataset name.", show_default=False)],
              fmt: FormatOpt = Format.csv, workspace_dir: WorkspaceOpt = None) -> None:
    """Every question (csv: lists as JSON, correct as a letter or empty)."""
    ds = lab_datasets.load(existing_workspace(workspace_dir), name)
    if fmt is Format.json:
        q = ds.questions
        print_json([{"question_id": r.question_id, "text": r.text, "choices": list(r.choices),
                     "human_share": None if r.human_share is None else list(r.human_share),
                     "correct": lab_datasets.letter(r.correct) or None, "subject": r.subject,
                     "n_choices": int(r.n_choices),
                     "human": {name: None if pd.isna(r[HUMAN_PREFIX + name])
                               else float(r[HUMAN_PREFIX + name])
                               for name in ds.human_variables}}
                    for _, r in q.iterrows()])
        return
    print_csv(lab_datasets.questions_table(ds))


@app.command("dropped")
def dropped(name: Annotated[str, typer.Argument(help="Dataset name.", show_default=False)],
            fmt: FormatOpt = Format.csv, workspace_dir: WorkspaceOpt = None) -> None:
    """Every dropped question with its reason (question_id, reason, detail, text)."""
    d = lab_datasets.load(existing_workspace(workspace_dir), name).dropped
    if fmt is Format.json:
        print_json(d.to_dict("records"))
    elif fmt is Format.human:
        if not len(d):
            typer.echo("no dropped questions")
        for r in d.itertuples(index=False):
            typer.echo(f"{r.question_id}  [{r.reason}] {r.detail}\n    {r.text}")
    else:
        d.to_csv(sys.stdout, index=False)


@app.command("derive")
def derive(
    name: Annotated[str, typer.Argument(help="Source dataset.", show_default=False)],
    new_name: Annotated[str, typer.Option("--name", "-n", help="Name of the new dataset.",
                                          show_default=False)],
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-x", help="Question id to leave out (repeatable, or comma-separated).",
        show_default=False)] = None,
    exclude_file: Annotated[Path | None, typer.Option(
        "--exclude-file", help="File with one question id per line.", show_default=False)] = None,
    include_file: Annotated[Path | None, typer.Option(
        "--include-file", help="Keep only the ids in this file.", show_default=False)] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (recorded in the report).",
                                             show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing dataset.")] = False,
    with_runs: Annotated[bool, typer.Option(
        "--with-runs", help="With --force: also delete the runs of the dataset it replaces.")] = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Make a NEW dataset from NAME without some questions (datasets are never edited)."""
    ids = list(exclude or [])
    if exclude_file is not None:
        ids += lab_datasets.read_id_file(exclude_file)
    include = lab_datasets.read_id_file(include_file) if include_file is not None else None
    if not ids and include is None:
        raise BadInput("nothing to exclude", fix="pass --exclude ID (repeatable) or --exclude-file F")
    child, stale = lab_datasets.derive(existing_workspace(workspace_dir), name, new_name,
                                       exclude=ids, include=include, note=note, force=force,
                                       with_runs=with_runs)
    if stale:
        info(f"deleted the {len(stale)} run(s) of the dataset it replaced: "
             f"{', '.join(r.run_id for r in stale)}")
    cur = child.report["curation"]
    info(f"wrote dataset {new_name!r}: {len(child.questions)} questions "
         f"({cur['n_removed']} left out of {name!r}) to {child.path}")


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Dataset name.", show_default=False)],
           with_runs: Annotated[bool, typer.Option("--with-runs",
                                                   help="Delete its runs too.")] = False,
           yes: YesOpt = False, workspace_dir: WorkspaceOpt = None) -> None:
    """Delete a dataset (refused while it has runs, unless --with-runs; exports are kept)."""
    ws = existing_workspace(workspace_dir)
    lab_datasets.dataset_path(ws, name)  # a clear error for an unknown name, before anything else
    runs = lab_datasets.runs_of(ws, name)
    ids = ", ".join(r.run_id for r in runs[:5]) + (" ..." if len(runs) > 5 else "")
    if runs and not with_runs:
        raise BadInput(f"dataset {name!r} has {len(runs)} run(s): {ids}",
                       fix="delete them first (`alignuq runs delete RUN`), or pass --with-runs")
    also = f" and its {len(runs)} run(s) ({ids})" if runs else ""
    if not any(r.status == "running" for r in runs):  # else the refusal comes first
        confirm(f"delete dataset {name!r}{also}?", yes)
    lab_datasets.delete(ws, name, runs)
    typer.echo(f"deleted dataset {name}" + (f" and {len(runs)} run(s)" if runs else ""))
