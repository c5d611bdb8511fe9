"""Latent priors p(z) and the posteriors that go with them: one class per prior.

A prior owns everything that depends on its form, so that the training loop, the
criterion, inference and the codec never ask which prior they have. ``Prior`` states the
contract; a subclass that names itself (``class MyPrior(Prior, name="mine")``) is
registered in ``PRIORS`` and becomes a value of ``VAETransformer(prior=...)``. Its
constructor arguments are its *settings*: they are read from the estimator's parameters
of the same name when the prior is given by name, saved with the model, checked by
``partial_fit`` and folded into the compression fingerprint, with no other file to edit.
"""

import inspect
import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from scipy import special
from torch.nn import functional as F

from .registry import Registered

__all__ = ["Prior", "StandardNormalPrior", "LaplacePrior", "SpikeSlabPrior", "StudentTPrior"]

# Keeps exp(log_var) finite in float32 whatever the encoder outputs.
_LOG_VAR_BOUNDS = (-30.0, 20.0)
# Posterior means beyond this many prior standard deviations carry no meaning; bounding
# them keeps the decoder's output finite in float32 for rows far outside the training
# data, whose codes the linear path would otherwise carry along to any size.
_MEAN_BOUND = 1e3

_LOG_2PI = math.log(2.0 * math.pi)

# name -> class, filled by Prior.__init_subclass__.
PRIORS: dict[str, type["Prior"]] = {}


class Prior(Registered, ABC):
    """The contract of a latent prior and the posterior family that goes with it.

    Shapes: ``posterior`` is a tuple of ``n_posterior_params`` tensors of shape
    ``(n_rows, n_latent)``; every per-entry result has that shape too. Values are nats.

    Subclasses implement:

    * ``posterior(encoder_output)``: split the encoder's ``n_posterior_params * n_latent``
      outputs into the posterior's parameters;
    * ``noise(shape, generator, device, dtype)`` and ``draw(posterior, noise,
      straight_through)``: reparameterised posterior draws from noise made up front, so
      that callers control the generator and can share one set of draws between rows;
    * ``kl_terms(posterior)``: the KL divergence to the prior per row and component, as a
      part that free bits may discount and a part (or ``None``) that is always charged;
    * ``code(posterior)``: what ``transform`` reports for a row;
    * ``sample(n_samples, n_latent, generator, device)``: draws from the prior;
    * ``cdf(x)``: the distribution function of one component, in float64 NumPy, with
      which the codec entropy-codes quantised codes.

    They may override ``rate_violation`` (a constraint training holds at zero, see
    ``NegativeELBO``), ``log_weight`` (the importance weight of a posterior draw, for
    the importance-weighted bound; diagonal Gaussian posteriors get it from
    ``normalised_log_density``), ``init_encoder_output`` (the encoder's initial output bias) and the
    class attributes ``variance`` (of one component), ``kl_warmup`` (whether the KL term
    is warmed up) and ``step_size_schedule`` (whether the step size may be annealed).
    """

    registry = PRIORS
    n_posterior_params: int
    variance = 1.0
    kl_warmup = True
    step_size_schedule = True

    # -------------------------------------------------------------- settings

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The constructor's arguments: the prior's settings."""
        if cls.__init__ is object.__init__:
            return ()
        parameters = inspect.signature(cls.__init__).parameters.values()
        return tuple(p.name for p in parameters
                     if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD)

    @classmethod
    def from_params(cls, params: dict) -> "Prior":
        """The prior with the settings found among ``params`` (an estimator's)."""
        return cls(**{name: params[name] for name in cls.setting_names() if name in params})

    def settings(self) -> dict:
        """The settings as plain values, in constructor order."""
        return {name: getattr(self, name) for name in self.setting_names()}

    def fingerprint_text(self) -> str:
        """What the compression fingerprint records of the prior: class and settings."""
        return f"{type(self).__name__}:" + ",".join(str(v) for v in self.settings().values())

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.settings() == self.settings()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.settings().items())))

    # -------------------------------------------------------------- contract

    @abstractmethod
    def posterior(self, encoder_output: torch.Tensor) -> tuple: ...

    @abstractmethod
    def noise(self, shape, generator, device="cpu", dtype=torch.float32) -> tuple: ...

    @abstractmethod
    def draw(self, posterior, noise, straight_through: bool = False) -> torch.Tensor: ...

    @abstractmethod
    def kl_terms(self, posterior) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    @abstractmethod
    def code(self, posterior) -> torch.Tensor: ...

    @abstractmethod
    def sample(self, n_samples, n_latent, generator, device="cpu") -> torch.Tensor: ...

    @abstractmethod
    def cdf(self, x: np.ndarray) -> np.ndarray: ...

    def kl(self, posterior) -> torch.Tensor:
        """KL(q(z | x) || p(z)) per row and component, in nats."""
        discountable, charged = self.kl_terms(posterior)
        return discountable if charged is None else discountable + charged

    def rate_violation(self, posterior) -> torch.Tensor | None:
        """A constraint on the batch's codes that training holds at zero; none here."""
        return None

    def log_density(self, z: torch.Tensor) -> torch.Tensor | None:
        """``log p(z)`` per row, up to a constant, for codes ``z``; None when the prior
        has no density to climb (imputation then keeps the encoder's codes)."""
        return None

    def log_weight(self, posterior, noise) -> torch.Tensor | None:
        """``log p(z) - log q(z | x)`` per draw and row, in nats, for the draws ``z =
        draw(posterior, noise)``: the importance weight of each draw, which the
        importance-weighted bound needs. None when the prior or its posterior has no
        density to evaluate (the bound is then the ELBO)."""
        return None

    def init_encoder_output(self, bias: torch.Tensor) -> None:  # noqa: B027 (optional hook)
        """Adjust the initial bias of the encoder's output layer; here: keep it."""


