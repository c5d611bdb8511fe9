"""The GPU path: every method on a CUDA device (``pytest -m gpu``, skipped without one),
and the GPU benchmark section's CPU parts, which run everywhere."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skvae import VAEImputer, VAETransformer

from .conftest import FAST

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("prior", ["normal", "spike_slab"])
def test_every_method_runs_on_the_gpu(X, early_stopping, prior):
    params = {**FAST, "early_stopping": early_stopping}
    vae = VAETransformer(device="cuda", prior=prior, random_state=0, **params).fit(X)
    on_cpu = VAETransformer(prior=prior, random_state=0, **params).fit(X)
    assert next(vae.net_.module_.parameters()).is_cuda
    for dtype in (np.float32, np.float64):
        Z = vae.transform(X.astype(dtype))
        assert Z.dtype == dtype and np.all(np.isfinite(Z))
        assert vae.inverse_transform(Z).shape == X.shape
    # Same seed, other kernels: the same model up to rounding and training noise.
    assert abs(vae.score(X) - on_cpu.score(X)) < 0.5
    assert np.all(np.isfinite(vae.score_samples(X, n_draws=8)))
    assert vae.sample(5, random_state=0).shape == (5, X.shape[1])
    assert vae.decompress(vae.compress(X)).shape == X.shape
    vae.partial_fit(X)
    assert vae.n_samples_seen_ == 2 * len(X)


@pytest.mark.gpu
@needs_cuda
def test_tables_with_holes_and_categories_on_the_gpu(X):
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(X[:, :4], columns=list("abcd"))
    table["kind"] = np.where(X[:, 4] > 0, "up", "down")
    table = table.mask(np.random.default_rng(0).random(table.shape) < 0.1)
    imputer = VAEImputer(VAETransformer(device="cuda", random_state=0, **FAST)).fit(table)
    assert not imputer.transform(table).isna().any().any()


def test_the_gpu_section_runs_its_cpu_parts_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import gpu

    monkeypatch.setattr(gpu, "manifold_rows", lambda n_rows, seed: _small(seed))
    results, table = gpu.run(quick=True)
    assert not results["cuda"] and "gpu_fit" not in results
    assert "the GPU rows" in table and "skipped" in table
    assert np.isfinite(results["cpu_fit"]["score"])
    assert results["cpu_transform_rows_per_second"] > 0
    sys.modules.pop("gpu", None)


def _small(seed):
    rng = np.random.default_rng(seed)
    return np.tanh(rng.standard_normal((300, 4)) @ rng.standard_normal((4, 8))).astype(
        np.float32)
