"""The three stages of a fit, each called alone: plan, train, summarise."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skvae import VAETransformer
from skvae._apply.inference import Inference
from skvae._data import statistics as statistics_module
from skvae._data.statistics import STATS_CHUNK_ROWS
from skvae._fit.plan import FitPlan, plan_fit
from skvae._fit.summarise import Summaries, summarise
from skvae._fit.train import RunSummary, Trained, train
from skvae._fitted_model import FITTED_ATTRIBUTES, FittedModel

from .conftest import FAST


def test_the_plan_decides_width_spec_and_settings_before_training(X):
    plan = plan_fit(VAETransformer(n_components=0.9, random_state=3, **FAST), X, None,
                    incremental=False)
    assert isinstance(plan, FitPlan) and not plan.continues
    # The width PCA would keep for 90 % of the variance, from the plan's own spectrum.
    assert plan.spec.n_latent == plan.spectrum.dimension_explaining(0.9)
    assert plan.spec.seed == 3 and plan.settings.max_iter == FAST["max_iter"]
    assert_array_equal(plan.spec.feature_mean, X.mean(axis=0))


def test_the_plan_reads_the_rows_once_for_checks_and_statistics(monkeypatch):
    rng = np.random.default_rng(0)
    X = (rng.random((3 * STATS_CHUNK_ROWS + 5, 4)) > 0.5).astype(float)
    chunks = []
    read = statistics_module.row_chunks

    def counted(rows, chunk_rows):
        for chunk in read(rows, chunk_rows):
            chunks.append(len(chunk[1]))
            yield chunk

    monkeypatch.setattr(statistics_module, "row_chunks", counted)
    # Bernoulli with an int width: no spectrum to compute, so the checks and statistics
    # are all the plan reads.
    plan = plan_fit(VAETransformer(likelihood="bernoulli", **FAST), X, None,
                    incremental=False)
    assert sum(chunks) == len(X) and len(chunks) == 4
    assert plan.spectrum is None


def test_train_and_summarise_alone_make_the_model_fit_makes(X):
    estimator = VAETransformer(random_state=0, **FAST)
    plan = plan_fit(estimator, X, None, incremental=False)
    trained = train(plan)
    assert isinstance(trained, Trained) and isinstance(trained.summary, RunSummary)
    assert trained.summary.n_iter == FAST["max_iter"] == len(trained.net.history)
    summaries = summarise(Inference(trained.net.module_, trained.net.device), trained.spec,
                          plan.training_rows, len(X))
    assert isinstance(summaries, Summaries)
    model = FittedModel(trained, summaries, plan.layout, plan.settings)
    fitted = VAETransformer(random_state=0, **FAST).fit(X)
    assert_array_equal(model.codes(X, X.dtype), fitted.transform(X))
    assert set(model.fitted_attributes()) == set(FITTED_ATTRIBUTES)


def test_every_fitted_attribute_is_documented():
    doc = VAETransformer.__doc__.split("Attributes\n    ----------")[1].split("See Also")[0]
    for name in (*FITTED_ATTRIBUTES, "model_", "noise_variance_", "n_features_in_"):
        assert f"\n    {name} :" in doc, name


def test_a_plan_for_a_model_that_continues_keeps_its_spec(X):
    fitted = VAETransformer(random_state=0, **FAST).fit(X)
    plan = plan_fit(fitted, X[:40], fitted.model_, incremental=True)
    assert plan.continues and plan.spec is fitted.model_.spec
    with pytest.raises(ValueError, match="partial_fit cannot change n_components"):
        plan_fit(fitted.set_params(n_components=3), X, fitted.model_, incremental=True)
