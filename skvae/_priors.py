"""Latent priors p(z): one small class per prior.

A prior knows three things: the KL divergence from a diagonal Gaussian posterior to
itself (in nats, per row and component), how to draw codes, and which code ``transform``
reports for a posterior.
"""

import torch


class StandardNormalPrior:
    """Independent standard normal components, the classic VAE prior."""

    def kl(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, exp(log_var)) || N(0, 1)) per row and component, in nats."""
        return 0.5 * (mean.square() + log_var.exp() - log_var - 1.0)

    def sample(
        self,
        n_samples: int,
        n_components: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        return torch.randn((n_samples, n_components), generator=generator, device=device)

    def code(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """The representation of a row: its posterior mean."""
        return mean


_PRIORS = {"normal": StandardNormalPrior}


def make_prior(name: str):
    """Build the prior registered under ``name``."""
    return _PRIORS[name]()
