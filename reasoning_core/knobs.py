"""Knobs: a config field declared once, with the label, range and help that the CLI options and the
UI inputs are generated from, and that `check_knobs` validates. A new knob is one field."""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .protocols import InputError

KNOB = "knob"  # the field-metadata key


@dataclass(frozen=True)
class Knob:
    """One tunable setting: its name and type, its default, and how a person sees and sets it.

    `low`/`high` bound numbers (None: unbounded), `choices` lists a string knob's values, `aliases`
    are extra command-line spellings kept for old scripts."""

    name: str
    type: type
    default: Any
    label: str
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """`value` as this knob's type, or InputError saying what is wrong in the knob's words.
        None stays None (the default applies)."""
        if value is None:
            return None
        if self.type is bool:
            if not isinstance(value, bool):
                raise InputError(f"{self.label} must be true or false, got {value!r}")
            return value
        if self.type is str:
            if self.choices is not None and value not in self.choices:
                raise InputError(f"{self.label} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        return self._check_number(value)

    def _check_number(self, value: Any) -> int | float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.label} must be a number, got {value!r}") from None
        if math.isnan(number) or (self.low is not None and number < self.low) or \
                (self.high is not None and number > self.high):
            raise InputError(f"{self.label} must be {self.range_text()}, got {value}")
        if self.type is int:
            if number != int(number):
                raise InputError(f"{self.label} must be a whole number, got {value}")
            return int(number)
        return number

    def range_text(self) -> str:
        low, high = (None if b is None else format_number(b) for b in (self.low, self.high))
        if low and high:
            return f"between {low} and {high}"
        if low:
            return f"at least {low}"
        return f"at most {high}" if high else "a number"


def format_number(x: float) -> str:
    """A bound as a person writes it: 2,147,483,647, not 2.14748e+09; 0.5, not 0.500000."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def knob(default: Any = None, label: str = "", help: str = "", *, low: float | None = None,
         high: float | None = None, choices: tuple[str, ...] | None = None, aliases: tuple[str, ...] = (),
         default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that is also a knob (use as `n: int = knob(8, "N", "chains sampled", low=1)`)."""
    meta = {KNOB: dict(label=label, help=help, low=low, high=high, choices=choices, aliases=aliases)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@functools.cache
def knobs(cls: type) -> tuple[Knob, ...]:
    """The knobs of a dataclass config, in field order (fields without knob metadata are internal).
    Read once per class: every config validation walks them."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if KNOB not in f.metadata:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append(Knob(f.name, _base_type(hints[f.name]), default, **f.metadata[KNOB]))
    return tuple(out)


def _base_type(hint: Any) -> type:
    """int for `int` and `int | None`; the knob types are int, float, bool and str."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if base not in (int, float, bool, str):
        raise TypeError(f"a knob must be int, float, bool or str (or Optional of one), got {hint}")
    return base


def check_knobs(config: Any) -> None:
    """Every knob of a config instance within its range (None allowed only where the default is None)."""
    for k in knobs(type(config)):
        value = getattr(config, k.name)
        if value is None and k.default is not None:
            raise InputError(f"{k.label} must be set")
        k.check(value)
