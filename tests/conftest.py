"""Shared test set-up.

transformers decorates its BitNet reference functions with ``torch.compile``; the tests run them eagerly
(the same arithmetic, no C++ compiler needed) by disabling TorchDynamo before torch is first imported.
Every test gets torch's thread count back afterwards (a training run sets it for the process).
"""

import os
import sys

import pytest

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """A training run sets torch's thread count for the process (``--threads``); give the next test its
    own back (only when torch is already imported: most tests never import it)."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    if threads is not None:
        torch.set_num_threads(threads)