def _gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)) per entry, in nats."""
    return 0.5 * (mean.square() + log_var.exp() - log_var - 1.0)


def _gaussian_entropy(log_var: torch.Tensor) -> torch.Tensor:
    return 0.5 * (math.log(2.0 * math.pi * math.e) + log_var)


def _split_mean_log_var(encoder_output: torch.Tensor, n_params: int):
    mean, log_var, *rest = encoder_output.chunk(n_params, dim=-1)
    return (mean.clamp(-_MEAN_BOUND, _MEAN_BOUND), log_var.clamp(*_LOG_VAR_BOUNDS), *rest)


def _gaussian_draw(mean, log_var, normal):
    return mean + torch.exp(0.5 * log_var) * normal


def _normal_noise(shape, generator, device, dtype):
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


def _normal_cdf(x) -> np.ndarray:
    return torch.special.ndtr(torch.as_tensor(x, dtype=torch.float64)).numpy()


class _DiagonalGaussianPosterior(Prior):
    """Shared by the priors whose posterior is a diagonal Gaussian ``(mean, log_var)``
    and whose code is its mean; the prior's own parts stay abstract."""

    n_posterior_params = 2

    def posterior(self, encoder_output):
        return _split_mean_log_var(encoder_output, self.n_posterior_params)

    def noise(self, shape, generator, device="cpu", dtype=torch.float32):
        """Standard normal draws of ``shape``, one per code entry."""
        return (_normal_noise(shape, generator, device, dtype),)

    def draw(self, posterior, noise, straight_through=False):
        return _gaussian_draw(posterior[0], posterior[1], noise[0])

    def code(self, posterior):
        """The representation of a row: its posterior mean."""
        return posterior[0]

    def log_weight(self, posterior, noise):
        log_prior = self.normalised_log_density(self.draw(posterior, noise))
        if log_prior is None:
            return None
        # log q(z | x) of z = mean + std * normal: the Gaussian density at ``normal``,
        # less the log of the scale.
        log_posterior = -0.5 * (noise[0].square() + _LOG_2PI + posterior[1]).sum(dim=-1)
        return log_prior - log_posterior

    def normalised_log_density(self, z: torch.Tensor) -> torch.Tensor | None:
        """``log p(z)`` per row, in nats, normalised; None where not known."""
        return None


class StandardNormalPrior(_DiagonalGaussianPosterior, name="normal"):
    """Independent standard normal components, the classic VAE prior.

    The posterior is a diagonal Gaussian ``(mean, log_var)``; codes are its means, dense.
    """

    def kl_terms(self, posterior):
        return _gaussian_kl(*posterior[:2]), None

    def log_density(self, z):
        return -0.5 * z.square().sum(dim=-1)

    def normalised_log_density(self, z):
        return -0.5 * (z.square() + _LOG_2PI).sum(dim=-1)

    def sample(self, n_samples, n_latent, generator, device="cpu"):
        return torch.randn((n_samples, n_latent), generator=generator, device=device)

    def cdf(self, x):
        return _normal_cdf(x)


