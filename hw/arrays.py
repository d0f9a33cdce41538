"""The MAC arrays: :class:`TernaryMacArray` (adder trees of select / negate / skip), :class:`TernaryLutArray`
(the LUT engine: tables of partial sums shared by the rows), and the baselines :class:`Int8MacArray` (int8
multipliers) and :class:`Fp16MacArray` (IEEE binary16 multipliers and adders).

All are the same machine around a different per-lane product (and, for fp16, different adders); the
generator parameters, port bit layouts and derived widths are defined in :mod:`hw.params` and
:mod:`hw.layout`, the binary16 units in :mod:`hw.fp16`.

Datapath of one beat (row ``r``, lanes ``i = 0..N-1``)::

    act[i], weight[r][i] -> level 0: products (LUT: shared tables, selected per row)
                         -> levels 1..D: adder tree (-> split subtraction / deferred count;
                            csa: one carry-save level)
                         -> accumulator stage: total = acc + tree sum
                         -> last ? (output register <- total, acc <- 0) : (acc <- total)

Handshake and pipeline. One beat moves through the pipeline per cycle. All pipeline registers, the
accumulators and the output register advance together on a single enable ``advance``; valid and ``last``
bits travel beside the data, and a register stage loads only when a valid beat enters it (bubbles cause no
data-register writes). ``advance`` is low only when the beat in the accumulator stage carries ``last``
while the output register still holds sums that are not being taken (``o_stream.valid & ~o_stream.ready``):
then the whole pipeline holds and ``i_stream.ready`` is low. With ``pipeline = 0`` the accumulator stage
*is* the input, and ``i_stream.ready`` is ``~o_stream.valid | o_stream.ready`` so that ``ready`` never
depends on ``i_stream.valid`` or on the payload (for any ``pipeline`` it does not). There is a
combinational path from ``o_stream.ready`` to ``i_stream.ready``; ``o_stream.valid`` is a register
(gated low in reset).
Without backpressure the array accepts a beat every cycle, including back-to-back ``last`` beats.

Zero gating (ternary). A lane whose weight code has its ``nonzero`` bit clear (codes ``0b00`` and the
invalid ``0b10``) contributes a constant 0: the activation is ANDed with the lane enable before any
arithmetic, so no net of that lane's product or negation toggles, whatever its activation does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from amaranth.hdl import Const, Module, Mux, ResetSignal, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring

from hw.fp16 import adder, adder_tree, multiplier
from hw.layout import array_signature, group_code_layout, input_layout, ternary_code_layout
from hw.params import ArrayParams
from hw.tree import PipelinedTreeBuilder, Term
from model.fp16 import FP16_BITS, NEGATIVE_ZERO
from model.group_code import entry_digits

_COMMON_DOC = """
    Parameters
    ----------
    lanes : int
        ``N >= 1``: activations consumed per beat.
    rows : int
        ``M >= 1``: output channels computed in parallel (one adder tree each).
    act_width : int
        Signed activation width ``a``, 2..16, default 8 (:data:`model.quant.ACT_BITS`).
    max_k : int
        The longest K-reduction in activation elements (``in_features``); it takes ``ceil(max_k / N)``
        beats, and the accumulator width is derived from it so that it cannot overflow:
        ``W = bit_length(ceil(max_k / N) * N * P) + 1`` (see :mod:`hw.params`).
    pipeline : int or "full"
        Pipeline registers in the tree, 0 (combinational) up to one per tree level (``"full"``).
    tree : str
        Tree micro-architecture (see :mod:`hw.params`).
    dataflow : str
        ``"stream"`` (weights in every input beat) or ``"stationary"`` (tiles loaded through ``w_stream``).
    **parameters
        The keywords above are the fields of :class:`hw.params.ArrayParams` after ``lanes`` and ``rows``,
        passed on to it: any field of it is accepted by keyword, except ``array``, fixed by the class.

    Raises
    ------
    TypeError, ValueError
        On a bad parameter; the message names it.

    Members
    -------
    i_stream : ``In(stream.Signature(input_layout))``
        Input beats: ``act`` (lane ``i`` at bits ``[a*i + a - 1 : a*i]``), ``weight`` (stream dataflow
        only), ``last`` (the top bit). See :mod:`hw.layout` for every bit position.
    w_stream : ``In(stream.Signature(weight_load_layout))``, stationary dataflow only
        Weight-tile loads; always ready outside reset. A beat uses the tile loaded before its transfer cycle.
    o_stream : ``Out(stream.Signature(output_layout))``
        The ``M`` signed ``acc_width``-bit sums of each K-reduction, row ``r`` at ``[W*r + W - 1 : W*r]``.

    Attributes
    ----------
    params : :class:`hw.params.ArrayParams`
        The validated parameters, with the derived ``acc_width``, ``levels``, ``register_levels`` and
        ``latency`` (``pipeline + 1`` cycles from the transfer of a ``last`` beat to ``o_stream.valid``).
