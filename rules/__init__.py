"""Learning rules: how a candidate topology's weights are learned.

>>> import rules
>>> "bp" in rules.available()
True
>>> rule = rules.get_rule("bp")
>>> sorted(rule.hyperparameters().defaults())
['init_scale', 'lr']
"""

from rules import bp, chl, dfa, dtp, ep, fa, ff, lra, pc  # noqa: F401  (registers the rules)
from rules.base import (
    LIMIT_NAMES,
    LIMITS,
    Budget,
    FitResult,
    Hyperparameter,
    HyperparameterError,
    HyperSpace,
    LearningRule,
    Limit,
    accuracy,
)
from rules.registry import (
    RuleOptionError,
    UnknownRuleError,
    available,
    get_rule,
    register,
    registered_names,
    split_options,
)

#: the rules neurevo itself ships (``available()`` adds users' and plug-ins' rules)
BUILTIN_RULES: tuple[str, ...] = registered_names()

__all__ = [
    "BUILTIN_RULES", "Budget", "FitResult", "Hyperparameter", "HyperparameterError",
    "HyperSpace", "LIMIT_NAMES", "LIMITS", "LearningRule", "Limit", "RuleOptionError",
    "UnknownRuleError", "accuracy", "available", "get_rule", "register", "split_options",
]
