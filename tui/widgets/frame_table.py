"""A DataTable that remembers the frame it shows, so any table can be exported with one key."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from engine.lab.exports import format_number

MAX_WIDTH = 60  # a column never grows past this; longer cells are cut (the full text is exported)

Styler = Callable[[str, Any, dict[str, Any]], Text | str | None]


def fmt_cell(value: Any, column: str = "") -> str:
    """A cell as the console shows it; numbers as in the CLI's tables (by column meaning)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_cell(v, column) for v in value)
    if isinstance(value, numbers.Real):  # Python and numpy numbers
        return format_number(value, column) or "—"  # NaN
    return str(value)


class FrameTable(DataTable):
    """Shows a pandas frame; ``frame``, ``export_name`` and ``provenance`` are what `e` exports."""

    DEFAULT_CSS = """
    FrameTable { height: 1fr; }
    """

    def __init__(self, export_name: str = "table", **kwargs) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.export_name = export_name
        self.frame: Any = None
        self.provenance: dict[str, Any] = {}

    def show_frame(self, frame: Any, *, columns: list[str] | None = None,
                   labels: dict[str, str] | None = None, key: str | None = None,
                   styler: Styler | None = None, provenance: dict[str, Any] | None = None,
                   export_frame: Any = None) -> None:
        """Replace the content. ``export_frame`` (default ``frame``) is what an export writes."""
        self.frame = frame if export_frame is None else export_frame
        self.provenance = dict(provenance or {})
        cols = list(columns if columns is not None else frame.columns)
        labels = labels or {}
        rows = []
        for i, rec in enumerate(frame.to_dict("records")):
            cells = []
            for col in cols:
                styled = styler(col, rec.get(col), rec) if styler else None
                cells.append(styled if styled is not None else fmt_cell(rec.get(col), col))
            rows.append((cells, str(rec[key]) if key and key in rec else str(i)))
        # Widths computed here, not left to the table's lazy auto-sizing: the layout is then the
        # same on every render (snapshots), and a long text column is capped.
        widths = [cell_len(str(labels.get(col, col))) for col in cols]
        for cells, _ in rows:
            for j, cell in enumerate(cells):
                widths[j] = max(widths[j], min(cell_len(cell.plain if isinstance(cell, Text)
                                                        else str(cell)), MAX_WIDTH))
        self.clear(columns=True)
        for col, width in zip(cols, widths, strict=True):
            self.add_column(labels.get(col, col), key=col, width=max(width, 1))
        for cells, row_key in rows:
            self.add_row(*cells, key=row_key)

    @property
    def has_data(self) -> bool:
        return self.frame is not None and len(self.frame) > 0
