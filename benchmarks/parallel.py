"""GridSearchCV with n_jobs=1 vs n_jobs=2: wall time, identical scores, worker threads.

joblib's loky workers each start their own torch; whether they cap its threads decides
whether two workers oversubscribe the cores.
"""

import os

import numpy as np
import torch
from _common import format_table, log, timed
from datasets import digits_unit
from joblib import Parallel, delayed
from sklearn.model_selection import GridSearchCV

from skvae import VAETransformer

PARAM_GRID = {"beta": [0.5, 1.0], "n_components": [2, 5]}
CV = 3


def _grid_search(X, n_jobs, max_iter):
    search = GridSearchCV(VAETransformer(random_state=0, max_iter=max_iter), PARAM_GRID,
                          cv=CV, n_jobs=n_jobs)
    _, seconds = timed(search.fit, X)
    ranks = search.cv_results_["rank_test_score"].tolist()
    return search.cv_results_["mean_test_score"], seconds, ranks


def _worker_threads():
    """torch's thread count and the thread-limiting variables as seen in loky workers."""
    # Builtins are pickled by reference, so no helper module has to import in the worker.
    calls = [delayed(torch.get_num_threads)() for _ in range(4)]
    threads = Parallel(n_jobs=2)(calls)
    env = Parallel(n_jobs=2)(delayed(os.getenv)("OMP_NUM_THREADS") for _ in range(2))
    return sorted(set(threads)), sorted({str(v) for v in env})


def run(quick: bool = False):
    max_iter = 3 if quick else 20
    X = digits_unit()
    cores = os.cpu_count()
    log("parallel: GridSearchCV n_jobs=1")
    scores_1, t_1, ranks_1 = _grid_search(X, 1, max_iter)
    log("parallel: GridSearchCV n_jobs=2 (workers start)")
    scores_2, t_2, ranks_2 = _grid_search(X, 2, max_iter)
    log("parallel: GridSearchCV n_jobs=2 (workers reused)")
    scores_2w, t_2w, ranks_2w = _grid_search(X, 2, max_iter)
    threads, omp = _worker_threads()
    # Same search in this process with the workers' thread count: tells whether any
    # difference comes from the thread count (summation order) or from the parallelism.
    log("parallel: GridSearchCV n_jobs=1 with the workers' thread count")
    main_threads = torch.get_num_threads()
    torch.set_num_threads(max(threads))
    try:
        scores_1m, t_1m, ranks_1m = _grid_search(X, 1, max_iter)
    finally:
        torch.set_num_threads(main_threads)
    results = {
        "max_iter": max_iter, "cv": CV, "param_grid": PARAM_GRID, "cpu_count": cores,
        "main_torch_threads": main_threads,
        "n_jobs_1_matched_threads_s": t_1m,
        "scores_n_jobs_1_matched_threads": scores_1m,
        "identical_matched_threads": bool(np.array_equal(scores_1m, scores_2)),
        "max_abs_diff_matched_threads": float(np.max(np.abs(scores_1m - scores_2))),
        "n_jobs_1_s": t_1, "n_jobs_2_s": t_2, "n_jobs_2_warm_s": t_2w,
        "scores_n_jobs_1": scores_1, "scores_n_jobs_2": scores_2,
        "identical": bool(np.array_equal(scores_1, scores_2)),
        "identical_warm": bool(np.array_equal(scores_1, scores_2w)),
        "max_abs_diff": float(np.max(np.abs(scores_1 - scores_2))),
        "max_abs_diff_warm": float(np.max(np.abs(scores_1 - scores_2w))),
        "ranks_n_jobs_1": ranks_1, "ranks_n_jobs_2": ranks_2,
        "same_ranking": ranks_1 == ranks_2 == ranks_2w == ranks_1m,
        "worker_torch_threads": threads, "worker_omp_num_threads": omp,
        "oversubscribed": 2 * max(threads) > cores,
    }
    return results, _report(results)


def _report(r) -> str:
    rows = [
        [f"n_jobs=1, {r['main_torch_threads']} torch threads", f"{r['n_jobs_1_s']:.2f}",
         "-", "-", "(reference)"],
        ["n_jobs=2 (cold workers)", f"{r['n_jobs_2_s']:.2f}", str(r["identical"]),
         f"{r['max_abs_diff']:.3g}", "n_jobs=1"],
        ["n_jobs=2 (warm workers)", f"{r['n_jobs_2_warm_s']:.2f}", str(r["identical_warm"]),
         f"{r['max_abs_diff_warm']:.3g}", "n_jobs=1"],
        [f"n_jobs=1, {max(r['worker_torch_threads'])} torch thread(s) as in workers",
         f"{r['n_jobs_1_matched_threads_s']:.2f}", str(r["identical_matched_threads"]),
         f"{r['max_abs_diff_matched_threads']:.3g}", "n_jobs=2 (cold)"],
    ]
    workers = ", ".join(str(t) for t in r["worker_torch_threads"])
    return format_table(
        "Parallel: GridSearchCV on digits/16",
        ["run", "wall s", "mean_test_score equal", "max abs diff", "compared with"],
        rows,
        notes=[f"grid {r['param_grid']}, cv={r['cv']}, max_iter={r['max_iter']}, "
               "random_state=0",
               f"torch threads: main process {r['main_torch_threads']}, loky workers "
               f"{workers} (OMP_NUM_THREADS there: {', '.join(r['worker_omp_num_threads'])})",
               f"rank_test_score equal in all four runs (same best parameters): "
               f"{r['same_ranking']}",
               f"2 workers x {max(r['worker_torch_threads'])} threads on {r['cpu_count']} "
               f"cores: {'OVERSUBSCRIBED' if r['oversubscribed'] else 'no oversubscription'}"],
    )
