"""Shared test set-up.

transformers decorates its BitNet reference functions with ``torch.compile``; the tests run them eagerly
(the same arithmetic, no C++ compiler needed) by disabling TorchDynamo before torch is first imported.
"""

import os

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
