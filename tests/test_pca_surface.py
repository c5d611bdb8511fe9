"""PCA's attributes and conventions: equal to PCA's at the PPCA start, documented
meanings after training, clear errors where a name has no counterpart."""

import io
import re
import sys
import traceback
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import linalg
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

from .conftest import FAST


@pytest.fixture(scope="module")
def wine():
    return StandardScaler().fit_transform(load_wine().data)


@pytest.fixture(scope="module")
def at_start(wine):
    """A default model that the held-out rule kept at PPCA's solution."""
    vae = VAETransformer(n_components=3, random_state=0).fit(wine)
    assert vae.best_epoch_ == 0  # the precondition of the exact comparisons below
    return vae


def test_the_surface_is_pca_at_the_ppca_start(at_start, wine):
    pca = PCA(n_components=3).fit(wine)
    assert_allclose(at_start.components_, pca.components_, atol=1e-5)
    assert_allclose(at_start.explained_variance_, pca.explained_variance_, rtol=1e-5)
    assert_allclose(at_start.explained_variance_ratio_, pca.explained_variance_ratio_,
                    rtol=1e-5)
    assert_allclose(at_start.singular_values_, pca.singular_values_, rtol=1e-5)
    assert_allclose(at_start.mean_, pca.mean_, atol=1e-12)
    assert at_start.noise_variance_ == pytest.approx(pca.noise_variance_, rel=1e-5)
    assert_allclose(at_start.get_covariance(), pca.get_covariance(), atol=1e-5)
    assert_allclose(at_start.get_precision(), pca.get_precision(), atol=1e-4)


def test_after_training_the_ratios_sum_to_the_explained_share():
    from sklearn.datasets import load_digits

    X = load_digits().data[:800] / 16
    vae = VAETransformer(n_components=4, random_state=0, max_iter=40).fit(X)
    assert vae.best_epoch_ > 0  # trained away from the start
    Z = vae.transform(X)
    assert vae.components_.shape == (Z.shape[1], X.shape[1])
    assert_allclose(np.linalg.norm(vae.components_, axis=1), 1.0, rtol=1e-6)
    error = np.square(X - vae.inverse_transform(Z)).sum()
    total = np.square(X - X.mean(axis=0)).sum()
    assert vae.explained_variance_ratio_.sum() == pytest.approx(1 - error / total, rel=1e-4)
    assert np.all(vae.explained_variance_ >= 0)
    covariance = vae.get_covariance()
    assert_allclose(covariance, covariance.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(covariance) > 0)


@pytest.mark.parametrize("n_components", [0.5, 0.8, "mle", None])
def test_n_components_chooses_the_width_as_pca_does(wine, n_components):
    pca = PCA(n_components=n_components).fit(wine)
    vae = VAETransformer(n_components=n_components, random_state=0, **FAST).fit(wine)
    assert vae.n_components_ == pca.n_components_
    assert vae.transform(wine).shape == (len(wine), pca.n_components_)
    assert vae.explained_variance_ratio_.shape == (pca.n_components_,)


def test_n_components_zero_is_pcas_zero_component_model(wine):
    X = wine + 3.0
    vae = VAETransformer(n_components=0, random_state=0).fit(X)
    pca = PCA(n_components=0).fit(X)
    assert vae.n_components_ == 0
    assert vae.transform(X).shape == (len(X), 0)
    assert vae.score(X) == pytest.approx(pca.score(X), abs=1e-4)
    assert_allclose(vae.score_samples(X), pca.score_samples(X), atol=1e-3)
    assert vae.noise_variance_ == pytest.approx(pca.noise_variance_, rel=1e-5)
    assert_allclose(vae.inverse_transform(vae.transform(X)), np.tile(pca.mean_, (len(X), 1)),
                    atol=1e-5)
    assert vae.components_.shape == (0, X.shape[1])
    assert vae.get_feature_names_out().shape == (0,)
    assert vae.sample(3, random_state=0).shape == (3, X.shape[1])


