"""`alignuq run`: run a model over a dataset through the engine process (or Slurm).

Exit codes: 0 done; 2 bad input (BAD_INPUT, MODEL_NOT_FOUND, BAD_MODEL); 130 cancelled (Ctrl-C;
running the same command again resumes); 1 any other failure.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import (
    CANCELLED,
    ENGINE_DIED,
    EXIT_CANCELLED,
    EXIT_FAILURE,
    AlignuqError,
    BadInput,
)
from engine.client import SyncEngineClient
from engine.lab.runs import SlurmOptions
from engine.run_spec import (
    DEFAULT_BATCH_TOKENS,
    DEFAULT_MAX_NEW_TOKENS,
    PROTOCOLS,
    RunSpec,
    check_protocol,
    check_task,
)
from tui.cli.common import Variant, WorkspaceOpt, info, print_json, workspace
from tui.cli.progress_view import ProgressView


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class DType(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class ActivationDType(str, Enum):
    float32 = "float32"
    float16 = "float16"


class Journal(str, Enum):
    auto = "auto"
    wal = "wal"
    delete = "delete"


class Task(str, Enum):
    score = "score"
    generate = "generate"


class OutFormat(str, Enum):
    human = "human"
    json = "json"


def run(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name in the workspace.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model: local folder, HF-cache repo "
                                       "id, or .gguf file (see `alignuq models list`).")],
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=0,
                                              help="Only the first N questions.")] = None,
    variant: Annotated[Variant, typer.Option(help="Measure/prompt variant (SCIENCE.md).")] = Variant.corrected,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    dtype: Annotated[DType, typer.Option(help="auto: bf16 on GPU, fp32 on CPU.")] = DType.auto,
    batch_tokens: Annotated[int, typer.Option("--batch-tokens", min=0,
                                              help="Padded tokens per forward pass (0: auto, "
                                              "512 on CPU, 32768 on GPU).")] = DEFAULT_BATCH_TOKENS,
    chat_template: Annotated[bool, typer.Option("--chat-template",
                                                help="Wrap prompts in the model's chat template.")] = False,
    few_shot: Annotated[int, typer.Option("--few-shot", min=0, help="Few-shot examples per prompt.")] = 0,
    protocol: Annotated[str | None, typer.Option(
        "--protocol", help="A named prompt protocol fixing template, examples and label "
        f"spellings: {' or '.join(PROTOCOLS)} (SCIENCE-successor.md §3; with --chat-template "
        "for instruct models).")] = None,
    capture_activations: Annotated[bool, typer.Option(
        "--capture-activations", help="Also keep the last prompt token's hidden state at every "
        "layer (RUN/activations; for `alignuq analyze probe`). On a finished run, adds them.")] = False,
    capture_embeddings: Annotated[bool, typer.Option(
        "--capture-embeddings", help="With --capture-activations: the embedding output too "
        "(layer 0).")] = False,
    activation_dtype: Annotated[ActivationDType, typer.Option(
        "--activation-dtype", help="Activations on disk: float32, or float16 (half the "
        "size).")] = ActivationDType.float32,
    task: Annotated[Task, typer.Option(
        "--task", help="score: the next token after each prompt (multiple choice); generate: "
        "free recall, the successor's open answers with their uncertainty (needs --protocol "
        "successor; SCIENCE-successor.md §5).")] = Task.score,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1,
                                                help="--task generate: the most tokens an "
                                                "answer gets.")] = DEFAULT_MAX_NEW_TOKENS,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0,
                                               help="--task generate: 0 greedy; above 0 sampled, "
                                               "seeded.")] = 0.0,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code",
                                                    help="Allow the model's own code.")] = False,
    engine_cmd: Annotated[str | None, typer.Option(
        "--engine-cmd", help="Argv prefix that starts the engine elsewhere, e.g. \"ssh gpu-node\" "
        "or \"srun --gres=gpu:1 -n1\" (env ALIGNUQ_ENGINE_CMD; default: a local child).")] = None,
    slurm: Annotated[bool, typer.Option("--slurm", help="Submit as a Slurm job array instead "
                                        "(detached; follow with `alignuq runs watch RUN`).")] = False,
    partition: Annotated[str | None, typer.Option(help="Slurm partition.")] = None,
    gpus_per_task: Annotated[int, typer.Option("--gpus-per-task", min=0, help="Slurm GPUs per shard.")] = 0,
    time_limit: Annotated[str, typer.Option("--time", help="Slurm time limit per shard, HH:MM.")] = "01:00",
    shards: Annotated[int, typer.Option(min=1, help="Slurm shards (array tasks).")] = 1,
    array_parallelism: Annotated[int, typer.Option("--array-parallelism", min=1,
                                                   help="Slurm shards running at once.")] = 16,
    cpus_per_task: Annotated[int | None, typer.Option("--cpus-per-task", min=1,
                                                      help="Slurm CPUs per shard.")] = None,
    mem_gb: Annotated[float | None, typer.Option("--mem", min=0.1,
                                                 help="Slurm memory per shard, in GB.")] = None,
    account: Annotated[str | None, typer.Option(help="Slurm account.")] = None,
    qos: Annotated[str | None, typer.Option(help="Slurm QOS.")] = None,
    store_journal: Annotated[Journal, typer.Option("--store-journal", help="SQLite journal: auto "
                                                   "(WAL on local disks, DELETE on network file systems).")] = Journal.auto,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Summary format on stdout.")] = OutFormat.human,
    ws_path: WorkspaceOpt = None,
) -> None:
    """Run a model over a dataset: every measure per question, resumable (run it again to resume)."""
    ws = workspace(ws_path)
    if not device or not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise BadInput(f"unknown device {device!r}", fix="use auto, cpu, cuda or cuda:N")
    check_protocol(protocol)
    spec = RunSpec(workspace=str(ws.root), dataset=dataset, model=_model_arg(model), variant=variant.value,
                   limit=limit, device=device, dtype=dtype.value, batch_tokens=batch_tokens,
                   chat_template=chat_template, few_shot=few_shot, protocol=protocol,
                   trust_remote_code=trust_remote_code, store_journal=store_journal.value,
                   capture_activations=capture_activations or capture_embeddings,
                   capture_embeddings=capture_embeddings, activation_dtype=activation_dtype.value,
                   task=task.value, max_new_tokens=max_new_tokens, temperature=temperature)
    check_task(spec)
    if slurm:
        options = SlurmOptions(partition=partition, gpus_per_task=gpus_per_task, time=time_limit,
                               shards=shards, array_parallelism=array_parallelism,
                               cpus_per_task=cpus_per_task, mem_gb=mem_gb, account=account, qos=qos)
        _submit_slurm(spec, options, fmt=fmt)
        return
    if not engine_cmd:
        from engine.lab.datasets import load

        load(ws, dataset)  # fail fast (exit 2) before starting an engine
    summary = drive_engine(spec, engine_cmd)
    if fmt is OutFormat.json:
        print_json(summary)
        return
    typer.echo(f"run {summary['run_id']}: {summary['n_done']}/{summary['n_total']} questions done "
               f"({summary['n_new']} new) in {summary['wall_s']:.1f} s on {summary['device']}")
    typer.echo(f"results: {summary['run_dir']}")
    typer.echo(f"next: alignuq export run {summary['run_id']} --format csv --out "
               f"{summary['run_id']}.csv")


def _model_arg(model: str) -> str:
    """A model given as an existing relative path is passed on as an absolute one."""
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve())
    return model


def _submit_slurm(spec: RunSpec, options: SlurmOptions, *, fmt: OutFormat) -> None:
    from engine.lab.runs import submit_to_slurm

    try:
        submitted = submit_to_slurm(spec, options)
    except NotImplementedError as err:
        typer.secho(f"alignuq: error: Slurm submission is not available ({err})", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(EXIT_FAILURE) from None
    if fmt is OutFormat.json:
        print_json(submitted)
        return
    run_id = submitted.get("run_id")
    jobs = submitted.get("job_ids") or []
    typer.echo(f"run {run_id}: submitted {len(jobs)} Slurm job(s): {' '.join(map(str, jobs))}")
    typer.echo(f"follow it:  alignuq runs watch {run_id}")
    typer.echo(f"cancel it:  alignuq runs cancel {run_id}")


# ---------------------------------------------------------------------- engine + progress bar


def drive_engine(spec: RunSpec, engine_cmd: str | None) -> dict[str, Any]:
    """Start the engine, run ``spec`` with a progress bar; Ctrl-C cancels cleanly. Returns the
    summary or exits (typer.Exit) with the error's code."""
    client = SyncEngineClient(engine_cmd)
    view = ProgressView()
    handle = None
    try:
        with view:
            try:
                view.hello(client.start())
                handle = client.start_run(spec, view.on_progress, view.on_log)
                return handle.wait()
            except KeyboardInterrupt:
                if handle is None:
                    raise
                return _cancel(client, handle, view)
    except AlignuqError as err:  # printed by the CLI's entry point, with its exit code
        if err.code == CANCELLED:
            _print_resume(err.data, view)
            raise typer.Exit(EXIT_CANCELLED) from None
        if err.code == ENGINE_DIED and view.last is not None:
            info("rows computed so far are kept; run the same command again to resume")
        raise
    finally:
        try:
            client.close()
        except KeyboardInterrupt:
            client.close(timeout=0)