"""


@dataclass(frozen=True)
class _Control:
    """The pipeline's handshake signals: ``valid[s]``/``last[s]`` of stage ``s`` (0: the input beat), the
    register enables of stages 1.., ``advance`` (the whole pipeline moves), ``fire`` (the accumulator stage
    takes a beat) and ``out_valid``."""

    advance: Value
    valid: list[Value]
    last: list[Value]
    enables: list[Value]
    fire: Value
    out_valid: Value


class MacArray(wiring.Component):
    """Common machine of the MAC arrays: handshake, pipeline, accumulators, output register.

    Subclasses set ``ARRAY`` (a key of :data:`hw.params.ARRAYS`) and implement :meth:`_weight` (how one
    weight's port bits are read) and :meth:`_row_sum` (one row's product level and tree, built with a
    :class:`hw.tree.PipelinedTreeBuilder` so that the pipeline registers land where
    :attr:`hw.params.ArrayParams.register_levels` says). The ports, layouts, latency and accumulator
    control are shared, so every array has the same interface; an array with another number format also
    overrides :meth:`_accumulator` and :meth:`_accumulate`, and one with options of its own (not
    :class:`hw.params.ArrayParams` fields) :meth:`_check_arguments`.

    The constructor takes ``lanes``, ``rows`` and the other :class:`hw.params.ArrayParams` fields by
    keyword. Bad arguments are refused before the component exists (in ``__new__``), so no half-built
    elaboratable is left for Amaranth to report as "created but never used".
    """

    ARRAY: ClassVar[str]

    def __new__(cls, lanes: int, rows: int, **parameters: object) -> Self:
        cls._check_arguments(lanes, rows, **parameters)
        # src_loc_at=1: Amaranth attributes the component to our caller, as for a plain construction
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, lanes: int, rows: int, **parameters: object):
        self._params = self._check_arguments(lanes, rows, **parameters)
        self._nodes: dict[str, Value] | None = None
        self._leaving: dict[str, Value] = {}
        self._stages: list[list[str]] = []
        super().__init__(array_signature(self._params))

    @classmethod
    def _check_arguments(cls, lanes: int, rows: int, **parameters: object) -> ArrayParams:
        """The validated parameters of ``cls(lanes, rows, **parameters)``; ``TypeError`` / ``ValueError``
        naming a bad one. Subclasses with options of their own check and remove them here."""
        if "array" in parameters:
            raise TypeError(
                f"array is fixed by {cls.__name__} ({cls.ARRAY!r}), got array={parameters['array']!r}"
            )
        return ArrayParams(array=cls.ARRAY, lanes=lanes, rows=rows, **parameters)

    @classmethod
    def from_params(cls, params: ArrayParams, **options: object) -> MacArray:
        """Build the array of this class described by ``params`` (``params.array`` must match); ``options``
        are the class's own structural options (:class:`Fp16MacArray`: ``unit_modules``)."""
        if not isinstance(params, ArrayParams):
            raise TypeError(f"params must be an ArrayParams, not {type(params).__name__}")
        if params.array != cls.ARRAY:
            raise ValueError(f"params.array must be {cls.ARRAY!r} for {cls.__name__}, got {params.array!r}")
        fields = params.as_dict()
        del fields["array"]
        return cls(**fields, **options)

    @property
    def params(self) -> ArrayParams:
        return self._params

    def _weight(self, bits: Value) -> object:
        """One weight of the tile as the product level reads it (``bits``: its slice of the port)."""
        raise NotImplementedError  # pragma: no cover

    def _shared_operands(self, builder: PipelinedTreeBuilder, acts: list[Value]) -> list:
        """Per-beat logic shared by every row, built once (the LUT engine's tables); its result is what
        :meth:`_row_sum` receives as ``act``. Default: the lanes' activations themselves."""
        return acts

    def _row_sum(self, builder: PipelinedTreeBuilder, row: int, act: list, weights: list) -> Value:
        """Build row ``row``'s product level and tree over ``act[i]`` (what :meth:`_shared_operands`
        returns) and ``weights[i]``; return the root's value (the row's sum of one beat, as
        :meth:`_accumulate` takes it)."""
        raise NotImplementedError  # pragma: no cover

    def _reduce(self, builder: PipelinedTreeBuilder, row: int, leaves: list[Term], names: list[str]) -> Value:
        """Row ``row``'s tree over the level-0 ``leaves`` (:class:`~hw.tree.Term`): pairwise adders
        (``tree="signed"``) or a carry-save tree with one carry-propagate adder (``"csa"``, node
        ``r<row>_csa``, registered as level 1 when a register follows it)."""
        staged = builder.stage(0, leaves, names)
        if self._params.tree != "csa":
            root, _ = builder.reduce(staged, f"r{row}")
            return root.value
        name = f"r{row}_csa"
        (root,) = builder.stage(1, [builder.carry_save(name, staged)], [name])
        return root.value

    def _accumulator(self, row: int) -> Signal:
        """Row ``row``'s accumulator register; its ``init`` is also the value a ``last`` beat clears it to."""
        return Signal(signed(self._params.acc_width), name=f"r{row}_acc")

    def _accumulate(self, m: Module, row: int, acc: Signal, root: Value) -> Value:
        """``acc + root``, the accumulator stage's sum (integers: modular, cannot overflow by ``max_k``)."""
        return (acc + root)[: self._params.acc_width].as_signed()

    @property
    def nodes(self) -> dict[str, Value]:
        """The named datapath signals of the last elaboration (tree nodes, gated lanes, accumulators) and
        the handshake signals (``advance``: the pipeline moves this cycle; ``out_valid``: the output
        register holds sums not yet taken; ``s<k>_valid``, ``s<k>_last``: pipeline stage ``k`` holds a beat,
        a ``last`` one) and, stationary, the weight tile register (``tile``).

        For testbenches and toggle studies, e.g. ``nodes["r0_l0_3"]`` (row 0, level 0, lane 3). Raises
        ``RuntimeError`` before the array has been elaborated (by a simulator or the Verilog backend).
        """
        if self._nodes is None:
            raise RuntimeError("the array has not been elaborated yet")
        return dict(self._nodes)

    @property
    def stages(self) -> list[list[str]]:
        """``stages[s]``: the names of the tree nodes whose pipeline registers (``nodes[name + "_q"]``)
        form stage ``s + 1`` (empty with ``pipeline = 0``), from the last elaboration. With
        :attr:`leaving` they state what a stage holds: a pipeline-free array fed the stage's beat computes
        ``leaving[name]`` for every register of it (how :mod:`sim.formal` proves pipelined arrays)."""
        self.nodes  # noqa: B018 (raises before elaboration)
        return [list(names) for names in self._stages]

    @property
    def leaving(self) -> dict[str, Value]:
        """The value of every staged tree node as it leaves its level, before any pipeline register, by
        name (:attr:`hw.tree.PipelinedTreeBuilder.leaving`), from the last elaboration."""
        self.nodes  # noqa: B018 (raises before elaboration)
        return dict(self._leaving)

    def elaborate(self, platform: object) -> Module:
        p = self._params
        m = Module()
        in_reset = ResetSignal(allow_reset_less=True)  # a constant 0 in a domain without reset
        tile_bits, tile_offset = self._weight_source(m, in_reset)
        acts, weights = self._operands(tile_bits, tile_offset)
        control = self._pipeline_control(m, in_reset)
        builder = PipelinedTreeBuilder(m, p.register_levels, control.enables, cap=p.tree_sum_width)
        shared = self._shared_operands(builder, acts)
        roots = [self._row_sum(builder, r, shared, weights[r]) for r in range(p.rows)]
        builder.elaborate_registers()
        self._leaving, self._stages = dict(builder.leaving), [list(names) for names in builder.staged]
        nodes = dict(builder.nodes)
        nodes.update(self._outputs(m, control, roots))
        if p.dataflow == "stationary":
            nodes["tile"] = tile_bits
        self._nodes = nodes
        return m

    def _weight_source(self, m: Module, in_reset: Value) -> tuple[Value, int]:
        """The weights' bits and their offset: the input beat (stream) or the tile register (stationary)."""
        p = self._params
        if p.dataflow != "stationary":
            return self.i_stream.payload.as_value(), input_layout(p)["weight"].offset
        # a plain vector viewed as a tile: no per-field alias wires in the Verilog
        tile = Signal(p.tile_bits, name="tile")
        m.d.comb += self.w_stream.ready.eq(~in_reset)
        with m.If(self.w_stream.valid & self.w_stream.ready):
            m.d.sync += tile.eq(self.w_stream.payload.weight.as_value())
        return tile, 0

    def _operands(self, tile_bits: Value, tile_offset: int) -> tuple[list[Value], list[list]]:
        """The lanes' activations and every row's weights, each one slice of its port at the layout offsets:
        a slice of a view of a view would be re-emitted per use by Amaranth's netlist builder (quadratic in
        the width)."""
        p = self._params
        payload = self.i_stream.payload.as_value()
        act_offset, a = input_layout(p)["act"].offset, p.act_width
        acts = [payload[act_offset + a * i : act_offset + a * (i + 1)].as_signed() for i in range(p.lanes)]
        wb = p.weight_bits
        weights = [
            [
                self._weight(tile_bits[tile_offset + wb * k : tile_offset + wb * (k + 1)])
                for k in range(r * p.weight_fields, (r + 1) * p.weight_fields)
            ]
            for r in range(p.rows)
        ]
        return acts, weights

    def _pipeline_control(self, m: Module, in_reset: Value) -> _Control:
        """valid/last per stage (stage 0 is the input beat), the stage enables, ``fire`` and ``out_valid``."""
        p = self._params
        i_stream, o_stream = self.i_stream, self.o_stream
        advance = Signal(name="advance")
        transfer = Signal(name="transfer")
        m.d.comb += [
            i_stream.ready.eq(advance & ~in_reset),
            transfer.eq(i_stream.valid & i_stream.ready),
        ]
        valid: list[Value] = [transfer]
        last: list[Value] = [i_stream.payload.last]
        enables: list[Value] = []
        for stage in range(1, p.pipeline + 1):
            enables.append(advance & valid[-1])
            v, lst = Signal(name=f"s{stage}_valid"), Signal(name=f"s{stage}_last")
            with m.If(advance):
                m.d.sync += v.eq(valid[-1])
            with m.If(advance & valid[-1]):
                m.d.sync += lst.eq(last[-1])
            valid.append(v)
            last.append(lst)
        fire = Signal(name="fire")  # the accumulator stage consumes a beat this cycle
        out_valid = Signal(name="out_valid")  # the output register holds sums not yet taken
        m.d.comb += [
            fire.eq(advance & valid[-1]),
            o_stream.valid.eq(out_valid & ~in_reset),
        ]
        if p.pipeline == 0:
            m.d.comb += advance.eq(~out_valid | o_stream.ready)
        else:
            m.d.comb += advance.eq(~(valid[-1] & last[-1] & out_valid & ~o_stream.ready))
        return _Control(advance, valid, last, enables, fire, out_valid)

    def _outputs(self, m: Module, control: _Control, roots: list[Value]) -> dict[str, Value]:
        """The output register and every row's accumulator; returns the handshake and accumulator nodes."""
        o_stream, fire, last, out_valid = self.o_stream, control.fire, control.last, control.out_valid
        with m.If(fire & last[-1]):
            m.d.sync += out_valid.eq(1)
        with m.Elif(o_stream.ready):
            m.d.sync += out_valid.eq(0)
        registers = (control.advance, out_valid, *control.valid[1:], *last[1:])
        nodes: dict[str, Value] = {signal.name: signal for signal in registers}
        for r, root in enumerate(roots):
            acc = self._accumulator(r)
            nodes[acc.name] = acc
            total = self._accumulate(m, r, acc, root)
            with m.If(fire):
                with m.If(last[-1]):
                    m.d.sync += [o_stream.payload.sums[r].eq(total), acc.eq(acc.init)]
                with m.Else():
                    m.d.sync += acc.eq(total)
        return nodes


