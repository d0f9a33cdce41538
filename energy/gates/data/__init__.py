"""Data shipped with the gate-level flow: the bundled ASAP7 subset (see :mod:`energy.gates.bundled`)."""
