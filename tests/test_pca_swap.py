"""Typical PCA code with VAETransformer in PCA's place.

Each test is a trimmed version, written for this project, of a usage that scikit-learn's
gallery shows with ``PCA``; the only change is the estimator. They check that the code
runs unchanged and that its numbers make sense.
"""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

# Shorter budgets than the defaults keep the module quick; the code is the gallery's.
QUICK = {"max_iter": 30, "random_state": 0}


def test_loadings_of_the_first_components():
    # "Importance of feature scaling": read the first component's loadings per feature.
    data = load_wine()
    scaled = StandardScaler().fit_transform(data.data)
    model = VAETransformer(n_components=2, **QUICK).fit(scaled)
    loadings = dict(zip(data.feature_names, model.components_[0]))
    assert len(loadings) == 13 and np.isclose(np.linalg.norm(model.components_[0]), 1.0)
    # The two leading directions are PCA's at the start, and stay close to them.
    pca = PCA(n_components=2).fit(scaled)
    overlap = np.abs((model.components_ * pca.components_).sum(axis=1))
    assert np.all(overlap > 0.9)


def test_cumulative_explained_variance_chooses_k():
    X = load_digits().data / 16
    model = VAETransformer(n_components=10, **QUICK).fit(X)
    cumulative = np.cumsum(model.explained_variance_ratio_)
    assert np.all(np.diff(cumulative) >= 0) and cumulative[-1] <= 1.0
    k = int(np.searchsorted(cumulative, 0.5) + 1)
    assert 1 <= k <= 10
    # Ten nonlinear components explain at least what ten principal components do.
    pca = PCA(n_components=10).fit(X)
    assert cumulative[-1] >= pca.explained_variance_ratio_.sum() - 0.02


def test_principal_component_regression_in_a_pipeline():
    # "PCR vs PLS": regress on the reduced features.
    rng = np.random.RandomState(0)
    X = rng.randn(400, 2) @ np.array([[3.0, 0.0], [0.0, 0.5]]) @ np.array(
        [[0.8, 0.6], [-0.6, 0.8]])
    y = X @ [0.6, -0.8] + rng.normal(scale=0.1, size=400)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scores = {}
    for name, reducer in (("pca", PCA(n_components=2)),
                          ("vae", VAETransformer(n_components=2, **QUICK))):
        pcr = make_pipeline(StandardScaler(), reducer, LinearRegression())
        scores[name] = pcr.fit(X_train, y_train).score(X_test, y_test)
    assert scores["vae"] > 0.9 and scores["vae"] >= scores["pca"] - 0.05
    assert pcr.named_steps["vaetransformer"].components_.shape == (2, 2)


def test_search_over_n_components_in_a_pipeline():
    # "Pipelining: chaining a PCA and a logistic regression".
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    best = {}
    for name, reducer in (("pca", PCA()), ("vae", VAETransformer(**QUICK))):
        pipe = Pipeline([("scaler", StandardScaler()), ("pca", reducer),
                         ("logistic", LogisticRegression(max_iter=2000))])
        search = GridSearchCV(pipe, {"pca__n_components": [5, 15]}, cv=3).fit(X, y)
        best[name] = search.best_score_
        assert search.best_params_["pca__n_components"] == 15
    # Measured: 0.847 against PCA's 0.848 (cross-validated accuracy).
    assert best["vae"] >= best["pca"] - 0.02


def test_kmeans_on_reduced_digits():
    # "A demo of K-Means clustering on the handwritten digits data".
    X, y = load_digits(return_X_y=True)
    reduced = VAETransformer(n_components=2, **QUICK).fit_transform(StandardScaler()
                                                                    .fit_transform(X))
    labels = KMeans(n_clusters=10, n_init=4, random_state=0).fit_predict(reduced)
    assert adjusted_rand_score(y, labels) > 0.2


def test_model_selection_by_cross_validated_score():
    # "Model selection with Probabilistic PCA and Factor Analysis": score is a
    # log-likelihood (here its lower bound), so cross-validation ranks the widths.
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3) @ rng.randn(3, 8) + 0.5 * rng.randn(300, 8)
    scores = [np.mean(cross_val_score(VAETransformer(n_components=n, **QUICK), X, cv=3))
              for n in (1, 3, 6)]
    assert int(np.argmax(scores)) == 1  # the true rank
    pca_scores = [np.mean(cross_val_score(PCA(n_components=n), X, cv=3)) for n in (1, 3, 6)]
    assert scores[1] >= pca_scores[1] - 0.05


@pytest.mark.parametrize("share", [0.9])
def test_projection_of_iris_with_a_share_of_variance(share):
    # "Comparison of LDA and PCA 2D projection of Iris": fit, transform, print the ratio.
    X = load_iris().data
    model = VAETransformer(n_components=share, **QUICK).fit(X)
    pca = PCA(n_components=share).fit(X)
    assert model.n_components_ == pca.n_components_
    assert model.transform(X).shape == (150, pca.n_components_)
    assert model.explained_variance_ratio_.sum() >= share - 0.05
