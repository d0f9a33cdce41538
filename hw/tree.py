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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from amaranth.hdl import Module, Signal, Value, signed

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

    @property
    def module(self) -> Module:
        """The module the trees are built in."""
        return self._m

    @property
    def nodes(self) -> dict[str, Value]:
        """Every named node and register built so far, by name."""
        return self._nodes

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

    def stage(self, level: int, terms: list[Term], names: list[str]) -> list[Term]:
        """The terms leaving ``level``: registered copies (named ``<name>_q``) if ``level`` is registered."""
        stage = self._stage_of_level.get(level)
        if stage is None:
            return terms
        registered = []
        for term, name in zip(terms, names, strict=True):
            register = Signal(signed(term.width), name=f"{name}_q")
            self._nodes[register.name] = register
            self._registers[stage].append((register, term.value))
            registered.append(Term(register, term.lo, term.hi))
        return registered

    def reduce(self, leaves: list[Term], prefix: str) -> tuple[Term, int]:
        """Sum the level-0 ``leaves`` pairwise; returns the root and the last level used.

        ``leaves`` must already have passed :meth:`stage` for level 0. Node ``j`` of level ``k`` is named
        ``<prefix>_l<k>_<j>``.
        """
        terms, level = list(leaves), 0
        while len(terms) > 1:
            level += 1
            summed, names = [], []
            for j in range(0, len(terms), 2):
                name = f"{prefix}_l{level}_{j // 2}"
                if j + 1 < len(terms):
                    a, b = terms[j], terms[j + 1]
                    summed.append(self.node(name, a.value + b.value, a.lo + b.lo, a.hi + b.hi))
                else:
                    summed.append(terms[j])
                names.append(name)
            terms = self.stage(level, summed, names)
        return terms[0], level

    def elaborate_registers(self) -> None:
        """Emit the pipeline registers, one enable per stage; call once after building every tree."""
        for enable, registers in zip(self._enables, self._registers, strict=True):
            if registers:
                with self._m.If(enable):
                    self._m.d.sync += [register.eq(value) for register, value in registers]
