"""User code on workers: a rule, objective, constraint or cost function defined in the user's
script, notebook or an uninstalled module must run on Ray workers exactly as in-process.

Ray pickles functions and classes with cloudpickle, which sends anything defined in
``__main__`` (a script, a notebook) *by value*, but anything defined in an importable module
*by reference*: a worker then imports that module by name — and fails if the module is not
installed on it (a test file, ``my_rules.py`` next to a notebook, a cluster node without the
user's checkout). So for each plug-in whose module is neither one of neurevo's own packages
nor installed in site-packages, the module is registered with cloudpickle to be sent by
value too, and so is every such module it reaches through its globals (``import helpers``
or ``from helpers import f`` in a rule's module), which the module's functions would
otherwise import by name on the worker. Installed plug-ins (``neurevo.rules`` entry points)
keep going by reference.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

OWN_PACKAGES = ("evolve", "rules", "search_spaces")


def _installed_roots() -> list[Path]:
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    roots.update(getattr(site, "getsitepackages", list)())
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        roots.add(user)
    return [Path(r).resolve() for r in roots if r]


def _needs_shipping(module: ModuleType | None) -> bool:
    """A module workers may be unable to import by name: the user's own, not installed."""
    name = getattr(module, "__name__", "")
    if not name or name == "__main__" or name.split(".")[0] in (*OWN_PACKAGES, "builtins"):
        return False
    file = getattr(module, "__file__", None)
    if file is None:
        return False
    path = Path(file).resolve()
    return not any(root in path.parents for root in _installed_roots())


def _home(obj: Any) -> str:
    """The name of the module defining ``obj`` (a class or function; else its class)."""
    target = obj if isinstance(obj, type) or callable(obj) else type(obj)
    return getattr(target, "__module__", None) or ""


def module_to_ship(obj: Any) -> ModuleType | None:
    """The module defining ``obj`` (or ``obj`` itself, a module) if workers may be unable
    to import it, else None."""
    module = obj if isinstance(obj, ModuleType) else sys.modules.get(_home(obj))
    return module if _needs_shipping(module) else None


def plugin_objects(*groups: Iterable[Any]) -> list[Any]:
    """The user-supplied callables among rules, objectives, constraints and cost functions
    (each object itself, the function it wraps, if any, and those of the metrics it
    declares, which run on the workers)."""
    out: list[Any] = []
    for group in groups:
        for obj in group:
            if obj is None:
                continue
            out.append(obj)
            for part in (obj, *getattr(obj, "metrics", ())):
                fn = getattr(part, "fn", None)
                if fn is not None:
                    out.append(fn)
    return out


def modules_to_ship(objects: Iterable[Any]) -> list[ModuleType]:
    """The modules of ``objects`` that workers may not import, and every such module
    those reach through their globals (a module imported, or a function or class imported
    from it), each once."""
    found: dict[str, ModuleType] = {}
    objects = list(objects)
    todo = [m for m in map(module_to_ship, objects) if m is not None]
    if any(_home(obj) == "__main__" for obj in objects):
        # a plug-in of a script or notebook travels by value already, but the modules of
        # the user's that it calls into would be imported by name on the worker
        main = sys.modules.get("__main__")
        todo += [m for m in map(module_to_ship, list(vars(main).values()) if main else [])
                 if m is not None]
    while todo:
        module = todo.pop()
        if module.__name__ in found:
            continue
        found[module.__name__] = module
        todo.extend(m for m in map(module_to_ship, list(vars(module).values()))
                    if m is not None and m.__name__ not in found)
    return list(found.values())


def ship_by_value(objects: Iterable[Any]) -> list[str]:
    """Register with cloudpickle the modules of ``objects`` that workers may not import
    (:func:`modules_to_ship`); returns their names."""
    from ray import cloudpickle

    shipped = []
    for module in modules_to_ship(objects):
        cloudpickle.register_pickle_by_value(module)
        shipped.append(module.__name__)
    return shipped
