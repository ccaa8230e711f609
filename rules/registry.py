"""Name -> learning rule. Built-in rules register on import; other packages add theirs
with :func:`register` or through the ``neurevo.rules`` entry-point group, which
:func:`available` and :func:`get_rule` load on first use."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from rules.base import LIMITS, HyperparameterError, HyperSpace, LearningRule, Limit

_RULES: dict[str, type[LearningRule]] = {}
_entry_points_loaded = False
BROKEN_PLUGINS: dict[str, str] = {}  # entry-point name -> why it was skipped


class UnknownRuleError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class RuleOptionError(ValueError):
    """A rule option is unknown or of the wrong type; the message names the rule and key."""


def register(cls: type[LearningRule]) -> type[LearningRule]:
    """Class decorator: make a :class:`LearningRule` subclass available by its ``name``.

    A rule's ``limits`` are checked here, once, so every table built from them (``neurevo
    rules``, the docs) can rely on all four names being there with a reason; a rule that
    declares none is accepted and shown as not declared."""
    if not (isinstance(cls, type) and issubclass(cls, LearningRule)):
        what = cls.__qualname__ if isinstance(cls, type) else f"{type(cls).__name__} {cls!r:.40}"
        raise TypeError(f"rules.register takes a LearningRule subclass (rules.base.LearningRule, "
                        f"or rules.local.LocalRule for local updates), got {what}")
    if not isinstance(cls.name, str) or not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name` (a str)")
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
    if existing is not None and existing is not cls and not _redefined(existing, cls):
        raise ValueError(f"a learning rule named {cls.name!r} is already registered "
                         f"({existing.__module__}.{existing.__qualname__})")
    _RULES[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    """Register the rules other installed packages declare. A plug-in that fails to load
    (a broken install, an import error, not a LearningRule) is reported once on stderr and
    skipped: one broken package must not take down unrelated commands."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group="neurevo.rules"):
        try:
            rule = ep.load()
            if not (isinstance(rule, type) and issubclass(rule, LearningRule)):
                raise TypeError(f"{ep.value} is not a LearningRule subclass")
            register(rule)  # a name another class holds is refused there: said, not dropped
        except Exception as exc:  # noqa: BLE001 - any failure of a third-party plug-in
            BROKEN_PLUGINS[ep.name] = f"{type(exc).__name__}: {exc}"
            print(f"neurevo: warning: skipping learning-rule plug-in {ep.name!r} "
                  f"({ep.value}): {type(exc).__name__}: {exc}", file=sys.stderr)


def _redefined(old: type[LearningRule], new: type[LearningRule]) -> bool:
    """``new`` is ``old`` defined again (a notebook cell or module run again): same module
    and qualified name. It replaces ``old``, as rerunning a definition does in Python."""
    return (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__)


def _did_you_mean(name: object) -> str:
    """A registered name that differs from ``name`` only in case or surrounding spaces.
    Rule names are exact (a run records the name and a resume looks it up), so the match
    is suggested rather than taken."""
    if not isinstance(name, str):
        return ""
    matches = [known for known in _RULES if known.casefold() == name.strip().casefold()]
    return f" (did you mean {matches[0]!r}?)" if len(matches) == 1 else ""


def registered_names() -> tuple[str, ...]:
    """The names registered so far, without loading entry points."""
    return tuple(sorted(_RULES))


def available() -> list[str]:
    _load_entry_points()
    return sorted(_RULES)


