"""Probabilistic PCA in closed form: the linear model a Gaussian ``VAEModule`` starts from.

Tipping and Bishop (1999): with the top ``k`` eigenvalues ``L`` and eigenvectors ``U`` of
the sample covariance, and ``s2`` the mean of the other eigenvalues, the maximum-likelihood
model ``x = W z + mean + noise`` has ``W = U (L - s2)^(1/2)`` and isotropic noise ``s2``.
Its posterior ``p(z | x)`` is a diagonal Gaussian with mean ``(L - s2)^(1/2) / L * U^T (x -
mean)`` and variance ``s2 / L``, which a VAE's encoder represents exactly, so that the ELBO
equals the log-likelihood that ``sklearn.decomposition.PCA.score`` reports.
"""

from dataclasses import dataclass

import numpy as np

from .._data.streaming import row_chunks
from .._data.validation import minka_dimension

# Rows per chunk when accumulating the scatter matrix: the covariance never needs a
# centred copy of all of X.
_CHUNK_ROWS = 16384


@dataclass(frozen=True)
class PPCASolution:
    """The maximum-likelihood PPCA model; eigenvalues use the ``n - 1`` denominator, as
    ``PCA.explained_variance_`` does."""

    mean: np.ndarray  # (n_features,)
    components: np.ndarray  # (k, n_features), orthonormal rows, like PCA.components_
    explained_variance: np.ndarray  # (k,)
    noise_variance: float


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues (descending, ``n - 1`` denominator) and eigenvectors (columns) of the
    sample covariance of ``n_samples`` rows around ``mean``."""

    mean: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    n_samples: int

    @property
    def rank(self) -> int:
        """How many eigenvalues PCA counts: ``min(n_samples, n_features)``."""
        return min(self.n_samples, len(self.eigenvalues))

    def minka_dimension(self) -> int:
        """The dimension Minka's (2000) evidence picks, as ``PCA(n_components="mle")``."""
        return int(minka_dimension(self.eigenvalues[: self.rank], self.n_samples))

    def dimension_explaining(self, share: float) -> int:
        """The fewest components whose variance exceeds ``share`` of the total, as
        ``PCA(n_components=share)`` chooses them."""
        ratio = self.eigenvalues[: self.rank] / self.eigenvalues.sum()
        return int(np.searchsorted(np.cumsum(ratio), share, side="right") + 1)


def spectrum(X: np.ndarray, mean: np.ndarray) -> Spectrum:
    """The covariance spectrum of the rows of ``X`` around ``mean``.

    The scatter matrix is accumulated in float64 chunks and eigendecomposed: one pass over
    ``X`` and ``n_features**2`` memory, whatever the number of rows.
    """
    n_samples, n_features = X.shape
    scatter = np.zeros((n_features, n_features))
    for _, rows in row_chunks(X, _CHUNK_ROWS):
        # A missing entry (NaN) counts at the mean: a start, not the exact spectrum.
        centred = np.nan_to_num(rows.astype(np.float64) - mean, nan=0.0)
        scatter += centred.T @ centred
    eigenvalues, eigenvectors = np.linalg.eigh(scatter / max(n_samples - 1, 1))
    order = np.argsort(eigenvalues)[::-1]
    return Spectrum(mean=np.asarray(mean, dtype=np.float64),
                    eigenvalues=np.maximum(eigenvalues[order], 0.0),
                    eigenvectors=eigenvectors[:, order], n_samples=n_samples)


