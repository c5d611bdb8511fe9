"""skorch callbacks of the training loop: epoch averages of the loss terms, the held-out
ELBO and the stopping rule that keeps only what it confirms, the step-size schedule and
the budget's progress output."""

import math
import re
import sys
import time
from copy import deepcopy

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, PrintLog

from ._elbo import elbo


class EpochTermAverages(Callback):
    """Record the epoch averages of per-batch terms, weighted by batch size.

    One pass over the epoch's batches for all ``names``: a scoring callback per term
    would index the history once per term and epoch, which costs more than the terms.
    """

    def __init__(self, prefix: str, names=("reconstruction", "kl")):
        self.prefix = prefix
        self.names = names

    def on_epoch_end(self, net, **kwargs):
        keys = [f"{self.prefix}_{name}" for name in self.names]
        size_key = f"{self.prefix}_batch_size"
        totals, rows = [0.0] * len(keys), 0
        for batch in net.history[-1]["batches"]:
            if size_key not in batch or keys[0] not in batch:
                continue
            size = batch[size_key]
            rows += size
            for i, key in enumerate(keys):
                totals[i] += size * batch[key]
        if rows:
            for key, total in zip(keys, totals):
                net.history.record(key, total / rows)


# The held-out rows are used twice: the even ones choose the best epoch, the odd ones
# then test it against the start. Testing on the rows that chose it would favour it.
SELECTION, CONFIRMATION = slice(0, None, 2), slice(1, None, 2)


class HeldOutELBO(Callback):
    """Record ``valid_elbo``, the mean ``beta=1`` ELBO (nats per row) of the held-out rows
    that choose the best epoch (``SELECTION``), after every epoch; keep the per-row
    values of all held-out rows from before the first epoch of the call (``start_rows_``)
    and from the latest epoch (``rows_``) for ``KeepBestOnHeldOut``."""

    def on_train_begin(self, net, **kwargs):
        self.start_rows_ = self.rows_ = None

    def on_epoch_begin(self, net, dataset_valid=None, **kwargs):
        if self.start_rows_ is None and dataset_valid is not None:
            self.start_rows_ = self._elbo_rows(net, dataset_valid)

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is not None:
            self.rows_ = self._elbo_rows(net, dataset_valid)
            net.history.record("valid_elbo", float(self.rows_[SELECTION].mean()))

    @staticmethod
    def _elbo_rows(net, dataset) -> np.ndarray:
        # Eval mode: the next training batch switches the module back (_set_training).
        net.module_.eval()
        with torch.inference_mode():
            rows = [elbo(net.module_, x).double().cpu() for x, _ in net.get_iterator(dataset)]
        return torch.cat(rows).numpy()


_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


def plain_print(text: str) -> None:
    """``print``, without the colour codes that mark best values where the output is not
    a terminal (a log file, a notebook's saved output)."""
    print(text if sys.stdout.isatty() else _ANSI_CODES.sub("", text), flush=True)


class EpochTable(Callback):
    """skorch's ``PrintLog`` table of each epoch, printed where this callback stands.

    skorch moves every ``PrintLog`` after all other callbacks, and a stopping rule that
    ends training from its ``on_epoch_end`` skips the callbacks after it: the last epoch's
    row was never printed. This one runs before the stopping rule.
    """

    def __init__(self, sink=plain_print):
        self.sink = sink

    def initialize(self):
        self.log_ = PrintLog(sink=self.sink).initialize()
        return self

    def on_epoch_end(self, net, **kwargs):
        self.log_.on_epoch_end(net, **kwargs)


class CosineDecay(Callback):
    """Set Adam's step size before every training step: from the net's ``lr`` down
    towards zero along half a cosine over ``total_steps`` steps.

    A constant step size leaves the weights jittering around the optimum by an amount set
    by the step size; decaying it lets the last steps settle (docs/benchmarks.rst, "Cost
    at scale").
    """

    def __init__(self, total_steps: int):
        self.total_steps = total_steps

    def on_train_begin(self, net, **kwargs):
        self.steps_done_ = 0

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        progress = min(self.steps_done_, self.total_steps) / self.total_steps
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        self.steps_done_ += 1


