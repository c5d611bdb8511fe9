"""Pure PyTorch modules: the VAE, and the linear-plus-MLP network its encoder and decoder
use by default.

``VAEModule`` takes its encoder, decoder, prior and likelihood as objects: any
``nn.Module`` that maps standardised rows to the prior's posterior parameters is an
encoder, any that maps codes to the likelihood's ``output_width`` is a decoder.
``build_module`` makes the default one.
"""

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .likelihoods import Likelihood, build_likelihood
from .ppca import PPCASolution
from .priors import Prior, build_prior


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers through ``sizes`` with ReLU between them (none after the last).

    ReLU rather than a smooth activation such as SiLU: both fit about equally well, but
    SiLU's exp made it the costliest elementwise step on CPU, while ReLU keeps the time in
    the matrix products. In place, because a Linear layer's backward pass does not need
    its output: that saves one allocation and one memory pass per hidden layer.
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def _float32(values) -> torch.Tensor:
    """A float32 tensor of ``values`` (a copy of an array, which may be read-only)."""
    if isinstance(values, torch.Tensor):
        return values.to(torch.float32)
    return torch.tensor(np.asarray(values), dtype=torch.float32)


class _RowWiseLinear(nn.Linear):
    """``nn.Linear`` whose result for a row does not depend on the other rows of the batch.

    With the transposed weight view that ``nn.Linear`` multiplies by, products with few
    inputs and outputs (the linear paths: features to a few code parameters, a few codes
    to features) took a kernel whose rounding depended on a row's place in the batch;
    with a contiguous copy of the transpose (a few hundred numbers) they do not.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight.t().contiguous())


class LinearPlusMLP(nn.Module):
    """``x -> linear(x) + residual(x)``: a linear map plus an MLP (Linear and ReLU layers)
    whose output layer starts at zero, so that a new network is its linear path alone.
    Without hidden layers it is the linear path only."""

    def __init__(self, n_in: int, layer_sizes: Sequence[int], n_out: int):
        super().__init__()
        self.linear = _RowWiseLinear(n_in, n_out)
        self.residual = _mlp([n_in, *layer_sizes, n_out]) if layer_sizes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.residual is not None:
            out = out + self.residual(x)
        return out

    def linear_layers(self) -> list[nn.Linear]:
        return [] if self.residual is None else [
            layer for layer in self.residual if isinstance(layer, nn.Linear)]

    def is_foldable(self) -> bool:
        """Whether the residual holds only Linear and ReLU layers, which is what the
        folded encoder of inference reproduces."""
        return self.residual is None or all(
            type(layer) in (nn.Linear, nn.ReLU) for layer in self.residual)


class VAEModule(nn.Module):
    """A variational autoencoder: encoder, decoder, prior and likelihood.

    Parameters
    ----------
    encoder : nn.Module
        Maps standardised rows ``(n_rows, n_features)`` to the encoder output
        ``(n_rows, prior.n_posterior_params * n_latent)``.
    decoder : nn.Module
        Maps codes ``(n_rows, n_latent)`` to the likelihood's raw output, in standardised
        units, ``(n_rows, likelihood.output_width(n_features))``.
    prior : Prior
        Latent prior; it also fixes the form of the posterior.
    likelihood : Likelihood
        Observation model.
    n_latent : int
        Width of a code.
    feature_mean, feature_scale : array-like of shape (n_features,)
        Per-feature location and spread of the training data. The encoder sees
        standardised rows, and the decoder predicts in standardised units that the
        likelihood maps back, so training behaves the same whatever the units of the data.
    reads_mask : bool, default=False
        Whether rows may hold NaN for missing entries: the encoder then also reads the
        mask of observed entries (``encoder_input``), and the likelihood leaves the
        missing ones out.
    withheld_fraction : float, default=0.0
        Share of observed entries that training withholds from such an encoder (see
        ``VAENet.infer``).

    Notes
    -----
    ``forward(x, noise=None)`` returns the plain tuple ``(decoded, *posterior)``. With
    ``noise`` (from ``prior.noise``) the decoder sees a reparameterised posterior draw, in
    training mode with straight-through gradients for discrete parts; without it, the
    deterministic code ``prior.code(posterior)``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, prior: Prior,
                 likelihood: Likelihood, n_latent: int, feature_mean, feature_scale,
                 reads_mask: bool = False, withheld_fraction: float = 0.0):
        super().__init__()
        self.n_latent = n_latent
        self.prior = prior
        self.register_buffer("feature_mean", _float32(feature_mean))
        self.register_buffer("feature_scale", _float32(feature_scale))
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.reads_mask = reads_mask
        self.withheld_fraction = withheld_fraction
        likelihood.masked = reads_mask

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised rows; for a module that reads a mask, missing entries (NaN) at
        the feature mean, followed by the mask of observed entries (1) so that the
        encoder knows which values are real."""
        standardised = (x - self.feature_mean) / self.feature_scale
        if not self.reads_mask:
            return standardised
        observed = ~torch.isnan(standardised)
        return torch.cat([standardised.masked_fill(~observed, 0.0),
                          observed.to(standardised.dtype)], dim=-1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The posterior's parameters, each ``(n_rows, n_latent)``."""
        return self.prior.posterior(self.encoder(self.encoder_input(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The likelihood's parameters for codes ``z``; ``likelihood.mean`` maps them to
        rows."""
        return self.likelihood.unstandardise(self.decoder(z), self.feature_mean,
                                             self.feature_scale)

    def forward(
        self, x: torch.Tensor, noise: tuple[torch.Tensor, ...] | None = None,
        withheld: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        # ``withheld`` marks observed entries withheld from the encoder (not from the
        # likelihood): training on them teaches the encoder to infer missing values.
        posterior = self.encode(x if withheld is None else x.masked_fill(withheld, math.nan))
        if noise is None:
            z = self.prior.code(posterior)
        else:
            z = self.prior.draw(posterior, noise, straight_through=self.training)
        return (self.decode(z), *posterior)

    @torch.no_grad()
    def start_from_ppca(self, solution: PPCASolution, standardised: bool = False,
                        posterior_variance: float | None = None) -> None:
        """Set the linear paths and the noise to probabilistic PCA's maximum-likelihood
        model (see ``_ppca``); with zero residuals the module then *is* that model, and
        its exact posterior is what the encoder outputs.

        The decoder predicts standardised values and the encoder reads them, so the
        data-unit solution is rescaled by the feature statistics (a ``standardised``
        solution is used as it is). Components whose variance does not exceed the noise
        get zero loadings and the prior as posterior.

        With ``posterior_variance``, the same subspace with precise codes instead, where
        training begins: each loaded component's code is its whitened projection (unit
        variance over the rows) with that posterior variance, and its loading
        ``sqrt(explained variance)``, so that decoding a code gives back the projection,
        PCA's reconstruction. PPCA's exact posterior is as broad as the noise makes it:
        on near-isotropic data (a standardised table, whose eigenvalues are all near
        one) a component's posterior mean is shrunk almost to zero and its posterior is
        nearly the prior, so a nonlinear decoder has nothing precise to learn from and
        training stays at PPCA.
        """
        if not (isinstance(self.encoder, LinearPlusMLP)
                and isinstance(self.decoder, LinearPlusMLP)):
            raise TypeError("start_from_ppca needs LinearPlusMLP encoder and decoder.")
        mean_f, scale_f = self.feature_mean.double(), self.feature_scale.double()
        if standardised:
            mean_f, scale_f = torch.zeros_like(mean_f), torch.ones_like(scale_f)
        noise = self.likelihood.set_noise_variance(solution.noise_variance)
        variance = torch.as_tensor(np.maximum(solution.explained_variance, noise))
        loading = (variance - noise).sqrt()
        log_var = torch.log(noise / variance)
        to_code = loading / variance  # PPCA's posterior mean per unit of projection
        if posterior_variance is not None:
            loaded = loading > 0
            loading = torch.where(loaded, variance.sqrt(), loading)
            to_code = torch.where(loaded, 1.0 / variance.sqrt(), to_code)
            log_var = torch.where(loaded, log_var.clamp(max=math.log(posterior_variance)),
                                  log_var)
        components = torch.as_tensor(solution.components)  # (k, n_features)
        offset = torch.as_tensor(solution.mean) - mean_f
        # Decoder: x = mean + components.T @ (loading * z), in standardised units.
        self.decoder.linear.weight.copy_(components.t() * loading / scale_f[:, None])
        self.decoder.linear.bias.copy_(offset / scale_f)
        # Encoder: posterior mean to_code * components @ (x - mean), where
        # x = feature_mean + feature_scale * (standardised x).
        to_mean = components * to_code[:, None]
        k = self.n_latent
        weight, bias = self.encoder.linear.weight, self.encoder.linear.bias
        n = len(mean_f)
        weight[:, n:] = 0.0  # the mask of observed entries, for a module that reads one
        weight[:k, :n] = to_mean * scale_f
        bias[:k] = -(to_mean @ offset)
        weight[k : 2 * k] = 0.0
        bias[k : 2 * k] = log_var
        weight[2 * k :] = 0.0  # further posterior parameters keep the prior's bias


def _reset_parameters(encoder: LinearPlusMLP, decoder: LinearPlusMLP, prior: Prior,
                      generator: torch.Generator) -> None:
    """PyTorch's default Linear initialisation, drawn from ``generator`` (linear paths
    first, then the residuals' layers), with the residuals' output layers at zero."""
    layers = [encoder.linear, decoder.linear, *encoder.linear_layers(),
              *decoder.linear_layers()]
    for layer in layers:
        bound = 1.0 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    for network in (encoder, decoder):
        if network.residual is not None:
            nn.init.zeros_(network.residual[-1].weight)
            nn.init.zeros_(network.residual[-1].bias)
    prior.init_encoder_output(encoder.linear.bias)


def build_module(n_features: int, n_latent: int, hidden_layer_sizes=(256, 256), *,
                 likelihood: str = "gaussian", prior: str = "normal",
                 prior_settings: dict | None = None, likelihood_settings: dict | None = None,
                 feature_mean=None, feature_scale=None, seed: int = 0,
                 reads_mask: bool = False, withheld_fraction: float = 0.0) -> VAEModule:
    """The default module: linear-plus-MLP encoder and decoder (``hidden_layer_sizes``
    for the encoder's residual, mirrored for the decoder's), a registered prior and
    likelihood with their settings, weights drawn from ``seed``. With ``reads_mask`` the
    encoder also reads which entries are observed (see ``VAEModule.encoder_input``), and
    training withholds ``withheld_fraction`` of them from it.

    The networks are built on the meta device: nn.Linear would otherwise draw initial
    weights from the global RNG. They are then filled from a private generator, so that
    building a module leaves the global torch RNG untouched.
    """
    prior = build_prior(prior, prior_settings or {})
    layer_sizes = list(hidden_layer_sizes)
    mean = np.zeros(n_features) if feature_mean is None else feature_mean
    scale = np.ones(n_features) if feature_scale is None else feature_scale
    # RMS spread of the data: what a model with no latent code would get wrong.
    data_scale = float(_float32(scale).square().mean().sqrt())
    likelihood = build_likelihood(likelihood, likelihood_settings or {}, data_scale)
    with torch.device("meta"):
        n_in = 2 * n_features if reads_mask else n_features
        encoder = LinearPlusMLP(n_in, layer_sizes, prior.n_posterior_params * n_latent)
        decoder = LinearPlusMLP(n_latent, layer_sizes[::-1], likelihood.output_width(n_features))
    encoder.to_empty(device="cpu")
    decoder.to_empty(device="cpu")
    _reset_parameters(encoder, decoder, prior, torch.Generator().manual_seed(seed))
    return VAEModule(encoder, decoder, prior, likelihood, n_latent, mean, scale,
                     reads_mask=reads_mask, withheld_fraction=withheld_fraction)


def flat_name(name: str) -> str:
    """A state name as the module had it before encoders and decoders were objects
    (``encoder_linear.*`` for the linear path, ``encoder.*`` for the residual): the names
    of saved state format 2 and of the compression fingerprint."""
    for part in ("encoder", "decoder"):
        for inner, flat in ((".linear.", "_linear."), (".residual.", ".")):
            prefix = part + inner
            if name.startswith(prefix):
                return part + flat + name[len(prefix):]
    return name
