"""Horizontal bars of the human response shares, with each model run's label probability beside
them: every bar on one scale (``width`` cells for 100%), so a human and a model bar of one length
mean one share."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(value: float, width: int) -> str:
    """A bar of ``value`` in [0, 1] over ``width`` cells, with eighth-cell resolution."""
    value = min(max(float(value), 0.0), 1.0)
    eighths = round(value * width * 8)
    full, rest = divmod(eighths, 8)
    text = "█" * full + (BLOCKS[rest] if rest else "")
    return text.ljust(width)


def bar_width(screen_width: int, n_bars: int) -> int:
    """The cells for 100% that let the choice column (about 30 cells) and ``n_bars`` bars, each
    with its 7-cell percentage, fit ``screen_width`` (6 to 20)."""
    room = (screen_width - 44) // max(n_bars, 1) - 8
    return max(6, min(20, room))


class ShareBars(Static):
    """Choice rows: label, text, human share bar and %, then one column per model run (headed
    ``run 1``, ``run 2``…, in the order of ``models``; the dialog names them)."""

    def show(self, choices: list[str], human: list[float] | None, correct: int | None,
             models: dict[str, list[float]] | None = None, width: int = 20) -> None:
        table = Table(box=None, pad_edge=False, expand=False, show_header=True,
                      header_style="bold")
        table.add_column("", no_wrap=True)
        table.add_column("choice", overflow="fold", max_width=34)
        if human is not None:
            table.add_column("humans", no_wrap=True)
        for number, _ in enumerate(models or {}, start=1):
            table.add_column(f"run {number}", no_wrap=True)
        for i, choice in enumerate(choices):
            mark = Text(LETTERS[i], style="bold")
            if correct is not None and i == correct:
                mark.append(" ✓", style="green")
            row: list[Text | str] = [mark, choice]
            if human is not None:
                share = human[i] if i < len(human) else 0.0
                row.append(Text(f"{bar(share, width)} {share * 100:5.1f}%", style="cyan"))
            for probs in (models or {}).values():
                p = probs[i] if i < len(probs) else float("nan")
                total = sum(probs) or 1.0
                row.append(Text(f"{bar(p / total, width)} {p / total * 100:5.1f}%",
                                style="magenta"))
            table.add_row(*row)
        self.update(table)
