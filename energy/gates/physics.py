"""What a gate-level measurement models beyond the zero-delay netlist: the activity mode, wires, clock tree.

:class:`PhysicsSettings` holds the three switches (each field is also a command-line option of
``python -m energy.gates`` and of ``benchmarks/glitches.py``); the default reproduces the flow's zero-delay
figures exactly:

- ``activity``: ``zero-delay`` (:mod:`energy.gates.gatesim`: at most one toggle per net and cycle) or
  ``timing`` (:mod:`energy.gates.timed`: the liberty's delays, every glitch counted);
- ``wire_load``: the fanout-based wire capacitance of :mod:`energy.gates.parasitics` on every net;
- ``clock_tree``: the balanced buffer tree of :mod:`energy.gates.parasitics` priced every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.cli import option_field

ACTIVITY_MODES = ("zero-delay", "timing")


def activity_mode(text: str) -> str:
    if text not in ACTIVITY_MODES:
        raise ValueError(f"activity must be one of {', '.join(ACTIVITY_MODES)}, got {text!r}")
    return text


def switch(text: str) -> bool:
    """``on``/``off`` (also ``true``/``false``, ``yes``/``no``, ``1``/``0``) as a bool."""
    words = {
        "on": True,
        "true": True,
        "yes": True,
        "1": True,
        "off": False,
        "false": False,
        "no": False,
        "0": False,
    }
    if text.lower() not in words:
        raise ValueError(f"expected on or off, got {text!r}")
    return words[text.lower()]


@dataclass(frozen=True)
class PhysicsSettings:
    """The activity mode and the parasitics of one measurement (see the module docstring)."""

    activity: str = option_field(
        "zero-delay",
        "gate-level activity: zero-delay (a net toggles at most once a cycle) or timing (the liberty's "
        "delays at each load and propagated slew, glitches counted; energy.gates.timed)",
        activity_mode,
    )
    wire_load: bool = option_field(
        False, "add a fanout-based wire capacitance to every net (a model; energy.gates.parasitics)", switch
    )
    clock_tree: bool = option_field(
        False, "price a balanced clock-buffer tree every cycle (a model; energy.gates.parasitics)", switch
    )

    def __post_init__(self) -> None:
        activity_mode(self.activity)
        for name in ("wire_load", "clock_tree"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")

    @property
    def label(self) -> str:
        """``zero-delay``, ``timing``, ``timing + wires + clock tree``, ..."""
        parts = [self.activity] + ["wires"] * self.wire_load + ["clock tree"] * self.clock_tree
        return " + ".join(parts)
