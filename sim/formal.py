"""The formal harness of a MAC array: free inputs, the stream rules as assumptions, a reference.

:class:`ProofHarness` wraps one array (ternary, ternary-lut, int8 or fp16) for SymbiYosys
(:mod:`sim.prove`).
Every input is free (``AnySeq``): the payloads, the ``valid`` of the sinks, the ``ready`` of the output
and the reset. The environment's only obligations, assumed:

* reset is high in the first cycle;
* a reduction is at most :attr:`~hw.params.ArrayParams.max_beats` beats: the beat that would exceed it
  carries ``last`` (the array's contract, :attr:`~hw.params.ArrayParams.max_k`).

Asserted, in every cycle of every trace (names of the assertions in brackets):

* ``function``: each output sum equals the reference sum of the beats that entered since the previous
  ``last`` (``sum_i w[r][i] * a[i]`` over the beats, computed here from the ports' bits in an accumulator
  two bits wider than the array's, with the weight codes of :mod:`model.encoding` and
  :mod:`model.group_code`); the output payload is compared while ``o_stream.valid`` is high;
* ``no_wrap``: that exact sum fits the array's accumulator width (the width formula of
  :class:`hw.params.ArrayParams` is enough for any ``max_k``-element reduction);
* ``no_spurious_output``: ``o_stream.valid`` only when a reduction has been closed by a ``last`` and not
  yet delivered;
* ``valid_held`` / ``payload_held``: ``o_stream.valid`` stays high, and its payload unchanged, until
  ``ready`` (outside reset);
* ``no_overrun``: no reduction is closed while the previous one is still undelivered (its sums would be
  lost);
* reset: the reference restarts with reset (no partial sum, nothing pending, stationary: the all-zero
  tile), so the ``state_*`` assertions below check that reset clears every accumulator, the pending output
  and the tile.

A beat lost or counted twice shows as a ``function`` failure: every beat whose input handshake completes
enters the reference once. ``i_stream.ready`` not depending on ``i_stream.valid`` is a structural property,
checked on the netlist by ``tests/test_hw_header.py``.

For k-induction the harness also asserts how the array's state relates to the reference (``state_*``,
through :attr:`hw.arrays.MacArray.nodes`): the accumulators hold the reference's partial sums
(``state_accumulator``), bounded by the beats taken so far (``state_bound``, ``state_beats``); ``out_valid``
marks the one pending reduction (``state_pending``) and the output register holds its sums
(``state_output``); the tile register equals a shadow loaded by the rules of :mod:`hw.layout`
(``state_tile``). They hold in every reachable state (the base case checks them like the others) and make
the properties inductive.

Pipelined arrays (``pipeline > 0``). The reference accumulates each beat when it reaches the accumulator
stage: a shadow pipeline (valid, ``last``, activations and weights of the beat in each stage) moves with
the array's own ``advance`` (:attr:`~hw.arrays.MacArray.nodes`), and every beat whose input handshake
completes must enter it (``no_lost_beat``: the input never takes a beat while the pipeline holds). The
shadow is a shift register, so no beat in it is lost or doubled; the output is still compared with the
exact sums of the beats taken at the input. For induction a stage's registers are related to the beat in
the same shadow stage: a pipeline-free twin of the array (stream dataflow, fed that beat's operands)
computes, for every register ``<name>_q`` of the stage, the value ``leaving[name]`` it must hold
(``state_stage``; :attr:`~hw.arrays.MacArray.stages`, :attr:`~hw.arrays.MacArray.leaving`), and the valid
and ``last`` bits of each stage equal the shadow's (``state_stage_valid``, ``state_stage_last``). The beat
count of the open reduction is carried back from the accumulator through the stages (the index of the
beat in each stage), so the ``max_beats`` contract is assumed where a beat enters.

Binary16 (``fp16``). A floating-point reduction has no exact integer reference: the array rounds every
product and sum. The reference's beat sum is the tree root of a pipeline-free twin of the array fed the
beat's operands, and its accumulator adds it with :func:`hw.fp16.fp16_add` starting from ``-0`` (the
rules of :mod:`model.fp16`); ``no_wrap`` and ``state_bound`` do not apply. So for FP16 the proof covers
the array's control, handshake, accumulation and pipeline (every beat counted once, in order, the stream
rules, reset), not the binary16 units themselves, whose bit-exactness against :mod:`model.fp16` is
established by simulation (``sim/``, ``tests/``) and whose netlists are proven equal to their RTL unit by
unit (:mod:`energy.gates.units`). How far the solver reaches is in ``benchmarks/proofs.py``: where an
invariant relates multipliers fed by different signals (a pipeline stage against its twin), the SMT
solver has to prove two multipliers equal, which it does not finish for two lanes.
"""

