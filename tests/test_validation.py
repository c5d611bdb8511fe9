"""Data checks and seeding helpers."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skvae._data.statistics import feature_statistics
from skvae._data.validation import seed_from_random_state


def test_feature_statistics_match_numpy_in_chunks(rng):
    X = rng.normal(loc=3.0, scale=2.0, size=(70000, 3)).astype(np.float32)
    mean, std = feature_statistics(X)
    assert_allclose(mean, X.astype(np.float64).mean(axis=0), rtol=1e-9)
    assert_allclose(std, X.astype(np.float64).std(axis=0), rtol=1e-6)


def test_constant_features_get_unit_scale():
    X = np.column_stack([np.full(10, 7.0), np.arange(10.0)])
    _, std = feature_statistics(X)
    assert std[0] == 1.0 and std[1] > 0


def test_overflow_is_reported():
    with pytest.raises(ValueError, match="too large to standardise"):
        feature_statistics(np.array([[1e300], [-1e300]]))


def test_seeds_leave_global_numpy_state_alone():
    state = np.random.get_state()[1].copy()
    assert seed_from_random_state(5) == 5
    seed_from_random_state(None)
    assert np.array_equal(state, np.random.get_state()[1])
    rs = np.random.RandomState(0)
    assert seed_from_random_state(rs) != seed_from_random_state(rs)  # advances the instance
