"""PCA inside the model: the closed-form start, the held-out rule and the round-trip gain."""

from copy import deepcopy

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA
from skorch.callbacks import Callback

from skvae import VAETransformer
from skvae._fit.plan import plan_fit
from skvae._fit.train import set_start
from skvae._fit.training import build_net
from skvae._model.elbo import elbo
from skvae._model.ppca import ppca_solution, spectrum


def _low_rank(n_rows=400, n_features=8, rank=3, noise=0.3, seed=0):
    """Gaussian rows with a few strong directions: PPCA's own kind of data."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.5, 3.0, size=n_features)
    latent = rng.standard_normal((n_rows, rank)) @ rng.standard_normal((rank, n_features))
    return (latent + noise * rng.standard_normal((n_rows, n_features))) * scales + 5.0


class AtStart(Callback):
    """Records, before the first step, the ELBO and posterior means of ``X``."""

    def __init__(self, X):
        self.X = X

    def on_train_begin(self, net, **kwargs):
        net.module_.eval()
        with torch.no_grad():
            x = torch.as_tensor(self.X, dtype=torch.float32)
            self.scores_ = elbo(net.module_, x).double().numpy()
            self.means_ = net.module_.encode(x)[0].double().numpy()


def _ppca_posterior_mean(pca, X):
    W = pca.components_.T * np.sqrt(pca.explained_variance_ - pca.noise_variance_)
    M = W.T @ W + pca.noise_variance_ * np.eye(W.shape[1])
    return np.linalg.solve(M, W.T @ (X - pca.mean_).T).T


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("hidden", [(), (16,)])
def test_the_start_is_pca(k, hidden):
    """The start that the trained weights must beat: PPCA's solution, scoring as PCA."""
    X = _low_rank()
    # The plan stage alone, then where the training stage begins.
    plan = plan_fit(VAETransformer(n_components=k, hidden_layer_sizes=hidden,
                                   random_state=0), X, None, incremental=False)
    net = build_net(plan.spec, plan.settings, plan.device)
    start = set_start(net.module_, plan)
    x = torch.as_tensor(X, dtype=torch.float32)
    start.eval()
    with torch.no_grad():
        scores = elbo(start, x).double().numpy()
        means = start.encode(x)[0].double().numpy()
    pca = PCA(n_components=k).fit(X)
    # The ELBO of the start is PCA's log-likelihood (float32, exact posterior,
    # moment-matched draws), to well within 1e-3 nats per row.
    assert abs(scores.mean() - pca.score(X)) < 1e-3
    assert_allclose(scores, pca.score_samples(X), atol=2e-3)
    assert_allclose(means, _ppca_posterior_mean(pca, X), atol=1e-4)


def test_training_begins_in_pcas_subspace_with_precise_codes():
    X = _low_rank()
    vae = VAETransformer(n_components=3, max_iter=1, callbacks=[("start", AtStart(X))],
                         random_state=0).fit(X)
    start = dict(vae.net_.callbacks_)["start"]  # each fit runs on a copy
    pca = PCA(n_components=3).fit(X)
    # Codes are the whitened projections (PCA(whiten=True)'s, up to sign), and decoding
    # them gives PCA's reconstruction: the subspace is PCA's, the codes are not shrunk.
    whitened = pca.transform(X) / np.sqrt(pca.explained_variance_)
    assert_allclose(np.abs(start.means_), np.abs(whitened), atol=1e-4)
    assert start.scores_.mean() < pca.score(X)  # precise codes cost KL: not PPCA itself


def test_ppca_solution_matches_sklearn():
    X = _low_rank(n_rows=300)
    solution = ppca_solution(spectrum(X, X.mean(axis=0)), 3)
    pca = PCA(n_components=3).fit(X)
    assert_allclose(solution.explained_variance, pca.explained_variance_, rtol=1e-10)
    assert solution.noise_variance == pytest.approx(pca.noise_variance_, rel=1e-10)
    assert_allclose(np.abs(solution.components), np.abs(pca.components_), atol=1e-10)


def test_ppca_solution_loads_minkas_components_only():
    rng = np.random.default_rng(0)  # isotropic noise, as Minka's evidence assumes
    X = rng.standard_normal((2000, 3)) @ rng.standard_normal((3, 10)) * 2.0
    X += 0.3 * rng.standard_normal(X.shape)
    solution = ppca_solution(spectrum(X, X.mean(axis=0)), 8, n_loaded="mle")
    expected = PCA(n_components="mle").fit(X).n_components_
    loaded = solution.explained_variance > solution.noise_variance
    assert loaded.sum() == expected
    assert_allclose(solution.explained_variance[~loaded], solution.noise_variance)


