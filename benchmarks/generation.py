"""Generation: do ``sample``'s rows look like the data?

Side by side in one run, on held-out real rows (``TEST_SHARE`` of each table): the
VAE's default sampler (a Gaussian mixture over the training codes, draws from
``p(x | z)`` where the likelihood says so), its decoded means, the prior-only sampler, a
Gaussian fitted to the training rows, the training rows themselves (real versus real:
the best any sampler can do), on tables with a label column the default sampler with the
label snapped to the nearest class (TVAE is told the column is discrete; skvae has no
discrete columns yet), and CTGAN's ``TVAE`` at its defaults where ``ctgan`` is
installed (``pip install -c constraints.txt -e ".[benchmarks]"``). Three seeds, each
setting the split and every model's seed; tables show medians.

Metrics, each of synthetic rows against the held-out rows (as many of each):
1-NN two-sample accuracy (0.5: indistinguishable), logistic-regression and
random-forest two-sample accuracy (5-fold), mean per-column Kolmogorov-Smirnov
statistic, mean absolute difference of the correlation matrices, train-on-synthetic /
test-on-real accuracy (tables with a label column), a digit classifier's confidence on
the rows (digits), the share of rows within three cluster widths of a centre and the
largest distance of a 2-mode mixture's modes from the true centres (two blobs), and fit
and sample times.
"""

import time

import numpy as np
from _common import format_table, log, median, verdict
from datasets import classification, digits_unit, sklearn_table, sklearn_target, two_blobs
from metrics import two_sample_accuracy
from scipy import stats
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

TEST_SHARE = 0.3
SEEDS = (0, 1, 2)
BLOB_STD = 0.5


# ------------------------------------------------------------------ data sets


def _digits(seed):
    return {"X": digits_unit(), "labels": sklearn_target("digits"), "k": 10,
            "label_column": False}


def _breast_cancer(seed):
    X = sklearn_table("breast_cancer", standardise=True)
    return {"X": np.c_[X, sklearn_target("breast_cancer")], "k": 10, "label_column": True}


def _classification(seed):
    X, y = classification()
    return {"X": np.c_[X, y], "k": 10, "label_column": True}


def _blobs(seed):
    X, y = two_blobs(BLOB_STD)
    centres = np.array([X[y == c].mean(axis=0) for c in range(2)])
    return {"X": X, "k": 2, "label_column": False, "centres": centres, "scale": True}


DATASETS = {"digits/16": _digits, "breast cancer": _breast_cancer,
            "make_classification": _classification, "two blobs": _blobs}


# ------------------------------------------------------------------ samplers


class _VAE:
    def __init__(self, k, seed, scale, **params):
        self.vae = VAETransformer(n_components=k, random_state=seed, **params)
        self.scaler = StandardScaler() if scale else None
        self.seed = seed

    def fit(self, X):
        self.vae.fit(self.scaler.fit_transform(X) if self.scaler else X)
        return self

    def sample(self, n, snap_label=False, **kwargs):
        rows = self.vae.sample(n, random_state=self.seed + 100, **kwargs)
        rows = self.scaler.inverse_transform(rows) if self.scaler else rows
        if snap_label:
            rows[:, -1] = np.clip(np.rint(rows[:, -1]), 0, 1)
        return rows


class _Gaussian:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def fit(self, X):
        self.mean, self.cov = X.mean(axis=0), np.cov(X.T)
        return self

    def sample(self, n):
        return self.rng.multivariate_normal(self.mean, self.cov, size=n, method="eigh")


class _TVAE:
    def __init__(self, seed, label_column):
        from ctgan import TVAE

        self.model, self.seed, self.label_column = TVAE(), seed, label_column

    def fit(self, X):
        import pandas as pd

        self.model.set_random_state(self.seed)
        self.columns = [f"c{i}" for i in range(X.shape[1])]
        frame = pd.DataFrame(X, columns=self.columns)
        discrete = [self.columns[-1]] if self.label_column else []
        if discrete:
            frame[discrete[0]] = frame[discrete[0]].astype(int)
        self.model.fit(frame, discrete_columns=discrete)
        return self

    def sample(self, n):
        return self.model.sample(n)[self.columns].to_numpy(dtype=np.float64)


def _tvae_available():
    try:
        import ctgan  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------ metrics