def test_n_components_zero_needs_the_gaussian_likelihood():
    with pytest.raises(ValueError, match="n_components=0 is PCA's zero-component model"):
        VAETransformer(n_components=0, likelihood="bernoulli").fit(np.eye(12))


def test_auto_finds_the_rank_pca_finds_on_linear_data():
    # The data of scikit-learn's "PCA vs FA model selection" example: rank 5 in 25
    # features with homoscedastic noise.
    rng = np.random.RandomState(42)
    basis, _, _ = linalg.svd(rng.randn(25, 25))
    X = rng.randn(500, 5) @ basis[:, :5].T + rng.randn(500, 25)
    assert PCA(n_components="mle").fit(X).n_components_ == 5
    vae = VAETransformer(n_components="auto", random_state=0).fit(X)
    assert vae.n_components_ == 5
    assert np.all(vae.kl_per_component_[vae.active_components_] > 0.1)


@pytest.mark.parametrize("name", ["whiten", "svd_solver", "iterated_power", "n_samples_"])
def test_pca_only_names_are_explained(at_start, name):
    with pytest.raises(AttributeError) as error:
        getattr(at_start, name)
    assert f"VAETransformer has no {name}:" in str(error.value)
    # What Python prints carries no "did you mean" guess.
    printed = "".join(traceback.format_exception(error.value))
    assert "Did you mean" not in printed


def test_unfitted_surface_says_fit_first():
    for name in ("components_", "explained_variance_ratio_", "noise_variance_"):
        with pytest.raises(NotFittedError, match=f"no {name}; call fit first"):
            getattr(VAETransformer(), name)
        assert not hasattr(VAETransformer(), name)


def test_non_gaussian_models_have_no_single_noise_variance(X):
    vae = VAETransformer(likelihood="bernoulli", random_state=0, **FAST).fit(np.clip(X, 0, 1))
    for call in (lambda: vae.noise_variance_, vae.get_covariance, vae.get_precision):
        with pytest.raises(AttributeError, match="likelihood='gaussian' only.*score_samples"):
            call()
    assert vae.components_.shape == (2, X.shape[1])


def test_a_spent_budget_warns_and_an_early_stop_does_not(X):
    with pytest.warns(ConvergenceWarning, match=r"whole budget \(max_iter=3: 12 steps\)"):
        VAETransformer(random_state=0, **{**FAST, "max_iter": 3}).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        vae = VAETransformer(random_state=0, hidden_layer_sizes=(8,), max_iter=500,
                             n_iter_no_change=2).fit(X)
    assert vae.n_iter_ < 500


def test_fitting_a_few_rows_warns(X):
    with pytest.warns(UserWarning, match="Fitting on 3 row"):
        VAETransformer(random_state=0, **FAST).fit(X[:3])


def test_verbose_prints_every_epoch_without_colour_codes_off_a_terminal(X, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    vae = VAETransformer(random_state=0, verbose=1, hidden_layer_sizes=(8,), max_iter=300,
                         n_iter_no_change=2).fit(X)
    text = out.getvalue()
    rows = [line for line in text.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(rows) == vae.n_iter_ and vae.n_iter_ < 300  # stopped early, last row shown
    assert "\x1b[" not in text


def test_tables_with_category_columns_have_no_single_noise_variance(X):
    # The mixed likelihood keeps one variance for its numeric columns, in standardised
    # units: not a noise variance in the data's units, so the surface must refuse it.
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(X[:, :4], columns=list("abcd"))
    table["kind"] = pd.Categorical(np.where(X[:, 4] > 0, "up", "down"))
    vae = VAETransformer(n_components=2, **FAST, random_state=0).fit(table)
    for read in (lambda: vae.noise_variance_, vae.get_covariance, vae.get_precision):
        with pytest.raises(AttributeError, match="'mixed' likelihood has no single noise"):
            read()
