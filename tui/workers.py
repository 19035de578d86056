"""Workers: everything slow runs here, off the UI loop, and reports through ``tui.messages``.

Two kinds: thread workers for blocking work (pandas, parquet, SQLite, analysis), and async workers
that talk to the engine process through ``engine.client.EngineClient``. Neither touches a widget;
they post typed messages. Failures go to one place: the app's central handler
(``AlignUQApp.show_failure``), as :func:`common.errors.as_error` makes them.

Heavy modules (pandas, pyarrow, the analysis) are imported inside the functions, so the first
screen paints before they load.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------- datasets (thread workers)

def workspace(root: Path):
    from datasets_io.workspace import Workspace
    return Workspace(Path(root)).ensure()


def dataset_summaries(root: Path) -> list[dict[str, Any]]:
    from datasets_io.dataset import list_datasets, load_dataset

    ws = workspace(root)
    out = []
    for name in list_datasets(ws):
        try:
            out.append(load_dataset(ws, name).summary())
        except Exception as err:  # one broken folder must not hide the others
            out.append({"name": name, "error": str(err), "n_questions": 0, "n_dropped": 0,
                        "source": "?"})
    return out


def entropy(shares: Any) -> float:
    """H(h) in nats over the positive shares (SCIENCE.md §3); NaN without shares."""
    if shares is None:
        return float("nan")
    vals = [float(s) for s in shares if s is not None and float(s) > 0]
    total = sum(vals)
    if total <= 0:
        return float("nan")
    return -sum((v / total) * math.log(v / total) for v in vals)


def load_questions(root: Path, name: str) -> tuple[Any, dict[str, Any]]:
    """The dataset's questions with ``human_entropy`` (nats) and ``human_entropy_norm`` added."""
    from datasets_io.dataset import load_dataset

    ds = load_dataset(workspace(root), name)
    frame = ds.questions.copy()
    frame["human_entropy"] = [entropy(h) for h in frame["human_share"]]
    frame["human_entropy_norm"] = [
        (e / math.log(n)) if n > 1 and not math.isnan(e) else float("nan")
        for e, n in zip(frame["human_entropy"], frame["n_choices"], strict=True)]
    summary = ds.summary()
    summary["parent"] = ds.report.get("parent")
    summary["curation"] = ds.report.get("curation")
    return frame, summary


def filter_questions(frame: Any, *, search: str = "", source: str = "", subject: str = "",
                     n_choices: int | None = None, entropy_min: float | None = None,
                     entropy_max: float | None = None, normalized: bool = True) -> Any:
    """The browse filters: text search (question text, choices, id), source, subject, choice
    count and a human-entropy range (normalised to [0, 1] unless ``normalized`` is False)."""
    mask = frame["question_id"].notna()
    if search:
        needle = search.lower()
        hay = (frame["question_id"].astype(str) + " " + frame["text"].astype(str) + " "
               + frame["choices"].map(lambda c: " ".join(map(str, c))))
        mask &= hay.str.lower().str.contains(needle, regex=False)
    if source:
        mask &= frame["source"].astype(str).str.lower() == source.lower()
    if subject:
        mask &= frame["subject"].fillna("").astype(str).str.lower().str.contains(subject.lower(),
                                                                                regex=False)
    if n_choices is not None:
        mask &= frame["n_choices"] == int(n_choices)
    col = "human_entropy_norm" if normalized else "human_entropy"
    if entropy_min is not None:
        mask &= frame[col] >= entropy_min
    if entropy_max is not None:
        mask &= frame[col] <= entropy_max
    return frame[mask]


def derive_version(root: Path, source: str, name: str,
                   excluded: list[str]) -> tuple[Path, dict[str, Any]]:
    """A NEW dataset = ``source`` minus ``excluded`` (``datasets_io.curate.derive_dataset``).

    Re-including is deciding again from the same source: a version is always made from its
    parent with the exclusions the user now wants."""
    from datasets_io.curate import derive_dataset

    ds = derive_dataset(workspace(root), source, name, exclude_ids=excluded,
                        note="curated in the console")
    return Path(ds.path or Path(root) / "datasets" / name), ds.summary()


# ---------------------------------------------------------------- runs on disk (thread workers)

def runs_of_dataset(root: Path, name: str) -> list[Any]:
    """The runs of dataset ``name`` (``engine.runs.RunInfo``, with their status)."""
    from engine.runs import dataset_runs

    return dataset_runs(workspace(root), name)


