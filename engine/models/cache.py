"""The one cache every workspace shares: GGUF conversions (hundreds of MB each) and weight hashes.

Both are keyed by the model file's real path, size and mtime, so they hold for any workspace.
``$ALIGNUQ_CACHE`` names it; otherwise ``$XDG_CACHE_HOME/alignuq``, else ``~/.cache/alignuq``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ALIGNUQ_CACHE"


def cache_dir() -> Path:
    """Where the shared cache lives (created by whoever writes into it first)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # a relative one is invalid
    return base / "alignuq"