class LaplacePrior(_DiagonalGaussianPosterior, name="laplace"):
    """Independent Laplace components with unit variance (scale ``1/sqrt(2)``).

    Heavier tails and a sharper peak at zero than the normal prior: the KL favours codes
    with many entries near zero and a few large ones. The posterior stays a diagonal
    Gaussian, and codes are its means, so entries are small but not exactly zero.
    """

    scale = 1.0 / math.sqrt(2.0)

    def kl_terms(self, posterior):
        mean, log_var = posterior[:2]
        std = torch.exp(0.5 * log_var)
        # E|z| for z ~ N(mean, std**2), in closed form.
        expected_abs = (
            std * math.sqrt(2.0 / math.pi) * torch.exp(-0.5 * (mean / std).square())
            + mean * torch.erf(mean / (std * math.sqrt(2.0)))
        )
        log_normaliser = math.log(2.0 * self.scale)
        return -_gaussian_entropy(log_var) + log_normaliser + expected_abs / self.scale, None

    def log_density(self, z):
        return -z.abs().sum(dim=-1) / self.scale

    def normalised_log_density(self, z):
        return -(z.abs() / self.scale + math.log(2.0 * self.scale)).sum(dim=-1)

    def sample(self, n_samples, n_latent, generator, device="cpu"):
        # Inverse CDF: a uniform in (-1/2, 1/2) maps to a Laplace draw.
        u = torch.rand((n_samples, n_latent), generator=generator, device=device) - 0.5
        return -self.scale * torch.sign(u) * torch.log1p(-2.0 * u.abs())

    def cdf(self, x):
        x = np.asarray(x, dtype=np.float64)
        return 0.5 + 0.5 * np.sign(x) * -np.expm1(-np.abs(x) / self.scale)


class SpikeSlabPrior(Prior, name="spike_slab"):
    """Spike and slab: each component is exactly zero, or with probability
    ``nonzero_fraction`` a standard normal draw.

    The posterior of a component is the same mixture, with its own probability of being
    non-zero ``sigmoid(logit)`` and a Gaussian slab ``(mean, log_var)``, as in Variational
    Sparse Coding (Tonolini et al., 2019). The KL splits into the slab's Gaussian KL,
    weighted by that probability, and the KL between the two Bernoulli on/off
    distributions; the second is what keeps codes sparse, so free bits never discount it.

    Training draws the on/off gate as an exact Bernoulli sample, passing gradients through
    a relaxed (binary concrete) version of it: the decoder sees exact zeros in training,
    as it does after ``transform``. ``code`` is the slab mean where the posterior says "on"
    more likely than not, and exactly zero elsewhere.

    Parameters
    ----------
    nonzero_fraction : float, default=0.2
        Prior probability that a component is non-zero, in (0, 1).
    """

    n_posterior_params = 3
    temperature = 0.5  # of the binary concrete relaxation used for gradients only
    # A lighter KL early on left the codes below their target rate.
    kl_warmup = False
    # The rate constraint's multiplier (dual ascent) needs weights that keep moving: with
    # the step size annealed to zero the rate settled under target and reconstructions
    # got worse (both measured: docs/benchmarks.rst, "Design measurements").
    step_size_schedule = False

    def __init__(self, nonzero_fraction: float = 0.2):
        if not 0.0 < nonzero_fraction < 1.0:
            raise ValueError(f"nonzero_fraction must lie in (0, 1), got {nonzero_fraction!r}.")
        self.nonzero_fraction = float(nonzero_fraction)
        self.variance = self.nonzero_fraction

    def posterior(self, encoder_output):
        return _split_mean_log_var(encoder_output, self.n_posterior_params)

    def noise(self, shape, generator, device="cpu", dtype=torch.float32):
        normal = _normal_noise(shape, generator, device, dtype)
        uniform = torch.rand(shape, generator=generator, device=device, dtype=dtype)
        # Logistic noise: logit + noise > 0 happens with probability sigmoid(logit).
        eps = torch.finfo(dtype).eps
        uniform = uniform.clamp(eps, 1.0 - eps)
        return normal, torch.log(uniform) - torch.log1p(-uniform)

    def draw(self, posterior, noise, straight_through=False):
        mean, log_var, logit = posterior
        slab = _gaussian_draw(mean, log_var, noise[0])
        shifted = logit + noise[1]
        gate = (shifted > 0).to(slab.dtype)
        if straight_through:
            relaxed = torch.sigmoid(shifted / self.temperature)
            gate = gate + relaxed - relaxed.detach()
        return gate * slab

    def kl_terms(self, posterior):
        mean, log_var, logit = posterior
        p_on = torch.sigmoid(logit)
        prior_on = self.nonzero_fraction
        # Bernoulli(p_on) || Bernoulli(prior_on), with logsigmoid for stable logs.
        selection = (
            p_on * (F.logsigmoid(logit) - math.log(prior_on))
            + (1.0 - p_on) * (F.logsigmoid(-logit) - math.log1p(-prior_on))
        )
        return p_on * _gaussian_kl(mean, log_var), selection

    def code(self, posterior):
        mean, _, logit = posterior
        return torch.where(logit > 0, mean, torch.zeros_like(mean))

    def init_encoder_output(self, bias):
        # Start every gate at the target rate: a gate that starts at 1/2 must first be
        # pushed down hard, and a push that overshoots can switch all of them off.
        with torch.no_grad():
            bias.chunk(self.n_posterior_params)[2].fill_(
                math.log(self.nonzero_fraction / (1.0 - self.nonzero_fraction))
            )

    def rate_violation(self, posterior):
        """Fraction of non-zero entries that ``code`` gives the batch, relative to the
        target, minus one. Its gradient is that of the posterior's expected fraction
        (straight through): the constraint is on the codes users get, which are the
        posterior's most likely on/off state, not on the expected number of draws."""
        logit = posterior[2]
        soft = torch.sigmoid(logit).mean()
        hard = (logit > 0).to(soft.dtype).mean()
        return (hard + soft - soft.detach()) / self.nonzero_fraction - 1.0

    def sample(self, n_samples, n_latent, generator, device="cpu"):
        shape = (n_samples, n_latent)
        on = torch.rand(shape, generator=generator, device=device) < self.nonzero_fraction
        return torch.randn(shape, generator=generator, device=device) * on

    def cdf(self, x):
        spike = (np.asarray(x) >= 0).astype(np.float64)
        return (1.0 - self.nonzero_fraction) * spike + self.nonzero_fraction * _normal_cdf(x)


