"""Sparse codes: spike-and-slab VAETransformer against dictionary learning with OMP coding.

Both models have 32 components and are judged on held-out rows of digits scaled to
[0, 1]: reconstruction error against the average number of non-zeros per code. OMP codes
have exactly the number of non-zeros asked for; the VAE's count is whatever its codes
have, so dictionary learning's error is read off its curve (OMP at 1, 2, ... non-zeros,
interpolated linearly) at the VAE's measured count. Dictionary learning gets centred data
(its atoms need not spend capacity on the mean). A logistic regression on the codes checks
that sparse codes still carry the class information, against PCA of the same width.
"""

import numpy as np
from _common import format_table, log, median, timed, verdict
from datasets import digits_unit, sklearn_target
from metrics import NONZEROS, coding_mse, mse
from sklearn.decomposition import PCA, MiniBatchDictionaryLearning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

N_COMPONENTS = 32
TARGET_NONZEROS = (3, 5, 10)
OMP_NONZEROS = NONZEROS


def _accuracy(Z_train, y_train, Z_test, y_test) -> float:
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return float(classifier.fit(Z_train, y_train).score(Z_test, y_test))


def _dictionary_curve(X_train, X_test, seed):
    """Held-out MSE of OMP coding at each count in OMP_NONZEROS, one dictionary."""
    mean = X_train.mean(axis=0)
    dictionary = MiniBatchDictionaryLearning(
        n_components=N_COMPONENTS, transform_algorithm="omp", random_state=seed
    )
    _, seconds = timed(dictionary.fit, X_train - mean)
    curve = [coding_mse(dictionary, mean, X_test, nonzeros) for nonzeros in OMP_NONZEROS]
    return dictionary, mean, curve, seconds


def _one_seed(seed, targets):
    X = digits_unit()
    y = sklearn_target("digits")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )
    dictionary, mean, dl_curve, dl_seconds = _dictionary_curve(X_train, X_test, seed)
    rows = []
    for target in targets:
        vae = VAETransformer(n_components=N_COMPONENTS, prior="spike_slab",
                             nonzero_fraction=target / N_COMPONENTS, random_state=seed)
        _, seconds = timed(vae.fit, X_train)
        Z_train, Z_test = vae.transform(X_train), vae.transform(X_test)
        nonzeros = float(np.mean(np.count_nonzero(Z_test, axis=1)))
        dl_at_vae = float(np.interp(nonzeros, OMP_NONZEROS, dl_curve))
        dictionary.set_params(transform_n_nonzero_coefs=target)
        rows.append({
            "target_nonzeros": target, "vae_nonzeros": nonzeros,
            "vae_train_nonzero_fraction": vae.nonzero_fraction_,
            "vae_active_components": int(vae.active_components_.sum()),
            "vae_mse": mse(X_test, vae.inverse_transform(Z_test)),
            "dl_mse_at_target": dl_curve[OMP_NONZEROS.index(target)],
            "dl_mse_at_vae_nonzeros": dl_at_vae,
            "vae_fit_s": seconds,
            "vae_accuracy": _accuracy(Z_train, y_train, Z_test, y_test),
            "dl_accuracy": _accuracy(dictionary.transform(X_train - mean), y_train,
                                     dictionary.transform(X_test - mean), y_test),
        })
        rows[-1]["ratio"] = rows[-1]["vae_mse"] / dl_at_vae
        log(f"sparse: seed {seed} target {target}: VAE {nonzeros:.2f} non-zeros, "
            f"MSE ratio {rows[-1]['ratio']:.3f}")
    pca = PCA(n_components=N_COMPONENTS, random_state=seed).fit(X_train)
    pca_accuracy = _accuracy(pca.transform(X_train), y_train, pca.transform(X_test), y_test)
    return {"seed": seed, "rows": rows, "dl_curve": dict(zip(OMP_NONZEROS, dl_curve)),
            "dl_fit_s": dl_seconds, "pca_accuracy": pca_accuracy}


def run(quick: bool = False):
    seeds = (0,) if quick else (0, 1, 2)
    targets = TARGET_NONZEROS[:1] if quick else TARGET_NONZEROS
    per_seed = [_one_seed(seed, targets) for seed in seeds]
    summary = []
    for i, target in enumerate(targets):
        rows = [s["rows"][i] for s in per_seed]
        summary.append({
            "target_nonzeros": target,
            **{key: median([r[key] for r in rows]) for key in rows[0] if key != "target_nonzeros"},
            "ratio_min": min(r["ratio"] for r in rows),
            "ratio_max": max(r["ratio"] for r in rows),
            "vae_wins_every_seed": all(r["ratio"] < 1 for r in rows),
        })
    results = {"n_components": N_COMPONENTS, "seeds": list(seeds), "per_seed": per_seed,
               "summary": summary,
               "pca_accuracy_median": median([s["pca_accuracy"] for s in per_seed])}
    return results, _report(results)


def _report(r) -> str:
    rows = []
    for s in r["summary"]:
        rows.append([
            s["target_nonzeros"], f"{s['vae_nonzeros']:.2f}", f"{s['vae_mse']:.4f}",
            f"{s['dl_mse_at_vae_nonzeros']:.4f}", f"{s['dl_mse_at_target']:.4f}",
            f"{s['ratio']:.3f} [{s['ratio_min']:.3f}, {s['ratio_max']:.3f}]",
            verdict(s["vae_wins_every_seed"]),
        ])
    text = format_table(
        "Sparse a: held-out MSE at equal average non-zeros, digits/16, 32 components",
        ["target nnz", "VAE nnz", "VAE MSE", "DL MSE @ VAE nnz", "DL MSE @ target",
         "VAE / DL [min, max]", "target < 1"],
        rows,
        notes=[f"median over seeds {r['seeds']}; VAE = VAETransformer(prior='spike_slab', "
               "nonzero_fraction=target/32), other parameters default",
               "DL = MiniBatchDictionaryLearning(32 atoms, OMP coding) on centred data; its "
               "MSE is interpolated at the VAE's measured non-zeros per test row"],
    )
    rows = [[s["target_nonzeros"], f"{s['vae_accuracy']:.3f}", f"{s['dl_accuracy']:.3f}",
             f"{r['pca_accuracy_median']:.3f}"] for s in r["summary"]]
    text += "\n" + format_table(
        "Sparse b: digit classification from the codes (logistic regression)",
        ["target nnz", "VAE spike-slab codes", "DL OMP codes", "PCA(32)"],
        rows,
        notes=["held-out accuracy, median over seeds; StandardScaler + LogisticRegression "
               "fitted on the training rows' codes"],
    )
    return text
