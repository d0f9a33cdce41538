"""The MAC-array parameters and every quantity derived from them, defined once for hw/, sim/ and energy/.

:class:`ArrayParams` validates the generator parameters and derives the accumulator width, the tree depth,
where the pipeline registers go and the latency. It is plain Python (no Amaranth), so testbenches and
energy models can import it cheaply; the port layouts built from it live in :mod:`hw.layout`.

Parameters
----------
array
    ``"ternary"`` (2-bit ternary weight codes of :mod:`model.encoding`: select / negate / skip),
    ``"ternary-lut"`` (the LUT engine: per group of ``G`` lanes a table of partial sums shared by the rows,
    each row selecting one entry by its group code of :mod:`model.group_code`), ``"int8"``
    (signed :data:`INT8_WEIGHT_BITS`-bit weights and a real multiplier per lane, the like-for-like baseline)
    or ``"fp16"`` (IEEE binary16 activations and weights, a binary16 multiplier per lane and binary16 adders:
    the paper's FP16 FMAC baseline; its arithmetic is defined in :mod:`model.fp16`).
lanes ``N``
    Activations consumed per beat, any ``N >= 1``.
rows ``M``
    Output channels computed in parallel, each with its own adder tree over the ``N`` lanes.
act_width ``a``
    Signed two's-complement activation width, default :data:`model.quant.ACT_BITS` (8), range 2..16. For
    ``fp16`` it is the binary16 width, 16 (the default there; any other value is refused).
max_k ``K_max``
    The longest K-reduction the array must sum without overflow, **counted in activation elements** (a
    layer's ``in_features``), ``1 <= K_max <=`` :data:`model.bitlinear.MAX_IN_FEATURES_INT32`. A reduction
    of ``K`` elements takes ``ceil(K / N)`` beats (the host pads the last beat with zero activations or zero
    weights); :attr:`ArrayParams.max_beats` ``= ceil(K_max / N)`` is the longest reduction in beats.
    For ``fp16`` nothing overflows silently (a float sum saturates to infinity), so ``max_k`` sizes no
    hardware: it is the same interface limit for hosts (schedulers, test stimulus), and two fp16 arrays that
    differ only in ``max_k`` have the same logic.
pipeline ``p``
    Register stages inside the tree, ``0`` (combinational tree) up to :attr:`ArrayParams.levels` (one
    register after every tree level); the string ``"full"`` means the maximum.
tree
    ``"signed"``: one adder tree over signed products (ternary: each lane negates its gated activation,
    "negate-then-add"; ternary-lut: the rows' group sums; int8: the products of the multipliers; fp16:
    binary16 products summed by binary16 adders). ``"split"`` (ternary only): two adder trees, the sum of
    the activations whose weight is +1 minus the sum of those whose weight is -1. ``"deferred"`` (ternary
    only): deferred negation, a lane of weight -1 passes the one's complement of its activation (no
    incrementer) and the count of such lanes, summed beside the tree, is added once at the root.
    ``"csa"`` (ternary, ternary-lut, int8): a carry-save tree of full and half adders over the bit columns of
    the products, one carry-propagate adder at the end (ternary: the one's-complement lanes of
    ``deferred``, their negation bits entering column 0). :data:`ARRAY_TREES` lists the trees per array.
dataflow
    ``"stream"``: every input beat carries a fresh ``M x N`` weight tile (batch-1 decode). ``"stationary"``:
    a weight tile is loaded once through a separate weight-load stream and any number of activation beats
    stream against it (prefill, batches).
group ``G``
    The LUT engine's weights per group, 2..5 (:data:`model.group_code.GROUP_SIZES`; default 3, TL2's);
    ``None`` for every other array. A row's ``N`` lanes form ``ceil(N / G)`` groups (the last one shorter
    when ``G`` does not divide ``N``).

Derived quantities
------------------
accumulator width (:attr:`ArrayParams.acc_width`)
    ``W = bit_length(B * N * P) + 1`` with ``B = ceil(K_max / N)`` (:attr:`~ArrayParams.max_beats`) and
    ``P`` the largest product magnitude (:attr:`~ArrayParams.product_max_magnitude`):
    ``P = 2**(a-1)`` for ternary (``-128 * -1 = 128``), ``P = 2**(a-1) * 2**(b-1)`` for int8 with ``b``
    weight bits (``-128 * -128``). Every product lies in ``[-P, P]``, so any ``B`` beats of any inputs sum
    into ``[-B*N*P, B*N*P]``, which ``W`` signed bits hold; ``W`` is the smallest such width because
    ``+B*N*P`` is reached (every activation ``-2**(a-1)`` against weight -1, resp. -128). The bound covers
    ``B * N >= K_max`` elements, so it holds whatever the padding lanes of the last beat carry.
    The LUT engine has the same ``P`` and ``W`` as the ternary array (a group sum is a sum of lane
    products). ``fp16``: ``W = 16``, the sums are binary16 bit patterns (:data:`FP16_BITS`), and the integer
    quantities ``act_min`` .. ``product_max_magnitude`` do not apply (they raise ``ValueError``).
tree levels (:attr:`ArrayParams.levels`)
    level 0 is the per-lane product (gate and negate, gate, or multiply; fp16: one binary16 multiplier),
    levels 1..``D`` with
    ``D = ceil(log2 N)`` the pairwise adder levels (fp16: binary16 adders, each rounding; ternary-lut:
    ``N`` is the ``ceil(N / G)`` group sums, level 0 the tables and the rows' selections), and for
    ``tree="split"`` one more level, the final subtraction, for ``"deferred"`` the addition of the count:
    ``L = 1 + D`` (signed) or ``2 + D`` (split, deferred). ``tree="csa"``: ``L = 2``, the products and the
    whole carry-save tree with its carry-propagate adder.
pipeline placement (:attr:`ArrayParams.register_levels`)
    the ``L`` tree levels plus the accumulator adder form ``L + 1`` combinational segments; ``p`` registers
    cut them as evenly as possible, register ``s`` (1..p) after level ``floor(s * (L + 1) / (p + 1)) - 1``.
    With ``p = L`` every level is followed by a register.
latency (:attr:`ArrayParams.latency`)
    ``p + 1`` cycles: when the beat carrying ``last`` is transferred in cycle ``c``, the output stream
    presents its sums (``valid`` high) from cycle ``c + p + 1`` on, when ``o_stream`` is not backpressured.
    The ``+ 1`` is the registered output. Throughput is one beat per cycle.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from numbers import Integral
from typing import Any, Literal

from model.bitlinear import MAX_IN_FEATURES_INT32
from model.encoding import CODE_BITS
from model.fp16 import FP16_BITS
from model.group_code import GROUP_SIZES, group_count
from model.group_code import code_bits as group_code_bits
from model.quant import ACT_BITS

#: Version of the generated RTL's micro-architecture and port conventions; bump when either changes.
GENERATOR_VERSION = "1"

#: The array kinds, tree micro-architectures and dataflows.
ARRAYS = ("ternary", "ternary-lut", "int8", "fp16")
TREES = ("signed", "split", "deferred", "csa")
DATAFLOWS = ("stream", "stationary")
#: Which trees each array kind implements.
ARRAY_TREES = {
    "ternary": ("signed", "split", "deferred", "csa"),
    "ternary-lut": ("signed", "csa"),
    "int8": ("signed", "csa"),
    "fp16": ("signed",),
}
#: The array kinds whose weights are ternary (in {-1, 0, +1} on the host).
TERNARY_ARRAYS = ("ternary", "ternary-lut")
#: The group size of the LUT engine when none is given.
DEFAULT_GROUP = 3

#: Weight width of the int8 baseline array (signed two's complement).
INT8_WEIGHT_BITS = 8

#: Defaults of the generator (and of ``python -m hw.generate``).
DEFAULT_ARRAY = "ternary"
DEFAULT_LANES = 64
DEFAULT_ROWS = 8
DEFAULT_ACT_WIDTH = ACT_BITS
#: The activation width of each array kind when none is given (fp16 allows no other).
DEFAULT_ACT_WIDTHS = {
    "ternary": DEFAULT_ACT_WIDTH,
    "ternary-lut": DEFAULT_ACT_WIDTH,
    "int8": DEFAULT_ACT_WIDTH,
    "fp16": FP16_BITS,
}
#: 16,384 elements: above the longest in_features of BitNet b1.58 3B (8,640) and LLaMA-7B (11,008).
DEFAULT_MAX_K = 16384
DEFAULT_PIPELINE = 0
DEFAULT_TREE = "signed"
DEFAULT_DATAFLOW = "stream"

#: Range of the activation width.
MIN_ACT_WIDTH, MAX_ACT_WIDTH = 2, 16

Pipeline = int | Literal["full"]

#: The metadata every :class:`ArrayParams` field carries (:func:`parameter`), read by the command lines
#: (:func:`hw.generate.add_array_arguments`), the Verilog header and :meth:`ArrayParams.default_name`.
#: ``"help"``: the option's help text; ``"parse"``: the conversion of the option's text (``int``, ``str``
#: or a function raising ``ValueError``); ``"choices"``: the allowed strings or ``None``; ``"in_name"``: a
#: format string with one ``{}``, the parameter's part of the default module name.
PARAMETER_METADATA = ("help", "parse", "choices", "in_name")


def parse_pipeline(text: str) -> Pipeline:
    """``"full"`` or the integer ``text`` spells: the text of a ``--pipeline`` option."""
    if text == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer or 'full', got {text!r}") from None


def parameter(
    default: object,
    *,
    help: str,
    in_name: str,
    parse: Callable[[str], object] = int,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A field of :class:`ArrayParams` with the metadata :data:`PARAMETER_METADATA` describes.

    Parameters
    ----------
    default : object
        The field's default; ``None`` means "derived from the other fields" (the option is then optional
        with no default of its own).
    help : str
        The command-line help text (without the default, which the CLIs add).
    in_name : str
        The parameter's part of :meth:`ArrayParams.default_name`, a format string with one ``{}``.
    parse : callable
        Converts an option's text to the field's value; ``ValueError`` on bad text.
    choices : tuple of str, optional
        The allowed values of a string parameter.
    """
    if not isinstance(help, str) or not help:
        raise TypeError(f"help must be a non-empty string, got {help!r}")
    if not isinstance(in_name, str):
        raise TypeError(f"in_name must be a string, got {in_name!r}")
    if in_name.count("{}") != 1:
        raise ValueError(f"in_name must be a format string with exactly one {{}}, got {in_name!r}")
    if not callable(parse):
        raise TypeError(f"parse must be callable, got {parse!r}")
    metadata = {"help": help, "parse": parse, "choices": choices, "in_name": in_name}
    return dataclasses.field(default=default, metadata=metadata)


