"""skorch callbacks of the training loop: epoch averages of the loss terms, the held-out
ELBO and the stopping rule on it, the step-size schedule and the budget's progress
output."""

import math
import re
import sys
import time

import torch
from skorch.callbacks import Callback, EarlyStopping, PrintLog

from .._model.elbo import elbo


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


# The held-out rows are used twice: the even ones choose the best epoch (``valid_elbo``),
# the odd ones then test it against the start (``_selection``): testing on the rows that
# chose it would favour it.
SELECTION = slice(0, None, 2)


class HeldOutELBO(Callback):
    """Record, after every epoch, the ``beta=1`` ELBO (nats per row) of the held-out rows
    that choose the best epoch (``SELECTION``): their mean as ``valid_elbo`` and their
    median as ``valid_elbo_median``, which the stopping rule reads.

    On standardised tables the per-row ELBOs are heavy-tailed: a rare spike of 50
    standard deviations costs thousands of nats, more the less noise the model has, so
    the mean of a hundred rows falls while the typical row still gains, and a rule on
    the mean stops too soon (docs/benchmarks.rst, "Beyond PCA"). The choice between the
    best epoch and the start reads the mean, on other rows.
    """

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None:
            return
        # Eval mode: the next training batch switches the module back (_set_training).
        net.module_.eval()
        with torch.inference_mode():
            rows = torch.cat([elbo(net.module_, x).double().cpu()
                              for x, _ in net.get_iterator(dataset_valid)])[SELECTION]
        net.history.record("valid_elbo", float(rows.mean()))
        net.history.record("valid_elbo_median", float(rows.median()))


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
        # The stopping rule's records are for the fit to read, not for the table.
        self.log_ = PrintLog(sink=self.sink,
                             keys_ignored=["best_epoch", "stopped_early"]).initialize()
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
    """skorch's ``EarlyStopping``, idle for the first ``grace_epochs`` epochs of a fit:
    while the KL term warms up the loss measures a changing objective.

    On the held-out ELBO (``valid_elbo_median``, with ``load_best``) it stops when the trained
    path has not beaten its own best for ``patience`` epochs and restores that best; the
    weights from before training are no candidate here, so a path that first dips below
    the start and then climbs above it runs its course. Whether the best epoch beats the
    start is decided once, at the end, on the held-out rows that did not choose it
    (``selection``).

    What it decided is recorded in the history, where the rest of the fit reads it:
    ``stopped_early`` (True) in the epoch it stopped, and with ``load_best`` after every
    epoch ``best_epoch``, the epoch whose weights training ends with.
    """

    def __init__(self, *args, grace_epochs: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.grace_epochs = grace_epochs

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) <= self.grace_epochs:
            return
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            net.history.record("stopped_early", True)
            raise
        finally:
            if self.load_best and self.best_model_weights_ is not None:
                net.history.record("best_epoch", int(self.best_epoch_))
