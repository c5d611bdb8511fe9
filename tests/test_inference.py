"""Inference: the folded encoder, fixed-size batches, and encoders it cannot fold."""

import numpy as np
import torch
from numpy.testing import assert_allclose
from torch import nn

from skvae import VAETransformer
from skvae._apply.inference import BATCH_ROWS, FoldedEncoder, Inference
from skvae._model.module import build_module

from .conftest import FAST


def test_folded_encoder_matches_the_encoder():
    mean, scale = torch.tensor([3.0, -1.0, 0.5]), torch.tensor([2.0, 0.1, 1.0])
    for hidden in [(), (8, 4)]:
        module = build_module(3, 2, hidden_layer_sizes=hidden, feature_mean=mean,
                              feature_scale=scale, prior="spike_slab")
        x = torch.randn(5, 3) * scale + mean
        folded = FoldedEncoder(module, 5, "cpu")
        with torch.no_grad():
            expected = module.encoder((x - mean) / scale)
            first = folded(x).clone()
            second = folded(x)  # buffers are reused: same result again
        torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-5)
        assert torch.equal(first, second)


class Wrapped(nn.Module):
    """The same function as the wrapped encoder, in a type the folding does not know."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def test_an_encoder_that_cannot_be_folded_still_transforms_correctly(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    folded = (vae.transform(X), vae.score_samples(X))
    module = vae.net_.module_
    module.encoder = Wrapped(module.encoder)
    assert not FoldedEncoder.can_fold(module)
    unfolded = (vae.transform(X), vae.score_samples(X))
    assert_allclose(unfolded[0], folded[0], rtol=1e-5, atol=1e-5)
    assert_allclose(unfolded[1], folded[1], rtol=1e-5, atol=1e-4)


def test_an_encoder_with_other_layers_is_used_as_it_is():
    module = build_module(4, 2, hidden_layer_sizes=(8,))
    module.encoder.residual[1] = nn.Tanh()  # not Linear/ReLU: folding would drop it
    inference = Inference(module, "cpu")
    X = np.random.default_rng(0).standard_normal((BATCH_ROWS + 3, 4))
    codes = inference.codes(X, np.arange(2), np.float64)
    with torch.no_grad():
        expected = module.prior.code(module.encode(torch.as_tensor(X, dtype=torch.float32)))
    assert_allclose(codes, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_rows_give_the_same_result_in_any_batch():
    module = build_module(4, 2, hidden_layer_sizes=(8,))
    inference = Inference(module, "cpu")
    X = np.random.default_rng(1).standard_normal((BATCH_ROWS + 10, 4))
    whole = inference.elbo(X)
    assert np.array_equal(whole[-10:], inference.elbo(X[-10:]))
    assert np.array_equal(inference.codes(X, [0, 1], np.float32)[5:9],
                          inference.codes(X[5:9], [0, 1], np.float32))
