"""Faults during training: Ctrl-C, resuming from checkpoints, diverging candidates."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback, Checkpoint, LoadInitState

from skvae import VAETransformer

from .conftest import FAST


class CtrlC(Callback):
    """Raises KeyboardInterrupt, as Ctrl-C would, in the middle of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            raise KeyboardInterrupt


def _interrupted(epoch, **params):
    return VAETransformer(random_state=0, callbacks=[CtrlC(epoch)], **{**FAST, **params})


def test_interrupt_keeps_the_finished_epochs(X):
    vae = _interrupted(3)
    with pytest.warns(UserWarning, match="interrupted after 2 complete epoch"):
        vae.fit(X)
    assert vae.n_iter_ == 2 == len(vae.loss_curve_) == len(vae.net_.history)
    assert all("train_loss" in epoch for epoch in vae.net_.history)
    Z = vae.transform(X)
    assert Z.shape == (len(X), 2) and np.all(np.isfinite(Z))
    assert np.all(np.isfinite(vae.score_samples(X)))
    # partial_fit carries on from there (without the interrupting callback).
    vae.set_params(callbacks=None).partial_fit(X)
    assert vae.n_iter_ == 3


def test_interrupt_in_the_first_epoch_propagates(X):
    vae = _interrupted(1)
    with pytest.raises(KeyboardInterrupt):
        vae.fit(X)
    with pytest.raises(NotFittedError):
        vae.transform(X)


def test_interrupted_partial_fit_keeps_the_previous_model(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    vae.set_params(callbacks=[CtrlC(FAST["max_iter"] + 1)])
    with pytest.raises(KeyboardInterrupt):
        vae.partial_fit(X)
    assert vae.n_iter_ == FAST["max_iter"] == len(vae.net_.history)
    assert np.all(np.isfinite(vae.transform(X)))


def test_early_stopping_is_not_mistaken_for_an_interrupt(X, no_warmup):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vae = VAETransformer(random_state=0, n_iter_no_change=1, tol=1e9,
                             **{**FAST, "max_iter": 20}).fit(X)
    assert vae.n_iter_ == 2


def _checkpoint(directory):
    return Checkpoint(monitor=None, dirname=str(directory), f_params="params.pt",
                      f_optimizer="optimizer.pt", f_criterion="criterion.pt",
                      f_history="history.json")


def test_checkpoint_and_resume_after_an_interrupt(X, tmp_path, no_warmup):
    params = {**FAST, "max_iter": 8}
    first = VAETransformer(random_state=0, callbacks=[_checkpoint(tmp_path), CtrlC(4)],
                           **params)
    with pytest.warns(UserWarning, match="interrupted after 3"):
        first.fit(X)
    checkpoint = _checkpoint(tmp_path)
    resumed = VAETransformer(random_state=0, callbacks=[checkpoint, LoadInitState(checkpoint)],
                             **params).fit(X)
    # The resumed fit restored 3 epochs of history and trained the remaining 5.
    assert resumed.n_iter_ == 8
    assert resumed.loss_curve_[:3] == first.loss_curve_
    # It started from the checkpoint's weights: its first new epoch is no worse than
    # where the interrupted run stopped, far below a fresh start.
    fresh = VAETransformer(random_state=0, **{**FAST, "max_iter": 1}).fit(X)
    assert resumed.loss_curve_[3] < fresh.loss_curve_[0]
    assert np.all(np.isfinite(resumed.transform(X)))


def test_resume_of_a_finished_run_trains_no_further(X, tmp_path):
    checkpoint = _checkpoint(tmp_path)
    done = VAETransformer(random_state=0, callbacks=[checkpoint], **FAST).fit(X)
    checkpoint = _checkpoint(tmp_path)
    again = VAETransformer(random_state=0, callbacks=[checkpoint, LoadInitState(checkpoint)],
                           **FAST).fit(X)
    assert again.n_iter_ == done.n_iter_
    assert_array_equal(again.transform(X), done.transform(X))


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_diverging_candidate_scores_nan_and_the_search_goes_on(X):
    search = GridSearchCV(
        VAETransformer(random_state=0, **{**FAST, "max_iter": 30, "batch_size": 16}),
        {"learning_rate_init": [1e-3, 1e12]}, cv=2,
    )
    with pytest.warns(FitFailedWarning, match="Training diverged"):
        search.fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    assert search.best_params_ == {"learning_rate_init": 1e-3}


def test_interrupted_partial_fit_puts_the_weights_back(X):
    vae = VAETransformer(random_state=0, **FAST).fit(X)
    before = (vae.transform(X), vae.score_samples(X))
    vae.set_params(callbacks=[CtrlC(FAST["max_iter"] + 1)])
    with pytest.raises(KeyboardInterrupt):
        vae.partial_fit(X)
    assert_array_equal(vae.transform(X), before[0])
    assert_array_equal(vae.score_samples(X), before[1])


def test_interrupt_in_the_first_resumed_epoch_propagates(X, tmp_path):
    params = {**FAST, "max_iter": 6}
    checkpoint = _checkpoint(tmp_path)
    with pytest.warns(UserWarning, match="interrupted after 2"):
        VAETransformer(random_state=0, callbacks=[checkpoint, CtrlC(3)], **params).fit(X)
    checkpoint = _checkpoint(tmp_path)
    resumed = VAETransformer(random_state=0, **params,
                             callbacks=[checkpoint, LoadInitState(checkpoint), CtrlC(3)])
    with pytest.raises(KeyboardInterrupt):
        resumed.fit(X)
    with pytest.raises(NotFittedError):
        resumed.transform(X)


def test_user_callbacks_see_the_epoch_where_early_stopping_fires(X, no_warmup):
    class Count(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    vae = VAETransformer(random_state=0, n_iter_no_change=1, tol=1e9, callbacks=[("n", Count())],
                         **{**FAST, "max_iter": 20}).fit(X)
    assert vae.n_iter_ == 2
    assert dict(vae.net_.callbacks_)["n"].epochs == 2
