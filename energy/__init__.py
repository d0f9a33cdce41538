"""The energy model of bitnet-codesign: what BitNet b1.58 buys in matmul energy, from tables and gates.

Modules, each with one job:

``energy.tables``
    the per-op, memory, model-shape and BitNet Table 1 data (``energy/data/*.csv``, every row with its
    source), user overrides and extensions (CSV/TOML), lookups that return values with their row ids.
``energy.architecture``, ``energy.opcount``
    LLaMA-alike model shapes and the op counts of every matmul for prefill and decode.
``energy.arithmetic``
    the paper's arithmetic-only model: ``matmul_saving(node)`` (71.4x at 7nm, 50x at 45nm) and
    ``matmul_energy(model, tokens, node, precision)``.
``energy.table1``
    BitNet's Table 1 regenerated with a residual per cell, and the counting convention it implies.
``energy.accumulator``, ``energy.sparsity``, ``energy.formats``, ``energy.traffic``
    accumulator width, measured zero-weight fraction, weight storage formats, memory traffic.
``energy.system``
    the system model and the waterfall of the FP16 / b1.58 ratio for decode and prefill.
``energy.plots``, ``energy.report``
    the figures and ``python -m energy.report``.
``energy.checks``, ``energy.ledger``
    argument checks shared by the modules above, and the traced energy ledger (rows with their sources).
``energy.model_energy``
    energy per token of a trained model's matmuls from the energy per MAC measured at gate level on its
    own operands, per projection type, in the system waterfall and extrapolated to larger shapes
    (``python -m energy.model_energy``).
``energy.gates``
    the gate-level wing: generated arrays synthesized to ASAP7 cells, simulated bit-exact on realistic
    data and priced with the liberty's tables (``python -m energy.gates``; see its package docstring).
"""
