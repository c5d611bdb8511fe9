"""Shared test settings: one torch thread and small, fast estimators."""

import numpy as np
import pytest
import torch

# One intra-op thread: the suite runs on 2-core machines, and results stay reproducible.
torch.set_num_threads(1)

# A tiny network and few epochs: enough to exercise every code path in milliseconds.
# Every row is trained on: the held-out rule (the default) keeps the PPCA start on data
# this small, and most tests need weights that training changed. Tests of the rule set
# early_stopping themselves.
FAST = {"hidden_layer_sizes": (16,), "max_iter": 5, "batch_size": 32, "early_stopping": False}


@pytest.fixture
def no_warmup(monkeypatch):
    """No KL warm-up, hence no epochs in which the stopping rules count no misses."""
    from skvae._fit import training as _training

    monkeypatch.setattr(_training, "_KL_WARMUP_STEPS", 0)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def X(rng):
    """Standardised-looking data with a 2-dimensional structure plus noise."""
    latent = rng.normal(size=(120, 2))
    mixing = rng.normal(size=(2, 6))
    return np.tanh(latent @ mixing) + 0.05 * rng.normal(size=(120, 6))
