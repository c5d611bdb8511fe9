"""Saving and loading: pickle, joblib and skops round trips, versions, device moves."""

import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch import NeuralNet
from skorch.callbacks import Checkpoint
from skorch.exceptions import DeviceWarning

import skvae
from skvae import VAETransformer, VersionMismatchWarning
from skvae._io.persistence import available_device

from .conftest import FAST


@pytest.fixture
def fitted(X):
    return VAETransformer(random_state=0, **{**FAST, "early_stopping": True}).fit(X)


def _outputs(vae, X):
    return (vae.transform(X), vae.score_samples(X), vae.sample(4, random_state=0))


def test_pickle_round_trip(fitted, X):
    restored = pickle.loads(pickle.dumps(fitted))
    for before, after in zip(_outputs(fitted, X), _outputs(restored, X)):
        assert_array_equal(before, after)
    assert restored.loss_curve_ == fitted.loss_curve_


def test_joblib_round_trip(fitted, X, tmp_path):
    path = tmp_path / "vae.joblib"
    joblib.dump(fitted, path)
    restored = joblib.load(path)
    for before, after in zip(_outputs(fitted, X), _outputs(restored, X)):
        assert_array_equal(before, after)


def test_restored_model_keeps_training(fitted, X):
    restored = pickle.loads(pickle.dumps(fitted))
    restored.partial_fit(X)
    fitted.partial_fit(X)
    assert_array_equal(restored.transform(X), fitted.transform(X))


