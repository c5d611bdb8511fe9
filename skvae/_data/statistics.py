"""One pass over the rows: finiteness, missing entries and per-column statistics.

``fit`` reads its rows once for all of these (a file-backed ``X`` one chunk at a time,
see ``streaming``). The sums are what data-parallel training adds up across processes:
observed counts, sums and sums of squares, minima and maxima.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import assert_all_finite

from .streaming import row_chunks

# Rows read at a time when a statistic is computed in float64: bounds the extra memory.
STATS_CHUNK_ROWS = 16384

# Bounds on the data's spread: squared reconstruction errors and the likelihood's variance
# floor (1e-6 times the squared spread) must stay inside float32's normal range.
_MIN_SPREAD, _MAX_SPREAD = 1e-15, 1e15

# A Python float: comparing with the float32 scalar would cast huge values to float32.
_FLOAT32_SQRT_MAX = float(np.sqrt(np.finfo(np.float32).max))


@dataclass(frozen=True)
class ColumnStatistics:
    """Sums over the observed entries (NaN marks a missing one) of each column."""

    n_rows: int
    observed: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    largest: float

    @property
    def has_missing(self) -> bool:
        return bool((self.observed < self.n_rows).any())

    def standardisation(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-column mean and standard deviation of the observed entries.

        Raises ``ValueError`` for a column with no observed entry, and when the values
        are so large that standardising them overflows, or too large or too small in
        spread for the float32 arithmetic that training uses.
        """
        empty = np.flatnonzero(self.observed == 0)
        if empty.size:
            raise ValueError(
                f"X has no observed value in column(s) {empty[:10].tolist()}: a column "
                "that is entirely missing (NaN) cannot be modelled; drop it before fitting."
            )
        with np.errstate(over="ignore", invalid="ignore"):
            mean = self.total / self.observed
            variance = np.maximum(self.total_sq / self.observed - np.square(mean), 0.0)
        if not (np.all(np.isfinite(variance)) and self.largest < _FLOAT32_SQRT_MAX):
            raise ValueError(
                f"X contains values too large to standardise without overflow (largest "
                f"magnitude {self.largest:.3g}); divide X by a constant so that its values "
                "are well below 1e19."
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
                f"X's features vary by about {spread:.3g} (root mean square of their "
                f"standard deviations), too {'little' if spread < _MIN_SPREAD else 'much'} "
                f"for training in float32; multiply X by a constant (StandardScaler does "
                f"this) so that its spread lies between {_MIN_SPREAD:g} and {_MAX_SPREAD:g}."
            )
        return mean, std


def column_statistics(X: np.ndarray) -> ColumnStatistics:
    """``ColumnStatistics`` of ``X`` in one pass of float64 chunks, refusing infinity
    with scikit-learn's message (NaN is a missing entry)."""
    n_features = X.shape[1]
    observed, total, total_sq = (np.zeros(n_features) for _ in range(3))
    minimum, maximum = np.full(n_features, np.inf), np.full(n_features, -np.inf)
    largest = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _, rows in row_chunks(X, STATS_CHUNK_ROWS):
            assert_all_finite(rows, allow_nan=True, input_name="X")
            chunk = rows.astype(np.float64)
            present = ~np.isnan(chunk)
            chunk = np.where(present, chunk, 0.0)
            observed += present.sum(axis=0)
            total += chunk.sum(axis=0)
            total_sq += np.square(chunk).sum(axis=0)
            largest = max(largest, float(np.abs(chunk).max(initial=0.0)))
            minimum = np.minimum(minimum, np.where(present, chunk, np.inf).min(axis=0))
            maximum = np.maximum(maximum, np.where(present, chunk, -np.inf).max(axis=0))
    return ColumnStatistics(X.shape[0], observed, total, total_sq, minimum, maximum, largest)


def feature_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of ``X``'s observed entries."""
    return column_statistics(X).standardisation()
