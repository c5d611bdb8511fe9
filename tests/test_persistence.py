"""Pickle and joblib round trips give bit-identical outputs, here and in a fresh process."""

import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skvae import VAETransformer

from .conftest import FAST


@pytest.fixture
def fitted(X):
    return VAETransformer(random_state=0, early_stopping=True, **FAST).fit(X)


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
