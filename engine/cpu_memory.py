"""Keep freed memory in the process on glibc, so each forward pass does not page-fault afresh.

A CPU forward pass allocates and frees activations of a few megabytes per operation. glibc hands
such blocks back to the kernel (``mmap``/trim) when they are freed, so the next pass touches new
pages: 10-20 thousand page faults per pass of SmolLM2 on 512 tokens, about 5-8% of its time on a
2-core machine (measured with ``getrusage`` around the forward pass). Raising the mmap and trim
thresholds keeps those blocks for reuse. Memory stays bounded by the largest batch (the batch
budget), so it does not grow with the number of questions (benchmarks/bench_engine.py (c)).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def keep_freed_memory() -> bool:
    """Tune glibc malloc once per process; False where there is no glibc (nothing changes)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1 and ok
    ok = mallopt(_M_TOP_PAD, 64 << 20) == 1 and ok
    _done = ok
    return ok
