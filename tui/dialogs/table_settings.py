"""``o`` on the Results screen: the tables' settings, one field for each setting of the registry
(``engine.lab.analyses.SETTINGS``) that has no key of its own, with the tables that use it."""

from __future__ import annotations

from collections.abc import Mapping

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from common.errors import AlignuqError
from engine.lab.analyses import ANALYSES, SETTINGS, Setting

TableValues = dict[str, str | int | list[str] | None]


def users(name: str) -> str:
    """The tables that take setting ``name``."""
    return ", ".join(key for key, spec in ANALYSES.items() if name in spec.settings)


class TableSettingsDialog(ModalScreen[TableValues | None]):
    """Returns the value of every setting in ``names`` (checked as the CLI checks them), or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply")]

    def __init__(self, names: tuple[str, ...],
                 current: Mapping[str, str | int | list[str] | None]) -> None:
        super().__init__()
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static("[b]Table settings[/b] [dim](as `alignuq analyze` takes them)[/dim]",
                         classes="dialog-title")
            with VerticalScroll(id="table-settings"):
                for name in self.names:
                    yield from self._field(SETTINGS[name], self.current[name])
            yield Static("", id="settings-error", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Defaults", id="defaults")
                yield Button("Cancel", id="cancel")

    @staticmethod
    def _field(setting: Setting, value: str | int | list[str] | None) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(setting.name.replace("_", " "))
            if setting.choices:
                yield Select([(c, c) for c in setting.choices], value=value, allow_blank=False,
                             id=f"set-{setting.name}")
            else:
                shown = ",".join(value) if isinstance(value, list) else "" if value is None \
                    else str(value)
                yield Input(shown, type="integer" if setting.kind is int else "text",
                            id=f"set-{setting.name}")
        default = "automatic" if setting.default is None else setting.default
        yield Static(f"[dim]{escape(setting.help)} Used by {users(setting.name)}; "
                     f"default {escape(str(default))}.[/dim]", classes="setting-help")

    def values(self) -> TableValues:
        """Every field's value, checked; an AlignuqError names the first that is not valid."""
        out: TableValues = {}
        for name in self.names:
            setting = SETTINGS[name]
            if setting.choices:
                out[name] = str(self.query_one(f"#set-{name}", Select).value)
                continue
            text = self.query_one(f"#set-{name}", Input).value.strip()
            if setting.kind is str:      # checked by the table that takes it (a BadInput there)
                out[name] = text or setting.default
                continue
            if setting.kind is list:     # comma-separated; empty: the default
                out[name] = [item.strip() for item in text.split(",") if item.strip()] or None
                continue
            try:
                number = int(text)
            except ValueError:
                raise AlignuqError(f"{name.replace('_', ' ')} must be a whole number "
                                   f"(got {text!r})") from None
            out[name] = setting.check(number)
        return out

    def action_apply(self) -> None:
        try:
            self.dismiss(self.values())
        except AlignuqError as err:
            self.query_one("#settings-error", Static).update(escape(err.message))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "defaults":
            self.dismiss({name: SETTINGS[name].default for name in self.names})
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
