"""The first stage of a fit: from the estimator's parameters and the rows to what
training needs.

``plan_fit`` checks the parameters, reads the column layout of a table, validates the
rows and makes one pass over them for finiteness, missing entries and per-column
statistics (``ColumnStatistics``), computes the covariance spectrum where the PCA start
or the width needs it, chooses the width, and freezes the network's spec and the
training settings. Data-parallel training joins here: the statistics are sums that add
up across processes.
"""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch

from .._data.columns import ColumnLayout, needs_layout
from .._data.statistics import column_statistics
from .._data.streaming import is_file_backed, sample_in_memory
from .._data.validation import (
    check_device,
    check_hidden_layer_sizes,
    check_params,
    check_rows,
    seed_from_random_state,
)
from .._model.likelihoods import LIKELIHOODS
from .._model.ppca import Spectrum, spectrum, spectrum_with_missing
from .._model.priors import resolve_prior
from .._model.spec import NetSpec, TrainingSettings, architecture, prior_entry
from . import training

# Fits on fewer rows than this get a warning: they describe little more than those rows.
_FEW_ROWS = 10

# Upper bound on the latent size that n_components="auto" starts from.
_AUTO_MAX_COMPONENTS = 32

# Share of observed entries withheld from a masked encoder with handle_missing="learn".
# On top of the holes, withheld entries helped some tables and hurt others
# (docs/benchmarks.rst, "Tables"), so "auto" withholds none.
_WITHHELD_FRACTION = 0.2


@dataclass(frozen=True)
class FitPlan:
    """What the training stage needs, decided before any training."""

    # Every row given, as the network reads them (categories one-hot, NaN for missing).
    rows: np.ndarray
    # The rows training draws from: an in-memory sample of a file-backed table.
    training_rows: np.ndarray
    # The spec of the network to build, or of the fitted one that training continues.
    spec: NetSpec
    settings: TrainingSettings
    device: torch.device
    layout: ColumnLayout | None
    # The covariance spectrum for the PPCA start (None when there is no start to make).
    spectrum: Spectrum | None
    # Whether that spectrum is of the standardised rows.
    standardised: bool
    # partial_fit: one epoch over the rows, none held out.
    incremental: bool
    # Training continues a fitted model (partial_fit after a fit).
    continues: bool


def plan_fit(estimator, X, previous, incremental: bool) -> FitPlan:
    """The plan for fitting ``estimator`` to ``X``. ``previous`` is the fitted model
    that ``partial_fit`` continues (its ``spec``, ``layout`` and ``device``), or None."""
    check_params(estimator)
    params = estimator.get_params(deep=False)
    layer_sizes = check_hidden_layer_sizes(params["hidden_layer_sizes"])
    device = check_device(params["device"])
    prior = resolve_prior(params["prior"], params)
    layout = previous.layout if previous is not None else (
        ColumnLayout.from_data(X, params["column_types"])
        if needs_layout(X, params["column_types"]) else None)
    likelihood, likelihood_settings = _likelihood_entry(params["likelihood"], layout, previous)
    if previous is not None:
        training.check_architecture_unchanged(previous.spec, architecture(
            params["n_components"], layer_sizes, likelihood, likelihood_settings,
            *prior_entry(prior)))
        training.check_device_unchanged(device, previous.device)
    reads_mask = previous is None or previous.spec.reads_mask
    file_backed = is_file_backed(X)
    rows = check_rows(estimator, X, reset=previous is None, layout=layout,
                      handle_unknown=params["handle_unknown"],
                      unknown_value=np.nan if reads_mask else 0.0)
    if previous is None and rows.shape[0] < _FEW_ROWS:
        warnings.warn(
            f"Fitting on {rows.shape[0]} row(s): a model fitted on fewer than {_FEW_ROWS} "
            "rows mostly describes those rows (with the Gaussian likelihood it stays "
            "at the PCA start, which they fix). Fit on more rows for a model of the data.",
            UserWarning, stacklevel=4)
    statistics = column_statistics(rows)
    reads_mask = _reads_mask(statistics.has_missing, previous, likelihood,
                             params["handle_missing"])
    LIKELIHOODS[likelihood].check_data(statistics)
    feature_mean, feature_scale = statistics.standardisation()
    if previous is not None:
        n_latent, select_active = previous.spec.n_latent, previous.spec.select_active
        settings = TrainingSettings.from_params(params, select_active)
        return FitPlan(rows, rows, previous.spec, settings, device, layout, None, False,
                       incremental, continues=True)
    if layout is not None:
        likelihood_settings = layout.likelihood_settings(feature_scale)
    # The covariance spectrum: for the PPCA start, and for choosing the width like PCA.
    data_spectrum = None
    standardised = LIKELIHOODS[likelihood].ppca_on_standardised_rows
    if LIKELIHOODS[likelihood].starts_from_ppca or not isinstance(
            params["n_components"], Integral):
        centred = (rows - feature_mean) / feature_scale if standardised else rows
        data_spectrum = (spectrum_with_missing(centred) if statistics.has_missing
                 else spectrum(centred, np.zeros_like(feature_mean) if standardised
                               else feature_mean))
    n_latent, select_active = _latent_width(params["n_components"], rows.shape, data_spectrum,
                                            likelihood)
    settings = TrainingSettings.from_params(params, select_active)
    seed = seed_from_random_state(params["random_state"])
    # fit on a file-backed X trains on a random sample of its rows held in memory (the
    # statistics and the PCA start use all of them); partial_fit is one pass over all.
    training_rows = (sample_in_memory(rows, seed) if file_backed and not incremental
                     else rows)
    prior_name, prior_settings = prior_entry(prior)
    spec = NetSpec(
        n_rows=training_rows.shape[0], n_features=rows.shape[1], n_latent=n_latent,
        n_components=params["n_components"], hidden_layer_sizes=layer_sizes,
        likelihood=likelihood, likelihood_settings=likelihood_settings,
        prior=prior_name, prior_settings=prior_settings, feature_mean=feature_mean,
        feature_scale=feature_scale, seed=seed, reads_mask=reads_mask,
        withheld_fraction=(_WITHHELD_FRACTION if params["handle_missing"] == "learn"
                           else 0.0),
        holds_out_rows=training.holds_out_rows(settings, training_rows.shape[0], incremental),
    )
    return FitPlan(rows, training_rows, spec, settings, device, layout, data_spectrum, standardised,
                   incremental, continues=False)


