"""Peak memory of fit and transform on a million rows, each in a fresh process.

A fresh process per measurement keeps one run's allocations (and the allocator's caches)
out of the next one's peak. Overhead = peak RSS over the whole process minus the RSS right
after the data array exists, i.e. what the estimator adds on top of the data.
"""

from _common import format_table, log, run_child

N_ROWS = 1_000_000
N_FEATURES = 64
TARGET_OVERHEAD_MB = 200.0

# Runs in the child. The data is drawn straight in its dtype, so that no temporary copy
# inflates the peak before the baseline is taken.
_CHILD = """
import json, resource, sys, time
import numpy as np
import psutil
from skvae import VAETransformer

operation, dtype, n_rows, n_features = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
process = psutil.Process()
model = None
if operation == "transform":
    # Fitted before the data exists, on a small sample, so only transform is measured.
    sample = np.random.default_rng(1).standard_normal((2000, n_features))
    model = VAETransformer(max_iter=1, random_state=0).fit(sample)
rss_before_data = process.memory_info().rss
X = np.random.default_rng(0).standard_normal((n_rows, n_features), dtype=np.dtype(dtype))
rss_after_data = process.memory_info().rss
start = time.perf_counter()
if operation == "fit":
    VAETransformer(max_iter=1, random_state=0).fit(X)
else:
    model.transform(X)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
print(json.dumps({"data_bytes": X.nbytes, "rss_before_data": rss_before_data,
                  "rss_after_data": rss_after_data, "peak_rss": peak, "seconds": seconds}))
"""


def _measure(operation, dtype, n_rows):
    raw = run_child(_CHILD, operation, dtype, n_rows, N_FEATURES)
    if "error" in raw:
        return raw
    mb = 1024.0 * 1024.0
    return {
        "data_mb": raw["data_bytes"] / mb,
        "rss_before_data_mb": raw["rss_before_data"] / mb,
        "rss_after_data_mb": raw["rss_after_data"] / mb,
        "peak_rss_mb": raw["peak_rss"] / mb,
        "overhead_mb": (raw["peak_rss"] - raw["rss_after_data"]) / mb,
        "seconds": raw["seconds"],
    }


def run(quick: bool = False):
    n_rows = N_ROWS // 10 if quick else N_ROWS
    cases = []
    for dtype in ("float32", "float64"):
        for operation in ("fit", "transform"):
            log(f"memory: {operation} {dtype} {n_rows} rows")
            cases.append({"operation": operation, "dtype": dtype,
                          **_measure(operation, dtype, n_rows)})
    results = {"n_rows": n_rows, "n_features": N_FEATURES,
               "target_overhead_mb": TARGET_OVERHEAD_MB, "cases": cases}
    return results, _report(results)


def _report(r) -> str:
    rows = []
    for case in r["cases"]:
        if "error" in case:
            rows.append([case["operation"], case["dtype"], "-", "-", "-", "-", "-",
                         f"ERROR {case['error']}"])
            continue
        if case["dtype"] == "float32":
            verdict = "PASS" if case["overhead_mb"] <= r["target_overhead_mb"] else "FAIL"
        else:
            verdict = "(info)"
        rows.append([case["operation"], case["dtype"], f"{case['data_mb']:.0f}",
                     f"{case['rss_after_data_mb']:.0f}", f"{case['peak_rss_mb']:.0f}",
                     f"{case['overhead_mb']:.0f}", f"{case['seconds']:.1f}", verdict])
    return format_table(
        "Memory: peak RSS, one fresh process per row",
        ["operation", "dtype", "data MB", "RSS after data MB", "peak RSS MB", "overhead MB",
         "seconds", f"overhead <= {r['target_overhead_mb']:.0f} MB"],
        rows,
        notes=[f"{r['n_rows']} x {r['n_features']} standard-normal rows; fit uses max_iter=1 "
               "and the default batch size;",
               "overhead = ru_maxrss at the end - RSS right after the data was created "
               "(includes torch's own working memory)."],
    )
