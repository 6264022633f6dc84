"""Command-line options generated from the knobs: one option per search knob (across every strategy)
and per budget cap, with the help the knob declares, so a new knob needs no CLI edit."""
from __future__ import annotations

import argparse
from typing import Any

from .budget import Budget
from .knobs import Knob, knobs
from .protocols import InputError
from .search import STRATEGIES


def search_knobs() -> dict[str, list[tuple[str, Knob]]]:
    """Every search knob by name, with the strategies whose config has it (registry order)."""
    table: dict[str, list[tuple[str, Knob]]] = {}
    for name, strategy in STRATEGIES.items():
        for k in knobs(strategy.config_cls):
            table.setdefault(k.name, []).append((name, k))
    return table


def shared_default(users: list[tuple[str, Knob]]) -> Any:
    """The default a knob has in every strategy, or None where strategies differ or some lack it."""
    defaults = [k.default for _, k in users]
    return defaults[0] if len(users) == len(STRATEGIES) and all(d == defaults[0] for d in defaults) else None


def knob_help(users: list[tuple[str, Knob]]) -> str:
    """The knob's help per meaning, each with the strategies that read it that way and their defaults."""
    if len(users) == len(STRATEGIES):  # a knob of every strategy: its usual meaning and default, then the odd ones
        helps, defaults = [k.help for _, k in users], [k.default for _, k in users]
        common = max(defaults, key=defaults.count)
        odd = [f"{name} {k.default}" for name, k in users if k.default != common]
        return f"{max(helps, key=helps.count)} (default {common}" + (f"; {', '.join(odd)})" if odd else ")")
    by_help: dict[str, list[str]] = {}
    for name, k in users:
        by_help.setdefault(k.help, []).append(name if k.type is bool else f"{name} {k.default}")
    return "; ".join(f"{text} ({', '.join(used)})" for text, used in by_help.items())


def add_knob(group: argparse._ArgumentGroup, k: Knob, default: Any, help_text: str) -> None:
    flags = [k.flag, *k.aliases]
    if k.type is bool:
        group.add_argument(*flags, dest=k.name, action="store_true", default=default, help=help_text)
    else:
        group.add_argument(*flags, dest=k.name, type=k.type, choices=k.choices, default=default,
                           metavar=k.type.__name__.upper() if k.choices is None else None, help=help_text)


def add_search_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("search knobs (each strategy reads the ones its config has)")
    for users in search_knobs().values():
        add_knob(g, users[0][1], shared_default(users), knob_help(users))


def add_budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("budget caps (a search stops cleanly at the first one reached)")
    for k in knobs(Budget):
        add_knob(g, k, None, k.help)


def given_knobs(args: argparse.Namespace) -> dict[str, Any]:
    """The search knobs the command line set (None: the strategy's own default)."""
    return {name: getattr(args, name) for name in search_knobs()}


def budget_from(args: argparse.Namespace) -> Budget:
    return Budget(**{k.name: getattr(args, k.name) for k in knobs(Budget)})


def check_used(strategies: list[str], given: dict[str, Any]) -> None:
    """A knob set on the command line that none of `strategies` reads is a mistake worth saying."""
    table = search_knobs()
    for name, value in given.items():
        if value is None:
            continue
        users = {s for s, _ in table[name]}
        if not users & set(strategies):
            own = sorted({k.flag for s in strategies for k in knobs(STRATEGIES[s].config_cls)})
            which = strategies[0] if len(strategies) == 1 else ", ".join(strategies)
            raise InputError(f"{table[name][0][1].flag} is not a knob of {which} (it is one of "
                             f"{', '.join(sorted(users))}); {which} reads: {' '.join(own)}")
