"""Add energy as a function of the adder's bit width, and the mean add energy of a ternary dot product.

The law
    An add of ``b``-bit operands costs ``E(b) = E_lo + (b - b_lo) * (E_hi - E_lo) / (b_hi - b_lo)``: linear
    in the bit width, anchored on the ops table's INT8 add (``b_lo = 8``) and INT32 add (``b_hi = 32``) of
    the node. A ripple-carry adder is one full-adder cell per bit, so its switched energy grows linearly
    with the width; the two table anchors agree with that (7nm: 0.875 fJ/bit at 8 bits, 0.94 fJ/bit at 32
    bits). Prefix adders (Kogge-Stone) grow as ``b log b`` in cells but the table gives only two points, so
    the linear fit is the honest interpolation; outside [8, 32] bits it is an extrapolation.

Accumulation schemes for a dot product of length ``n`` (int8 activations times ternary weights)
    ``int8``        every add is an INT8 add: the paper's assumption (it cannot hold the sum).
    ``int32``       every add goes into a 32-bit accumulator (the usual int8 matmul datapath).
    ``exact``       a serial accumulator just wide enough for the exact sum (:func:`exact_accumulator_bits`).
    ``adder_tree``  a binary adder tree over the ``n`` products whose adders widen by one bit per level
                    (what a spatial ternary MAC array builds); mostly narrow adds.
"""

from __future__ import annotations

from energy.checks import check_choice, check_positive_int
from energy.tables import EnergyTables, Entry, resolve_tables
from model.quant import ACT_BITS, ACT_MAX, ACT_MIN, WEIGHT_MAX, WEIGHT_MIN

ACCUMULATORS = ("int8", "int32", "exact", "adder_tree")
#: The ops-table dtypes that anchor the law: the activation integer type and the 32-bit accumulator.
LOW_ANCHOR = f"int{ACT_BITS}"
HIGH_ANCHOR = "int32"


def add_energy(bits: int, node: str, tables: EnergyTables | None = None) -> Entry:
    """The energy of one ``bits``-wide integer add at ``node`` by the linear law of the module docstring."""
    bits = check_positive_int(bits, "bits")
    tables = resolve_tables(tables)
    low, high = tables.op(node, "add", LOW_ANCHOR), tables.op(node, "add", HIGH_ANCHOR)
    b_lo, b_hi = tables.op_bits(node, "add", LOW_ANCHOR), tables.op_bits(node, "add", HIGH_ANCHOR)
    if b_hi == b_lo:
        raise ValueError(
            f"node: the ops table's {LOW_ANCHOR} and {HIGH_ANCHOR} adds of {node} have equal widths"
        )
    if bits == b_lo:
        return low
    if bits == b_hi:
        return high
    value = low.value_pJ + (bits - b_lo) * (high.value_pJ - low.value_pJ) / (b_hi - b_lo)
    if value <= 0:
        raise ValueError(
            f"bits: the linear add-energy law gives no positive energy at {bits} bits for {node}"
        )
    return Entry(
        value,
        low.rows + high.rows,
        low.sources + high.sources,
        low.origins + high.origins,
        f"{bits}-bit add, linear in width between the {LOW_ANCHOR} and {HIGH_ANCHOR} adds",
    )


def product_bits() -> int:
    """Signed width of one activation x ternary-weight product (9: -128 * -1 = 128 needs 9 bits)."""
    largest = max(abs(ACT_MIN), ACT_MAX) * max(abs(WEIGHT_MIN), WEIGHT_MAX)
    return largest.bit_length() + 1


def exact_accumulator_bits(n: int) -> int:
    """Signed width that holds any sum of ``n`` products exactly (21 bits for ``n = 4096``)."""
    n = check_positive_int(n, "n")
    largest = n * max(abs(ACT_MIN), ACT_MAX) * max(abs(WEIGHT_MIN), WEIGHT_MAX)
    return largest.bit_length() + 1


def adder_tree_levels(n: int) -> list[tuple[int, int]]:
    """``(adder width, number of adders)`` per level of a binary adder tree over ``n`` products.

    Level ``l`` (from 1) adds operands of ``product_bits() + l - 1`` bits into ``product_bits() + l``-bit
    sums; an odd operand passes to the next level unchanged. The adders total ``n - 1``.
    """
    n = check_positive_int(n, "n")
    levels, operands, width = [], n, product_bits()
    while operands > 1:
        adders = operands // 2
        width += 1
        levels.append((width, adders))
        operands -= adders
    return levels


def accumulate_energy(mode: str, n: int, node: str, tables: EnergyTables | None = None) -> Entry:
    """Mean energy of one add of a length-``n`` ternary dot product under accumulation scheme ``mode``."""
    mode = check_choice(mode, "accumulator", ACCUMULATORS)
    n = check_positive_int(n, "n")
    tables = resolve_tables(tables)
    if mode == "int8":
        return tables.op(node, "add", LOW_ANCHOR)
    if mode == "int32":
        return tables.op(node, "add", HIGH_ANCHOR)
    if mode == "exact":
        return add_energy(exact_accumulator_bits(n), node, tables)
    levels = adder_tree_levels(n)
    if not levels:
        return add_energy(product_bits(), node, tables)
    total = sum(adders * add_energy(width, node, tables).value_pJ for width, adders in levels)
    count = sum(adders for _, adders in levels)
    low, high = tables.op(node, "add", LOW_ANCHOR), tables.op(node, "add", HIGH_ANCHOR)
    return Entry(
        total / count,
        low.rows + high.rows,
        low.sources + high.sources,
        low.origins + high.origins,
        f"mean over an adder tree of {n} products, widths {levels[0][0]}..{levels[-1][0]} bits (linear law)",
    )
