"""neat-pso's swarm state: one row per live candidate, held as columns.

Each live candidate (pending or surviving) is a particle with a position ``x``, a velocity
``v`` and a lineage best (the best evaluated position of it or an ancestor: its position,
objective values, constraint violation and whether it ranks at all). At population 10,000
that state as one dict of lists per particle was tens of thousands of small containers a
generation: building them, looking them up one by one and the cyclic collector's pass over
them were a visible share of neat-pso's ``tell`` (``benchmarks/driver.py``). As columns, a
generation's swarm step, lineage-best update and selection of the live particles are array
operations.

A lineage best's values are kept as ranking reads them (evolve/strategies/pso.py
:func:`~evolve.strategies.pso.row_arrays`: a non-finite value counts as 0, all of a row that
does not rank as 0), since ranking is all they are used for.

JSON form (the strategy state's ``particles``)::

    {"ids": [id, ...],                      # ascending
     "x": [...], "v": [...], "best_x": [...],   # row after row, k values each
     "has_best": [bool, ...], "best_values": [...],  # m values a row
     "best_violation": [...], "best_ok": [bool, ...]}

Checkpoints written before this layout hold ``{"<id>": {"x", "v", "best"}}``, ``best``
``None`` or ``{"x", "values", "violation", "ok"}``; :meth:`Particles.from_state` reads both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from evolve.strategies.pso import row_arrays

_COLUMNS = ("x", "v", "best_x", "best_values")  # the two-dimensional columns


@dataclass(frozen=True, eq=False)  # (arrays: equality would be elementwise)
class Particles:
    """The particles of some candidates, row ``i`` being candidate ``ids[i]``. Never changed
    in place: every operation returns new arrays."""

    ids: np.ndarray  # int64 (n,)
    x: np.ndarray  # (n, k) internal coordinates
    v: np.ndarray  # (n, k)
    has_best: np.ndarray  # bool (n,): the lineage has been evaluated
    best_x: np.ndarray  # (n, k), zeros where there is no best
    best_values: np.ndarray  # (n, m), as ranking reads them
    best_violation: np.ndarray  # (n,)
    best_ok: np.ndarray  # bool (n,): Scored.rankable of the best's evaluation

    @classmethod
    def start(cls, ids: Sequence[int], x: np.ndarray, n_objectives: int) -> Particles:
        """Particles at positions ``x`` that have not moved or been evaluated yet."""
        n, k = x.shape
        return cls(np.asarray(ids, dtype=np.int64), x, np.zeros((n, k)),
                   np.zeros(n, dtype=bool), np.zeros((n, k)), np.zeros((n, n_objectives)),
                   np.zeros(n), np.zeros(n, dtype=bool))

    # -- JSON ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The JSON form (module docstring); rows are written in ascending id order."""
        order = np.argsort(self.ids, kind="stable")
        rows = self if np.array_equal(order, np.arange(len(order))) else self.take(order)
        return {"ids": rows.ids.tolist(),
                **{name: getattr(rows, name).ravel().tolist() for name in _COLUMNS},
                "has_best": rows.has_best.tolist(),
                "best_violation": rows.best_violation.tolist(),
                "best_ok": rows.best_ok.tolist()}

    @classmethod
    def from_state(cls, data: Mapping[str, Any], n_genes: int, n_objectives: int
                   ) -> Particles:
        """Read the JSON form, or the per-candidate dicts of older checkpoints."""
        if "ids" not in data:
            return cls._from_dicts(data, n_genes, n_objectives)
        n = len(data["ids"])
        width = {"x": n_genes, "v": n_genes, "best_x": n_genes, "best_values": n_objectives}
        return cls(np.array(data["ids"], dtype=np.int64),
                   **{name: np.array(data[name], dtype=float).reshape(n, width[name])
                      for name in _COLUMNS},
                   has_best=np.array(data["has_best"], dtype=bool),
                   best_violation=np.array(data["best_violation"], dtype=float),
                   best_ok=np.array(data["best_ok"], dtype=bool))

    @classmethod
    def _from_dicts(cls, data: Mapping[str, Any], n_genes: int, n_objectives: int
                    ) -> Particles:
        items = sorted(data.items(), key=lambda item: int(item[0]))
        n = len(items)
        bests = [p["best"] for _, p in items]
        has_best = np.array([b is not None for b in bests], dtype=bool)
        values, violation, ok = row_arrays(
            [(b["values"], b["violation"], b["ok"]) if b is not None
             else ([0.0] * n_objectives, 0.0, False) for b in bests], n_objectives)
        best_x = np.array([b["x"] if b is not None else [0.0] * n_genes for b in bests],
                          dtype=float).reshape(n, n_genes)
        # a row without a best is not ok, so row_arrays already left it all zeros
        return cls(np.array([int(i) for i, _ in items], dtype=np.int64),
                   np.array([p["x"] for _, p in items], dtype=float).reshape(n, n_genes),
                   np.array([p["v"] for _, p in items], dtype=float).reshape(n, n_genes),
                   has_best, best_x, values, violation, ok)

    # -- rows ----------------------------------------------------------------------------
    def rows(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The row of each of ``ids``; a :class:`KeyError` names an id with no particle."""
        wanted = np.asarray(ids, dtype=np.int64)
        order = np.argsort(self.ids, kind="stable")
        sorted_ids = self.ids[order]
        at = np.minimum(np.searchsorted(sorted_ids, wanted), max(len(order) - 1, 0))
        if len(order) == 0 or not np.array_equal(sorted_ids[at], wanted):
            missing = wanted if len(order) == 0 else wanted[sorted_ids[at] != wanted]
            raise KeyError(f"no particle for candidate {int(missing[0])}")
        return order[at]

    def take(self, rows: np.ndarray) -> Particles:
        return Particles(*(getattr(self, name)[rows] for name in _FIELDS))

    def with_bests(self, rows: np.ndarray, x: np.ndarray, values: np.ndarray,
                   violation: np.ndarray, ok: np.ndarray) -> Particles:
        """These particles with the lineage bests of ``rows`` replaced."""
        changed = {}
        for name, value in (("has_best", True), ("best_x", x), ("best_values", values),
                            ("best_violation", violation), ("best_ok", ok)):
            column = getattr(self, name).copy()
            column[rows] = value
            changed[name] = column
        return replace(self, **changed)

    @staticmethod
    def concat(parts: Sequence[Particles]) -> Particles:
        return Particles(*(np.concatenate([getattr(p, name) for p in parts])
                           for name in _FIELDS))

    def particle(self, cid: int) -> dict[str, Any]:
        """One particle as plain data (``{"x", "v", "best"}``, ``best`` ``None`` or
        ``{"x", "values", "violation", "ok"}``), for reading a state by hand."""
        i = int(self.rows([cid])[0])
        best = None
        if self.has_best[i]:
            best = {"x": self.best_x[i].tolist(), "values": self.best_values[i].tolist(),
                    "violation": float(self.best_violation[i]), "ok": bool(self.best_ok[i])}
        return {"x": self.x[i].tolist(), "v": self.v[i].tolist(), "best": best}


_FIELDS = tuple(f.name for f in fields(Particles))  # in the constructor's order
