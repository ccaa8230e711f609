"""Hardware costs: what a candidate would occupy on a neuromorphic chip.

``CoreBudget`` profiles hold per-core limits and energy/time constants of real chips
(``loihi``, ``loihi2``, ``truenorth``, ``spinnaker``, ``spinnaker2``, ``akida``, ``xylo``,
``dynapse``), each with its sources and the fields that are estimates. ``cost(genome,
profile)`` partitions every node group onto cores and returns a :class:`HardwareCost`.
The model and its formulas: docs/hardware.md and :mod:`evolve.hardware.cost`.

>>> from evolve.hardware import cost, get_profile
>>> from search_spaces.genome import Genome, NodeGene, ConnectionGene
>>> g = Genome((NodeGene(0, "input", 784), NodeGene(1, "output", 512)),
...            (ConnectionGene(0, 0, 1),))
>>> c = cost(g, "loihi")
>>> c.cores, c.groups[0].binding    # 784 -> 512 on Loihi: memory holds 153 neurons a core
(4, 'synaptic_memory_bits_per_core')
>>> cost(g, get_profile("loihi"), chips=1).violations
{}
"""

from evolve.hardware.catalog import BUILTIN
from evolve.hardware.cost import (
    DEFAULT_ACTIVITY,
    DEFAULT_TIMESTEPS,
    GroupCost,
    HardwareCost,
    cost,
    genome_of,
)
from evolve.hardware.profiles import (
    CoreBudget,
    ProfileError,
    available_profiles,
    get_profile,
    load_profile,
    register_profile,
    resolve_profile,
    to_toml,
)

for _profile in BUILTIN:
    register_profile(_profile)

__all__ = ["DEFAULT_ACTIVITY", "DEFAULT_TIMESTEPS", "CoreBudget", "GroupCost", "HardwareCost",
           "ProfileError", "available_profiles", "cost", "genome_of", "get_profile",
           "load_profile", "register_profile", "resolve_profile", "to_toml"]
