"""The layering: search_spaces <- rules <- evolve; nothing imports upwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"search_spaces": {"rules", "evolve"}, "rules": {"evolve"}}


def imported_modules(path: Path) -> list[str]:
    """Absolute names of the modules ``path`` imports: ``import x``, ``from x import y``,
    relative imports resolved against the file's package (``from . import y`` in
    ``rules/kernels/a.py`` is ``rules.kernels.y``), and ``importlib.import_module("x")`` /
    ``__import__("x")`` with a literal name (a relative one resolved against its
    ``package`` argument when that is a literal too)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = list(path.relative_to(ROOT).parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - (node.level - 1)] if node.level else []
            if node.module:
                names.append(".".join([*base, node.module]))
            else:  # from . import x: x is a module of the package (or a name in it)
                names += [".".join([*base, a.name]) for a in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            name = node.args[0].value
            if name.startswith("."):
                anchor = next((k.value.value for k in node.keywords if k.arg == "package"
                               and isinstance(k.value, ast.Constant)), None)
                second = node.args[1] if len(node.args) > 1 else None
                if anchor is None and isinstance(second, ast.Constant):
                    anchor = second.value
                dots = len(name) - len(name.lstrip("."))
                parts = str(anchor or ".".join(package)).split(".")
                parts = parts[:len(parts) - (dots - 1)] if dots > 1 else parts
                name = ".".join([*parts, name.lstrip(".")]).rstrip(".")
            names.append(name)
    return names


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
        (isinstance(func, ast.Name) and func.id in ("import_module", "__import__"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    offenders = [f"{path.relative_to(ROOT)}: {name}"
                 for path in (ROOT / package).rglob("*.py") for name in imported_modules(path)
                 if name.split(".")[0] in FORBIDDEN[package]]
    assert not offenders


@pytest.mark.parametrize("source, expected", [
    ("import evolve.tasks", ["evolve.tasks"]),
    ("from evolve import tasks", ["evolve"]),
    ("from . import net", ["rules.kernels.net"]),
    ("from .dispatch import KERNELS", ["rules.kernels.dispatch"]),
    ("from ..base import Budget", ["rules.base"]),
    ("from ... import evolve", ["evolve"]),
    ("import importlib\nimportlib.import_module('evolve.run')", ["importlib", "evolve.run"]),
    ("from importlib import import_module\nimport_module('evolve')", ["importlib", "evolve"]),
    ("import importlib\nimportlib.import_module('..x', 'evolve.y')", ["importlib", "evolve.x"]),
    ("__import__('evolve.cli')", ["evolve.cli"]),
])
def test_the_scan_sees_every_import_form(tmp_path, monkeypatch, source, expected):
    """What test_no_upward_imports reads, on a file at rules/kernels/probe.py."""
    fake = tmp_path / "rules" / "kernels" / "probe.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(source)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert imported_modules(fake) == expected


def test_algorithms_never_import_ray():
    offenders = [str(p.relative_to(ROOT)) for pkg in ("rules", "search_spaces")
                 for p in (ROOT / pkg).rglob("*.py") if "import ray" in p.read_text()]
    offenders += [str(p.relative_to(ROOT)) for p in (ROOT / "evolve" / "strategies").rglob("*.py")
                  if "import ray" in p.read_text()]
    assert not offenders
