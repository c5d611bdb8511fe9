"""Priors as users meet them through the estimator: sparse codes at the requested rate,
the beta=1 ELBO under every prior, sampling, pickling."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skvae import VAETransformer
from skvae._model.priors import PRIORS

from .conftest import FAST


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


@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_every_prior_samples_and_round_trips(X, prior):
    vae = VAETransformer(n_components=3, prior=prior, random_state=0, **FAST).fit(X)
    samples = vae.sample(50, random_state=0)
    assert samples.shape == (50, X.shape[1]) and np.all(np.isfinite(samples))
    assert_array_equal(samples, vae.sample(50, random_state=0))
    assert vae.inverse_transform(vae.transform(X)).shape == X.shape


@pytest.mark.parametrize("prior", ["laplace", "spike_slab"])
def test_sparse_models_pickle_with_their_prior(X, prior):
    import pickle

    vae = VAETransformer(n_components=3, prior=prior, random_state=0, **FAST).fit(X)
    restored = pickle.loads(pickle.dumps(vae))
    assert_array_equal(restored.transform(X), vae.transform(X))
    assert_array_equal(restored.sample(5, random_state=1), vae.sample(5, random_state=1))
    assert restored.nonzero_fraction_ == vae.nonzero_fraction_
