"""``python -m energy.gates``: area and energy per MAC of a generated array on ASAP7 cells.

``python -m energy.gates --array {ternary,int8,fp16} [array parameters]`` runs
:func:`energy.gates.measure.measure_array` (synthesis, a gate-level simulation on realistic data checked
bit-exactly against the golden model, liberty power tables) and prints the area, the cells, a
critical-path estimate, whether the netlist is proven equivalent to its RTL (``netlist equivalent to RTL:
proven / FAILED / not proven / not checked: reason``, :mod:`energy.gates.equivalence`, within
``--equivalence-timeout-s``), and the energy per MAC split into combinational, sequential and leakage.
``--operands model[:DIR]`` measures on a trained model's operands of one projection type
(:mod:`energy.gates.model_operands`) instead of Gaussian ones. ``--activity timing`` counts every
transition with the liberty's delays (glitches included; :mod:`energy.gates.timed`) and also prints the
same run without its glitches; ``--wire-load on`` and ``--clock-tree on`` add the modelled wires and clock
tree (:mod:`energy.gates.parasitics`).

``python -m energy.gates --verilog FILE --top NAME [--cycles C] [--stimulus CSV]`` prices any module
instead (:mod:`energy.gates.module`): synthesized on the same flow, simulated on random inputs (or the
CSV's values) and priced, with the registers and the logic reported apart. Bad options print one line and
exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from energy.gates.equivalence import add_settings_arguments, settings_from_arguments
from energy.gates.measure import DEFAULT_BEATS, ENGINES, GateMeasurement, measure_array
from energy.gates.model_operands import DEFAULT_PROJECTION, parse_operands
from energy.gates.module import DEFAULT_CYCLES, ModuleMeasurement, measure_module
from energy.gates.physics import PhysicsSettings
from energy.gates.power import DEFAULT_CLOCK_PS, DEFAULT_SLEW_PS, EnergySettings
from energy.gates.realistic import check_zero
from energy.gates.synth import FlowSettings
from hw.generate import add_array_arguments, option_name, option_type, params_from_arguments
from model.cli import (
    OneLineErrorParser,
    fail,
    non_negative_int,
    positive_float,
    positive_int,
)
from model.data import DEFAULT_DATA
from model.operands import PROJECTION_TYPES


def _zero(text: str) -> str:
    try:
        return check_zero(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("zero must be ")) from None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m energy.gates",
        description="Area and energy per MAC of a generated array on ASAP7 cells (synthesis, gate-level "
        "simulation on realistic data checked against the golden model, liberty power tables).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_array_arguments(parser)
    parser.add_argument("--pdk", help="ASAP7 folder (default $BITNET_ASAP7_DIR or shared/pdk/asap7)")
    parser.add_argument(
        "--beats", type=positive_int, default=DEFAULT_BEATS, help="beats in the measured window"
    )
    parser.add_argument(
        "--zero", type=_zero, default="gaussian", help="weight zeros: 'gaussian' or a fraction"
    )
    parser.add_argument(
        "--operands",
        default="gaussian",
        help="'gaussian' (with --zero), or 'model[:DIR[,TWIN]]': a trained model's operands of one "
        "projection type on held-out text (default the bundled checkpoint and its twin; "
        "energy.gates.model_operands)",
    )
    parser.add_argument(
        "--projection", choices=PROJECTION_TYPES, default=DEFAULT_PROJECTION, help="with --operands model"
    )
    parser.add_argument(
        "--layer",
        type=non_negative_int,
        default=None,
        help="decoder layer with --operands model (default: the middle)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="with --operands model: the training text whose held-out split the model reads",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data")
    parser.add_argument(
        "--slew-ps", type=positive_float, default=DEFAULT_SLEW_PS, help="input transition for tables"
    )
    parser.add_argument(
        "--clock-ps", type=positive_float, default=DEFAULT_CLOCK_PS, help="clock period for leakage"
    )
    parser.add_argument("--abc-clock-ps", type=positive_float, default=None, help="delay target for abc -D")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="numpy",
        help="gate-level simulator: NumPy (fast) or cocotb + Verilator on cell models (slow, same toggles)",
    )
    add_settings_arguments(parser)
    add_physics_arguments(parser)
    add_module_arguments(parser)
    return parser


def add_physics_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per field of :class:`energy.gates.physics.PhysicsSettings`: ``--activity``,
    ``--wire-load``, ``--clock-tree``."""
    for item in dataclasses.fields(PhysicsSettings):
        parser.add_argument(
            option_name(item),
            type=option_type(item.metadata["parse"]),
            default=item.default,
            help=item.metadata["help"],
        )


def physics_from_arguments(args: argparse.Namespace) -> PhysicsSettings:
    return PhysicsSettings(
        **{item.name: getattr(args, item.name) for item in dataclasses.fields(PhysicsSettings)}
    )


def add_module_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--verilog``: pricing a user's module instead of a generated array."""
    parser.add_argument(
        "--verilog",
        type=Path,
        default=None,
        help="price this Verilog file's module --top instead of a generated array (random inputs, or "
        "--stimulus; energy.gates.module)",
    )
    parser.add_argument("--top", default=None, help="with --verilog: the module to price")
    parser.add_argument(
        "--cycles", type=positive_int, default=DEFAULT_CYCLES, help="with --verilog: priced cycles"
    )
    parser.add_argument(
        "--stimulus",
        type=Path,
        default=None,
        help="with --verilog: a CSV of input values per cycle (a header of port names; other inputs random)",
    )


