"""Bad input gets an error that names the problem, from every public method."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from skvae import VAETransformer

from .conftest import FAST


@pytest.fixture
def fitted(X):
    return VAETransformer(random_state=0, **FAST).fit(X)


def _bad_arrays(X):
    inf = X.copy()
    inf[0, 0] = np.inf
    return {
        "inf": (inf, ValueError, "infinity"),
        "strings": (np.full(X.shape, "a"), ValueError, "could not convert|string"),
        "complex": (X + 1j, ValueError, "[Cc]omplex"),
        "object": (np.array([[object()] * X.shape[1]] * 5), (TypeError, ValueError),
                   "float|argument"),
        "sparse": (sp.csr_matrix(X), TypeError, "[Ss]parse"),
        "empty": (np.empty((0, X.shape[1])), ValueError, "0 sample"),
        "one_dimensional": (X[:, 0], ValueError, "Expected 2D array"),
    }


# NaN is a missing entry, not bad input: tests/test_missing.py.
BAD = ["inf", "strings", "complex", "object", "sparse", "empty", "one_dimensional"]


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_fit_rejects_bad_arrays(X, kind, method):
    bad, error, match = _bad_arrays(X)[kind]
    with pytest.raises(error, match=match):
        getattr(VAETransformer(**FAST), method)(bad)


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_inference_rejects_bad_arrays(fitted, X, kind, method):
    bad, error, match = _bad_arrays(X)[kind]
    with pytest.raises(error, match=match):
        getattr(fitted, method)(bad)


@pytest.mark.parametrize("kind", BAD)
def test_inverse_transform_rejects_bad_codes(fitted, X, kind):
    bad, error, match = _bad_arrays(fitted.transform(X))[kind]
    with pytest.raises(error, match=match):
        fitted.inverse_transform(bad)


@pytest.mark.parametrize("method", ["transform", "score_samples", "score", "partial_fit"])
def test_wrong_width_is_named(fitted, X, method):
    with pytest.raises(ValueError, match="X has 5 features, but VAETransformer is expecting 6"):
        getattr(fitted, method)(X[:, :5])


def test_inverse_transform_needs_n_components_columns(fitted):
    with pytest.raises(ValueError, match="n_components_=2 columns, got X with 3 columns"):
        fitted.inverse_transform(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "call",
    [
        lambda v, X: v.transform(X),
        lambda v, X: v.inverse_transform(X[:, :2]),
        lambda v, X: v.score_samples(X),
        lambda v, X: v.score(X),
        lambda v, X: v.sample(2),
        lambda v, X: v.get_feature_names_out(),
    ],
)
def test_use_before_fit(X, call):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        call(VAETransformer(), X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": -1}, "'n_components' parameter of VAETransformer must be an int"),
        ({"n_components": 1.5}, "'n_components' parameter of VAETransformer must be an int"),
        ({"beta": -1.0}, "'beta' parameter .* must be a float in the range \\[0.0, inf\\)"),
        ({"free_bits": -0.5}, "'free_bits' parameter"),
        ({"likelihood": "poisson"}, "'likelihood' parameter .* must be a str among"),
        ({"max_iter": 0}, "'max_iter' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"learning_rate_init": 0.0}, "'learning_rate_init' parameter"),
        ({"validation_fraction": 1.0}, "'validation_fraction' parameter"),
        ({"n_iter_no_change": 0}, "'n_iter_no_change' parameter"),
        ({"tol": -1e-3}, "'tol' parameter"),
        ({"early_stopping": "yes"}, "'early_stopping' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes must be a sequence of positive"),
        ({"hidden_layer_sizes": (8, 2.5)}, "hidden_layer_sizes must be a sequence of positive"),
        ({"device": "banana"}, "device='banana' is not a valid torch device"),
        ({"n_components": 7}, "n_components=7 must be at most the number of features, "
                              "n_features=6"),
    ],
)
def test_out_of_range_parameters_are_named(X, params, match):
    with pytest.raises(ValueError, match=match):
        VAETransformer(**{**FAST, **params}).fit(X)


def test_cuda_request_without_cuda_is_explained(X):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        VAETransformer(device="cuda", **FAST).fit(X)


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, "3", True])
def test_sample_rejects_bad_counts(fitted, n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        fitted.sample(n_samples)


def test_bernoulli_needs_the_unit_interval(X):
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' needs X in \[0, 1\]"):
        VAETransformer(likelihood="bernoulli", **FAST).fit(X)


@pytest.mark.parametrize("value", [1e200, 1e30])
def test_values_too_large_to_standardise(X, value):
    huge = X.copy()
    huge[0, 0] = value
    with pytest.raises(ValueError, match="too large to standardise"):
        VAETransformer(**FAST).fit(huge)
    assert huge[0, 0] == value


def test_diverging_training_stops_with_advice_and_leaves_no_model(X):
    vae = VAETransformer(learning_rate_init=1e12, random_state=0, hidden_layer_sizes=(16,),
                         max_iter=30, batch_size=16)
    with pytest.raises(ValueError, match="Training diverged: the training loss became .* "
                                         "Try a smaller learning_rate_init"):
        vae.fit(X)
    with pytest.raises(NotFittedError):
        vae.transform(X)


def test_failed_refit_forgets_the_previous_model(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    vae.set_params(learning_rate_init=1e12, max_iter=30, batch_size=16)
    with pytest.raises(ValueError, match="diverged"):
        vae.fit(X)
    assert not hasattr(vae, "net_")


def test_bad_input_leaves_arrays_untouched(X):
    bad = X.copy()
    bad[0, 0] = np.inf
    before = bad.copy()
    with pytest.raises(ValueError):
        VAETransformer(**FAST).fit(bad)
    assert_array_equal(bad, before)
