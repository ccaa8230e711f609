"""The CLI's way to a user's plug-ins: ``--plugin FILE.py`` or ``--plugin MODULE`` imports
the user's code before the command resolves any name, so the rules it registers
(``@rules.register``), the objectives (``evolve.register_objective``) and the constraints
(``evolve.register_constraint``) are found by name, as in the Python process that defines
them. A Python user imports their module instead.

Installed packages declare theirs in the ``neurevo.plugins`` entry-point group (a module,
or ``module:function`` called with no arguments), and :func:`load_installed_plugins` imports
them all once, before a search, a resume or a CLI command resolves any name — as installed
rules are found through ``neurevo.rules`` — so a lab's package of objectives, constraints,
cost functions and data sets works without ``--plugin``, on every worker it is installed on.

Nothing is ever imported because a run's files name it: a run directory may come from
someone else, and reading or resuming it must not run code nobody asked for (the run's
records name the user functions it needs, and a resume without them says which to supply).
The installed plug-ins are the same whatever the run says: what ``pip`` put in the
environment, trusted as the environment's other packages are.

A file is imported under its own name (``my_objectives.py`` as ``my_objectives``), with its
folder added to the end of ``sys.path`` so that it can import the modules beside it, as a
script run with ``python`` can. Such a module is not installed, so on Ray its functions
travel to the workers by value (:mod:`evolve.plugins`), as a script's do.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import traceback
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")

PLUGIN_GROUP = "neurevo.plugins"  # installed packages' objectives, constraints, cost fns, tasks
# installed plug-ins that failed to load: entry-point name -> why (reported once on stderr)
BROKEN_INSTALLED: dict[str, str] = {}
_installed_loaded = False


class PluginImportError(ValueError):
    """A ``--plugin`` that cannot be imported; one line naming it and why."""


def import_plugin(spec: str) -> ModuleType:
    """Import ``spec``: a path to a ``.py`` file, or the dotted name of an importable
    module (installed, or on ``PYTHONPATH``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise PluginImportError(f"--plugin {spec!r}: expected a .py file or a module name")
    if spec.endswith(".py") or "/" in spec or "\\" in spec or Path(spec).is_file():
        return _import_file(spec)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise PluginImportError(
                f"--plugin {spec}: no module named {exc.name!r} (a module must be installed "
                "or on PYTHONPATH; give a path, e.g. ./my_plugins.py, for a file)") from None
        raise PluginImportError(_raised(spec, exc, _module_home(spec))) from exc
    except Exception as exc:  # noqa: BLE001 - the user's module failing to import
        raise PluginImportError(_raised(spec, exc, _module_home(spec))) from exc


def load_installed_plugins() -> None:
    """Import every ``neurevo.plugins`` entry point once per process (calling it where it
    names a function). One that fails (a broken install, an import error, its function
    raising) is named once on stderr and skipped: one broken package must not stop
    unrelated searches, and a search that needs its names says which are unknown."""
    global _installed_loaded
    if _installed_loaded:
        return
    _installed_loaded = True  # first: a plug-in that searches while importing must not loop
    from rules import registry

    # the installed rules first: a plug-in that looks a rule up would load them inside its
    # attempt, and a failure would then take them back for good
    registry._load_entry_points()
    points = entry_points(group=PLUGIN_GROUP)
    # the packages the plug-ins live in: what a failed one imported from them is forgotten,
    # what it imported from anywhere else (numpy, scikit-learn, ...) stays imported
    plugin_packages = {_package_of(point) for point in points} - {""}
    for point in points:
        before, modules = _snapshot(), set(sys.modules)
        try:
            loaded = point.load()
            if point.attr is not None:
                if not callable(loaded):
                    raise TypeError(f"{point.value} is not a function (name a module, or a "
                                    "function to call)")
                loaded()
        except Exception as exc:  # noqa: BLE001 - any failure of a third-party plug-in
            # skipped means skipped: what it registered before it failed is taken back, so
            # a search never runs on half of a plug-in; the plug-in modules it imported are
            # forgotten too, so a later entry point naming one imports (and registers) it
            # again instead of finding it imported and its names gone. Other libraries it
            # imported stay: they register nothing, and one with a C extension (numpy's
            # fft, under scikit-learn) cannot be imported twice in a process
            _restore(before)
            for name in set(sys.modules) - modules:
                if name.split(".")[0] in plugin_packages:
                    del sys.modules[name]
            BROKEN_INSTALLED[point.name] = f"{type(exc).__name__}: {exc}"
            print(f"neurevo: warning: skipping installed plug-in {point.name!r} "
                  f"({point.value}): {type(exc).__name__}: {' '.join(str(exc).split())}",
                  file=sys.stderr)


def _package_of(point: EntryPoint) -> str:
    """The top-level package an entry point names ("" for a value the entry-point syntax
    does not match, whose load fails, and is reported, in its own turn)."""
    try:
        return point.module.split(".")[0]
    except Exception:  # noqa: BLE001 - importlib.metadata's parse of a malformed value
        return ""


def _registries() -> list[dict]:
    """Every registry a plug-in registers into (imported here, not at the top: this module
    is imported by the modules that hold them)."""
    from evolve import constraints, cost_functions, objectives, tasks
    from evolve.hardware import profiles
    from rules import registry

    return [registry._RULES, objectives._OBJECTIVES, constraints._CONSTRAINTS,
            cost_functions._COST_FNS, profiles._PROFILES, tasks._REGISTERED]


def _snapshot() -> list[tuple[dict, dict]]:
    return [(reg, dict(reg)) for reg in _registries()]


def _restore(snapshot: list[tuple[dict, dict]]) -> None:
    for reg, saved in snapshot:
        reg.clear()
        reg.update(saved)


def registered(registry: Mapping[str, T], key: str) -> T | None:
    """``registry[key]`` (an objective, constraint, cost function or task registry), the
    installed plug-ins imported first when it is missing, since one of them may register
    it; None when none does."""
    if key not in registry:
        load_installed_plugins()
    return registry.get(key)


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser()
    if path.suffix != ".py":
        raise PluginImportError(f"--plugin {spec}: a file plug-in must be a .py file")
    if not path.is_file():
        raise PluginImportError(f"--plugin {spec}: no such file"
                                + (" (it is a directory)" if path.is_dir() else ""))
    path = path.resolve()
    name = path.stem
    if not name.isidentifier():
        raise PluginImportError(f"--plugin {spec}: {name!r} is not a valid module name; "
                                "rename the file (letters, digits, underscores)")
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded  # given twice, or already imported by another plug-in
        origin = getattr(loaded, "__file__", None) or "built in"
        raise PluginImportError(f"--plugin {spec}: a module named {name!r} is already "
                                f"imported (from {origin}); rename the file")
    installed = _module_elsewhere(name, path.parent)
    if installed:  # registered under that name, it would be what every `import NAME` gets
        raise PluginImportError(f"--plugin {spec}: its name {name!r} is the installed module "
                                f"at {installed}, which it would replace; rename the file")
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise PluginImportError(f"--plugin {spec}: Python cannot load it as a module")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)  # its neighbours import as they do when it runs as a script
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]  # half-imported: a later import must not find it
        if not isinstance(exc, Exception):
            raise
        raise PluginImportError(_raised(spec, exc, path)) from exc
    return module


