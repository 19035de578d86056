"""How both front ends write a model's size and parameter count (``models list`` and the
console's Models screen)."""

from __future__ import annotations


def human_size(n: float | None) -> str:
    """Bytes as ``512 B``, ``12 KB``, ``98.3 MB``, ``1.2 GB``; ``-`` when unknown."""
    if not n or n != n:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


def human_params(n: float | None) -> str:
    """A parameter count as ``135M`` or ``1.07B``; ``-`` when unknown."""
    if not n or n != n:
        return "-"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"
