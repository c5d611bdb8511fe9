"""The default training budget, the step-size schedule, and fits on memory-mapped files."""

import contextlib
import io
import math
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from skorch.callbacks import Callback

from skvae import VAETransformer
from skvae._data import streaming as _streaming
from skvae._fit import training as _training
from skvae._model.spec import NetSpec, TrainingSettings

from .conftest import FAST


class StepSizes(Callback):
    """Records Adam's step size at every training step."""

    def on_train_begin(self, net, **kwargs):
        self.seen = []

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.seen.append(net.optimizer_.param_groups[0]["lr"])


def _recorded(vae, name="StepSizes"):
    return dict(vae.net_.callbacks_)[name].seen


def _budget(n_rows):
    """The default estimator's budget for a fit on ``n_rows`` rows with held-out rows."""
    spec = NetSpec(n_rows=n_rows, n_features=2, n_latent=1, n_components=1,
                   hidden_layer_sizes=(), likelihood="gaussian", prior="normal",
                   feature_mean=np.zeros(2), feature_scale=np.ones(2), seed=0,
                   holds_out_rows=True)
    return _training.training_budget(spec, _defaults())


def _defaults():
    return TrainingSettings.from_params(VAETransformer().get_params(), select_active=False)


@pytest.mark.parametrize("n_rows", [10_000, 100_000, 1_000_000, 10_000_000])
def test_default_budget_stops_growing_with_the_rows(n_rows):
    rounds, round_steps, total = _budget(n_rows)
    assert total <= _training._AUTO_MAX_STEPS
    if round_steps is not None:
        assert rounds * round_steps == total
    bigger = _budget(10 * n_rows)[2]
    assert total <= bigger
    if n_rows >= 2_000_000:
        assert bigger == total == _training._AUTO_MAX_STEPS


def test_small_tables_get_up_to_200_epochs():
    rounds, round_steps, total = _budget(442)
    assert (rounds, round_steps) == (200, None)
    assert total == 200 * math.ceil((442 - _training.held_out_rows(_defaults(), 442)) / 256)


def test_an_int_max_iter_is_epochs(X):
    vae = VAETransformer(random_state=0, **{**FAST, "max_iter": 3}).fit(X)
    assert vae.n_iter_ == 3
    assert vae.n_steps_ == 3 * math.ceil(len(X) / FAST["batch_size"])


def test_long_epochs_are_cut_into_rounds(X, monkeypatch):
    monkeypatch.setattr(_training, "_ROUND_STEPS", 2)
    monkeypatch.setattr(_training, "_AUTO_BASE_STEPS", 6)
    params = {**FAST, "max_iter": "auto", "early_stopping": True, "n_iter_no_change": 100}
    vae = VAETransformer(random_state=0, **params).fit(X)
    # 120 rows, 15 held out, in batches of 32: 4 steps an epoch, 6 steps in rounds of 2.
    assert vae.n_steps_ == 6
    assert vae.n_iter_ == 3 == len(vae.validation_scores_)
    assert all(len([b for b in epoch["batches"] if "train_loss" in b]) == 2
               for epoch in vae.net_.history)


def test_cosine_schedule_lowers_the_step_size_to_near_zero(X):
    vae = VAETransformer(random_state=0, callbacks=[StepSizes()], **FAST).fit(X)
    seen = _recorded(vae)
    assert len(seen) == vae.n_steps_
    assert seen[0] == pytest.approx(vae.learning_rate_init)
    assert all(later < earlier for earlier, later in zip(seen, seen[1:]))
    assert seen[-1] < 0.01 * vae.learning_rate_init


def test_constant_schedule_keeps_the_step_size(X):
    vae = VAETransformer(random_state=0, learning_rate="constant", callbacks=[StepSizes()],
                         **FAST).fit(X)
    assert set(_recorded(vae)) == {vae.learning_rate_init}


