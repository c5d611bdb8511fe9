"""PCA drop-in: the "replace PCA in a grid search" use case, timed next to PCA.

scikit-learn's gallery chains ``StandardScaler``, ``PCA`` and ``LogisticRegression`` on
digits and searches over ``n_components``. Here the same search (5 widths x 3 folds, plus
the refit) runs with ``PCA`` and with ``VAETransformer`` at its defaults, one after the
other on the same machine. Target: the VAE search finishes in at most 60 s on 2 cores.
"""

import time

from _common import format_table, log, verdict
from datasets import sklearn_table, sklearn_target
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

WIDTHS = [5, 15, 30, 45, 60]
TARGET_SECONDS = 60.0


def _search(reducer, X, y, widths):
    pipe = Pipeline([("scaler", StandardScaler()), ("reducer", reducer),
                     ("logistic", LogisticRegression(max_iter=2000))])
    start = time.perf_counter()
    search = GridSearchCV(pipe, {"reducer__n_components": widths}, cv=3).fit(X, y)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "best_width": int(search.best_params_["reducer__n_components"]),
            "best_accuracy": float(search.best_score_),
            "accuracy_per_width": [float(v) for v in search.cv_results_["mean_test_score"]]}


def run(quick: bool = False):
    X, y = sklearn_table("digits"), sklearn_target("digits")
    widths = WIDTHS[:2] if quick else WIDTHS
    results = {"widths": widths}
    for name, reducer in (("PCA", PCA()), ("VAETransformer", VAETransformer(random_state=0))):
        log(f"swap: grid search with {name}")
        results[name] = _search(reducer, X, y, widths)
    vae_seconds = results["VAETransformer"]["seconds"]
    results["pass"] = bool(vae_seconds <= TARGET_SECONDS) if not quick else None
    rows = [[name, f"{r['seconds']:.1f}", r["best_width"], f"{r['best_accuracy']:.3f}",
             " ".join(f"{a:.3f}" for a in r["accuracy_per_width"])]
            for name, r in ((n, results[n]) for n in ("PCA", "VAETransformer"))]
    outcome = ("quick run: no target" if quick else
               f"VAE search {vae_seconds:.1f} s, target <= {TARGET_SECONDS:.0f} s: "
               f"{verdict(results['pass'])}")
    table = format_table(
        f"Grid search over n_components on digits ({len(widths)} widths x 3 folds + refit, "
        "StandardScaler -> reducer -> LogisticRegression, defaults)",
        ["reducer", "seconds", "best k", "cv accuracy", "accuracy per k " + str(widths)],
        rows, notes=[outcome])
    return results, table
