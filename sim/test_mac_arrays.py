"""`pytest sim/`: every configuration's generated Verilog, simulated by Verilator under cocotb, is
bit-exact against the golden model (see sim/tb_mac_array.py for what each cocotb test drives).

Seeds are fixed per configuration; ``BITNET_SIM_SEED=<n>`` replays a failure with another seed, ``WAVES=1``
records a waveform (``dump.vcd`` in the run folder named in the log), ``BITNET_SIM_MACS`` sets the size of
the random test (default one million multiply-accumulates per configuration; the FP16 configurations run
fewer, :data:`CONFIG_MACS`, as their reference model is slower).
"""

from __future__ import annotations

import zlib

import pytest

import hw.fp16
from hw.generate import verilog_for
from hw.params import ArrayParams
from sim.faults import sign_error_verilog
from sim.runner import SimulationFailure, run_array
from sim.settings import macs_overridden

CONFIGS = {
    "t_n1_m4_signed_p0_stream": ArrayParams(
        "ternary", 1, 4, max_k=256, pipeline=0, tree="signed", dataflow="stream"
    ),
    "t_n3_m4_split_full_stream": ArrayParams("ternary", 3, 4, max_k=1024, pipeline="full", tree="split"),
    "t_n16_m16_signed_full_stationary": ArrayParams(
        "ternary", 16, 16, max_k=4096, pipeline="full", tree="signed", dataflow="stationary"
    ),
    "t_n64_m8_signed_p0_stream": ArrayParams("ternary", 64, 8, max_k=16384, pipeline=0, tree="signed"),
    "t_n64_m8_split_p2_stationary": ArrayParams(
        "ternary", 64, 8, max_k=16384, pipeline=2, tree="split", dataflow="stationary"
    ),
    "t_n256_m1_split_full_stationary": ArrayParams(
        "ternary", 256, 1, max_k=16384, pipeline="full", tree="split", dataflow="stationary"
    ),
    "t_n16_m4_deferred_full_stream": ArrayParams(
        "ternary", 16, 4, max_k=4096, pipeline="full", tree="deferred"
    ),
    # M = 2: the rows are copies, and at M = 8 Verilator writes 35 MB of C++ for it (minutes to compile)
    "t_n64_m2_csa_p1_stationary": ArrayParams(
        "ternary", 64, 2, max_k=16384, pipeline=1, tree="csa", dataflow="stationary"
    ),
    "lut_g3_n64_m8_p0_stream": ArrayParams("ternary-lut", 64, 8, max_k=16384, group=3),  # 64 = 21 * 3 + 1
    "lut_g2_n16_m4_full_stationary": ArrayParams(
        "ternary-lut", 16, 4, max_k=4096, pipeline="full", dataflow="stationary", group=2
    ),
    "lut_g4_n12_m4_csa_p1_stream": ArrayParams(
        "ternary-lut", 12, 4, max_k=4096, pipeline=1, tree="csa", group=4
    ),
    "lut_g5_n7_m2_full_stream": ArrayParams("ternary-lut", 7, 2, max_k=512, pipeline="full", group=5),
    "i8_n16_m4_full_stream": ArrayParams("int8", 16, 4, max_k=4096, pipeline="full"),
    "i8_n8_m2_csa_full_stationary": ArrayParams(
        "int8", 8, 2, max_k=1024, pipeline="full", tree="csa", dataflow="stationary"
    ),
    "i8_n3_m1_p0_stationary": ArrayParams("int8", 3, 1, max_k=512, pipeline=0, dataflow="stationary"),
    "fp16_n16_m4_full_stream": ArrayParams("fp16", 16, 4, max_k=4096, pipeline="full"),
    "fp16_n3_m1_p0_stationary": ArrayParams("fp16", 3, 1, max_k=512, pipeline=0, dataflow="stationary"),
}
#: Random multiply-accumulates of the configurations that do not run the default (unless BITNET_SIM_MACS
#: is set): the binary16 reference computes beat by beat in NumPy.
CONFIG_MACS = {"fp16_n16_m4_full_stream": 300_000, "fp16_n3_m1_p0_stationary": 60_000}
LAYER_CONFIGS = ["t_n64_m8_signed_p0_stream", "t_n64_m8_split_p2_stationary", "lut_g3_n64_m8_p0_stream"]
ARRAY_TESTS = [
    "test_directed_corners",
    "test_random_with_gaps_and_backpressure",
    "test_full_throughput",
    "test_reset_mid_reduction",
]


