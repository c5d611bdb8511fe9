"""Pure PyTorch modules: the VAE (linear paths plus MLP residuals) and its folded encoder."""

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._likelihoods import make_likelihood
from ._ppca import PPCASolution
from ._priors import make_prior


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers through ``sizes`` with ReLU between them (none after the last).

    ReLU rather than a smooth activation such as SiLU: on digits both beat PCA by a similar
    margin, but SiLU's exp made it the costliest elementwise step of training and inference
    on CPU (4-8x ReLU's time at 1024 x 256), while ReLU keeps the time in the matmuls.
    In place, because a Linear layer's backward pass does not need its output: that saves
    one allocation and one memory pass per hidden layer.
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class _RowWiseLinear(nn.Linear):
    """``nn.Linear`` whose result for a row does not depend on the other rows of the batch.

    With the transposed weight view that ``nn.Linear`` multiplies by, products with few
    inputs and outputs (the linear paths: features to a few code parameters, a few codes
    to features) took a kernel whose rounding depended on a row's place in the batch;
    with a contiguous copy of the transpose (a few hundred numbers) they do not.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight.t().contiguous())


class VAEModule(nn.Module):
    """A variational autoencoder with diagonal Gaussian posterior: probabilistic PCA plus a
    nonlinear residual.

    The encoder is a linear map plus an MLP, and so is the decoder; the MLPs' output
    layers start at zero, so that a new module is its linear paths alone. With a Gaussian
    likelihood ``start_from_ppca`` sets those to probabilistic PCA's maximum-likelihood
    solution, so training starts from PCA's model and the MLPs learn what it misses.

    Parameters
    ----------
    n_features : int
        Width of a data row.
    n_components : int
        Width of a latent code.
    hidden_layer_sizes : sequence of int
        Hidden widths of the encoder's residual MLP; the decoder's mirrors them. Empty:
        a linear model.
    likelihood : {"gaussian", "bernoulli"}
        Observation model, see ``_likelihoods``.
    prior : {"normal", "laplace", "spike_slab"}
        Latent prior, see ``_priors``; it also fixes the form of the posterior.
    nonzero_fraction : float
        Prior probability that a spike-and-slab component is non-zero.
    feature_mean, feature_scale : array-like of shape (n_features,)
        Per-feature location and spread of the training data. The encoder sees
        standardised rows, and a Gaussian decoder predicts in standardised units that are
        mapped back, so training behaves the same whatever the units of the data.
    seed : int
        Seed of the weight initialisation. The module draws from its own generator, so
        building it leaves the global torch RNG untouched.

    Notes
    -----
    ``forward(x, noise=None)`` returns the plain tuple ``(decoded, *posterior)``, where
    ``posterior`` is the prior's posterior parameters, ``(mean, log_var)`` for the normal
    and Laplace priors. With ``noise`` (from ``prior.noise``) the decoder sees a
    reparameterised posterior draw, in training mode with straight-through gradients for
    discrete parts; without it, the deterministic code ``prior.code(posterior)``.
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        hidden_layer_sizes: Sequence[int] = (256, 256),
        likelihood: str = "gaussian",
        prior: str = "normal",
        nonzero_fraction: float = 0.2,
        feature_mean=None,
        feature_scale=None,
        seed: int = 0,
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.n_components = n_components
        self.prior = make_prior(prior, nonzero_fraction)
        n_encoder_outputs = self.prior.n_posterior_params * n_components
        # Built on the meta device: nn.Linear would otherwise draw its initial weights
        # from the global RNG. reset_parameters then fills them from a private generator.
        with torch.device("meta"):
            self.encoder_linear = _RowWiseLinear(n_features, n_encoder_outputs)
            self.decoder_linear = _RowWiseLinear(n_components, n_features)
            # The nonlinear residuals; without hidden layers the model is linear.
            self.encoder = _mlp([n_features, *hidden, n_encoder_outputs]) if hidden else None
            self.decoder = _mlp([n_components, *hidden[::-1], n_features]) if hidden else None
        self.to_empty(device="cpu")
        mean = torch.zeros(n_features) if feature_mean is None else feature_mean
        scale = torch.ones(n_features) if feature_scale is None else feature_scale
        self.register_buffer("feature_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("feature_scale", torch.as_tensor(scale, dtype=torch.float32))
        # RMS spread of the data: what a model with no latent code would get wrong.
        data_scale = float(self.feature_scale.square().mean().sqrt())
        self.likelihood = make_likelihood(likelihood, data_scale)
        self.reset_parameters(torch.Generator().manual_seed(seed))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default Linear initialisation, drawn from ``generator``, with the
        residuals' output layers at zero: the model starts as its linear paths alone."""
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        for residual in (self.encoder, self.decoder):
            if residual is not None:
                nn.init.zeros_(residual[-1].weight)
                nn.init.zeros_(residual[-1].bias)
        self.prior.init_encoder_output(self.encoder_linear.bias)

    @torch.no_grad()
    def start_from_ppca(self, solution: PPCASolution) -> None:
        """Set the linear paths and the noise to probabilistic PCA's maximum-likelihood
        model (see ``_ppca``); with zero residuals the module then *is* that model, and
        its exact posterior is what the encoder outputs.

        The decoder predicts standardised values and the encoder reads them, so the
        data-unit solution is rescaled by the feature statistics. Components whose
        variance does not exceed the noise get zero loadings and the prior as posterior.
        """
        mean_f, scale_f = self.feature_mean.double(), self.feature_scale.double()
        noise = max(solution.noise_variance, self.likelihood.min_variance)
        variance = np.maximum(solution.explained_variance, noise)
        loading = torch.as_tensor(np.sqrt(variance - noise))
        variance = torch.as_tensor(variance)
        components = torch.as_tensor(solution.components)  # (k, n_features)
        offset = torch.as_tensor(solution.mean) - mean_f
        # Decoder: x = mean + components.T @ (loading * z), in standardised units.
        self.decoder_linear.weight.copy_(components.t() * loading / scale_f[:, None])
        self.decoder_linear.bias.copy_(offset / scale_f)
        # Encoder: posterior mean (loading / variance) * components @ (x - mean), where
        # x = feature_mean + feature_scale * (standardised x); variance noise / variance.
        to_mean = components * (loading / variance)[:, None]
        k = self.n_components
        weight, bias = self.encoder_linear.weight, self.encoder_linear.bias
        weight[:k] = to_mean * scale_f
        bias[:k] = -(to_mean @ offset)
        weight[k : 2 * k] = 0.0
        bias[k : 2 * k] = torch.log(noise / variance)
        weight[2 * k :] = 0.0  # further posterior parameters keep the prior's bias
        self.likelihood.variance.fill_(noise)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The posterior's parameters, each ``(n_rows, n_components)``."""
        standardised = (x - self.feature_mean) / self.feature_scale
        out = self.encoder_linear(standardised)
        if self.encoder is not None:
            out = out + self.encoder(standardised)
        return self.prior.posterior(out)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output for codes ``z``; ``likelihood.mean`` maps it to data."""
        out = self.decoder_linear(z)
        if self.decoder is not None:
            out = out + self.decoder(z)
        return self.likelihood.unstandardise(out, self.feature_mean, self.feature_scale)

    def forward(
        self, x: torch.Tensor, noise: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, ...]:
        posterior = self.encode(x)
        if noise is None:
            z = self.prior.code(posterior)
        else:
            z = self.prior.draw(posterior, noise, straight_through=self.training)
        return (self.decode(z), *posterior)


class FoldedEncoder:
    """The encoder of a ``VAEModule`` for batched inference, at matrix-product speed.

    The input standardisation is folded into the first layers' weights, and every layer
    writes into a buffer allocated once for ``n_rows``-row batches: a batch costs one
    matrix product per layer, the residual's last one accumulated onto the linear path's
    output, with no fresh memory to fault in. That raised ``transform`` from about 98 to
    117 GFLOP/s on a 2-core CPU (peak ~146). Weights are read when it is built, so build
    it again after further training. Transposed weights are stored contiguous: with a
    transposed view, small products (a few outputs) took a kernel whose result for a row
    depended on its place in the batch.
    """

    def __init__(self, module: VAEModule, n_rows: int, device):
        with torch.no_grad():
            def folded(layer):
                weight = layer.weight / module.feature_scale
                return weight.t().contiguous(), layer.bias - weight @ module.feature_mean

            linear_weight, linear_bias = folded(module.encoder_linear)
            self.residual = []
            if module.encoder is not None:
                layers = [layer for layer in module.encoder if isinstance(layer, nn.Linear)]
                self.residual = [folded(layers[0])] + [
                    (layer.weight.detach().t().contiguous(), layer.bias.detach())
                    for layer in layers[1:]
                ]
                # The residual's output bias joins the linear path's.
                linear_bias = linear_bias + self.residual[-1][1]
        self.linear = (linear_weight, linear_bias)
        self.out = torch.empty(n_rows, linear_weight.shape[1], device=device)
        self.buffers = [torch.empty(n_rows, w.shape[1], device=device)
                        for w, _ in self.residual[:-1]]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output for a batch of exactly ``n_rows`` rows; valid until the next call."""
        weight_t, bias = self.linear
        out = torch.addmm(bias, x, weight_t, out=self.out)
        if self.residual:
            hidden = x
            for (weight_t, bias), buffer in zip(self.residual[:-1], self.buffers):
                hidden = torch.addmm(bias, hidden, weight_t, out=buffer).relu_()
            out.addmm_(hidden, self.residual[-1][0])
        return out
