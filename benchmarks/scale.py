"""Time to quality at scale: the default fit on 10^4, 10^5 and 10^6 rows x 64 features
against PCA, IncrementalPCA, the same model trained with ten times the budget (the
quality reference) and the same network in a hand-written PyTorch loop run for the same
number of steps; then a default fit on a 10^7-row float32 memmap on disk.

The data have known nonlinear structure: a fixed smooth map (tanh of a random affine map,
then a random linear one) of 4 standard-normal factors into 64 features, plus Gaussian
noise of standard deviation 0.1 (so no model's held-out MSE can go below 0.01). Every
measurement runs in a fresh process, so that its wall time and peak memory are its own.
"""

import math
import os
import tempfile

from _common import fmt, format_table, log, run_child, verdict
from hand_loop import steps_per_epoch

SIZES = (10_000, 100_000, 1_000_000)
N_FEATURES = 64
N_FACTORS = 4
NOISE = 0.1
TEST_ROWS = 10_000
MEMMAP_ROWS = 10_000_000
# The reference trains this many times as many steps as the defaults take.
REFERENCE_FACTOR = 10

TARGETS = {
    # rows: (fit seconds, MSE / reference MSE)
    100_000: (30.0, 1.02),
    1_000_000: (120.0, 1.02),
}
RSS_TARGET_MB = 200.0
MEMMAP_RSS_TARGET_MB = 1024.0

# Shared by every child process: the data generator and the measurements.
_CHILD_COMMON = f"N_FEATURES, N_FACTORS, NOISE = {N_FEATURES}, {N_FACTORS}, {NOISE!r}" + r'''
import json, resource, sys, time
import numpy as np
import psutil


def make_rows(n_rows, seed, out=None):
    """Rows of the manifold: the map is fixed (seed 1234), ``seed`` draws the rows."""
    maps = np.random.default_rng(1234)
    inner = maps.normal(scale=1.5, size=(N_FACTORS, 32))
    shift = maps.normal(size=32)
    outer = maps.normal(size=(32, N_FEATURES)) / np.sqrt(32)
    rng = np.random.default_rng(seed)
    out = np.empty((n_rows, N_FEATURES), dtype=np.float32) if out is None else out
    # Small chunks: the float64 temporaries must not raise the peak memory before the
    # measurement's baseline is taken.
    for start in range(0, n_rows, 10_000):
        m = min(10_000, n_rows - start)
        factors = rng.standard_normal((m, N_FACTORS))
        out[start : start + m] = (np.tanh(factors @ inner + shift) @ outer
                                  + NOISE * rng.standard_normal((m, N_FEATURES)))
    return out


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def test_quality(model, X_test):
    """Held-out MSE of the round trip and held-out log-likelihood (ELBO for the VAE;
    None for IncrementalPCA, which has no probabilistic model)."""
    reconstruction = model.inverse_transform(model.transform(X_test))
    score = float(model.score(X_test)) if hasattr(model, "score") else None
    return {"mse": float(np.mean((reconstruction - X_test) ** 2)), "score": score}
'''

# argv: method, n_rows, test_rows, then max_iter for "reference" or steps for "hand".
_CHILD_FIT = _CHILD_COMMON + r"""
from sklearn.decomposition import PCA, IncrementalPCA
from skorch.callbacks import Callback
from skvae import VAETransformer

method, n_rows, test_rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X_test = make_rows(test_rows, seed=99)
X = make_rows(n_rows, seed=0)
rss_after_data = psutil.Process().memory_info().rss


class Curve(Callback):
    # Held-out ELBO (the estimator's own) against wall time since fit began.
    def __init__(self, start):
        self.start, self.points = start, []

    def on_epoch_end(self, net, **kwargs):
        if "valid_elbo" in net.history[-1]:
            self.points.append((time.perf_counter() - self.start,
                                float(net.history[-1, "valid_elbo"])))


result = {}
start = time.perf_counter()
if method in ("pca", "ipca"):
    model = (PCA(N_FACTORS) if method == "pca"
             else IncrementalPCA(N_FACTORS, batch_size=max(5 * N_FEATURES, n_rows // 100)))
    model.fit(X)
    result["fit_seconds"] = time.perf_counter() - start
    result.update(test_quality(model, X_test))
elif method == "hand":
    from hand_loop import hand_fit
    result.update(hand_fit(X, X_test, N_FACTORS, int(sys.argv[4])))
    result["fit_seconds"] = result.pop("seconds")
else:
    params = {"n_components": N_FACTORS, "random_state": 0,
              "callbacks": [("curve", Curve(start))]}
    if method == "reference":
        # A fixed budget in epochs; patience that only the budget ends.
        params.update(max_iter=int(sys.argv[4]), n_iter_no_change=100_000)
    model = VAETransformer(**params).fit(X)
    result["fit_seconds"] = time.perf_counter() - start
    result.update(steps=model.n_steps_, rounds=model.n_iter_, best=model.best_epoch_,
                  curve=dict(model.net_.callbacks_)["curve"].points)
    result.update(test_quality(model, X_test))
result["peak_rss_mb"] = peak_rss() / 2**20
result["rss_after_data_mb"] = rss_after_data / 2**20
result["data_mb"] = X.nbytes / 2**20
print(json.dumps(result))
"""

