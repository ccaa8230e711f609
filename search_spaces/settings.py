"""The type check every settings dataclass runs first in its ``__post_init__``.

A config built through :func:`evolve.config.override` has its values coerced to each field's
type; one built in Python (``NeatParams(target_species="5")``, ``StrategyConfig("neat",
neat={...})``) does not, and a wrong type otherwise surfaces far from where it was given: as
``'>=' not supported between 'str' and 'int'`` inside the range checks, or as an
``AttributeError`` once a search reads the table. This names the field and what it takes.
What is plainly meant is taken as the plain value a config file holds: a numpy scalar as a
Python number, a path as its string, a list where a tuple is declared as a tuple (each would
otherwise fail only when the run's config.toml is written).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import types
import typing
from typing import Any

import numpy as np

# what a field takes, in a config file's words (the config's own messages use them too)
KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
PLURALS = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}
_UNFIT = object()  # what _plain returns for a value that is not of the type


def check_field_types(settings: Any, error: type[Exception] = TypeError) -> None:
    """Raise ``error("<field> must be <kind>, got <value>")`` for the first field whose
    value is not of its annotated type (the message starts with the field's name, as the
    range checks' do, so a config puts its table in front), and set each field to its plain
    value. ``error``: the settings type's own error where it has one (``SpaceError``), so
    one ``except`` catches all its refusals."""
    hints = _hints(type(settings))
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        hint = hints.get(f.name, Any)
        plain = _plain(hint, value)
        if plain is _UNFIT:
            raise error(f"{f.name} must be {_kind(hint)}, got {value!r:.80}")
        if plain is not value:
            object.__setattr__(settings, f.name, plain)  # frozen: set once, here


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _plain(hint: Any, value: Any) -> Any:
    """``value`` as the plain value of ``hint`` (itself when it already is), or _UNFIT."""
    origin = typing.get_origin(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):  # a TOML scalar: numpy's as Python's
        return value.item() if isinstance(value, np.generic) else value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            plain = _plain(option, value)
            if plain is not _UNFIT:
                return plain
        return _UNFIT
    if hint is type(None):
        return value if value is None else _UNFIT
    if hint is bool:
        if isinstance(value, bool):
            return value
        return bool(value) if isinstance(value, np.bool_) else _UNFIT
    if isinstance(value, (bool, np.bool_)):  # a bool is no count and no measure
        return _UNFIT
    # exact types: numpy's float64 is a float and writes to TOML as np.float64(...)
    if hint is int:
        if type(value) is int:
            return value
        return int(value) if isinstance(value, numbers.Integral) else _UNFIT
    if hint is float:
        if type(value) in (int, float):
            return value
        return float(value) if isinstance(value, numbers.Real) else _UNFIT
    if hint is str:
        if type(value) is str:
            return value
        if isinstance(value, str):
            return str(value)
        return os.fspath(value) if isinstance(value, os.PathLike) else _UNFIT
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return _UNFIT
        args = typing.get_args(hint)
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(kinds) != len(value):
            return _UNFIT
        items = tuple(_plain(k, v) for k, v in zip(kinds, value))
        if any(item is _UNFIT for item in items):
            return _UNFIT
        unchanged = isinstance(value, tuple) and all(a is b for a, b in zip(items, value))
        return value if unchanged else items
    if origin in (dict, typing.Mapping, typing.get_origin(typing.Mapping[str, Any])) \
            or hint is dict:
        if not isinstance(value, typing.Mapping):
            return _UNFIT
        kinds = typing.get_args(hint) or (Any, Any)
        entries = {_plain(kinds[0], k): _plain(kinds[1], v) for k, v in value.items()}
        if any(k is _UNFIT or v is _UNFIT for k, v in entries.items()):
            return _UNFIT
        unchanged = type(value) is dict and all(
            a is b and entries[a] is value[b] for a, b in zip(entries, value))
        return value if unchanged else entries
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else _UNFIT
    return value  # a type this check does not judge (a callable, a protocol): the field's own


def _kind(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if origin is tuple:
        return f"a list of {PLURALS.get(typing.get_args(hint)[0], 'values')}"
    if origin in (dict, typing.Mapping, typing.get_origin(typing.Mapping[str, Any])):
        values = typing.get_args(hint)[1] if typing.get_args(hint) else Any
        return "a table" + (f" of {PLURALS[values]}" if values in PLURALS else "")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"a {hint.__qualname__} (from {hint.__module__})"
    return KINDS.get(hint, str(hint))
