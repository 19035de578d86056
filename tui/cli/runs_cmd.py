"""`alignuq runs list|show|watch|cancel|delete` (and `runs import`, registered by main.py)."""

from __future__ import annotations

import io
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import EXIT_FAILURE
from engine.events import RunEvent, event_to_dict, last_events
from engine.lab import runs as lab_runs
from engine.lab.follow import RunFollower, end_text, event_text
from tui.cli.common import WorkspaceOpt, YesOpt, confirm, existing_workspace, info, print_json
from tui.cli.progress_view import ProgressView

app = typer.Typer(no_args_is_help=True,
                  help="Runs of the workspace: list, show, watch, cancel, delete.")

RunArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix of one, or its folder).")]


class ListFormat(str, Enum):
    human = "human"
    json = "json"


@app.command("list")
def list_runs(
    fmt: Annotated[ListFormat, typer.Option("--format", help="human or json.")] = ListFormat.human,
    ws_path: WorkspaceOpt = None,
) -> None:
    """Every run: dataset, model, questions done, status (running | done | incomplete | failed)."""
    ws = existing_workspace(ws_path)
    infos = lab_runs.infos(ws)
    if fmt is ListFormat.json:
        print_json([i.to_dict() for i in infos])
        return
    if not infos:
        info(f"no runs in {ws.runs}; start one with `alignuq run --dataset NAME --model M`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    # the run id is what the other commands take: never cut it; the model name may be
    table.add_column("run", no_wrap=True, min_width=max(len(i.run_id) for i in infos))
    for col in ("dataset", "model", "variant", "task", "done", "status"):
        table.add_column(col, justify="right" if col == "done" else "left")
    for i in infos:
        status = i.status + (f" ({i.reason})" if i.reason and i.status != lab_runs.DONE else "")
        table.add_row(i.run_id, i.dataset or "?", i.model or "?", i.variant or "?", i.task,
                      questions_done(i.n_done, i.n_total, i.n_dataset, short=True), status)
    console = Console(soft_wrap=True)
    if console.is_terminal:
        console.print(table)
        return
    # piped or redirected: no screen width to fit, so nothing is cut (and no padding is left)
    wide = Console(soft_wrap=True, width=10_000, file=io.StringIO())
    wide.print(table)
    typer.echo("\n".join(line.rstrip() for line in wide.file.getvalue().splitlines()))


def _prompt_line(manifest: dict) -> str | None:
    """How the prompts were made: the template's start, chat template, few-shot examples."""
    template = manifest.get("template")
    if not isinstance(template, str):
        return None
    start = template if len(template) <= 48 else template[:47] + "…"
    n_shot = int(manifest.get("few_shot") or 0)
    if manifest.get("protocol"):
        return (f"protocol {manifest['protocol']}; chat template "
                f"{'on' if manifest.get('chat_template') else 'off'}")
    return (f"{start!r}; chat template {'on' if manifest.get('chat_template') else 'off'}; "
            f"{n_shot} few-shot example{'s' if n_shot != 1 else ''}")


def _task_line(manifest: dict) -> str:
    """score, or generate with its cap and temperature (free recall)."""
    if manifest.get("task") != "generate":
        return "score"
    temperature = float(manifest.get("temperature") or 0.0)
    return (f"generate (free recall): up to {manifest.get('max_new_tokens')} new tokens, "
            + ("greedy" if temperature <= 0 else f"sampled at temperature {temperature:g}, "
               f"seed {manifest.get('seed')}"))


@app.command("show")
def show(run: RunArg, ws_path: WorkspaceOpt = None,
         events: Annotated[int, typer.Option("--events", min=0, help="Last events shown.")] = 10,
         fmt: Annotated[ListFormat, typer.Option("--format", help="human or json.")] = ListFormat.human,
         ) -> None:
    """A run's manifest summary, counts, status, Slurm shards and last events."""
    ws = existing_workspace(ws_path)
    run_dir = lab_runs.find(ws, run)
    manifest = lab_runs.manifest_of(run_dir)
    st = lab_runs.status_of(run_dir, manifest=manifest)
    shards = _shards(run_dir) if st.slurm else None
    last = last_events(run_dir, events)
    if fmt is ListFormat.json:
        print_json({"run_id": manifest.get("run_id", run_dir.name), "run_dir": str(run_dir),
                    "status": st.status, "reason": st.reason, "n_done": st.n_done,
                    "n_total": st.n_total, "manifest": manifest, "shards": shards,
                    "events": [event_to_dict(e) for e in last]})
        return
    model = manifest.get("model") or {}
    lines = [
        ("run", manifest.get("run_id", run_dir.name)),
        ("folder", str(run_dir)),
        ("status", st.status + (f" ({st.reason})" if st.reason else "")),
        ("questions", questions_done(st.n_done, st.n_total, manifest.get("n_questions"))),
        ("dataset", manifest.get("dataset")),
        ("model", _model_line(model)),
        ("variant", manifest.get("variant")),
        ("task", _task_line(manifest)),
        ("prompt", _prompt_line(manifest)),
        ("spellings", ", ".join(repr(s) for s in manifest.get("spelling_patterns") or [])),
        ("device", f"{manifest.get('device')} ({manifest.get('dtype')})"),
        ("forward", _forward_line(manifest.get("forward_path"))),
        ("measures", ", ".join(manifest.get("measures") or [])),
        ("versions", ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())),
        ("created", manifest.get("created")),
        ("updated", manifest.get("updated")),
    ]
    for lock in st.holders:
        if lock.held:
            lines.append(("writer", f"{lock.writer}: {lock.holder}"))
    for key, value in lines:
        if value not in (None, "", "None (None)"):
            typer.echo(f"{key:>10}  {value}")
    if shards:
        typer.echo("\nSlurm shards:")
        for s in shards:
            typer.echo(f"  {s.get('shard')!s:>6}  job {s.get('job_id')}  {s.get('state')}"
                       f"  {s.get('n_done')}/{s.get('n_total')}"
                       + (f"  ({s.get('reason')})" if s.get("reason") else ""))
    if last:
        typer.echo("\nlast events:")
        for event in last:
            typer.echo("  " + format_event(event))


