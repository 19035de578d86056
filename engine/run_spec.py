"""What a run is asked to do, and what it reports back at its end (its progress and its other
events are ``engine.events``). Torch-free; shared by the runner, the server, the client, the
CLI, the TUI and the Slurm scale-out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from common.errors import BadInput
from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP

DEFAULT_BATCH_TOKENS = 0          # 0: automatic, see auto_batch_tokens
CPU_BATCH_TOKENS = 512            # best measured on a 2-core CPU (benchmarks/bench_engine.py)
GPU_BATCH_TOKENS = 32768


PROTOCOLS = ("successor", "successor-as-released")   # prompt protocols, engine.protocols
TASKS = ("score", "generate")     # next-token scoring; free-recall generation (engine.generate)
DEFAULT_MAX_NEW_TOKENS = 100      # SCIENCE-successor.md §5.1


def check_protocol(name: str | None) -> None:
    if name is not None and name not in PROTOCOLS:
        raise BadInput(f"unknown prompt protocol {name!r}", fix=f"use one of {', '.join(PROTOCOLS)}")


def check_task(spec: RunSpec) -> None:
    """A generation run is the successor's free recall: its protocol, nothing captured."""
    if spec.task not in TASKS:
        raise BadInput(f"unknown task {spec.task!r}", fix=f"use one of {', '.join(TASKS)}")
    if spec.task == "score":
        return
    if spec.protocol != "successor":
        raise BadInput(f"--task generate asks the successor's free-recall prompts; it needs "
                       f"--protocol successor, not {spec.protocol or 'none'}",
                       fix="add --protocol successor (with --chat-template for instruct models)")
    if spec.capture_activations:
        raise BadInput("--task generate cannot capture activations",
                       fix="leave out --capture-activations")
    if spec.max_new_tokens < 1:
        raise BadInput("--max-new-tokens must be at least 1")
    if not spec.temperature >= 0:
        raise BadInput("--temperature must be >= 0 (0: greedy)")
    if any(int(k) > 100 for k in spec.topk):
        raise BadInput("a generation run keeps the top 100 tokens per step: top-k must be <= 100")


def auto_batch_tokens(device: str) -> int:
    """The padded-token budget per forward pass when none is given (out-of-memory halves it)."""
    return GPU_BATCH_TOKENS if str(device).startswith("cuda") else CPU_BATCH_TOKENS


@dataclass(frozen=True)
class RunSpec:
    """Settings of one extraction run. Everything that changes a number is part of the run id."""

    workspace: str
    dataset: str
    model: str                       # local folder, HF-cache repo id, or a .gguf file
    variant: str = "corrected"       # "corrected" | "paper" (SCIENCE.md)
    limit: int | None = None         # first N questions of the dataset (in dataset order)
    device: str = "auto"             # "auto" | "cpu" | "cuda" | "cuda:1" ...
    dtype: str = "auto"              # "auto" (bf16 on GPU, fp32 on CPU) | "float32" | "bfloat16" | "float16"
    batch_tokens: int = DEFAULT_BATCH_TOKENS  # padded tokens per forward pass, 0 = auto (not in the id)
    template: str | None = None      # None: the variant's named template
    spellings: tuple[str, ...] | None = None  # None: the variant's default label spellings
    topk: tuple[int, ...] = DEFAULT_TOPK
    topp: tuple[float, ...] = DEFAULT_TOPP
    chat_template: bool = False
    few_shot: int = 0
    protocol: str | None = None      # a named protocol (engine.protocols) fixing the prompt whole
    trust_remote_code: bool = False
    seed: int = 0
    capture_activations: bool = False  # the last prompt token's hidden states (engine.activations)
    capture_embeddings: bool = False   # ... and the embedding output (layer 0)
    activation_dtype: str = "float32"  # float32 or float16 on disk
    question_ids: tuple[str, ...] | None = None  # a shard's subset (Slurm); None = all
    writer: str = "main"             # this writer's store file: results/<writer>.sqlite
    store_journal: str = "auto"      # "auto" | "wal" | "delete"
    task: str = "score"              # "score" | "generate" (free recall, protocol successor)
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS   # generate: the cap
    temperature: float = 0.0         # generate: 0 greedy; > 0 sampling seeded by ``seed``
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in known}
        for key in ("spellings", "topk", "topp", "question_ids"):
            if clean.get(key) is not None:
                clean[key] = tuple(clean[key])
        return cls(**clean)


@dataclass
class RunSummary:
    run_id: str
    run_dir: str
    n_done: int
    n_total: int
    n_new: int
    wall_s: float
    device: str
    status: str = "done"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