def _trees_help() -> str:
    return "; ".join(f"{array}: {', '.join(trees)}" for array, trees in ARRAY_TREES.items())


def signed_width(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in ``[lo, hi]`` (at least 1)."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    width = 1
    while lo < -(1 << (width - 1)) or hi > (1 << (width - 1)) - 1:
        width += 1
    return width


def tree_depth(lanes: int) -> int:
    """Pairwise adder levels reducing ``lanes`` terms to one: ``ceil(log2 lanes)`` (0 for one lane)."""
    return (lanes - 1).bit_length()


def tree_levels(inputs: int, tree: str) -> int:
    """Levels of a tree over ``inputs`` leaves: the product level, then ``ceil(log2 inputs)`` adder levels
    and, for ``split``, the subtraction, for ``deferred`` the addition of the negation count; ``csa``: the
    product level and one level holding the whole carry-save tree and its carry-propagate adder."""
    if tree == "csa":
        return 2
    return 1 + tree_depth(inputs) + (1 if tree in ("split", "deferred") else 0)


def _check_int(value: object, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(choices)}; not {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class ArrayParams:
    """Validated parameters of one MAC array (see the module docstring for their meaning).

    Raises ``TypeError`` for a parameter of the wrong type and ``ValueError`` for a value out of range; each
    message names the parameter. ``pipeline="full"`` is stored as the number of tree levels, and
    ``act_width=None`` as the array kind's width (:data:`DEFAULT_ACT_WIDTHS`: 8, or 16 for fp16).

    The fields are the one list of the array parameters: each is declared with :func:`parameter`, whose
    metadata (:data:`PARAMETER_METADATA`) gives its command-line option (``--act-width`` for
    ``act_width``), help text and text conversion, and its part of :meth:`default_name`. The CLIs, the
    Verilog header, :func:`hw.generate.generate_verilog` and the array constructors all derive from
    ``dataclasses.fields(ArrayParams)``, so a new parameter is one new field here (plus its validation in
    ``__post_init__``).
    """

    array: str = parameter(DEFAULT_ARRAY, help="array kind", in_name="{}_mac", parse=str, choices=ARRAYS)
    lanes: int = parameter(DEFAULT_LANES, help="N: activations per beat (>= 1)", in_name="n{}")
    rows: int = parameter(DEFAULT_ROWS, help="M: output channels in parallel (>= 1)", in_name="m{}")
    act_width: int | None = parameter(  # None: the array kind's default; always an int once constructed
        None,
        help=f"activation bits: signed, {MIN_ACT_WIDTH}..{MAX_ACT_WIDTH}, for the integer arrays (default: "
        f"{DEFAULT_ACT_WIDTHS['int8']}); binary16 for fp16, {DEFAULT_ACT_WIDTHS['fp16']} (its default and "
        "only width)",
        in_name="a{}",
    )
    max_k: int = parameter(
        DEFAULT_MAX_K,
        help="longest K-reduction in activation elements; sizes the accumulator so it cannot overflow "
        "(fp16: a host-side limit only)",
        in_name="k{}",
    )
    pipeline: Pipeline = parameter(
        DEFAULT_PIPELINE,
        help="tree registers: 0 (combinational) up to one per tree level, or 'full'",
        in_name="p{}",
        parse=parse_pipeline,
    )
    tree: str = parameter(
        DEFAULT_TREE,
        help=f"tree micro-architecture ({_trees_help()})",
        in_name="{}",
        parse=str,
        choices=TREES,
    )
    dataflow: str = parameter(
        DEFAULT_DATAFLOW,
        help="weights per beat, or a loaded tile",
        in_name="{}",
        parse=str,
        choices=DATAFLOWS,
    )
    group: int | None = parameter(  # None for every array but ternary-lut, whose default is DEFAULT_GROUP
        None,
        help=f"G: weights per group of the LUT engine, {GROUP_SIZES[0]}..{GROUP_SIZES[-1]} (default "
        f"{DEFAULT_GROUP}; the LUT array only)",
        in_name="g{}",
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "array", _check_choice(self.array, "array", ARRAYS))
        set_(self, "lanes", _check_int(self.lanes, "lanes", 1))
        set_(self, "rows", _check_int(self.rows, "rows", 1))
        if self.act_width is None:
            set_(self, "act_width", DEFAULT_ACT_WIDTHS[self.array])
        set_(self, "act_width", _check_int(self.act_width, "act_width", MIN_ACT_WIDTH, MAX_ACT_WIDTH))
        if self.array == "fp16" and self.act_width != FP16_BITS:
            raise ValueError(
                f"act_width must be {FP16_BITS} (IEEE binary16) for the fp16 array; got {self.act_width}"
            )
        set_(self, "max_k", _check_int(self.max_k, "max_k", 1, MAX_IN_FEATURES_INT32))
        set_(self, "tree", _check_choice(self.tree, "tree", TREES))
        if self.tree not in ARRAY_TREES[self.array]:
            raise ValueError(
                f"tree must be one of {', '.join(ARRAY_TREES[self.array])} for the {self.array} array; "
                f"got {self.tree!r}"
            )
        set_(self, "dataflow", _check_choice(self.dataflow, "dataflow", DATAFLOWS))
        if self.array == "ternary-lut":
            group = DEFAULT_GROUP if self.group is None else self.group
            set_(self, "group", _check_int(group, "group", GROUP_SIZES[0], GROUP_SIZES[-1]))
        elif self.group is not None:
            raise ValueError(
                f"group applies to the ternary-lut array only; got group={self.group!r} for {self.array}"
            )
        levels = tree_levels(self.tree_inputs, self.tree)
        if self.pipeline == "full":
            set_(self, "pipeline", levels)
        elif isinstance(self.pipeline, str):
            raise ValueError(f"pipeline must be an integer in [0, {levels}] or 'full'; got {self.pipeline!r}")
        else:
            set_(self, "pipeline", _check_int(self.pipeline, "pipeline", 0, levels))

    # --- operands ------------------------------------------------------------------------------------

    @property
    def is_float(self) -> bool:
        """True for the fp16 array (binary16 operands and sums), False for the integer arrays."""
        return self.array == "fp16"

    def _integer_only(self, name: str) -> None:
        if self.is_float:
            raise ValueError(
                f"{name} applies to the integer arrays (ternary, int8), not to fp16, whose operands and sums "
                "are IEEE binary16 bit patterns (see model.fp16)"
            )

    @property
    def act_min(self) -> int:
        """Most negative activation, ``-2**(a-1)`` (integer arrays only)."""
        self._integer_only("act_min")
        return -(1 << (self.act_width - 1))

    @property
    def act_max(self) -> int:
        """Most positive activation, ``2**(a-1) - 1`` (integer arrays only)."""
        self._integer_only("act_max")
        return (1 << (self.act_width - 1)) - 1

    @property
    def is_ternary(self) -> bool:
        """True for the arrays with ternary weights (:data:`TERNARY_ARRAYS`: the adder tree and the LUT)."""
        return self.array in TERNARY_ARRAYS

    @property
    def weight_fields(self) -> int:
        """Weight fields per row of a tile: ``N`` (one per lane), or ``ceil(N / G)`` group codes for the
        LUT engine (:mod:`model.group_code`)."""
        if self.array == "ternary-lut":
            return group_count(self.lanes, self.group)
        return self.lanes

    @property
    def weight_bits(self) -> int:
        """Bits of one weight field on a port: :data:`model.encoding.CODE_BITS` (ternary), the group code
        (ternary-lut: :func:`model.group_code.code_bits`, e.g. 5 for ``G = 3``), 8 (int8), 16 (fp16)."""
        if self.is_float:
            return FP16_BITS
        if self.array == "ternary-lut":
            return group_code_bits(self.group)
        return CODE_BITS if self.array == "ternary" else INT8_WEIGHT_BITS

    @property
    def weight_min(self) -> int:
        """Most negative weight value (-1 for ternary, -128 for int8; integer arrays only)."""
        self._integer_only("weight_min")
        return -1 if self.is_ternary else -(1 << (INT8_WEIGHT_BITS - 1))

    @property
    def weight_max(self) -> int:
        """Most positive weight value (+1 for ternary, 127 for int8; integer arrays only)."""
        self._integer_only("weight_max")
        return 1 if self.is_ternary else (1 << (INT8_WEIGHT_BITS - 1)) - 1

    @property
    def product_range(self) -> tuple[int, int]:
        """``(lo, hi)``: the range of one activation x weight product (integer arrays only)."""
        self._integer_only("product_range")
        corners = [a * w for a in (self.act_min, self.act_max) for w in (self.weight_min, self.weight_max)]
        return min(corners), max(corners)

    @property
    def product_max_magnitude(self) -> int:
        """``P``: the largest magnitude of a product (``2**(a-1)`` ternary, ``2**(a-1) * 128`` int8)."""
        self._integer_only("product_max_magnitude")
        lo, hi = self.product_range
        return max(-lo, hi)

    # --- reductions and widths -----------------------------------------------------------------------

    @property
    def max_beats(self) -> int:
        """``B = ceil(max_k / lanes)``: the longest K-reduction in beats."""
        return math.ceil(self.max_k / self.lanes)

    def beats(self, k: int) -> int:
        """Beats that a reduction of ``k`` elements takes: ``ceil(k / lanes)``."""
        k = _check_int(k, "k", 1, self.max_beats * self.lanes)
        return math.ceil(k / self.lanes)

    @property
    def tree_sum_width(self) -> int:
        """Width of one row's tree output (one beat): ``bit_length(N * P) + 1``; 16 for fp16."""
        if self.is_float:
            return FP16_BITS
        return (self.lanes * self.product_max_magnitude).bit_length() + 1

    @property
    def acc_width(self) -> int:
        """``W = bit_length(max_beats * N * P) + 1``: the accumulator and output-sum width; 16 for fp16."""
        if self.is_float:
            return FP16_BITS
        return (self.max_beats * self.lanes * self.product_max_magnitude).bit_length() + 1

    # --- tree and pipeline ---------------------------------------------------------------------------

    @property
    def tree_inputs(self) -> int:
        """Leaves of each row's tree: ``N`` lane products, or ``ceil(N / G)`` group sums (ternary-lut)."""
        return self.weight_fields

    @property
    def depth(self) -> int:
        """``D = ceil(log2 leaves)``: pairwise adder levels of each tree (0 for ``csa``, whose carry-save
        tree is one level)."""
        return 0 if self.tree == "csa" else tree_depth(self.tree_inputs)

    @property
    def levels(self) -> int:
        """``L``: tree levels (product level, ``D`` adder levels, plus the subtraction for ``split`` or
        the count for ``deferred``; ``csa``: 2)."""
        return tree_levels(self.tree_inputs, self.tree)

    @property
    def register_levels(self) -> tuple[int, ...]:
        """The tree levels followed by a pipeline register, ascending, ``len == pipeline``."""
        segments = self.levels + 1
        return tuple((s * segments) // (self.pipeline + 1) - 1 for s in range(1, self.pipeline + 1))

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a ``last`` beat to its sums on the output: ``pipeline + 1``."""
        return self.pipeline + 1

    # --- ports -------------------------------------------------------------------------------------

    @property
    def act_bits(self) -> int:
        """Bits of the packed activation vector: ``N * a``."""
        return self.lanes * self.act_width

    @property
    def tile_bits(self) -> int:
        """Bits of a packed ``M x N`` weight tile: ``M * weight_fields * weight_bits``."""
        return self.rows * self.weight_fields * self.weight_bits

    @property
    def sums_bits(self) -> int:
        """Bits of the packed output sums: ``M * W``."""
        return self.rows * self.acc_width

    @property
    def macs_per_beat(self) -> int:
        """Multiply-accumulates per beat: ``N * M``."""
        return self.lanes * self.rows

    def default_name(self) -> str:
        """A Verilog module name that spells out every parameter (each field's ``in_name``, joined by
        ``_``), e.g. ``ternary_mac_n64_m8_a8_k16384_p0_signed_stream``."""
        parts = [
            field.metadata["in_name"].format(getattr(self, field.name))
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not None  # group: the LUT engine's only
        ]
        return "_".join(parts).replace("-", "_")

    def as_dict(self) -> dict[str, int | str]:
        """The parameters as a plain dict (for headers, reports and caches)."""
        return dataclasses.asdict(self)
