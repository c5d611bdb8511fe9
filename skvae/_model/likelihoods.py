"""Observation models p(x | z): one small ``nn.Module`` per likelihood.

``Likelihood`` states the contract; a subclass that names itself
(``class MyLikelihood(Likelihood, name="mine")``) is registered in ``LIKELIHOODS`` and
becomes a value of ``VAETransformer(likelihood=...)``, with no other file to edit. A
likelihood decides how many numbers the decoder emits per row (``output_width``), what
they mean, and which data it accepts (``check_data``). All log-probabilities are in nats
and summed over features, so that one row's value is the log-density of the whole row.
"""

import math
from abc import ABC, abstractmethod

import torch
from torch import nn
from torch.nn import functional as F

from .._data.statistics import ColumnStatistics
from .registry import Registered

__all__ = ["Likelihood", "GaussianLikelihood", "BernoulliLikelihood", "LaplaceLikelihood",
           "MixedLikelihood"]

_LOG_2PI = math.log(2.0 * math.pi)

# name -> class, filled by Likelihood.__init_subclass__.
LIKELIHOODS: dict[str, type["Likelihood"]] = {}


class Likelihood(Registered, nn.Module, ABC):
    """The contract of an observation model.

    ``decoded`` is the decoder's output for a batch after ``unstandardise``: shape
    ``(n_rows, output_width(n_features))``. Subclasses implement:

    * ``log_prob(x, decoded)``: log-density of each row of ``x``, shape ``(n_rows,)``;
    * ``mean(decoded)``: the expected row, ``(n_rows, n_features)``, in data units;
    * ``sample(decoded, generator)``: rows drawn from the distribution;

    and may override ``output_width`` (default: one number per feature),
    ``unstandardise`` (the decoder works in standardised units; default: map its output
    back to data units), ``check_data`` (reject data the model cannot describe, with a
    message that names the fix), ``draws_by_default`` (whether ``sample`` draws from the
    likelihood unless told otherwise), ``starts_from_ppca`` (whether training starts from
    probabilistic PCA's solution, which needs ``set_noise_variance``),
    ``supports_missing`` (whether ``log_prob`` leaves out the entries that
    ``observed_entries`` marks missing), ``calibrate`` (fit the noise to rows the model
    did not train on; default: keep it) and ``__init__`` settings beyond ``data_scale``
    (the data's typical spread, given by the estimator).
    """

    registry = LIKELIHOODS
    starts_from_ppca = False
    # Whether that PPCA is fitted to the rows in their units or standardised.
    ppca_on_standardised_rows = False
    # Whether log_prob leaves missing entries out (see ``observed_entries``): a
    # likelihood without it cannot be fitted on rows with NaN.
    supports_missing = False
    # Set by the module: whether rows may hold NaN for missing entries.
    masked = False
    # Whether sample(noise=None) draws from p(x | z) (True) or returns the decoded means.
    draws_by_default = True

    def __init__(self, data_scale: float = 1.0):
        super().__init__()

    @classmethod
    def output_width(cls, n_features: int) -> int:
        """Numbers the decoder emits per row."""
        return n_features

    @classmethod
    def check_data(cls, statistics: ColumnStatistics) -> None:
        """Raise ``ValueError`` for data this likelihood cannot describe, judged from the
        training rows' ``statistics`` (each column's observed minimum and maximum)."""

    def noise_variance(self) -> float | None:
        """The variance of the observation noise, shared by all features and in the
        data's squared units (PCA's ``noise_variance_``); None when there is no such
        single number."""
        return None

    def settings(self) -> dict:
        """Settings chosen by the user (none here); saved with the model's spec."""
        return {}

    def unstandardise(self, out, feature_mean, feature_scale):
        """The decoder predicts standardised values; report them in data units."""
        return torch.addcmul(feature_mean, out, feature_scale)

    def observed_entries(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x, observed)``: for a model of rows with missing entries, ``x`` with NaN
        replaced by 0 and the boolean mask of observed entries, which ``log_prob`` must
        multiply its per-entry terms by; else ``x`` as it is and None."""
        if not self.masked:
            return x, None
        observed = ~torch.isnan(x)
        return x.masked_fill(~observed, 0.0), observed

    def calibrate(self, x: torch.Tensor, decoded: torch.Tensor) -> None:  # noqa: B027
        """Fit the noise to rows ``x`` decoded as ``decoded``; here: nothing to fit."""

    @abstractmethod
    def log_prob(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def mean(self, decoded: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def sample(self, decoded: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


class GaussianLikelihood(Likelihood, name="gaussian"):
    """Normal likelihood with one observation scale shared by all features, fitted in
    closed form.

    For a shared scale the best value is known exactly: sigma**2 is the mean squared
    reconstruction error. In training each batch uses that optimum (a "calibrated
    decoder", Rybkin et al. 2021), so the balance between reconstruction and KL follows
    the decoder's progress at once instead of lagging behind a slowly learned parameter;
    a lagging, too large scale makes latent dimensions look useless and collapse. A running
    average of the batch optima is kept for evaluation, sampling and scores. One shared
    scale, rather than one per feature, keeps the model from explaining whole features away
    as noise, and weighs features by squared error as PCA does.

    Parameters
    ----------
    data_scale : float
        Typical spread of the data, in its units: the starting scale.
    """

    # Probabilistic PCA is this likelihood with a linear decoder: start from its solution.
    starts_from_ppca = True
    supports_missing = True
    # Floor on the scale, as a fraction of data_scale, so that a perfectly reconstructed
    # training set cannot drive the log-density to infinity.
    min_relative_scale = 1e-3
    # Weight of each training batch in the running estimate of the scale.
    momentum = 0.05

    def __init__(self, data_scale: float = 1.0):
        super().__init__()
        self.min_variance = float(self.min_relative_scale * data_scale) ** 2
        self.register_buffer("variance", torch.tensor(float(data_scale) ** 2))

    def scale(self) -> torch.Tensor:
        """The observation noise's standard deviation, in the units of the data."""
        return self.variance.sqrt()

    def noise_variance(self) -> float:
        return float(self.variance)

    def set_noise_variance(self, noise: float) -> float:
        """Start from a known noise variance (PPCA's); returns it after the floor."""
        noise = max(noise, self.min_variance)
        self.variance.fill_(noise)
        return noise

    def log_prob(self, x, decoded):
        x, observed = self.observed_entries(x)
        return _calibrated_normal_log_prob(self, (x - decoded).square(), observed)

    def calibrate(self, x, decoded) -> None:
        """Set the noise variance to its maximum-likelihood value for rows ``x`` decoded
        as ``decoded`` (after the floor)."""
        x, observed = self.observed_entries(x)
        squared_error = (x - decoded).double().square()
        if observed is not None:
            squared_error = squared_error * observed
        self.set_noise_variance(float(_best_variance(squared_error, observed)))

    def mean(self, decoded):
        return decoded

    def sample(self, decoded, generator):
        noise = torch.randn(
            decoded.shape, generator=generator, device=decoded.device, dtype=decoded.dtype
        )
        return decoded + self.scale() * noise


def _best_variance(squared_error, observed) -> torch.Tensor:
    """The shared variance that maximises the Gaussian likelihood of entries with
    ``squared_error`` (already zero where ``observed``, if given, is False): their mean
    over the observed entries."""
    count = squared_error.numel() if observed is None else observed.sum().clamp(min=1)
    return squared_error.sum() / count


def _calibrated_normal_log_prob(likelihood, squared_error, observed, log_scale_term=0.0):
    """Per-row Gaussian log-density of entries with ``squared_error`` (NaN-free), under
    the one shared variance that ``likelihood.variance`` holds; in training that is the
    batch's closed-form optimum (see ``GaussianLikelihood``), which the buffer follows.
    ``observed`` (or None) leaves missing entries out; ``log_scale_term`` is added to
    each entry's constant (twice a column's log scale, for units of its own)."""
    if observed is not None:
        squared_error = squared_error * observed
    if likelihood.training:
        # The batch optimum; no gradient flows through it, none is needed: at the
        # optimum the derivative with respect to the scale is zero.
        variance = _best_variance(squared_error.detach(), observed).clamp(
            min=likelihood.min_variance)
        likelihood.variance.lerp_(variance, likelihood.momentum)
    else:
        variance = likelihood.variance
    constant = torch.log(variance) + _LOG_2PI + log_scale_term
    if observed is None:
        per_entry = squared_error / variance + constant
    else:
        per_entry = squared_error / variance + constant * observed
    return -0.5 * per_entry.sum(dim=-1)


class BernoulliLikelihood(Likelihood, name="bernoulli"):
    """Bernoulli likelihood for data in [0, 1]; the decoder outputs logits.

    Values strictly between 0 and 1 are scored with the same cross-entropy formula, as is
    usual for grey-level images; the result is then not a normalised density. ``sample``
    returns the probabilities (the grey levels) unless asked for 0/1 draws.
    """

    draws_by_default = False
    supports_missing = True

    @classmethod
    def check_data(cls, statistics):
        low, high = float(statistics.minimum.min()), float(statistics.maximum.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"likelihood={cls.name!r} needs X in [0, 1], got values in "
                f"[{low:.4g}, {high:.4g}]; scale X (e.g. with MinMaxScaler) or use "
                "likelihood='gaussian'."
            )

    def unstandardise(self, out, feature_mean, feature_scale):
        """Logits have no data units: the decoder output is used as it is."""
        return out

    def log_prob(self, x, decoded):
        x, observed = self.observed_entries(x)
        per_feature = F.binary_cross_entropy_with_logits(decoded, x, reduction="none")
        if observed is not None:
            per_feature = per_feature * observed
        return -per_feature.sum(dim=-1)

    def mean(self, decoded):
        return torch.sigmoid(decoded)

    def sample(self, decoded, generator):
        return torch.bernoulli(torch.sigmoid(decoded), generator=generator)


# Bounds on the Laplace likelihood's log scale, in standardised units: a feature the
# decoder predicts perfectly must not drive the density to infinity.
_LOG_SCALE_BOUNDS = (-7.0, 7.0)


class LaplaceLikelihood(Likelihood, name="laplace"):
    """Laplace likelihood with a location and a scale per feature and row, both decoded.

    Heavier tails than the Gaussian: a few large errors cost little, so that outlying
    entries and heavy-tailed columns do not dominate the fit; the loss per entry is the
    absolute error over a scale that the decoder predicts for each row and feature (the
    model learns which entries it can predict well). The decoder emits two numbers per
    feature: the location and the log scale. Training starts from random linear paths
    (no closed-form start exists for this model).
    """

    supports_missing = True

    @classmethod
    def output_width(cls, n_features):
        return 2 * n_features

    def unstandardise(self, out, feature_mean, feature_scale):
        location, log_scale = out.chunk(2, dim=-1)
        location = torch.addcmul(feature_mean, location, feature_scale)
        log_scale = log_scale.clamp(*_LOG_SCALE_BOUNDS) + feature_scale.log()
        return torch.cat([location, log_scale], dim=-1)

    def log_prob(self, x, decoded):
        x, observed = self.observed_entries(x)
        location, log_scale = decoded.chunk(2, dim=-1)
        per_feature = (x - location).abs() * torch.exp(-log_scale) + log_scale + math.log(2.0)
        if observed is not None:
            per_feature = per_feature * observed
        return -per_feature.sum(dim=-1)

    def mean(self, decoded):
        return decoded.chunk(2, dim=-1)[0]

    def sample(self, decoded, generator):
        location, log_scale = decoded.chunk(2, dim=-1)
        # Inverse CDF: a uniform in (-1/2, 1/2) maps to a Laplace draw.
        u = torch.rand(location.shape, generator=generator, device=location.device,
                       dtype=location.dtype) - 0.5
        return location - log_scale.exp() * torch.sign(u) * torch.log1p(-2.0 * u.abs())


class MixedLikelihood(Likelihood, name="mixed"):
    """One likelihood per column of a table of mixed types (``skvae._data.columns``):
    Gaussian for numeric columns, a softmax over the categories for binary and
    categorical columns (for two categories, a Bernoulli), Poisson for counts.

    Numeric columns share one noise variance in standardised units, fitted in closed
    form as ``GaussianLikelihood``'s, so that a column's units do not decide its weight;
    the density is reported in each column's own units (the log of its scale is part of
    it), so scores are proper log-densities of the table. The decoder's outputs for the
    other columns are offsets from the training table's marginal distribution (log
    category shares, log mean count): a new network starts at the marginals.

    Parameters
    ----------
    groups : list of [kind, start, width]
        Each column's kind and its encoded columns, as ``ColumnLayout.groups``.
    numeric_scale : list of float
        Standard deviation of each numeric column, in the order of the groups.
    """

    supports_missing = True
    min_variance = 1e-6
    momentum = GaussianLikelihood.momentum
    # Training starts from PPCA of the standardised one-hot table: exact for the numeric
    # columns (the shared variance is in standardised units); for the others the linear
    # prediction of a standardised indicator becomes a logit offset from the marginal,
    # a start pointing the right way that training then corrects.
    starts_from_ppca = True
    ppca_on_standardised_rows = True

    def __init__(self, data_scale: float = 1.0, groups=(), numeric_scale=()):
        super().__init__()
        self.groups = [list(group) for group in groups]
        self.numeric_scale = [float(value) for value in numeric_scale]
        numeric = [start for kind, start, _ in self.groups if kind == "numeric"]
        counts = [start for kind, start, _ in self.groups if kind == "count"]
        self.blocks = [(start, width) for kind, start, width in self.groups
                       if kind in ("binary", "categorical")]
        self.register_buffer("numeric", torch.tensor(numeric, dtype=torch.long))
        self.register_buffer("counts", torch.tensor(counts, dtype=torch.long))
        self.register_buffer("log_scale", torch.tensor(self.numeric_scale).log())
        self.register_buffer("variance", torch.tensor(1.0))

    def settings(self) -> dict:
        return {"groups": self.groups, "numeric_scale": self.numeric_scale}

    # The same start as the Gaussian's, with the variance in standardised units.
    set_noise_variance = GaussianLikelihood.set_noise_variance

    def unstandardise(self, out, feature_mean, feature_scale):
        """Numeric columns in data units; logits and log rates offset by the marginal
        log shares and log mean counts."""
        offset = torch.log(feature_mean.clamp(min=1e-6))
        result = out + offset
        if len(self.numeric):
            numeric = self.numeric
            result[:, numeric] = torch.addcmul(feature_mean[numeric], out[:, numeric],
                                               feature_scale[numeric])
        return result

    def _numeric_terms(self, x, decoded, observed):
        index = self.numeric
        scale = self.log_scale.exp()
        error = ((x[:, index] - decoded[:, index]) / scale).square()
        seen = None if observed is None else observed[:, index]
        # In the columns' own units: each entry's density carries its column's scale.
        return _calibrated_normal_log_prob(self, error, seen, 2.0 * self.log_scale)

    def log_prob(self, x, decoded):
        x, observed = self.observed_entries(x)
        total = x.new_zeros(len(x))
        if len(self.numeric):
            total = total + self._numeric_terms(x, decoded, observed)
        for start, width in self.blocks:
            block = slice(start, start + width)
            term = (x[:, block] * torch.log_softmax(decoded[:, block], dim=-1)).sum(dim=-1)
            total = total + term  # a missing block is all zeros after observed_entries
        if len(self.counts):
            index = self.counts
            rate = decoded[:, index]
            term = x[:, index] * rate - rate.exp() - torch.lgamma(x[:, index] + 1.0)
            if observed is not None:
                term = term * observed[:, index]
            total = total + term.sum(dim=-1)
        return total

    def mean(self, decoded):
        out = decoded.clone()
        for start, width in self.blocks:
            out[:, start : start + width] = torch.softmax(decoded[:, start : start + width], -1)
        if len(self.counts):
            out[:, self.counts] = decoded[:, self.counts].exp()
        return out

    def sample(self, decoded, generator):
        out = self.mean(decoded)
        if len(self.numeric):
            index = self.numeric
            noise = torch.randn((len(out), len(index)), generator=generator,
                                device=out.device, dtype=out.dtype)
            out[:, index] += noise * self.variance.sqrt() * self.log_scale.exp()
        for start, width in self.blocks:
            probabilities = out[:, start : start + width]
            drawn = torch.multinomial(probabilities, 1, generator=generator)
            out[:, start : start + width] = torch.zeros_like(probabilities).scatter_(
                1, drawn, 1.0)
        if len(self.counts):
            out[:, self.counts] = torch.poisson(out[:, self.counts], generator=generator)
        return out


def build_likelihood(name: str, settings: dict, data_scale: float) -> Likelihood:
    """The registered likelihood ``name`` with ``settings``, for data of spread
    ``data_scale``."""
    return LIKELIHOODS[name](data_scale=data_scale, **settings)
