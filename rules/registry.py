"""Name -> learning rule. Built-in rules register on import; other packages add theirs
with :func:`register` or through the ``neurevo.rules`` entry-point group, which
:func:`available` and :func:`get_rule` load on first use."""

from __future__ import annotations

from importlib.metadata import entry_points

from rules.base import LearningRule

_RULES: dict[str, type[LearningRule]] = {}
_entry_points_loaded = False


class UnknownRuleError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: type[LearningRule]) -> type[LearningRule]:
    """Class decorator: make a :class:`LearningRule` subclass available by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name`")
    existing = _RULES.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a learning rule named {cls.name!r} is already registered")
    _RULES[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group="neurevo.rules"):
        rule = ep.load()
        if isinstance(rule, type) and issubclass(rule, LearningRule) and rule.name not in _RULES:
            register(rule)


def available() -> list[str]:
    _load_entry_points()
    return sorted(_RULES)


def get_rule(name: str) -> LearningRule:
    _load_entry_points()
    try:
        return _RULES[name]()
    except KeyError:
        raise UnknownRuleError(
            f"unknown learning rule {name!r}; available: {', '.join(sorted(_RULES))}"
        ) from None
