"""The training thread policy: small steps start on one thread, a tuner times one thread
against torch's setting while training runs, and the result never depends on it."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from skorch.callbacks import Callback

from skvae import VAETransformer
from skvae._fit import threads as _threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((600, 3))
    return np.tanh(latent @ rng.standard_normal((3, 12))) + 0.1 * rng.standard_normal((600, 12))


class ThreadsPerStep(Callback):
    """Records the thread count inside every training step (after the tuner set it)."""

    def on_train_begin(self, net, **kwargs):
        self.seen = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.seen.append(torch.get_num_threads())


PARAMS = {"n_components": 2, "hidden_layer_sizes": (32,), "batch_size": 64, "max_iter": 3,
          "random_state": 0}


def test_the_tuner_tries_both_settings_and_keeps_the_result_exact(rows, two_threads,
                                                                  monkeypatch):
    monkeypatch.setattr(_threads, "_PROBE_EVERY", 8)
    vae = VAETransformer(callbacks=[ThreadsPerStep()], **PARAMS).fit(rows)
    tuner = dict(vae.net_.callbacks_)["threads"]
    assert tuner.active_ and tuner.fallback_ == 1
    assert set(dict(vae.net_.callbacks_)["ThreadsPerStep"].seen) == {1, 2}
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # the tuner is idle with one thread to choose from
    alone = VAETransformer(**PARAMS).fit(rows)
    assert not dict(alone.net_.callbacks_)["threads"].active_
    assert_array_equal(vae.transform(rows), alone.transform(rows))


class ScaledByThreads(torch.nn.Module):
    """A module whose gradients depend on the thread count (when ``scaled``)."""

    def __init__(self, scaled):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)
        self.scaled = scaled

    def forward(self, x, noise):
        factor = torch.get_num_threads() if self.scaled else 1
        return (self.layer(x) * factor,)


@pytest.mark.parametrize("scaled", [True, False])
def test_the_gradient_check_tells_a_difference_apart(scaled):
    same = _threads.same_result_on_any_thread_count(ScaledByThreads(scaled), torch.ones(4, 3),
                                                    None, 2)
    assert same is not scaled


def test_threads_come_back_after_a_failed_fit(rows, two_threads):
    class Fail(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        VAETransformer(callbacks=[Fail()], **PARAMS).fit(rows)
    assert torch.get_num_threads() == 2