class TernaryMacArray(MacArray):
    __doc__ = (
        """An ``M x N`` ternary MAC array: ``M`` adder trees over ``N`` lanes of int8 x {-1, 0, +1} products.

    Each beat adds ``sum_i act[i] * w[r][i]`` to row ``r``'s accumulator; a beat with ``last`` sends the
    ``M`` sums out and clears the accumulators. The weights are the 2-bit codes of :mod:`model.encoding`
    (bit 0 nonzero: the lane enable; bit 1 negative: the negate / subtract select). Multiplication is
    select / negate / skip:

    ``tree="signed"`` (negate-then-add)
        ``g = nonzero ? act : 0``, ``n = -g``; product ``= negative ? n : g`` (``a + 1`` bits); one adder
        tree. (Nodes ``r<row>_g<lane>``, ``r<row>_n<lane>``, ``r<row>_l0_<lane>``.)
    ``tree="split"`` (sum of the +1 inputs minus sum of the -1 inputs)
        ``pos = (nonzero & ~negative) ? act : 0``, ``neg = (nonzero & negative) ? act : 0`` (``a`` bits
        each, no negators); two adder trees and one subtraction at the root. (Nodes
        ``r<row>_pos_l0_<lane>``, ``r<row>_neg_l0_<lane>``, ..., ``r<row>_diff_q`` when registered.)
    ``tree="deferred"`` (deferred negation)
        ``g = nonzero ? act : 0``; product ``= g ^ n`` with ``n = nonzero & negative`` replicated: ``act``,
        0, or the one's complement ``-act - 1`` (``a`` bits, no incrementer); beside the adder tree a tree
        of the bits ``n`` as 1-bit signed values (0 or -1) gives minus the count of negated lanes, and the
        root subtracts it. (Nodes ``r<row>_g<lane>``, ``r<row>_l0_<lane>``, ``r<row>_c_l<k>_<j>``,
        ``r<row>_sum``.)
    ``tree="csa"`` (carry-save)
        the lanes of ``deferred`` and their bits ``n`` (column 0) reduced by a Wallace tree of full and
        half adders (:meth:`hw.tree.PipelinedTreeBuilder.carry_save`), one carry-propagate adder at the
        end. (Nodes ``r<row>_csa_fa<k>_s`` / ``_c``, ``r<row>_csa_q`` when registered.)

    Zero weights are gated at the lane input in every tree, so they cause no toggles in the tree.
"""
        + _COMMON_DOC
    )

    ARRAY = "ternary"

    def _weight(self, bits: Value) -> data.View:
        return data.View(ternary_code_layout(), bits)

    def _row_sum(self, builder: PipelinedTreeBuilder, row: int, act: list, weights: list) -> Value:
        tree = self._params.tree
        if tree == "split":
            return self._split_sum(builder, row, act, weights)
        if tree == "signed":
            leaves = [self._negated_lane(builder, row, i, act[i], weights[i]) for i in range(len(act))]
            return self._reduce(builder, row, leaves, [f"r{row}_l0_{i}" for i in range(len(act))])
        leaves, ones = zip(
            *(self._complemented_lane(builder, row, i, act[i], weights[i]) for i in range(len(act))),
            strict=True,
        )
        if tree == "csa":  # the negation bits are column-0 inputs of the compressor tree
            lanes = range(len(act))
            leaves = builder.stage(0, list(leaves), [f"r{row}_l0_{i}" for i in lanes])
            ones = builder.stage(0, list(ones), [f"r{row}_neg{i}" for i in lanes])
            (root,) = builder.stage(1, [builder.carry_save(f"r{row}_csa", leaves, ones)], [f"r{row}_csa"])
            return root.value
        return self._deferred_sum(builder, row, list(leaves), list(ones))

    def _negated_lane(
        self, builder: PipelinedTreeBuilder, row: int, i: int, act: Value, code: data.View
    ) -> Term:
        """``tree="signed"``'s product: ``g = nonzero ? act : 0``, ``negative ? -g : g``."""
        lo, hi = self._params.act_min, self._params.act_max
        gated = builder.node(f"r{row}_g{i}", Mux(code.nonzero, act, 0), lo, hi).value
        negated = builder.node(f"r{row}_n{i}", -gated, -hi, -lo).value
        return builder.node(f"r{row}_l0_{i}", Mux(code.negative, negated, gated), lo, -lo)

    def _complemented_lane(
        self, builder: PipelinedTreeBuilder, row: int, i: int, act: Value, code: data.View
    ) -> tuple[Term, Value]:
        """Deferred negation: the lane passes ``g ^ n`` (``g = nonzero ? act : 0``, ``n = nonzero &
        negative`` replicated), which is ``act * w`` for ``w`` in {0, +1} and ``-act - 1`` for ``w = -1``, and
        the bit ``n`` whose sum over the lanes makes up the missing ones."""
        lo, hi = self._params.act_min, self._params.act_max
        negate = code.nonzero & code.negative
        gated = builder.node(f"r{row}_g{i}", Mux(code.nonzero, act, 0), lo, hi).value
        flip = negate.replicate(len(gated)).as_signed()
        return builder.node(f"r{row}_l0_{i}", gated ^ flip, lo, hi), negate

    def _deferred_sum(
        self, builder: PipelinedTreeBuilder, row: int, leaves: list[Term], ones: list[Value]
    ) -> Value:
        """``tree="deferred"``: the adder tree over the complemented lanes, beside it a tree summing the
        negation bits as 1-bit signed values (each 0 or -1, so it yields minus the count of negated lanes;
        registered at the same levels), and their difference at the root."""
        lanes = range(len(leaves))
        root, level = builder.reduce(builder.stage(0, leaves, [f"r{row}_l0_{i}" for i in lanes]), f"r{row}")
        minus_ones = [Term(one.as_signed(), -1, 0) for one in ones]
        count, _ = builder.reduce(
            builder.stage(0, minus_ones, [f"r{row}_neg{i}" for i in lanes]), f"r{row}_c"
        )
        name = f"r{row}_sum"
        total = builder.node(name, root.value - count.value, root.lo - count.hi, root.hi - count.lo)
        (total,) = builder.stage(level + 1, [total], [name])
        return total.value

    def _split_sum(self, builder: PipelinedTreeBuilder, row: int, act: list[Value], weights: list) -> Value:
        """``tree="split"``: the sum of the +1 lanes minus the sum of the -1 lanes."""
        p = self._params
        sides = {}
        for side, select in (
            ("pos", lambda c: c.nonzero & ~c.negative),
            ("neg", lambda c: c.nonzero & c.negative),
        ):
            leaves, names = [], []
            for i in range(p.lanes):
                name = f"r{row}_{side}_l0_{i}"
                leaves.append(builder.node(name, Mux(select(weights[i]), act[i], 0), p.act_min, p.act_max))
                names.append(name)
            sides[side] = builder.reduce(builder.stage(0, leaves, names), f"r{row}_{side}")
        (pos, level), (neg, _) = sides["pos"], sides["neg"]
        level += 1
        name = f"r{row}_diff"
        diff = builder.node(name, pos.value - neg.value, pos.lo - neg.hi, pos.hi - neg.lo)
        (diff,) = builder.stage(level, [diff], [name])
        return diff.value


