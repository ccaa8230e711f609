"""The built-in chip profiles. Every number comes from the publications and toolchains listed
in each profile's ``sources``; ``estimates`` lists the fields that are not published per-core
figures (derived, assumed, secondary or placeholders).

Loihi 1 is the exact, citable reference target; Loihi 2's per-core limits are not public,
so that profile is an estimate throughout.
"""

from __future__ import annotations

from evolve.hardware.profiles import CoreBudget

SANA_FE = "SANA-FE arch/loihi.yaml, https://github.com/SLAM-Lab/SANA-FE (from Davies 2018)"

LOIHI = CoreBudget(
    name="loihi",
    neurons_per_core=1024,
    axons_per_core=4096,
    output_axons_per_core=4096,
    synaptic_memory_bits_per_core=1_048_576,  # 16384 words x 64 bit
    packing="loihi",  # NxSDK: 60 synapses per entry, 14/20-bit prefixes, 64-bit words
    weight_bits=8,  # one synapse format; Loihi allows 1-9 bits (SANA-FE models 8)
    cores_per_chip=128,
    energy_per_synop_j=35.5e-12,  # SANA-FE calibrated (Davies 2018 minimum often quoted 23.6)
    energy_per_spike_j=76.8e-12,  # SANA-FE axon-out (spike message generation)
    energy_per_neuron_update_j=51.2e-12,  # SANA-FE inactive soma update
    time_step_s=1024 * 6.0e-9 + 299e-9,  # a full core's updates at 6.0 ns + 299 ns barrier
    sources=(
        "Davies et al., IEEE Micro 38(1) 2018, doi:10.1109/MM.2018.112130359",
        "nengo-loihi nengo_loihi/block.py: MAX_COMPARTMENTS 1024, MAX_IN_AXONS 4096, "
        "MAX_OUT_AXONS 4096, MAX_SYNAPSE_BITS 1048576",
        "NxTF nxsdk_modules_ncl/dnn/src/optimization.py ExclusionCriteria, "
        "https://github.com/intel-nrc-ecosystem/models",
        "NxSDK ResourceEstimatorDist synapse packing",
        SANA_FE,
    ),
    estimates=("weight_bits", "time_step_s"),
    notes="Per-core limits exact (two open toolchains agree). weight_bits is a choice (1-9 "
          "allowed). time_step_s is derived from SANA-FE event latencies, not measured. "
          "Energies are SANA-FE's calibrated per-event values; any 20-40 pJ/SOP is defensible.",
)

LOIHI2 = CoreBudget(
    name="loihi2",
    neurons_per_core=8192,  # ~1.15e9 neurons / 140,544 cores (Hala Point)
    synapses_per_core=900_000,  # ~128e9 synapses / 140,544 cores
    weight_bits=8,
    cores_per_chip=128,
    energy_per_synop_j=6.8e-12,  # 2600 W / 3.8e14 SOP/s (Hala Point peak, system average)
    energy_per_spike_j=76.8e-12 * 6.8 / 35.5,  # Loihi 1's, scaled by the SOP-energy ratio
    energy_per_neuron_update_j=51.2e-12 * 6.8 / 35.5,  # same scaling
    time_step_s=1024 * 6.0e-9 + 299e-9,  # Loihi 1's, for want of a published figure
    sources=(
        "open-neuromorphic.org Loihi 2 page (128 cores, 1 M neurons, 120 M synapses)",
        "eeNews Europe, Hala Point: 1,152 chips, 140,544 cores, 1.15 B neurons, 128 B "
        "synapses, 2,600 W, >380 T SOP/s",
    ),
    estimates=("neurons_per_core", "synapses_per_core", "weight_bits", "cores_per_chip",
               "energy_per_synop_j", "energy_per_spike_j", "energy_per_neuron_update_j",
               "time_step_s"),
    notes="ESTIMATES: Loihi 2 per-core limits are published only to INRC members. Per-core "
          "figures are Hala Point averages; no input-axon limit is modelled.",
)

