"""The hardware-profile contract: :class:`CoreBudget`, the registry, and TOML profiles.

A profile is data, not code: the per-core limits of one neuromorphic chip, its energy and
time constants, the sources they come from and which of them are estimates. ``cost()`` in
:mod:`evolve.hardware.cost` is the only consumer; users add a chip by building a
``CoreBudget`` (or writing a TOML file) and calling :func:`register_profile`.

>>> from evolve.hardware import CoreBudget, get_profile, register_profile
>>> get_profile("loihi").neurons_per_core
1024
>>> chip = CoreBudget(name="toy", neurons_per_core=64, cores_per_chip=4, weight_bits=8,
...                   energy_per_synop_j=1e-12, energy_per_spike_j=1e-11, time_step_s=1e-3,
...                   axons_per_core=128, sources=("made up for a doctest",))
>>> register_profile(chip, overwrite=True).describe()["neurons_per_chip"]
256
"""

from __future__ import annotations

import math
import numbers
import sys
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from evolve.messages import shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ProfileError(ValueError):
    """A hardware profile is malformed; the message names the field (and the file)."""


PACKINGS = ("dense", "loihi")
FAN_OUT_UNITS = ("cores", "synapses")
LATENCY_MODELS = ("pipelined", "layered")


@dataclass(frozen=True)
class CoreBudget:
    """Per-core budget of one neuromorphic chip. ``None`` means "no such limit"."""

    name: str
    neurons_per_core: int  # C: neurons (compartments) one core holds
    cores_per_chip: int  # cores (NPUs, PEs) on one chip
    weight_bits: int  # b: stored bits per synaptic weight
    energy_per_synop_j: float  # e_sop: one synaptic event (a spike reaching one synapse)
    energy_per_spike_j: float  # e_spike: one spike sent by a neuron on a core
    time_step_s: float  # wall time of one time step (tick)
    axons_per_core: int | None = None  # A_in: distinct presynaptic neurons a core can receive
    synapses_per_core: int | None = None  # S: synapses one core stores
    synaptic_memory_bits_per_core: int | None = None  # M: synaptic memory of one core
    synapse_overhead_bits: int = 0  # bits stored with each synapse besides the weight
    packing: str = "dense"  # synaptic-memory layout: "dense" (n*(b+overhead)) or "loihi"
    output_axons_per_core: int | None = None  # A_out: sum over neurons of destination cores
    fan_in_per_neuron: int | None = None  # synapses into one neuron
    fan_out_per_neuron: int | None = None  # destinations of one neuron (None = unlimited)
    fan_out_unit: str = "cores"  # what fan_out_per_neuron counts: "cores" or "synapses"
    fan_in_splitting: bool = False  # too-wide fan-in -> partial-sum neurons + merge stage
    fan_out_relays: bool = False  # too-wide fan-out -> splitter (relay) neurons
    shared_cores: bool = False  # groups may share cores (cores counted as a pooled bound)
    input_channels: int | None = None  # input neurons the chip's interface takes
    output_channels: int | None = None  # dedicated output neurons (outputs use no core)
    energy_per_neuron_update_j: float = 0.0  # e_nu: one neuron updated for one time step
    chip_power_w: float = 0.0  # P: power drawn per chip regardless of activity
    latency_model: str = "pipelined"  # "pipelined" (T+D-1 steps) or "layered" (T*D steps)
    sources: tuple[str, ...] = ()
    estimates: tuple[str, ...] = ()  # names of the fields above that are estimates
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("sources", "estimates"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        # numbers computed with numpy become Python's own: to_toml writes repr(), and
        # repr(np.float64(1e-11)) is "np.float64(1e-11)", which no TOML reader takes back
        for name in NUMERIC_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool):
                continue
            if isinstance(value, numbers.Integral):
                if type(value) is not int:
                    object.__setattr__(self, name, int(value))
            elif isinstance(value, numbers.Real) and type(value) is not float:
                object.__setattr__(self, name, float(value))
        _validate(self)

    def axon_bits(self, targets: int) -> int:
        """Synaptic-memory bits one input axon uses to reach ``targets`` neurons on a core.

        ``dense``: targets * (weight_bits + synapse_overhead_bits).
        ``loihi``: the NxSDK resource estimator's packing: synapse entries of
        up to 60 synapses with a 14-bit prefix (20 bits for the last, partial entry) in
        64-bit words, plus one word (the compiler inserts an empty word when aligned):
        ``bits = 64 * ((targets*b + 14*floor(targets/60) + 20) // 64 + 1)``.
        """
        if targets <= 0:
            return 0
        if self.packing == "loihi":
            raw = targets * self.weight_bits + 14 * (targets // 60) + 20
            return 64 * (raw // 64 + 1)
        return targets * (self.weight_bits + self.synapse_overhead_bits)

    def describe(self) -> dict[str, Any]:
        """The key numbers, in SI units, for a ``neurevo budgets`` listing."""
        return {
            "name": self.name,
            "neurons_per_core": self.neurons_per_core,
            "axons_per_core": self.axons_per_core,
            "synapses_per_core": self.synapses_per_core,
            "synaptic_memory_bits_per_core": self.synaptic_memory_bits_per_core,
            "weight_bits": self.weight_bits,
            "cores_per_chip": self.cores_per_chip,
            "neurons_per_chip": self.neurons_per_core * self.cores_per_chip,
            "fan_in_per_neuron": self.fan_in_per_neuron,
            "fan_out_per_neuron": self.fan_out_per_neuron,
            "energy_per_synop_j": self.energy_per_synop_j,
            "energy_per_spike_j": self.energy_per_spike_j,
            "time_step_s": self.time_step_s,
            "chip_power_w": self.chip_power_w,
            "estimates": list(self.estimates),
        }


# -- validation ---------------------------------------------------------------------------
_POSITIVE_INTS = ("neurons_per_core", "cores_per_chip", "weight_bits")
_OPTIONAL_POSITIVE_INTS = (
    "axons_per_core", "synapses_per_core", "synaptic_memory_bits_per_core",
    "output_axons_per_core", "fan_in_per_neuron", "fan_out_per_neuron", "input_channels",
    "output_channels",
)
_PER_EVENT_ENERGIES = ("energy_per_synop_j", "energy_per_spike_j", "energy_per_neuron_update_j")
_NON_NEGATIVE_FLOATS = (*_PER_EVENT_ENERGIES, "chip_power_w")
MAX_ENERGY_PER_EVENT_J = 1e-3
"""The most one synaptic event, spike or neuron update may cost, in joules: 1 mJ, about 170
times the costliest real figure (SpiNNaker's 5.9 uJ whole-system energy per synaptic event)
and far below any per-event energy written in picojoules (35.5 pJ typed as ``35.5``), which
would otherwise price every network 10^12 times too high without a word."""
_TEXT_FIELDS = ("name", "sources", "notes")
_BOOLS = ("fan_in_splitting", "fan_out_relays", "shared_cores")
_CHOICES = {"packing": PACKINGS, "fan_out_unit": FAN_OUT_UNITS, "latency_model": LATENCY_MODELS}
NUMERIC_FIELDS = (*_POSITIVE_INTS, *_OPTIONAL_POSITIVE_INTS, "synapse_overhead_bits",
                  *_NON_NEGATIVE_FLOATS, "time_step_s")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(p: CoreBudget) -> None:
    def bad(name: str, why: str) -> ProfileError:
        return ProfileError(f"profile {p.name!r}: field {name!r} {why}, got {getattr(p, name)!r}")

    if not isinstance(p.name, str) or not p.name.strip():
        raise ProfileError(f"profile field 'name' must be a non-empty string, got {p.name!r}")
    for name in _POSITIVE_INTS + _OPTIONAL_POSITIVE_INTS:
        value = getattr(p, name)
        if value is None and name in _OPTIONAL_POSITIVE_INTS:
            continue
        if not _is_int(value):
            raise bad(name, "must be an integer")
        if value < 1:
            raise bad(name, "must be >= 1")
    if not _is_int(p.synapse_overhead_bits) or p.synapse_overhead_bits < 0:
        raise bad("synapse_overhead_bits", "must be an integer >= 0")
    for name in (*_NON_NEGATIVE_FLOATS, "time_step_s"):
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(name, "must be a number")
        if not math.isfinite(value) or value < 0:
            raise bad(name, "must be a finite number >= 0")
    if p.time_step_s <= 0:
        raise bad("time_step_s", "must be > 0")
    for name in _PER_EVENT_ENERGIES:
        value = getattr(p, name)
        if value > MAX_ENERGY_PER_EVENT_J:
            raise bad(name, f"is in joules per event and must be <= {MAX_ENERGY_PER_EVENT_J:g} "
                      f"(no chip spends 1 mJ per event; if this is {value:g} pJ, write "
                      f"{value * 1e-12:g})")
    for name in _BOOLS:
        if not isinstance(getattr(p, name), bool):
            raise bad(name, "must be true or false")
    for name, choices in _CHOICES.items():
        if getattr(p, name) not in choices:
            raise bad(name, f"must be one of {list(choices)}")
    for name in ("sources", "estimates"):
        value = getattr(p, name)
        if not isinstance(value, tuple) or not all(isinstance(s, str) for s in value):
            raise bad(name, "must be a list of strings")
    unknown = [e for e in p.estimates if e not in NUMERIC_FIELDS]
    if unknown:
        raise bad("estimates", f"names fields that are not numbers of a profile ({unknown})")
    if not isinstance(p.notes, str):
        raise bad("notes", "must be a string")
    _check_encodable(p)


def _check_encodable(p: CoreBudget) -> None:
    """Refuse text that UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``, left by
    decoding bytes with ``errors="surrogateescape"``): a run writes the profile to
    profile.toml, whose ``\\ud800`` escape no TOML reader takes back, so the run could not be
    resumed. Refused here, the field is named before anything is written."""
    for name in _TEXT_FIELDS:
        value = getattr(p, name)
        texts = value if isinstance(value, tuple) else (value,)
        for index, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                where = f"{name}[{index}]" if isinstance(value, tuple) else name
                raise ProfileError(
                    f"profile {p.name!r}: field {where!r} holds the lone surrogate "
                    f"{ascii(text[exc.start])} at character {exc.start}, which UTF-8 (and so "
                    f"a TOML profile file) cannot encode; expected text of whole characters"
                ) from None


# -- registry -----------------------------------------------------------------------------
_PROFILES: dict[str, CoreBudget] = {}


def register_profile(profile: CoreBudget, *, overwrite: bool = False) -> CoreBudget:
    """Make ``profile`` available by name; refuses to replace one unless ``overwrite``."""
    if not isinstance(profile, CoreBudget):
        raise TypeError(f"register_profile takes a CoreBudget, got {type(profile).__name__}")
    if profile.name in _PROFILES and not overwrite and _PROFILES[profile.name] != profile:
        raise ProfileError(
            f"a hardware profile named {profile.name!r} exists; pass overwrite=True to replace it"
        )
    _PROFILES[profile.name] = profile
    return profile


def get_profile(name: str | CoreBudget) -> CoreBudget:
    """The registered profile ``name`` (a ``CoreBudget`` is passed through)."""
    if isinstance(name, CoreBudget):
        return name
    if not isinstance(name, str):  # a dict of fields or a list would fail as "unhashable"
        raise TypeError(f"a hardware profile is a registered name or a CoreBudget, got "
                        f"{type(name).__name__} {shown(name)}")
    try:
        return _PROFILES[name]
    except KeyError:
        # the name is a file, which would otherwise look ignored: a search reads
        # hardware.profile as a file only if it ends in .toml (not chip.TOML, chip.txt),
        # and get_profile/cost never read one
        hint = ""
        if Path(name).is_file():
            hint = ("; read a profile file with load_profile(path)" if name.endswith(".toml")
                    else "; a profile file is read only if its name ends in .toml")
        raise ProfileError(
            f"unknown hardware profile {name!r}; available: {available_profiles()}{hint}"
        ) from None


def resolve_profile(name_or_path: str) -> CoreBudget:
    """What ``hardware.profile`` (``--hardware``) names: a TOML profile file when it ends in
    ``.toml``, else a registered profile. One home, so ``neurevo budgets PROFILE`` shows
    exactly the numbers a search would price with."""
    if name_or_path.endswith(".toml"):
        return load_profile(name_or_path)
    return get_profile(name_or_path)


def available_profiles() -> list[str]:
    return sorted(_PROFILES)


# -- TOML ---------------------------------------------------------------------------------
_FIELDS = {f.name: f for f in fields(CoreBudget)}
REQUIRED_KEYS = tuple(
    n for n, f in _FIELDS.items() if f.default is MISSING and f.default_factory is MISSING
)


def load_profile(path: str | Path) -> CoreBudget:
    """Read a profile from a TOML file of ``key = value`` lines (see docs/hardware.md).

    Unknown keys, missing required keys and out-of-range values raise :class:`ProfileError`
    naming the field and the file. Optional limits are left out to mean "no limit".
    The profile is returned, not registered: pass it to :func:`register_profile`.
    """
    path = Path(path)
    if path.is_dir():  # "does not exist" would send the user looking for a missing file
        raise ProfileError(f"profile file {str(path)!r} is a directory, not a TOML file")
    if not path.is_file():
        raise ProfileError(f"profile file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile file {str(path)!r} is not UTF-8 text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile file {str(path)!r} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ProfileError(
            f"profile file {str(path)!r}: unknown field {unknown[0]!r} "
            f"(known: {', '.join(_FIELDS)})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ProfileError(f"profile file {str(path)!r}: missing required field {missing[0]!r}")
    try:
        return CoreBudget(**data)
    except ProfileError as exc:
        raise ProfileError(f"profile file {str(path)!r}: {exc}") from None


def to_toml(profile: CoreBudget) -> str:
    """``profile`` as a TOML file that :func:`load_profile` reads back to an equal profile."""
    lines = []
    for name in _FIELDS:
        value = getattr(profile, name)
        if value is None:
            continue  # TOML has no null: a missing optional limit means "no limit"
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, tuple):
            text = "[" + ", ".join(_toml_string(v) for v in value) + "]"
        else:
            text = _toml_string(value)
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """``text`` as an ASCII TOML basic string. Not ``json.dumps``: JSON writes a character
    beyond U+FFFF (an emoji in ``notes``) as a surrogate pair of ``\\u`` escapes, which TOML
    refuses, so a run's profile.toml would not read back and the run could not be resumed.
    TOML's ``\\U`` escape takes the whole code point; every other non-ASCII or control
    character is a ``\\u`` escape, so the file reads back whatever encoding wrote it."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        elif code < 0x20 or code >= 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
