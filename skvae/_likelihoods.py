"""Observation models p(x | z): one small ``nn.Module`` per likelihood.

Each likelihood turns the decoder's raw output (``decoded``, one value per feature) into
a distribution over the data. All log-probabilities are in nats and summed over features,
so that one row's value is the log-density of the whole row.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianLikelihood(nn.Module):
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
    min_relative_scale : float
        Floor on the scale, as a fraction of ``data_scale``, so that a perfectly
        reconstructed training set cannot drive the log-density to infinity.
    momentum : float
        Weight of each training batch in the running estimate.
    """

    # Probabilistic PCA is this likelihood with a linear decoder: start from its solution.
    starts_from_ppca = True

    def __init__(
        self, data_scale: float = 1.0, min_relative_scale: float = 1e-3, momentum: float = 0.05
    ):
        super().__init__()
        self.min_variance = float(min_relative_scale * data_scale) ** 2
        self.momentum = momentum
        self.register_buffer("variance", torch.tensor(float(data_scale) ** 2))

    @classmethod
    def for_data(cls, data_scale: float) -> "GaussianLikelihood":
        return cls(data_scale=data_scale)

    def scale(self) -> torch.Tensor:
        """The observation noise's standard deviation, in the units of the data."""
        return self.variance.sqrt()

    def unstandardise(self, out, feature_mean, feature_scale):
        """The decoder predicts standardised values; report them in data units."""
        return torch.addcmul(feature_mean, out, feature_scale)

    def log_prob(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        squared_error = (x - decoded).square()
        if self.training:
            # The batch optimum; no gradient flows through it, none is needed: at the
            # optimum the derivative with respect to the scale is zero.
            variance = squared_error.detach().mean().clamp(min=self.min_variance)
            self.variance.lerp_(variance, self.momentum)
        else:
            variance = self.variance
        per_feature = squared_error / variance + torch.log(variance) + _LOG_2PI
        return -0.5 * per_feature.sum(dim=-1)

    def mean(self, decoded: torch.Tensor) -> torch.Tensor:
        return decoded

    def sample(self, decoded: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(
            decoded.shape, generator=generator, device=decoded.device, dtype=decoded.dtype
        )
        return decoded + self.scale() * noise


class BernoulliLikelihood(nn.Module):
    """Bernoulli likelihood for data in [0, 1]; the decoder outputs logits.

    Values strictly between 0 and 1 are scored with the same cross-entropy formula, as is
    usual for grey-level images; the result is then not a normalised density.
    """

    # No closed-form linear solution exists for logits: the linear paths start random.
    starts_from_ppca = False

    @classmethod
    def for_data(cls, data_scale: float) -> "BernoulliLikelihood":
        return cls()

    def unstandardise(self, out, feature_mean, feature_scale):
        """Logits have no data units: the decoder output is used as it is."""
        return out

    def log_prob(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(decoded, x, reduction="none").sum(dim=-1)

    def mean(self, decoded: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(decoded)

    def sample(self, decoded: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(decoded), generator=generator)


_LIKELIHOODS = {
    "gaussian": GaussianLikelihood,
    "bernoulli": BernoulliLikelihood,
}


def make_likelihood(name: str, data_scale: float) -> nn.Module:
    """Build the likelihood registered under ``name`` for data of spread ``data_scale``."""
    return _LIKELIHOODS[name].for_data(data_scale)
