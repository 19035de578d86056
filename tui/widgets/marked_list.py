"""A SelectionList whose rows say ``[x]`` or ``[ ]``: the stock one shows selection by the
colour of its X alone, which a colour-blind user (or a 16-colour terminal) cannot read."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import SelectionList


class MarkedSelectionList(SelectionList[str]):
    """Each row's prompt starts with ``[x]`` or ``[ ]``; options added later are marked too."""

    def on_mount(self) -> None:
        self.refresh_marks()

    def add_options(self, items):  # noqa: ANN001, ANN201 - SelectionList's signature
        result = super().add_options(items)
        self.refresh_marks()
        return result

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self.refresh_marks()

    def refresh_marks(self) -> None:
        chosen = set(self.selected)
        for index in range(self.option_count):
            option = self.get_option_at_index(index)
            self.replace_option_prompt_at_index(
                index, mark(unmarked(option.prompt), option.value in chosen))


def unmarked(prompt: object) -> str:
    text = prompt.plain if isinstance(prompt, Text) else str(prompt)
    return text[4:] if text[:4] in ("[x] ", "[ ] ") else text


def mark(label: str, selected: bool) -> Text:
    return Text(f"{'[x]' if selected else '[ ]'} {label}")  # Text: "[x]" is not markup
