"""Helpers shared by the benchmark sections: tables, timing, data and estimator defaults."""

import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def estimator_defaults() -> dict:
    """The estimator's current defaults, read at run time: they change between versions."""
    return VAETransformer().get_params()


def digits_unit() -> np.ndarray:
    """``load_digits`` scaled to [0, 1], as float64."""
    return load_digits().data / 16.0


def held_out_split(X, seed, test_size=0.25, standardise=True):
    """``(X_train, X_test)``: a split set by ``seed``, both standardised on the training
    rows unless ``standardise`` is False."""
    X_train, X_test = train_test_split(X, test_size=test_size, random_state=seed)
    if not standardise:
        return X_train, X_test
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def round_trip_mse(model, X) -> float:
    """Mean squared error of ``inverse_transform(transform(X))``."""
    return float(np.mean((X - model.inverse_transform(model.transform(X))) ** 2))


def timed(fn, *args, **kwargs):
    """Return ``(result, seconds)`` of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def median(values) -> float:
    return float(statistics.median(values))


def fmt(value, spec: str = ".4g") -> str:
    """Format a number, or '-' when there is none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return format(value, spec)


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
