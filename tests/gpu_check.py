"""The checks that only a CUDA machine can run, as one script: what the CPU suite cannot see
because every tensor there is on the host (a bug of that kind once failed every pc net with a
hidden level on a GPU, silently but for the records).

On a machine with CUDA, for every registered rule:

- ``fit``: a population of mixed nets (one or two hidden levels) trains for one epoch on
  digits on the GPU with the rule's defaults (``kernel = auto`` for pc, ep and chl) and on
  the CPU; no member fails, and validation accuracies agree within ``ACCURACY_TOLERANCE``;
- ``kernel`` (pc, ep, chl): ``kernel = triton`` and ``kernel = torch`` on the GPU train to
  parameters within ``PARAM_TOLERANCE`` of each other (relative);
- ``module``: a trained member as ``rule.to_module`` moved with ``.to("cuda")`` scores the
  validation inputs as the same module does on the CPU (largest score difference within
  ``SCORE_TOLERANCE``), as a user running an exported model on a GPU would;

and a two-generation default search (pc, serial executor) with ``training.device = cuda``
records no failed evaluation.

It prints one line per check and a summary, writes them as JSON with ``--json``, and exits 1
if any check fails (2 without CUDA: nothing is checked, nothing is claimed). It is not part
of the pytest suite, which runs on machines without a GPU:

    python tests/gpu_check.py [--json PATH] [--rules pc,ep]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import traceback
from pathlib import Path

import torch

ACCURACY_TOLERANCE = 0.02  # float sums in another order move a member by an example or two
PARAM_TOLERANCE = 1e-3  # the kernels agree with torch within 5e-4 on an H200 (devices.py)
SCORE_TOLERANCE = 1e-4


def mixed_population(task, size: int, seed: int = 0):
    from search_spaces.compile import compile_genome, stack
    from search_spaces.genome import layered

    rng = random.Random(seed)
    genomes = []
    for _ in range(size):
        widths = [rng.choice((8, 16, 24)) for _ in range(rng.choice((1, 2)))]
        genomes.append(layered([task.n_features, *widths, task.n_classes],
                               [rng.choice(("tanh", "relu", "sigmoid")) for _ in widths]))
    return genomes, stack([compile_genome(g) for g in genomes])


def check_rule(name: str, task, device: str) -> list[dict]:
    import rules
    from rules.kernels import relative_error
    from search_spaces.compile import member_params

    genomes, net = mixed_population(task, 6)
    seeds = list(range(len(genomes)))
    budget = {d: rules.Budget(epochs=1, batch_size=64, patience=1, device=d)
              for d in ("cpu", device)}
    results = []
    fits = {d: rules.get_rule(name).fit(net, task, None, budget[d], seeds)
            for d in ("cpu", device)}
    # a member may fail on both (a diverging start); failing on the GPU alone is the bug
    failed = [p for p, (a, b) in enumerate(zip(fits["cpu"].status, fits[device].status))
              if b != "ok" and a == "ok"]
    gap = max(abs(a - b) for a, b in zip(fits["cpu"].valid_accuracy,
                                          fits[device].valid_accuracy))
    results.append({"rule": name, "check": "fit", "value": gap,
                    "passed": not failed and gap <= ACCURACY_TOLERANCE,
                    "detail": f"members {failed}: {fits[device].reasons[failed[0]]}"[:200]
                    if failed else ""})
    if name in ("pc", "ep", "chl"):
        kernels = {k: rules.get_rule(name, {"kernel": k}).fit(net, task, None, budget[device],
                                                              seeds)
                   for k in ("triton", "torch")}
        error = relative_error(list(kernels["triton"].params.tensors()),
                               list(kernels["torch"].params.tensors()))
        results.append({"rule": name, "check": "kernel", "value": error,
                        "passed": error <= PARAM_TOLERANCE, "detail": ""})
    rule = rules.get_rule(name)
    member = rule.to_module(genomes[-1], member_params(net, fits["cpu"].params,
                                                       len(genomes) - 1))
    x = task.valid.x.float()
    with torch.no_grad():
        on_cpu = member(x)
        on_gpu = member.to(device)(x.to(device)).cpu()
    difference = float((on_cpu - on_gpu).abs().max())
    results.append({"rule": name, "check": "module", "value": difference,
                    "passed": difference <= SCORE_TOLERANCE, "detail": ""})
    return results


def check_search(device: str) -> dict:
    import evolve
    from evolve.config import SearchConfig, override

    with tempfile.TemporaryDirectory() as out:
        config = override(SearchConfig(), {"generations": 2, "seed": 0, "out": out,
                                           "executor": {"name": "serial"},
                                           "training": {"device": device}})
        run = evolve.search(config, reporters=())
        rows = run.evaluations().to_pylist()
    failed = [r for r in rows if r["status"] in ("failed", "timeout")]
    return {"rule": config.rule.name, "check": "search", "value": float(len(failed)),
            "passed": not failed and bool(rows),
            "detail": failed[0]["error"][:200] if failed else f"{len(rows)} evaluations"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the checks here")
    parser.add_argument("--rules", help="comma-separated (default: every registered rule)")
    parser.add_argument("--device", default="cuda", help="the CUDA device (default: cuda)")
    args = parser.parse_args(argv)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json {args.json}: its folder does not exist")
    try:  # the CPU would be checked against itself, then its name asked of CUDA (a crash)
        if torch.device(args.device).type != "cuda":
            raise RuntimeError
    except RuntimeError:
        parser.error(f"--device {args.device!r}: expected cuda or cuda:N")
    import rules

    names = args.rules.split(",") if args.rules else rules.available()
    unknown = sorted(set(names) - set(rules.available()))
    if unknown:
        parser.error(f"--rules: unknown rule(s) {unknown}; expected some of {rules.available()}")
    if not torch.cuda.is_available():
        print("gpu_check: this machine has no CUDA device: nothing was checked",
              file=sys.stderr)
        return 2
    index = torch.device(args.device).index
    if index is not None and index >= torch.cuda.device_count():
        parser.error(f"--device {args.device!r}: this machine has "
                     f"{torch.cuda.device_count()} CUDA device(s)")
    from evolve.tasks import load_task

    task = load_task("digits", seed=0)
    checks: list[dict] = []
    for name in names:
        try:
            checks += check_rule(name, task, args.device)
        except Exception as exc:  # noqa: BLE001 - a check that raises failed; go on
            checks.append({"rule": name, "check": "raised", "value": None, "passed": False,
                           "detail": traceback.format_exception_only(exc)[-1].strip()})
    try:
        checks.append(check_search(args.device))
    except Exception as exc:  # noqa: BLE001
        checks.append({"rule": "pc", "check": "search", "value": None, "passed": False,
                       "detail": traceback.format_exception_only(exc)[-1].strip()})
    for c in checks:
        value = "-" if c["value"] is None else f"{c['value']:.2e}"
        print(f"{'ok  ' if c['passed'] else 'FAIL'} {c['rule']:>5} {c['check']:<7} {value:>9} "
              f"{c['detail']}")
    failures = sum(not c["passed"] for c in checks)
    print(f"{len(checks) - failures} of {len(checks)} checks passed on "
          f"{torch.cuda.get_device_name(args.device)}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"gpu": torch.cuda.get_device_name(args.device), "torch": torch.__version__,
             "checks": checks}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
