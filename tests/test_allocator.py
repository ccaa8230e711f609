"""rules/allocator.py: with the thresholds set, a training step reuses its freed tensors
instead of faulting fresh pages in (counted in fresh processes: the setting is global)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIT = """
import resource, sys, torch
from types import SimpleNamespace
import rules
from rules.allocator import keep_freed_memory
from search_spaces.compile import compile_genome, stack
sys.path.insert(0, {tests!r})
from netkit import mlp
torch.set_num_threads(1)
if {keep}:
    assert keep_freed_memory()
gen = torch.Generator().manual_seed(0)
split = lambda n: SimpleNamespace(x=torch.randn(n, 64, generator=gen),
                                  y=torch.randint(0, 10, (n,), generator=gen))
data = SimpleNamespace(train=split(640), valid=split(128))
net = stack([compile_genome(mlp([64, 128, 10], "tanh"))] * 16)
budget = rules.Budget(epochs=1, batch_size=64, patience=5)
fit = lambda: rules.get_rule("bp").fit(net, data, None, budget, list(range(16)))
fit()  # the first fit grows the heap either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
fit()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(keep: bool) -> int:
    """Minor page faults of one bp fit (16 nets, 1 MiB-sized activations) in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = FIT.format(tests=str(ROOT / "tests"), keep=keep)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])


def test_freed_tensors_are_reused_instead_of_faulted_in_again():
    kept, default = faults(True), faults(False)
    # a fit's 10 steps each free and reallocate several 0.5 MiB blocks: by default most of
    # their pages fault in again every step
    assert default > 5 * kept, (default, kept)
