"""Real tables: missing entries and mixed column types.

Side by side in one run:

* **Imputation.** Entries hidden completely at random (10 % and 30 %) and not at random
  (20 %: values above a column's 80th percentile hidden four times as often as the
  others) in digits/16, standardised breast cancer, standardised wine, statsmodels' *fair*
  table (standardised) and the Palmer penguins table (numeric columns standardised; it
  has missing values of its own and three category columns). ``VAEImputer`` at its
  defaults (seeded) against ``SimpleImputer`` (mean; most frequent label), ``KNNImputer`` and
  ``IterativeImputer``; the baselines see categories one-hot encoded, a missing label
  as a missing block, and fill it with the block's largest value. RMSE over the hidden
  numeric entries, accuracy over the hidden labels, fit-and-fill time.
* **Downstream.** 30 % of the features hidden at random; 3-fold accuracy of a logistic
  regression on ``VAETransformer`` codes against ``SimpleImputer`` + ``PCA`` with the
  same ``k``.
* **Synthesis.** Penguins and a generated mixed table (a category that shifts three
  numeric columns, a binary column, a count column): each model is fitted on 70 % of the
  rows and draws as many rows as the other 30 %; mean per-column KS statistic (numeric
  and count columns), mean total-variation distance (category columns), random-forest
  two-sample accuracy (5-fold, 0.5 = indistinguishable), fit time; against CTGAN's
  ``TVAE`` at its defaults, told which columns are discrete.
"""

import time
import warnings

import numpy as np
import pandas as pd
from _common import format_table, log, median
from datasets import (
    digits_unit,
    fair_standardised,
    mixed_table,
    penguins,
    penguins_standardised,
    sklearn_table,
    sklearn_target,
)
from metrics import two_sample_accuracy
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline

from skvae import VAEImputer, VAETransformer
from skvae._data.columns import ColumnLayout

SEEDS = (0, 1)
SETTINGS = (("MCAR 10%", "mcar", 0.1), ("MCAR 30%", "mcar", 0.3), ("MNAR 20%", "mnar", 0.2))


# ------------------------------------------------------------------ tables


def _frame(X) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def imputation_tables() -> dict:
    return {
        "digits/16": _frame(digits_unit()),
        "breast cancer": _frame(sklearn_table("breast_cancer", standardise=True)),
        "wine": _frame(sklearn_table("wine", standardise=True)),
        "fair (statsmodels)": fair_standardised(),
        "penguins": penguins_standardised(),
    }


def _hide(frame: pd.DataFrame, how: str, rate: float, seed: int) -> np.ndarray:
    """A boolean mask of observed entries to hide."""
    rng = np.random.default_rng(seed)
    observed = frame.notna().to_numpy()
    u = rng.random(frame.shape)
    if how == "mcar":
        hide = u < rate
    else:
        # Above the 80th percentile: hidden 4x as often, 20 % of entries overall.
        high = np.zeros(frame.shape, dtype=bool)
        for j, column in enumerate(frame.columns):
            values = frame[column]
            if pd.api.types.is_numeric_dtype(values):
                high[:, j] = (values > values.quantile(0.8)).to_numpy()
            else:
                high[:, j] = rng.random(len(values)) < 0.2
        hide = u < np.where(high, 4 * rate / 1.6, rate / 1.6)
    return hide & observed


# ------------------------------------------------------------------ imputers


def _vae(frame):
    return VAEImputer(random_state=0).fit_transform(frame)


def _baseline(make):
    """A scikit-learn imputer on the one-hot encoded table, labels read back."""
    def impute(frame):
        layout = ColumnLayout.from_data(frame, None)
        filled = make().fit_transform(layout.encode(frame))
        return layout.decode(filled) if layout.container != "array" else filled
    return impute


IMPUTERS = {
    "VAEImputer": _vae,
    "SimpleImputer": _baseline(lambda: SimpleImputer(strategy="mean")),
    "KNNImputer": _baseline(KNNImputer),
    "IterativeImputer": _baseline(lambda: IterativeImputer(random_state=0, max_iter=10)),
}


def _scores(truth: pd.DataFrame, filled, hide: np.ndarray) -> tuple[float, float | None]:
    filled = pd.DataFrame(np.asarray(filled, dtype=object), columns=truth.columns)
    errors, hits = [], []
    for j, column in enumerate(truth.columns):
        rows = hide[:, j]
        if not rows.any():
            continue
        if pd.api.types.is_numeric_dtype(truth[column]):
            errors.append((filled[column][rows].astype(float) - truth[column][rows]) ** 2)
        else:
            hits.append(filled[column][rows].to_numpy() == truth[column][rows].to_numpy())
    rmse = float(np.sqrt(np.mean(np.concatenate(errors))))
    return rmse, (float(np.mean(np.concatenate(hits))) if hits else None)


