"""What to do, said for the console: an error's ``fix`` is written for the CLI (``--force``,
``alignuq runs list``); the console shows its own advice where it has the means, and labels
the rest as the command line's.

``console_fix(error)`` is the one place; the error dialog, the notifications and the table
outcomes use it.
"""

from __future__ import annotations

import re

from common.errors import CANCELLED, ENGINE_DIED, ENGINE_START, MODEL_NOT_FOUND, OOM, AlignuqError

# (a pattern of the CLI's advice, the console's): the first that matches wins.
TRANSLATIONS: list[tuple[str, str]] = [
    (r"--name.*--force|--force.*--name",
     "pick another name for the dataset in the import wizard, or delete the existing one first "
     "(Datasets, delete)"),
    (r"--run-id.*--force", "this run is already in the workspace: pick it in Results"),
    (r"--with-runs", "delete the dataset with its runs from Datasets (delete asks first)"),
    (r"alignuq runs cancel|cancel it first", "cancel it first (Runs, c)"),
    (r"alignuq runs list|alignuq runs show", "see the runs in Runs (r)"),
    (r"alignuq run(s import)?`? first|`alignuq run` or", "queue a run first (Runs, n)"),
    (r"leave it out of --runs|pick other runs|--runs", "pick other runs in Results (the run list "
     "on the left), or let partial runs in (p)"),
    (r"alignuq datasets derive", "exclude those questions (Datasets, x) and save a version (v)"),
    (r"--human-col", "import the dataset again with that human column (Datasets, i)"),
    (r"--device", "pick another device in the new-jobs dialog (Runs, n)"),
    (r"--few-shot", "choose fewer few-shot examples"),
]
BY_CODE = {
    MODEL_NOT_FOUND: "see the models found locally on Models (m); l rescans",
    OOM: "queue it again with a smaller model or on another device (Runs, n)",
    CANCELLED: "resume it from Runs (u): it goes on where it stopped",
    ENGINE_START: "check the engine on Models (t tests the connection)",
    ENGINE_DIED: "see the job's log on Runs; u resumes it where it stopped",
}
CLI_MARK = re.compile(r"--[a-z]|`alignuq |alignuq [a-z]")


def console_fix(error: AlignuqError) -> str:
    """``error.fix`` as advice the console can follow (the CLI's own kept, labelled, where the
    console has no way)."""
    fix = error.fix or ""
    for pattern, advice in TRANSLATIONS:
        if re.search(pattern, fix):
            return advice
    settings = _table_settings(fix)
    if settings:
        return f"set {', '.join(settings)} in the Results table settings (o)"
    if error.code in BY_CODE and (not fix or CLI_MARK.search(fix)):
        return BY_CODE[error.code]
    if CLI_MARK.search(fix):
        return f"from a terminal (the console has no such option): {fix}"
    return fix


def _table_settings(fix: str) -> list[str]:
    """The analysis settings a fix names as CLI flags, when it names nothing else."""
    from engine.lab.analyses import SETTINGS

    flags = re.findall(r"--([a-z][a-z0-9-]*)", fix)
    names = [flag.replace("-", "_") for flag in flags]
    if names and all(name in SETTINGS for name in names):
        return [name.replace("_", " ") for name in dict.fromkeys(names)]
    return []


def for_console(error: AlignuqError) -> AlignuqError:
    """A copy of ``error`` whose ``fix`` is :func:`console_fix`'s."""
    return AlignuqError(error.what, code=error.code, where=error.where, line=error.line,
                        fix=console_fix(error), data=error.data)


def console_message(error: AlignuqError) -> str:
    """The one-line message with console advice."""
    return for_console(error).message

