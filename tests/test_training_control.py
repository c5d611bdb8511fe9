"""What users see while training runs: verbose output, progress bars and their callbacks."""

import contextlib
import io
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback, Checkpoint, LRScheduler

from skvae import VAETransformer

from .conftest import FAST


class EpochCounter(Callback):
    """Counts the epochs it sees: state that fit must not write into the user's object."""

    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


def _fit_capturing_output(estimator, X):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        estimator.fit(X)
    return out.getvalue(), err.getvalue()


def test_verbose_prints_one_readable_line_per_epoch(X):
    out, err = _fit_capturing_output(VAETransformer(verbose=1, random_state=0, **FAST), X)
    budget, header, _, *rows = out.strip().splitlines()
    # 120 rows in batches of 32: 4 steps an epoch.
    assert budget.startswith(f"Training for at most {4 * FAST['max_iter']} steps of 32 rows "
                             f"({FAST['max_iter']} epochs)")
    for column in ("epoch", "steps", "elapsed", "train_loss", "train_reconstruction",
                   "train_kl", "dur"):
        assert column in header
    assert len(rows) == FAST["max_iter"]
    # 120 rows in batches of 32 are 4 batches per epoch: too short for a progress bar.
    assert err == ""


def test_verbose_shows_the_validation_loss_with_early_stopping(X):
    out, _ = _fit_capturing_output(
        VAETransformer(verbose=1, random_state=0, **{**FAST, "early_stopping": True}), X
    )
    assert "held-out ELBO" in out.splitlines()[0]
    for column in ("valid_loss", "valid_reconstruction", "valid_elbo"):
        assert column in out.splitlines()[1]


def test_silent_without_verbose(X):
    out, err = _fit_capturing_output(VAETransformer(random_state=0, **FAST), X)
    assert out == "" and err == ""


@pytest.mark.parametrize(("verbose", "batch_size", "has_bar"), [
    (1, 4, True),     # 30 batches per epoch: long enough for a bar
    (1, 32, False),   # 4 batches per epoch: the table alone
    (2, 32, True),    # verbose=2 always shows the bar
])
def test_progress_bar_on_long_epochs(X, verbose, batch_size, has_bar):
    vae = VAETransformer(verbose=verbose, random_state=0,
                         **{**FAST, "batch_size": batch_size, "max_iter": 2})
    _, err = _fit_capturing_output(vae, X)
    # tqdm draws "done/total" counts on stderr.
    n_batches = -(-len(X) // batch_size)
    assert (f"/{n_batches}" in err) == has_bar
    assert ("progress_bar" in dict(vae.net_.callbacks_)) == has_bar


def test_lr_scheduler_callback_changes_the_learning_rate(X):
    schedule = LRScheduler("StepLR", step_size=1, gamma=0.5)
    vae = VAETransformer(random_state=0, callbacks=[schedule], **FAST).fit(X)
    lr = vae.net_.optimizer_.param_groups[0]["lr"]
    assert lr == pytest.approx(vae.learning_rate_init * 0.5 ** FAST["max_iter"])


def test_custom_callback_runs_on_a_copy(X):
    counter = EpochCounter()
    vae = VAETransformer(random_state=0, callbacks=[("count", counter)], **FAST).fit(X)
    assert dict(vae.net_.callbacks_)["count"].epochs == vae.n_iter_ == FAST["max_iter"]
    # fit must not change its parameters: the user's object is untouched.
    assert counter.epochs == 0
    assert vae.callbacks[0][1] is counter


def test_checkpoint_callback_saves_weights_that_load_back(X, tmp_path):
    # monitor=None saves after every epoch, so the file holds the final weights.
    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path), f_optimizer=None,
                            f_criterion=None, f_history="history.json")
    vae = VAETransformer(random_state=0, callbacks=[checkpoint], **FAST).fit(X)
    assert (tmp_path / "history.json").exists()
    other = VAETransformer(random_state=1, **FAST).fit(X)
    assert not np.array_equal(other.transform(X), vae.transform(X))
    other.net_.load_params(f_params=str(tmp_path / "params.pt"))
    np.testing.assert_array_equal(other.transform(X), vae.transform(X))


def test_callbacks_survive_clone_grid_search_and_pickle(X):
    vae = VAETransformer(random_state=0, callbacks=[LRScheduler("StepLR", step_size=2)],
                         **FAST)
    copy = clone(vae)
    assert copy.callbacks[0] is not vae.callbacks[0]
    search = GridSearchCV(vae, {"beta": [0.5, 1.0]}, cv=2).fit(X)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(restored.transform(X), search.best_estimator_.transform(X))


def test_same_callbacks_give_the_same_model(X):
    def fit():
        schedule = LRScheduler("StepLR", step_size=2, gamma=0.5)
        return VAETransformer(random_state=0, callbacks=[schedule], **FAST).fit(X)

    np.testing.assert_array_equal(fit().transform(X), fit().transform(X))


@pytest.mark.parametrize("callbacks", [[object()], ["early"], [("name", 3)]])
def test_bad_callbacks_are_named_in_the_error(X, callbacks):
    with pytest.raises(ValueError, match="callbacks must be a list of skorch callbacks"):
        VAETransformer(callbacks=callbacks, **FAST).fit(X)


def test_callbacks_must_be_a_list(X):
    with pytest.raises(ValueError, match="'callbacks' parameter"):
        VAETransformer(callbacks=LRScheduler(), **FAST).fit(X)
