"""Name -> learning rule. Built-in rules register on import; other packages add theirs
with :func:`register` or through the ``neurevo.rules`` entry-point group, which
:func:`available` and :func:`get_rule` load on first use."""

from __future__ import annotations

from importlib.metadata import entry_points

from rules.base import LIMITS, LearningRule, Limit

_RULES: dict[str, type[LearningRule]] = {}
_entry_points_loaded = False


class UnknownRuleError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: type[LearningRule]) -> type[LearningRule]:
    """Class decorator: make a :class:`LearningRule` subclass available by its ``name``.

    A rule's ``limits`` are checked here, once, so every table built from them (``neurevo
    rules``, the docs) can rely on all four names being there with a reason; a rule that
    declares none is accepted and shown as not declared."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name`")
    if cls.limits:
        if not hasattr(cls.limits, "items"):  # a mapping, whatever its class
            raise TypeError(f"rule {cls.name}: `limits` must map {', '.join(LIMITS)} to "
                            f"Limit(removed, reason), got {type(cls.limits).__name__}")
        missing = [key for key in LIMITS if key not in cls.limits]
        unknown = [key for key in cls.limits if key not in LIMITS]
        if missing or unknown:
            problems = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + \
                ([f"unknown {', '.join(map(repr, unknown))}"] if unknown else [])
            raise ValueError(f"rule {cls.name}: `limits` must declare exactly "
                             f"{', '.join(LIMITS)}: {'; '.join(problems)}")
        for key in LIMITS:
            limit = cls.limits[key]
            if not (isinstance(limit, Limit) and isinstance(limit.removed, bool)
                    and isinstance(limit.reason, str) and limit.reason.strip()):
                raise TypeError(f"rule {cls.name}: limits[{key!r}] must be Limit(removed: bool, "
                                f"reason: non-empty str), got {limit!r}")
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