# argv: path, n_rows. Writes the rows to a raw float32 file, chunk by chunk.
_CHILD_WRITE = _CHILD_COMMON + r"""
path, n_rows = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for start in range(0, n_rows, 1_000_000):
        f.write(make_rows(min(1_000_000, n_rows - start), seed=start).tobytes())
"""

# argv: path, n_rows, test_rows. A default fit on the file as a read-only np.memmap.
_CHILD_MEMMAP = _CHILD_COMMON + r"""
from skvae import VAETransformer

path, n_rows, test_rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X_test = make_rows(test_rows, seed=99)
X = np.memmap(path, dtype=np.float32, mode="r", shape=(n_rows, N_FEATURES))
baseline = psutil.Process().memory_info().rss
start = time.perf_counter()
model = VAETransformer(n_components=N_FACTORS, random_state=0).fit(X)
seconds = time.perf_counter() - start
peak = peak_rss()
print(json.dumps({"fit_seconds": seconds, "baseline_rss_mb": baseline / 2**20,
                  "peak_rss_mb": peak / 2**20, "over_baseline_mb": (peak - baseline) / 2**20,
                  "file_mb": X.nbytes / 2**20, "steps": model.n_steps_,
                  **test_quality(model, X_test)}))
"""


def _child(source, *args):
    """Run ``source`` in a fresh interpreter, this directory importable (the hand loop
    imports ``hand_loop``)."""
    return run_child(source, *args, path=os.path.dirname(os.path.abspath(__file__)))


def _reference_epochs(n_rows, steps):
    """Epochs that give the reference REFERENCE_FACTOR times the defaults' ``steps``."""
    return max(1, math.ceil(REFERENCE_FACTOR * steps / steps_per_epoch(n_rows)))


def _size(n_rows, quick):
    test_rows = 2000 if quick else TEST_ROWS
    log(f"scale: {n_rows} rows, defaults")
    cases = {"defaults": _child(_CHILD_FIT, "defaults", n_rows, test_rows)}
    steps = cases["defaults"].get("steps", 1)
    for method in ("pca", "ipca"):
        log(f"scale: {n_rows} rows, {method}")
        cases[method] = _child(_CHILD_FIT, method, n_rows, test_rows)
    log(f"scale: {n_rows} rows, hand-written loop, {steps} steps")
    cases["hand"] = _child(_CHILD_FIT, "hand", n_rows, test_rows, steps)
    epochs = _reference_epochs(n_rows, steps)
    log(f"scale: {n_rows} rows, reference, {epochs} epochs")
    cases["reference"] = _child(_CHILD_FIT, "reference", n_rows, test_rows, epochs)
    cases["reference"]["max_iter"] = epochs
    return {"n_rows": n_rows, "cases": cases}


def _memmap(quick):
    n_rows = MEMMAP_ROWS // 100 if quick else MEMMAP_ROWS
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "rows.f32")
        log(f"scale: writing {n_rows} rows to {path}")
        _child(_CHILD_WRITE, path, n_rows)
        log("scale: default fit on the memmap")
        result = _child(_CHILD_MEMMAP, path, n_rows, 2000 if quick else TEST_ROWS)
    return {"n_rows": n_rows, **result}