def delete_dataset(root: Path, name: str, runs: list[Any]) -> None:
    """Delete ``runs`` and then dataset ``name`` (nothing while one of the runs runs)."""
    from engine.runs import delete_dataset_and_runs

    delete_dataset_and_runs(workspace(root), name, runs)


def delete_run(root: Path, run_dir: str | Path) -> None:
    """Delete a run of the workspace (refused while it runs)."""
    from engine.runs import delete_run as delete

    delete(workspace(root), Path(run_dir))


def scan_runs(root: Path) -> list[dict[str, Any]]:
    """Every run of the workspace (``engine.runs.list_runs``), newest first, with its manifest."""
    from engine.runs import list_runs, read_manifest_or_empty

    out = []
    for info in list_runs(workspace(root), slurm=False):
        manifest = read_manifest_or_empty(Path(info.run_dir))
        out.append({**info.to_dict(), "manifest": manifest,
                    "label": f"{info.model or '?'}" + (f" ({info.variant})" if info.variant
                                                        not in (None, "corrected") else "")})
    return out


def label_probs(root: Path, dataset: str, question_id: str) -> dict[str, list[float]]:
    """Each run on ``dataset`` that answered ``question_id``: its label probabilities q."""
    from engine.analysis.frames import list_runs, model_label
    from engine.store import read_manifest, read_results

    ws = workspace(root)
    out: dict[str, list[float]] = {}
    for run_id in list_runs(ws, dataset):
        run_dir = ws.runs / run_id
        try:
            rows = read_results(run_dir)
            label = model_label(read_manifest(run_dir), run_id)
        except Exception:
            continue
        if len(rows) == 0:
            continue
        hit = rows[rows["question_id"] == question_id]
        if len(hit):
            while label in out:
                label += "'"
            out[label] = [float(x) for x in hit.iloc[0]["label_probs"]]
    return out


# ---------------------------------------------------------------- models and the engine