def _nn_accuracy(synthetic, real):
    rows = np.vstack([synthetic, real])
    is_real = np.r_[np.zeros(len(synthetic)), np.ones(len(real))]
    nearest = NearestNeighbors(n_neighbors=2).fit(rows).kneighbors(rows, return_distance=False)
    return float(np.mean(is_real[nearest[:, 1]] == is_real))


def _ks(synthetic, real):
    return float(np.mean([stats.ks_2samp(synthetic[:, j], real[:, j]).statistic
                          for j in range(real.shape[1])]))


def _correlation_gap(synthetic, real):
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = np.corrcoef(synthetic.T), np.corrcoef(real.T)
    return float(np.mean(np.abs(np.nan_to_num(a) - np.nan_to_num(b))))


def _metrics(synthetic, real, data, seed, digit_classifier):
    out = {
        "nn": _nn_accuracy(synthetic, real),
        "logistic": two_sample_accuracy(LogisticRegression(max_iter=2000), synthetic, real),
        "forest": two_sample_accuracy(RandomForestClassifier(100, random_state=seed),
                                      synthetic, real),
        "ks": _ks(synthetic, real),
        "correlation": _correlation_gap(synthetic, real),
    }
    if data["label_column"]:
        labels = np.clip(np.rint(synthetic[:, -1]), 0, 1)
        if len(np.unique(labels)) > 1:
            forest = RandomForestClassifier(100, random_state=seed)
            forest.fit(synthetic[:, :-1], labels)
            out["tstr"] = float(forest.score(real[:, :-1], real[:, -1]))
        else:
            out["tstr"] = float(np.mean(real[:, -1] == labels[0]))
    if digit_classifier is not None:
        proba = digit_classifier.predict_proba(np.clip(synthetic, 0, 1))
        out["confidence"] = float(proba.max(axis=1).mean())
    if "centres" in data:
        distance = np.linalg.norm(synthetic[:, None] - data["centres"][None], axis=2).min(1)
        out["within_3_widths"] = float(np.mean(distance < 3 * BLOB_STD))
        modes = GaussianMixture(2, n_init=3, random_state=0).fit(synthetic).means_
        out["mode_error"] = float(np.linalg.norm(
            modes[:, None] - data["centres"][None], axis=2).min(axis=1).max())
    return out


# ------------------------------------------------------------------ the run


def _samplers(data, seed, with_tvae):
    """``(sampler, model, make, sample_kwargs)``: samplers that name the same model share
    one fit; ``sample_kwargs`` None marks a baseline's own ``sample``."""
    k, scale = data["k"], data.get("scale", False)

    def vae(**params):
        return lambda: _VAE(k, seed, scale, **params)

    samplers = [
        ("VAE default", "vae", vae(), {}),
        ("VAE means", "vae", vae(), {"noise": False}),
        ("VAE prior", "vae", vae(), {"from_prior": True}),
    ]
    if "labels" in data:  # data in [0, 1]: the Bernoulli likelihood applies
        samplers += [("VAE spike_slab", "spike_slab", vae(prior="spike_slab"), {}),
                     ("VAE bernoulli", "bernoulli", vae(likelihood="bernoulli"), {})]
    if data["label_column"]:
        # TVAE is told that the label column is discrete; skvae has no discrete columns
        # yet, so this row gives it the same knowledge: labels snapped to the classes.
        samplers.append(("VAE default, label snapped", "vae", vae(), {"snap_label": True}))
    samplers.append(("Gaussian", "gaussian", lambda: _Gaussian(seed), None))
    if with_tvae:
        samplers.append(("TVAE", "tvae", lambda: _TVAE(seed, data["label_column"]), None))
    return samplers