def test_partial_fit_after_a_scheduled_fit_trains_at_the_initial_rate(X):
    vae = VAETransformer(random_state=0, callbacks=[StepSizes()], **FAST).fit(X)
    vae.partial_fit(X)
    assert set(_recorded(vae)) == {vae.learning_rate_init}


def test_verbose_states_the_budget_and_the_steps_taken(X, monkeypatch):
    monkeypatch.setattr(_training, "_ROUND_STEPS", 2)
    monkeypatch.setattr(_training, "_AUTO_BASE_STEPS", 6)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        VAETransformer(random_state=0, verbose=1,
                       **{**FAST, "max_iter": "auto", "early_stopping": True}).fit(X)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Training for at most 6 steps of 32 rows (3 rounds of 2 steps")
    assert "steps" in lines[1] and "elapsed" in lines[1]
    assert "6/6" in out.getvalue()


# ----------------------------------------------------------------- memory-mapped files


def _write_memmap(path, data, mode="r"):
    stored = np.memmap(path, dtype=np.float32, mode="w+", shape=data.shape)
    stored[:] = data
    stored.flush()
    del stored
    return np.memmap(path, dtype=np.float32, mode=mode, shape=data.shape)


def test_a_memmap_fits_like_the_same_rows_in_memory(tmp_path, X):
    rows = _write_memmap(tmp_path / "rows.f32", X)
    params = {"random_state": 0, **FAST, "early_stopping": True}
    from_file = VAETransformer(**params).fit(rows)
    in_memory = VAETransformer(**params).fit(np.array(rows))
    assert_array_equal(from_file.transform(rows), in_memory.transform(np.array(rows)))


def test_a_large_memmap_trains_on_a_sample_of_its_rows(tmp_path, X, monkeypatch):
    rows = _write_memmap(tmp_path / "rows.f32", X)
    monkeypatch.setattr(_streaming, "SAMPLE_BYTES", 50 * X.shape[1] * 4)
    vae = VAETransformer(random_state=0, **FAST).fit(rows)
    assert vae.n_samples_seen_ == len(X)
    assert vae.n_steps_ == FAST["max_iter"] * math.ceil(50 / FAST["batch_size"])
    # The statistics and the PCA start saw every row: the mean is that of all rows.
    assert np.allclose(vae.net_.module_.feature_mean.numpy(), X.mean(axis=0), atol=1e-5)


def test_infinity_in_a_memmap_is_named_and_nan_is_missing(tmp_path, X):
    X = X.copy()
    X[7, 2] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        VAETransformer(**FAST).fit(_write_memmap(tmp_path / "rows.f32", X))
    X[7, 2] = np.nan
    vae = VAETransformer(**FAST).fit(_write_memmap(tmp_path / "holes.f32", X))
    assert vae.model_.spec.reads_mask


def test_a_copy_on_write_memmap_keeps_its_changes(tmp_path, X):
    rows = _write_memmap(tmp_path / "rows.f32", X, mode="c")
    rows[3] = 5.0  # in this process only, not in the file
    VAETransformer(random_state=0, **FAST).fit(rows)
    assert_array_equal(rows[3], np.full(X.shape[1], 5.0, dtype=np.float32))


def _resident_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_a_memmap_in_chunks_hands_its_pages_back(tmp_path):
    n_rows, n_features = 250_000, 64  # 64 MB
    path = tmp_path / "rows.f32"
    with open(path, "wb") as f:
        for _ in range(5):
            f.write(np.ones((n_rows // 5, n_features), dtype=np.float32).tobytes())
    rows = np.memmap(path, dtype=np.float32, mode="r", shape=(n_rows, n_features))
    before = _resident_kib()
    total = sum(float(chunk.sum()) for _, chunk in _streaming.row_chunks(rows, 10_000))
    grown_mb = (_resident_kib() - before) / 1024
    assert total == n_rows * n_features
    assert grown_mb < 16, f"resident memory grew by {grown_mb:.0f} MB reading 64 MB"
