"""Inference with a trained module: fixed-size batches, the folded encoder, posteriors,
codes, decoded rows and per-row ELBOs, as NumPy arrays.

Every forward pass has exactly ``BATCH_ROWS`` rows (the last one is padded): matrix-product
kernels pick their summation order by row count, so a fixed count is what makes a row's
result independent of the batch it arrives in.
"""

import warnings

import numpy as np
import torch
from torch import nn

from ._elbo import elbo
from ._module import LinearPlusMLP
from ._streaming import release

# Rows per forward pass: large enough for the matrix products to run near peak, small
# enough that a million rows never become one giant tensor.
BATCH_ROWS = 2048


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A CPU tensor sharing memory with ``array`` (made C-contiguous if it is not)."""
    array = np.ascontiguousarray(array)
    with warnings.catch_warnings():
        # Read-only inputs (memmaps, frozen arrays) are only ever read here.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def check_finite_output(values: np.ndarray) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "The model produced non-finite values for this input; its values may lie "
            "far outside the range of the training data."
        )


class FoldedEncoder:
    """A ``LinearPlusMLP`` encoder for batched inference, at matrix-product speed.

    The input standardisation is folded into the first layers' weights, and every layer
    writes into a buffer allocated once for ``n_rows``-row batches: a batch costs one
    matrix product per layer, the residual's last one accumulated onto the linear path's
    output, with no fresh memory to fault in. Weights are read when it is built, so build
    it again after further training. Transposed weights are stored contiguous: with a
    transposed view, small products (a few outputs) took a kernel whose result for a row
    depended on its place in the batch. Only Linear and ReLU layers are reproduced:
    ``can_fold`` says whether a module's encoder has nothing else.
    """

    def __init__(self, module: nn.Module, n_rows: int, device):
        encoder = module.encoder
        with torch.no_grad():
            def folded(layer):
                weight = layer.weight / module.feature_scale
                return weight.t().contiguous(), layer.bias - weight @ module.feature_mean

            linear_weight, linear_bias = folded(encoder.linear)
            self.residual = []
            layers = encoder.linear_layers()
            if layers:
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

    @staticmethod
    def can_fold(module: nn.Module) -> bool:
        encoder = module.encoder
        return isinstance(encoder, LinearPlusMLP) and encoder.is_foldable()

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


class Inference:
    """A trained ``VAEModule`` on ``device``, applied to NumPy rows batch by batch."""

    def __init__(self, module: nn.Module, device):
        self.module = module
        self.device = device

    @property
    def prior(self):
        return self.module.prior

    @property
    def n_latent(self) -> int:
        return self.module.n_latent

    def batches(self, X: np.ndarray):
        """Yield ``(rows, batch, n_rows)``: fixed-size float32 batches of ``X`` on the
        device, in eval mode without autograd; the last one is zero-padded."""
        self.module.eval()
        with torch.inference_mode():
            for start in range(0, X.shape[0], BATCH_ROWS):
                rows = slice(start, start + BATCH_ROWS)
                batch = shared_tensor(X[rows]).to(self.device, dtype=torch.float32)
                n_rows = len(batch)
                if n_rows < BATCH_ROWS:
                    padding = batch.new_zeros(BATCH_ROWS - n_rows, batch.shape[1])
                    batch = torch.cat([batch, padding])
                yield rows, batch, n_rows
                # A file-backed X stays on disk: the batch's rows were read.
                release(X[rows])

    def posterior_fn(self):
        """A function from one fixed-size batch to the posterior's parameters: through a
        folded encoder built for this call where the encoder allows it (results live
        until the next call), else through the module's own ``encode``."""
        module = self.module
        if not FoldedEncoder.can_fold(module):
            return module.encode
        encoder = FoldedEncoder(module, BATCH_ROWS, self.device)
        return lambda batch: module.prior.posterior(encoder(batch))

    def posteriors(self, X: np.ndarray):
        """Yield ``(rows, n_rows, posterior)`` for fixed-size batches of ``X``."""
        posterior = self.posterior_fn()
        for rows, batch, n_rows in self.batches(X):
            yield rows, n_rows, posterior(batch)

    def map_batches(self, X: np.ndarray, batch_fn, n_outputs: int, dtype) -> np.ndarray:
        """Apply ``batch_fn`` to fixed-size row batches of ``X`` into one output buffer."""
        out = np.empty((X.shape[0], n_outputs), dtype=dtype)
        for rows, batch, n_rows in self.batches(X):
            result = batch_fn(batch)[:n_rows]
            out[rows] = result.reshape(n_rows, n_outputs).cpu().numpy()
        check_finite_output(out)
        return out

    def codes(self, X: np.ndarray, components, dtype) -> np.ndarray:
        """``transform``'s codes of the rows ``X``, for the latent ``components`` listed."""
        prior = self.prior
        kept = torch.as_tensor(components, device=self.device)
        posterior = self.posterior_fn()

        def encode(x):
            return prior.code(posterior(x)).index_select(1, kept)

        return self.map_batches(X, encode, len(components), dtype)

    def decode(self, Z: np.ndarray, n_features: int, seed: int | None = None) -> np.ndarray:
        """Decoder means of full-width codes ``Z``, in data units; with a ``seed``, rows
        drawn from ``p(x | z)`` instead (the likelihood's noise around the means)."""
        module = self.module
        if seed is None:
            def rows(z):
                return module.likelihood.mean(module.decode(z))
        else:
            generator = torch.Generator(self.device).manual_seed(seed)

            def rows(z):
                return module.likelihood.sample(module.decode(z), generator)
        return self.map_batches(Z, rows, n_features, Z.dtype)

    def posterior_draws(self, X: np.ndarray, components, n_draws: int, seed: int) -> np.ndarray:
        """``n_draws`` draws from each row's posterior, for the latent ``components``
        listed: ``(n_draws * n_rows, len(components))``, float64, draw by draw."""
        prior = self.prior
        kept = torch.as_tensor(components, device=self.device)
        posterior = self.posterior_fn()
        generator = torch.Generator(self.device).manual_seed(seed)

        def draw(x):
            found = posterior(x)
            noise = prior.noise(found[0].shape, generator, device=x.device, dtype=x.dtype)
            return prior.draw(found, noise).index_select(1, kept)

        return np.concatenate([self.map_batches(X, draw, len(components), np.float64)
                               for _ in range(n_draws)])

    def sample_codes(self, n_samples: int, generator: torch.Generator) -> np.ndarray:
        """Full-width codes drawn from the prior, float64, on the CPU."""
        Z = self.prior.sample(n_samples, self.n_latent, generator)
        return Z.cpu().numpy().astype(np.float64)

    def elbo(self, X: np.ndarray) -> np.ndarray:
        """Per-row ``beta=1`` ELBO in nats, with the same posterior as ``codes``."""
        posterior = self.posterior_fn()
        return self.map_batches(
            X, lambda x: elbo(self.module, x, posterior(x)), 1, np.float64).ravel()