def run(quick: bool = False):
    sizes = [n // 10 for n in SIZES[:2]] if quick else list(SIZES)
    results = {"n_features": N_FEATURES, "n_factors": N_FACTORS, "noise": NOISE,
               "reference_factor": REFERENCE_FACTOR,
               "sizes": [_size(n, quick) for n in sizes], "memmap": _memmap(quick)}
    if not quick:
        results["plot"] = _plot(results)
    return results, _report(results)


def _plot(results):
    """Held-out ELBO against wall time, defaults and reference, one panel per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.4))
    for ax, size in zip(axes, sizes):
        for name, style in (("defaults", "-o"), ("reference", "-")):
            points = size["cases"][name].get("curve") or []
            if points:
                seconds, elbo = zip(*points)
                ax.plot(seconds, elbo, style, markersize=3, label=name)
        pca = size["cases"]["pca"].get("score")
        if pca is not None:
            ax.axhline(pca, color="grey", linestyle=":", label="PCA (log-likelihood)")
        ax.set_xscale("log")
        ax.set_title(f"{size['n_rows']:,} x {N_FEATURES}")
        ax.set_xlabel("seconds since fit began")
        ax.set_ylabel("held-out ELBO (nats per row)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs",
                        "_static", "scale_curves.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    return os.path.relpath(path)


def _report(r) -> str:
    rows = []
    for size in r["sizes"]:
        n, cases = size["n_rows"], size["cases"]
        ref_mse = cases["reference"].get("mse")
        pca_mse = cases["pca"].get("mse")
        for name in ("defaults", "reference", "hand", "pca", "ipca"):
            case = cases[name]
            if "error" in case:
                rows.append([f"{n:,}", name] + ["-"] * 7 + [f"ERROR {case['error']}"])
                continue
            ratio = case["mse"] / ref_mse if ref_mse else None
            verdicts = []
            if name == "defaults":
                seconds_target, quality_target = TARGETS.get(n, (None, None))
                if seconds_target is not None:
                    verdicts.append(f"time {verdict(case['fit_seconds'] <= seconds_target)}")
                    verdicts.append(f"quality {verdict(ratio <= quality_target)}")
                verdicts.append(f"<PCA {verdict(case['mse'] < pca_mse)}")
                if n == 1_000_000:
                    overhead = case["peak_rss_mb"] - case["rss_after_data_mb"]
                    verdicts.append(f"RSS {verdict(overhead <= RSS_TARGET_MB)}")
            rows.append([
                f"{n:,}", name, fmt(case["fit_seconds"], ".1f"), fmt(case.get("steps"), "d"),
                fmt(case["mse"], ".5f"), fmt(ratio, ".3f"), fmt(case.get("score"), ".2f"),
                fmt(case["peak_rss_mb"] - case["rss_after_data_mb"], ".0f"),
                fmt(case.get("max_iter"), "d"), " ".join(verdicts)])
    text = format_table(
        "Scale: time to quality of the default fit",
        ["rows", "method", "fit s", "steps", "held-out MSE", "MSE / reference",
         "held-out ELBO", "RSS over data MB", "epochs", "targets"],
        rows,
        notes=[f"{r['n_features']} features: tanh map of {r['n_factors']} factors plus noise "
               f"sd {r['noise']} (MSE floor {r['noise'] ** 2:.4f}); all models at "
               f"k = {r['n_factors']}; held-out rows from another seed;",
               f"reference: the same estimator with {r['reference_factor']}x the defaults' "
               "steps as max_iter epochs, stopped only by its budget; hand: the same "
               "network, start, loss and schedule in a plain PyTorch loop, same steps;",
               "PCA/IncrementalPCA ELBO column: their exact log-likelihood (score); targets: "
               "10^5 fit <= 30 s, 10^6 fit <= 120 s, MSE <= 1.02x reference, "
               f"MSE < PCA's, 10^6 peak RSS <= data + {RSS_TARGET_MB:.0f} MB."],
    )
    m = r["memmap"]
    if "error" in m:
        mem_rows = [[f"{m['n_rows']:,}", "-", "-", "-", "-", f"ERROR {m['error']}"]]
    else:
        mem_rows = [[f"{m['n_rows']:,}", f"{m['file_mb']:.0f}", fmt(m["fit_seconds"], ".1f"),
                     f"{m['over_baseline_mb']:.0f}", fmt(m["mse"], ".5f"),
                     verdict(m["over_baseline_mb"] <= MEMMAP_RSS_TARGET_MB)]]
    text += "\n" + format_table(
        "Scale: default fit on a float32 np.memmap on disk",
        ["rows", "file MB", "fit s", "peak RSS over baseline MB", "held-out MSE",
         f"RSS <= {MEMMAP_RSS_TARGET_MB:.0f} MB"],
        mem_rows,
        notes=["baseline: RSS after imports and opening the memmap (mode 'r'); peak: "
               "ru_maxrss at the end of fit."],
    )
    return text