class TernaryLutArray(MacArray):
    __doc__ = (
        """An ``M x N`` ternary LUT engine: per group of ``G`` lanes, a table of partial sums shared by all
    ``M`` rows, from which each row selects one entry per group by its weight code.

    The weights are the group codes of :mod:`model.group_code` (sign + index, ``ceil(N / G)`` per row,
    re-encoded on the host). Per beat and group ``j`` (lanes ``G*j .. G*j + G - 1``; a last group with
    fewer lanes has only the entries of its lanes, the others are never built):

    table (shared by the rows)
        the ``E = (3**G - 1) / 2`` entries ``T[k] = sum_l d_l(k) * act[G*j + l]`` (``d(k)``: the
        balanced-ternary digits of ``k``, :func:`model.group_code.entry_digits`), each one adder:
        ``T[k] = act[G*j + l] + T[r]`` or ``act[G*j + l] - T[-r]`` with ``l`` the leading digit of ``k`` and
        ``r = k - 3**l`` (``T[3**l]`` is the activation itself). Nodes ``t<j>_e<k>``.
    selection (per row)
        ``s = OR_k (index == k ? T[k] : 0)``: a one-hot AND-OR, so index 0 (an all-zero group), the
        invalid indices above ``E`` and, in a partial last group, the indices whose digits reach beyond
        ``N`` (no host code has them) give a constant 0; then ``sign ? -s : s``. Nodes ``r<row>_s<j>``,
        ``r<row>_l0_<j>`` (the group's signed sum, level 0).
    tree
        ``tree="signed"``: pairwise adders over the ``ceil(N / G)`` group sums; ``"csa"``: a carry-save
        tree and one carry-propagate adder (as :class:`TernaryMacArray`).

    The accumulator and every width are those of :class:`TernaryMacArray` with the same parameters (the
    largest product is still ``2**(a-1)``). ``group`` (``G``, 2..5, default 3) is an
    :class:`hw.params.ArrayParams` field.
"""
        + _COMMON_DOC
    )

    ARRAY = "ternary-lut"

    def _weight(self, bits: Value) -> data.View:
        return data.View(group_code_layout(self._params.group), bits)

    def _shared_operands(self, builder: PipelinedTreeBuilder, acts: list[Value]) -> list[list[Term | None]]:
        """The table of every group: ``tables[j][k]`` is ``T[k]`` of group ``j`` (``k = 0``: constant 0;
        ``None`` for an entry of a last, partial group that needs a lane beyond ``N``)."""
        p, g = self._params, self._params.group
        tables = []
        for j in range(p.weight_fields):
            lanes = [Term(acts[i], p.act_min, p.act_max) for i in range(g * j, min(g * j + g, p.lanes))]
            tables.append(self._table(builder, j, lanes))
        return tables

    def _table(self, builder: PipelinedTreeBuilder, group: int, lanes: list[Term]) -> list[Term | None]:
        """Group ``group``'s entries ``T[0] = 0, T[1] .. T[E]``, each from a lane and an earlier entry; an
        entry whose digits reach beyond ``lanes`` (a partial group) is ``None``: no host code selects it."""
        digits = entry_digits(self._params.group)
        table: list[Term | None] = [Term(Const(0, signed(1)), 0, 0)]
        for k in range(1, len(digits)):
            lead = int(digits[k].nonzero()[0][-1])  # the leading digit, +1 by construction
            if lead >= len(lanes):
                table.append(None)
                continue
            rest, lane, name = k - 3**lead, lanes[lead], f"t{group}_e{k}"
            other = table[abs(rest)]  # not None: its digits are k's below the lead
            if rest == 0:
                table.append(lane)
            elif rest > 0:
                table.append(
                    builder.node(name, lane.value + other.value, lane.lo + other.lo, lane.hi + other.hi)
                )
            else:
                table.append(
                    builder.node(name, lane.value - other.value, lane.lo - other.hi, lane.hi - other.lo)
                )
        return table

    def _row_sum(self, builder: PipelinedTreeBuilder, row: int, act: list, weights: list) -> Value:
        leaves, names = [], []
        for j, (table, code) in enumerate(zip(act, weights, strict=True)):
            used = [k for k, entry in enumerate(table) if k and entry is not None]
            select = self._decoder(builder.module, f"r{row}_d{j}", code.index, used)
            picks = [Mux(select[bit], table[k].value, 0) for bit, k in enumerate(used)]
            lo, hi = min(0, *(table[k].lo for k in used)), max(0, *(table[k].hi for k in used))
            selected = builder.node(f"r{row}_s{j}", _or_all(picks), lo, hi).value
            name = f"r{row}_l0_{j}"
            leaves.append(builder.node(name, Mux(code.sign, -selected, selected), min(lo, -hi), max(hi, -lo)))
            names.append(name)
        return self._reduce(builder, row, leaves, names)

    @staticmethod
    def _decoder(m: Module, name: str, index: Value, used: list[int]) -> Signal:
        """The one-hot decode of ``index`` over the ``used`` entries: bit ``b`` set for ``index ==
        used[b]``, none for any other index (0, the invalid ones)."""
        select = Signal(len(used), name=name)
        with m.Switch(index):
            for bit, k in enumerate(used):
                with m.Case(k):
                    m.d.comb += select.eq(1 << bit)
            with m.Default():
                m.d.comb += select.eq(0)
        return select