def config_seed(name: str) -> int:
    return zlib.crc32(name.encode()) % 100_000


def config_macs(name: str) -> int | None:
    """The random MACs the runner gets for a configuration: :data:`CONFIG_MACS` or None (the runner's
    default), and None whenever the user set ``BITNET_SIM_MACS``, which then sizes every configuration."""
    return None if macs_overridden() else CONFIG_MACS.get(name)


@pytest.mark.parametrize("name", CONFIGS)
def test_array_is_bit_exact(name):
    report = run_array(
        CONFIGS[name],
        tests=ARRAY_TESTS,
        seed=config_seed(name),
        macs=config_macs(name),
        run_name=f"array-{name}",
    )
    assert report.passed == ARRAY_TESTS


@pytest.mark.parametrize("name", LAYER_CONFIGS)
def test_bitlinear_layer_tiled_over_the_array(name):
    report = run_array(
        CONFIGS[name],
        tests=["test_bitlinear_layer"],
        seed=config_seed(name),
        layer=True,
        run_name=f"layer-{name}",
    )
    assert report.passed == ["test_bitlinear_layer"]


def assert_caught(name: str, test: str, broken: str, run_name: str) -> None:
    """Run cocotb test ``test`` of configuration ``name`` on the ``broken`` Verilog: it must fail with a
    mismatch that names the configuration, the seed and the beat."""
    params = CONFIGS[name]
    with pytest.raises(SimulationFailure, match=r"expected -?\d+ got -?\d+") as failure:
        run_array(
            params, tests=[test], seed=config_seed(name), macs=20_000, verilog=broken, run_name=run_name
        )
    message = str(failure.value)
    assert params.default_name() in message and "seed" in message and "beat" in message


@pytest.mark.parametrize(
    ("name", "test"),
    [
        ("t_n3_m4_split_full_stream", "test_random_with_gaps_and_backpressure"),
        ("t_n16_m16_signed_full_stationary", "test_directed_corners"),
        ("i8_n16_m4_full_stream", "test_reset_mid_reduction"),
        ("lut_g2_n16_m4_full_stationary", "test_random_with_gaps_and_backpressure"),
        ("lut_g3_n64_m8_p0_stream", "test_directed_corners"),
        ("t_n16_m4_deferred_full_stream", "test_random_with_gaps_and_backpressure"),
    ],
)
def test_a_sign_error_in_one_lane_is_caught(name, test):
    params = CONFIGS[name]
    broken = sign_error_verilog(params, lane=params.lanes - 1)
    assert_caught(name, test, broken, f"broken-{name}")


@pytest.mark.parametrize(
    ("name", "test"),
    [
        ("fp16_n3_m1_p0_stationary", "test_random_with_gaps_and_backpressure"),
        ("fp16_n3_m1_p0_stationary", "test_directed_corners"),
    ],
)
def test_an_fp16_rounding_error_is_caught(name, test, monkeypatch):
    """The FP16 array with round-half-away-from-zero instead of ties-to-even in every multiplier and adder:
    the scoreboard reports the first wrong sum (bit patterns) with its configuration, seed and beat."""
    params = CONFIGS[name]
    monkeypatch.setattr(hw.fp16, "round_increment", lambda lsb, guard, sticky: guard)
    broken = verilog_for(params)
    monkeypatch.undo()
    assert broken != verilog_for(params)
    assert_caught(name, test, broken, f"round-{test}")
