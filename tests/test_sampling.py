"""``sample``: the density of the training codes, noise on request, the prior sampler."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer
from skvae._apply.sampling import CodeDensity, fit_code_density

from .conftest import FAST


def test_the_mixture_finds_separate_clusters_and_reproduces_its_draws():
    rng = np.random.default_rng(0)
    codes = np.r_[rng.normal(-3, 0.3, (300, 2)), rng.normal(3, 0.3, (300, 2))]
    density = fit_code_density(codes, seed=0)
    assert len(density.weights) >= 2
    draws = density.sample(1000, torch.Generator().manual_seed(1))
    assert np.mean(np.abs(np.abs(draws) - 3).max(axis=1) < 1.2) > 0.97
    again = CodeDensity.from_dict(density.as_dict()).sample(
        1000, torch.Generator().manual_seed(1))
    assert_array_equal(draws, again)


def test_one_gaussian_is_kept_for_gaussian_codes():
    codes = np.random.default_rng(0).standard_normal((2000, 3))
    assert len(fit_code_density(codes, seed=0).weights) == 1


def test_samples_of_two_blobs_fall_on_the_blobs():
    X, y = make_blobs(n_samples=600, n_features=2, centers=2, cluster_std=0.5,
                      random_state=42)
    centres = np.array([X[y == c].mean(axis=0) for c in range(2)])
    scaler = StandardScaler().fit(X)
    vae = VAETransformer(n_components=2, random_state=0).fit(scaler.transform(X))

    def near_a_centre(rows):
        rows = scaler.inverse_transform(rows)
        distance = np.linalg.norm(rows[:, None] - centres[None], axis=2).min(axis=1)
        return np.mean(distance < 1.5)  # three cluster widths

    # Measured: 0.99 from the mixture, 0.27 from the prior (seed 0, 1000 rows).
    assert near_a_centre(vae.sample(2000, random_state=0)) > 0.95
    assert near_a_centre(vae.sample(2000, random_state=0, from_prior=True)) < 0.6


def test_at_the_ppca_start_noisy_samples_have_the_model_covariance():
    # Linear data, on which the held-out rule keeps PPCA's solution: the aggregate
    # posterior is then the prior, and mixture draws decoded with the noise are PPCA's.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 3)) @ rng.standard_normal((3, 8)) \
        + 0.5 * rng.standard_normal((4000, 8))
    vae = VAETransformer(n_components=3, random_state=0).fit(X)
    assert vae.best_epoch_ == 0  # PPCA itself
    rows = vae.sample(40_000, random_state=0)
    # Measured: covariance within 0.05 of the model's (largest variance 6.1), the error
    # of a mixture fitted to 4,000 posterior draws. Decoding gain-scaled posterior means
    # with the noise instead would count the noise twice along the components (0.19 off).
    assert_allclose(rows.mean(axis=0), vae.mean_, atol=0.05)
    assert_allclose(np.cov(rows.T), vae.get_covariance(), atol=0.1)


def test_noise_draws_around_the_decoded_means(X):
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(X)
    means = vae.sample(5000, random_state=3, noise=False)
    noisy = vae.sample(5000, random_state=3, noise=True)
    assert_array_equal(noisy, vae.sample(5000, random_state=3))  # Gaussian: noise by default
    residual = noisy - means
    assert residual.var() == pytest.approx(vae.noise_variance_, rel=0.05)
    # The means are decoded codes: transform gives the codes back.
    assert_allclose(vae.inverse_transform(vae.transform(means)), means, atol=0.05)


def test_bernoulli_returns_probabilities_unless_asked_for_draws(X):
    X01 = (X - X.min()) / (X.max() - X.min())
    vae = VAETransformer(likelihood="bernoulli", random_state=0, **FAST).fit(X01)
    probabilities = vae.sample(200, random_state=0)
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert np.mean((probabilities > 0.01) & (probabilities < 0.99)) > 0.5
    draws = vae.sample(200, random_state=0, noise=True)
    assert set(np.unique(draws)) <= {0.0, 1.0}


def test_the_density_persists_and_clones_away(X):
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(X)
    restored = pickle.loads(pickle.dumps(vae))
    assert_array_equal(restored.sample(20, random_state=1), vae.sample(20, random_state=1))
    assert not hasattr(clone(vae), "model_")


@pytest.mark.parametrize("kwargs", [{"noise": "yes"}, {"from_prior": 1}, {"noise": 0}])
def test_sample_options_are_checked(X, kwargs):
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(X)
    with pytest.raises(ValueError, match="from_prior must be True or False and noise"):
        vae.sample(3, **kwargs)