class BudgetProgress(Callback):
    """For ``verbose`` output: say the budget when training begins, and record after every
    epoch or round the steps taken out of it (``steps``, e.g. ``"750/3000"``) and the
    seconds since training began (``elapsed``)."""

    def __init__(self, total_steps, round_steps, sink=print):
        self.total_steps = total_steps
        self.round_steps = round_steps
        self.sink = sink

    def on_train_begin(self, net, **kwargs):
        self.steps_done_ = 0
        self.start_ = time.perf_counter()
        if self.total_steps is None:
            return
        unit = (f"rounds of {self.round_steps} steps on randomly drawn rows"
                if self.round_steps else "epochs")
        stop = ("the held-out ELBO" if net.train_split is not None else "the training loss")
        self.sink(f"Training for at most {self.total_steps} steps of {net.batch_size} rows "
                  f"({net.max_epochs} {unit}); it stops sooner when {stop} stops improving.")

    def on_batch_end(self, net, training=False, **kwargs):
        self.steps_done_ += training

    def on_epoch_end(self, net, **kwargs):
        total = "" if self.total_steps is None else f"/{self.total_steps}"
        net.history.record("steps", f"{self.steps_done_}{total}")
        net.history.record("elapsed", round(time.perf_counter() - self.start_, 1))


class PatienceAfterWarmUp(EarlyStopping):
    """skorch's ``EarlyStopping`` on the training loss, idle for the first ``grace_epochs``
    epochs of a fit: while the KL term warms up the loss measures a changing objective."""

    def __init__(self, *args, grace_epochs: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.grace_epochs = grace_epochs

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) > self.grace_epochs:
            super().on_epoch_end(net, **kwargs)


class KeepBestOnHeldOut(EarlyStopping):
    """Early stopping on ``valid_elbo`` that keeps only what the held-out rows call better.

    The weights from before training (for a Gaussian model, probabilistic PCA's solution)
    are the first candidate: training must beat their held-out ELBO by ``tol`` to count as
    an improvement, and stops after ``patience`` epochs without one. At the end the best
    epoch's weights are kept only if their per-row gain over the start is significant on
    the other half of the held-out rows (``CONFIRMATION``, which did not choose the
    epoch): its mean must exceed ``z`` standard errors, the paired test of the two models
    on the same rows. Otherwise the start comes back. On small tables a handful of held-out rows
    would otherwise let noise pass for progress. In the first ``grace_epochs`` epochs (the
    KL warm-up, when the training objective is not yet the ELBO) no epoch counts as a miss.
    """

    def __init__(self, patience, tol, z, grace_epochs=0):
        super().__init__(monitor="valid_elbo", lower_is_better=False, patience=patience,
                         threshold=tol, threshold_mode="abs", load_best=True, sink=print)
        self.z = z
        self.grace_epochs = grace_epochs

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.start_weights_ = deepcopy(net.module_.state_dict())
        self.best_rows_ = None

    def on_epoch_end(self, net, **kwargs):
        recorder = dict(net.callbacks_)["valid_elbo"]
        if self.best_model_weights_ is None:
            # Before the first improvement the start is the best there is.
            self.best_model_weights_ = self.start_weights_
            self.dynamic_threshold_ = self._calc_new_threshold(
                recorder.start_rows_[SELECTION].mean())
        best_before = self.best_epoch_
        try:
            if len(net.history) > self.grace_epochs:
                super().on_epoch_end(net, **kwargs)
            elif self._is_score_improved(net.history[-1, self.monitor]):
                # In the KL warm-up a better epoch is kept, but none counts as a miss.
                self.dynamic_threshold_ = self._calc_new_threshold(net.history[-1, self.monitor])
                self.best_epoch_ = net.history[-1, "epoch"]
                self.best_model_weights_ = deepcopy(net.module_.state_dict())
        finally:
            if self.best_epoch_ != best_before:
                self.best_rows_ = recorder.rows_

    def on_train_end(self, net, **kwargs):
        recorder = dict(net.callbacks_)["valid_elbo"]
        if self.best_rows_ is not None and not self._significant(
            (self.best_rows_ - recorder.start_rows_)[CONFIRMATION]
        ):
            self.best_epoch_, self.best_model_weights_ = 0, self.start_weights_
            self._sink("Keeping the weights from before training: the held-out gain of "
                       "the best epoch is within noise.", verbose=net.verbose)
        super().on_train_end(net, **kwargs)

    def _significant(self, gain: np.ndarray) -> bool:
        if len(gain) < 2:
            return False
        standard_error = gain.std(ddof=1) / math.sqrt(len(gain))
        return gain.mean() > self.z * standard_error


