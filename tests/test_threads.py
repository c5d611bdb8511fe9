"""One fitted model serves many threads at once with exactly the sequential results.

Inference runs in fixed 2048-row batches through buffers built per call, so concurrent
calls must neither share scratch memory nor change each other's results: every result
is compared bit for bit with the same call made alone.
"""

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skvae import VAETransformer

from .conftest import FAST

N_FEATURES = 6
N_THREADS = 8
# Around the 2048-row inference batch: padded, exact, one row over, several batches.
ROW_COUNTS = (1, 7, 300, 2047, 2048, 2049, 4500)


@pytest.fixture(scope="module")
def model():
    X = np.random.RandomState(0).normal(size=(300, N_FEATURES))
    return VAETransformer(n_components=3, random_state=0, **FAST).fit(X)


@pytest.fixture(scope="module")
def rows():
    """Different inputs: every row count in float64 and float32, and strided views."""
    rng = np.random.RandomState(1)
    inputs = []
    for n in ROW_COUNTS:
        X = rng.normal(scale=rng.choice([0.5, 1.0, 3.0]), size=(n, N_FEATURES))
        inputs += [X, X.astype(np.float32), np.asfortranarray(X)]
    wide = rng.normal(size=(2500, 2 * N_FEATURES))
    inputs.append(wide[:, ::2])
    return inputs


@pytest.fixture(scope="module")
def codes(model, rows):
    rng = np.random.RandomState(2)
    return [model.transform(X) for X in rows] + [
        rng.normal(scale=3.0, size=(n, model.n_components_)) for n in ROW_COUNTS
    ]


def run_concurrently(calls, repeats=3):
    """Results of ``calls`` (zero-argument functions), each run ``repeats`` times in a
    shuffled order across ``N_THREADS`` threads; returns the results per call."""
    jobs = [i for i in range(len(calls)) for _ in range(repeats)]
    random.Random(0).shuffle(jobs)
    with ThreadPoolExecutor(N_THREADS) as pool:
        futures = [(i, pool.submit(calls[i])) for i in jobs]
        results = [[] for _ in calls]
        for i, future in futures:
            results[i].append(future.result())
    return results


def assert_same_as_sequential(calls):
    expected = [call() for call in calls]  # one at a time, before any thread starts
    for want, got in zip(expected, run_concurrently(calls)):
        for result in got:
            if isinstance(want, bytes):
                assert result == want
            else:
                assert_array_equal(result, want, strict=True)


def _bind(method, X):
    return lambda: method(X)


@pytest.mark.parametrize("method", ["transform", "score_samples"])
def test_concurrent_calls_match_sequential_calls(model, rows, method):
    assert_same_as_sequential([_bind(getattr(model, method), X) for X in rows])


def test_concurrent_inverse_transform_matches_sequential(model, codes):
    assert_same_as_sequential([_bind(model.inverse_transform, Z) for Z in codes])


def test_all_methods_interleaved(model, rows, codes):
    calls = [_bind(model.transform, X) for X in rows]
    calls += [_bind(model.score_samples, X) for X in rows]
    calls += [_bind(model.inverse_transform, Z) for Z in codes]
    calls += [lambda: model.sample(2100, random_state=5), lambda: model.sample(3, random_state=6)]
    calls += [_bind(model.compress, X) for X in rows[:6]]
    assert_same_as_sequential(calls)


def test_concurrent_calls_leave_the_inputs_unchanged(model, rows, codes):
    before = [X.copy() for X in rows], [Z.copy() for Z in codes]
    calls = [_bind(model.transform, X) for X in rows]
    calls += [_bind(model.inverse_transform, Z) for Z in codes]
    run_concurrently(calls, repeats=1)
    for X, copy in zip(rows + codes, before[0] + before[1]):
        assert_array_equal(X, copy, strict=True)
