"""The held-out decision of ``fit``: keep the trained weights, or go back to the start.

A Gaussian model starts at probabilistic PCA's maximum-likelihood solution, so the start is
a model in its own right, and the trained weights must show on rows they never saw that
they describe the data better. Both models are scored on every held-out row with the
same importance-weighted bound (exact for PPCA, much tighter than the ELBO for a
nonlinear decoder), and the per-row gains are tested.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._callbacks import SELECTION
from ._inference import Inference

# The held-out rows that test the best epoch against the start: those that did not
# choose it (``SELECTION`` did).
CONFIRMATION = slice(SELECTION.start + 1, None, 2)

# Draws of the importance-weighted bound that scores both models.
DECISION_DRAWS = 64

# One-sided z of the sign test (about 2.3 % false positives).
_SIGN_Z = 2.0


@dataclass(frozen=True)
class Verdict:
    """What the held-out rows say of the trained weights against the start (nats/row)."""

    keep_trained: bool
    mean_gain: float
    median_gain: float
    share_better: float
    n_rows: int


def held_out_gain(inference: Inference, start_inference: Inference,
                  rows: np.ndarray) -> np.ndarray:
    """Per-row gain of the trained model over the start on ``rows``, in nats: the
    difference of their importance-weighted bounds. Pass the held-out rows that did not
    choose the best epoch (``CONFIRMATION``)."""
    trained = inference.log_likelihood_bound(rows, DECISION_DRAWS)
    start = start_inference.log_likelihood_bound(rows, DECISION_DRAWS)
    return trained - start


def decide(gain: np.ndarray) -> Verdict:
    """Keep the trained weights when they are better on significantly more than half of
    the rows (a sign test, ``_SIGN_Z`` standard errors) *and* their mean gain is
    positive.

    ``gain`` must come from rows that did not choose the epoch: on the rows that chose
    it, the best of many epochs looks better than it is.

    The sign test guards against noise, and a few rows cannot flip it: on standardised
    tables the per-row gains are heavy-tailed (a rare spike of 50 standard deviations
    costs a model with less noise thousands of nats), and a test on the mean alone, two
    standard errors above zero, kept PCA where the trained model was better on most
    rows and on average. The mean guards the floor: a model that is better on most rows
    but whose held-out log-likelihood is lower on average is not kept.
    """
    n = len(gain)
    if n < 2:
        return Verdict(False, float(np.mean(gain)) if n else 0.0,
                       float(np.median(gain)) if n else 0.0, 0.0, n)
    mean, median = float(gain.mean()), float(np.median(gain))
    share_better = float(np.mean(gain > 0))
    # Under "no difference" each row is better with probability one half.
    sign_z = (share_better - 0.5) * 2.0 * math.sqrt(n)
    keep = sign_z > _SIGN_Z and mean > 0.0
    return Verdict(bool(keep), mean, median, share_better, n)
