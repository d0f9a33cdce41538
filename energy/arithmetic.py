"""The paper's arithmetic-only energy model: 71.4x per MAC, BitNet's Table 1 and the b1.58 Figure 3.

Per MAC, an FP16 matmul spends one FP16 multiply and one FP16 add; a BitNet b1.58 matmul (int8
activations, ternary weights) one INT8 add. :func:`matmul_saving` is their ratio, read from the ops table:
``(0.34 + 0.16) / 0.007 = 71.43`` at 7nm and ``(1.1 + 0.4) / 0.03 = 50`` at 45nm.

:func:`matmul_energy` applies BitNet's equations (``E_add = m (n - 1) p E_add_op``, ``E_mul = m n p
E_mul_op``, for b1.58 ``E_mul = (m p + m n) E_mul_op``) to every matmul of a model (see
:mod:`energy.opcount`). What is counted is a :class:`Counting`; the default, :data:`PAPER_COUNTING`, is
the convention that regenerates BitNet's Table 1 (:mod:`energy.table1` shows the residuals that single
it out): the decoder layers' linear layers, plus the attention score and context matmuls over the full
``S x S`` matrix, computed in FP16 in both models; the output head is not counted. In the b1.58 model
the linear layers' adds are INT8 adds and its rescale multiplies FP16 multiplies.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from energy.architecture import resolve_model
from energy.checks import check_choice, check_positive_int, check_str
from energy.ledger import charge, ledger_frame
from energy.opcount import ATTENTION_MODES, LM_HEAD_MODES, PHASES, matmul_counts
from energy.tables import EnergyTables, resolve_tables
from model.quant import ACT_BITS

#: The two model precisions.
PRECISIONS = ("fp16", "b1.58")
#: The ops-table dtype of the FP16 model's matmuls and of every high-precision op (rescales, lm_head).
HIGH_PRECISION = "fp16"
#: The ops-table dtype of a ternary matmul's adds: the activations' integer type (int8).
TERNARY_ADD = f"int{ACT_BITS}"
#: The b1.58 paper's Figure 3 (right) models and input length.
FIGURE3_MODELS = ("b1.58-1.3B", "b1.58-3B", "llama2-7B", "llama2-13B", "llama2-70B")
FIGURE3_TOKENS = 512


@dataclass(frozen=True)
class Counting:
    """Which matmuls an energy count includes, and in which precision.

    Parameters
    ----------
    attention : {"full", "causal", "none"}
        The attention score and context matmuls (see :mod:`energy.opcount`).
    lm_head : {"none", "last", "all"}
        The output head, always FP16 (BitNet keeps it in high precision).
    attention_dtype : str
        Ops-table dtype of the b1.58 model's attention matmuls (the FP16 model's are FP16).
    """

    attention: str = "full"
    lm_head: str = "none"
    attention_dtype: str = HIGH_PRECISION

    def __post_init__(self) -> None:
        check_choice(self.attention, "counting.attention", ATTENTION_MODES)
        check_choice(self.lm_head, "counting.lm_head", LM_HEAD_MODES)
        check_str(self.attention_dtype, "counting.attention_dtype")


#: The convention that regenerates BitNet's Table 1 (full attention in FP16, no output head).
PAPER_COUNTING = Counting()
#: The linear layers alone.
LINEAR_ONLY = Counting(attention="none")


def check_precision(precision: object) -> str:
    """Return ``precision`` if it is ``"fp16"`` or ``"b1.58"``; ``ValueError``/``TypeError`` otherwise."""
    return check_choice(precision, "precision", PRECISIONS)


def matmul_saving(node: str, tables: EnergyTables | None = None) -> float:
    """Per-MAC arithmetic energy ratio FP16 / b1.58: ``(FP16 mul + FP16 add) / INT8 add`` at ``node``.

    Parameters
    ----------
    node : str
        A node of the ops table (``"7nm"``, ``"45nm"``, or one a user added).
    tables : EnergyTables, optional
        Tables with user overrides; the shipped ones by default.

    Returns
    -------
    float
        71.43 at 7nm, 50.0 at 45nm with the shipped table.
    """
    tables = resolve_tables(tables)
    node = tables.check_node(node)
    fp16 = tables.op(node, "mul", HIGH_PRECISION).value_pJ + tables.op(node, "add", HIGH_PRECISION).value_pJ
    return fp16 / tables.op(node, "add", TERNARY_ADD).value_pJ


def per_mac_energy(node: str, tables: EnergyTables | None = None) -> pd.DataFrame:
    """The per-MAC energy of each precision split by op type (Figure 3, left), with rows and sources.

    Columns ``precision``, ``op``, ``dtype``, ``energy_pJ``, ``row``, ``source``.
    """
    tables = resolve_tables(tables)
    node = tables.check_node(node)
    parts = [("fp16", "mul", HIGH_PRECISION), ("fp16", "add", HIGH_PRECISION), ("b1.58", "add", TERNARY_ADD)]
    lines = []
    for precision, op, dtype in parts:
        entry = tables.op(node, op, dtype)
        lines.append(
            {
                "precision": precision,
                "op": op,
                "dtype": dtype,
                "energy_pJ": entry.value_pJ,
                "row": entry.rows[0],
                "source": entry.sources[0],
            }
        )
    return pd.DataFrame(lines)


def arithmetic_ledger(
    model: object,
    tokens: int,
    node: str,
    precision: str,
    *,
    counting: Counting = PAPER_COUNTING,
    phase: str = "prefill",
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """The ledger (see :mod:`energy.ledger`) of the arithmetic energy of every counted matmul.

    Terms: ``linear`` (the decoder layers' projections), ``rescale`` (b1.58 only: ``m p + m n`` FP16
    multiplies per linear layer), ``attention`` and ``lm_head``. Arguments as for :func:`matmul_energy`.
    """
    tables = resolve_tables(tables)
    node = tables.check_node(node)
    precision = check_precision(precision)
    if not isinstance(counting, Counting):
        raise TypeError(f"counting must be a Counting, not {type(counting).__name__}")
    counts = matmul_counts(
        model, tokens, phase, attention=counting.attention, lm_head=counting.lm_head, tables=tables
    )
    sums = counts.groupby("kind")[["macs", "adds", "rescale_muls"]].sum()
    rows = []

    def add_matmul(term: str, kind: str, mul_dtype: str | None, add_dtype: str) -> None:
        if kind not in sums.index:
            return
        if mul_dtype is not None:
            rows.append(
                charge(precision, term, "mul", sums.at[kind, "macs"], tables.op(node, "mul", mul_dtype))
            )
        rows.append(charge(precision, term, "add", sums.at[kind, "adds"], tables.op(node, "add", add_dtype)))

    if precision == "fp16":
        add_matmul("linear", "linear", HIGH_PRECISION, HIGH_PRECISION)
        add_matmul("attention", "attention", HIGH_PRECISION, HIGH_PRECISION)
    else:
        add_matmul("linear", "linear", None, TERNARY_ADD)
        rescale = tables.op(node, "mul", HIGH_PRECISION)
        rows.append(charge(precision, "rescale", "mul", sums.at["linear", "rescale_muls"], rescale))
        add_matmul("attention", "attention", counting.attention_dtype, counting.attention_dtype)
    add_matmul("lm_head", "lm_head", HIGH_PRECISION, HIGH_PRECISION)
    return ledger_frame(rows)


def matmul_energy(
    model: object,
    tokens: int,
    node: str,
    precision: str,
    *,
    counting: Counting = PAPER_COUNTING,
    phase: str = "prefill",
    tables: EnergyTables | None = None,
) -> dict[str, float]:
    """Matmul arithmetic energy of ``model`` on ``tokens`` tokens, in joules.

    Parameters
    ----------
    model : str, mapping or ModelConfig
        A size name (``"1.3B"``, ``"6.7B"``, ``"13B"``, ``"30B"``, ``"70B"``, ...), a full table name
        (``"llama2-13B"``) or the fields of :class:`energy.architecture.ModelConfig`.
    tokens : int
        Input length (prefill), or context length (``phase="decode"``); >= 1.
    node : str
        ``"7nm"``, ``"45nm"`` or a node added to the ops table.
    precision : {"fp16", "b1.58"}
    counting : Counting
        What to count; :data:`PAPER_COUNTING` (BitNet Table 1's convention) by default.
    phase : {"prefill", "decode"}
    tables : EnergyTables, optional
        Tables with user overrides.

    Returns
    -------
    dict
        ``mul_J``, ``add_J`` and ``total_J`` (floats, joules).

    Raises
    ------
    ValueError, TypeError
        For an unknown node, model or precision, or a non-positive ``tokens``; the message names the
        argument.
    """
    tables = resolve_tables(tables)
    tables.check_node(node)
    check_precision(precision)
    resolve_model(model, tables)
    check_positive_int(tokens, "tokens")
    check_choice(phase, "phase", PHASES)
    ledger = arithmetic_ledger(model, tokens, node, precision, counting=counting, phase=phase, tables=tables)
    by_op = ledger.groupby("op")["energy_J"].sum()
    mul, add = float(by_op.get("mul", 0.0)), float(by_op.get("add", 0.0))
    return {"mul_J": mul, "add_J": add, "total_J": mul + add}


def model_label(name: str) -> str:
    """Short label of a table model name: ``"llama2-13B"`` -> ``"13B"``."""
    return name.split("-", 1)[-1]


def energy_by_model(
    models: tuple[object, ...] = FIGURE3_MODELS,
    tokens: int = FIGURE3_TOKENS,
    node: str = "7nm",
    *,
    counting: Counting = PAPER_COUNTING,
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """FP16 vs b1.58 matmul energy per model (Figure 3, right, with the default arguments).

    Columns ``model``, ``label``, ``fp16_mul_J``, ``fp16_add_J``, ``fp16_total_J``, ``b1.58_mul_J``,
    ``b1.58_add_J``, ``b1.58_total_J`` and ``ratio`` (FP16 total / b1.58 total).
    """
    tables = resolve_tables(tables)
    lines = []
    for model in models:
        config = resolve_model(model, tables)
        line = {"model": config.name, "label": model_label(config.name)}
        for precision in PRECISIONS:
            energy = matmul_energy(config, tokens, node, precision, counting=counting, tables=tables)
            for key, value in energy.items():
                line[f"{precision}_{key}"] = value
        line["ratio"] = line["fp16_total_J"] / line["b1.58_total_J"]
        lines.append(line)
    return pd.DataFrame(lines)
