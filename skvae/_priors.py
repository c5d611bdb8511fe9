"""Latent priors p(z) and the posteriors that go with them: one small class per prior.

A prior owns everything that depends on its form, so that the training loop, the
criterion and the estimator never ask which prior they have:

* ``n_posterior_params``: how many numbers per component the encoder emits, and
  ``posterior(encoder_output)`` to split them into a tuple of ``(n_rows, n_components)``
  tensors;
* ``noise`` and ``draw``: reparameterised posterior draws from noise made up front, so
  that callers control the generator and can share one set of draws between rows;
* ``kl_terms``: KL divergence from the posterior to the prior per row and component, in
  nats, as a part that free bits may discount and a part that is always charged;
* ``code``: what ``transform`` reports for a posterior; ``sample``: draws from the prior;
* ``cdf``: the prior's distribution function, for entropy coding quantised codes;
* ``rate_violation``: for priors with a target rate of non-zero entries, how far a batch
  is from it (``None`` otherwise); training holds it at zero, see ``NegativeELBO``.
"""

import math

import numpy as np
import torch
from torch.nn import functional as F

# Keeps exp(log_var) finite in float32 whatever the encoder outputs.
_LOG_VAR_BOUNDS = (-30.0, 20.0)
# Posterior means beyond this many prior standard deviations carry no meaning; bounding
# them keeps the decoder's output finite in float32 for rows far outside the training
# data, whose codes the linear path would otherwise carry along to any size.
_MEAN_BOUND = 1e3


def _gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)) per entry, in nats."""
    return 0.5 * (mean.square() + log_var.exp() - log_var - 1.0)


def _split_mean_log_var(encoder_output: torch.Tensor, n_params: int):
    mean, log_var, *rest = encoder_output.chunk(n_params, dim=-1)
    return (mean.clamp(-_MEAN_BOUND, _MEAN_BOUND), log_var.clamp(*_LOG_VAR_BOUNDS), *rest)


class StandardNormalPrior:
    """Independent standard normal components, the classic VAE prior.

    The posterior is a diagonal Gaussian ``(mean, log_var)``; codes are its means, dense.
    """

    n_posterior_params = 2
    variance = 1.0  # of one component under the prior
    # Whether training warms the KL term up (see NegativeELBO), and whether the step size
    # may follow the schedule that ``learning_rate`` picks (see CosineDecay).
    kl_warmup = True
    step_size_schedule = True

    def posterior(self, encoder_output: torch.Tensor) -> tuple:
        return _split_mean_log_var(encoder_output, self.n_posterior_params)

    def noise(self, shape, generator, device="cpu", dtype=torch.float32) -> tuple:
        """Standard normal draws of ``shape``, one per code entry."""
        return (torch.randn(shape, generator=generator, device=device, dtype=dtype),)

    def draw(self, posterior, noise, straight_through: bool = False) -> torch.Tensor:
        mean, log_var = posterior[:2]
        return mean + torch.exp(0.5 * log_var) * noise[0]

    def kl_terms(self, posterior) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(discountable, always_charged)`` KL per row and component; the second may be
        ``None``. Their sum is the KL divergence from the posterior to the prior."""
        return _gaussian_kl(*posterior[:2]), None

    def kl(self, posterior) -> torch.Tensor:
        """KL(q(z | x) || p(z)) per row and component, in nats."""
        discountable, charged = self.kl_terms(posterior)
        return discountable if charged is None else discountable + charged

    def code(self, posterior) -> torch.Tensor:
        """The representation of a row: its posterior mean."""
        return posterior[0]

    def rate_violation(self, posterior) -> torch.Tensor | None:
        """Relative excess of non-zero code entries over the target; dense: ``None``."""
        return None

    def init_encoder_output(self, bias: torch.Tensor) -> None:
        """Adjust the initial bias of the encoder's output layer; dense: keep it."""

    def sample(self, n_samples, n_components, generator, device="cpu") -> torch.Tensor:
        return torch.randn((n_samples, n_components), generator=generator, device=device)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(z <= x) for one component, in float64."""
        return torch.special.ndtr(torch.as_tensor(x, dtype=torch.float64)).numpy()


class LaplacePrior(StandardNormalPrior):
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
        negative_entropy = -0.5 * (math.log(2.0 * math.pi * math.e) + log_var)
        log_normaliser = math.log(2.0 * self.scale)
        return negative_entropy + log_normaliser + expected_abs / self.scale, None

    def sample(self, n_samples, n_components, generator, device="cpu"):
        # Inverse CDF: a uniform in (-1/2, 1/2) maps to a Laplace draw.
        u = torch.rand((n_samples, n_components), generator=generator, device=device) - 0.5
        return -self.scale * torch.sign(u) * torch.log1p(-2.0 * u.abs())

    def cdf(self, x):
        x = np.asarray(x, dtype=np.float64)
        return 0.5 + 0.5 * np.sign(x) * -np.expm1(-np.abs(x) / self.scale)


class SpikeSlabPrior(StandardNormalPrior):
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
    """

    n_posterior_params = 3
    temperature = 0.5  # of the binary concrete relaxation used for gradients only
    # A lighter KL early on left the codes 10-20 % below their target rate, measured.
    kl_warmup = False
    # The rate constraint's multiplier (dual ascent) needs weights that keep moving: with
    # the step size annealed to zero, digits-like sparse data (tests/test_priors.py) kept
    # codes 20 % under a target rate of 0.1 and reconstructed 1.4-2.9x worse, measured.
    step_size_schedule = False

    def __init__(self, nonzero_fraction: float = 0.2):
        self.nonzero_fraction = float(nonzero_fraction)
        self.variance = self.nonzero_fraction

    def noise(self, shape, generator, device="cpu", dtype=torch.float32):
        normal = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        uniform = torch.rand(shape, generator=generator, device=device, dtype=dtype)
        # Logistic noise: logit + noise > 0 happens with probability sigmoid(logit).
        eps = torch.finfo(dtype).eps
        uniform = uniform.clamp(eps, 1.0 - eps)
        return normal, torch.log(uniform) - torch.log1p(-uniform)

    def draw(self, posterior, noise, straight_through=False):
        slab = super().draw(posterior, noise)  # the Gaussian part, from noise[0]
        shifted = posterior[2] + noise[1]
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

    def sample(self, n_samples, n_components, generator, device="cpu"):
        shape = (n_samples, n_components)
        on = torch.rand(shape, generator=generator, device=device) < self.nonzero_fraction
        return torch.randn(shape, generator=generator, device=device) * on

    def cdf(self, x):
        spike = (np.asarray(x) >= 0).astype(np.float64)
        return (1.0 - self.nonzero_fraction) * spike + self.nonzero_fraction * super().cdf(x)


def make_prior(name: str, nonzero_fraction: float = 0.2):
    """Build the prior registered under ``name``."""
    if name == "spike_slab":
        return SpikeSlabPrior(nonzero_fraction)
    return PRIOR_CLASSES[name]()


PRIOR_CLASSES = {"normal": StandardNormalPrior, "laplace": LaplacePrior,
                 "spike_slab": SpikeSlabPrior}
PRIORS = tuple(PRIOR_CLASSES)
