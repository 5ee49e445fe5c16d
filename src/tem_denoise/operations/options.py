"""Options declared once: a dataclass whose fields carry help, limits and labels.

Each operation takes a frozen dataclass of options. Its fields are declared with
:func:`option`, whose metadata (help text, limits, choice labels, the text shown for None)
generates both the subcommand's argparse arguments (:func:`add_arguments`, with the default
in the help) and the dock's magicgui form (``tem_denoise.widgets.forms``). The dataclass
checks its own limits when it is made, so neither front end repeats a check.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin


def option(default: Any, help: str, *, minimum: float | None = None, maximum: float | None = None,
           step: float | None = None, labels: Mapping[Any, str] | None = None, none_text: str | None = None,
           label: str | None = None, flag: str | None = None, metavar: str | tuple[str, ...] | None = None,
           cli: bool = True, form: bool = True) -> Any:
    """A dataclass field with what both front ends need to show it.

    Parameters
    ----------
    default
        The default value (None for optional numbers: see ``none_text``).
    help : str
        One sentence for ``--help`` and the dock's tooltip (units included).
    minimum, maximum, step : float, optional
        Limits (checked by :func:`check_limits`) and the spin box's step.
    labels : mapping, optional
        For ``Literal`` fields: the text shown in the dock for each choice.
    none_text : str, optional
        What None means, e.g. ``"auto"``: shown in ``--help`` and at the bottom of the spin box.
    label : str, optional
        The dock's label (default: the field name with spaces).
    flag : str, optional
        The CLI flag (default: ``--field-name``).
    metavar : str or tuple of str, optional
        The CLI metavar (one per value for a tuple field).
    cli, form : bool
        Whether the field appears in the CLI and in the dock form.
    """
    metadata = {"help": help, "minimum": minimum, "maximum": maximum, "step": step, "labels": labels,
                "none_text": none_text, "label": label, "flag": flag, "metavar": metavar, "cli": cli,
                "form": form}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class OptionField:
    """One option: its name, value type, default and the metadata of :func:`option`."""

    name: str
    kind: Any
    default: Any
    optional: bool
    meta: Mapping[str, Any]

    @property
    def choices(self) -> tuple | None:
        """The allowed values of a ``Literal`` field, else None."""
        return get_args(self.kind) if get_origin(self.kind) is Literal else None

    @property
    def label(self) -> str:
        return self.meta.get("label") or self.name.replace("_", " ")

    @property
    def flag(self) -> str:
        return self.meta.get("flag") or "--" + self.name.replace("_", "-")


def fields_of(cls: type) -> list[OptionField]:
    """The options of an options dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    result = []
    for item in dataclasses.fields(cls):
        kind, optional = hints[item.name], False
        if get_origin(kind) in (typing.Union, types.UnionType) and type(None) in get_args(kind):
            kind, optional = next(a for a in get_args(kind) if a is not type(None)), True
        result.append(OptionField(item.name, kind, item.default, optional, item.metadata))
    return result


def check_limits(options: Any) -> None:
    """Raise ValueError (one line, naming the option) when a value lies outside its limits."""
    for item in fields_of(type(options)):
        value = getattr(options, item.name)
        if value is None:
            if not item.optional:
                raise ValueError(f"{item.label} must be given")
            continue
        if item.choices is not None and value not in item.choices:
            raise ValueError(f"{item.label} must be one of {', '.join(map(str, item.choices))}; got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{item.label} must be a finite number; got {value}")
            low, high = item.meta.get("minimum"), item.meta.get("maximum")
            if low is not None and value < low:
                raise ValueError(f"{item.label} must be at least {low:g}; got {value:g}")
            if high is not None and value > high:
                raise ValueError(f"{item.label} must be at most {high:g}; got {value:g}")


def _default_text(item: OptionField) -> str:
    if item.default is None:
        return item.meta.get("none_text") or "none"
    if isinstance(item.default, bool):
        return "on" if item.default else "off"
    if isinstance(item.default, tuple):
        return " ".join(map(str, item.default))
    return f"{item.default:g}" if isinstance(item.default, float) else str(item.default)


def _number(kind: type, item: OptionField):
    """An argparse type that parses ``kind`` and checks the field's limits."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") \
                from None
        low, high = item.meta.get("minimum"), item.meta.get("maximum")
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            bounds = " to ".join(f"{v:g}" for v in (low, high) if v is not None)
            raise argparse.ArgumentTypeError(f"{text!r} is outside {bounds or 'the finite numbers'}")
        return value

    parse.__name__ = kind.__name__
    return parse


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one ``--option`` per CLI field of ``cls``, with its help and default."""
    for item in fields_of(cls):
        if not item.meta.get("cli", True):
            continue
        text = f"{item.meta['help']} (default: {_default_text(item)})"
        kwargs: dict[str, Any] = {"dest": item.name, "help": text, "default": item.default}
        if item.meta.get("metavar"):
            kwargs["metavar"] = item.meta["metavar"]
        if item.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif item.choices is not None:
            kwargs["choices"] = item.choices
        elif get_origin(item.kind) is tuple:
            inner = get_args(item.kind)
            kwargs.update(nargs="+" if inner[-1] is Ellipsis else len(inner), type=_number(inner[0], item))
        else:
            kwargs["type"] = _number(item.kind, item) if item.kind in (int, float) else item.kind
        parser.add_argument(item.flag, **kwargs)


def from_arguments(cls: type, args: argparse.Namespace, **extra: Any) -> Any:
    """The options of ``cls`` from parsed arguments (fields not in the CLI keep their default)."""
    values = {item.name: getattr(args, item.name) for item in fields_of(cls)
              if item.meta.get("cli", True) and hasattr(args, item.name)}
    values = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items()}
    return cls(**{**values, **extra})
