"""Latent priors: their formulas on their own, and what users see through the estimator."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skvae import VAETransformer
from skvae._priors import LaplacePrior, SpikeSlabPrior, StandardNormalPrior

from .conftest import FAST


def _monte_carlo_gaussian_kl(mean, log_var, log_prior, n_draws=200_000):
    """E_q[log q(z) - log p(z)] for a scalar Gaussian q, by sampling."""
    generator = torch.Generator().manual_seed(0)
    std = math.exp(0.5 * log_var)
    z = mean + std * torch.randn(n_draws, generator=generator, dtype=torch.float64)
    log_q = -0.5 * ((z - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    return (log_q - log_prior(z)).mean().item()


@pytest.mark.parametrize("mean, log_var", [(0.0, 0.0), (1.5, -2.0), (-0.3, 1.0)])
def test_laplace_kl_matches_monte_carlo(mean, log_var):
    prior = LaplacePrior()
    b = prior.scale
    expected = _monte_carlo_gaussian_kl(
        mean, log_var, lambda z: -z.abs() / b - math.log(2 * b)
    )
    posterior = (torch.tensor([[mean]], dtype=torch.float64),
                 torch.tensor([[log_var]], dtype=torch.float64))
    assert prior.kl(posterior).item() == pytest.approx(expected, abs=0.01)


def test_spike_slab_kl_is_bernoulli_kl_plus_weighted_gaussian_kl():
    prior = SpikeSlabPrior(nonzero_fraction=0.2)
    mean, log_var = torch.tensor([[0.7]]), torch.tensor([[-1.0]])
    p_on = 0.9
    logit = torch.tensor([[math.log(p_on / (1 - p_on))]])
    gaussian = StandardNormalPrior().kl((mean, log_var)).item()
    bernoulli = p_on * math.log(p_on / 0.2) + (1 - p_on) * math.log((1 - p_on) / 0.8)
    kl = prior.kl((mean, log_var, logit)).item()
    assert kl == pytest.approx(bernoulli + p_on * gaussian, rel=1e-5)
    # A posterior equal to the prior costs nothing.
    at_prior = (torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor([[math.log(0.25)]]))
    assert prior.kl(at_prior).item() == pytest.approx(0.0, abs=1e-6)


def test_prior_samples_have_the_documented_distribution():
    generator = torch.Generator().manual_seed(0)
    laplace = LaplacePrior().sample(200_000, 1, generator)
    assert laplace.var().item() == pytest.approx(1.0, rel=0.02)
    assert laplace.abs().mean().item() == pytest.approx(LaplacePrior.scale, rel=0.02)
    sparse = SpikeSlabPrior(nonzero_fraction=0.3).sample(100_000, 2, generator)
    assert (sparse != 0).float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_spike_slab_code_is_exactly_zero_where_the_gate_is_off():
    mean = torch.tensor([[1.0, -2.0, 3.0]])
    logit = torch.tensor([[2.0, -0.5, 0.0]])
    code = SpikeSlabPrior().code((mean, torch.zeros_like(mean), logit))
    assert code.tolist() == [[1.0, 0.0, 0.0]]


def test_spike_slab_draws_exact_zeros_and_passes_gradients_to_the_gate():
    prior = SpikeSlabPrior(nonzero_fraction=0.5)
    logit = torch.zeros(1000, 4, requires_grad=True)
    mean, log_var = torch.ones(1000, 4), torch.zeros(1000, 4)
    noise = prior.noise((1000, 4), torch.Generator().manual_seed(0))
    z = prior.draw((mean, log_var, logit), noise, straight_through=True)
    off = (z == 0).float().mean().item()
    assert off == pytest.approx(0.5, abs=0.03)  # Bernoulli(sigmoid(0)) gates
    z.sum().backward()
    assert logit.grad is not None and logit.grad.abs().sum() > 0


def _sparse_data(n_rows, n_factors=8, n_features=20, nonzero_fraction=0.2, seed=0):
    """Rows made of few active factors: each factor is on with ``nonzero_fraction``."""
    rng = np.random.default_rng(seed)
    on = rng.random((n_rows, n_factors)) < nonzero_fraction
    factors = rng.standard_normal((n_rows, n_factors)) * on
    dictionary = rng.standard_normal((n_factors, n_features))
    return factors @ dictionary + 0.05 * rng.standard_normal((n_rows, n_features))


# Every row trained on for all epochs: these tests are about the rate constraint.
SPARSE_FIT = {"hidden_layer_sizes": (64,), "max_iter": 100, "batch_size": 256,
              "early_stopping": False}


@pytest.mark.parametrize("target", [0.1, 0.25])
def test_spike_slab_codes_have_exact_zeros_at_the_requested_rate(target):
    X = _sparse_data(3000)
    X_train, X_test = X[:2000], X[2000:]
    vae = VAETransformer(n_components=8, prior="spike_slab", nonzero_fraction=target,
                         random_state=0, **SPARSE_FIT).fit(X_train)
    Z = vae.transform(X_test)
    # Training holds each batch's rate at the target (dual ascent), so the fraction on
    # the training rows is off only by the multiplier's residual swing; held-out rows add
    # generalisation error. Measured over seeds 0-2: within 8 % of the target on both.
    # 15 % leaves room for other platforms' rounding, is far above the binomial noise of
    # 8000 test entries (sd < 0.005), and still fails a model that ignores the parameter
    # (without the constraint the rate settled at ~1.7x the target).
    assert vae.nonzero_fraction_ == pytest.approx(target, rel=0.15)
    assert np.mean(Z != 0) == pytest.approx(target, rel=0.15)
    # The zeros sit exactly where the posterior says "off" more likely than not
    # (away from logit 0, where transform's folded encoder may round the other way).
    with torch.no_grad():
        logit = vae.net_.module_.encode(torch.as_tensor(X_test, dtype=torch.float32))[2]
    clear = (logit.abs() > 1e-4).numpy()
    assert_array_equal((Z == 0)[clear], (logit <= 0).numpy()[clear])
    reconstructed = vae.inverse_transform(Z)  # exact zeros are valid codes
    assert np.all(np.isfinite(reconstructed))


@pytest.mark.parametrize("prior", ["normal", "laplace", "spike_slab"])
def test_score_is_the_beta_one_elbo_under_each_prior(X, prior):
    vae = VAETransformer(prior=prior, beta=3.0, random_state=0, hidden_layer_sizes=(16,),
                         max_iter=20).fit(X)
    scores = vae.score_samples(X)
    module = vae.net_.module_
    x = torch.as_tensor(X, dtype=torch.float32)
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        posterior = module.encode(x)
        draws = [
            module.likelihood.log_prob(
                x, module.decode(module.prior.draw(
                    posterior, module.prior.noise(posterior[0].shape, generator)))
            )
            for _ in range(2000)
        ]
        elbo = torch.stack(draws).mean(0) - module.prior.kl(posterior).sum(1)
    # 16 fixed draws against 2000: agreement to Monte-Carlo error.
    assert_allclose(scores.mean(), elbo.mean().item(), atol=0.05 * scores.std())


@pytest.mark.parametrize("prior", ["normal", "laplace", "spike_slab"])
def test_every_prior_samples_and_round_trips(X, prior):
    vae = VAETransformer(n_components=3, prior=prior, random_state=0, **FAST).fit(X)
    samples = vae.sample(50, random_state=0)
    assert samples.shape == (50, X.shape[1]) and np.all(np.isfinite(samples))
    assert_array_equal(samples, vae.sample(50, random_state=0))
    assert vae.inverse_transform(vae.transform(X)).shape == X.shape


def test_diagnostics_describe_the_training_code(X):
    vae = VAETransformer(n_components=3, random_state=0, **FAST).fit(X)
    assert vae.kl_per_component_.shape == (3,) and np.all(vae.kl_per_component_ >= 0)
    assert vae.active_components_.dtype == bool and vae.active_components_.shape == (3,)
    assert vae.nonzero_fraction_ == 1.0  # a dense prior's codes have no exact zeros
    sparse = VAETransformer(n_components=3, prior="spike_slab", random_state=0, **FAST)
    Z = sparse.fit(X).transform(X)
    assert sparse.nonzero_fraction_ == pytest.approx(np.mean(Z != 0))


def test_auto_keeps_the_components_the_data_needs():
    # Three linear factors in ten features: three components carry the information.
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((1500, 3))
    X = latent @ rng.standard_normal((3, 10)) + 0.1 * rng.standard_normal((1500, 10))
    vae = VAETransformer(n_components="auto", random_state=0, hidden_layer_sizes=(64,),
                         max_iter=150, batch_size=256).fit(X)
    assert vae.active_components_.shape == (10,)  # min(n_features, 32) fitted
    assert vae.n_components_ == vae.active_components_.sum()
    # The three factors are found, each with over a nat; at most one marginal extra
    # component survives (measured: 0.14 nats with this seed, none with seed 1), and the
    # dropped ones carry next to nothing.
    assert 3 <= vae.n_components_ <= 4
    kl = vae.kl_per_component_
    assert np.sort(kl)[-3:].min() > 1.0
    assert np.all(kl[vae.active_components_] >= np.sort(kl)[-vae.n_components_])
    assert kl[~vae.active_components_].max() < 0.01
    Z = vae.transform(X)
    assert Z.shape == (1500, vae.n_components_)
    assert len(vae.get_feature_names_out()) == vae.n_components_
    assert vae.inverse_transform(Z).shape == X.shape


def test_auto_with_partial_fit_reads_the_active_components_of_each_call(X):
    vae = VAETransformer(n_components="auto", random_state=0, **FAST)
    for _ in range(2):
        vae.partial_fit(X)
        assert vae.transform(X).shape == (len(X), vae.n_components_)
        assert vae.n_components_ == max(1, vae.active_components_.sum())


@pytest.mark.parametrize("prior", ["laplace", "spike_slab"])
def test_sparse_models_pickle_with_their_prior(X, prior):
    import pickle

    vae = VAETransformer(n_components=3, prior=prior, random_state=0, **FAST).fit(X)
    restored = pickle.loads(pickle.dumps(vae))
    assert_array_equal(restored.transform(X), vae.transform(X))
    assert_array_equal(restored.sample(5, random_state=1), vae.sample(5, random_state=1))
    assert restored.nonzero_fraction_ == vae.nonzero_fraction_