def _likelihood_entry(likelihood: str, layout, previous) -> tuple[str, dict]:
    """The likelihood's name and settings: the estimator's likelihood for a table of
    numbers, one likelihood per column (settings from the fit) for a layout."""
    if layout is None:
        return likelihood, {}
    if previous is not None and previous.spec.likelihood == "mixed":
        return "mixed", previous.spec.likelihood_settings
    return "mixed", {}


def _reads_mask(missing: bool, previous, likelihood: str, handle_missing: str) -> bool:
    """Whether the network reads a mask of observed entries: on a first fit, if the
    rows have ``missing`` entries or ``handle_missing="learn"``; else as fitted."""
    if previous is not None:
        if missing:
            check_reads_mask(previous.spec)
        return previous.spec.reads_mask
    if missing and not LIKELIHOODS[likelihood].supports_missing:
        raise ValueError(
            f"X has missing entries (NaN), which likelihood={likelihood!r} cannot "
            "leave out; impute them first or use a likelihood that supports them."
        )
    return missing or handle_missing == "learn"


def check_reads_mask(spec: NetSpec) -> None:
    """Refuse rows with missing entries for a model fitted on complete rows."""
    if not spec.reads_mask:
        raise ValueError(
            "X has missing entries (NaN), but this model was fitted on complete rows, "
            "so its encoder cannot tell a missing entry from a value. Fit on rows with "
            "missing entries, or with handle_missing='learn', to encode such rows."
        )


def _latent_width(n_components, shape, data_spectrum, likelihood: str) -> tuple[int, bool]:
    """``(n_latent, select_active)``: the module's code width, and whether
    ``transform`` keeps only the active components (``n_components="auto"``).
    ``data_spectrum`` is the rows' covariance spectrum, or None for an int width without a
    PPCA start."""
    n_samples, n_features = shape
    if n_components == "auto":
        return min(n_features, _AUTO_MAX_COMPONENTS), True
    if n_components == "mle":
        return max(1, data_spectrum.minka_dimension()), False
    if n_components is None:
        return min(n_samples, n_features), False
    if isinstance(n_components, Real) and not isinstance(n_components, Integral):
        return min(data_spectrum.dimension_explaining(n_components), n_features), False
    if n_components == 0:
        if not LIKELIHOODS[likelihood].starts_from_ppca:
            raise ValueError(
                "n_components=0 is PCA's zero-component model, a Gaussian with one "
                "shared variance: it needs likelihood='gaussian'.")
        # One latent component with no loading: the code is the prior, the decoder
        # the mean, and the model PCA's zero-component Gaussian.
        return 1, False
    if n_components > n_features:
        raise ValueError(
            f"n_components={n_components} must be at most the number of features, "
            f"n_features={n_features}."
        )
    return n_components, False
