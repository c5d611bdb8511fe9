"""The held-out decision between the trained weights and the PCA start."""

import numpy as np

from skvae._fit.selection import decide


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


def test_calibrated_noise_maximises_the_elbo_of_the_rows_it_was_set_on():
    from sklearn.datasets import make_s_curve

    from skvae import VAETransformer
    from skvae._fit.selection import calibrate_noise

    X = make_s_curve(400, noise=0.1, random_state=0)[0]
    vae = VAETransformer(n_components=2, max_iter=20, early_stopping=False,
                         random_state=0).fit(X[:300])
    likelihood = vae.net_.module_.likelihood
    calibrate_noise(vae.net_.module_, X[300:], "cpu")
    best = float(likelihood.variance)
    scores = {}
    for factor in (0.9, 1.0, 1.1):
        likelihood.set_noise_variance(best * factor)
        scores[factor] = vae.score(X[300:])
    assert scores[1.0] > scores[0.9] and scores[1.0] > scores[1.1]


def test_the_fit_reports_what_the_held_out_rows_found():
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from skvae import VAETransformer

    X = StandardScaler().fit_transform(load_wine().data)
    vae = VAETransformer(n_components=2, max_iter=30, random_state=0).fit(X)
    found = vae.held_out_comparison_
    assert set(found) == {"keep_trained", "mean_gain", "median_gain", "share_better",
                          "n_rows"}
    assert found["keep_trained"] == (vae.best_epoch_ > 0)
    assert found["n_rows"] == vae.net_.train_split.n_valid // 2
    no_split = VAETransformer(n_components=2, max_iter=3, early_stopping=False,
                              random_state=0).fit(X)
    assert no_split.held_out_comparison_ is None