def format_measurement(m: GateMeasurement) -> str:
    per_mac = m.energy.per_mac_pj()
    lines = [
        f"{m.synth.top}: {m.params['rows']} rows x {m.params['lanes']} lanes",
        f"area {m.synth.area_um2:.1f} um^2 ({m.synth.area_um2 / (m.params['lanes'] * m.params['rows']):.3f} "
        f"um^2 per MAC lane), {m.synth.cell_count} cells, sequential {m.synth.sequential_area_um2:.1f} um^2",
        "cells: "
        + ", ".join(f"{n.removesuffix('_ASAP7_75t_R')} {c}" for n, c in sorted(m.synth.cells.items())),
        "critical path (estimate: liberty tables, no slew propagation or wires): "
        f"{m.critical_path_ps:.0f} ps",
        f"window: {m.activity['beats']} beats, {m.activity['macs']} MACs of {m.activity['operands']} "
        f"operands, weight zero fraction {m.activity['zero_fraction']:.3f}, activation zero fraction "
        f"{m.activity.get('activation_zero_fraction', float('nan')):.3f}, toggle rate "
        f"{m.activity['toggle_rate']:.3f}, all {m.activity['outputs']} outputs bit-exact "
        f"(gate-level simulation: {m.activity['engine']})",
        m.equivalence.line() + (" (cached)" if m.equivalence.cached else ""),
        "run time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m.seconds.items()),
        f"energy per MAC (pJ, {m.physics.label}): " + ", ".join(f"{k} {v:.5f}" for k, v in per_mac.items()),
    ]
    if m.settled_energy is not None:
        settled = m.settled_energy.per_mac_pj()["total"]
        lines.append(
            f"glitches: {100 * m.activity['glitch_share']:.1f}% of the logic's transitions; without them "
            f"{settled:.5f} pJ per MAC (x{per_mac['total'] / settled:.3f} with them)"
        )
    if m.clock_tree is not None:
        tree = m.clock_tree
        lines.append(
            f"clock tree (a model): {tree.buffers} buffers in {len(tree.levels)} levels for "
            f"{tree.clock_pins} clock pins, {tree.area_um2:.2f} um^2, leaf slew {tree.leaf_slew_ps:.1f} ps, "
            f"{m.energy.details['clock_tree'] * 1e-3 / m.energy.macs:.5f} pJ per MAC"
        )
    if m.energy.by_block:
        lines.append(
            "energy per MAC by block (pJ): "
            + ", ".join(f"{k} {v * 1e-3 / m.energy.macs:.5f}" for k, v in m.energy.by_block.items())
        )
    return "\n".join(lines)


def format_module(m: ModuleMeasurement) -> str:
    per_op = m.energy.per_mac_pj()
    ports = m.energy.details.get("input_ports", 0.0) * 1e-3 / m.cycles
    inputs = ", ".join(f"{name} [{width}]" for name, width in m.inputs.items())
    return "\n".join(
        [
            f"{m.top}: area {m.synth.area_um2:.2f} um^2, {m.synth.cell_count} cells "
            f"({m.flip_flops} flip-flops), "
            f"sequential {m.synth.sequential_area_um2:.2f} um^2",
            "cells: "
            + ", ".join(f"{n.removesuffix('_ASAP7_75t_R')} {c}" for n, c in sorted(m.synth.cells.items())),
            "critical path (estimate: liberty tables, no slew propagation or wires): "
            f"{m.critical_path_ps:.0f} ps",
            f"window: {m.cycles} cycles, inputs {inputs}, toggle rate {m.toggle_rate:.3f}",
            "run time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m.seconds.items()),
            f"energy per cycle (pJ): total {per_op['total']:.5f} = "
            f"logic {per_op['combinational'] - ports:.5f} "
            f"(cells alone {m.logic_cells_pj():.5f}) + registers {per_op['sequential']:.5f} + input ports "
            f"{ports:.5f} + leakage {per_op['leakage']:.5f}",
        ]
    )


def _main_module(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.top is None:
        fail(parser.prog, "--top: the module to price is required with --verilog")
    try:
        verilog = args.verilog.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        fail(parser.prog, f"--verilog: cannot read {args.verilog}: {reason}")
    try:
        measurement = measure_module(
            verilog,
            args.top,
            cycles=args.cycles,
            seed=args.seed,
            stimulus=args.stimulus,
            pdk=args.pdk,
            settings=EnergySettings(args.slew_ps, args.clock_ps),
            flow=FlowSettings(clock_ps=args.abc_clock_ps),
        )
    except (TypeError, ValueError, RuntimeError) as error:
        fail(parser.prog, str(error))
    print(format_module(measurement))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verilog is not None:
        return _main_module(parser, args)
    try:
        params = params_from_arguments(args)
        settings = EnergySettings(args.slew_ps, args.clock_ps)
        measurement = measure_array(
            params,
            pdk=args.pdk,
            beats=args.beats,
            zero=args.zero,
            seed=args.seed,
            settings=settings,
            flow=FlowSettings(clock_ps=args.abc_clock_ps),
            engine=args.engine,
            operands=parse_operands(args.operands, args.projection, args.layer, args.data),
            equivalence=settings_from_arguments(args),
            physics=physics_from_arguments(args),
        )
    except (TypeError, ValueError) as error:
        fail(parser.prog, str(error))
    print(format_measurement(measurement))
    return 0


if __name__ == "__main__":
    sys.exit(main())
