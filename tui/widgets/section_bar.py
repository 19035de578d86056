"""The one-line bar at the top of every section: where you are, and the key for every other one."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

SECTIONS = (("datasets", "d", "Datasets"), ("models", "m", "Models"), ("runs", "r", "Runs"),
            ("results", "s", "Results"), ("grading", "w", "Grading"))


class SectionBar(Static):
    """``alignuq  d Datasets  m Models  r Runs  s Results  w Grading   engine: local``."""

    DEFAULT_CSS = """
    SectionBar { height: 1; background: $panel; color: $text; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current

    def on_mount(self) -> None:
        self.refresh_bar()

    def refresh_bar(self) -> None:
        text = Text(" alignuq ", style="bold reverse")
        for mode, key, title in SECTIONS:
            text.append(" ")
            if mode == self.current:
                text.append(f" {key} {title} ", style="bold reverse")
            else:
                text.append(key, style="bold underline")
            if mode != self.current:
                text.append(f" {title}")
        settings = getattr(self.app, "settings", None)
        if settings is not None:
            where = settings.where if len(settings.where) <= 18 else settings.where[:17] + "…"
            text.append(f"  {where} · {settings.variant}", style="dim")
        self.update(text)
