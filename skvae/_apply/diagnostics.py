"""What a fit reports about its codes: KL per component, active components, the share of
non-zero entries, and the round-trip gain that ``inverse_transform`` applies."""

import math
from dataclasses import dataclass

import numpy as np
import torch

# A component is active when the variance of its code across the training rows exceeds
# this fraction of its variance under the prior: the "active units" test of Burda et al.
# (2016), who used 0.01 for a unit-variance prior. 0.1 here: components that the KL is
# switching off approach zero variance slowly, and at 0.01 more components counted as
# active than carried a tenth of a nat (docs/benchmarks.rst, "Design measurements").
_ACTIVITY_THRESHOLD = 0.1

# Training rows (evenly spaced) on which the diagnostics are measured: enough for three
# digits, and a fit's cost after training stays flat as the rows grow.
_DIAGNOSTIC_ROWS = 131072

# Training rows (evenly spaced) on which the round-trip gain of the codes is measured.
_GAIN_ROWS = 8192
# Round-trip slopes below this (a gain above 10^6) mark a component that carries nothing.
_MIN_SLOPE = 1e-6


@dataclass(frozen=True)
class Diagnostics:
    kl_per_component: np.ndarray
    active_components: np.ndarray
    kept_components: np.ndarray
    nonzero_fraction: float
    code_gain: np.ndarray


def diagnostic_rows(X: np.ndarray) -> np.ndarray:
    """The (up to ``_DIAGNOSTIC_ROWS`` evenly spaced) training rows the diagnostics and
    the PCA surface are measured on."""
    return X[:: max(1, math.ceil(X.shape[0] / _DIAGNOSTIC_ROWS))]


def diagnose(inference, X: np.ndarray, n_features: int, select_active: bool) -> Diagnostics:
    """Diagnostics on the rows ``X`` (see ``diagnostic_rows``); with ``select_active``
    only the active components are kept (at least the most variable one, so that a code
    always exists)."""
    prior, n_latent = inference.prior, inference.n_latent
    kl_sum, code_sum, code_square_sum, nonzero = (np.zeros(n_latent) for _ in range(4))
    for _, n_rows, posterior in inference.posteriors(X):
        code = prior.code(posterior)[:n_rows].double()
        kl_sum += prior.kl(posterior)[:n_rows].double().sum(dim=0).cpu().numpy()
        code_sum += code.sum(dim=0).cpu().numpy()
        code_square_sum += code.square().sum(dim=0).cpu().numpy()
        nonzero += (code != 0).sum(dim=0).cpu().numpy()
    n = X.shape[0]
    variance = code_square_sum / n - (code_sum / n) ** 2
    active = variance > _ACTIVITY_THRESHOLD * prior.variance
    kept = np.arange(n_latent)
    if select_active:
        kept = np.flatnonzero(active) if active.any() else np.array([np.argmax(variance)])
    return Diagnostics(
        kl_per_component=kl_sum / n,
        active_components=active,
        kept_components=kept,
        nonzero_fraction=float(nonzero[kept].sum() / (n * len(kept))),
        code_gain=round_trip_gain(inference, X, n_features),
    )


def round_trip_gain(inference, X: np.ndarray, n_features: int) -> np.ndarray:
    """Per component, the factor that makes ``transform(inverse_transform(Z))`` give back
    ``Z`` on the training codes (least squares).

    A posterior mean is shrunk towards the prior's centre, and the decoder's mean at a
    shrunk code is a shrunk row: for probabilistic PCA the round trip scales component
    ``j`` by ``1 - s_j**2`` (its posterior variance). Decoding ``gain * Z`` undoes that,
    and for PPCA gives exactly PCA's reconstruction, the projection.
    """
    rows = X[evenly_spaced(X.shape[0], _GAIN_ROWS)]
    every_component = np.arange(inference.n_latent)
    codes = inference.codes(rows, every_component, np.float64)
    again = inference.codes(inference.decode(codes, n_features), every_component, np.float64)
    energy = np.square(codes).sum(axis=0)
    slope = (again * codes).sum(axis=0) / np.maximum(energy, 1e-300)
    # No clip: a component whose variance is barely above the noise has a slope near
    # zero and a large gain, which is what it takes to decode as PCA does. A component
    # that carries nothing (codes all zero, or a round trip that does not come back)
    # decodes as it is.
    return np.where((energy > 0) & (slope > _MIN_SLOPE), 1.0 / np.maximum(slope, _MIN_SLOPE),
                    1.0)


