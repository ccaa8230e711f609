"""The type check every settings dataclass runs first in its ``__post_init__``.

A config built through :func:`evolve.config.override` has its values coerced to each field's
type; one built in Python (``NeatParams(target_species="5")``, ``StrategyConfig("neat",
neat={...})``) does not, and a wrong type otherwise surfaces far from where it was given: as
``'>=' not supported between 'str' and 'int'`` inside the range checks, or as an
``AttributeError`` once a search reads the table. This names the field and what it takes.
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

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}


def check_field_types(settings: Any, error: type[Exception] = TypeError) -> None:
    """Raise ``error("<field> must be <kind>, got <value>")`` for the first field whose
    value is not of its annotated type (the message starts with the field's name, as the
    range checks' do, so a config puts its table in front). ``error``: the settings type's
    own error where it has one (``SpaceError``), so one ``except`` catches all its refusals."""
    hints = _hints(type(settings))
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        hint = hints.get(f.name, Any)
        if not _fits(hint, value):
            raise error(f"{f.name} must be {_kind(hint)}, got {value!r:.80}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fits(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if hint is str:  # a path is a name too (``out``, a data file's ``task.name``)
        return isinstance(value, (str, os.PathLike))
    if origin is tuple:  # a list is taken where a tuple is declared, as the config takes one
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(args[0], v) for v in value)
        return len(args) == len(value) and all(_fits(a, v) for a, v in zip(args, value))
    if origin in (dict, typing.Mapping) or hint is dict:
        return isinstance(value, typing.Mapping)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return True  # a type this check does not judge (a callable, a protocol): the field's own


def _kind(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if origin is tuple:
        return f"a list of {_PLURALS.get(typing.get_args(hint)[0], 'values')}"
    if origin in (dict, typing.Mapping):
        return "a mapping"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"a {hint.__qualname__} (from {hint.__module__})"
    return _KINDS.get(hint, str(hint))
