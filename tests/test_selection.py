"""The held-out decision between the trained weights and the PCA start."""

import numpy as np

from skvae._selection import decide


def test_a_few_heavy_rows_cannot_flip_a_gain_seen_on_most_rows():
    rng = np.random.default_rng(0)
    gain = rng.normal(20.0, 5.0, size=135)
    gain[:3] = -600.0  # rare spikes cost the sharper model much more
    assert gain.mean() > 0
    # A t-test on the mean would not see it: two standard errors exceed the mean.
    assert gain.mean() < 2 * gain.std(ddof=1) / np.sqrt(len(gain))
    assert decide(gain).keep_trained


def test_a_clearly_negative_mean_keeps_the_start_however_many_rows_gain():
    # The floor: better on 90 % of the rows, worse on average by 1.7 standard errors.
    gain = np.r_[np.full(90, 1.0), np.full(10, -20.0)]
    verdict = decide(gain)
    assert verdict.share_better == 0.9 and verdict.mean_gain < 0
    assert not verdict.keep_trained


def test_a_small_majority_on_few_rows_keeps_the_start():
    # 13 of 17 rows better (a sign test's z of 2.2) and a positive mean: not enough.
    gain = np.r_[np.full(13, 2.0), np.full(4, -1.0)]
    assert not decide(gain).keep_trained


def test_noise_keeps_the_start():
    rng = np.random.default_rng(1)
    kept = [decide(rng.normal(0.0, 1.0, size=200)).keep_trained for _ in range(200)]
    # Both tests must pass by chance: under 1 % of the time.
    assert np.mean(kept) < 0.02


def test_too_few_rows_keep_the_start():
    assert not decide(np.array([5.0])).keep_trained
    assert not decide(np.array([])).keep_trained