def evenly_spaced(n_rows: int, n_wanted: int) -> np.ndarray:
    """Indices of at most ``n_wanted`` rows spread evenly over ``n_rows`` rows."""
    if n_rows <= n_wanted:
        return np.arange(n_rows)
    return np.linspace(0, n_rows - 1, n_wanted).round().astype(np.intp)


@dataclass(frozen=True)
class LinearSurface:
    """PCA's attributes, read off the model (see ``linear_surface``); ``mean_`` is the
    training rows' mean, from the spec."""

    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    singular_values: np.ndarray


def decoder_jacobian(module, device) -> np.ndarray:
    """``d mean(decode(z)) / dz`` at the latent origin, in data units, ``(n_features,
    n_latent)``: how the decoded row moves per unit of each component, near the centre of
    the codes. For a linear decoder it is the decoder's loading matrix."""
    module.eval()
    origin = torch.zeros(1, module.n_latent, device=device)

    def decoded_mean(z):
        return module.likelihood.mean(module.decode(z))[0]

    with torch.inference_mode(False), torch.enable_grad():
        jacobian = torch.autograd.functional.jacobian(decoded_mean, origin)
    return jacobian[:, 0, :].double().cpu().numpy()


def linear_surface(inference, X: np.ndarray, kept, gain, mean: np.ndarray,
                   n_samples: int) -> LinearSurface:
    """``components_``, ``explained_variance_`` and the rest of PCA's surface on the
    training rows ``X`` (see ``diagnostic_rows``), around the training rows' ``mean``;
    ``n_samples`` is the number of rows fitted.

    Component ``j`` moves a decoded row along column ``j`` of the decoder's Jacobian at
    the origin, by its gain-scaled code (what ``inverse_transform`` decodes). Its
    direction (unit norm) is the component; the squared norm times the variance of its
    codes is its linearised share of the data's variance. The shares are then scaled to
    sum to the variance the round trip ``inverse_transform(transform(X))`` explains, so
    that ``explained_variance_ratio_.sum()`` is the model's explained share. For a linear
    model at PPCA's solution every step is exact: the results are PCA's.
    """
    n_features = X.shape[1]
    full = np.zeros((X.shape[0], inference.n_latent))
    full[:, kept] = inference.codes(X, kept, np.float64) * gain[kept]
    jacobian = decoder_jacobian(inference.module, inference.device)[:, kept]
    norms = np.linalg.norm(jacobian, axis=0)
    components = (jacobian / np.where(norms > 0, norms, 1.0)).T
    linearised = np.square(norms) * full[:, kept].var(axis=0, ddof=1)
    rows = X.astype(np.float64)
    # Over the observed entries: NaN marks a missing one.
    total_variance = float(np.nansum(np.square(rows - mean)) / max(len(rows) - 1, 1))
    error = float(np.nansum(np.square(rows - inference.decode(full, n_features)))
                  / max(len(rows) - 1, 1))
    explained = max(total_variance - error, 0.0)
    scale = explained / linearised.sum() if linearised.sum() > 0 else 0.0
    explained_variance = linearised * scale
    return LinearSurface(
        components=components,
        explained_variance=explained_variance,
        explained_variance_ratio=explained_variance / max(total_variance, 1e-300),
        singular_values=np.sqrt(explained_variance * max(n_samples - 1, 1)),
    )
