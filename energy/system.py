"""The system model: where the paper's 71.4x lands once the effects it leaves out are added.

:func:`waterfall` starts from the per-MAC ratio of the ops table and adds one effect at a time, for a
prefill of ``tokens`` tokens or one decode step (batch 1) at a context of ``tokens``:

1. ``linear``: the decoder layers' linear layers with the paper's counting (FP16 MACs vs INT8 adds plus
   ``m p + m n`` FP16 rescale multiplies).
2. ``attention``: the attention score/context matmuls, FP16 in both models (``causal`` by default: a
   causal kernel computes only the lower triangle; the paper's Table 1 counts the full square).
3. ``lm_head``: the output head in FP16 for the last token (BitNet keeps it in high precision).
4. ``accumulator``: the ternary adds go into a real accumulator (:mod:`energy.accumulator`: ``int32``
   by default, or ``exact`` / ``adder_tree`` / the paper's ``int8``); optionally the FP16 baseline
   accumulates in FP32 (``fp16_accumulator="fp32"``).
5. ``quantization``: the paper's ``m p + m n`` multiplies are replaced by what a BitLinear does: one FP16
   multiply per output (rescale) and, per element of each distinct input (shared by ``q/k/v`` and by
   ``gate/up``), one FP16 multiply (scale), one compare (absmax) and one round, the compare and the round
   charged as FP16 adds (the ops table has no compare or convert rows; add some to refine).
6. ``zero_skipping``: zero weights skip their add; the zero fraction is measured with ``model.quant``
   (:mod:`energy.sparsity`), on synthetic Gaussian weights unless given. Removing the whole add is the
   ideal of a gated lane, an upper bound on the saving.
7. ``weight_traffic``: weights read from ``weight_tier`` (the node's cheapest DRAM by default): FP16 at
   16 bits per weight, b1.58 in ``weight_format`` (2-bit codes by default).
8. ``activation_traffic``: activations in ``activation_tier`` (the node's largest SRAM by default) and
   the FP16 KV cache in ``kv_tier`` (the weight tier by default); see :mod:`energy.traffic`.

Memory energy per bit is the table's access energy divided by its access width; ``memory_estimate``
picks the low or high end of a published range.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from energy.accumulator import ACCUMULATORS, accumulate_energy
from energy.architecture import ModelConfig, resolve_model
from energy.arithmetic import HIGH_PRECISION, PRECISIONS, TERNARY_ADD, matmul_saving
from energy.checks import check_choice, check_fraction, check_positive_int, check_str
from energy.formats import WEIGHT_FORMATS
from energy.ledger import J_PER_PJ, charge, ledger_frame, total_J
from energy.opcount import PHASES, matmul_counts
from energy.sparsity import synthetic_zero_fraction
from energy.tables import MEMORY_ESTIMATES, EnergyTables, resolve_tables
from energy.traffic import traffic_bits

#: The waterfall's steps, in order; each adds one effect to the previous.
STEPS = (
    "per_mac",
    "linear",
    "attention",
    "lm_head",
    "accumulator",
    "quantization",
    "zero_skipping",
    "weight_traffic",
    "activation_traffic",
)
SYSTEM_ATTENTION = ("causal", "full")
FP16_ACCUMULATORS = ("fp16", "fp32")


@dataclass(frozen=True)
class SystemConfig:
    """The assumptions of the system model (all checked against the tables by :func:`system_ledger`).

    Parameters
    ----------
    node : str
        Process node of the tables.
    weight_format : str
        b1.58 weight storage, a name of :data:`energy.formats.WEIGHT_FORMATS`.
    weight_tier, activation_tier, kv_tier : str, optional
        Memory tiers of the node (``sram_8KB`` ... ``dram_hbm2``); defaults: the cheapest DRAM, the
        largest SRAM, and the weight tier.
    memory_estimate : {"low", "high"}
        End of a published memory-energy range.
    accumulator : {"int32", "exact", "adder_tree", "int8"}
        How the ternary adds accumulate (:mod:`energy.accumulator`).
    fp16_accumulator : {"fp16", "fp32"}
        The FP16 baseline's add dtype from the accumulator step on.
    zero_fraction : float, optional
        Fraction of zero ternary weights; measured on synthetic Gaussian weights when None.
    attention : {"causal", "full"}
        Attention matmuls of a prefill.
    """

    node: str = "7nm"
    weight_format: str = "ternary"
    weight_tier: str | None = None
    activation_tier: str | None = None
    kv_tier: str | None = None
    memory_estimate: str = "low"
    accumulator: str = "int32"
    fp16_accumulator: str = "fp16"
    zero_fraction: float | None = None
    attention: str = "causal"

    def __post_init__(self) -> None:
        check_str(self.node, "node")
        check_choice(self.weight_format, "weight_format", tuple(WEIGHT_FORMATS))
        for name in ("weight_tier", "activation_tier", "kv_tier"):
            if getattr(self, name) is not None:
                check_str(getattr(self, name), name)
        check_choice(self.memory_estimate, "memory_estimate", MEMORY_ESTIMATES)
        check_choice(self.accumulator, "accumulator", ACCUMULATORS)
        check_choice(self.fp16_accumulator, "fp16_accumulator", FP16_ACCUMULATORS)
        if self.zero_fraction is not None:
            check_fraction(self.zero_fraction, "zero_fraction")
        check_choice(self.attention, "attention", SYSTEM_ATTENTION)


@dataclass(frozen=True)
class _Resolved:
    node: str
    weight_tier: str
    activation_tier: str
    kv_tier: str
    zero_fraction: float


def resolve_config(config: SystemConfig, tables: EnergyTables) -> _Resolved:
    """Check ``config`` against ``tables`` and fill in the default tiers and the zero fraction."""
    if not isinstance(config, SystemConfig):
        raise TypeError(f"config must be a SystemConfig, not {type(config).__name__}")
    node = tables.check_node(config.node)
    weight_tier = config.weight_tier or tables.cheapest_tier(node, "dram")
    activation_tier = config.activation_tier or tables.largest_sram(node)
    kv_tier = config.kv_tier or weight_tier
    for name, tier in (
        ("weight_tier", weight_tier),
        ("activation_tier", activation_tier),
        ("kv_tier", kv_tier),
    ):
        check_choice(tier, name, tables.tiers(node))
    zero = config.zero_fraction if config.zero_fraction is not None else synthetic_zero_fraction()
    return _Resolved(node, weight_tier, activation_tier, kv_tier, zero)


def _enabled(step: str) -> set[str]:
    return set(STEPS[: STEPS.index(check_choice(step, "step", STEPS)) + 1])


def _fp16_linear_rows(
    linear: pd.DataFrame, on: set[str], config: SystemConfig, node: str, tables: EnergyTables
) -> list[dict]:
    """The FP16 baseline's linear layers: one multiply and one add per MAC (FP32 adds if so configured)."""
    fp16_acc = config.fp16_accumulator if "accumulator" in on else HIGH_PRECISION
    return [
        charge("fp16", "linear", "mul", linear["macs"].sum(), tables.op(node, "mul", HIGH_PRECISION)),
        charge("fp16", "linear", "add", linear["adds"].sum(), tables.op(node, "add", fp16_acc)),
    ]


