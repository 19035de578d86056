"""What every section screen shares: the section bar, the footer, help text and export lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from tui.widgets.frame_table import FrameTable
from tui.widgets.section_bar import SectionBar

if TYPE_CHECKING:
    from tui.dialogs.export import ExportChoice


class SectionScreen(Screen):
    """A section of the console. Subclasses set SECTION, TITLE, HELP and ``compose_body``."""

    SECTION = ""
    TITLE = ""
    HELP = ""

    def compose(self) -> ComposeResult:
        yield SectionBar(self.SECTION, id="section-bar")
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:  # pragma: no cover - overridden
        yield from ()

    def _on_mount(self, event) -> None:  # noqa: ANN001 - textual's private hook, kept short
        super()._on_mount(event)
        if getattr(self.app, "first_paint_at", None) is None:
            self.call_after_refresh(self.app.mark_painted)

    def on_worker_state_changed(self, event) -> None:  # noqa: ANN001
        """Worker state messages do not bubble: hand them to the app's central handler."""
        self.app.on_worker_state_changed(event)

    def on_screen_resume(self) -> None:
        for bar in self.query(SectionBar):
            bar.refresh_bar()

    def change_settings(self, **changes: object) -> None:
        """Replace the app's settings, save them in the workspace (``Settings.save``) and tell
        every section built so far (``settings_changed``), so nothing on screen is stale."""
        from common.errors import AlignuqError

        self.app.update_settings(**changes)
        try:
            self.app.settings.save()
        except AlignuqError as err:   # a read-only workspace: the change holds until quit
            self.notify(f"settings not saved: {err.message}", severity="warning")
        for screen in self.app.sections.values():
            screen.settings_changed()

    def settings_changed(self) -> None:
        """The app's settings changed: a screen showing something computed from them redoes it."""

    def current_table(self) -> FrameTable | None:
        """The table `e` exports: the focused one, else the first visible one holding data."""
        focused = self.focused
        if isinstance(focused, FrameTable) and focused.has_data:
            return focused
        for table in self.query(FrameTable):
            if table.has_data and table.display and table.is_on_screen:
                return table
        return None

    def export_more(self) -> tuple[tuple[str, str], ...]:
        """(id, label) of what the export dialog offers beyond the table's formats."""
        return ()

    def export_other(self, choice: ExportChoice) -> None:
        """Write one of ``export_more``'s entries (``choice.what``) to ``choice.path``."""

    def help_keys(self) -> list[tuple[str, str]]:
        """(key, description) for every key of this screen, its tables and the app (the help)."""
        from tui.dialogs.help import keys_of

        return [pair for _, keys in keys_of(self) for pair in keys]

    def palette_actions(self) -> list[tuple[str, str, str]]:
        """(title, help, action) for the command palette: every binding of this screen."""
        out = []
        for binding in self.BINDINGS:
            key, action, desc = _unpack(binding)
            if desc:
                help_text = f"key {key}"
                if getattr(binding, "tooltip", ""):
                    help_text += f" · {binding.tooltip}"
                out.append((f"{self.TITLE}: {desc}", help_text, action))
        return out


def _unpack(binding) -> tuple[str, str, str]:
    if isinstance(binding, tuple):
        key, action, *rest = binding
        return key, action, rest[0] if rest else ""
    return binding.key_display or binding.key, binding.action, binding.description