TRUENORTH = CoreBudget(
    name="truenorth",
    neurons_per_core=256,
    axons_per_core=256,
    synaptic_memory_bits_per_core=256 * 256,  # binary crossbar
    weight_bits=1,  # binary synapse; the weight value comes from one of 4 axon types
    cores_per_chip=4096,
    fan_out_per_neuron=1,  # a spike goes to exactly one axon on one core
    fan_in_splitting=True,  # partial-sum neurons + merge stage (Esser 2016, corelets)
    fan_out_relays=True,  # splitter neurons
    energy_per_synop_j=2.3e-12,  # marginal energy per synaptic event (regression)
    energy_per_spike_j=2.3e-12,  # one inter-tile hop
    chip_power_w=0.042,  # static power of the regression at 0.8 V
    time_step_s=1e-3,  # real-time tick
    sources=(
        "Merolla et al., Science 345:668 (2014), doi:10.1126/science.1254642",
        "SANA-FE arch/truenorth.yaml: fan_in 256, fan_out 1",
        "Re-analysis of the Merolla 2014 0.8 V sweep: ~2.3 pJ/event marginal, ~42 mW static, "
        "~2.3 pJ/hop [secondary]",
        "Esser et al., PNAS 113(41) 2016 (grouped filters, splitting)",
    ),
    estimates=("energy_per_synop_j", "energy_per_spike_j", "chip_power_w"),
    notes="Core limits exact. Energies are the marginal regression values, not the 26 pJ "
          "average (which includes static power, modelled here as chip_power_w).",
)

SPINNAKER = CoreBudget(
    name="spinnaker",
    neurons_per_core=255,  # sPyNNaker's per-core limit (tunable)
    synaptic_memory_bits_per_core=128 * 2**20 * 8 // 16,  # 128 MB SDRAM shared by 16 cores
    weight_bits=16,
    synapse_overhead_bits=16,  # 32-bit synaptic word: weight + delay, type, neuron index
    cores_per_chip=16,  # application cores (18 ARM968, 2 for management)
    energy_per_synop_j=5.9e-6,  # whole-system energy per synaptic event, static included
    energy_per_spike_j=0.0,
    time_step_s=1e-3,  # sPyNNaker's default machine time step
    sources=(
        "Painkras et al., CICC 2012 (18 cores, 64 KB DTCM, 128 MB SDRAM)",
        "HBP guidebook mc/using_spiNNaker.rst: 255 neurons per core",
        "van Albada et al., Front. Neurosci. 12:291 (2018): ~5.9 uJ per synaptic event",
    ),
    estimates=("synaptic_memory_bits_per_core", "weight_bits", "synapse_overhead_bits",
               "energy_per_synop_j", "time_step_s"),
    notes="Synapses live in shared SDRAM, so the per-core memory is SDRAM/16 (an even "
          "share); the 32-bit synaptic word is sPyNNaker's row format [unverified]. The "
          "5.9 uJ/event includes everything, so spikes are free here. No axon limit.",
)

SPINNAKER2 = CoreBudget(
    name="spinnaker2",
    neurons_per_core=256,  # carried over from sPyNNaker (no SpiNNaker2 figure read)
    synaptic_memory_bits_per_core=128 * 1024 * 8,  # 128 kB SRAM per PE (19 MB / 152 PEs)
    weight_bits=16,
    synapse_overhead_bits=16,
    cores_per_chip=152,
    energy_per_synop_j=5.9e-6 / 10,  # SpiNNaker 1's, divided by the claimed ~10x per watt
    energy_per_spike_j=0.0,
    time_step_s=1e-3,
    sources=(
        "Hoeppner et al., arXiv:2103.08392 (152 PEs, 19 MB SRAM, 22 nm FDSOI)",
        "Mayr et al., arXiv:1911.02385 (~10x neural capacity per watt)",
    ),
    estimates=("neurons_per_core", "synaptic_memory_bits_per_core", "weight_bits",
               "synapse_overhead_bits", "energy_per_synop_j", "time_step_s"),
    notes="ESTIMATES apart from the PE count: all local SRAM is counted as synaptic memory "
          "(DRAM synapses would raise it), with SpiNNaker 1's synapse format.",
)

