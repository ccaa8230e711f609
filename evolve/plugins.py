"""User code on workers: a rule, objective, constraint or cost function defined in the user's
script, notebook or an uninstalled module must run on Ray workers exactly as in-process.

Ray pickles functions and classes with cloudpickle, which sends anything defined in
``__main__`` (a script, a notebook) *by value*, but anything defined in an importable module
*by reference*: a worker then imports that module by name — and fails if the module is not
installed on it (a test file, ``my_rules.py`` next to a notebook, a cluster node without the
user's checkout). So for each plug-in whose module is neither one of neurevo's own packages
nor installed in site-packages, the module is registered with cloudpickle to be sent by
value too. Installed plug-ins (``neurevo.rules`` entry points) keep going by reference.
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


def module_to_ship(obj: Any) -> ModuleType | None:
    """The module defining ``obj`` if workers may be unable to import it, else None."""
    target = obj if isinstance(obj, type) or callable(obj) else type(obj)
    name = getattr(target, "__module__", None)
    if not name or name == "__main__" or name.split(".")[0] in (*OWN_PACKAGES, "builtins"):
        return None
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if module is None or file is None:
        return None
    path = Path(file).resolve()
    if any(root in path.parents for root in _installed_roots()):
        return None
    return module


def plugin_objects(*groups: Iterable[Any]) -> list[Any]:
    """The user-supplied callables among rules, objectives, constraints and cost functions
    (each object itself and the function it wraps, if any)."""
    out: list[Any] = []
    for group in groups:
        for obj in group:
            if obj is None:
                continue
            out.append(obj)
            fn = getattr(obj, "fn", None)
            if fn is not None:
                out.append(fn)
    return out


def ship_by_value(objects: Iterable[Any]) -> list[str]:
    """Register with cloudpickle the modules of ``objects`` that workers may not import;
    returns their names."""
    from ray import cloudpickle

    shipped = []
    for obj in objects:
        module = module_to_ship(obj)
        if module is not None:
            cloudpickle.register_pickle_by_value(module)
            shipped.append(module.__name__)
    return shipped