from __future__ import annotations

import dataclasses

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import (
    Assert,
    Assume,
    Elaboratable,
    Fragment,
    Module,
    Mux,
    ResetSignal,
    Signal,
    Value,
    signed,
    unsigned,
)
from amaranth.lib import data

from hw.arrays import MacArray, build_array
from hw.fp16 import fp16_add
from hw.layout import act_layout, tile_layout
from hw.params import ArrayParams, signed_width
from model.encoding import NEGATIVE_BIT, NONZERO_BIT
from model.fp16 import FP16_BITS, NEGATIVE_ZERO
from model.group_code import entry_digits, group_entries, index_bits, sign_bit

#: The arrays the harness proves (binary16: see the module docstring for what its reference is).
FORMAL_ARRAYS = ("ternary", "ternary-lut", "int8", "fp16")
#: Bits the reference accumulator has beyond the array's (so that a wrapped array sum is visible).
REFERENCE_EXTRA_BITS = 2


class ProofHarness(Elaboratable):
    """A MAC array under free inputs with its reference model and properties (see the module docstring).

    Parameters
    ----------
    params : ArrayParams
        The array (``params.array`` in :data:`FORMAL_ARRAYS`; any tree, pipeline and dataflow).
    dut : Elaboratable, optional
        The design under proof, default ``build_array(params)``; a deliberately broken one
        (:mod:`sim.faults`) must have the array's ports and expose the array whose state the invariants
        read as its attribute ``array`` (a :class:`~hw.arrays.MacArray` is its own).

    Members
    -------
    dut : the design under proof (the submodule ``dut``).
    """

    def __new__(cls, params: ArrayParams, dut: Elaboratable | None = None) -> ProofHarness:
        _check_params(params)  # before the object exists: no unused elaboratable left on a refusal
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, params: ArrayParams, dut: Elaboratable | None = None):
        self.params = params
        self.dut = build_array(params) if dut is None else dut

    def elaborate(self, platform: object) -> Module:
        p, dut = self.params, self.dut
        m = Module()
        m.submodules.dut = Fragment.get(dut, platform)  # elaborated now: the invariants read its nodes
        array = dut if isinstance(dut, MacArray) else dut.array
        nodes = array.nodes
        rst = ResetSignal()
        with m.If(Initial()):
            m.d.comb += Assume(rst)
        m.d.comb += [
            dut.i_stream.payload.eq(AnySeq(len(dut.i_stream.payload.as_value()))),
            dut.i_stream.valid.eq(AnySeq(1)),
            dut.o_stream.ready.eq(AnySeq(1)),
        ]
        i_stream = dut.i_stream
        transfer, tile = i_stream.valid & i_stream.ready, self._tile(m, rst, nodes)
        entering = _Beat(transfer, i_stream.payload.last, i_stream.payload.act, tile)
        stages = self._shadow_pipeline(m, entering, nodes["advance"])
        if p.is_float:
            beat = self._float_beat_sums(m, platform, stages[-1])
        else:
            beat = [self._beat_sum(m, stages[-1].act, stages[-1].weights[r], r) for r in range(p.rows)]
        reference = _Reference(m, p, rst, dut, stages, nodes["advance"], beat)
        self._stream_rules(m, rst, reference)
        self._state_invariants(m, reference, nodes)
        for stage in range(1, p.pipeline + 1):
            self._stage_invariants(m, platform, array, stage, stages[stage])
        return m

    def _shadow_pipeline(self, m: Module, entering: _Beat, advance: Value) -> list[_Beat]:
        """The beats in stages ``0..pipeline`` (0: the one entering), moved on the array's ``advance``; a
        stage loads its operands only when a valid beat enters it, as the array's registers do."""
        p = self.params
        stages = [entering]
        m.d.comb += Assert(~entering.valid | advance, "no_lost_beat")
        for s in range(1, p.pipeline + 1):
            prev = stages[-1]
            beat = _Beat(
                Signal(name=f"sh{s}_valid"),
                Signal(name=f"sh{s}_last"),
                Signal(act_layout(p), name=f"sh{s}_act"),
                Signal(tile_layout(p), name=f"sh{s}_weights"),
            )
            with m.If(advance):
                m.d.sync += beat.valid.eq(prev.valid)
            with m.If(advance & prev.valid):
                m.d.sync += [beat.last.eq(prev.last), beat.act.eq(prev.act), beat.weights.eq(prev.weights)]
            stages.append(beat)
        return stages

    def _stage_invariants(
        self, m: Module, platform: object, array: MacArray, stage: int, beat: _Beat
    ) -> None:
        """Pipeline stage ``stage`` holds the shadow's beat: its valid and ``last`` bits, and every register
        equal to what a pipeline-free twin fed the beat's operands computes there (``state_stage*``)."""
        nodes = array.nodes
        leaving = self._twin(m, platform, beat, f"twin{stage}")
        m.d.comb += Assert(nodes[f"s{stage}_valid"] == beat.valid, "state_stage_valid")
        with m.If(beat.valid):
            m.d.comb += Assert(nodes[f"s{stage}_last"] == beat.last, "state_stage_last")
            for name in array.stages[stage - 1]:
                m.d.comb += Assert(_bits(nodes[f"{name}_q"]) == _bits(leaving[name]), "state_stage")

    def _twin(self, m: Module, platform: object, beat: _Beat, name: str) -> dict[str, Value]:
        """A pipeline-free stream twin of the array (submodule ``name``) fed ``beat``'s operands; returns
        the value of every tree node in it (:attr:`~hw.arrays.MacArray.leaving`)."""
        twin = build_array(dataclasses.replace(self.params, pipeline=0, dataflow="stream"))
        m.submodules[name] = Fragment.get(twin, platform)
        m.d.comb += [
            twin.i_stream.payload.act.eq(beat.act),
            twin.i_stream.payload.weight.eq(beat.weights),
            twin.i_stream.valid.eq(0),
            twin.o_stream.ready.eq(0),
        ]
        return twin.leaving

    def _tile(self, m: Module, rst: Value, nodes: dict) -> data.View:
        """The weights of the beat: the input payload's (stream), or the array's tile register, asserted
        (``state_tile``) equal to a shadow loaded by the rules of :mod:`hw.layout` (the tile loaded before
        the beat's cycle; reset clears it to zero weights). The sums read the register itself, equal to
        the shadow by that assertion: the solver then compares products of the same operands."""
        p, dut = self.params, self.dut
        if p.dataflow == "stream":
            return dut.i_stream.payload.weight
        m.d.comb += [
            dut.w_stream.payload.eq(AnySeq(len(dut.w_stream.payload.as_value()))),
            dut.w_stream.valid.eq(AnySeq(1)),
        ]
        shadow = Signal(tile_layout(p), name="shadow_tile")
        with m.If(rst):
            m.d.sync += shadow.eq(0)
        with m.Elif(dut.w_stream.valid & dut.w_stream.ready):
            m.d.sync += shadow.eq(dut.w_stream.payload.weight)
        m.d.comb += Assert(nodes["tile"] == shadow.as_value(), "state_tile")
        return data.View(tile_layout(p), nodes["tile"])

    def _beat_sum(self, m: Module, act: data.View, weights: data.View, row: int) -> Signal:
        """Row ``row``'s exact sum of one beat, from the ports' bits."""
        p = self.params
        bound = p.lanes * p.product_max_magnitude
        if p.array == "ternary-lut":
            spans = [range(j * p.group, min((j + 1) * p.group, p.lanes)) for j in range(p.weight_fields)]
            terms = [
                _group_term(weights[j].as_value(), [act[i] for i in span], p.group)
                for j, span in enumerate(spans)
            ]
        else:
            terms = [_lane_term(p.array, weights[i], act[i]) for i in range(p.lanes)]
        total = Signal(signed(signed_width(-bound, bound)), name=f"ref_beat{row}")
        m.d.comb += total.eq(sum(terms))
        return total

    def _float_beat_sums(self, m: Module, platform: object, beat: _Beat) -> list[Value]:
        """Each row's binary16 sum of one beat: the tree root of a pipeline-free twin of the array fed the
        beat's operands (the same binary16 operations in the same order, see the module docstring)."""
        p = self.params
        leaving = self._twin(m, platform, beat, "beat_twin")
        roots = []
        for r in range(p.rows):
            level = max(int(name.split("_")[1][1:]) for name in leaving if name.startswith(f"r{r}_l"))
            roots.append(leaving[f"r{r}_l{level}_0"])
        return roots

    def _stream_rules(self, m: Module, rst: Value, reference: _Reference) -> None:
        """``function``, ``no_wrap``, ``no_spurious_output``, ``no_overrun``, ``valid_held`` /
        ``payload_held`` (see the module docstring)."""
        p, o_stream = self.params, self.dut.o_stream
        width = p.acc_width
        sums = [_bits(o_stream.payload.sums[r]) for r in range(p.rows)]
        stalled = Signal(name="prev_stalled")
        held = Signal(len(o_stream.payload.as_value()), name="prev_payload")
        m.d.sync += [stalled.eq(~rst & o_stream.valid & ~o_stream.ready), held.eq(o_stream.payload)]
        with m.If(o_stream.valid):
            for r in range(p.rows):
                m.d.comb += Assert(sums[r] == reference.expected[r][:width], "function")
            m.d.comb += Assert(reference.pending, "no_spurious_output")
        if not p.is_float:  # binary16 sums do not wrap (they round, and overflow to infinity)
            with m.If(reference.fire):
                for total in reference.totals:
                    m.d.comb += Assert(_fits(total, width), "no_wrap")
        m.d.comb += Assert(~reference.overrun, "no_overrun")
        with m.If(stalled & ~rst):
            m.d.comb += [
                Assert(o_stream.valid, "valid_held"),
                Assert(o_stream.payload.as_value() == held, "payload_held"),
            ]

    def _state_invariants(self, m: Module, reference: _Reference, nodes: dict) -> None:
        """The ``state_*`` assertions relating the array's registers to the reference (for induction)."""
        p = self.params
        width = p.acc_width
        for r in range(p.rows):
            m.d.comb += Assert(nodes[f"r{r}_acc"] == reference.partial[r], "state_accumulator")
            if p.is_float:  # binary16 partial sums have no bound of this kind
                continue
            bound = reference.beats * p.lanes * p.product_max_magnitude
            m.d.comb += Assert(
                (reference.partial[r] <= bound) & (reference.partial[r] >= -bound), "state_bound"
            )
        m.d.comb += [
            *(Assert(index < p.max_beats, "state_beats") for index in reference.index),
            Assert(nodes["out_valid"] == reference.pending, "state_pending"),
        ]
        with m.If(nodes["out_valid"]):
            for r in range(p.rows):
                value = _bits(self.dut.o_stream.payload.sums[r])
                m.d.comb += Assert(value == reference.expected[r][:width], "state_output")


