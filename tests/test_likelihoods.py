"""Observation models: the contract every registered likelihood keeps, their formulas,
and the heavy-tailed Laplace likelihood through the estimator."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skvae import VAETransformer
from skvae._data.statistics import column_statistics
from skvae._model.likelihoods import (
    LIKELIHOODS,
    BernoulliLikelihood,
    GaussianLikelihood,
    LaplaceLikelihood,
    Likelihood,
)

from .conftest import FAST

# Likelihoods whose settings describe the columns: an example for three features.
EXAMPLE_SETTINGS = {"mixed": {"groups": [["numeric", 0, 1], ["categorical", 1, 2]],
                              "numeric_scale": [2.0]}}


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_every_likelihood_keeps_the_contract(name):
    cls = LIKELIHOODS[name]
    assert issubclass(cls, Likelihood) and cls.name == name
    settings = EXAMPLE_SETTINGS.get(name, {})
    likelihood = cls(data_scale=2.0, **settings).eval()
    n_features = 3
    width = cls.output_width(n_features)
    out = torch.randn(5, width)
    decoded = likelihood.unstandardise(out, torch.zeros(n_features), torch.ones(n_features))
    assert decoded.shape == (5, width)
    x = torch.rand(5, n_features)
    log_prob = likelihood.log_prob(x, decoded)
    assert log_prob.shape == (5,) and torch.isfinite(log_prob).all()
    assert likelihood.mean(decoded).shape == (5, n_features)
    draws = [likelihood.sample(decoded, torch.Generator().manual_seed(0)) for _ in range(2)]
    assert draws[0].shape == (5, n_features) and torch.equal(draws[0], draws[1])
    assert likelihood.settings() == settings


def test_a_likelihood_without_its_methods_cannot_be_made():
    class Incomplete(Likelihood):
        def mean(self, decoded):
            return decoded

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_gaussian_log_prob_is_the_normal_density_at_its_scale():
    likelihood = GaussianLikelihood(data_scale=1.0).eval()
    likelihood.set_noise_variance(0.25)
    x, decoded = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5, 0.0]])
    expected = torch.distributions.Normal(decoded, 0.5).log_prob(x).sum()
    assert likelihood.log_prob(x, decoded).item() == pytest.approx(expected.item(), rel=1e-6)


def test_gaussian_noise_has_a_floor():
    likelihood = GaussianLikelihood(data_scale=1.0)
    assert likelihood.set_noise_variance(0.0) == pytest.approx(1e-6)


def test_bernoulli_refuses_data_outside_the_unit_interval():
    BernoulliLikelihood.check_data(column_statistics(np.array([[0.0, 1.0]])))
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\], got values in \[-1, 1\]"):
        BernoulliLikelihood.check_data(column_statistics(np.array([[-1.0, 1.0]])))


def test_laplace_log_prob_is_the_laplace_density():
    likelihood = LaplaceLikelihood()
    location, log_scale = torch.tensor([[0.3, -2.0]]), torch.tensor([[-0.5, 1.0]])
    decoded = torch.cat([location, log_scale], dim=1)
    x = torch.tensor([[1.0, 0.0]])
    expected = torch.distributions.Laplace(location, log_scale.exp()).log_prob(x).sum()
    assert likelihood.log_prob(x, decoded).item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.equal(likelihood.mean(decoded), location)


def test_laplace_decodes_a_location_and_a_scale_per_feature_in_data_units():
    likelihood = LaplaceLikelihood()
    mean, scale = torch.tensor([10.0, -1.0]), torch.tensor([2.0, 0.5])
    decoded = likelihood.unstandardise(torch.zeros(1, 4), mean, scale)
    assert torch.equal(decoded[0, :2], mean)
    assert_allclose(decoded[0, 2:].exp().numpy(), scale.numpy(), rtol=1e-6)
    # A scale far below the feature's spread is floored, not driven to zero.
    floored = likelihood.unstandardise(torch.full((1, 4), -1e3), mean, scale)
    assert torch.isfinite(likelihood.log_prob(mean[None], floored)).all()


def test_laplace_samples_have_the_decoded_spread():
    likelihood = LaplaceLikelihood()
    decoded = torch.tensor([[1.0, math.log(0.5)]]).repeat(200_000, 1)
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0))
    assert draws.median().item() == pytest.approx(1.0, abs=0.01)
    assert (draws - 1.0).abs().mean().item() == pytest.approx(0.5, rel=0.02)


def test_laplace_likelihood_fits_heavy_tailed_noise_better_than_the_gaussian():
    # A smooth 2-dimensional table with Student-t noise (2 degrees of freedom).
    rng = np.random.default_rng(0)
    z = rng.standard_normal((1500, 2))
    X = np.tanh(z @ rng.standard_normal((2, 8))) + 0.1 * rng.standard_t(2, size=(1500, 8))
    X_train, X_test = X[:1000], X[1000:]
    scores = {}
    for likelihood in ("gaussian", "laplace"):
        vae = VAETransformer(n_components=2, likelihood=likelihood, hidden_layer_sizes=(32,),
                             random_state=0).fit(X_train)
        scores[likelihood] = vae.score(X_test)
        assert vae.inverse_transform(vae.transform(X_test)).shape == X_test.shape
        assert vae.sample(3, random_state=0).shape == (3, 8)
    # Both are densities in nats per row: measured -4.74 against -5.38 (seed 0).
    assert scores["laplace"] > scores["gaussian"] + 0.3


def test_laplace_models_compress_and_pickle(X):
    import pickle

    vae = VAETransformer(n_components=2, likelihood="laplace", random_state=0, **FAST).fit(X)
    data = vae.compress(X)
    restored = pickle.loads(pickle.dumps(vae))
    assert_allclose(restored.decompress(data), vae.decompress(data))
    assert np.array_equal(restored.score_samples(X), vae.score_samples(X))
