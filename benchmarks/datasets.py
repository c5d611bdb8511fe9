"""The data sets the benchmark sections read, each built once per process (cached).

Nothing is downloaded: the tables ship with scikit-learn, statsmodels or palmerpenguins,
and the rest are drawn from fixed seeds. (Random rows drawn only to be timed, and the
rows that ``scale`` and ``memory`` draw inside their child processes, stay with their
section.) The arrays and frames returned are shared between callers (that is what the
cache is for): read them, never change them in place.
"""

import warnings
from functools import cache

import numpy as np
import pandas as pd
from _common import log
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_blobs,
    make_classification,
    make_s_curve,
    make_swiss_roll,
)
from sklearn.preprocessing import StandardScaler

# ------------------------------------------------------------------ scikit-learn's own


_SKLEARN_LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer,
                    "wine": load_wine, "diabetes": load_diabetes}


@cache
def _bunch(name: str):
    return _SKLEARN_LOADERS[name]()


@cache
def sklearn_table(name: str, standardise: bool = False) -> np.ndarray:
    """The features of scikit-learn's ``load_<name>`` (digits, breast_cancer, wine,
    diabetes) as they come (digits: pixels 0 to 16), or standardised on all their rows
    (no held-out rows to keep apart) with ``standardise``."""
    X = _bunch(name).data
    return StandardScaler().fit_transform(X) if standardise else X


def sklearn_target(name: str) -> np.ndarray:
    """The labels of scikit-learn's ``load_<name>``."""
    return _bunch(name).target


@cache
def digits_unit() -> np.ndarray:
    """``load_digits`` scaled to [0, 1], as float64 ("digits/16")."""
    return sklearn_table("digits") / 16.0


@cache
def s_curve(n_samples: int = 3000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``make_s_curve``'s points (3 columns)."""
    return make_s_curve(n_samples, noise=noise, random_state=seed)[0]


@cache
def swiss_roll(n_samples: int = 3000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``make_swiss_roll``'s points (3 columns)."""
    return make_swiss_roll(n_samples, noise=noise, random_state=seed)[0]


@cache
def s_curve_20d() -> np.ndarray:
    """The S curve (3,000 points, noise 0.05) lifted to 20 dimensions by a random
    orthogonal map."""
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((20, 20)))
    return s_curve() @ rotation[:3]


@cache
def classification() -> tuple[np.ndarray, np.ndarray]:
    """``make_classification``: 5,000 rows, 20 features (10 informative), two classes."""
    return make_classification(5000, 20, n_informative=10, random_state=0)


@cache
def two_blobs(cluster_std: float) -> tuple[np.ndarray, np.ndarray]:
    """1,000 points in two Gaussian blobs in the plane and each point's blob."""
    return make_blobs(n_samples=1000, n_features=2, centers=2, cluster_std=cluster_std,
                      random_state=42)


# ------------------------------------------------------------------ generated tables


@cache
def three_factor_table(n_rows: int = 3000, seed: int = 0) -> np.ndarray:
    """Three uniform factors through a random mixing and tanh into 20 columns, small
    noise: data with 3 nonlinear factors and many linear directions."""
    rng = np.random.default_rng(seed)
    factors = rng.uniform(-1.0, 1.0, size=(n_rows, 3))
    mixing = rng.normal(0.0, 1.5, size=(3, 20))
    return np.tanh(factors @ mixing) + 0.05 * rng.standard_normal((n_rows, 20))


@cache
def pca_vs_fa_table() -> np.ndarray:
    """The homoscedastic rank-5 data of scikit-learn's PCA-vs-FA model-selection example."""
    from scipy import linalg

    rng = np.random.RandomState(42)
    basis, _, _ = linalg.svd(rng.randn(25, 25))
    return rng.randn(500, 5) @ basis[:, :5].T + rng.randn(500, 25)


@cache
def mixed_table(seed: int, n: int = 2000) -> pd.DataFrame:
    """A table of mixed types: a category that shifts three numeric columns, a binary
    column and a count column."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    centre = {"a": (0.0, 0.0, 0.0), "b": (2.0, -1.0, 1.0), "c": (-2.0, 2.0, -1.0)}
    shift = np.array([centre[g] for g in group])
    x = shift + rng.normal(size=(n, 3)) * [1.0, 0.5, 2.0]
    x[:, 2] += x[:, 0] ** 2 / 2
    flag = rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))
    count = rng.poisson(np.exp(0.5 + 0.3 * x[:, 1]))
    return pd.DataFrame({"group": pd.Categorical(group), "x1": x[:, 0], "x2": x[:, 1],
                         "x3": x[:, 2], "flag": flag, "count": count})


# ------------------------------------------------------------------ statsmodels, penguins


@cache
def statsmodels_frame(name: str) -> pd.DataFrame:
    """The pandas frame of ``statsmodels.datasets.<name>``."""
    import importlib

    module = importlib.import_module(f"statsmodels.datasets.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module.load_pandas().data


def standardised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with its numeric columns standardised (pandas' ``std``)."""
    out = frame.copy()
    numeric = out.select_dtypes("number").columns
    out[numeric] = (out[numeric] - out[numeric].mean()) / out[numeric].std()
    return out


@cache
def fair_standardised() -> pd.DataFrame:
    """statsmodels' *fair* table, numeric columns standardised."""
    return standardised(statsmodels_frame("fair"))


@cache
def star98_standardised() -> np.ndarray:
    """statsmodels' *star98*: its numeric columns, standardised."""
    frame = statsmodels_frame("star98")
    return StandardScaler().fit_transform(frame.select_dtypes("number").to_numpy(float))


@cache
def penguins() -> pd.DataFrame:
    """The Palmer penguins table as it comes (missing values and category columns)."""
    from palmerpenguins import load_penguins

    return load_penguins()


@cache
def penguins_standardised() -> pd.DataFrame:
    """Penguins with ``year`` as a float and the numeric columns standardised."""
    return standardised(penguins().astype({"year": float}))


# ------------------------------------------------------------------ the panel of tables

PANEL_SKLEARN = ("breast_cancer", "wine", "diabetes")
# statsmodels data sets with at least 6 numeric columns and 40 complete rows.
PANEL_STATSMODELS = (
    "anes96", "elnino", "fair", "macrodata", "modechoice", "randhie", "star98",
    "statecrime", "scotland",
)
# The tables a quick run keeps.
PANEL_QUICK = ("breast_cancer", "wine")


def _panel_statsmodels_table(name: str) -> np.ndarray:
    frame = statsmodels_frame(name)
    return frame.select_dtypes("number").dropna().to_numpy(dtype=np.float64)


@cache
def _panel() -> dict:
    tables = {name: sklearn_table(name) for name in PANEL_SKLEARN}
    try:
        tables.update({name: _panel_statsmodels_table(name) for name in PANEL_STATSMODELS})
    except ImportError:
        log("datasets: statsmodels is not installed; only scikit-learn's tables run")
    return {name: X[:, np.ptp(X, axis=0) > 0] for name, X in tables.items()}


def panel_tables(quick: bool = False) -> dict:
    """Name -> float64 array of the panel's real tables (numeric columns, rows with a
    missing value dropped, constant columns dropped); ``quick``: two of them."""
    tables = _panel()
    names = PANEL_QUICK if quick else tables
    return {name: tables[name] for name in names}