def questions_done(n_done: int, n_total: int | None, n_dataset: int | None, *,
                   short: bool = False) -> str:
    """``done/total``, and how much of the dataset a ``--limit`` run covers."""
    text = f"{n_done}/{'?' if n_total is None else n_total}"
    if n_total is not None and n_dataset and n_total < n_dataset:
        return f"{text} of {n_dataset}" if short else \
            f"{text} done (--limit: the first {n_total} of the dataset's {n_dataset})"
    return text if short else f"{text} done"


def _forward_line(path: Any) -> str | None:
    if not isinstance(path, dict):
        return None
    text = f"{path.get('decoder')} decoder on {path.get('lean_layers')}/{path.get('decoder_layers')} layers"
    if path.get("last_position_only"):
        text += ", the last one at the last position only"
    if path.get("why_not"):
        text += f" ({path['why_not']})"
    return f"{text}; transformers {path.get('transformers')}"


def _model_line(model: Any) -> str | None:
    if not isinstance(model, dict):
        return model
    parts = [str(model.get("name"))]
    if model.get("source"):
        parts.append(f"[{model['source']}]")
    if model.get("architecture"):
        parts.append(str(model["architecture"]))
    if model.get("n_params"):
        parts.append(f"{model['n_params'] / 1e6:.1f}M params")
    if model.get("weights_sha256"):
        parts.append(f"sha256 {str(model['weights_sha256'])[:12]}")
    return " ".join(parts)


def _shards(run_dir: Path) -> list[dict[str, Any]] | None:
    try:
        return lab_runs.shard_states(run_dir)
    except NotImplementedError:
        return None
    except Exception as err:  # noqa: BLE001 - sacct/squeue missing: say so, show the rest
        info(f"warning: cannot read the Slurm shard states ({err})")
        return None


def format_event(event: RunEvent) -> str:
    """One line for an event of events*.jsonl: its time, then ``engine.lab.follow.event_text``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) if event.time else "--:--:--"
    return f"{stamp} {event_text(event)}"


@app.command("watch")
def watch(run: RunArg, ws_path: WorkspaceOpt = None,
          interval: Annotated[float, typer.Option(min=0.05, help="Seconds between looks.")] = 0.5,
          ) -> None:
    """Attach to a run (local or Slurm) by following its events until done or failed; Ctrl-C
    detaches. A Slurm run's progress adds up its shards'."""
    ws = existing_workspace(ws_path)
    run_dir = lab_runs.find(ws, run)
    follower = RunFollower(run_dir)
    view = ProgressView(run_dir.name, follower.status.n_total)
    final = follower.status
    try:
        with view:
            for update in follower.follow(interval):
                for event in update.events:
                    view.log(format_event(event))
                if update.progress is not None:
                    view.show(update.progress)
                final = update.final or final
    except KeyboardInterrupt:
        info(f"detached from {run_dir.name}; it goes on (`alignuq runs watch {run_dir.name}` to "
             "attach again)")
        return
    if final.status == lab_runs.DONE:
        typer.echo(end_text(run_dir.name, final))
        return
    color = typer.colors.RED if final.status == lab_runs.FAILED else None
    typer.secho(end_text(run_dir.name, final), err=True, fg=color)
    raise typer.Exit(EXIT_FAILURE)


@app.command("cancel")
def cancel(run: RunArg, ws_path: WorkspaceOpt = None) -> None:
    """Cancel a run: its Slurm jobs, or SIGTERM to its local engine (rows computed are kept)."""
    ws = existing_workspace(ws_path)
    run_dir = lab_runs.find(ws, run)
    try:
        done = lab_runs.cancel(run_dir)
    except NotImplementedError as err:
        typer.secho(f"alignuq: error: Slurm cancellation is not available ({err})", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(EXIT_FAILURE) from None
    if done.slurm_jobs is not None:
        typer.echo(f"run {run_dir.name}: cancelled Slurm job(s) "
                   f"{' '.join(done.slurm_jobs) or '(none active)'}")
        return
    if done.signalled:
        typer.echo(f"run {run_dir.name}: asked engine pid(s) "
                   f"{', '.join(map(str, done.signalled))} to stop (SIGTERM); rows computed "
                   "are kept")
    if done.elsewhere:
        typer.secho(f"run {run_dir.name} is written by {', '.join(done.elsewhere)}: cancel "
                    "it there (or with `alignuq runs cancel` on that host)", err=True,
                    fg=typer.colors.YELLOW)
        raise typer.Exit(EXIT_FAILURE)
    if not done.signalled:
        typer.echo(f"run {run_dir.name} is not running")


@app.command("delete")
def delete(run: RunArg, yes: YesOpt = False, ws_path: WorkspaceOpt = None) -> None:
    """Delete a run: its results, manifest and events (refused while it runs; exports are kept)."""
    ws = existing_workspace(ws_path)
    run_dir = lab_runs.find(ws, run)
    st = lab_runs.status_of(run_dir)
    total = "?" if st.n_total is None else st.n_total
    confirm(f"delete run {run_dir.name} ({st.n_done}/{total} questions, {st.status})?", yes)
    lab_runs.delete(ws, run_dir)
    typer.echo(f"deleted run {run_dir.name}")
