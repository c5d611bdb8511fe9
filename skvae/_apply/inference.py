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

from .._data.streaming import release
from .._model.elbo import elbo, importance_weighted_bound
from .._model.module import LinearPlusMLP

# Rows per forward pass: large enough for the matrix products to run near peak, small
# enough that a million rows never become one giant tensor.
BATCH_ROWS = 2048
# Rows per pass of the importance-weighted bound, which decodes 16 draws of each row at
# once: as many decoded rows as BATCH_ROWS, and a small table's bound does not pay for
# 2,048 padded rows times every draw (0.2 s at 64 draws, whatever the rows).
_BOUND_BATCH_ROWS = 128


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
        return (isinstance(encoder, LinearPlusMLP) and encoder.is_foldable()
                and not getattr(module, "reads_mask", False))

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

    def batches(self, X: np.ndarray, batch_rows: int = BATCH_ROWS):
        """Yield ``(rows, batch, n_rows)``: float32 batches of ``batch_rows`` rows of ``X``
        on the device, in eval mode without autograd; the last one is zero-padded."""
        self.module.eval()
        with torch.inference_mode():
            for start in range(0, X.shape[0], batch_rows):
                rows = slice(start, start + batch_rows)
                batch = shared_tensor(X[rows]).to(self.device, dtype=torch.float32)
                n_rows = len(batch)
                if n_rows < batch_rows:
                    padding = batch.new_zeros(batch_rows - n_rows, batch.shape[1])
                    batch = torch.cat([batch, padding])
                yield rows, batch, n_rows
                # A file-backed X stays on disk: the batch's rows were read.
                release(X[rows])

    def posterior_fn(self, batch_rows: int = BATCH_ROWS):
        """A function from one batch of ``batch_rows`` rows to the posterior's parameters:
        through a folded encoder built for this call where the encoder allows it (results
        live until the next call), else through the module's own ``encode``."""
        module = self.module
        if not FoldedEncoder.can_fold(module):
            return module.encode
        encoder = FoldedEncoder(module, batch_rows, self.device)
        return lambda batch: module.prior.posterior(encoder(batch))

    def posteriors(self, X: np.ndarray):
        """Yield ``(rows, n_rows, posterior)`` for fixed-size batches of ``X``."""
        posterior = self.posterior_fn()
        for rows, batch, n_rows in self.batches(X):
            yield rows, n_rows, posterior(batch)

    def map_batches(self, X: np.ndarray, batch_fn, n_outputs: int, dtype,
                    batch_rows: int = BATCH_ROWS) -> np.ndarray:
        """Apply ``batch_fn`` to fixed-size row batches of ``X`` into one output buffer."""
        out = np.empty((X.shape[0], n_outputs), dtype=dtype)
        for rows, batch, n_rows in self.batches(X, batch_rows):
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
            posterior_params = posterior(x)
            noise = prior.noise(posterior_params[0].shape, generator, device=x.device,
                                dtype=x.dtype)
            return prior.draw(posterior_params, noise).index_select(1, kept)

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

    def log_likelihood_bound(self, X: np.ndarray, n_draws: int) -> np.ndarray:
        """Per-row importance-weighted bound on ``log p(x)`` in nats with ``n_draws``
        draws (``_elbo.importance_weighted_bound``); the ELBO where the prior has no
        importance weight."""
        posterior = self.posterior_fn(_BOUND_BATCH_ROWS)

        def bound(x):
            posterior_params = posterior(x)
            tight = importance_weighted_bound(self.module, x, n_draws, posterior_params)
            return elbo(self.module, x, posterior_params) if tight is None else tight

        return self.map_batches(X, bound, 1, np.float64, _BOUND_BATCH_ROWS).ravel()


# Iterations per batch when imputation refines codes on the observed entries: L-BFGS in
# general, Gauss-Newton (exact in one step for a linear decoder) for the Gaussian model.
_IMPUTE_STEPS = 50
_GAUSS_NEWTON_STEPS = 4


def fill_missing(module, X: np.ndarray, device) -> np.ndarray:
    """``X`` with its missing entries (NaN) replaced by the model's prediction from the
    row's observed entries; observed entries are returned as they are.

    The encoder, which reads the mask of observed entries, gives each row a code; where
    the prior has a density, the code is then refined to the most probable one given the
    observed entries alone (maximising ``log p(x_obs | z) + log p(z)``), and decoded. For
    a linear decoder with Gaussian noise and prior (probabilistic PCA) that code decodes
    to exactly the conditional mean ``E[x_miss | x_obs]``; the encoder's amortised code
    is close to it, not equal.
    """
    module.eval()
    out = np.array(X, dtype=X.dtype, copy=True)
    missing_rows = np.flatnonzero(np.isnan(out).any(axis=1))
    for start in range(0, len(missing_rows), BATCH_ROWS):
        rows = missing_rows[start : start + BATCH_ROWS]
        x = torch.as_tensor(out[rows], device=device, dtype=torch.float32)
        with torch.no_grad():
            z = module.prior.code(module.encode(x))
        if module.prior.name == "normal" and module.likelihood.name == "gaussian":
            z = _gauss_newton_codes(module, x, z)
        elif module.prior.log_density(z) is not None:
            z = _most_probable_codes(module, x, z)
        with torch.no_grad():
            decoded = module.likelihood.mean(module.decode(z)).double().cpu().numpy()
        block = out[rows]
        out[rows] = np.where(np.isnan(block), decoded, block)
    check_finite_output(out)
    return out


def _most_probable_codes(module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Codes maximising ``log p(x_obs | z) + log p(z)`` from ``z``, by L-BFGS; the rows'
    objectives are independent, so one run over their sum serves the batch."""
    z = z.detach().clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([z], max_iter=_IMPUTE_STEPS, line_search_fn="strong_wolfe")

    def objective():
        with torch.enable_grad():
            decoded = module.decode(z)
            loss = -(module.likelihood.log_prob(x, decoded) + module.prior.log_density(z)).sum()
            # Only the codes' gradient: the module's own gradients stay untouched.
            (z.grad,) = torch.autograd.grad(loss, z)
        return loss.detach()

    optimiser.step(objective)
    return z.detach()


def _gauss_newton_codes(module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The most probable codes given the observed entries for the Gaussian likelihood and
    a standard normal prior, by Gauss-Newton steps: each solves the row's linearised
    problem ``min |x_obs - f(z)|^2 / (2 s2) + |z|^2 / 2`` exactly. The problem is badly
    conditioned when the noise ``s2`` is small, which first-order steps crawl through."""
    observed = (~torch.isnan(x)).to(x.dtype)
    target = x.nan_to_num(0.0)
    variance = module.likelihood.variance
    eye = torch.eye(z.shape[1], device=z.device, dtype=z.dtype)

    def decoded_row(code):
        return module.likelihood.mean(module.decode(code[None]))[0]

    jacobian_fn = torch.func.vmap(torch.func.jacfwd(decoded_row))
    with torch.no_grad():
        for _ in range(_GAUSS_NEWTON_STEPS):
            jacobian = jacobian_fn(z) * observed[:, :, None]  # (rows, features, codes)
            residual = (target - module.likelihood.mean(module.decode(z))) * observed
            normal = jacobian.transpose(1, 2) @ jacobian / variance + eye
            gradient = (jacobian.transpose(1, 2) @ residual[:, :, None])[:, :, 0] / variance - z
            # In float64: with little noise the system is badly conditioned for float32.
            z = z + torch.linalg.solve(normal.double(), gradient.double()).to(z.dtype)
    return z
