"""A DataTable that remembers the frame it shows, so any table can be exported with one key.

Every table of the console is one of these, and answers the same keys when it has focus:
``j``/``k`` down/up, ``g``/``home`` first row, ``G``/``end`` last row, ``left``/``right`` the
column cursor (marked in the header), ``S`` sort by that column (again: descending, shown by an
arrow), ``/`` filter the rows (escape clears), ``y`` copy the cell, ``Y`` copy the row. A key the
screen itself binds (Datasets' ``/`` search) stays the screen's.

The table keeps every row it was given (``_rows``) and shows the ones the filter lets through, in
the sort order; ``update_cell`` and ``remove_row`` work on hidden rows too. `e` exports the view
(``export_view``): the rows shown, in their order, when a filter or a sort is on.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.actions import SkipAction
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey

from engine.lab.exports import format_number

MAX_WIDTH = 60  # a column never grows past this; longer cells are cut (the full text is exported)
FOCUS_MARK = "▶"   # the focused table's title starts with it (not colour alone)
ARROWS = {False: "▲", True: "▼"}  # ascending, descending

Styler = Callable[[str, Any, dict[str, Any]], Text | str | None]


@dataclass(frozen=True)
class ExportView:
    """What `e` writes of a table: its ``frame``, the ``provenance`` (with a ``view`` entry when
    a filter or sort narrowed or ordered it) and a ``note`` for the export dialog."""

    frame: Any
    provenance: dict[str, Any]
    note: str = ""


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


def plain(cell: Any) -> str:
    """The text of a cell as shown (a rich Text's plain text)."""
    return cell.plain if isinstance(cell, Text) else str(cell)


def sort_value(value: Any) -> float | str | None:
    """What a cell sorts by: a number, a case-folded text, or None (sorted last)."""
    if value is None or isinstance(value, Text):
        return None if value is None else sort_value(value.plain)
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if math.isnan(number) else number
    text = str(value).strip()
    if not text or text == "—":
        return None
    try:
        return float(text.replace(",", "").lstrip("<>≤≥").rstrip("%"))
    except ValueError:
        return text.casefold()


def ordered(rows: list[_Row], column: int, descending: bool) -> list[_Row]:
    """``rows`` by their value in ``column``: numbers, then texts, then empty cells (always
    last); stable, so equal values keep their order."""
    numbers_, texts, empty = [], [], []
    for row in rows:
        value = row.values[column]
        (empty if value is None else numbers_ if isinstance(value, float) else texts).append(row)
    numbers_.sort(key=lambda r: r.values[column], reverse=descending)
    texts.sort(key=lambda r: r.values[column], reverse=descending)
    return numbers_ + texts + empty


@dataclass
class _Row:
    key: str
    cells: list[Any]            # as the table shows them
    values: list[Any]           # what each cell sorts by
    source: int | None = None   # the row of the frame given to show_frame

    @property
    def text(self) -> str:
        return "\t".join(plain(c) for c in self.cells).casefold()


class FrameTable(DataTable):
    """Shows a pandas frame; ``frame``, ``export_name`` and ``provenance`` are what `e` exports."""

    DEFAULT_CSS = """
    FrameTable { height: 1fr; border-top: solid $panel-lighten-2; }
    FrameTable:focus { border-top: heavy $accent; }
    FrameTable:focus > .datatable--cursor { text-style: bold reverse; }
    FrameTable > .datatable--cursor { text-style: underline; }
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Open the row", show=False),
        Binding("j", "row_down", "Down", show=False),
        Binding("k", "row_up", "Up", show=False),
        Binding("g", "first_row", "First row", show=False),
        Binding("G", "last_row", "Last row", show=False),
        Binding("home", "scroll_home", "First row", show=False),
        Binding("end", "scroll_end", "Last row", show=False),
        Binding("left", "cursor_left", "Column left", show=False),
        Binding("right", "cursor_right", "Column right", show=False),
        Binding("S", "sort", "Sort", show=False, tooltip="Sort by the column under the cursor (again: "
                "descending)"),
        Binding("slash", "filter", "Filter", key_display="/",
                tooltip="Show only the rows holding a text (escape clears)"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("y", "copy_cell", "Copy cell", show=False),
        Binding("Y", "copy_row", "Copy row", show=False),
    ]

    def __init__(self, export_name: str = "table", **kwargs) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self._export_name = export_name
        self.frame: Any = None
        self.provenance: dict[str, Any] = {}
        self.filter_text = ""
        self.sort_by: tuple[str, bool] | None = None  # (column key, descending)
        self.column_cursor = 0
        self._rows: dict[str, _Row] = {}
        self._columns: list[tuple[str, str, int | None]] = []  # key, label, width as added
        self._keys = itertools.count()
        self._rows_line_up = False

    @property
    def export_name(self) -> str:
        """The table's name: its title, and the start of an export's file name."""
        return self._export_name

    @export_name.setter
    def export_name(self, name: str) -> None:
        self._export_name = name
        self._show_title()

    # ------------------------------------------------------------------ content
    def show_frame(self, frame: Any, *, columns: list[str] | None = None,
                   labels: dict[str, str] | None = None, key: str | None = None,
                   styler: Styler | None = None, provenance: dict[str, Any] | None = None,
                   export_frame: Any = None, reshaped: bool = False,
                   max_widths: dict[str, int] | None = None) -> None:
        """Replace the content. ``export_frame`` (default ``frame``) is what an export writes;
        ``reshaped``: its rows are not the shown ones (a pivot shown, the long table exported);
        ``max_widths``: the most cells a column may take, where not MAX_WIDTH (a screen that
        gives one column the room the others leave).
        The filter and the sort stay (a recomputed table keeps the view the user chose)."""
        self.frame = frame if export_frame is None else export_frame
        # the export frame's rows are the shown frame's: a filter or sort can then be exported
        self._rows_line_up = not reshaped and (export_frame is None or (
            len(export_frame) == len(frame) and frame.index.equals(export_frame.index)))
        self.provenance = dict(provenance or {})
        cols = list(columns if columns is not None else frame.columns)
        labels = labels or {}
        rows = []
        for i, rec in enumerate(frame.to_dict("records")):
            cells = []
            for col in cols:
                styled = styler(col, rec.get(col), rec) if styler else None
                cells.append(styled if styled is not None else fmt_cell(rec.get(col), col))
            row_key = str(rec[key]) if key and key in rec else str(i)
            rows.append(_Row(row_key, cells, [sort_value(rec.get(col)) for col in cols], i))
        # Widths computed here, not left to the table's lazy auto-sizing: the layout is then the
        # same on every render (snapshots), and a long text column is capped.
        widths = [cell_len(str(labels.get(col, col))) for col in cols]
        caps = [(max_widths or {}).get(col, MAX_WIDTH) for col in cols]
        for row in rows:
            for j, cell in enumerate(row.cells):
                widths[j] = max(widths[j], min(cell_len(plain(cell)), caps[j]))
        self.clear(columns=True)
        for col, width in zip(cols, widths, strict=True):
            self.add_column(labels.get(col, col), key=col, width=max(width, 1))
        self._rows = {row.key: row for row in rows}
        self._show_rows()

    def add_column(self, label: Any, *, width: int | None = None, key: str | None = None,
                   default: CellType | None = None) -> ColumnKey:
        key = key if key is not None else f"column-{next(self._keys)}"
        self._columns.append((key, plain(label), width))
        return super().add_column(label, width=width, key=key, default=default)

    def add_row(self, *cells: CellType, height: int | None = 1, key: str | None = None,
                label: Any = None) -> RowKey:
        key = key if key is not None else f"row-{next(self._keys)}"
        row = _Row(key, list(cells), [sort_value(c) for c in cells])
        self._rows[key] = row
        if self.sort_by is not None and self._matches(row):
            self._show_rows()
        elif self._matches(row):
            super().add_row(*cells, height=height, key=key, label=label)
            self._show_title()
        return RowKey(key)

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: CellType,
                    *, update_width: bool = False) -> None:
        key = row_key.value if isinstance(row_key, RowKey) else row_key
        column = column_key.value if isinstance(column_key, ColumnKey) else column_key
        row = self._rows.get(str(key))
        index = self._column_index(str(column))
        if row is not None and index is not None:
            row.cells[index] = value
            row.values[index] = sort_value(value)
        if RowKey(key) in self.rows:
            super().update_cell(row_key, column_key, value, update_width=update_width)

    def remove_row(self, row_key: RowKey | str) -> None:
        key = row_key.value if isinstance(row_key, RowKey) else row_key
        self._rows.pop(str(key), None)
        if RowKey(key) in self.rows:
            super().remove_row(row_key)
        self._show_title()

    def clear(self, columns: bool = False) -> FrameTable:
        super().clear(columns=columns)
        self._rows = {}
        if columns:
            self._columns = []
        self._show_title()
        return self

    @property
    def has_data(self) -> bool:
        return self.frame is not None and len(self.frame) > 0

    @property
    def total_rows(self) -> int:
        """Rows held, shown or not (``row_count`` counts the shown ones)."""
        return len(self._rows)

    def frame_row(self, display_row: int) -> int:
        """The row of the frame given to ``show_frame`` that the table shows at ``display_row``
        (they differ once the table is sorted or filtered)."""
        row_key = self._row_locations.get_key(display_row)
        row = None if row_key is None else self._rows.get(str(row_key.value))
        return display_row if row is None or row.source is None else row.source

    def export_view(self) -> ExportView:
        """The rows shown, in their order, when a filter or sort is on (the provenance's
        ``view`` says which and how many); the whole frame when neither is, or when the shown
        rows cannot be mapped to the exported frame (the note says so)."""
        prov = dict(self.provenance)
        if not (self.filter_text or self.sort_by) or self.frame is None:
            return ExportView(self.frame, prov)
        sources = [self._rows[key].source for key in self._shown_keys()]
        view = {"filter": self.filter_text or None, "sort": self._sort_text() or None}
        said = [f"filter “{self.filter_text}”"] if self.filter_text else []
        said += [f"sorted by {view['sort']}"] if view["sort"] else []
        if not self._rows_line_up or None in sources:
            return ExportView(self.frame, prov, f"all {len(self.frame)} rows: the table's "
                              "filter and sort do not apply to this export")
        prov["view"] = {**view, "rows": len(sources), "of": len(self.frame)}
        return ExportView(self.frame.iloc[sources], prov,
                          f"the {len(sources)} of {len(self.frame)} rows shown "
                          f"({', '.join(said)})")

    def _sort_text(self) -> str:
        index = self._column_index(self.sort_by[0]) if self.sort_by else None
        if index is None:
            return ""
        return f"{self._columns[index][1]} {'descending' if self.sort_by[1] else 'ascending'}"

    def find_row(self, text: str) -> bool:
        """Move the cursor to the first shown row with a cell equal to ``text`` (or its key)."""
        for index, row_key in enumerate(self._shown_keys()):
            row = self._rows[row_key]
            if row_key == text or any(plain(c) == text for c in row.cells):
                self.move_cursor(row=index)
                return True
        return False

    # ------------------------------------------------------------------ the view
    def _matches(self, row: _Row) -> bool:
        return not self.filter_text or self.filter_text.casefold() in row.text

    def _column_index(self, key: str) -> int | None:
        return next((i for i, (k, _, _) in enumerate(self._columns) if k == key), None)

    def _shown_keys(self) -> list[str]:
        return [str(self._row_locations.get_key(i).value) for i in range(self.row_count)]

    def _show_rows(self) -> None:
        """Put the rows the filter lets through into the table, in the sort order; the cursor
        stays on the row it was on when that row is still shown."""
        kept = None
        if self.row_count and self.is_valid_row_index(self.cursor_row):
            kept = str(self._row_locations.get_key(self.cursor_row).value)
        rows = [row for row in self._rows.values() if self._matches(row)]
        index = self._column_index(self.sort_by[0]) if self.sort_by else None
        if index is not None:
            rows = ordered(rows, index, self.sort_by[1])
        super().clear(columns=False)
        for row in rows:
            super().add_row(*row.cells, key=row.key)
        keys = [row.key for row in rows]
        if kept in keys:
            self.move_cursor(row=keys.index(kept), animate=False)
        self._show_header()
        self._show_title()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Textual measures every cell of every new row to size auto-width columns; the widths
        # here are all fixed, so that pass (1.2 s for 14,042 rows) is skipped.
        if self._columns and all(width is not None for _, _, width in self._columns):
            new_rows = ()
        super()._update_dimensions(new_rows)

    def _show_header(self) -> None:
        """The column under the cursor underlined; the sorted one with its arrow."""
        self.column_cursor = max(0, min(self.column_cursor, len(self._columns) - 1))
        for i, (key, label, width) in enumerate(self._columns):
            column = self.columns.get(ColumnKey(key))
            if column is None:
                continue
            text = label
            if self.sort_by and self.sort_by[0] == key:
                text = f"{label} {ARROWS[self.sort_by[1]]}"
            current = i == self.column_cursor and self.show_cursor
            column.label = Text(text, style="bold underline" if current else "")
            if width is not None:
                column.width = max(width, cell_len(text))
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh()

    def _show_title(self) -> None:
        parts = [self.export_name]
        if self.sort_by and self._column_index(self.sort_by[0]) is not None:
            label = self._columns[self._column_index(self.sort_by[0])][1]
            parts.append(f"sort: {label} {ARROWS[self.sort_by[1]]}")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text} ({self.row_count} of "
                         f"{self.total_rows} rows)")
        mark = f"{FOCUS_MARK} " if self.has_focus else ""
        self.border_title = mark + " · ".join(parts)

    def _on_focus(self, event) -> None:  # noqa: ANN001
        super()._on_focus(event)
        self._show_title()

    def _on_blur(self, event) -> None:  # noqa: ANN001
        super()._on_blur(event)
        self._show_title()

    def set_filter(self, text: str) -> None:
        """Show only the rows with ``text`` in a cell (any case); "" shows them all."""
        if text != self.filter_text:
            self.filter_text = text
            self._show_rows()

    def sort_column(self, key: str, descending: bool = False) -> None:
        self.sort_by = (key, descending)
        self._show_rows()

    # ------------------------------------------------------------------ keys
    def _screen_binds(self, key: str) -> bool:
        """A key the screen binds stays the screen's (it was there first)."""
        return bool(self.screen._bindings.key_to_bindings.get(key))

    # the actions of the keys a screen may bind too (then the footer shows the screen's)
    SHARED_KEYS = {"row_down": "j", "row_up": "k", "first_row": "g", "last_row": "G",
                   "sort": "S", "filter": "slash", "copy_cell": "y", "copy_row": "Y"}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        key = self.SHARED_KEYS.get(action)
        if key is not None and self.is_attached and self._screen_binds(key):
            return False
        return True

    def _own(self, key: str) -> None:
        if self._screen_binds(key):
            raise SkipAction()

    def action_row_down(self) -> None:
        self._own("j")
        self.action_cursor_down()

    def action_row_up(self) -> None:
        self._own("k")
        self.action_cursor_up()

    def action_first_row(self) -> None:
        self._own("g")
        self.action_scroll_home()

    def action_last_row(self) -> None:
        self._own("G")
        self.action_scroll_end()

    def action_scroll_home(self) -> None:
        """Home: the first row (DataTable's Home scrolls sideways with a row cursor)."""
        if self.row_count:
            self.move_cursor(row=0)

    def action_scroll_end(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def action_cursor_left(self) -> None:
        self._move_column(-1)

    def action_cursor_right(self) -> None:
        self._move_column(1)

    def _move_column(self, step: int) -> None:
        if not self._columns:
            return
        self.column_cursor = max(0, min(len(self._columns) - 1, self.column_cursor + step))
        self._show_header()
        self.call_after_refresh(self._scroll_to_column)

    def _scroll_to_column(self) -> None:
        columns = self.ordered_columns
        if self.column_cursor >= len(columns):
            return
        x = sum(c.get_render_width(self) for c in columns[: self.column_cursor])
        width = columns[self.column_cursor].get_render_width(self)
        visible = self.scrollable_content_region.width
        if x < self.scroll_x:
            self.scroll_to(x=x, animate=False)
        elif x + width > self.scroll_x + visible:
            self.scroll_to(x=x + width - visible, animate=False)

    def action_sort(self) -> None:
        self._own("S")
        if not self._columns:
            return
        key = self._columns[min(self.column_cursor, len(self._columns) - 1)][0]
        descending = bool(self.sort_by and self.sort_by[0] == key and not self.sort_by[1])
        self.sort_column(key, descending)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by that column, as `S` does."""
        event.stop()
        self.column_cursor = event.column_index
        self._show_header()
        self.action_sort()

    def action_filter(self) -> None:
        self._own("slash")
        from tui.dialogs.line_prompt import LinePrompt

        before = self.filter_text

        def done(text: str | None) -> None:
            self.set_filter(before if text is None else text)
            self.focus()

        self.app.push_screen(LinePrompt("/", "filter rows: type a text (enter keeps, escape "
                                        "undoes)", before, on_change=self.set_filter), done)

    def action_clear_filter(self) -> None:
        if not self.filter_text:
            raise SkipAction()  # escape stays the screen's
        self.set_filter("")

    def action_copy_cell(self) -> None:
        self._own("y")
        row = self._cursor_cells()
        if row is not None and self.column_cursor < len(row):
            self._copy(plain(row[self.column_cursor]), "cell")

    def action_copy_row(self) -> None:
        self._own("Y")
        row = self._cursor_cells()
        if row is not None:
            self._copy("\t".join(plain(c) for c in row), "row")

    def _cursor_cells(self) -> list[Any] | None:
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        return self._rows[str(self._row_locations.get_key(self.cursor_row).value)].cells

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        shown = text if len(text) <= 200 else text[:199] + "…"
        self.notify(shown.replace("\t", " │ ") or "(empty)", title=f"Copied the {what}",
                    timeout=4, markup=False)