def get_rule(name: str, options: Mapping[str, Any] | None = None) -> LearningRule:
    """The rule ``name`` built with ``options`` (its constructor settings, e.g. ep's
    ``symmetric``): settings that are not genes but change what the rule computes, so a
    run records them and every export rebuilds the rule with them."""
    _load_entry_points()
    try:
        cls = _RULES[name]
    except KeyError:
        if name in BROKEN_PLUGINS:
            raise UnknownRuleError(f"learning rule {name!r}: its 'neurevo.rules' entry point "
                                   f"was skipped: {BROKEN_PLUGINS[name]}") from None
        raise UnknownRuleError(
            f"unknown learning rule {name!r}{_did_you_mean(name)}; available: "
            f"{', '.join(sorted(_RULES))} (a rule "
            "of your own: import the module that registers it before searching, resuming or "
            "loading its runs and exports in Python; for the CLI, --plugin FILE.py that "
            "registers it, or declare it as a 'neurevo.rules' entry point)"
        ) from None
    resolved = resolve_options(cls, options)
    try:
        rule = cls(**resolved)
    except Exception as exc:
        text = " ".join(str(exc).split())
        if text.startswith(f"rule {name}"):  # the rule's own check, already naming it
            raise
        given = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "no options"
        raise RuleOptionError(f"rule {name}: its constructor failed with {given}: "
                              f"{type(exc).__name__}: {text}") from exc
    try:
        space = rule.hyperparameters()
    except HyperparameterError as exc:  # a gene declared wrongly, named by the message
        raise HyperparameterError(f"rule {name}: {exc}") from exc
    except Exception as exc:
        raise HyperparameterError(f"rule {name}: hyperparameters() failed: "
                                  f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(space, HyperSpace):
        raise HyperparameterError(f"rule {name}: hyperparameters() returned "
                                  f"{type(space).__name__}, expected a rules.HyperSpace")
    from rules.local import LocalRule, lr_undeclared

    if isinstance(rule, LocalRule) and type(rule).init_state is LocalRule.init_state and \
            "lr" not in space.names():
        raise lr_undeclared(name)  # here, before a run is made, not when a member trains
    reported = rule.options()
    for key, value in resolved.items():
        if reported.get(key) != value:
            raise RuleOptionError(
                f"rule {name}: option {key!r} was given {value!r}, but the built rule reports "
                f"{reported.get(key)!r}; store each constructor argument as an attribute of "
                f"the same name (self.{key} = {key}): that is how a run records it and how "
                "workers and exports rebuild the rule")
    return rule


def resolve_options(cls: type[LearningRule], options: Mapping[str, Any] | None
                    ) -> dict[str, Any]:
    """``options`` checked against ``cls``'s constructor: every name must be a parameter of
    it, and every value must have its default's type (an int is accepted for a float)."""
    defaults = cls.option_defaults()
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            if key in _gene_names(cls):
                raise RuleOptionError(
                    f"rule {cls.name}: {key!r} is a gene of the rule, not an option: give it "
                    f"as a hyperparameter (rule.hyperparameters.{key} in a config, which the "
                    f"search then holds fixed); its options are: {known}")
            raise RuleOptionError(f"rule {cls.name}: unknown option {key!r}; "
                                  f"its options are: {known}")
        out[key] = _typed(cls.name, key, defaults[key], value)
    return out


def split_options(name: str, options: Mapping[str, Any] | None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` of the rule ``name`` as (its options, the genes among them).

    A setting that was an option and became a gene (the rule's ``former_options``: ep's
    and chl's ``gamma``, ``free_steps`` and ``nudge_steps``) stays in the configs, runs and
    exports recorded before: read back through here, it fixes that gene to the value the
    run used instead of failing as an unknown option. Anything else stays an option,
    checked as ever by :func:`get_rule` (which refuses any other gene given as one)."""
    _load_entry_points()
    cls = _RULES.get(name)
    if cls is None or not options:
        return dict(options or {}), {}
    known = cls.option_defaults()
    moved = {k: v for k, v in options.items() if k not in known and k in cls.former_options}
    return {k: v for k, v in options.items() if k not in moved}, moved


def _gene_names(cls: type[LearningRule]) -> tuple[str, ...]:
    """The genes of ``cls`` built with its default options (empty if that fails: this only
    words a message, and :func:`get_rule` reports a failing rule)."""
    try:
        return cls().hyperparameters().names()
    except Exception:  # noqa: BLE001 - a broken rule is reported where it is built
        return ()


def _typed(rule: str, key: str, default: Any, value: Any) -> Any:
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise RuleOptionError(f"rule {rule}: option {key} must be finite, got {value!r}")
            return float(value)
    elif default is None or isinstance(value, kind):
        return value
    raise RuleOptionError(f"rule {rule}: option {key} expects a {kind.__name__} "
                          f"(default {default!r}), got {value!r}")