def imputation(seeds):
    results, rows = [], []
    for table, frame in imputation_tables().items():
        for label, how, rate in SETTINGS:
            for seed in seeds:
                hide = _hide(frame, how, rate, seed)
                holed = frame.mask(hide)
                for name, impute in IMPUTERS.items():
                    log(f"imputation {table} {label} seed {seed} {name}")
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        filled = impute(holed.copy() if name != "VAEImputer" else holed)
                    seconds = time.perf_counter() - start
                    rmse, accuracy = _scores(frame, filled, hide)
                    results.append({"table": table, "setting": label, "seed": seed,
                                    "imputer": name, "rmse": rmse, "accuracy": accuracy,
                                    "seconds": seconds})
    for table in imputation_tables():
        for label, _, _ in SETTINGS:
            line = [table, label]
            for name in IMPUTERS:
                found = [r for r in results if r["table"] == table
                         and r["setting"] == label and r["imputer"] == name]
                rmse = median([r["rmse"] for r in found])
                accuracy = [r["accuracy"] for r in found if r["accuracy"] is not None]
                seconds = median([r["seconds"] for r in found])
                line.append(f"{rmse:.3f}" + (f" / {median(accuracy):.2f}" if accuracy
                                             else "") + f" ({seconds:.1f}s)")
            rows.append(line)
    return results, rows


def imputation_targets(results) -> list[list]:
    """Per setting: on how many tables the VAE's RMSE is below IterativeImputer's, and
    whether it is never above KNNImputer's."""
    out = []
    tables = list(dict.fromkeys(r["table"] for r in results))
    def rmse(table, label, name):
        return median([r["rmse"] for r in results if r["table"] == table
                       and r["setting"] == label and r["imputer"] == name])

    for label, _, _ in SETTINGS:
        below_iterative = sum(rmse(t, label, "VAEImputer") < rmse(t, label, "IterativeImputer")
                              for t in tables)
        above_knn = [t for t in tables
                     if rmse(t, label, "VAEImputer") > rmse(t, label, "KNNImputer")]
        out.append([label, f"{below_iterative}/{len(tables)}",
                    "PASS" if below_iterative >= 4 else "MISS",
                    ", ".join(above_knn) or "none", "PASS" if not above_knn else "MISS"])
    return out


# ------------------------------------------------------------------ downstream


def _labelled() -> dict:
    fair = fair_standardised()
    birds = penguins_standardised().dropna(subset=["species"])
    return {
        "digits/16": (digits_unit(), sklearn_target("digits"), 10),
        "breast cancer": (sklearn_table("breast_cancer", standardise=True),
                          sklearn_target("breast_cancer"), 5),
        "wine": (sklearn_table("wine", standardise=True), sklearn_target("wine"), 3),
        "fair (statsmodels)": (fair.drop(columns="affairs").to_numpy(),
                               (fair["affairs"] > fair["affairs"].min()).to_numpy(), 3),
        "penguins": (birds.drop(columns=["species", "island", "sex"]).to_numpy(),
                     birds["species"].to_numpy(), 2),
    }


def downstream(seeds):
    results, rows = [], []
    for table, (X, y, k) in _labelled().items():
        for seed in seeds:
            holed = np.where(np.random.default_rng(seed).random(X.shape) < 0.3, np.nan, X)
            log(f"downstream {table} seed {seed}")
            vae = make_pipeline(VAETransformer(n_components=k, random_state=seed),
                                LogisticRegression(max_iter=2000))
            pca = make_pipeline(SimpleImputer(), PCA(k), LogisticRegression(max_iter=2000))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = {name: float(cross_val_score(model, holed, y, cv=3).mean())
                          for name, model in (("VAE codes", vae), ("SimpleImputer+PCA", pca))}
            results.append({"table": table, "seed": seed, "k": k, **scores})
        found = [r for r in results if r["table"] == table]
        vae_score = median([r["VAE codes"] for r in found])
        pca_score = median([r["SimpleImputer+PCA"] for r in found])
        rows.append([table, k, f"{vae_score:.3f}", f"{pca_score:.3f}",
                     "PASS" if vae_score >= pca_score else "MISS"])
    return results, rows


# ------------------------------------------------------------------ synthesis


def _synthesis_tables(seed) -> dict:
    return {"penguins": (penguins().dropna().reset_index(drop=True), None),
            "generated mixed": (mixed_table(seed), {"count": "count"})}


def _two_sample_rf(synthetic: pd.DataFrame, real: pd.DataFrame, seed: int) -> float:
    both = pd.get_dummies(pd.concat([synthetic, real], ignore_index=True).astype(
        {c: object for c in real.columns if not pd.api.types.is_numeric_dtype(real[c])
         or pd.api.types.is_bool_dtype(real[c])}), dtype=float)
    rows = both.to_numpy(dtype=float)
    forest = RandomForestClassifier(200, random_state=seed, n_jobs=1)
    return two_sample_accuracy(forest, rows[: len(synthetic)], rows[len(synthetic) :])


