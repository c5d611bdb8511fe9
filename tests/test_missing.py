"""Rows with missing entries (NaN): the masked ELBO, the encoder's mask, imputation."""

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skvae import VAEImputer, VAETransformer
from skvae._apply.diagnostics import decoder_jacobian
from skvae._model.ppca import spectrum, spectrum_with_missing

from .conftest import FAST


@pytest.fixture
def low_rank(rng):
    """Rows near a 3-dimensional subspace of 10 features, and 15 % of entries hidden."""
    X = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 10)) + 0.1 * rng.normal(size=(300, 10))
    holed = X.copy()
    hidden = rng.random_sample(X.shape) < 0.15
    holed[hidden] = np.nan
    return X, holed, hidden


def test_fit_on_rows_with_holes_gives_finite_results_and_leaves_input_alone(low_rank):
    _, holed, _ = low_rank
    before = holed.copy()
    vae = VAETransformer(n_components=3, random_state=0, **FAST).fit(holed)
    Z = vae.transform(holed)
    assert np.isfinite(Z).all()
    assert np.isfinite(vae.score_samples(holed)).all()
    assert np.isfinite(vae.inverse_transform(Z)).all()
    assert np.isfinite(vae.decompress(vae.compress(holed))).all()
    np.testing.assert_array_equal(np.isnan(before), np.isnan(holed))
    np.testing.assert_array_equal(before[~np.isnan(before)], holed[~np.isnan(holed)])


def test_score_counts_only_observed_entries(low_rank):
    X, holed, _ = low_rank
    vae = VAETransformer(n_components=3, random_state=0, **FAST).fit(holed)
    full = vae.score_samples(X[:50])
    partial = X[:50].copy()
    partial[:, 0] = np.nan
    # One entry fewer per row: the log-density of fewer values, not a NaN.
    assert np.isfinite(vae.score_samples(partial)).all()
    assert not np.allclose(vae.score_samples(partial), full)


def test_model_fitted_on_complete_rows_refuses_holes_with_a_clear_error(X):
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(X)
    holed = X.copy()
    holed[0, 0] = np.nan
    with pytest.raises(ValueError, match="fitted on complete rows.*handle_missing='learn'"):
        vae.transform(holed)
    learned = VAETransformer(n_components=2, handle_missing="learn", random_state=0,
                             **FAST).fit(X)
    assert np.isfinite(learned.transform(holed)).all()


def test_entirely_missing_column_is_refused_and_row_is_filled(low_rank):
    _, holed, _ = low_rank
    bad = holed.copy()
    bad[:, 4] = np.nan
    with pytest.raises(ValueError, match=r"no observed value in column\(s\) \[4\]"):
        VAETransformer(n_components=2, **FAST).fit(bad)
    empty_row = holed.copy()
    empty_row[7] = np.nan
    imputer = VAEImputer(VAETransformer(n_components=3, random_state=0, **FAST))
    assert np.isfinite(imputer.fit_transform(empty_row)).all()


def test_infinity_is_still_refused(low_rank):
    _, holed, _ = low_rank
    bad = holed.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        VAETransformer(n_components=2, **FAST).fit(bad)


def test_spectrum_with_missing_recovers_the_covariance(rng):
    X = rng.normal(size=(2000, 3)) @ rng.normal(size=(3, 6))
    holed = X.copy()
    holed[rng.random_sample(X.shape) < 0.3] = np.nan
    full = spectrum(X, X.mean(axis=0))
    found = spectrum_with_missing(holed)
    filled = spectrum(holed, np.nanmean(holed, axis=0))
    np.testing.assert_allclose(found.eigenvalues[:3], full.eigenvalues[:3], rtol=0.1)
    # Filling with the mean loses about the share of entries missing.
    assert filled.eigenvalues[0] < 0.8 * full.eigenvalues[0]


def test_imputation_at_the_ppca_start_is_the_conditional_mean(low_rank):
    """A model that stays at the start is probabilistic PCA: its imputation must be the
    Gaussian conditional mean under its own covariance."""
    _, holed, _ = low_rank
    vae = VAETransformer(n_components=3, hidden_layer_sizes=(), max_iter=1,
                         learning_rate_init=1e-9, random_state=0).fit(holed)
    imputer = VAEImputer(vae)
    imputer.estimator_ = vae  # the fitted model as it is
    imputer.n_features_in_ = vae.n_features_in_
    filled = imputer.transform(holed)
    # The model's own Gaussian: loadings W (the linear decoder), mean W 0 + b, noise.
    W = decoder_jacobian(vae.net_.module_, "cpu")
    C = W @ W.T + vae.noise_variance_ * np.eye(W.shape[0])
    mean = vae.inverse_transform(np.zeros((1, vae.n_components_)))[0]
    for i in np.flatnonzero(np.isnan(holed).any(axis=1))[:20]:
        m = np.isnan(holed[i])
        o = ~m
        expected = mean[m] + C[np.ix_(m, o)] @ np.linalg.solve(C[np.ix_(o, o)],
                                                               holed[i, o] - mean[o])
        np.testing.assert_allclose(filled[i, m], expected, atol=2e-3)


def test_imputer_beats_the_mean_on_low_rank_rows(low_rank):
    X, holed, hidden = low_rank
    filled = VAEImputer(VAETransformer(n_components=3, random_state=0)).fit_transform(holed)
    mean_filled = SimpleImputer().fit_transform(holed)
    vae_error = np.sqrt(np.mean((filled[hidden] - X[hidden]) ** 2))
    mean_error = np.sqrt(np.mean((mean_filled[hidden] - X[hidden]) ** 2))
    assert vae_error < 0.5 * mean_error
    np.testing.assert_array_equal(filled[~hidden], X[~hidden])


def test_imputer_in_a_pipeline_with_names_and_pandas_output(low_rank):
    pd = pytest.importorskip("pandas")
    X, holed, _ = low_rank
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    frame = pd.DataFrame(holed, columns=[f"f{i}" for i in range(10)])
    model = make_pipeline(VAEImputer(VAETransformer(n_components=3, random_state=0, **FAST)),
                          LogisticRegression())
    assert model.fit(frame, y).score(frame, y) > 0.7
    imputer = model[0]
    assert list(imputer.get_feature_names_out()) == list(frame.columns)
    out = imputer.set_output(transform="pandas").transform(frame)
    assert list(out.columns) == list(frame.columns)
    assert not out.isna().any().any()


def test_likelihood_without_missing_support_is_refused(low_rank):
    from skvae.likelihoods import GaussianLikelihood

    class Strict(GaussianLikelihood, name="strict_gaussian_for_test"):
        supports_missing = False

    _, holed, _ = low_rank
    with pytest.raises(ValueError, match="cannot leave out"):
        VAETransformer(n_components=2, likelihood="strict_gaussian_for_test", **FAST).fit(holed)