def _b158_linear_rows(
    linear: pd.DataFrame, on: set[str], config: SystemConfig, setup: _Resolved, tables: EnergyTables
) -> list[dict]:
    """The b1.58 linear layers: the adds per reduction length ``n`` (the accumulator's energy depends on
    ``n``; zero weights skipped from ``zero_skipping`` on), then the rescale and activation quantization."""
    node = setup.node
    keep = 1 - setup.zero_fraction if "zero_skipping" in on else 1.0
    rows = []
    for n, group in linear.groupby("n"):
        if "accumulator" in on:
            entry = accumulate_energy(config.accumulator, int(n), node, tables)
        else:
            entry = tables.op(node, "add", TERNARY_ADD)
        rows.append(charge("b1.58", "linear", "add", group["adds"].sum() * keep, entry))
    fp16_mul, fp16_add = tables.op(node, "mul", HIGH_PRECISION), tables.op(node, "add", HIGH_PRECISION)
    if "quantization" in on:
        rows.append(charge("b1.58", "rescale", "mul", linear["out_elements"].sum(), fp16_mul))
        elements = linear["quant_elements"].sum()
        rows.append(charge("b1.58", "act_quant", "mul", elements, fp16_mul))
        rows.append(charge("b1.58", "act_quant", "add", 2 * elements, fp16_add))
    else:
        rows.append(charge("b1.58", "rescale", "mul", linear["rescale_muls"].sum(), fp16_mul))
    return rows