def _or_all(values: list[Value]) -> Value:
    """The bitwise OR of ``values`` (sign-extended to a common width), as a balanced tree."""
    while len(values) > 1:
        values = [
            values[i] | values[i + 1] if i + 1 < len(values) else values[i] for i in range(0, len(values), 2)
        ]
    return values[0]


class Int8MacArray(MacArray):
    __doc__ = (
        """An ``M x N`` int8 MAC array, the like-for-like baseline: a real ``a x 8``-bit multiplier per lane.

    The same interface, parameters, pipeline and accumulator as :class:`TernaryMacArray`; the weights are
    signed 8-bit values (``weight[r][i]`` at bits ``[8*(r*N + i) + 7 : 8*(r*N + i)]`` of the tile) and
    each lane's product ``act[i] * w[r][i]`` (``a + 8`` bits) feeds one adder tree (``tree="signed"``) or
    a carry-save tree with one carry-propagate adder (``"csa"``). Zero weights are not gated, as in a
    conventional int8 array.
"""
        + _COMMON_DOC
    )

    ARRAY = "int8"

    def _weight(self, bits: Value) -> Value:
        return bits.as_signed()

    def _row_sum(self, builder: PipelinedTreeBuilder, row: int, act: list, weights: list) -> Value:
        p = self._params
        lo, hi = p.product_range
        leaves, names = [], []
        for i in range(p.lanes):
            name = f"r{row}_l0_{i}"
            leaves.append(builder.node(name, act[i] * weights[i], lo, hi))
            names.append(name)
        return self._reduce(builder, row, leaves, names)


