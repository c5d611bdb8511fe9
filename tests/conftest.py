"""Shared test settings: one torch thread and small, fast estimators."""

import numpy as np
import pytest
import torch

# One intra-op thread: the suite runs on 2-core machines, and results stay reproducible.
torch.set_num_threads(1)

# A tiny network and few epochs: enough to exercise every code path in milliseconds.
FAST = {"hidden_layer_sizes": (16,), "max_iter": 5, "batch_size": 32}


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def X(rng):
    """Standardised-looking data with a 2-dimensional structure plus noise."""
    latent = rng.normal(size=(120, 2))
    mixing = rng.normal(size=(2, 6))
    return np.tanh(latent @ mixing) + 0.05 * rng.normal(size=(120, 6))
