"""Executors are built from the typed ``ExecutorConfig`` only, and what could never work on
this machine (a malformed address, a reservation no local instance could meet, a
dashboard or Ray Client that is not installed) is refused by the config check, before any
run directory exists. No Ray instance is started here (tests/test_ray_executor.py starts
them); a missing package is stood in for by replacing its check in ``evolve.ray_support``.
"""

from __future__ import annotations

import pytest

from evolve import ray_support
from evolve.config import ConfigError, ExecutorConfig, SearchConfig, check, override
from evolve.executors import SerialExecutor, make_executor
from evolve.ray_executor import RayExecutor


def ray_search(**executor) -> SearchConfig:
    return override(SearchConfig(), {"executor": {"name": "ray", **executor}})


# -- typed settings ---------------------------------------------------------------------------
def test_a_misspelt_executor_setting_is_an_error_naming_it():
    with pytest.raises(TypeError, match="max_retry"):
        ExecutorConfig(name="ray", max_retry=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="ExecutorConfig"):
        make_executor("ray")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_retries"):  # loose options are gone
        RayExecutor(max_retries=5)  # type: ignore[call-arg]


def test_make_executor_builds_the_named_executor_with_every_setting():
    serial = make_executor(ExecutorConfig(name="serial", num_cpus=3))
    assert isinstance(serial, SerialExecutor) and serial.parallelism() == 3
    config = ExecutorConfig(name="ray", address="auto", num_cpus=2, cpus_per_eval=0.5,
                            gpus_per_eval=0.25, max_retries=7, eval_timeout=9.0,
                            dashboard=True)
    ray = make_executor(config)  # Ray starts on first use, not here
    assert isinstance(ray, RayExecutor)
    assert (ray.address, ray.num_cpus, ray.cpus_per_eval, ray.gpus_per_eval, ray.max_retries,
            ray.eval_timeout, ray.dashboard) == ("auto", 2, 0.5, 0.25, 7, 9.0, True)
    assert SerialExecutor().parallelism() == 1  # no config: ExecutorConfig's defaults


# -- executor.address -------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["", "auto", "localhost:6379", "10.0.0.5:6379",
                                     "[::1]:6379", "head.example.org:1", "ray://head:10001"])
def test_well_formed_addresses_are_accepted(address):
    assert ExecutorConfig(address=address).address == address


@pytest.mark.parametrize("address, problem", [
    ("localhost", "no port"),
    ("host:notaport", "'notaport'"),
    ("host:0", "from 1 to 65535"),
    ("host:65536", "from 1 to 65535"),
    (":6379", "no host"),
    ("::1:6379", "in brackets"),
    ("http://head:8265", "ray://HOST:PORT only"),
    ("ray://head", "no port"),
])
def test_a_malformed_address_is_refused_naming_the_setting(address, problem):
    with pytest.raises(ValueError, match=r"^address must be") as caught:
        ExecutorConfig(address=address)
    assert problem in str(caught.value) and repr(address) in str(caught.value)
    with pytest.raises(ConfigError, match=r"^executor\.address must be"):
        ray_search(address=address)


def test_a_ray_client_address_needs_ray_client(monkeypatch):
    monkeypatch.setattr(ray_support, "client_missing", lambda: "cannot import grpc")
    with pytest.raises(ConfigError, match=r"executor\.address 'ray://head:10001' .*ray\[client\]"):
        check(ray_search(address="ray://head:10001"))
    monkeypatch.setattr(ray_support, "client_missing", lambda: None)
    check(ray_search(address="ray://head:10001"))


# -- executor.dashboard -----------------------------------------------------------------------
def test_the_dashboard_needs_ray_default(monkeypatch):
    monkeypatch.setattr(ray_support, "dashboard_missing", lambda: "cannot import aiohttp")
    with pytest.raises(ConfigError, match=r"executor\.dashboard .*aiohttp.*ray\[default\]"):
        check(ray_search(dashboard=True))
    check(ray_search(dashboard=False))  # not asked for: nothing to miss
    monkeypatch.setattr(ray_support, "dashboard_missing", lambda: None)
    check(ray_search(dashboard=True))


def test_the_dashboard_check_asks_ray_itself():
    """The check's answer is Ray's own: importable exactly when Ray's optional-deps module
    is (this environment may have either)."""
    try:
        import ray.dashboard.optional_deps  # noqa: F401
        installed = True
    except ImportError:
        installed = False
    assert (ray_support.dashboard_missing() is None) == installed


# -- reservations a local instance could never meet -------------------------------------------
def test_a_cpu_reservation_over_the_local_instance_is_refused(monkeypatch):
    with pytest.raises(ConfigError, match=r"executor\.cpus_per_eval is 2, .*"
                                          r"executor\.num_cpus \(1\)"):
        check(ray_search(num_cpus=1, cpus_per_eval=2.0))
    check(ray_search(num_cpus=2, cpus_per_eval=2.0))
    monkeypatch.setattr(ray_support.os, "cpu_count", lambda: 4)  # num_cpus 0: the machine's
    with pytest.raises(ConfigError, match="this machine's 4 CPUs"):
        check(ray_search(cpus_per_eval=5.0))
    check(ray_search(cpus_per_eval=4.0))
    check(ray_search(address="auto", cpus_per_eval=64.0))  # a cluster's nodes: known later


def test_a_gpu_reservation_without_a_local_gpu_is_refused(monkeypatch):
    cuda = {"training": {"device": "cuda"}, "executor": {"name": "ray", "gpus_per_eval": 0.5}}
    monkeypatch.setattr(ray_support, "local_gpus", lambda: 0)
    with pytest.raises(ConfigError, match=r"executor\.gpus_per_eval is 0\.5, .*no GPU"):
        check(override(SearchConfig(), cuda))
    check(override(SearchConfig(), {**cuda, "executor": {**cuda["executor"],
                                                         "address": "auto"}}))
    monkeypatch.setattr(ray_support, "local_gpus", lambda: 1)
    check(override(SearchConfig(), cuda))
    with pytest.raises(ConfigError, match="1 GPU that torch"):
        check(override(SearchConfig(), {**cuda, "executor": {"name": "ray",
                                                             "gpus_per_eval": 2.0}}))


def test_local_cpus_is_what_the_executor_starts_ray_with(monkeypatch):
    monkeypatch.setattr(ray_support.os, "cpu_count", lambda: 6)
    assert ray_support.local_cpus(0) == 6 and ray_support.local_cpus(2) == 2