AKIDA = CoreBudget(
    name="akida",
    neurons_per_core=15_000,  # "1.2 M neurons" (marketing) / 80 NPUs
    synaptic_memory_bits_per_core=8 * 2**20 * 8 // 80,  # ~8 MB SRAM / 80 NPUs
    weight_bits=4,  # 1, 2 or 4 bits on AKD1000
    cores_per_chip=80,  # NPUs
    energy_per_synop_j=0.0,  # unpublished: energy is chip power x latency
    energy_per_spike_j=0.0,
    chip_power_w=0.030,  # ~30 mW
    time_step_s=1e-3,  # placeholder per-layer step; Akida is event-driven, use timesteps=1
    sources=(
        "BrainChip Akida docs, https://doc.brainchipinc.com/ (80 NPUs, 1/2/4-bit)",
        "open-neuromorphic.org Akida page (~8 MB SRAM, ~30 mW) [secondary]",
    ),
    estimates=("neurons_per_core", "synaptic_memory_bits_per_core", "weight_bits",
               "energy_per_synop_j", "energy_per_spike_j", "chip_power_w", "time_step_s"),
    notes="ESTIMATES apart from the NPU count: 1.2 M neurons / 10 B synapses are marketing "
          "figures. Energy is modelled as ~30 mW x chips x latency only.",
)

XYLO = CoreBudget(
    name="xylo",
    neurons_per_core=1000,  # hidden neurons (Xylo Audio 2)
    cores_per_chip=1,  # one SNN core: the chip is the core
    shared_cores=True,  # all hidden groups share the one core
    weight_bits=8,
    fan_out_per_neuron=64,  # max fan-out, in synapses (the mapper raises DRCError)
    fan_out_unit="synapses",
    input_channels=16,
    output_channels=8,  # dedicated output neurons
    energy_per_synop_j=0.0,  # unpublished per event: energy is power x latency
    energy_per_spike_j=0.0,
    chip_power_w=291e-6,  # measured dynamic inference power, keyword spotting
    time_step_s=1e-3,
    sources=(
        "rockpool Xylo overview, https://rockpool.ai/devices/xylo-overview.html (Audio 2: "
        "16 in, 1000 hidden, 8 out, max fan-out 64, 8-bit weights)",
        "Bos & Muir, arXiv:2406.15112 (2024): 291 uW dynamic inference power on Xylo Audio 2",
    ),
    estimates=("chip_power_w", "energy_per_synop_j", "energy_per_spike_j", "time_step_s"),
    notes="Limits exact (Xylo Audio 2). Hidden groups are pooled on the single core; output "
          "groups use the 8 output neurons. The 291 uW is one application's measured power, "
          "used as chip power.",
)

DYNAPSE = CoreBudget(
    name="dynapse",
    neurons_per_core=256,
    cores_per_chip=4,
    fan_in_per_neuron=64,  # CAM entries: presynaptic sources per neuron, cannot be split
    weight_bits=2,  # no per-synapse weight: a 2-bit choice of 4 synapse types
    energy_per_synop_j=30e-12,  # PLACEHOLDER (no per-event figure read)
    energy_per_spike_j=900e-12,  # PLACEHOLDER
    time_step_s=1e-3,  # analog continuous time: a 1 ms presentation bin
    sources=(
        "SynSense samna DYNAP-SE1 intro, https://synsense-sys-int.gitlab.io/samna/devkits/"
        "dynapSeSeries/dynapse1/contents/intro.html (4 cores x 256 neurons, 64 synapses per "
        "neuron, one parameter group per core)",
    ),
    estimates=("weight_bits", "energy_per_synop_j", "energy_per_spike_j", "time_step_s"),
    notes="Limits exact (DYNAP-SE1). All neurons of a core share one parameter group, so "
          "groups never share a core. Energies are placeholders: take per-event values "
          "from Moradi et al., IEEE TBioCAS 12(1) 2018, before relying on them.",
)

BUILTIN = (LOIHI, LOIHI2, TRUENORTH, SPINNAKER, SPINNAKER2, AKIDA, XYLO, DYNAPSE)
