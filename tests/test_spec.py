"""The network's spec and the training settings: typed, immutable, saved as plain values."""

import dataclasses

import numpy as np
import pytest

from skvae import VAETransformer
from skvae._model.spec import NetSpec

from .conftest import FAST


def _spec(**changes):
    values = dict(n_rows=10, n_features=2, n_latent=1, n_components="auto",
                  hidden_layer_sizes=[4], likelihood="gaussian", prior="spike_slab",
                  prior_settings={"nonzero_fraction": 0.3}, feature_mean=[0.0, 1.0],
                  feature_scale=[1.0, 2.0], seed=0, holds_out_rows=True)
    values.update(changes)
    return NetSpec(**values)


def test_a_spec_cannot_be_changed_in_place():
    spec = _spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.holds_out_rows = False
    with pytest.raises(ValueError, match="read-only"):
        spec.feature_mean[0] = 5.0
    assert spec.hidden_layer_sizes == (4,)
    assert dataclasses.replace(spec, holds_out_rows=False).holds_out_rows is False
    assert spec.holds_out_rows is True


def test_a_spec_round_trips_through_plain_values():
    spec = _spec()
    values = spec.as_dict()
    assert isinstance(values["hidden_layer_sizes"], list)
    again = NetSpec.from_dict(values)
    assert again.architecture() == spec.architecture()
    assert np.array_equal(again.feature_scale, spec.feature_scale)


def test_specs_saved_before_the_fitted_model_object_are_read():
    # Then the held-out flag was named use_split.
    saved = {"n_rows": 10, "n_features": 2, "n_latent": 3, "n_components": 3,
             "hidden_layer_sizes": [8], "likelihood": "gaussian", "prior": "normal",
             "feature_mean": np.zeros(2), "feature_scale": np.ones(2), "seed": 1,
             "use_split": True}
    spec = NetSpec.from_dict(saved)
    assert spec.holds_out_rows and NetSpec.from_dict(spec.as_dict()).holds_out_rows


def test_partial_fit_records_that_it_holds_out_no_rows(X):
    vae = VAETransformer(random_state=0, **{**FAST, "early_stopping": True}).fit(X)
    fitted_spec = vae.model_.spec
    assert fitted_spec.holds_out_rows
    vae.partial_fit(X)
    assert not vae.model_.spec.holds_out_rows
    assert fitted_spec.holds_out_rows  # the fitted spec itself was never changed
