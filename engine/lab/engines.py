"""The engine process as a front end reaches it: a local child, or the engine command's argv
prefix (``ssh gpu-node``, ``srun --gres=gpu:1 -n1``); started, asked, and closed again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.client import EngineClient, default_argv
from engine.models.resolve import ModelRef
from engine.protocol import Hello


def client_for(prefix: tuple[str, ...]) -> EngineClient:
    """A client for the engine at ``prefix`` (empty: the local child; a local engine ignores
    ``$ALIGNUQ_ENGINE_CMD``, since the front end's own setting has decided)."""
    return EngineClient(list(prefix) or None, argv=None if prefix else default_argv())


async def close(client: EngineClient, timeout: float = 10.0) -> None:
    """Close the engine (stdin closed: it cancels its work and exits); kill it if it lingers or
    if the caller is being cancelled itself (the front end is quitting)."""
    try:
        await client.close(timeout)
    except asyncio.CancelledError:
        await client.kill()
        raise


async def hello(prefix: tuple[str, ...]) -> Hello:
    """Start the engine at ``prefix``, return its ``hello`` (device, versions), close it."""
    client = client_for(prefix)
    try:
        return await client.start()
    finally:
        await close(client)


async def models_on(prefix: tuple[str, ...], ws_root: Path) -> list[ModelRef]:
    """The models the engine at ``prefix`` finds where it runs (its ``list_models``)."""
    client = client_for(prefix)
    try:
        await client.start()
        return [ModelRef.from_dict(m) for m in await client.list_models(ws_root)]
    finally:
        await close(client)
