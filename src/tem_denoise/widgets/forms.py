"""Dock forms generated from an operation's options dataclass (the same fields make the CLI).

:class:`OptionsForm` makes one magicgui widget per form field of the dataclass: a spin box
for numbers (an optional number shows its ``none_text``, e.g. "auto", at the bottom of its
range), a check box for flags, a combo box for choices (with their labels), a line edit for
text and number triples. The help text is the tooltip. :meth:`OptionsForm.options` reads the
widgets back into the dataclass, whose own checks then apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args, get_origin

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, SpinBox, Widget

from tem_denoise.operations.options import OptionField, fields_of

NUMBER_RANGE = 1e9


def _spin_box(item: OptionField) -> Widget:
    """A spin box; an optional number's box shows its ``none_text`` at its lowest value.

    Optional integers use a float spin box with no decimals: magicgui's integer box (superqt's
    QLargeIntSpinBox) cannot show a special value text.
    """
    integer = item.kind is int
    low = item.meta.get("minimum")
    high = item.meta.get("maximum")
    step = item.meta.get("step") or (1 if integer else 0.1)
    low = -NUMBER_RANGE if low is None else low
    if item.optional:
        low = low - step
    widget_type = SpinBox if integer and not item.optional else FloatSpinBox
    kwargs: dict[str, Any] = {"min": low, "max": NUMBER_RANGE if high is None else high, "step": step}
    if widget_type is FloatSpinBox:
        kwargs["step"] = float(step)
    widget = widget_type(value=low if item.default is None else item.default, **kwargs)
    if item.optional:
        if integer:
            widget.native.setDecimals(0)
        widget.native.setSpecialValueText(item.meta.get("none_text") or "none")
    return widget


def _combo_box(item: OptionField) -> Widget:
    labels = item.meta.get("labels") or {}
    choices = [(labels.get(value, str(value)), value) for value in item.choices]
    if item.optional:
        choices.insert(0, (item.meta.get("none_text") or "none", None))
    return ComboBox(choices=choices, value=item.default)


def _line_edit(item: OptionField) -> Widget:
    value = item.default
    if isinstance(value, tuple):
        value = ", ".join(map(str, value))
    return LineEdit(value="" if value is None else str(value))


def make_widget(item: OptionField) -> Widget:
    """The widget that edits one option (label and tooltip set)."""
    if item.kind is bool:
        widget = CheckBox(value=bool(item.default), text=item.label)
    elif item.choices is not None:
        widget = _combo_box(item)
    elif item.kind in (int, float) and (item.meta.get("minimum") is not None or not item.optional):
        widget = _spin_box(item)
    else:
        widget = _line_edit(item)
    widget.name = item.name
    if item.kind is not bool:
        widget.label = item.label
    widget.tooltip = item.meta["help"]
    return widget


class OptionsForm:
    """The widgets of an options dataclass, and the dataclass read back from them.

    Parameters
    ----------
    cls : type
        The options dataclass.
    overrides : mapping of str to Widget, optional
        Widgets the dock makes itself for some fields (e.g. a model list); their value is read
        as the field's value.
    """

    def __init__(self, cls: type, overrides: Mapping[str, Widget] | None = None) -> None:
        self.cls = cls
        self.fields = [item for item in fields_of(cls) if item.meta.get("form", True)]
        overrides = dict(overrides or {})
        self.widgets: dict[str, Widget] = {}
        for item in self.fields:
            widget = overrides.pop(item.name, None) or make_widget(item)
            widget.name = item.name
            if not widget.tooltip:
                widget.tooltip = item.meta["help"]
            self.widgets[item.name] = widget

    def __getitem__(self, name: str) -> Widget:
        return self.widgets[name]

    def _value(self, item: OptionField) -> Any:
        widget = self.widgets[item.name]
        value = widget.value
        if isinstance(widget, (SpinBox, FloatSpinBox)):
            if item.optional and value <= widget.min:
                return None
            return int(round(value)) if item.kind is int else value
        if isinstance(widget, LineEdit):
            return _parse_text(item, str(value))
        if hasattr(value, "__fspath__"):
            text = str(value)
            return None if text in ("", ".") else text
        return value

    def options(self, **extra: Any) -> Any:
        """The options dataclass holding the widgets' values (``extra`` overrides fields)."""
        values = {item.name: self._value(item) for item in self.fields}
        return self.cls(**{**values, **extra})

    def set(self, **values: Any) -> None:
        """Show ``values`` in the widgets (None: the optional's bottom value)."""
        for name, value in values.items():
            widget = self.widgets[name]
            if value is None and isinstance(widget, (SpinBox, FloatSpinBox)):
                widget.value = widget.min
            else:
                widget.value = value


def _parse_text(item: OptionField, text: str) -> Any:
    """A line edit's text as the field's type: empty is None; triples are comma-separated."""
    text = text.strip()
    if not text:
        return None if item.optional else item.default
    if get_origin(item.kind) is tuple:
        inner = get_args(item.kind)
        count = "one or more" if inner[-1] is Ellipsis else len(inner)
        try:
            return tuple(inner[0](v) for v in text.replace(";", ",").replace(" ", ",").split(",") if v)
        except ValueError:
            raise ValueError(f"{item.label}: give {count} numbers separated by commas, not {text!r}") from None
    if item.kind in (int, float):
        try:
            return item.kind(text)
        except ValueError:
            raise ValueError(f"{item.label}: {text!r} is not a number") from None
    return text