def _shared_fp16_rows(counts: pd.DataFrame, node: str, tables: EnergyTables) -> list[dict]:
    """The matmuls both models compute in FP16: attention score/context and the output head."""
    fp16_mul, fp16_add = tables.op(node, "mul", HIGH_PRECISION), tables.op(node, "add", HIGH_PRECISION)
    rows = []
    for kind in ("attention", "lm_head"):
        part = counts[counts["kind"] == kind]
        if part.empty:
            continue
        for precision in PRECISIONS:
            rows.append(charge(precision, kind, "mul", part["macs"].sum(), fp16_mul))
            rows.append(charge(precision, kind, "add", part["adds"].sum(), fp16_add))
    return rows


def _traffic_rows(
    model: ModelConfig,
    tokens: int,
    phase: str,
    on: set[str],
    config: SystemConfig,
    setup: _Resolved,
    tables: EnergyTables,
) -> list[dict]:
    """Memory traffic from ``weight_traffic`` on: weights, then activations and KV cache, per bit moved."""
    if "weight_traffic" not in on:
        return []
    node = setup.node
    tiers = {"weights": setup.weight_tier, "activations": setup.activation_tier, "kv_cache": setup.kv_tier}
    terms = ("weights", "activations", "kv_cache") if "activation_traffic" in on else ("weights",)
    lm_head = "last" if "lm_head" in on else "none"
    rows = []
    for precision in PRECISIONS:
        bits = traffic_bits(
            model,
            tokens,
            phase,
            precision,
            weight_format=config.weight_format,
            lm_head=lm_head,
            tables=tables,
        )
        for term in terms:
            tier = tiers[term]
            entry = tables.memory_access(node, tier, config.memory_estimate)
            per = tables.access_bits(node, tier)
            rows.append(charge(precision, term, f"{tier} bit", bits[term], entry, per=per))
    return rows


