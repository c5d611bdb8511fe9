"""The density that ``sample`` draws codes from: a Gaussian mixture fitted after training
to draws from the training rows' posteriors, an estimate of the aggregate posterior
(ex-post density estimation, Ghosh et al. 2020).

The prior alone leaves holes: the training rows' posteriors do not fill it, so prior
draws land where no training code lies and decode to rows between the data's modes. A
mixture fitted to posterior draws puts the codes where the data's are. Its size is
chosen on held-out draws. For the linear Gaussian model at PPCA's solution the aggregate
posterior is the prior itself, and decoding mixture draws with the noise draws from PPCA.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

# Codes (of evenly spaced training rows) the mixture is fitted on: enough for several
# full-covariance Gaussians in a code of up to 32 dimensions, and the cost stays flat as
# the rows grow.
DENSITY_ROWS = 5000
# Posterior draws per row at most, on tables of fewer than DENSITY_ROWS rows.
_MAX_DRAWS_PER_ROW = 2
# Mixture sizes tried, in this order, while the held-out codes' likelihood improves.
_MIXTURE_SIZES = (1, 2, 4, 8, 16, 32)
# Share of the codes held out to choose the size.
_HELD_OUT_SHARE = 0.2
# Sizes tried after the best so far before the search stops: EM can land a size in a
# poor optimum (on two blobs, 2 components scored below 1, and 4 far above both).
_PATIENCE = 2
# EM starts per size: with one, a size can land in a poor optimum (on two blobs both
# components sat between them), which the next size and the patience make up for.
_STARTS = 1
# Codes (a random subset) on which sizes are compared; the chosen mixture is then
# refitted to all codes.
_SEARCH_CODES = 2500
# EM's stopping tolerance: a change of the mean log-likelihood per code below 0.01 nats.
# scikit-learn's 1e-3 took 8x as many iterations on 30-dimensional codes (81 against 9,
# 2.7 s against 0.6 s), for samples that a hundredth of a nat does not change.
_TOL = 1e-2
# Free parameters of a mixture per fitted code above which a size is not tried.
_PARAMETERS_PER_CODE = 2


@dataclass(frozen=True)
class CodeDensity:
    """A Gaussian mixture over codes: ``weights`` (m,), ``means`` (m, k) and the
    lower Cholesky factors of the covariances (m, k, k)."""

    weights: np.ndarray
    means: np.ndarray
    cholesky: np.ndarray

    def sample(self, n_samples: int, generator: torch.Generator) -> np.ndarray:
        """``n_samples`` codes, float64, drawn with ``generator`` (a CPU generator)."""
        weights = torch.as_tensor(self.weights, dtype=torch.float64)
        component = torch.multinomial(weights, n_samples, replacement=True,
                                      generator=generator).numpy()
        normal = torch.randn((n_samples, self.means.shape[1]), generator=generator,
                             dtype=torch.float64).numpy()
        return self.means[component] + np.einsum("nij,nj->ni", self.cholesky[component],
                                                  normal)

    def as_dict(self) -> dict:
        return {"weights": self.weights, "means": self.means, "cholesky": self.cholesky}

    @classmethod
    def from_dict(cls, values: dict) -> "CodeDensity":
        return cls(**{k: np.asarray(v, dtype=np.float64) for k, v in values.items()})


def density_rows(X: np.ndarray) -> tuple[np.ndarray, int]:
    """At most ``DENSITY_ROWS`` evenly spaced rows of ``X``, and how many posterior draws
    to take from each (up to ``_MAX_DRAWS_PER_ROW``, to reach ``DENSITY_ROWS`` codes on
    small tables)."""
    rows = X[:: max(1, math.ceil(X.shape[0] / DENSITY_ROWS))]
    return rows, int(np.clip(DENSITY_ROWS // max(len(rows), 1), 1, _MAX_DRAWS_PER_ROW))


def fit_code_density(codes: np.ndarray, seed: int) -> CodeDensity:
    """A Gaussian mixture fitted to ``codes`` (at most ``DENSITY_ROWS``, see
    ``density_rows``), its size chosen on held-out codes.

    Sizes are tried in increasing order on 80 % of (at most ``_SEARCH_CODES``) codes and
    scored by the mean log-likelihood of the other 20 %, until two sizes in a row score
    no better than the best so far; the best mixture is then refitted to all codes,
    starting where it stands. On digits (k = 10) the held-out choice had more components
    than BIC's, and its samples were harder to tell from real rows (docs/benchmarks.rst,
    "Generation").
    Sizes with more than ``_PARAMETERS_PER_CODE`` free parameters per fitted code are
    not tried: they cost the most and held-out codes refuse them anyway.
    """
    codes = np.asarray(codes, dtype=np.float64)
    n_rows, width = codes.shape
    order = np.random.default_rng(seed).permutation(n_rows)[:_SEARCH_CODES]
    n_held_out = int(_HELD_OUT_SHARE * len(order))
    held_out, fitted = codes[order[:n_held_out]], codes[order[n_held_out:]]
    per_component = width + width * (width + 1) // 2 + 1
    best, best_score, misses = None, -np.inf, 0
    for size in _MIXTURE_SIZES:
        if n_held_out < 2 or size * per_component > _PARAMETERS_PER_CODE * len(fitted):
            break
        mixture = _mixture(size, seed).fit(fitted)
        score = mixture.score(held_out)
        if score > best_score:
            best, best_score, misses = mixture, score, 0
        else:
            misses += 1
            if misses == _PATIENCE:
                break
    # The chosen mixture, refitted to all codes from where it stands.
    final = (_mixture(1, seed) if best is None else GaussianMixture(
        best.n_components, covariance_type="full", tol=_TOL, weights_init=best.weights_,
        means_init=best.means_, precisions_init=best.precisions_))
    final.fit(codes)
    return CodeDensity(weights=final.weights_, means=final.means_,
                       cholesky=np.linalg.cholesky(final.covariances_))


def _mixture(size: int, seed: int) -> GaussianMixture:
    return GaussianMixture(size, covariance_type="full", n_init=_STARTS, tol=_TOL,
                           random_state=seed % 2**32)
