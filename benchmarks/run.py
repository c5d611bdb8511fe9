"""Run the skvae benchmark suite: ``python benchmarks/run.py [--quick] [--only ...] [--out ...]``.

Each section lives in its own module, listed in SECTIONS below, and its ``run(quick)``
returns ``(results, tables)``; this script only selects sections, prints their tables and
writes every number to one JSON file. Shared pieces: ``datasets`` (the data), ``metrics``
(splits, errors, baselines), ``hand_loop`` (the one hand-written training loop) and
``_common`` (timing, tables, JSON). ``sparse_levers.py`` is a study run on its own.
"""

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

# The section modules sit next to this file; make them importable however it is started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sklearn  # noqa: E402
import torch  # noqa: E402
from _common import estimator_defaults, jsonable, log  # noqa: E402

import skvae  # noqa: E402

# Section name (its module in this folder) -> what it measures, in the order a full run
# takes them.
SECTIONS = {
    "beyond_pca": "held-out error and bound against PCA; what 'auto' picks",
    "panel": "never worse than PCA on real tables, digits and manifolds",
    "quality": "held-out error and likelihood against linear baselines",
    "speed": "fit against a hand-written loop, FLOP limit, transform speed",
    "memory": "peak RSS of fit and transform on a million rows",
    "parallel": "GridSearchCV with n_jobs=1 and 2: time, scores, threads",
    "sparse": "spike-and-slab codes against dictionary learning with OMP",
    "compression": "rate and distortion against PCA transform coding, zlib, lzma",
    "scale": "time to quality on 10^4..10^6 rows; a 10^7-row memmap",
    "swap": "a grid search over n_components: PCA against the VAE",
    "generation": "samples against held-out rows, a Gaussian and TVAE",
    "dictionaries": "sparse codes against the best overcomplete dictionary",
    "tables": "imputation, missing entries downstream, mixed-type synthesis",
    "gpu": "the GPU path: fit against the CPU, load without a GPU, throughput",
}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "results.json"


def _parse_args(argv):
    listing = "\n".join(f"  {name:<13} {about}" for name, about in SECTIONS.items())
    parser = argparse.ArgumentParser(description=__doc__, epilog="sections:\n" + listing,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fast smoke run: fewer seeds, datasets, epochs and rows")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections (listed below); default: all")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return args


def _environment():
    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "sklearn": sklearn.__version__,
        "skvae": skvae.__version__,
        "estimator_defaults": {k: repr(v) for k, v in estimator_defaults().items()},
    }


def _write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(payload), indent=2) + "\n")


def main(argv=None) -> int:
    args = _parse_args(argv)
    env = _environment()
    payload = {"quick": args.quick, "environment": env, "sections": {}}
    print(f"skvae {env['skvae']} | torch {env['torch']} ({env['torch_threads']} threads) | "
          f"scikit-learn {env['sklearn']} | {env['cpu_count']} CPUs | "
          f"{'quick' if args.quick else 'full'} run\n", flush=True)
    for name in args.only:
        log(f"section {name} starts")
        section = importlib.import_module(name)  # imported before its clock starts
        start, load_start = time.perf_counter(), os.getloadavg()[0]
        results, tables = section.run(quick=args.quick)
        results["section_seconds"] = time.perf_counter() - start
        # Other processes on the machine skew every timing; record how busy it was.
        results["load_average_1min"] = {"start": load_start, "end": os.getloadavg()[0]}
        payload["sections"][name] = results
        print(tables, flush=True)
        print(f"[{name}: {results['section_seconds']:.0f} s; 1-min load average "
              f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end, "
              f"on {env['cpu_count']} CPUs]\n", flush=True)
        # Written after every section, so that a late failure keeps the earlier numbers.
        _write(args.out, payload)
        log(f"section {name} done in {results['section_seconds']:.0f} s")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
