"""Cost functions by name: what a config's ``hardware.cost_fn = "NAME"`` finds, so that a
CLI search (its code imported with ``--plugin``) and a resume can price candidates with a
user's own cost model, as ``evolve.search(cost_fn=...)`` does from Python."""

from __future__ import annotations

from evolve.messages import UnknownName
from evolve.plugin_imports import load_installed_plugins, registered
from evolve.scoring import CostFn

_COST_FNS: dict[str, CostFn] = {}


def register_cost_fn(name: str, fn: CostFn) -> CostFn:
    """Make ``fn`` (same signature as :func:`evolve.hardware.cost`) available as
    ``hardware.cost_fn = name``. Registering a name again replaces the earlier function (a
    notebook cell run twice). Returns ``fn``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"register_cost_fn: the name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"register_cost_fn {name!r}: expected a function, got "
                        f"{type(fn).__name__}")
    _COST_FNS[name] = fn
    return fn


def registered_cost_fns() -> list[str]:
    load_installed_plugins()
    return sorted(_COST_FNS)


def registered_name(fn: CostFn | None) -> str:
    """The name ``fn`` is registered under ("" if none): what a search given the function
    itself records, so a resume (from the CLI too) finds it again by name."""
    return next((name for name, f in _COST_FNS.items() if f is fn), "")


def resolve_cost_fn(name: str, given: CostFn | None) -> CostFn | None:
    """The cost function a search prices with: the one registered as ``name`` (a config's
    ``hardware.cost_fn``), or ``given``; None for neurevo's own model. A name nobody
    registered is found in ``given`` (passed again, as a run's other user functions are,
    in a process that did not register it); a name nobody registered nor given, or a given
    function other than the one the name registers, is refused."""
    if not name:
        return given
    found = registered(_COST_FNS, name)  # an installed package may register it
    if found is None and given is not None:
        return given
    if found is None:
        raise UnknownName(f"hardware.cost_fn: {name!r} is not a registered cost function: "
                          "register it (evolve.register_cost_fn; CLI: --plugin FILE that does) "
                          "or pass it (evolve.search/resume(..., cost_fn=...))"
                          + (f"; registered: {registered_cost_fns()}" if _COST_FNS else ""))
    if given is not None and given is not found:
        raise ValueError(f"cost_fn was given, but hardware.cost_fn names {name!r}, another "
                         "function: give one of them")
    return found