def _module_elsewhere(name: str, folder: Path) -> str:
    """Where Python would import ``name`` from outside ``folder`` ("" if nowhere): the
    plug-in's own folder does not count (``python -m`` puts the working directory first)."""
    if name in sys.builtin_module_names:
        return "(built in)"
    paths = [p for p in sys.path if Path(p or ".").resolve() != folder]
    found = importlib.machinery.PathFinder.find_spec(name, paths)
    if found is None:
        return ""
    return found.origin or str(list(found.submodule_search_locations or ["a package"])[0])


# neurevo's own packages, wherever it is installed
_NEUREVO = tuple(Path(__file__).resolve().parent.parent / name
                 for name in ("evolve", "rules", "search_spaces"))


def _module_home(spec: str) -> Path | None:
    """Where a module plug-in lives: its top-level package's folder, or its file; None
    where Python cannot say."""
    try:
        found = importlib.util.find_spec(spec.split(".")[0])
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if found.submodule_search_locations:
        return Path(list(found.submodule_search_locations)[0]).resolve()
    return Path(found.origin).resolve() if found.origin else None


def _users(filename: str, path: Path | None) -> bool:
    """Whether a frame is the user's: in the plug-in's file or package ``path``, or (where
    that is unknown) anywhere but neurevo's own packages and Python's import machinery."""
    where = Path(filename).resolve()
    if path is not None:
        return where == path or (path.is_dir() and where.is_relative_to(path))
    return not filename.startswith("<") and not any(where.is_relative_to(p) for p in _NEUREVO)


def _raised(spec: str, exc: BaseException, path: Path | None) -> str:
    """One line: the plug-in, the exception, and where in the user's code it was raised:
    the user's last line on the way (where a call into neurevo, which raised the error,
    was made), or a syntax error's own place; the deepest frame otherwise."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        place: tuple[str, int | None] | None = (exc.filename, exc.lineno)
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if _users(f.filename, path)]
        chosen = own[-1] if own else (frames[-1] if frames else None)
        place = (chosen.filename, chosen.lineno) if chosen else None
    where = f" ({Path(place[0]).name}, line {place[1]})" if place else ""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"--plugin {spec}: importing it raised {type(exc).__name__}{where}: {text}"