def _check_params(params: object) -> None:
    if not isinstance(params, ArrayParams):
        raise TypeError(f"params must be an ArrayParams, not {type(params).__name__}")
    if params.array not in FORMAL_ARRAYS:
        raise ValueError(f"params.array must be one of {FORMAL_ARRAYS} for a proof, got {params.array!r}")


@dataclasses.dataclass(frozen=True)
class _Beat:
    """A beat in one pipeline stage (of the shadow): valid, ``last``, its activations and weights."""

    valid: Value
    last: Value
    act: data.View
    weights: data.View


class _Reference:
    """The reference computation: partial sums of the open reduction, the closed reduction awaiting
    delivery (``expected``, ``pending``), the beats accumulated, and ``overrun`` (a reduction closed while
    the previous one is still undelivered). A beat is accumulated when it reaches the accumulator stage
    (``stages[-1]`` on ``advance``). ``index[s]`` is the index within its reduction of the beat in stage
    ``s`` (:func:`_beat_index`); the ``max_beats`` contract is assumed on the beat entering (``index[0]``)."""

    def __init__(
        self,
        m: Module,
        p: ArrayParams,
        rst: Value,
        dut: Elaboratable,
        stages: list[_Beat],
        advance: Value,
        beat: list[Value],
    ):
        entering, done = stages[0], stages[-1]
        width = p.acc_width + REFERENCE_EXTRA_BITS
        shape, empty = (unsigned(FP16_BITS), NEGATIVE_ZERO) if p.is_float else (signed(width), 0)
        self.partial = [Signal(shape, init=empty, name=f"ref_partial{r}") for r in range(p.rows)]
        self.expected = [Signal(shape, name=f"ref_expected{r}") for r in range(p.rows)]
        self.pending = Signal(name="ref_pending")
        self.beats = Signal(range(p.max_beats + 1), name="ref_beats")
        self.overrun = Signal(name="ref_overrun")
        self.index = _beat_index(m, p.max_beats, stages, self.beats)
        self.fire = fire = advance & done.valid  # the accumulator stage takes a beat
        closes, delivered = fire & done.last, dut.o_stream.valid & dut.o_stream.ready
        m.d.comb += [
            Assume(~entering.valid | entering.last | (self.index[0] < p.max_beats - 1)),
            self.overrun.eq(~rst & closes & self.pending & ~delivered),  # reset clears both anyway
        ]
        if p.is_float:  # binary16 accumulation: rounded at every beat, as :mod:`model.fp16` defines it
            totals = [
                fp16_add(m, partial, sum_, f"ref_total{r}")
                for r, (partial, sum_) in enumerate(zip(self.partial, beat, strict=True))
            ]
        else:
            totals = [
                (partial + sum_)[:width].as_signed() for partial, sum_ in zip(self.partial, beat, strict=True)
            ]
        self.totals = totals
        with m.If(rst):
            m.d.sync += [*(s.eq(empty) for s in self.partial), self.pending.eq(0), self.beats.eq(0)]
        with m.Else():
            with m.If(closes):
                m.d.sync += [*(s.eq(empty) for s in self.partial), self.beats.eq(0), self.pending.eq(1)]
                m.d.sync += [e.eq(t) for e, t in zip(self.expected, totals, strict=True)]
            with m.Elif(fire):
                m.d.sync += [
                    *(s.eq(t) for s, t in zip(self.partial, totals, strict=True)),
                    self.beats.eq(self.beats + 1),
                ]
            with m.If(delivered & ~closes):
                m.d.sync += self.pending.eq(0)


