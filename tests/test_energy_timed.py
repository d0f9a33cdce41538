"""Timing-aware activity (energy.gates.timed): glitches counted by hand, the liberty's delays, and the
zero-delay limit."""

import numpy as np
import pytest

from energy.gates.circuit import Circuit
from energy.gates.delays import FixedDelays, LibertyDelays
from energy.gates.gatesim import GateSimulator, simulate
from energy.gates.liberty import read_library
from energy.gates.netlist import read_netlist
from energy.gates.realistic import activity_stimulus
from energy.gates.synth import MAPPING_CELLS, synthesize
from energy.gates.timed import TimedSimulator
from hw.generate import verilog_for
from hw.params import ArrayParams

XOR, BUF, INV = "XOR2xp5_ASAP7_75t_R", "BUFx2_ASAP7_75t_R", "INVx1_ASAP7_75t_R"
#: Hand-countable delays: every XOR 5 ps, every buffer 2 ps.
HAND = FixedDelays({XOR: 5.0, BUF: 2.0})


@pytest.fixture(scope="module")
def library():
    return read_library(MAPPING_CELLS)


def netlist(tmp_path, body: str, inputs: str, outputs: str, wires: str):
    path = tmp_path / "t.v"

    def names(text: str) -> list[str]:
        return [name.strip() for name in text.split(",") if name.strip()]

    ports = ", ".join(names(inputs) + names(outputs))
    declarations = [
        f"  {kind} {name};"
        for kind, text in (("input", inputs), ("output", outputs), ("wire", wires))
        for name in names(text)
    ]
    path.write_text("\n".join([f"module t({ports});", *declarations, body, "endmodule", ""]))
    return read_netlist(path, "t")


def xor_chain(tmp_path, library, delays=HAND) -> TimedSimulator:
    """x1 = a ^ b, x2 = x1 ^ c, x3 = x2 ^ d: an unbalanced chain, d nearest the output."""
    body = "\n".join(
        [
            f"  {XOR} g1 (.A(a), .B(b), .Y(x1));",
            f"  {XOR} g2 (.A(x1), .B(c), .Y(x2));",
            f"  {XOR} g3 (.A(x2), .B(d), .Y(x3));",
        ]
    )
    return TimedSimulator(Circuit(netlist(tmp_path, body, "a, b, c, d", "x3", "x1, x2"), library), delays)


def step(simulator: TimedSimulator, **inputs: int) -> None:
    for name, value in inputs.items():
        simulator.values[simulator.port(name)] = bool(value)
    simulator.settle()


def times(simulator: TimedSimulator, net: str) -> list[float]:
    return [t for t, _ in simulator.waveform(net)]


def test_an_unbalanced_xor_chain_glitches_as_counted_by_hand(tmp_path, library):
    """All inputs change at 0 ps; each XOR takes 5 ps. a alone: one transition per stage, 5 ps apart.
    a and d: x3 first follows d (5 ps), then x2 arrives (10 ps) and x3 turns back (15 ps): a glitch.
    a, c and d: x2 changes at 5 (c) and 10 (x1), x3 at 5 (d), 10 and 15: three transitions."""
    simulator = xor_chain(tmp_path, library)
    step(simulator, a=1)
    assert [times(simulator, n) for n in ("x1", "x2", "x3")] == [[5.0], [10.0], [15.0]]
    step(simulator, a=0, d=1)
    assert times(simulator, "x3") == [5.0, 15.0]
    step(simulator, a=1, c=1, d=0)
    assert times(simulator, "x2") == [5.0, 10.0] and times(simulator, "x3") == [5.0, 10.0, 15.0]
    assert simulator.transitions(simulator.values)[simulator.port("x3")].tolist() == [3]


