"""Training on data that does not fit in memory: partial_fit over chunks of a memmap."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from skorch.callbacks import LRScheduler

from skvae import VAETransformer

from .conftest import FAST


@pytest.fixture
def memmap(tmp_path, rng):
    latent = rng.normal(size=(3000, 2))
    data = np.tanh(latent @ rng.normal(size=(2, 8))) + 0.05 * rng.normal(size=(3000, 8))
    path = tmp_path / "rows.f32"
    stored = np.memmap(path, dtype=np.float32, mode="w+", shape=data.shape)
    stored[:] = data
    stored.flush()
    return np.memmap(path, dtype=np.float32, mode="r", shape=data.shape)


def _chunks(rows, size):
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def test_partial_fit_over_memmap_chunks(memmap, no_warmup):
    vae = VAETransformer(random_state=0, **FAST)
    before = np.array(memmap)
    for _ in range(3):
        for chunk in _chunks(memmap, 500):
            vae.partial_fit(chunk)
    assert vae.n_iter_ == 3 * 6
    assert vae.n_samples_seen_ == 3 * len(memmap)
    assert_array_equal(memmap, before)
    # Training over the chunks lowered the loss, and the model transforms the memmap.
    assert vae.loss_curve_[-1] < vae.loss_curve_[0]
    Z = vae.transform(memmap)
    assert Z.dtype == np.float32 and Z.shape == (len(memmap), 2)


def test_fit_counts_the_rows_it_saw(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    assert vae.n_samples_seen_ == len(X)
    vae.partial_fit(X[:10])
    assert vae.n_samples_seen_ == len(X) + 10
    vae.fit(X[:50])
    assert vae.n_samples_seen_ == 50


@pytest.mark.parametrize(("name", "value"), [
    ("n_components", 1),
    ("hidden_layer_sizes", (8, 8)),
    ("likelihood", "bernoulli"),
    ("prior", "laplace"),
])
def test_partial_fit_refuses_a_changed_architecture(X, name, value):
    vae = VAETransformer(random_state=0, **FAST).partial_fit(X)
    n_iter = vae.n_iter_
    vae.set_params(**{name: value})
    with pytest.raises(ValueError, match=f"partial_fit cannot change {name} of a fitted"):
        vae.partial_fit(X)
    assert vae.n_iter_ == n_iter
    # fit trains a new model with it.
    assert vae.fit(np.clip(X, 0, 1)).n_iter_ >= 1


def test_partial_fit_refuses_a_changed_sparsity_target(X):
    vae = VAETransformer(prior="spike_slab", random_state=0, **FAST).partial_fit(X)
    vae.set_params(nonzero_fraction=0.5)
    with pytest.raises(ValueError, match="nonzero_fraction"):
        vae.partial_fit(X)


def test_partial_fit_follows_new_training_settings(X):
    vae = VAETransformer(random_state=0, **FAST).partial_fit(X)
    vae.set_params(beta=0.25, learning_rate_init=1e-4, free_bits=0.5)
    vae.partial_fit(X)
    assert vae.net_.criterion_.beta == 0.25
    assert vae.net_.criterion_.free_bits == 0.5
    assert vae.net_.optimizer_.param_groups[0]["lr"] == 1e-4


def test_partial_fit_needs_the_same_features(X):
    vae = VAETransformer(random_state=0, **FAST).partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        vae.partial_fit(X[:, :3])


def test_partial_fit_keeps_a_learning_rate_schedule(X):
    schedule = LRScheduler("StepLR", step_size=1, gamma=0.5)
    vae = VAETransformer(random_state=0, callbacks=[schedule], **FAST).fit(X)
    lr = vae.net_.optimizer_.param_groups[0]["lr"]
    vae.partial_fit(X)
    # The schedule goes on from where fit left it (skorch's LRScheduler also steps once
    # when it is set up again for the new call); it does not restart at the initial rate.
    assert vae.net_.optimizer_.param_groups[0]["lr"] <= lr * 0.5


def test_partial_fit_installs_new_callbacks(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    vae.set_params(callbacks=[("lr", LRScheduler("StepLR", step_size=1, gamma=0.1))])
    vae.partial_fit(X)
    assert "lr" in dict(vae.net_.callbacks_)
    # The schedule acted (at least once; see the test above on skorch's extra step).
    assert vae.net_.optimizer_.param_groups[0]["lr"] <= vae.learning_rate_init * 0.1


def test_partial_fit_after_early_stopping_trains_on_every_row(X):
    vae = VAETransformer(random_state=0, **{**FAST, "early_stopping": True}).fit(X)
    curve = list(vae.validation_loss_curve_)
    vae.partial_fit(X)
    last = vae.net_.history[-1]
    assert "valid_loss" not in last
    assert sum(b["train_batch_size"] for b in last["batches"]) == len(X)
    assert vae.validation_loss_curve_ == curve


def test_partial_fit_follows_a_new_batch_size_and_refuses_a_device_change(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    vae.set_params(batch_size=60).partial_fit(X)
    assert [b["train_batch_size"] for b in vae.net_.history[-1]["batches"]] == [60, 60]
    vae.set_params(device="meta")
    with pytest.raises(ValueError, match="device="):
        vae.partial_fit(X)