def _beat_index(m: Module, max_beats: int, stages: list[_Beat], accumulated: Value) -> list[Signal]:
    """``index[s]``: the index within its reduction of the beat in stage ``s`` (``0..pipeline``), or of the
    next beat to be there if the stage is empty. Counted back from the accumulator, which has taken
    ``accumulated`` beats of the open reduction: past a valid beat, 0 if it is a ``last`` one, its index
    plus one otherwise."""
    indices: list[Signal] = []
    following: Value = accumulated
    for s in range(len(stages) - 1, -1, -1):
        if indices:
            beat, index = stages[s + 1], indices[-1]
            following = Mux(beat.valid, Mux(beat.last, 0, index + 1), index)
        index = Signal(range(max_beats + 1), name=f"ref_index{s}")
        m.d.comb += index.eq(following)
        indices.append(index)
    return indices[::-1]


def _bits(value: Value) -> Value:
    """The bit pattern of ``value`` (unsigned), to compare with a slice."""
    return Value.cast(value).as_unsigned()


def _fits(value: Value, width: int) -> Value:
    """``value`` lies in the range of a signed ``width``-bit number."""
    return (value >= -(1 << (width - 1))) & (value <= (1 << (width - 1)) - 1)


def _lane_term(array: str, weight: Value, act: Value) -> Value:
    """``w * a`` of one lane: the 2-bit ternary code (invalid ``0b10``: zero) or a signed int8 weight."""
    if array == "ternary":
        bits = weight.as_value()
        return Mux(bits[NONZERO_BIT], Mux(bits[NEGATIVE_BIT], -act, act), 0)
    return weight * act


def _group_term(code: Value, lanes: list[Value], group: int) -> Value:
    """A group's ``sum_j w_j a_j`` from its code (an invalid code, or digits past the row's end: zero)."""
    index, negative = code[: index_bits(group)], code[sign_bit(group)]
    digits = entry_digits(group)
    value = 0
    for k in range(1, group_entries(group) + 1):
        if digits[k][len(lanes) :].any():  # a digit past the row's end: the hardware reads zero
            continue
        entry = sum(int(d) * a for d, a in zip(digits[k], lanes, strict=False) if d)
        value = Mux(index == k, entry, value)
    return Mux(negative, -value, value)
