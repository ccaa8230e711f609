"""The layering: search_spaces <- rules <- evolve; nothing imports upwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"search_spaces": {"rules", "evolve"}, "rules": {"evolve"}}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN[package]]
    assert not offenders


def test_algorithms_never_import_ray():
    offenders = [str(p.relative_to(ROOT)) for pkg in ("rules", "search_spaces")
                 for p in (ROOT / pkg).rglob("*.py") if "import ray" in p.read_text()]
    offenders += [str(p.relative_to(ROOT)) for p in (ROOT / "evolve" / "strategies").rglob("*.py")
                  if "import ray" in p.read_text()]
    assert not offenders
