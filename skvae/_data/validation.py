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
from sklearn.utils.validation import _check_feature_names_in
from skorch.callbacks import Callback

from .._data.streaming import row_chunks

# Rows read at a time when a statistic is computed in float64: bounds the extra memory.
_STATS_CHUNK_ROWS = 16384

# Bounds on the data's spread: squared reconstruction errors and the likelihood's variance
# floor (1e-6 times the squared spread) must stay inside float32's normal range.
_MIN_SPREAD, _MAX_SPREAD = 1e-15, 1e15

# A Python float: comparing with the float32 scalar would cast huge values to float32.
_FLOAT32_SQRT_MAX = float(np.sqrt(np.finfo(np.float32).max))


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


def check_finite_in_chunks(X: np.ndarray) -> None:
    """scikit-learn's check for infinity (NaN marks a missing entry), one chunk of rows
    at a time: a file-backed ``X`` is never resident as a whole (see ``_streaming``)."""
    for _, rows in row_chunks(X, _STATS_CHUNK_ROWS):
        assert_all_finite(rows, allow_nan=True, input_name="X")


def has_missing(X: np.ndarray) -> bool:
    """Whether ``X`` holds a NaN (a missing entry), read one chunk at a time."""
    return any(np.isnan(rows).any() for _, rows in row_chunks(X, _STATS_CHUNK_ROWS))


def feature_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of ``X``, computed in float64 chunks (a
    file-backed ``X`` one chunk at a time, see ``_streaming``).

    Raises ``ValueError`` when the values are so large that standardising them overflows,
    or too large for the float32 arithmetic that training uses.
    """
    n_samples, n_features = X.shape
    total = np.zeros(n_features)
    total_sq = np.zeros(n_features)
    observed = np.zeros(n_features)
    largest = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _, rows in row_chunks(X, _STATS_CHUNK_ROWS):
            chunk = rows.astype(np.float64)
            # Missing entries (NaN) count as absent: statistics of the observed ones.
            present = ~np.isnan(chunk)
            chunk = np.where(present, chunk, 0.0)
            observed += present.sum(axis=0)
            total += chunk.sum(axis=0)
            total_sq += np.square(chunk).sum(axis=0)
            largest = max(largest, float(np.abs(chunk).max(initial=0.0)))
        empty = np.flatnonzero(observed == 0)
        if empty.size:
            raise ValueError(
                f"X has no observed value in column(s) {empty[:10].tolist()}: a column "
                "that is entirely missing (NaN) cannot be modelled; drop it before fitting."
            )
        mean = total / observed
        variance = np.maximum(total_sq / observed - np.square(mean), 0.0)
    if not (np.all(np.isfinite(variance)) and largest < _FLOAT32_SQRT_MAX):
        raise ValueError(
            f"X contains values too large to standardise without overflow (largest "
            f"magnitude {largest:.3g}); divide X by a constant so that its values are "
            "well below 1e19."
        )
    # Catastrophic cancellation can leave a tiny spread for constant features: treat
    # anything below float32 resolution of the mean as constant, and use scale 1 there.
    std = np.sqrt(variance)
    constant = std <= 1e-6 * np.maximum(np.abs(mean), 1e-30)
    std[constant | (std == 0)] = 1.0
    # The Gaussian likelihood squares errors of this size in float32: spreads outside
    # these bounds under- or overflow there.
    spread = float(np.sqrt(np.mean(np.square(std))))
    if not _MIN_SPREAD <= spread <= _MAX_SPREAD:
        raise ValueError(
            f"X's features vary by about {spread:.3g} (root mean square of their standard "
            f"deviations), too {'little' if spread < _MIN_SPREAD else 'much'} for training "
            f"in float32; multiply X by a constant (StandardScaler does this) so that its "
            f"spread lies between {_MIN_SPREAD:g} and {_MAX_SPREAD:g}."
        )
    return mean, std


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