# Gauss-Hermite rule for expectations under a Gaussian posterior: exact for polynomials
# of degree up to 2 * _HERMITE_NODES - 1, and the Student-t log-density is smooth.
_HERMITE_NODES = 24


class StudentTPrior(_DiagonalGaussianPosterior, name="student_t"):
    """Independent Student-t components scaled to unit variance.

    Heavier tails than the normal prior: a few rows may take large codes without a large
    KL, while most stay near the centre. The fewer the ``degrees_of_freedom``, the heavier
    the tails; many degrees of freedom approach the normal prior. The posterior is a
    diagonal Gaussian and codes are its means. The KL has no closed form: its expectation
    of the prior's log-density is a deterministic Gauss-Hermite sum.

    Parameters
    ----------
    degrees_of_freedom : float, default=5.0
        Degrees of freedom of the t distribution, above 2 (its variance is finite only
        there).
    """

    def __init__(self, degrees_of_freedom: float = 5.0):
        if not degrees_of_freedom > 2.0:
            raise ValueError(
                f"degrees_of_freedom must be above 2 (a t distribution has finite variance "
                f"only there), got {degrees_of_freedom!r}."
            )
        self.degrees_of_freedom = float(degrees_of_freedom)

    @property
    def scale(self) -> float:
        """The t distribution's scale that gives unit variance."""
        v = self.degrees_of_freedom
        return math.sqrt((v - 2.0) / v)

    def _log_density(self, z: torch.Tensor) -> torch.Tensor:
        v, s = self.degrees_of_freedom, self.scale
        log_normaliser = (math.lgamma((v + 1) / 2) - math.lgamma(v / 2)
                          - 0.5 * math.log(v * math.pi) - math.log(s))
        return log_normaliser - 0.5 * (v + 1) * torch.log1p((z / s).square() / v)

    def normalised_log_density(self, z):
        return self._log_density(z).sum(dim=-1)

    def kl_terms(self, posterior):
        mean, log_var = posterior[:2]
        nodes, weights = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
        nodes = torch.as_tensor(nodes * math.sqrt(2.0), dtype=mean.dtype, device=mean.device)
        weights = torch.as_tensor(weights / math.sqrt(math.pi), dtype=mean.dtype,
                                  device=mean.device)
        z = mean.unsqueeze(-1) + torch.exp(0.5 * log_var).unsqueeze(-1) * nodes
        expected_log_prior = (self._log_density(z) * weights).sum(dim=-1)
        return -_gaussian_entropy(log_var) - expected_log_prior, None

    def sample(self, n_samples, n_latent, generator, device="cpu"):
        # Inverse CDF of uniforms from the generator (on the CPU, where scipy runs).
        eps = np.finfo(np.float64).eps
        u = torch.rand((n_samples, n_latent), generator=generator, dtype=torch.float64)
        t = special.stdtrit(self.degrees_of_freedom, u.numpy().clip(eps, 1 - eps))
        return torch.as_tensor(t * self.scale, dtype=torch.float32, device=device)

    def cdf(self, x):
        return special.stdtr(self.degrees_of_freedom, np.asarray(x, np.float64) / self.scale)


def resolve_prior(prior, params: dict) -> Prior:
    """A fresh prior object for the estimator's ``prior`` parameter: a registered name
    (its settings read from ``params``) or a ``Prior`` (copied)."""
    if isinstance(prior, Prior):
        return type(prior)(**prior.settings())
    return PRIORS[prior].from_params(params)


def build_prior(name: str, settings: dict) -> Prior:
    """The registered prior ``name`` with ``settings`` (as saved in a model's spec)."""
    return PRIORS[name](**settings)
