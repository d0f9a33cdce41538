"""A synthetic training text for the tests that train or read a corpus: a few words in random order, so
that they run anywhere (imported as ``text_data``: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import random

WORDS = "the quick brown fox jumps over a lazy dog and my cat sat on the mat while birds sing".split()


def synthetic_text(lines: int = 600, seed: int = 0) -> str:
    """``lines`` lines of eight random words and a full stop."""
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(lines)) + "\n"
