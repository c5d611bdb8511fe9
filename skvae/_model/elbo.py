"""The evidence lower bound: the training criterion, and the deterministic per-row ELBO
that scores, held-out checks and ``score_samples`` report."""

import math

import torch
from torch import nn

# Standard-normal draws per row used by ``elbo``: the same draws for every row,
# so that scores are deterministic and do not depend on which rows share a batch.
_ELBO_NOISE_DRAWS = 16


def balanced_noise(prior, n_latent: int, n_draws: int = _ELBO_NOISE_DRAWS,
                    seed: int = 0) -> tuple[torch.Tensor, ...]:
    """``n_draws`` (even) posterior noise draws of shape ``(draws, 1, n_latent)``,
    drawn on the CPU from a fixed ``seed`` so that every device gets the same ones.

    Antithetic (each draw comes with its negative) and with the Gaussian part scaled to
    unit mean square per component: the draws' mean and variance are exact, so the
    expected log-likelihood of a decoder that is linear in the code (probabilistic PCA's)
    is computed exactly, and the ELBO of the PPCA start equals PCA's log-likelihood.
    """
    half = prior.noise((n_draws // 2, 1, n_latent), torch.Generator().manual_seed(seed))
    gaussian, *rest = (torch.cat([part, -part]) for part in half)
    gaussian = gaussian / gaussian.square().mean(dim=0, keepdim=True).sqrt()
    return (gaussian, *rest)


class NegativeELBO(nn.Module):
    """Criterion: mean over rows of ``reconstruction + beta * KL``, in nats, with free bits.

    The reconstruction term is the negative log-likelihood summed over features, so that
    with ``beta=1`` and ``free_bits=0`` the loss is the negative evidence lower bound.

    With ``free_bits > 0`` each latent dimension's KL, averaged over the batch, is charged
    no less than ``free_bits`` nats (Kingma et al. 2016). A dimension may then carry that
    much information at no cost, so training does not switch dimensions off before the
    decoder has learnt to use them: without it a dimension that starts out unused gets no
    gradient to become useful, and the model settles for fewer dimensions than the data
    has. Only the part of the KL that the prior marks as discountable gets free bits: the
    on/off part of a sparse prior is always charged, or codes would not be sparse.

    A prior with a target rate of non-zero code entries (spike and slab) gets it as a
    constraint rather than a hint. Its per-entry KL alone lets the rate settle well above
    the target (docs/benchmarks.rst, "Design measurements"), because a Gaussian
    likelihood pays several nats for each entry switched off. So the loss adds
    ``multiplier * violation``, where ``violation`` is the batch's relative excess over
    the target, and ``multiplier`` (a Lagrange multiplier, kept in a buffer) rises by
    ``multiplier_step`` times the violation after each batch while the rate is too high
    and falls back towards zero when it is not (dual ascent).

    The KL term is warmed up: over the first ``warmup_steps`` optimisation steps its
    weight rises linearly from ``warmup_start * beta`` to ``beta``. A model that starts
    at probabilistic PCA sits where the full-weight ELBO gives the nonlinear parts no
    reason to move: the posterior is as broad as the linear model's noise, so a
    nonlinear decoder has nothing precise to work from, and an encoder has no reason to
    become precise for a linear decoder. A lighter KL term lets both sharpen first (on
    ``make_swiss_roll`` the full-weight start never left PCA). Priors with a target
    rate of non-zero entries are not warmed up (``warmup_steps=0``, see
    ``kl_warmup`` on the priors). The steps taken are kept in a buffer, so
    ``partial_fit`` continues the schedule.
    """

    def __init__(self, beta: float = 1.0, free_bits: float = 0.0, multiplier_step: float = 1.0,
                 warmup_steps: int = 0, warmup_start: float = 1.0):
        super().__init__()
        self.beta = beta
        self.free_bits = free_bits
        self.multiplier_step = multiplier_step
        self.warmup_steps = warmup_steps
        self.warmup_start = warmup_start
        self.register_buffer("rate_multiplier", torch.tensor(0.0))
        self.register_buffer("steps_done", torch.tensor(0, dtype=torch.int64))

    def kl_weight(self) -> float:
        """The weight of the KL term at the current step: ``beta`` after the warm-up."""
        done = int(self.steps_done)
        if done >= self.warmup_steps:
            return self.beta
        return self.beta * (self.warmup_start + (1.0 - self.warmup_start) * done
                            / self.warmup_steps)

    def forward(self, y_pred, x, likelihood, prior):
        """Return ``(loss, reconstruction per row, KL per row)``."""
        decoded, *posterior = y_pred
        reconstruction = -likelihood.log_prob(x, decoded)
        discountable, always_charged = prior.kl_terms(posterior)
        charged_kl = discountable.mean(dim=0).clamp(min=self.free_bits).sum()
        kl_per_row = discountable.sum(dim=-1)
        if always_charged is not None:
            charged_kl = charged_kl + always_charged.mean(dim=0).sum()
            kl_per_row = kl_per_row + always_charged.sum(dim=-1)
        loss = reconstruction.mean() + self.kl_weight() * charged_kl
        if self.training:
            self.steps_done += 1
        violation = prior.rate_violation(posterior)
        if violation is not None and self.training:
            # A copy: the buffer is updated below, before the backward pass needs it.
            loss = loss + self.rate_multiplier.clone() * violation
            step = self.multiplier_step * violation.detach()
            self.rate_multiplier.copy_((self.rate_multiplier + step).clamp(min=0.0))
        return loss, reconstruction, kl_per_row



def elbo(module, x: torch.Tensor, posterior: tuple | None = None) -> torch.Tensor:
    """Per-row evidence lower bound of ``module`` with ``beta=1``, in nats.

    The expected log-likelihood is averaged over a fixed set of posterior draws, the
    same for every row, so the result is deterministic and row-wise. ``posterior`` is
    the rows' posterior when the caller has it already (default: ``module.encode(x)``).
    """
    if posterior is None:
        posterior = module.encode(x)
    decoded = decoded_draws(module, posterior)
    log_lik = module.likelihood.log_prob(x.repeat(_ELBO_NOISE_DRAWS, 1), decoded)
    expected_log_lik = log_lik.reshape(_ELBO_NOISE_DRAWS, len(x)).mean(dim=0)
    return expected_log_lik - module.prior.kl(posterior).sum(dim=-1)


def decoded_draws(module, posterior: tuple) -> torch.Tensor:
    """The decoder's output at the ELBO's fixed posterior draws of each row:
    ``(_ELBO_NOISE_DRAWS * n_rows, output width)``, draw by draw, so that row ``i`` of
    draw ``d`` pairs with ``x.repeat(_ELBO_NOISE_DRAWS, 1)[d * n_rows + i]``."""
    prior = module.prior
    device = posterior[0].device
    noise = tuple(part.to(device) for part in balanced_noise(prior, module.n_latent))
    return module.decode(prior.draw(posterior, noise).reshape(-1, module.n_latent))


# Draws decoded together by ``importance_weighted_bound``: bounds the temporaries at
# ``_IW_CHUNK`` times a batch's activations, whatever the number of draws.
_IW_CHUNK = 16


def importance_weighted_bound(module, x: torch.Tensor, n_draws: int,
                              posterior: tuple | None = None) -> torch.Tensor | None:
    """Per-row importance-weighted bound on ``log p(x)`` (Burda et al. 2016), in nats:
    ``log mean_k p(x, z_k) / q(z_k | x)`` over ``n_draws`` posterior draws, the same
    antithetic draws for every row, so that it is deterministic and row-wise.

    It lies between the ELBO and ``log p(x)`` and tightens as ``n_draws`` grows; where the
    posterior is exact (probabilistic PCA's start) every draw's weight is ``p(x)`` and the
    bound is the exact log-likelihood at any ``n_draws``. None when the prior has no
    importance weight (``Prior.log_weight``).
    """
    prior, n_latent = module.prior, module.n_latent
    if posterior is None:
        posterior = module.encode(x)
    noise = tuple(part.to(x.device) for part in balanced_noise(prior, n_latent, n_draws, 1))
    log_weights = []
    for start in range(0, n_draws, _IW_CHUNK):
        chunk = tuple(part[start : start + _IW_CHUNK] for part in noise)
        weight = prior.log_weight(posterior, chunk)
        if weight is None:
            return None
        z = prior.draw(posterior, chunk)
        draws = len(chunk[0])
        decoded = module.decode(z.reshape(-1, n_latent))
        log_lik = module.likelihood.log_prob(x.repeat(draws, 1), decoded)
        log_weights.append(log_lik.reshape(draws, len(x)).double() + weight.double())
    return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(n_draws)