def test_a_pulse_shorter_than_the_delay_is_filtered(tmp_path, library):
    """y = a ^ (a through n buffers of 2 ps): the pulse on y is 2n ps wide against the XOR's 5 ps, so
    two buffers (4 ps) are filtered and three (6 ps) give two transitions."""
    for buffers, expected in ((2, []), (3, [5.0, 11.0])):
        chain = [f"  {BUF} b1 (.A(a), .Y(n1));"] + [
            f"  {BUF} b{k} (.A(n{k - 1}), .Y(n{k}));" for k in range(2, buffers + 1)
        ]
        body = "\n".join([*chain, f"  {XOR} g (.A(a), .B(n{buffers}), .Y(y));"])
        wires = ", ".join(f"n{k}" for k in range(1, buffers + 1))
        simulator = TimedSimulator(Circuit(netlist(tmp_path, body, "a", "y", wires), library), HAND)
        step(simulator, a=1)
        assert times(simulator, "y") == expected
        assert times(simulator, f"n{buffers}") == [2.0 * buffers]


def test_liberty_delays_are_read_at_the_load_and_the_propagated_slew(tmp_path, library):
    """Two inverters in a row: the first switches at its table delay for the port's 20 ps slew and its
    load (the second's input pin), the second at its delay for the first one's output slew."""
    body = f"  {INV} i1 (.A(a), .Y(n));\n  {INV} i2 (.A(n), .Y(y));"
    circuit = Circuit(netlist(tmp_path, body, "a", "y", "n"), library)
    simulator = TimedSimulator(circuit)
    step(simulator, a=1)
    inverter = library.cell(INV)
    (arc,) = [a for a in inverter.timing if a.related_pin == "A"]
    load = inverter.pins["A"].capacitance
    (first,) = simulator.waveform("n")
    assert first[0] == pytest.approx(arc.cell_fall.at(20.0, load))
    assert first[1] == pytest.approx(arc.fall_transition.at(20.0, load))
    (second,) = simulator.waveform("y")
    assert second[0] == pytest.approx(first[0] + arc.cell_rise.at(first[1], 0.0))


@pytest.fixture(scope="module")
def small_array(library):
    params = ArrayParams("int8", 4, 2, max_k=64)
    top = params.default_name()
    result = synthesize(verilog_for(params, name=top), top)
    circuit = Circuit(read_netlist(result.netlist, top), library)
    return params, circuit, activity_stimulus(params, np.random.default_rng(3), 48, "gaussian")


def test_with_zero_delays_the_counts_are_the_zero_delay_counts(small_array):
    params, circuit, stimulus = small_array
    zero_delay = simulate(GateSimulator(circuit), params, stimulus)
    timed = simulate(TimedSimulator(circuit, LibertyDelays(scale=0.0)), params, stimulus)
    assert timed.activity.toggles == zero_delay.activity.toggles
    assert timed.settled_activity.toggles == zero_delay.activity.toggles


def test_liberty_delays_add_glitches_in_pairs_and_settle_to_the_zero_delay_values(small_array):
    """The bench checks every output sum; the simulator checks every net's settled value each cycle."""
    params, circuit, stimulus = small_array
    zero_delay = simulate(GateSimulator(circuit), params, stimulus).activity.toggles
    run = simulate(TimedSimulator(circuit), params, stimulus)
    assert run.settled_activity.toggles == zero_delay
    extra = {net: run.activity.toggles[net] - zero_delay[net] for net in run.activity.toggles}
    assert all(count >= 0 and count % 2 == 0 for count in extra.values())
    assert sum(extra.values()) > 0.1 * sum(zero_delay.values())  # a multiplier glitches


def random_logic(tmp_path, library, seed: int, cells: int = 150, ports: int = 10):
    """A random acyclic netlist of the mapper's combinational cells: each cell reads earlier nets."""
    rng = np.random.default_rng(seed)
    kinds = [c for c in MAPPING_CELLS if not library.cell(c).sequential and library.cell(c).inputs]
    nets = [f"p{k}" for k in range(ports)]
    body = []
    for k in range(cells):
        cell = library.cell(kinds[rng.integers(len(kinds))])
        window = nets[-40:]  # mostly recent nets: deep, reconvergent logic
        pins = ", ".join(f".{pin}({window[rng.integers(len(window))]})" for pin in cell.inputs)
        (output,) = cell.outputs
        body.append(f"  {cell.name} g{k} ({pins}, .{output}(n{k}));")
        nets.append(f"n{k}")
    outputs = ", ".join(nets[-5:])
    wires = ", ".join(n for n in nets[ports:] if n not in nets[-5:])
    return netlist(tmp_path, "\n".join(body), ", ".join(nets[:ports]), outputs, wires)


