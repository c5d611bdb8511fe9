"""Check that a redesign changed no output: five models, fitted and saved before it.

    python tests/data/equivalence.py record   # before the change: fit, save, record
    python tests/data/equivalence.py check    # after it: compare, bit for bit

``record`` fits five small models (Gaussian, n_components="auto", Bernoulli,
spike-and-slab, a mixed table with missing entries), pickles each to
``equivalence/<name>.pkl`` and records its outputs (transform, inverse_transform, sample,
both scores, compressed bytes, the imputer's fill, every fitted attribute) to
``equivalence/<name>_outputs.pkl``. ``check`` recomputes the outputs twice, from the
saved model and from a new fit with the same seed, and reports every output that is not
identical to the recorded one. Bit-identity is promised on the machine that recorded
(matrix kernels of another CPU may round differently): ``tests/test_persistence.py``
loads the saved models with a float32 tolerance wherever the suite runs.
"""

import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from skvae import VAEImputer, VAETransformer

HERE = Path(__file__).resolve().parent / "equivalence"
SMALL = {"hidden_layer_sizes": (16, 16), "random_state": 0}
FITTED_ATTRIBUTES = (
    "n_components_", "kl_per_component_", "active_components_", "nonzero_fraction_",
    "n_iter_", "n_steps_", "n_samples_seen_", "loss_curve_", "validation_loss_curve_",
    "validation_scores_", "best_epoch_", "held_out_comparison_", "components_",
    "explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_",
    "n_features_in_",
)


def _numeric(seed=0, n=300):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    return np.tanh(latent @ rng.standard_normal((3, 8))) + 0.05 * rng.standard_normal((n, 8))


def _mixed_table(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = _numeric(seed, n)
    frame = pd.DataFrame(X[:, :5], columns=[f"v{i}" for i in range(5)])
    frame.iloc[rng.random((n, 5)) < 0.1] = np.nan
    frame["kind"] = pd.Categorical(np.where(X[:, 5] > 0, "high", "low"))
    frame["flag"] = X[:, 6] > 0.2
    return frame


def cases():
    """name -> (unfitted estimator, training rows)."""
    X = _numeric()
    return {
        "gaussian": (VAETransformer(n_components=2, **SMALL), X),
        "auto": (VAETransformer(n_components="auto", max_iter=30, **SMALL), X),
        "bernoulli": (VAETransformer(n_components=2, likelihood="bernoulli", max_iter=20,
                                     **SMALL), (X > 0).astype(float)),
        "spike_slab": (VAETransformer(n_components=4, prior="spike_slab", max_iter=20,
                                      **SMALL), X),
        "mixed_missing": (VAETransformer(n_components=3, max_iter=20, **SMALL),
                          _mixed_table()),
    }


def outputs(model, X) -> dict:
    """Everything a user reads from a fitted model, by name."""
    found = {name: getattr(model, name) for name in FITTED_ATTRIBUTES}
    Z = model.transform(X)
    found["transform"] = Z
    found["inverse_transform"] = model.inverse_transform(Z)
    found["sample"] = model.sample(7, random_state=0)
    found["score_samples"] = model.score_samples(X)
    found["score_samples_iw"] = model.score_samples(X, n_draws=8)
    found["compress"] = model.compress(X)
    found["decompress"] = model.decompress(found["compress"])
    if model.likelihood == "gaussian" and not hasattr(X, "columns"):
        found["get_covariance"] = model.get_covariance()
    if hasattr(X, "columns"):
        imputer = VAEImputer(model).fit(X)
        found["impute"] = imputer.transform(X)
    return found


def same(a, b) -> bool:
    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b) and (a.dtypes == b.dtypes).all()
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))


def record():
    HERE.mkdir(exist_ok=True)
    for name, (estimator, X) in cases().items():
        model = estimator.fit(X)
        (HERE / f"{name}.pkl").write_bytes(pickle.dumps(model))
        (HERE / f"{name}_rows.pkl").write_bytes(pickle.dumps(X))
        (HERE / f"{name}_outputs.pkl").write_bytes(pickle.dumps(outputs(model, X)))
        print(f"recorded {name}")


def check() -> int:
    failures = 0
    for name, (estimator, X) in cases().items():
        expected = pickle.loads((HERE / f"{name}_outputs.pkl").read_bytes())
        loaded = pickle.loads((HERE / f"{name}.pkl").read_bytes())
        for origin, model in (("saved", loaded), ("refitted", estimator.fit(X))):
            found = outputs(model, X)
            differ = [key for key in expected if not same(expected[key], found[key])]
            failures += len(differ)
            print(f"{name:14s} {origin:9s} "
                  f"{'identical' if not differ else 'DIFFERENT: ' + ', '.join(differ)}"
                  f" ({len(expected)} outputs)")
    return failures


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # the small budgets warn that they were spent
    if sys.argv[1:] == ["record"]:
        record()
    elif sys.argv[1:] == ["check"]:
        sys.exit(1 if check() else 0)
    else:
        sys.exit(__doc__)
