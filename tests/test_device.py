"""training.device on a machine without a GPU: what can be checked honestly here.

- The setting is validated, and asking for CUDA where there is none is a clear error that
  names the setting (config time for a serial run, evaluation time on a Ray worker).
- Every rule's training step and prediction create their tensors on the device of their
  inputs (a tensor made without a device would land on the host and break a GPU run):
  checked by intercepting torch's factory functions during a real fit.
- The fit moves its net, data, parameters and state through the same code path on the CPU.
- Ray: a batch task carries its GPU reservation (Ray started with a declared GPU).

That the GPU run is fast, or runs at all on real CUDA, is not checked here (no GPU).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from netkit import digits_subset, mlp
from torch.overrides import TorchFunctionMode

import rules
from evolve import ray_support
from evolve.config import ConfigError, SearchConfig, check, override
from rules.device import DeviceUnavailableError, resolve_device, to_device
from search_spaces.compile import compile_genome, stack
from search_spaces.genome import ConnectionGene


@pytest.fixture
def no_gpu(monkeypatch):
    """This process sees no CUDA device, whatever machine runs the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.tensor, torch.as_tensor,
             torch.arange, torch.eye, torch.rand, torch.randn, torch.randint, torch.randperm,
             torch.linspace}


class DevicelessFactories(TorchFunctionMode):
    """Records every factory call that names no device (``as_tensor`` of a tensor keeps its
    device, so it is not one)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        copies_a_tensor = func is torch.as_tensor and args and torch.is_tensor(args[0])
        if func in FACTORIES and kwargs.get("device") is None and not copies_a_tensor:
            self.calls.append(func.__name__)
        return func(*args, **kwargs)


def population():
    recurrent = mlp([64, 8, 10], "tanh")
    recurrent = recurrent.with_changes(connections=(
        *recurrent.connections, ConnectionGene(7, 1, 2, recurrent=True),
        ConnectionGene(9, 0, 1)))
    return stack([compile_genome(recurrent), compile_genome(mlp([64, 6, 5, 10], "relu"))])


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_training_steps_create_tensors_on_their_inputs_device(name):
    rule = rules.get_rule(name)
    mode = DevicelessFactories()
    # what runs on the device, every minibatch and every validation pass
    for hook in ("train_step", "predict", "predict_members"):
        inner = getattr(rule, hook)

        def watched(*args, _inner=inner, **kwargs):
            with mode:
                return _inner(*args, **kwargs)
        setattr(rule, hook, watched)
    fit = rule.fit(population(), digits_subset(n_train=64, n_valid=32), None,
                   rules.Budget(epochs=1, batch_size=32, patience=1), [1, 2])
    assert fit.status == ["ok", "ok"]
    assert mode.calls == []


def test_the_check_sees_a_deviceless_factory():
    """The check above can fail: a step that makes a tensor without a device is caught."""
    mode = DevicelessFactories()
    with mode:
        torch.zeros(3, device="cpu")
        torch.zeros(3)
    assert mode.calls == ["zeros"]


def test_fit_moves_state_to_the_device_and_returns_host_results():
    """The move a GPU run makes, taken to the ``meta`` device: every tensor of a rule's
    state moves (through lists, dicts and dataclasses), random generators stay on the host."""
    net = population()
    rule = rules.get_rule("dtp")  # its state has dicts, lists, tensors and generators
    params = rules.base.init_params(net, [1, 2], [1.0, 1.0])
    state = rule.init_state(net, params, [rule.hyperparameters().resolve({})] * 2, [1, 2])
    moved = to_device(state, torch.device("meta"))
    tensors = []

    def collect(value):
        if torch.is_tensor(value):
            tensors.append(value)
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                collect(getattr(value, f.name))
    collect(moved)
    assert len(tensors) > 5 and all(t.device.type == "meta" for t in tensors)
    assert all(isinstance(g, torch.Generator) for g in moved.extra.noise)
    tensors.clear()
    collect(state)  # the original is left where it was
    assert tensors and all(t.device.type == "cpu" for t in tensors)


def test_auto_without_a_gpu_trains_on_the_host(no_gpu):
    data = digits_subset(n_train=64, n_valid=32)
    fits = [rules.get_rule("pc").fit(population(), data, None,
                                     rules.Budget(epochs=2, batch_size=32, device=d), [1, 2])
            for d in ("cpu", "auto")]
    for a, b in zip(fits[0].params.tensors(), fits[1].params.tensors(), strict=True):
        assert a.device.type == "cpu" and torch.equal(a, b)


def test_the_setting_is_validated():
    with pytest.raises(ConfigError, match=r"training\.device must be one of"):
        override(SearchConfig(), {"training": {"device": "gpu"}})
    assert override(SearchConfig(), {"training": {"device": "cuda:1"}}).training.device \
        == "cuda:1"


def test_cuda_without_a_gpu_is_a_clear_error(no_gpu):
    with pytest.raises(DeviceUnavailableError, match=r"training\.device = 'cuda'.*no usable CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    serial = override(SearchConfig(), {"training": {"device": "cuda"},
                                       "executor": {"name": "serial"}})
    with pytest.raises(ConfigError, match=r"training\.device = 'cuda'"):
        check(serial)
    with pytest.raises(DeviceUnavailableError, match=r"training\.device"):
        rules.get_rule("bp").fit(population(), digits_subset(n_train=32, n_valid=16), None,
                                 rules.Budget(epochs=1, device="cuda"), [1, 2])


def test_gpu_settings_must_agree_with_the_ray_reservation(monkeypatch):
    ray_cuda = override(SearchConfig(), {"training": {"device": "cuda"},
                                         "executor": {"name": "ray"}})
    with pytest.raises(ConfigError, match=r"executor\.gpus_per_eval is 0"):
        check(ray_cuda)
    idle = override(SearchConfig(), {"executor": {"name": "ray", "gpus_per_eval": 0.5}})
    with pytest.raises(ConfigError, match=r"training\.device is 'cpu'"):
        check(idle)
    monkeypatch.setattr(ray_support, "local_gpus", lambda: 1)  # the local instance has one
    check(override(ray_cuda, {"executor": {"gpus_per_eval": 0.5}}))  # consistent: accepted


# -- Ray: the GPU reservation ------------------------------------------------------------------
@pytest.fixture
def ray_with_a_declared_gpu():
    """A local Ray instance told it has one GPU (this machine has none): Ray schedules by
    the declared resources, so GPU-reserving tasks start here as on a GPU worker."""
    import ray

    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False,
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_batches_reserve_their_gpu_share(ray_with_a_declared_gpu):
    from evolve.config import ExecutorConfig
    from evolve.ray_executor import RayExecutor

    halves = RayExecutor(ExecutorConfig(cpus_per_eval=1.0, gpus_per_eval=0.5))
    assert halves.parallelism() == 2  # two halves of the one GPU, two CPUs
    gpu_bound = RayExecutor(ExecutorConfig(cpus_per_eval=0.5, gpus_per_eval=1.0))
    assert gpu_bound.parallelism() == 1
    def gpu_ids(item: int) -> list:  # nested: pickled by value, the worker needs no tests/
        import ray

        return ray.get_gpu_ids()
    results = dict(halves.map(gpu_ids, [0, 1, 2]))
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in results.values()), results

    net, data = population(), digits_subset(n_train=32, n_valid=16)  # sent by value

    def train_on_cuda(item: int) -> str:  # what a worker does with training.device=cuda
        try:
            rules.get_rule("bp").fit(net, data, None, rules.Budget(epochs=1, device="cuda"),
                                     [1, 2])
        except DeviceUnavailableError as exc:
            return str(exc)
        return "trained"
    # scheduled onto the declared GPU; the worker, which has no CUDA, says what is missing
    errors = dict(halves.map(train_on_cuda, [0, 1]))
    assert all(isinstance(e, str) and "training.device = 'cuda'" in e and "no usable CUDA" in e
               for e in errors.values()), errors
