"""The third stage of a fit: what the trained model reports about its codes.

From the trained module and the training rows: the diagnostics (KL per component, active
and kept components, the share of non-zero entries, the round-trip gain), PCA's surface
(``components_``, ``explained_variance_``, ...) and the density of the training codes
that ``sample`` draws from.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._apply.diagnostics import (
    Diagnostics,
    LinearSurface,
    diagnose,
    diagnostic_rows,
    linear_surface,
)
from .._apply.inference import Inference
from .._apply.sampling import CodeDensity, density_rows, fit_code_density
from .._model.spec import NetSpec


@dataclass(frozen=True)
class Summaries:
    diagnostics: Diagnostics
    surface: LinearSurface
    # None for PCA's zero-component model, whose codes have no entries.
    density: CodeDensity | None


def summarise(inference: Inference, spec: NetSpec, training_rows, n_rows: int) -> Summaries:
    """The summaries of a model trained on ``training_rows`` (``n_rows`` rows fitted)."""
    rows = diagnostic_rows(training_rows)
    diagnostics = diagnose(inference, rows, spec.n_features, spec.select_active)
    if spec.n_components == 0:
        # PCA's zero-component model: the one latent component is the prior.
        diagnostics = dataclasses.replace(diagnostics, kept_components=np.array([], dtype=np.intp),
                                    nonzero_fraction=0.0)
    surface = linear_surface(inference, rows, diagnostics.kept_components, diagnostics.code_gain,
                             spec.feature_mean, n_rows)
    density = None
    if len(diagnostics.kept_components):
        rows, n_draws = density_rows(training_rows)
        draws = inference.posterior_draws(rows, diagnostics.kept_components, n_draws, spec.seed)
        density = fit_code_density(draws, spec.seed)
    return Summaries(diagnostics, surface, density)
