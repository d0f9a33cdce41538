"""Pipelined adder trees with exact, range-derived node widths: the reduction core of every MAC array.

A tree node is a :class:`Term`: a signed Amaranth signal together with the integer range ``[lo, hi]`` of
the values it can carry. Every node is sized by interval arithmetic to the smallest two's-complement width
holding its range (an adder of two 9-bit products is 10 bits, not 32), so the generated RTL carries no
bit that can never toggle. A node whose interval is wider than the known range of the final sum (the root
of the ``split`` tree: ``P - Q`` looks like ``[-255N, 255N]`` but is in ``[-128N, 128N]`` because a lane
feeds only one of ``P`` and ``Q``) is truncated to the width of the known range ``cap``: two's-complement
addition and subtraction are exact modulo ``2**cap``, so a result that fits ``cap`` bits is exact.

Levels are numbered as in :mod:`hw.params`: level 0 holds the per-lane products, level ``k`` the sums of
pairs of level ``k - 1`` nodes (an odd node passes through), and the split subtraction is the last level.
After each level listed in :attr:`hw.params.ArrayParams.register_levels`, every live node goes through a
pipeline register (pass-through nodes too, so all nodes of a level stay in the same pipeline stage). Stage
``s``'s registers load only when their enable is high (the pipeline advances *and* stage ``s - 1`` holds a
valid beat), so bubbles and stalls leave them, and everything they feed, quiet.

The builder places registers and pairs nodes for any node type: the integer trees build :class:`Term`
nodes with :meth:`PipelinedTreeBuilder.add` (the default of :meth:`~PipelinedTreeBuilder.reduce`); a tree of
other operators (the binary16 adders of :mod:`hw.fp16`) passes its own ``combine(name, a, b)`` to
:meth:`~PipelinedTreeBuilder.reduce` and uses plain :class:`~amaranth.hdl.Value` nodes, recorded with
:meth:`~PipelinedTreeBuilder.add_node`. Either way :meth:`~PipelinedTreeBuilder.stage` registers a level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TypeVar

from amaranth.hdl import Cat, Const, Module, ShapeLike, Signal, Value, signed

from hw.params import signed_width


@dataclasses.dataclass(frozen=True)
class Term:
    """A tree node: a signed ``value`` whose integer value always lies in ``[lo, hi]``."""

    value: Value
    lo: int
    hi: int

    @property
    def width(self) -> int:
        return len(self.value)


#: A tree node: a :class:`Term` (integer trees) or a plain :class:`~amaranth.hdl.Value` (e.g. binary16).
Node = TypeVar("Node", Term, Value)


class PipelinedTreeBuilder:
    """Builds the nodes and pipeline registers of the adder trees of one array.

    Parameters
    ----------
    m : Module
        The module the nodes are added to (combinational nodes in ``m.d.comb``, registers in ``m.d.sync``).
    register_levels : sequence of int
        Levels followed by a pipeline register, ascending (:attr:`hw.params.ArrayParams.register_levels`).
    stage_enables : sequence of Value
        ``stage_enables[s]`` loads the registers of pipeline stage ``s + 1`` (the register after
        ``register_levels[s]``).
    cap : int
        Width of the final sum's range; no node is wider (see the module docstring).
    """

    def __init__(self, m: Module, register_levels: Sequence[int], stage_enables: Sequence[Value], cap: int):
        if len(register_levels) != len(stage_enables):
            raise ValueError("register_levels and stage_enables must have the same length")
        self._m = m
        self._stage_of_level = {level: stage for stage, level in enumerate(register_levels)}
        self._enables = list(stage_enables)
        self._cap = cap
        self._registers: list[list[tuple[Signal, Value]]] = [[] for _ in register_levels]
        self._nodes: dict[str, Value] = {}
        self._leaving: dict[str, Value] = {}
        self._staged: list[list[str]] = [[] for _ in register_levels]

    @property
    def module(self) -> Module:
        """The module the trees are built in."""
        return self._m

    @property
    def nodes(self) -> dict[str, Value]:
        """Every named node and register built so far, by name."""
        return self._nodes

    @property
    def leaving(self) -> dict[str, Value]:
        """The value of every staged node as it leaves its level, before its pipeline register if one
        follows the level (the ``value`` of every :meth:`register` call), by node name."""
        return self._leaving

    @property
    def staged(self) -> list[list[str]]:
        """``staged[s]``: the names of the nodes whose registers (``<name>_q``) form pipeline stage
        ``s + 1``."""
        return self._staged

    def node(self, name: str, expr: Value, lo: int, hi: int) -> Term:
        """A combinational node ``name = expr`` sized for ``[lo, hi]``.

        The node is ``min(signed_width(lo, hi), cap)`` bits wide. When that is narrower than the operator's
        own result (an adder is one bit wider than its wider operand), the node is the slice
        ``expr[:width]``, exact by the range argument of the module docstring, and is left unnamed: a named
        signal would only alias the slice in the Verilog.
        """
        width = min(signed_width(lo, hi), self._cap)
        if width < len(expr):
            # a slice of the operator's result: left unnamed, as a named signal would only alias it
            return Term(expr[:width].as_signed(), lo, hi)
        signal = Signal(signed(width), name=name)
        self._m.d.comb += signal.eq(expr)
        self._nodes[name] = signal
        return Term(signal, lo, hi)

    def add_node(self, name: str, value: Value) -> Value:
        """Record ``value``, a node built outside :meth:`node` (a multiplier's output, an adder), as
        :attr:`nodes` ``[name]``; returns ``value``."""
        self._nodes[name] = value
        return value

    def register(self, level: int, name: str, value: Value, shape: ShapeLike | None = None) -> Value:
        """``value`` as it leaves ``level``: ``value`` itself, or, if a pipeline register follows
        ``level``, that register (a signal ``<name>_q`` of ``shape``, default ``value``'s shape, recorded in
        :attr:`nodes`) loaded from ``value`` with the stage's enable by :meth:`elaborate_registers`."""
        self._leaving[name] = value
        stage = self._stage_of_level.get(level)
        if stage is None:
            return value
        register = Signal(value.shape() if shape is None else shape, name=f"{name}_q")
        self._nodes[register.name] = register
        self._registers[stage].append((register, value))
        self._staged[stage].append(name)
        return register

    def stage(self, level: int, nodes: Sequence[Node], names: Sequence[str]) -> list[Node]:
        """The nodes leaving ``level`` (see :meth:`register`): registered copies if ``level`` is
        registered; a :class:`Term` keeps its range."""
        staged: list[Node] = []
        for node, name in zip(nodes, names, strict=True):
            if isinstance(node, Term):
                staged.append(Term(self.register(level, name, node.value), node.lo, node.hi))
            else:
                staged.append(self.register(level, name, node))
        return staged

    def add(self, name: str, a: Term, b: Term) -> Term:
        """The integer adder node ``name = a + b`` (:meth:`node` over the sum of the ranges): the default
        ``combine`` of :meth:`reduce`."""
        return self.node(name, a.value + b.value, a.lo + b.lo, a.hi + b.hi)

    def reduce(
        self,
        leaves: Sequence[Node],
        prefix: str,
        *,
        combine: Callable[[str, Node, Node], Node] | None = None,
    ) -> tuple[Node, int]:
        """Sum the level-0 ``leaves`` pairwise; returns the root and the last level used.

        ``leaves`` must already have passed :meth:`stage` for level 0. Node ``j`` of level ``k`` is
        ``combine("<prefix>_l<k>_<j>", node 2j, node 2j + 1)`` of level ``k - 1`` (an odd last node passes
        through); every level goes through :meth:`stage`. ``combine`` builds one node and records it
        (:meth:`add_node`) if it should be named; it defaults to :meth:`add`, for :class:`Term` leaves.
        """
        if combine is None:
            other = next((leaf for leaf in leaves if not isinstance(leaf, Term)), None)
            if other is not None:
                raise TypeError(
                    f"combine is required for leaves that are not Terms, got {type(other).__name__}"
                )
            combine = self.add
        nodes, level = list(leaves), 0
        while len(nodes) > 1:
            level += 1
            combined, names = [], []
            for j in range(0, len(nodes), 2):
                name = f"{prefix}_l{level}_{j // 2}"
                combined.append(combine(name, nodes[j], nodes[j + 1]) if j + 1 < len(nodes) else nodes[j])
                names.append(name)
            nodes = self.stage(level, combined, names)
        return nodes[0], level

    def carry_save(self, name: str, leaves: Sequence[Term], ones: Sequence[Value] = ()) -> Term:
        """The sum of ``leaves`` and of the 1-bit ``ones`` (each worth +1) by a carry-save tree: a Wallace
        reduction of the bit columns by full adders (3:2 compressors) and half adders until every column
        holds at most two bits, then one carry-propagate adder (node ``name``).

        Signed leaves enter by the sign-extension-free identity ``x = sum_{b < w-1} x_b 2**b + (1 - x_{w-1})
        2**(w-1) - 2**(w-1)``: the inverted top bit joins its column and the constants ``-2**(w-1)`` of all
        leaves are added once, as constant bits. The sum is taken modulo ``2**width``, ``width`` the width
        of its range (capped, see the module docstring), so carries out of the top column are dropped.
        The compressor nets are named ``<name>_fa<k>_s`` / ``_c`` (``_ha`` for half adders).
        """
        lo = sum(leaf.lo for leaf in leaves)
        hi = sum(leaf.hi for leaf in leaves) + len(ones)
        width = min(signed_width(lo, hi), self._cap)
        columns: list[list[Value]] = [[] for _ in range(width)]
        constant = 0
        for leaf in leaves:
            bits = [leaf.value[b] for b in range(min(leaf.width, width))]
            if leaf.width <= width:
                bits[-1] = ~bits[-1]
                constant -= 1 << (leaf.width - 1)
            for b, bit in enumerate(bits):
                columns[b].append(bit)
        columns[0].extend(ones)
        for b in range(width):
            if (constant >> b) & 1:
                columns[b].append(Const(1, 1))
        counter = 0
        while max(len(column) for column in columns) > 2:
            reduced: list[list[Value]] = [[] for _ in range(width)]
            for b, column in enumerate(columns):
                while len(column) >= 3 or (len(column) == 2 and len(columns[b]) > 2):
                    kind = "fa" if len(column) >= 3 else "ha"
                    inputs, column = (
                        column[:3] if kind == "fa" else column[:2],
                        column[3 if kind == "fa" else 2 :],
                    )
                    total, carry = self._compressor(f"{name}_{kind}{counter}", inputs)
                    counter += 1
                    reduced[b].append(total)
                    if b + 1 < width:
                        reduced[b + 1].append(carry)
                reduced[b].extend(column)
            columns = reduced
        # the two rows left for the carry-propagate adder; its result sliced, so unnamed as in node()
        rows = [Cat(*(column[k] if k < len(column) else Const(0, 1) for column in columns)) for k in (0, 1)]
        return Term((rows[0].as_signed() + rows[1].as_signed())[:width].as_signed(), lo, hi)

    def _compressor(self, name: str, inputs: Sequence[Value]) -> tuple[Signal, Signal]:
        """A full adder (three inputs) or half adder (two): the sum and carry bits, named signals."""
        total, carry = Signal(name=f"{name}_s"), Signal(name=f"{name}_c")
        if len(inputs) == 3:
            a, b, c = inputs
            self._m.d.comb += [total.eq(a ^ b ^ c), carry.eq((a & b) | (c & (a ^ b)))]
        else:
            a, b = inputs
            self._m.d.comb += [total.eq(a ^ b), carry.eq(a & b)]
        return total, carry

    def elaborate_registers(self) -> None:
        """Emit the pipeline registers, one enable per stage; call once after building every tree."""
        for enable, registers in zip(self._enables, self._registers, strict=True):
            if registers:
                with self._m.If(enable):
                    self._m.d.sync += [register.eq(value) for register, value in registers]