@pytest.mark.parametrize("store", ["pickle", "joblib"])
def test_round_trip_in_a_fresh_process(fitted, X, tmp_path, store):
    model_path, data_path = tmp_path / "vae.bin", tmp_path / "X.npy"
    np.save(data_path, X)
    if store == "pickle":
        model_path.write_bytes(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, model_path)
    script = textwrap.dedent(f"""
        import pickle, sys, joblib, numpy as np, torch
        torch.set_num_threads(1)
        X = np.load({str(data_path)!r})
        if {store!r} == "pickle":
            vae = pickle.loads(open({str(model_path)!r}, "rb").read())
        else:
            vae = joblib.load({str(model_path)!r})
        np.save({str(tmp_path / "Z.npy")!r}, vae.transform(X))
        np.save({str(tmp_path / "S.npy")!r}, vae.score_samples(X))
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert_array_equal(np.load(tmp_path / "Z.npy"), fitted.transform(X))
    assert_array_equal(np.load(tmp_path / "S.npy"), fitted.score_samples(X))


# ------------------------------------------------------------- safe persistence


def test_saved_state_holds_only_plain_values(fitted):
    state = fitted.__getstate__()
    assert state["_versions"] == {"skvae": skvae.__version__, "torch": torch.__version__}

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, str | bool | int | float | np.ndarray)

    for name, value in state.items():
        assert plain(value), name
    # Saving does not touch the model itself.
    assert isinstance(fitted.net_, NeuralNet)


def test_skops_reports_only_skvae_as_untrusted_and_round_trips(fitted, X):
    sio = pytest.importorskip("skops.io")
    data = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted == ["skvae._transformer.VAETransformer"]
    restored = sio.loads(data, trusted=untrusted)
    for before, after in zip(_outputs(fitted, X), _outputs(restored, X)):
        assert_array_equal(before, after)
    # Optimizer state and history came along: training continues identically.
    restored.partial_fit(X)
    fitted.partial_fit(X)
    assert_array_equal(restored.transform(X), fitted.transform(X))
    assert restored.n_iter_ == fitted.n_iter_


def test_loading_under_other_versions_warns(fitted, X):
    state = fitted.__getstate__()
    state["_versions"] = {"skvae": "0.0.1", "torch": "1.0.0"}
    restored = VAETransformer.__new__(VAETransformer)
    with pytest.warns(VersionMismatchWarning, match="saved with skvae 0.0.1 and torch 1.0.0"):
        restored.__setstate__(state)
    assert_array_equal(restored.transform(X), fitted.transform(X))


def test_same_versions_load_silently(fitted):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(fitted))


def test_torch_load_reads_tensors_only(fitted):
    assert fitted.net_.torch_load_kwargs == {"weights_only": True}
    # Every torch.load in the package must refuse pickled objects.
    package = Path(skvae.__file__).parent
    for path in package.rglob("*.py"):
        for line in path.read_text().splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path.name}: {line.strip()}"


# ----------------------------------------------------------------- device moves


def test_gpu_model_loads_on_a_machine_without_one(fitted, X, monkeypatch):
    # A model that says it was trained on CUDA, loaded where CUDA is missing.
    state = fitted.__getstate__()
    state["device"] = "cuda"
    data = pickle.dumps(state)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = VAETransformer.__new__(VAETransformer)
    with pytest.warns(DeviceWarning, match="trained on cuda, which this machine does not"):
        restored.__setstate__(pickle.loads(data))
    assert restored.net_.device == torch.device("cpu")
    assert restored.device == "cuda"
    for before, after in zip(_outputs(fitted, X), _outputs(restored, X)):
        assert_array_equal(before, after)
    # Moving it explicitly makes the CPU its device for later fits too.
    restored.to("cpu").partial_fit(X)
    assert restored.device == "cpu"


def test_to_moves_a_fitted_model_and_keeps_its_outputs(fitted, X):
    outputs = _outputs(fitted, X)
    assert fitted.to("cpu") is fitted
    for before, after in zip(outputs, _outputs(fitted, X)):
        assert_array_equal(before, after)


def test_to_an_unavailable_device_is_explained(fitted, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        fitted.to("cuda")
    assert torch.device(fitted.net_.device) == torch.device("cpu")
    assert fitted.device == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_round_trip_and_move(X, monkeypatch):
    vae = VAETransformer(device="cuda", random_state=0, **FAST).fit(X)
    data = pickle.dumps(vae)
    with monkeypatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.warns(DeviceWarning):
            on_cpu = pickle.loads(data)
    np.testing.assert_allclose(on_cpu.transform(X), vae.transform(X), rtol=1e-4, atol=1e-5)
    back = on_cpu.to("cuda")
    assert next(back.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(back.transform(X), vae.transform(X), rtol=1e-5, atol=1e-6)


def test_loaded_model_keeps_the_architecture_it_was_trained_with(fitted, X):
    outputs = _outputs(fitted, X)
    fitted.set_params(prior="laplace", likelihood="bernoulli", early_stopping=False)
    restored = pickle.loads(pickle.dumps(fitted))
    assert type(restored.net_.module_.prior).__name__ == "StandardNormalPrior"
    for before, after in zip(outputs, _outputs(restored, X)):
        assert_array_equal(before, after)
    moved = fitted.to("cpu")
    for before, after in zip(outputs, _outputs(moved, X)):
        assert_array_equal(before, after)


def test_loading_runs_no_callback_code(X, tmp_path):
    directory = tmp_path / "checkpoints"
    vae = VAETransformer(random_state=0, **FAST,
                         callbacks=[Checkpoint(monitor=None, dirname=str(directory))]).fit(X)
    shutil.rmtree(directory)
    restored = pickle.loads(pickle.dumps(vae))
    assert not directory.exists()
    assert_array_equal(restored.transform(X), vae.transform(X))
    # The next partial_fit installs the callbacks, and they work.
    restored.partial_fit(X)
    assert (directory / "params.pt").exists()


def test_skops_stores_a_torch_device_parameter_as_text(X):
    sio = pytest.importorskip("skops.io")
    vae = VAETransformer(device=torch.device("cpu"), random_state=0, **FAST).fit(X)
    data = sio.dumps(vae)
    assert sio.get_untrusted_types(data=data) == ["skvae._transformer.VAETransformer"]
    assert sio.loads(data, trusted=["skvae._transformer.VAETransformer"]).device == "cpu"


@pytest.mark.parametrize("device", ["meta", "cuda:7"])
def test_failed_move_leaves_the_model_as_it_was(fitted, X, device):
    before = _outputs(fitted, X)
    with pytest.raises(ValueError, match="device="):
        fitted.to(device)
    assert fitted.device == "cpu"
    for expected, actual in zip(before, _outputs(fitted, X)):
        assert_array_equal(expected, actual)


def test_missing_gpu_index_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.warns(DeviceWarning, match="trained on cuda:1"):
        assert available_device(torch.device("cuda:1")) == torch.device("cpu")


def test_models_saved_in_state_format_3_load_and_train_on_the_same_way():
    # Written by tests/data/make_state_format_3_fixture.py at commit 6147fa5, before the
    # fitted-model object, when the fitted pieces were the estimator's attributes.
    data = Path(__file__).parent / "data"
    model = pickle.loads((data / "state_format_3_model.pkl").read_bytes())
    expected = np.load(data / "state_format_3_outputs.npz")
    X = expected["X"]
    # The fixture was written on another machine: bitwise equality is promised on the
    # same machine only (its matrix kernels may round differently), so float32 rounding.
    assert_allclose(model.transform(X), expected["transform"], rtol=1e-6, atol=1e-6)
    # score_samples now reads the posterior through the same folded encoder as transform.
    np.testing.assert_allclose(model.score_samples(X), expected["score_samples"],
                               rtol=1e-5, atol=1e-5)
    assert_allclose(model.sample(3, random_state=0), expected["sample"], rtol=1e-6, atol=1e-6)
    # The optimizer's moments follow their parameters: training continues identically.
    model.partial_fit(X)
    assert_allclose(model.transform(X), expected["transform_after_partial_fit"], rtol=1e-5,
                    atol=1e-5)
