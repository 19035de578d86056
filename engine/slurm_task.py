"""What each task of a Slurm job array runs on its node: the ordinary runner over its shard's
question ids, into its own store and events file (``engine.slurm`` submits it). The runner, and
with it torch, is imported only when the task runs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from engine.events import ErrorEvent, LogEvent, RunEvent, encode_event
from engine.run_spec import RunSpec

try:  # the task must be a Checkpointable for submitit to requeue it; import-safe without it
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover - submitit is the `slurm` extra
    class _Checkpointable:  # type: ignore[no-redef]
        pass


class ShardTask(_Checkpointable):
    """Run one shard: the normal runner over the shard's question ids, into its own store.

    On timeout (SIGUSR2 before the limit) or preemption submitit calls ``checkpoint`` (inherited
    from Checkpointable) and requeues the task with the same spec: the rerun resumes from the
    shard's store, which already holds the finished questions.
    """

    def __call__(self, spec_dict: dict[str, Any]) -> dict[str, Any]:
        return run_shard(spec_dict)


def run_shard(spec_dict: dict[str, Any], cancel: threading.Event | None = None) -> dict[str, Any]:
    """Run one shard in this process (what the array task does); returns the RunSummary dict."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from engine.runner import execute_run  # the torch side, only on the node

    spec = RunSpec.from_dict(spec_dict)
    cancel = cancel or threading.Event()
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:  # scancel / preemption: stop at a batch edge
        cancel.set()
        if callable(previous):
            previous(signum, frame)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    return execute_run(spec, _copy_to_log, cancel).to_dict()


def _copy_to_log(event: RunEvent) -> None:
    """The runner writes its events file itself; the shard copies its log lines and its error
    to stderr, which is the task's log."""
    if isinstance(event, (LogEvent, ErrorEvent)):
        print(encode_event(event), end="", file=sys.stderr, flush=True)
