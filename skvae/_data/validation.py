"""Parameter and data checks, and seeding.

This is the only module that imports scikit-learn's private API (its parameter-constraint
helpers), so that a change there is mended in one place.
"""

import copy
from numbers import Integral

import numpy as np
import torch
from sklearn.decomposition._pca import _infer_dimension as minka_dimension  # noqa: F401
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    Interval,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import _check_feature_names_in, validate_data
from skorch.callbacks import Callback

from .columns import check_numeric_columns
from .statistics import STATS_CHUNK_ROWS
from .streaming import is_file_backed, row_chunks


def check_params(estimator) -> None:
    """Check ``estimator``'s parameters against its ``_parameter_constraints`` table."""
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )


def check_hidden_layer_sizes(hidden_layer_sizes) -> tuple[int, ...]:
    """Return the hidden widths as a tuple of positive ints, or raise ``ValueError``."""
    if isinstance(hidden_layer_sizes, Integral):
        hidden_layer_sizes = (hidden_layer_sizes,)
    sizes = tuple(hidden_layer_sizes)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ValueError(
            "hidden_layer_sizes must be a sequence of positive integers, "
            f"got {hidden_layer_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def check_device(device) -> torch.device:
    """Parse ``device`` and make sure this machine has it."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not supported; use 'cpu', 'cuda' or 'mps'.")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='cpu'."
        )
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} was requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)."
        )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available.")
    return parsed


def check_callbacks(callbacks) -> list:
    """A fresh copy of the user's skorch callbacks, or ``ValueError`` naming a bad entry.

    Callbacks keep state (best scores, file handles), so each fit gets its own copy:
    the estimator's parameter is never changed by ``fit`` and clones stay independent.
    """
    if callbacks is None:
        return []
    for entry in callbacks:
        named = (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str))
        callback = entry[1] if named else entry
        if not isinstance(callback, Callback) and not (
                isinstance(callback, type) and issubclass(callback, Callback)):
            raise ValueError(
                "callbacks must be a list of skorch callbacks or (name, callback) pairs, "
                f"got {entry!r}."
            )
    return copy.deepcopy(list(callbacks))


def feature_names_in(estimator, input_features):
    """scikit-learn's input feature names of a fitted ``estimator`` (``x0, x1, ...``
    without names)."""
    return _check_feature_names_in(estimator, input_features)


def output_container(estimator) -> str:
    """The container that ``set_output(transform=...)`` asked for: "default", "pandas"
    or "polars"."""
    return _get_output_config("transform", estimator)["dense"]


def check_rows(estimator, X, *, reset: bool, layout, handle_unknown: str,
               unknown_value: float, ensure_all_finite=False):
    """``X`` as the network reads it, its names and width checked against ``estimator``
    (recorded when ``reset``): a table with a ``layout`` encoded by it (an unseen
    category raises, or becomes ``unknown_value``), a table of numbers as a float array
    whose NaN mark missing entries. Finiteness is checked only with
    ``ensure_all_finite="allow-nan"``: ``fit`` checks it in its one pass over the rows."""
    if layout is not None:
        # A table of mixed types: names and width checked here, values by the layout.
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        return layout.encode(X, handle_unknown, unknown_value)
    check_numeric_columns(X)
    # scikit-learn's finiteness check sums X first: for values near the float64 limit
    # that sum overflows with a RuntimeWarning before the clear error comes. A
    # memory-mapped X is never read as a whole here (streaming).
    file_backed = is_file_backed(X)
    with np.errstate(over="ignore", invalid="ignore"):
        X = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32],
                          ensure_all_finite=False if file_backed else ensure_all_finite)
    if file_backed and ensure_all_finite:
        for _, rows in row_chunks(X, STATS_CHUNK_ROWS):
            assert_all_finite(rows, allow_nan=True, input_name="X")
    return X


def wrap_output(estimator, rows: np.ndarray, index=None):
    """``rows`` in the container that ``estimator.set_output(transform=...)`` asked
    for, with the training frame's column names (or ``x0, x1, ...`` as scikit-learn
    names them)."""
    container = output_container(estimator)
    if container == "default":
        return rows
    names = getattr(estimator, "feature_names_in_", None)
    columns = ([str(name) for name in names] if names is not None
               else [f"x{i}" for i in range(estimator.n_features_in_)])
    if container == "pandas":
        import pandas as pd
        return pd.DataFrame(rows, columns=columns, index=index)
    import polars as pl
    return pl.DataFrame(rows, schema=columns, orient="row")


def has_missing(X: np.ndarray) -> bool:
    """Whether ``X`` holds a NaN (a missing entry), read one chunk at a time."""
    return any(np.isnan(rows).any() for _, rows in row_chunks(X, STATS_CHUNK_ROWS))


def seed_from_random_state(random_state) -> int:
    """An int seed for torch generators that leaves numpy's global RNG untouched.

    ``None`` takes fresh entropy from the operating system, rather than drawing from
    ``np.random``'s global state as ``check_random_state(None)`` would.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, Integral):
        return int(random_state)
    # check_random_state rejects anything that is not a RandomState with a clear message.
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