def reference_transitions(circuit: Circuit, start: dict, changed_ports: set, slew_ps: float) -> dict:
    """An event-driven simulation of one cycle (a heap of timed events, scalar table lookups) with the
    rules of energy.gates.timed: ``{net: [(time, slew), ...]}``."""
    import heapq

    from energy.gates.cells import python_expression

    value = dict(start)
    readers: dict[str, list] = {}
    for instance, cell in circuit.cells:
        for pin in cell.inputs:
            readers.setdefault(instance.pins[pin], []).append((instance, cell))
    last_eval = {instance.name: start[instance.pins[cell.outputs[0]]] for instance, cell in circuit.cells}
    kept: dict[str, list] = {}
    history: dict[str, list] = {}
    cancelled: set = set()
    heap, serial = [], 0
    for net in changed_ports:
        heap.append((0.0, serial, net, not start[net], slew_ps))
        serial += 1
    heapq.heapify(heap)

    def function(text: str, inputs: dict) -> bool:
        names = {"ZERO": np.False_, "ONE": np.True_, **{k: np.bool_(v) for k, v in inputs.items()}}
        return bool(eval(python_expression(text.strip('"')), {"__builtins__": {}}, names))  # noqa: S307

    while heap:
        now = heap[0][0]
        moved: dict[str, float] = {}
        while heap and heap[0][0] == now:
            _, number, net, new, slew = heapq.heappop(heap)
            if number in cancelled:
                continue
            value[net] = new
            history.setdefault(net, []).append((now, slew))
            moved[net] = slew
        touched = {id(i): (i, c) for net in moved for i, c in readers.get(net, [])}
        for instance, cell in touched.values():
            inputs = {pin: value[instance.pins[pin]] for pin in cell.inputs}
            (output,) = cell.outputs
            result = function(cell.pins[output].function, inputs)
            if result == last_eval[instance.name]:
                continue
            last_eval[instance.name] = result
            trigger = [pin for pin in cell.inputs if instance.pins[pin] in moved][-1]
            arcs = [a for a in cell.timing if a.pin == output and a.related_pin == trigger]
            arc = arcs[0]
            for candidate in arcs:
                if candidate.when and function(candidate.when, inputs):
                    arc = candidate
            slew, load = moved[instance.pins[trigger]], circuit.load.get(instance.pins[output], 0.0)
            delay = (arc.cell_rise if result else arc.cell_fall).at(slew, load)
            out_slew = (arc.rise_transition if result else arc.fall_transition).at(slew, load)
            target, mine = instance.pins[output], kept.setdefault(instance.pins[output], [])
            time = now + delay
            if mine and (time - mine[-1][0] < delay or time <= mine[-1][0]):
                cancelled.add(mine.pop()[1])
                continue
            mine.append((time, serial))
            heapq.heappush(heap, (time, serial, target, result, out_slew))
            serial += 1
    return history


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_waveforms_equal_an_event_driven_simulation(tmp_path, library, seed):
    """Random reconvergent logic, random input changes: every net's transitions (times and slews) as an
    event-driven simulator with a heap and scalar liberty lookups gives them."""
    circuit = Circuit(random_logic(tmp_path, library, seed), library)
    simulator = TimedSimulator(circuit)
    rng = np.random.default_rng(seed)
    ports = [circuit.netlist.canonical(p) for p in circuit.netlist.inputs]
    compared = 0
    for _ in range(12):
        start = dict(zip(simulator.net_names, simulator.values.tolist(), strict=True))
        flips = {p for p in ports if rng.random() < 0.4}
        for port in flips:
            simulator.values[simulator.port(port)] = not start[port]
        simulator.settle()
        expected = reference_transitions(circuit, start, flips, 20.0)
        for instance, cell in circuit.cells:
            net = instance.pins[cell.outputs[0]]
            got = simulator.waveform(net)
            want = expected.get(net, [])
            assert [t for t, _ in got] == pytest.approx([t for t, _ in want]), net
            assert [s for _, s in got] == pytest.approx([s for _, s in want]), net
            compared += len(want)
    assert compared > 500  # glitches included: far more transitions than nets