class Fp16MacArray(MacArray):
    """An ``M x N`` FP16 MAC array, the paper's FP16 FMAC baseline: a binary16 multiplier per lane and
    binary16 adders, with binary16 accumulation.

    The same interface, parameters, pipeline, handshake and latency as :class:`TernaryMacArray`; activations,
    weights and sums are IEEE 754 binary16 bit patterns (16 bits each: lane ``i`` at
    ``[16*i + 15 : 16*i]``, weight ``(r, i)`` at ``[16*(r*N + i) + 15 : 16*(r*N + i)]`` of the tile, row
    ``r``'s sum at ``[16*r + 15 : 16*r]`` of ``o_stream``; see :mod:`hw.layout`). Each beat computes, per
    row ``r``, the binary16 products ``act[i] * w[r][i]`` (level 0, one :func:`hw.fp16.fp16_multiply` per
    lane), sums them by a tree of binary16 adders (levels 1..``ceil(log2 N)``, node ``j`` of level ``k``
    adding nodes ``2j`` and ``2j + 1`` of level ``k - 1``, an odd last node passing through), and adds the
    tree sum to the row's binary16 accumulator, which starts at ``-0`` (the exact identity of IEEE addition,
    so the first beat's sum passes unchanged) and is cleared to ``-0`` after a ``last`` beat and in reset.
    Every product and sum is rounded to nearest even; subnormals are kept (no flush-to-zero), overflow gives
    a signed infinity, ``-0 + -0 = -0`` and ``x + -x = +0``, and every NaN result is the canonical quiet
    NaN ``0x7E00``. :mod:`model.fp16` defines this arithmetic and is its bit-exact reference.

    Pipeline registers sit between whole binary16 operations (after the multipliers and after adder levels,
    placed as :attr:`hw.params.ArrayParams.register_levels` says), never inside one. Zero weights are not
    gated, as in a conventional FP16 array (and ``inf * 0`` must give NaN). Nodes: ``r<row>_l0_<lane>``
    (products), ``r<row>_l<k>_<j>`` (adders), ``..._q`` (their pipeline registers), ``r<row>_acc``.

    Parameters
    ----------
    lanes, rows : int
        ``N >= 1`` lanes (binary16 activations per beat) and ``M >= 1`` rows (output channels).
    act_width : int, optional
        16, the binary16 width (the default for this array; any other value raises ``ValueError``).
    max_k : int
        The longest K-reduction in activation elements, a host-side limit (``ceil(max_k / N)`` beats, used
        by schedulers and stimulus). Floating-point sums do not wrap, so ``max_k`` sizes no hardware: the
        logic is the same for every ``max_k``, and ``acc_width`` is 16.
    pipeline : int or "full"
        Pipeline registers, 0 (combinational) up to one per tree level (``"full"``).
    tree : str
        ``"signed"`` only: one binary16 adder tree over the signed products (``"split"`` is ternary only).
    dataflow : str
        ``"stream"`` (weights in every input beat) or ``"stationary"`` (tiles loaded through ``w_stream``;
        reset clears the tile to +0 weights).
    unit_modules : bool
        Build every multiplier and adder as its own submodule ``u_<node>`` (:func:`hw.fp16.multiplier`):
        the same logic in one Verilog module per unit, for synthesis (ABC maps unit by unit, minutes instead
        of hours for a 64-lane row). Default ``False``: one flat module, the Verilog that ``sim/``
        verifies and that lints clean.

    Raises
    ------
    TypeError, ValueError
        On a bad parameter; the message names it.

    Members
    -------
    i_stream, w_stream (stationary only), o_stream
        As for :class:`TernaryMacArray`, with binary16 fields; the sums are the bit patterns (``acc_width``
        16), not integers.
    """

    ARRAY = "fp16"

    def __init__(self, lanes: int, rows: int, *, unit_modules: bool = False, **parameters: object):
        self._unit_modules = unit_modules
        super().__init__(lanes, rows, **parameters)

    @classmethod
    def _check_arguments(
        cls, lanes: int, rows: int, *, unit_modules: bool = False, **parameters: object
    ) -> ArrayParams:
        if not isinstance(unit_modules, bool):
            raise TypeError(f"unit_modules must be a bool, not {type(unit_modules).__name__}")
        return super()._check_arguments(lanes, rows, **parameters)

    def _weight(self, bits: Value) -> Value:
        return bits

    def _row_sum(self, builder: PipelinedTreeBuilder, row: int, act: list, weights: list) -> Value:
        leaves, names = [], []
        for i in range(self._params.lanes):
            name = f"r{row}_l0_{i}"
            product = multiplier(
                builder.module, act[i].as_unsigned(), weights[i], name, unit_modules=self._unit_modules
            )
            leaves.append(builder.add_node(name, product))
            names.append(name)
        leaves = builder.stage(0, leaves, names)
        return adder_tree(builder, leaves, f"r{row}", unit_modules=self._unit_modules)

    def _accumulator(self, row: int) -> Signal:
        return Signal(unsigned(FP16_BITS), init=NEGATIVE_ZERO, name=f"r{row}_acc")

    def _accumulate(self, m: Module, row: int, acc: Signal, root: Value) -> Value:
        return adder(m, acc, root, f"r{row}_acc_sum", unit_modules=self._unit_modules)


ARRAY_CLASSES: dict[str, type[MacArray]] = {
    "ternary": TernaryMacArray,
    "ternary-lut": TernaryLutArray,
    "int8": Int8MacArray,
    "fp16": Fp16MacArray,
}


def build_array(params: ArrayParams, *, unit_modules: bool = False) -> MacArray:
    """The array component described by ``params``; ``unit_modules`` builds the FP16 array's units as
    submodules (see :class:`Fp16MacArray`; the integer arrays have no such units and ignore it)."""
    if not isinstance(params, ArrayParams):
        raise TypeError(f"params must be an ArrayParams, not {type(params).__name__}")
    options = {"unit_modules": unit_modules} if params.is_float else {}
    return ARRAY_CLASSES[params.array].from_params(params, **options)
