"""Searches spread over processes through joblib's Dask backend (``skvae[distributed]``)."""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV

from skvae import VAETransformer

from .conftest import FAST

distributed = pytest.importorskip("distributed")

GRID = {"beta": [0.5, 1.0], "n_components": [1, 2]}


@pytest.fixture(scope="module")
def client():
    # Two worker processes of one thread each, on the loopback interface, no dashboard.
    # Dask's nanny starts workers with OMP_NUM_THREADS=1, so torch uses one thread there,
    # as it does in this process (see conftest.py): the arithmetic is the same. The
    # scheduler still serves its health check over HTTP: on a free loopback port, not
    # on 8787, which another cluster on the machine may hold.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def _search(X):
    return GridSearchCV(VAETransformer(random_state=0, **FAST), GRID, cv=3).fit(X)


def test_grid_search_on_a_dask_cluster_matches_the_sequential_search(X, client):
    sequential = _search(X)
    with distributed.get_task_stream(client) as tasks, parallel_backend("dask"):
        on_cluster = _search(X)
    # The fits ran on the cluster's workers, each with one torch thread.
    assert {task["worker"] for task in tasks.data} == set(client.scheduler_info()["workers"])
    threads = client.run(lambda: __import__("torch").get_num_threads())
    assert set(threads.values()) == {1}
    assert on_cluster.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(on_cluster.cv_results_["rank_test_score"],
                                  sequential.cv_results_["rank_test_score"])
    np.testing.assert_array_equal(on_cluster.cv_results_["mean_test_score"],
                                  sequential.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(on_cluster.best_estimator_.transform(X),
                                  sequential.best_estimator_.transform(X))
