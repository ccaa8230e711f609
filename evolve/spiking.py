"""The settings of the ANN-to-SNN conversion (evolve.nir_export) and of the spiking simulation
that checks it (evolve.simulate), in one torch-free place: the CLI's help names them without
importing torch, and both modules read them from here."""

from __future__ import annotations

PERCENTILE = 99.9  # each group's threshold: this percentile of its training activations
RESET = "subtract"  # the membrane reset the conversion assumes: the simulation's default
RESETS = (RESET, "zero")  # "zero": NIR's IF node as written
TIMESTEPS = 200  # time steps per example
