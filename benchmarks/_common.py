"""Helpers shared by the benchmark sections: progress, timing, plain-text tables, JSON and
the estimator's defaults (data sets: ``datasets``; measurements: ``metrics``)."""

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from skvae import VAETransformer


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def estimator_defaults() -> dict:
    """The estimator's current defaults, read at run time: they change between versions."""
    return VAETransformer().get_params()


def timed(fn, *args, **kwargs):
    """Return ``(result, seconds)`` of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def run_child(source: str, *args, path: str | None = None) -> dict:
    """Run ``source`` in a fresh interpreter with ``args`` as its ``sys.argv[1:]`` (and
    ``path`` importable, where given); return the JSON of its last line of output, or
    ``{"error": its last line of stderr}`` when it fails."""
    env = None
    if path is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [path, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", source, *map(str, args)],
                          capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        return {"error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}


def median(values) -> float:
    return float(statistics.median(values))


def fmt(value, spec: str = ".4g") -> str:
    """Format a number, or '-' when there is none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return format(value, spec)


def verdict(ok) -> str:
    """A target's outcome as the tables print it."""
    return "PASS" if ok else "FAIL"


def format_table(title: str, headers: list[str], rows: list[list], notes=()) -> str:
    """A plain-text table: text columns left-aligned, numeric-looking ones right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def numeric(column: int) -> bool:
        values = [row[column] for row in cells if row[column] != "-"]
        return bool(values) and all(_looks_numeric(v) for v in values)

    right = [numeric(i) for i in range(len(headers))]

    def line(values):
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    out = [title, "=" * len(title), line(headers), rule]
    out += [line(row) for row in cells]
    out += [f"  {note}" for note in notes]
    return "\n".join(out) + "\n"


def _looks_numeric(text: str) -> bool:
    head = text.split(" ")[0].rstrip("x%")
    try:
        float(head)
    except ValueError:
        return False
    return True


def jsonable(obj):
    """Turn numpy scalars and arrays, tuples and the like into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