def test_linear_data_keeps_pca_and_its_numbers():
    """On PPCA's own kind of data training finds nothing the held-out rows confirm: the
    model is PCA, with its held-out likelihood and reconstruction error."""
    X = _low_rank(n_rows=800, seed=1)
    X_train, X_test = X[:600], X[600:]
    vae = VAETransformer(n_components=3, random_state=0).fit(X_train)
    pca = PCA(n_components=3).fit(X_train)
    assert vae.best_epoch_ == 0
    assert vae.score(X_test) == pytest.approx(pca.score(X_test), abs=1e-3)
    reconstruction = vae.inverse_transform(vae.transform(X_test))
    assert_allclose(reconstruction, pca.inverse_transform(pca.transform(X_test)),
                    rtol=1e-4, atol=1e-4)


def test_curved_data_keeps_training_when_held_out_rows_confirm_it():
    from sklearn.datasets import make_s_curve

    X = make_s_curve(1500, noise=0.05, random_state=0)[0]
    vae = VAETransformer(n_components=2, random_state=0).fit(X[:1200])
    pca = PCA(n_components=2).fit(X[:1200])
    assert vae.best_epoch_ > 0
    assert len(vae.validation_scores_) == vae.n_iter_
    assert vae.score(X[1200:]) > pca.score(X[1200:])


def test_round_trip_gain_makes_transform_invert_inverse_transform():
    X = _low_rank()
    vae = VAETransformer(n_components=3, hidden_layer_sizes=(), early_stopping=False,
                         max_iter=3, random_state=0).fit(X)
    Z = vae.transform(X)
    again = vae.transform(vae.inverse_transform(Z))
    # The gain is a least-squares fit on the training codes: per component the round
    # trip's slope is one, and what remains is scatter, small against the codes' spread
    # (0.6). The largest single entry depends on the training run (0.02-0.05 measured
    # over schedules and epochs), so the test reads the fit, not the worst entry.
    assert_allclose((again * Z).sum(axis=0) / (Z * Z).sum(axis=0), 1.0, atol=1e-4)
    assert np.sqrt(np.mean((again - Z) ** 2)) < 0.02


def test_small_steps_train_on_one_thread_and_restore_the_setting(monkeypatch):
    seen = []

    class Threads(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        VAETransformer(max_iter=2, hidden_layer_sizes=(16,), callbacks=[Threads()],
                       random_state=0).fit(_low_rank())
        assert seen == [1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_tiny_tables_hold_out_at_least_ten_rows_and_two_train_on_every_row():
    X = _low_rank(n_rows=24)
    vae = VAETransformer(max_iter=3, hidden_layer_sizes=(8,), random_state=0).fit(X)
    assert vae.net_.train_split.n_valid == 10
    vae = VAETransformer(max_iter=3, hidden_layer_sizes=(8,), random_state=0).fit(X[:2])
    assert vae.validation_scores_ is None and vae.validation_loss_curve_ is None
    assert vae.best_epoch_ == vae.n_iter_


def test_a_kept_start_reconstructs_as_pca_on_near_isotropic_data():
    # The second eigenvalue within 10 % of the noise variance: the round trip shrinks that
    # component by a factor of about ten, and the gain must undo it exactly (no clip).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 6)) * np.sqrt([3.0, 1.08, 1.0, 1.0, 1.0, 1.0])
    pca = PCA(n_components=2).fit(X)
    assert pca.explained_variance_[1] < 1.1 * pca.noise_variance_
    vae = VAETransformer(n_components=2, hidden_layer_sizes=(16,), max_iter=20,
                         random_state=0).fit(X)
    assert vae.best_epoch_ == 0  # Gaussian data: nothing to gain on PPCA
    pca_error = np.mean((X - pca.inverse_transform(pca.transform(X))) ** 2)
    vae_error = np.mean((X - vae.inverse_transform(vae.transform(X))) ** 2)
    assert vae_error == pytest.approx(pca_error, rel=1e-4)
    assert vae.model_.diagnostics.code_gain[1] > 10  # what a gain clipped at 10 could not reach


@pytest.mark.parametrize("n_draws", [2, 16, 64])
def test_importance_weighted_bound_is_pcas_log_likelihood_at_the_start(n_draws):
    from skvae._apply.inference import Inference

    X = _low_rank()
    vae = VAETransformer(n_components=3, max_iter=1, random_state=0).fit(X)
    start = deepcopy(vae.net_.module_)
    # At PPCA's solution the posterior is exact, which makes every draw's weight p(x).
    start.start_from_ppca(ppca_solution(spectrum(X, X.mean(axis=0)), 3))
    bound = Inference(start, "cpu").log_likelihood_bound(X, n_draws)
    assert_allclose(bound, PCA(n_components=3).fit(X).score_samples(X), atol=2e-3)


def test_importance_weighted_bound_lies_between_the_elbo_and_grows_with_draws():
    from sklearn.datasets import make_s_curve

    from skvae._apply.inference import Inference

    X = make_s_curve(600, noise=0.05, random_state=0)[0]
    vae = VAETransformer(n_components=2, max_iter=60, early_stopping=False,
                         random_state=0).fit(X)
    inference = Inference(vae.net_.module_, "cpu")
    elbo_rows = vae.score_samples(X)
    few, many = (inference.log_likelihood_bound(X, k) for k in (4, 64))
    assert few.mean() > elbo_rows.mean()
    assert many.mean() > few.mean()
