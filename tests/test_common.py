"""scikit-learn's estimator checks, run over every configuration users are likely to pick."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_global_set_output_transform_polars,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)
from skorch.callbacks import LRScheduler

from skvae import VAEImputer, VAETransformer

from .conftest import FAST

ESTIMATORS = [
    VAETransformer(n_components=1, random_state=0, **FAST),
    VAETransformer(n_components=1, random_state=0, **{**FAST, "early_stopping": True}),
    VAETransformer(n_components=1, random_state=0, **{**FAST, "hidden_layer_sizes": ()}),
    VAETransformer(n_components=1, prior="laplace", random_state=0, **FAST),
    VAETransformer(n_components=2, prior="spike_slab", random_state=0, **FAST),
    VAETransformer(n_components="auto", random_state=0, **FAST),
    VAETransformer(n_components=1, random_state=0,
                   callbacks=[("lr", LRScheduler("StepLR", step_size=2, gamma=0.5))], **FAST),
    VAETransformer(n_components=1, handle_missing="learn", random_state=0, **FAST),
    VAEImputer(VAETransformer(n_components=1, random_state=0, **FAST)),
]
IDS = ["mlp", "early_stopping", "linear", "laplace", "spike_slab", "auto", "callbacks",
       "learn_missing", "imputer"]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


EXTRA_CHECKS = [
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_global_set_output_transform_polars,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
]


# The column-name check provokes scikit-learn's feature-name warnings on purpose.
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")
@pytest.mark.parametrize("check", EXTRA_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_extra_checks(estimator, check):
    check(type(estimator).__name__, estimator)