def ppca_solution(data_spectrum: Spectrum, n_components: int,
                  n_loaded: int | None = None) -> PPCASolution:
    """PPCA's maximum-likelihood solution with ``n_components`` components.

    ``n_loaded="mle"`` loads only as many components as Minka's (2000) evidence picks (as
    ``PCA(n_components="mle")``); the others get the noise as their variance, hence no
    loading and the prior as their posterior: present, but switched off.
    """
    eigenvalues = data_spectrum.eigenvalues
    components = data_spectrum.eigenvectors[:, :n_components].T.copy()
    # Deterministic signs: the largest entry of each component is positive.
    largest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(n_components), largest])[:, None]
    if n_loaded == "mle":
        n_loaded = min(n_components, data_spectrum.minka_dimension())
    n_loaded = n_components if n_loaded is None else n_loaded
    # As PCA: the noise is the mean of the remaining eigenvalues among the first
    # min(n_samples, n_features), and zero when none remain.
    rest = eigenvalues[n_loaded : data_spectrum.rank]
    noise = float(rest.mean()) if rest.size else 0.0
    explained = eigenvalues[:n_components].copy()
    explained[n_loaded:] = noise
    return PPCASolution(mean=data_spectrum.mean, components=components,
                        explained_variance=explained, noise_variance=noise)


# Rows the missing-data estimate of the covariance reads (evenly spaced) and its EM steps:
# a start for training, so a sample of rows and a few steps suffice, at a cost that does
# not grow with the table.
_MISSING_ROWS = 1000
_MISSING_EM_STEPS = 10
# Rows per batched solve: bounds the (rows, n_features, n_features) temporaries.
_SOLVE_ROWS = 256


def spectrum_with_missing(X: np.ndarray) -> Spectrum:
    """The spectrum of the maximum-likelihood covariance of rows with missing entries
    (NaN): the mean and covariance of a Gaussian fitted by EM to the observed entries
    (Little and Rubin 2002, ch. 11), on at most ``_MISSING_ROWS`` evenly spaced rows.

    Filling missing entries with the mean instead shrinks every variance by the share of
    entries missing, and PCA's start with it. Each step fills a row's missing entries with
    their conditional mean given its observed ones and adds their conditional covariance.
    """
    rows = np.asarray(X[:: max(1, -(-X.shape[0] // _MISSING_ROWS))], dtype=np.float64)
    observed = ~np.isnan(rows)
    n, n_features = rows.shape
    mean = np.nanmean(rows, axis=0)
    filled = np.where(observed, rows, mean)
    covariance = np.cov(filled, rowvar=False).reshape(n_features, n_features)
    for _ in range(_MISSING_EM_STEPS):
        # A ridge keeps Sigma_oo invertible for a sample with nearly collinear (or
        # constant) columns.
        spread = np.trace(covariance) / n_features
        ridge = 1e-6 * spread if spread > 0 else 1.0
        sigma = covariance + ridge * np.eye(n_features)
        scatter = np.zeros((n_features, n_features))
        total = np.zeros(n_features)
        for start in range(0, n, _SOLVE_ROWS):
            x = rows[start : start + _SOLVE_ROWS]
            o = observed[start : start + _SOLVE_ROWS].astype(np.float64)
            # Sigma restricted to each row's observed block, identity on the missing one:
            # one batched solve gives Sigma_oo^-1 (x_o - mean_o) with zeros elsewhere.
            outer = o[:, :, None] * o[:, None, :]
            system = sigma * outer + np.eye(n_features) * (1.0 - o)[:, None, :]
            inverse = np.linalg.inv(system) * outer
            centred = np.where(o > 0, x - mean, 0.0)
            weights = (inverse @ centred[:, :, None])[:, :, 0]
            conditional = mean + weights @ sigma
            x_hat = np.where(o > 0, x, conditional)
            # Conditional covariance of the missing block: Sigma - Sigma B Sigma there.
            missing = 1.0 - o
            explained = sigma @ inverse @ sigma
            residual = (sigma - explained) * (missing[:, :, None] * missing[:, None, :])
            scatter += x_hat.T @ x_hat + residual.sum(axis=0)
            total += x_hat.sum(axis=0)
        mean = total / n
        covariance = scatter / n - np.outer(mean, mean)
    covariance *= n / max(n - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    return Spectrum(mean=mean, eigenvalues=np.maximum(eigenvalues[order], 0.0),
                    eigenvectors=eigenvectors[:, order], n_samples=X.shape[0])
