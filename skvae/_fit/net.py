"""The skorch net: training loop hooks and in-memory batching.

skorch's default data path builds every batch by indexing a Dataset row by row in Python.
Here a batch is one slice (or one gather) of the training tensor, so an epoch costs what
the arithmetic costs.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from skorch import NeuralNet
from skorch.utils import TeeGenerator

from .._model.elbo import NegativeELBO
from ..exceptions import NonFiniteLossError
from .callbacks import EpochTermAverages, HeldOutELBO


@dataclass(frozen=True)
class RunOutcome:
    """What one call of ``VAENet.run`` did."""

    finished_epochs: int
    # Ctrl-C cut an epoch short (it is not in the history).
    interrupted: bool
    # The stopping rule ended training before the budget did.
    stopped_early: bool


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
    float64 data never needs a full float32 copy. With ``max_batches`` a pass stops after
    that many batches: a *round* of training on a random part of the rows.
    """

    def __init__(self, dataset: RowDataset, batch_size, shuffle, generator, device,
                 max_batches=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.device = device
        self.max_batches = max_batches

    def __len__(self) -> int:
        batches = math.ceil(len(self.dataset) / self.batch_size)
        return batches if self.max_batches is None else min(batches, self.max_batches)

    def __iter__(self):
        X, order = self.dataset.X, self.dataset.indices
        n = len(self.dataset)
        if self.shuffle:
            permutation = torch.randperm(n, generator=self.generator)
            order = permutation if order is None else order[permutation]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            if order is None:
                batch = X[start : start + self.batch_size]
            else:
                batch = X.index_select(0, order[start : start + self.batch_size])
            yield batch.to(self.device, dtype=torch.float32, non_blocking=True), None


class RandomRowSplit:
    """skorch ``train_split``: hold out ``n_valid`` random rows for validation."""

    def __init__(self, n_valid: int, seed: int):
        self.n_valid = n_valid
        self.seed = seed

    def __call__(self, dataset: RowDataset, y=None, **fit_params):
        n, n_valid = len(dataset), self.n_valid
        if not 0 < n_valid < n:
            raise ValueError(f"cannot hold out {n_valid} of {n} rows and train on the rest")
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
    round_steps : int or None
        With an int, each of skorch's "epochs" is a round of at most this many steps on
        randomly drawn rows, after which the callbacks (held-out score, stopping rule)
        run; None makes every epoch a full pass over the training rows.
    **kwargs
        Passed to ``NeuralNet``.
    """

    def __init__(self, module, *args, criterion=NegativeELBO, seed=0, round_steps=None,
                 **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.seed = seed
        self.round_steps = round_steps

    @property
    def _default_callbacks(self):
        base = dict(super()._default_callbacks)
        callbacks = [("epoch_timer", base["epoch_timer"]), ("train_loss", base["train_loss"]),
                     ("train_terms", EpochTermAverages("train"))]
        # Without a validation split there is nothing to average for the valid_ terms.
        if self.train_split is not None:
            callbacks += [("valid_loss", base["valid_loss"]),
                          ("valid_terms", EpochTermAverages("valid")),
                          ("valid_elbo", HeldOutELBO())]
        # The printed log is the estimator's to place: after the budget's progress.
        return callbacks

    def fit_loop(self, X, y=None, epochs=None, run_start=None, **fit_params):
        # After on_train_begin, which may restore a history from a checkpoint (skorch's
        # LoadInitState): the epochs of this run come after it. ``run`` reads it.
        if run_start is not None:
            run_start["epochs"] = len(self.history)
        # Without ``epochs``, train up to max_epochs in all: a history restored from a
        # checkpoint counts, so a resumed fit finishes the run.
        if epochs is None:
            epochs = max(self.max_epochs - len(self.history), 0)
        streams = np.random.SeedSequence([self.seed, len(self.history)])
        batch_seed, noise_seed = streams.generate_state(2)
        self.batch_generator_ = torch.Generator().manual_seed(int(batch_seed))
        self.noise_generator_ = torch.Generator(self.device).manual_seed(int(noise_seed))
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            # Generators are per call: dropping them keeps pickles device-independent.
            self.batch_generator_ = self.noise_generator_ = None

    def run(self, X, epochs=None) -> "RunOutcome":
        """Train (skorch's ``partial_fit``) and say what came of it.

        skorch ends training quietly on Ctrl-C, as it does when a stopping rule raises
        at the end of an epoch: an epoch left incomplete tells the interrupt apart. It
        is dropped from the history.
        """
        run_start = {"epochs": len(self.history)}
        self.partial_fit(X, epochs=epochs, run_start=run_start)
        history, epochs_before = self.history, run_start["epochs"]
        required = ["train_loss"] + (["valid_loss"] if self.train_split is not None else [])
        interrupted = len(history) > epochs_before and any(
            key not in history[-1] for key in required)
        if interrupted:
            history.pop()
        return RunOutcome(len(history) - epochs_before, interrupted,
                          any(epoch.get("stopped_early") for epoch in history[epochs_before:]))

    def _set_training(self, training=True):
        # skorch calls this before every batch; walking the module tree each time costs
        # per-batch time, while the mode only changes between the train and valid passes.
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def train_step(self, batch, **fit_params):
        # The optimizer is Adam, which needs no closure: stepping it directly skips
        # skorch's closure and accumulator, a per-batch cost. Callbacks see the same
        # on_grad_computed notification as in skorch's own train_step.
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch, training=True,
        )
        self._step_optimizer(None)
        return step

    def get_dataset(self, X, y=None):
        return X if isinstance(X, RowDataset) else RowDataset(X)

    def get_iterator(self, dataset, training=False):
        batch_size = len(dataset) if self.batch_size == -1 else self.batch_size
        return RowBatches(
            dataset, batch_size, shuffle=training,
            generator=self.batch_generator_, device=self.device,
            # Saved nets from before rounds existed have no such attribute.
            max_batches=getattr(self, "round_steps", None) if training else None,
        )

    def infer(self, x, **fit_params):
        module = self.module_
        noise = withheld = None
        if module.training:
            noise = module.prior.noise(
                (len(x), module.n_latent), self.noise_generator_,
                device=x.device, dtype=x.dtype,
            )
            if getattr(module, "withheld_fraction", 0.0) > 0.0:
                # Withhold random observed entries from the encoder: the likelihood still
                # scores them, so the model learns to infer entries it cannot see.
                withheld = torch.rand(x.shape, generator=self.noise_generator_,
                                    device=x.device) < module.withheld_fraction
        return module(x, noise, withheld)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        module = self.module_
        loss, reconstruction, kl = self.criterion_(y_pred, X, module.likelihood, module.prior)
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