def discover_local(root: Path, extra_dirs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Models on this machine (``engine.models.resolve.discover_models``: torch-free, loads and
    hashes nothing). Used when the engine runs locally; otherwise :func:`engine_models` asks it."""
    from engine.models.resolve import discover_models

    ws = workspace(root)
    found = discover_models(ws.cache, [Path(d) for d in extra_dirs])
    return [m.to_dict() if hasattr(m, "to_dict") else dict(m) for m in found]


async def discover_in_subprocess(root: Path, extra_dirs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """:func:`discover_local` in a child Python: reading GGUF headers is CPU-bound (seconds), and
    in a thread it would hold the GIL against the UI."""
    import asyncio
    import json
    import sys

    code = ("import json, sys; from pathlib import Path; from tui.workers import discover_local; "
            "print(json.dumps(discover_local(Path(sys.argv[1]), tuple(sys.argv[2:])), default=str))")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(root), *extra_dirs, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await proc.communicate()
    except BaseException:  # cancelled (the app quit, or a newer scan): never leave it running
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    finally:
        from engine.client import close_process_transport

        close_process_transport(proc)
    if proc.returncode != 0:
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        from common.errors import INTERNAL, AlignuqError

        raise AlignuqError("model discovery failed: " + (lines[-1] if lines else "?"), code=INTERNAL)
    return json.loads(out.decode().strip().splitlines()[-1])


async def engine_models(prefix: tuple[str, ...], root: Path) -> list[dict[str, Any]]:
    """Models the engine finds where it runs (``ssh HOST`` / ``srun``): ``list_models``."""
    from engine.client import EngineClient

    client = EngineClient(list(prefix) or None, argv=None if prefix else _local_argv())
    try:
        await client.start()
        return await client.list_models(root)
    finally:
        await _shutdown(client)


async def engine_hello(prefix: tuple[str, ...]) -> dict[str, Any]:
    """Start the engine with ``prefix``, return its ``hello`` (device, versions), close it."""
    from dataclasses import asdict

    from engine.client import EngineClient

    client = EngineClient(list(prefix) or None, argv=None if prefix else _local_argv())
    try:
        hello = await client.start()
        return asdict(hello) if not isinstance(hello, dict) else hello
    finally:
        await _shutdown(client)


async def _shutdown(client: Any, timeout: float = 10.0) -> None:
    """Close the engine (stdin closed: it cancels its work and exits); kill it if it lingers or
    if we are being cancelled ourselves (the app is quitting)."""
    import asyncio

    try:
        await client.close(timeout)
    except asyncio.CancelledError:
        await client.kill()
        raise


def _local_argv() -> list[str] | None:
    """The local engine ignores $ALIGNUQ_ENGINE_CMD: the console's setting already decided."""
    from engine.client import default_argv

    return default_argv()


def human_size(n: Any) -> str:
    if n is None or n != n:
        return ""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def human_count(n: Any) -> str:
    if n is None or n != n:
        return ""
    n = float(n)
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def dataset_names(root: Path) -> list[str]:
    from datasets_io.dataset import list_datasets

    return list_datasets(workspace(root))


# ---------------------------------------------------------------- analysis and export

CONSOLE_ARGV = ["alignuq", "tui"]   # the command line in the provenance of the console's files


def analysis_runs(root: Path) -> list[dict[str, Any]]:
    """The runs with results, for the Results screen's run picker: ``scan_runs``' dicts, each
    with its ``coverage`` (``engine.analysis.coverage.RunCoverage``: stale, partial)."""
    from common.errors import BadInput
    from datasets_io.dataset import load_dataset
    from engine.analysis.coverage import RunCoverage, is_stale

    ws = workspace(root)
    hashes: dict[str, str] = {}
    out = []
    for r in scan_runs(root):
        if not r.get("n_done"):
            continue
        name = r.get("dataset")
        if name and name not in hashes:
            try:
                hashes[name] = load_dataset(ws, name).report_hash()
            except BadInput:
                hashes[name] = ""       # the table says what is wrong with it
        stale = is_stale(r["manifest"], hashes.get(name, ""))
        out.append({**r, "coverage": RunCoverage(r["run_id"], r["status"], r["n_done"],
                                                 r["n_total"], stale)})
    return out


def compute_table(settings: Any, dataset: str, run_ids: list[str] | None, key: str,
                  cache: dict[str, Any] | None = None, *,
                  allow_partial: bool = False) -> dict[str, Any]:
    """Table ``key`` of the registry (``engine.lab.tables.compute``) with every setting the app
    has for it (``Settings.table_settings``), its extra frames, its notes, and the provenance of
    each (as `alignuq analyze` writes it, but for the command line and the time).

    ``cache`` keeps the load (``engine.lab.tables.load``) between tables of the same dataset and
    runs. The measures chosen on the Models screen that these runs lack are left out."""
    from engine.lab import tables

    cache_key = (dataset, tuple(run_ids or ()), allow_partial)
    if cache is not None and cache.get("key") == cache_key:
        loaded = cache["loaded"]
    else:
        loaded = tables.load(workspace(settings.workspace), dataset, run_ids,
                             allow_partial=allow_partial)
        if cache is not None:
            cache.update(key=cache_key, loaded=loaded)
    chosen = settings.table_settings()
    if chosen["measures"] is not None:
        chosen["measures"] = [m for m in chosen["measures"] if m in loaded.measures] or None
    table = tables.compute(loaded, key, chosen)
    return {"table": table.frame(), "extra": table.result.extra, "notes": table.notes,
            "provenance": table.provenance(argv=CONSOLE_ARGV),
            "extra_provenance": {extra.key: table.provenance(extra.key, argv=CONSOLE_ARGV)
                                 for extra in table.spec.extras}}


EXPORT_FORMATS = {"csv": ("csv", ".csv"), "md": ("markdown", ".md"), "tex": ("latex", ".tex")}


def export_table(settings: Any, frame: Any, name: str, fmt: str,
                 provenance: dict[str, Any]) -> list[Path]:
    """Write ``frame`` under ``workspace/exports/`` as CSV, Markdown or LaTeX with its
    ``.provenance.json`` sidecar (``engine.analysis.provenance.write_with_provenance``)."""
    import re
    import time

    from engine.analysis.provenance import package_versions, write_with_provenance

    render_fmt, suffix = EXPORT_FORMATS[fmt]
    ws = workspace(settings.workspace)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "table"
    path = ws.exports / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    n = 1
    while path.exists():
        n += 1
        path = ws.exports / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{n}{suffix}"
    prov = dict(provenance)
    if "versions" not in prov:  # a table made by the console itself (questions, models, jobs)
        from datetime import datetime, timezone

        prov.update(table=name, workspace=str(ws.root), versions=package_versions(),
                    command=CONSOLE_ARGV,
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    settings={"variant": settings.variant, "scale": settings.scale,
                              "engine": settings.where, **prov.get("settings", {})})
    side = write_with_provenance(frame.reset_index(drop=True), path, render_fmt, prov)
    return [path, side]