def _cancel(client: SyncEngineClient, handle: Any, view: ProgressView) -> dict[str, Any]:
    view.cancelling()
    try:
        client.cancel(handle.id)
        return handle.wait()  # normally raises AlignuqError (code CANCELLED)
    except KeyboardInterrupt:
        client.kill()
        data = None
        if view.last is not None:
            data = {"run_id": view.last.run_id, "n_done": view.last.done, "n_total": view.last.total}
        _print_resume(data, view)
        raise typer.Exit(EXIT_CANCELLED) from None


def _print_resume(data: Any, view: ProgressView) -> None:
    view.finish("cancelled")
    data = data or {}
    last = view.last
    run_id = data.get("run_id") or (last.run_id if last is not None else None)
    done = data.get("n_done", last.done if last is not None else None)
    total = data.get("n_total", last.total if last is not None else None)
    where = f"run {run_id} " if run_id else "the run "
    counts = f" at {done}/{total} questions" if done is not None and total else ""
    typer.echo(f"alignuq: {where}cancelled{counts}; the rows computed are kept. "
               f"Run the same command again to resume: {_command_line()}", err=True)


def _command_line() -> str:
    import shlex

    args = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name in ("alignuq", "main.py") else []
    return shlex.join(["alignuq", *args]) if args else "alignuq run ..."