def system_ledger(
    model: object,
    tokens: int,
    phase: str,
    config: SystemConfig | None = None,
    *,
    step: str = STEPS[-1],
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """The energy ledger of both precisions with the effects up to ``step`` (see the module docstring).

    Parameters
    ----------
    model : str, mapping or ModelConfig
    tokens : int
        Prefill length, or decode context length.
    phase : {"prefill", "decode"}
    config : SystemConfig, optional
    step : str
        The last effect included, one of :data:`STEPS` (``per_mac`` behaves like ``linear``).
    tables : EnergyTables, optional

    Returns
    -------
    pandas.DataFrame
        Ledger rows (:mod:`energy.ledger`) with terms ``linear``, ``rescale``, ``act_quant``,
        ``attention``, ``lm_head``, ``weights``, ``activations``, ``kv_cache``.
    """
    tables = resolve_tables(tables)
    config = SystemConfig() if config is None else config
    setup = resolve_config(config, tables)
    config_model = resolve_model(model, tables)
    tokens = check_positive_int(tokens, "tokens")
    phase = check_choice(phase, "phase", PHASES)
    on = _enabled(step)
    counts = matmul_counts(
        config_model,
        tokens,
        phase,
        attention=config.attention if "attention" in on else "none",
        lm_head="last" if "lm_head" in on else "none",
        tables=tables,
    )
    linear = counts[counts["kind"] == "linear"]
    rows = [
        *_fp16_linear_rows(linear, on, config, setup.node, tables),
        *_b158_linear_rows(linear, on, config, setup, tables),
        *_shared_fp16_rows(counts, setup.node, tables),
        *_traffic_rows(config_model, tokens, phase, on, config, setup, tables),
    ]
    return ledger_frame(rows)


def step_labels(config: SystemConfig | None = None, tables: EnergyTables | None = None) -> dict[str, str]:
    """A short label per waterfall step, naming the assumption it adds."""
    tables = resolve_tables(tables)
    config = SystemConfig() if config is None else config
    setup = resolve_config(config, tables)
    fp32 = ", FP16 baseline accumulates in FP32" if config.fp16_accumulator == "fp32" else ""
    return {
        "per_mac": "per MAC (ops table)",
        "linear": "linear layers (paper counting)",
        "attention": f"+ attention matmuls ({config.attention}, FP16)",
        "lm_head": "+ output head (FP16, last token)",
        "accumulator": f"+ {config.accumulator} accumulator{fp32}",
        "quantization": "+ rescale & activation quantization",
        "zero_skipping": f"+ zero-weight skipping ({setup.zero_fraction:.1%} zeros)",
        "weight_traffic": f"+ weight traffic ({config.weight_format}, {setup.weight_tier})",
        "activation_traffic": f"+ activations ({setup.activation_tier}) & KV cache ({setup.kv_tier})",
    }


def _step_totals(
    model: object, tokens: int, phase: str, config: SystemConfig, step: str, tables: EnergyTables
) -> tuple[float, float]:
    """The FP16 and b1.58 energies (J) with the effects up to ``step``.

    The ``per_mac`` step charges the linear layers' MACs at the per-MAC energies of the ops table: FP16
    multiply + add, and that over :func:`energy.arithmetic.matmul_saving` for b1.58.
    """
    if step != "per_mac":
        ledger = system_ledger(model, tokens, phase, config, step=step, tables=tables)
        return total_J(ledger, "fp16"), total_J(ledger, "b1.58")
    ledger = system_ledger(model, tokens, phase, config, step="linear", tables=tables)
    macs = ledger[(ledger["precision"] == "fp16") & (ledger["op"] == "mul")]["count"].sum()
    node = config.node
    fp16 = macs * (
        tables.op(node, "mul", HIGH_PRECISION).value_pJ + tables.op(node, "add", HIGH_PRECISION).value_pJ
    )
    b158 = fp16 / matmul_saving(node, tables)
    return fp16 * J_PER_PJ, b158 * J_PER_PJ


def waterfall(
    model: object,
    tokens: int,
    phase: str,
    config: SystemConfig | None = None,
    *,
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """The FP16 / b1.58 energy ratio after each step of :data:`STEPS`.

    Returns
    -------
    pandas.DataFrame
        One row per step: ``step``, ``label``, ``fp16_J``, ``b1.58_J``, ``ratio`` and ``change`` (this
        ratio over the previous one). The ``per_mac`` row charges the linear layers' MACs at the per-MAC
        energies, so its ratio is :func:`energy.arithmetic.matmul_saving`.
    """
    tables = resolve_tables(tables)
    config = SystemConfig() if config is None else config
    labels = step_labels(config, tables)
    lines = []
    for step in STEPS:
        fp16_J, b158_J = _step_totals(model, tokens, phase, config, step, tables)
        lines.append({"step": step, "label": labels[step], "fp16_J": fp16_J, "b1.58_J": b158_J})
    frame = pd.DataFrame(lines)
    frame["ratio"] = frame["fp16_J"] / frame["b1.58_J"]
    frame["change"] = frame["ratio"] / frame["ratio"].shift(1)
    return frame


def term_shares(ledger: pd.DataFrame) -> pd.DataFrame:
    """Energy per term and precision with each term's share of its precision's total, largest first."""
    sums = ledger.groupby(["precision", "term"], sort=False)["energy_J"].sum().reset_index()
    sums["share"] = sums["energy_J"] / sums.groupby("precision")["energy_J"].transform("sum")
    return sums.sort_values(["precision", "energy_J"], ascending=[True, False]).reset_index(drop=True)


def dominant_term(ledger: pd.DataFrame, precision: str) -> tuple[str, float]:
    """The term with the largest energy for ``precision`` and its share of that precision's total."""
    shares = term_shares(ledger)
    shares = shares[shares["precision"] == check_choice(precision, "precision", PRECISIONS)]
    top = shares.iloc[0]
    return str(top["term"]), float(top["share"])


def describe_model(config: ModelConfig) -> str:
    """One line naming a model's shape and its source."""
    return (
        f"{config.name}: hidden {config.hidden}, intermediate {config.intermediate} ({config.ffn}), "
        f"{config.layers} layers, {config.heads} heads ({config.kv_heads} kv), vocab {config.vocab}"
    )
