"""``?``: what the current screen is for, and every key it answers to.

The keys are read from the BINDINGS of the screen, of the widgets it holds (every table's keys,
enter included) and of the app, so the help cannot drift from what the keys do."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown, Static

KeyGroup = tuple[str, list[tuple[str, str]]]   # a heading, then (key, what it does)


def describe_bindings(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """(key, what it does) for each binding that has a description."""
    out = []
    for binding in bindings:
        if isinstance(binding, tuple):
            key, _action, *rest = binding
            desc, display = (rest[0] if rest else ""), ""
        else:
            key, desc, display = binding.key, binding.description, binding.key_display
            desc = binding.tooltip or desc
        if desc:
            out.append((display or ", ".join(_key_name(k) for k in key.split(",")), desc))
    return out


def _key_name(key: str) -> str:
    return {"slash": "/", "question_mark": "?", "colon": ":", "full_stop": ".",
            "comma": ",", "left_square_bracket": "[", "right_square_bracket": "]"}.get(key, key)


def keys_of(screen: Screen) -> list[KeyGroup]:
    """Every key ``screen`` answers to, grouped: its own, its tables' (and other widgets'),
    then the app's. A table key the screen binds too is the screen's (the tables say so)."""
    groups: list[KeyGroup] = [("This screen" if not isinstance(screen, ModalScreen)
                               else "This dialog", describe_bindings(list(screen.BINDINGS)))]
    own = {k for k, _ in groups[0][1]}
    seen: set[type] = set()
    for widget in screen.query("*"):
        cls = type(widget)
        if cls in seen or not _has_own_keys(cls):
            continue
        seen.add(cls)
        shared = {_key_name(k) for k in getattr(cls, "SHARED_KEYS", {}).values()}
        keys = [(k, f"{d} (here: the screen's {k})" if k in own and k in shared else d)
                for k, d in describe_bindings(list(cls.BINDINGS))]
        if keys:
            groups.append((_widget_heading(cls.__name__), keys))
    if not isinstance(screen, ModalScreen):
        groups.append(("Everywhere", describe_bindings(list(screen.app.BINDINGS))))
    return [(heading, keys) for heading, keys in groups if keys]


def _has_own_keys(cls: type) -> bool:
    """Widgets whose keys the console defines (its tables); the stock widgets' arrows are
    not listed one by one."""
    return cls.__module__.startswith("tui.")


def _widget_heading(name: str) -> str:
    return {"FrameTable": "Tables (the focused one)"}.get(name, name)


class HelpDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close")]

    def __init__(self, title: str, text: str, keys: list[KeyGroup] | list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        # a flat list (key, action) is one group
        self.keys: list[KeyGroup] = (keys if keys and isinstance(keys[0][1], list)
                                     else [("Keys", keys)])  # type: ignore[list-item]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="dialog wide"):
            yield Static(f"[b]{self.title_text}[/b] — help", classes="dialog-title")
            tables = []
            for heading, keys in self.keys:
                lines = "\n".join(f"| `{k}` | {d.replace('|', '/')} |" for k, d in keys)
                tables.append(f"**{heading}**\n\n| key | action |\n|---|---|\n{lines}\n")
            yield Markdown(f"{self.text}\n\n" + "\n".join(tables))
            yield Static("[dim]escape closes[/dim]")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
