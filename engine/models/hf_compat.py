"""The transformers names that move between releases, read in one place.

transformers 5.24 renamed a model's key/value cache from ``past_key_values`` to ``cache``: in
the forward's arguments, in a model output's fields and in what a model hands its decoder
layers. The old name still works there until 5.40 but prints a deprecation warning in every run.
The engine asks the loaded model which name it takes, so it runs warning-free on either side of
the rename (tested on the locked release and on an older one, see the README's install section).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

NEW_CACHE_NAME, OLD_CACHE_NAME = "cache", "past_key_values"


@functools.cache
def _cache_name_of(forward: Any) -> str:
    params = inspect.signature(forward).parameters
    return NEW_CACHE_NAME if NEW_CACHE_NAME in params else OLD_CACHE_NAME


def cache_kwarg(model: Any) -> str:
    """The name under which ``model``'s forward takes a key/value cache."""
    return _cache_name_of(type(model).forward)


def with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The keyword arguments that hand ``cache`` to ``model`` and ask it to extend it."""
    return {"use_cache": True, cache_kwarg(model): cache}


def output_cache(output: Any) -> Any:
    """The key/value cache a forward returned (``output.cache``; ``past_key_values`` before 5.24),
    read without touching the deprecated alias."""
    fields = output.keys() if hasattr(output, "keys") else ()
    for name in (NEW_CACHE_NAME, OLD_CACHE_NAME):
        if name in fields:
            return output[name]
    return None
