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
    """Normal likelihood with a learned observation scale shared by all features.

    One shared scale (rather than one per feature) keeps the model from explaining whole
    features away as noise: with the scale at its optimum, sigma**2 equals the mean squared
    reconstruction error, so the reconstruction term behaves like a calibrated squared error.

    Parameters
    ----------
    initial_scale : float
        Starting value of the scale, in the units of the data.
    min_scale : float
        Lower bound on the scale, so that a perfectly reconstructed training set cannot drive
        the log-density to infinity.
    """

    def __init__(self, initial_scale: float = 1.0, min_scale: float = 1e-3):
        super().__init__()
        self.min_scale = float(min_scale)
        excess = max(float(initial_scale) - self.min_scale, 1e-6)
        # softplus parameterisation: positive, smooth, and bounded below by min_scale.
        self.raw_scale = nn.Parameter(torch.tensor(math.log(math.expm1(excess))))

    @classmethod
    def for_data(cls, data_scale: float) -> "GaussianLikelihood":
        """Start at the data's own spread, with a floor a thousand times smaller."""
        return cls(initial_scale=data_scale, min_scale=1e-3 * data_scale)

    def scale(self) -> torch.Tensor:
        return F.softplus(self.raw_scale) + self.min_scale

    def unstandardise(self, out, feature_mean, feature_scale):
        """The decoder predicts standardised values; report them in data units."""
        return torch.addcmul(feature_mean, out, feature_scale)

    def log_prob(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        scale = self.scale()
        z = (x - decoded) / scale
        per_feature = -0.5 * z.square() - torch.log(scale) - 0.5 * _LOG_2PI
        return per_feature.sum(dim=-1)

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
