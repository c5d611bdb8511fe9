"""What the benchmark sections measure with, shared so that each is computed one way:
held-out splits, squared errors, two-sample accuracy, the sparse-coding baselines'
error curves, and the default-scored search over ``n_components``.
"""

import time

import numpy as np
from datasets import sklearn_table
from sklearn.decomposition import MiniBatchDictionaryLearning, MiniBatchSparsePCA
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

# ------------------------------------------------------------------ splits and errors


def held_out_split(X, seed, test_size=0.25, standardise=True):
    """``(X_train, X_test)``: a split set by ``seed``, both standardised on the training
    rows unless ``standardise`` is False."""
    X_train, X_test = train_test_split(X, test_size=test_size, random_state=seed)
    if not standardise:
        return X_train, X_test
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def mse(X, X_hat) -> float:
    """Mean squared error of ``X_hat`` against ``X``, over every entry."""
    return float(np.mean((X - X_hat) ** 2))


def round_trip_mse(model, X) -> float:
    """Mean squared error of ``inverse_transform(transform(X))``."""
    return mse(X, model.inverse_transform(model.transform(X)))


def two_sample_accuracy(model, synthetic, real, cv=5) -> float:
    """Cross-validated accuracy of ``model`` telling ``synthetic`` rows from ``real``
    ones (0.5: indistinguishable)."""
    rows = np.vstack([synthetic, real])
    is_real = np.r_[np.zeros(len(synthetic)), np.ones(len(real))]
    return float(np.mean(cross_val_score(model, rows, is_real, cv=cv)))


# ------------------------------------------------------------------ sparse-code baselines

# Counts of non-zeros per code at which dictionaries are scored.
NONZEROS = tuple(range(1, 17))
DICTIONARY_CODERS = ("omp", "lars")


def coding_mse(dictionary, mean, X, nonzeros, algorithm="omp") -> float:
    """Held-out MSE of coding ``X - mean`` with ``nonzeros`` atoms of a fitted
    ``MiniBatchDictionaryLearning`` (by ``algorithm``) and decoding it."""
    dictionary.set_params(transform_algorithm=algorithm, transform_n_nonzero_coefs=nonzeros)
    codes = dictionary.transform(X - mean)
    return mse(X, codes @ dictionary.components_ + mean)


def best_dictionary_curve(train, test, seed, atoms, quick):
    """Lowest held-out MSE at each count in NONZEROS, and which model gave it: dictionary
    learning with each number of ``atoms`` (on centred rows, coded by each of
    DICTIONARY_CODERS) and ``MiniBatchSparsePCA`` with that many components."""
    mean = train.mean(axis=0)
    best = [(np.inf, "")] * len(NONZEROS)
    for n_atoms in atoms:
        dictionary = MiniBatchDictionaryLearning(n_components=n_atoms, random_state=seed,
                                                 max_iter=20 if quick else 100)
        dictionary.fit(train - mean)
        for coder in DICTIONARY_CODERS:
            for i, nonzeros in enumerate(NONZEROS):
                error = coding_mse(dictionary, mean, test, nonzeros, coder)
                best[i] = min(best[i], (error, f"DL {n_atoms} {coder}"))
    for i, nonzeros in enumerate(NONZEROS):
        if nonzeros >= train.shape[1]:
            continue
        sparse_pca = MiniBatchSparsePCA(n_components=nonzeros, random_state=seed,
                                        max_iter=20 if quick else 100).fit(train)
        best[i] = min(best[i], (round_trip_mse(sparse_pca, test), "MiniBatchSparsePCA"))
    return [error for error, _ in best], [name for _, name in best]


# ------------------------------------------------------------------ model selection

SEARCH_GRID = {"vae__n_components": [2, 5], "vae__beta": [0.5, 1.0, 2.0]}


def default_scored_search(seed=0) -> dict:
    """GridSearchCV (``SEARCH_GRID``, cv=3, n_jobs=2, the estimator's own score) over
    ``StandardScaler`` + ``VAETransformer`` on breast cancer, and its wall time."""
    pipe = Pipeline([("scale", StandardScaler()),
                     ("vae", VAETransformer(random_state=seed))])
    search = GridSearchCV(pipe, SEARCH_GRID, cv=3, n_jobs=2)
    X = sklearn_table("breast_cancer")
    start = time.perf_counter()
    search.fit(X)
    return {"best_params": search.best_params_, "seconds": time.perf_counter() - start,
            "mean_test_score": search.cv_results_["mean_test_score"].tolist(),
            "params": [str(p) for p in search.cv_results_["params"]]}