def _fidelity(synthetic: pd.DataFrame, real: pd.DataFrame, seed: int) -> dict:
    ks, tvd = [], []
    for column in real.columns:
        values = real[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            # Plain arrays: scipy's type checks trip over a frame's columns here.
            ks.append(stats.ks_2samp(synthetic[column].to_numpy(dtype=float),
                                     values.to_numpy(dtype=float)).statistic)
        else:
            p = values.astype(str).value_counts(normalize=True)
            q = synthetic[column].astype(str).value_counts(normalize=True)
            tvd.append(0.5 * float(p.subtract(q, fill_value=0).abs().sum()))
    return {"ks": float(np.mean(ks)), "tvd": float(np.mean(tvd)),
            "rf": _two_sample_rf(synthetic, real, seed)}


def _tvae(train, seed, discrete):
    from ctgan import TVAE

    model = TVAE()
    model.set_random_state(seed)
    model.fit(train, discrete_columns=discrete)
    return model


def synthesis(seeds):
    results, rows = [], []
    for seed in seeds:
        for table, (frame, column_types) in _synthesis_tables(seed).items():
            train, test = train_test_split(frame, test_size=0.3, random_state=seed)
            discrete = [c for c in frame.columns
                        if not pd.api.types.is_numeric_dtype(frame[c])
                        or pd.api.types.is_bool_dtype(frame[c])]
            log(f"synthesis {table} seed {seed}: VAETransformer")
            start = time.perf_counter()
            vae = VAETransformer(n_components="auto", column_types=column_types,
                                 random_state=seed).fit(train)
            vae_seconds = time.perf_counter() - start
            drawn = vae.sample(len(test), random_state=seed)
            results.append({"table": table, "seed": seed, "model": "VAETransformer",
                            "fit_seconds": vae_seconds, **_fidelity(drawn, test, seed)})
            try:
                import ctgan  # noqa: F401
            except ImportError:
                continue
            log(f"synthesis {table} seed {seed}: TVAE")
            start = time.perf_counter()
            tvae = _tvae(train, seed, discrete)
            tvae_seconds = time.perf_counter() - start
            drawn = tvae.sample(len(test))[list(frame.columns)].astype(frame.dtypes.to_dict())
            results.append({"table": table, "seed": seed, "model": "TVAE",
                            "fit_seconds": tvae_seconds, **_fidelity(drawn, test, seed)})
    for table in dict.fromkeys(r["table"] for r in results):
        for model in ("VAETransformer", "TVAE"):
            found = [r for r in results if r["table"] == table and r["model"] == model]
            if found:
                rows.append([table, model] + [f"{median([r[m] for r in found]):.3f}"
                                              for m in ("ks", "tvd", "rf")]
                            + [f"{median([r['fit_seconds'] for r in found]):.1f}"])
    return results, rows


def synthesis_targets(results) -> list[list]:
    out = []
    def value(table, model, metric):
        found = [r[metric] for r in results if r["table"] == table and r["model"] == model]
        return median(found) if found else None

    for table in dict.fromkeys(r["table"] for r in results):
        if value(table, "TVAE", "ks") is None:
            continue
        quality = all(value(table, "VAETransformer", m) <= value(table, "TVAE", m)
                      for m in ("ks", "tvd", "rf"))
        ratio = (value(table, "VAETransformer", "fit_seconds")
                 / value(table, "TVAE", "fit_seconds"))
        out.append([table, "PASS" if quality else "MISS", f"{ratio:.2f}",
                    "PASS" if ratio <= 1 / 3 else "MISS"])
    return out


def run(quick: bool = False):
    seeds = SEEDS[:1] if quick else SEEDS
    imputed, imputation_rows = imputation(seeds)
    helped, downstream_rows = downstream(seeds)
    synthetic, synthesis_rows = synthesis(seeds)
    headers = ["table", "missing"] + [f"{name} rmse / acc (time)" for name in IMPUTERS]
    tables = "\n\n".join([
        format_table("Imputation: RMSE over hidden numeric entries / accuracy over hidden "
                     f"labels (median of {len(seeds)} seeds), fit-and-fill time",
                     headers, imputation_rows),
        format_table("Imputation targets: RMSE below IterativeImputer's on >= 4 of 5 "
                     "tables, never above KNNImputer's",
                     ["missing", "below Iterative", "target", "above KNN on", "target"],
                     imputation_targets(imputed)),
        format_table("Downstream: 3-fold logistic-regression accuracy, 30 % of entries "
                     "missing", ["table", "k", "VAE codes", "SimpleImputer+PCA", "target"],
                     downstream_rows),
        format_table("Synthesis: mean KS (numeric), mean TVD (categories), RF two-sample "
                     "accuracy (0.5 best), fit seconds; lower is better",
                     ["table", "model", "KS", "TVD", "RF", "fit s"], synthesis_rows),
        format_table("Synthesis targets: every metric <= TVAE's, fit time <= 1/3 of TVAE's",
                     ["table", "quality", "time ratio", "time"], synthesis_targets(synthetic)),
    ])
    return {"imputation": imputed, "downstream": helped, "synthesis": synthetic}, tables
