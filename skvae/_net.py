"""The skorch side: training loop hooks, the ELBO criterion and in-memory batching.

skorch's default data path builds every batch by indexing a Dataset row by row in Python.
Here a batch is one slice (or one gather) of the training tensor, so an epoch costs what
the arithmetic costs.
"""

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring
from torch import nn

from ._priors import make_prior

# Standard-normal draws per row used by ``VAENet.elbo``: the same draws for every row,
# so that scores are deterministic and do not depend on which rows share a batch.
_ELBO_NOISE_DRAWS = 16


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss."""


class NegativeELBO(nn.Module):
    """Criterion: mean over rows of ``reconstruction + beta * KL``, in nats, with free bits.

    The reconstruction term is the negative log-likelihood summed over features, so that
    with ``beta=1`` and ``free_bits=0`` the loss is the negative evidence lower bound.

    With ``free_bits > 0`` each latent dimension's KL, averaged over the batch, is charged
    no less than ``free_bits`` nats (Kingma et al. 2016). A dimension may then carry that
    much information at no cost, so training does not switch dimensions off before the
    decoder has learnt to use them: without it a dimension that starts out unused gets no
    gradient to become useful, and the model settles for fewer dimensions than the data
    has.
    """

    def __init__(self, beta: float = 1.0, free_bits: float = 0.0, prior: str = "normal"):
        super().__init__()
        self.beta = beta
        self.free_bits = free_bits
        self.prior = make_prior(prior)

    def forward(self, y_pred, x, likelihood):
        """Return ``(loss, reconstruction per row, KL per row)``."""
        decoded, mean, log_var = y_pred
        reconstruction = -likelihood.log_prob(x, decoded)
        kl_per_component = self.prior.kl(mean, log_var)
        charged_kl = kl_per_component.mean(dim=0).clamp(min=self.free_bits).sum()
        loss = reconstruction.mean() + self.beta * charged_kl
        return loss, reconstruction, kl_per_component.sum(dim=-1)


class RowDataset(torch.utils.data.Dataset):
    """The rows of one tensor, or the subset of them listed in ``indices``."""

    def __init__(self, X: torch.Tensor, indices: torch.Tensor | None = None):
        self.X = X
        self.indices = indices

    def __len__(self) -> int:
        return len(self.X) if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        row = i if self.indices is None else self.indices[i]
        return self.X[row], 0


class RowBatches:
    """Yield ``(batch, None)`` pairs by slicing or gathering a ``RowDataset``'s tensor.

    Shuffled orders come from ``generator``. Batches are cast to float32 and moved to
    ``device`` here, once, so that the forward pass and the loss see the same tensor and
    float64 data never needs a full float32 copy.
    """

    def __init__(self, dataset: RowDataset, batch_size, shuffle, generator, device):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.device = device

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        X, order = self.dataset.X, self.dataset.indices
        n = len(self.dataset)
        if self.shuffle:
            permutation = torch.randperm(n, generator=self.generator)
            order = permutation if order is None else order[permutation]
        for start in range(0, n, self.batch_size):
            if order is None:
                batch = X[start : start + self.batch_size]
            else:
                batch = X.index_select(0, order[start : start + self.batch_size])
            yield batch.to(self.device, dtype=torch.float32, non_blocking=True), None


class RandomRowSplit:
    """skorch ``train_split``: hold out a random ``fraction`` of the rows for validation."""

    def __init__(self, fraction: float, seed: int):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset: RowDataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = math.ceil(self.fraction * n)
        if n - n_valid < 1:
            raise ValueError(
                f"early_stopping holds out validation_fraction={self.fraction} of the rows, "
                f"which leaves no training rows with n_samples={n}; pass more rows or set "
                "early_stopping=False."
            )
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        valid, train = order[:n_valid].sort().values, order[n_valid:].sort().values
        return RowDataset(dataset.X, train), RowDataset(dataset.X, valid)


class VAENet(NeuralNet):
    """A skorch ``NeuralNet`` that trains a ``VAEModule`` on the negative ELBO.

    Besides the loss it records, per batch and as epoch averages, the reconstruction term
    (``train_reconstruction``) and the KL term (``train_kl``), plus their ``valid_``
    counterparts when a validation split is used.

    Parameters
    ----------
    module : type of VAEModule
    seed : int
        Seed for batch order and posterior noise; each call to ``fit_loop`` derives a
        fresh stream from it and the history length, so repeated runs reproduce exactly.
    **kwargs
        Passed to ``NeuralNet``.
    """

    def __init__(self, module, *args, criterion=NegativeELBO, seed=0, **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.seed = seed

    @property
    def _default_callbacks(self):
        terms = [
            (f"{prefix}_{term}", PassthroughScoring(
                name=f"{prefix}_{term}", on_train=on_train, lower_is_better=None
            ))
            for prefix, on_train in (("train", True), ("valid", False))
            for term in ("reconstruction", "kl")
        ]
        *base, print_log = super()._default_callbacks
        # PrintLog formats a table every epoch even when it prints nothing: without
        # verbose output that cost per epoch buys nothing, so it is left out.
        return base + terms + ([print_log] if self.verbose else [])

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        streams = np.random.SeedSequence([self.seed, len(self.history)])
        batch_seed, noise_seed = streams.generate_state(2)
        self.batch_generator_ = torch.Generator().manual_seed(int(batch_seed))
        self.noise_generator_ = torch.Generator(self.device).manual_seed(int(noise_seed))
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            # Generators are per call: dropping them keeps pickles device-independent.
            self.batch_generator_ = self.noise_generator_ = None

    def _set_training(self, training=True):
        # skorch calls this before every batch; walking the module tree each time costs
        # per-batch time, while the mode only changes between the train and valid passes.
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def get_dataset(self, X, y=None):
        return X if isinstance(X, RowDataset) else RowDataset(X)

    def get_iterator(self, dataset, training=False):
        batch_size = len(dataset) if self.batch_size == -1 else self.batch_size
        return RowBatches(
            dataset, batch_size, shuffle=training,
            generator=self.batch_generator_, device=self.device,
        )

    def infer(self, x, **fit_params):
        noise = None
        if self.module_.training:
            noise = torch.randn(
                (len(x), self.module_.n_components),
                generator=self.noise_generator_, device=x.device, dtype=x.dtype,
            )
        return self.module_(x, noise)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss, reconstruction, kl = self.criterion_(y_pred, X, self.module_.likelihood)
        # One synchronisation for all recorded terms.
        loss_value, mean_reconstruction, mean_kl = (
            torch.stack([loss.detach(), reconstruction.mean(), kl.mean()]).tolist()
        )
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(
                f"the training loss became {loss_value} in epoch {len(self.history)}"
            )
        prefix = "train" if training else "valid"
        history = self.history
        history.record_batch(f"{prefix}_reconstruction", mean_reconstruction)
        history.record_batch(f"{prefix}_kl", mean_kl)
        return loss

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Per-row evidence lower bound with ``beta=1``, in nats.

        The expected log-likelihood is averaged over a fixed set of posterior draws, the
        same for every row, so the result is deterministic and row-wise.
        """
        module = self.module_
        noise = torch.randn(
            (_ELBO_NOISE_DRAWS, 1, module.n_components),
            generator=torch.Generator().manual_seed(0),
        ).to(x.device)
        mean, log_var = module.encode(x)
        z = mean + torch.exp(0.5 * log_var) * noise
        decoded = module.decode(z.reshape(-1, module.n_components))
        log_lik = module.likelihood.log_prob(x.repeat(_ELBO_NOISE_DRAWS, 1), decoded)
        expected_log_lik = log_lik.reshape(_ELBO_NOISE_DRAWS, len(x)).mean(dim=0)
        return expected_log_lik - self.criterion_.prior.kl(mean, log_var).sum(dim=-1)