def run(quick: bool = False):
    seeds = SEEDS[:1] if quick else SEEDS
    with_tvae = _tvae_available()
    results = {"tvae_available": with_tvae, "datasets": {}}
    tables = []
    for name, load in DATASETS.items():
        per_sampler = {}
        for seed in seeds:
            data = load(seed)
            train, test = train_test_split(data["X"], test_size=TEST_SHARE,
                                           random_state=seed)
            digit_classifier = None
            if "labels" in data:
                train_labels, _ = train_test_split(data["labels"], test_size=TEST_SHARE,
                                                   random_state=seed)
                digit_classifier = LogisticRegression(max_iter=3000).fit(train, train_labels)
            fitted = {}
            for sampler, key, make, kwargs in _samplers(data, seed, with_tvae):
                log(f"generation: {name}, seed {seed}, {sampler}")
                if key not in fitted:
                    model = make()
                    start = time.perf_counter()
                    model.fit(train)
                    fitted[key] = (model, time.perf_counter() - start)
                model, fit_seconds = fitted[key]
                start = time.perf_counter()
                synthetic = model.sample(len(test), **(kwargs or {}))
                sample_seconds = time.perf_counter() - start
                row = _metrics(synthetic, test, data, seed, digit_classifier)
                row.update(fit_seconds=fit_seconds, sample_seconds=sample_seconds)
                per_sampler.setdefault(sampler, []).append(row)
            real = _metrics(train[: len(test)], test, data, seed, digit_classifier)
            per_sampler.setdefault("real vs real", []).append(real)
        medians = {sampler: {key: median([r[key] for r in rows]) for key in rows[0]}
                   for sampler, rows in per_sampler.items()}
        results["datasets"][name] = {"per_seed": per_sampler, "median": medians}
        tables.append(_table(name, medians))
    results["targets"] = _targets(results["datasets"], quick)
    tables.append(_targets_table(results["targets"]))
    return results, "\n\n".join(tables)


COLUMNS = [("nn", "1-NN acc"), ("logistic", "LR acc"), ("forest", "RF acc"), ("ks", "KS"),
           ("correlation", "corr gap"), ("tstr", "TSTR acc"), ("confidence", "digit conf"),
           ("within_3_widths", "within 3w"), ("mode_error", "mode err"),
           ("fit_seconds", "fit s"), ("sample_seconds", "sample s")]


def _table(name, medians):
    present = [(key, title) for key, title in COLUMNS
               if any(key in m for m in medians.values())]
    rows = [[sampler] + [f"{m[key]:.3f}" if key in m else "-" for key, _ in present]
            for sampler, m in medians.items()]
    return format_table(f"Generation on {name} (medians over seeds; two-sample accuracies: "
                        "0.5 = indistinguishable from held-out rows)",
                        ["sampler"] + [title for _, title in present], rows)


def _targets(datasets, quick):
    def m(data, sampler, key):
        return datasets[data]["median"].get(sampler, {}).get(key)

    checks = [
        ("digits k=10: 1-NN accuracy <= 0.70", m("digits/16", "VAE default", "nn"), 0.70, "<="),
        ("digits k=10: digit classifier confidence >= 0.75",
         m("digits/16", "VAE default", "confidence"), 0.75, ">="),
        ("two blobs: both modes within 0.5 of the centres",
         m("two blobs", "VAE default", "mode_error"), 0.5, "<="),
        ("two blobs: >= 95 % of rows within 3 widths of a centre",
         m("two blobs", "VAE default", "within_3_widths"), 0.95, ">="),
    ]
    for data in ("breast cancer", "make_classification"):
        for sampler in ("VAE default", "VAE default, label snapped"):
            for key, label in (("forest", "RF two-sample accuracy"), ("ks", "KS")):
                tvae = m(data, "TVAE", key)
                shown = "-" if tvae is None else f"{tvae:.3f}"
                checks.append((f"{data} k=10, {sampler}: {label} <= TVAE's ({shown})",
                               m(data, sampler, key), tvae, "<="))
        tvae_fit = m(data, "TVAE", "fit_seconds")
        checks.append((f"{data}: fit time <= 1/3 of TVAE's",
                       m(data, "VAE default", "fit_seconds"),
                       None if tvae_fit is None else tvae_fit / 3, "<="))
    out = []
    for label, value, bound, sense in checks:
        ok = None if value is None or bound is None or quick else (
            value <= bound if sense == "<=" else value >= bound)
        out.append({"target": label, "value": value, "bound": bound, "pass": ok})
    return out


def _targets_table(targets):
    rows = [[t["target"], "-" if t["value"] is None else f"{t['value']:.3f}",
             "-" if t["pass"] is None else verdict(t["pass"])]
            for t in targets]
    return format_table("Generation targets (medians over seeds)", ["target", "value", ""],
                        rows)
