"""Historical markings (Stanley & Miikkulainen 2002, section 3.2): one tracker per run.

Within a generation, the same structural mutation (the same new edge src->dst, or the split
of the same edge) gets the same innovation number and the same new node id, so that the
offspring that share an invention line up in crossover and in the compatibility distance.
The tracker's state is plain integers and dicts, so it goes into a JSON checkpoint whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class InnovationTracker:
    next_innovation: int = 0
    next_node_id: int = 0
    # this generation's inventions, so a repeat in the same generation reuses the number
    edges: dict[tuple[int, int], int] = field(default_factory=dict)
    splits: dict[int, int] = field(default_factory=dict)

    def new_generation(self) -> None:
        self.edges.clear()
        self.splits.clear()

    def reserve_nodes(self, count: int) -> list[int]:
        """Fresh node ids (used for the fixed input/output nodes)."""
        ids = list(range(self.next_node_id, self.next_node_id + count))
        self.next_node_id += count
        return ids

    def edge(self, src: int, dst: int) -> int:
        key = (src, dst)
        if key not in self.edges:
            self.edges[key] = self.next_innovation
            self.next_innovation += 1
        return self.edges[key]

    def split(self, innovation: int, taken: set[int]) -> int:
        """The node id for splitting edge ``innovation``; fresh if the genome already has it."""
        node = self.splits.get(innovation)
        if node is None or node in taken:
            node = self.next_node_id
            self.next_node_id += 1
            self.splits.setdefault(innovation, node)
        return node

    def to_dict(self) -> dict[str, Any]:
        return {
            "next_innovation": self.next_innovation,
            "next_node_id": self.next_node_id,
            "edges": [[s, d, i] for (s, d), i in sorted(self.edges.items())],
            "splits": sorted(self.splits.items()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InnovationTracker:
        return cls(
            next_innovation=int(data["next_innovation"]),
            next_node_id=int(data["next_node_id"]),
            edges={(int(s), int(d)): int(i) for s, d, i in data["edges"]},
            splits={int(k): int(v) for k, v in data["splits"]},
        )
