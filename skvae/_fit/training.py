"""Training: from a ``NetSpec`` and ``TrainingSettings`` to a skorch net, its budget and
callbacks, and what later ``partial_fit`` calls change on it.

Nothing here reads the estimator: the estimator hands over its settings as one typed
value (``TrainingSettings``), and the network is built from the spec recorded at ``fit``.
"""

import dataclasses
import math
import warnings

import torch
from skorch.callbacks import LRScheduler, ProgressBar

from .._data.validation import check_callbacks
from .._io import persistence as _persistence
from .._model.module import build_module
from .._model.priors import PRIORS
from .._model.spec import NetSpec, TrainingSettings
from .callbacks import (
    BudgetProgress,
    CosineDecay,
    EpochTable,
    PatienceAfterWarmUp,
)
from .net import RandomRowSplit, RunOutcome, VAENet
from .threads import ThreadTuner

# With verbose=1, epochs of at least this many batches also get a progress bar: below it
# an epoch passes too quickly for a bar to tell anyone anything.
_PROGRESS_BAR_MIN_BATCHES = 20

# The held-out rule holds out at least this many rows (all but one on smaller tables):
# trained on a handful of rows, a model must face a test all the same, and with fewer
# than two confirming rows the test keeps the start.
_MIN_HELD_OUT_ROWS = 10

# The KL term's weight rises from _KL_WARMUP_START * beta to beta over this many
# optimisation steps (see NegativeELBO); the stopping rules count no misses meanwhile.
_KL_WARMUP_STEPS = 200
_KL_WARMUP_START = 0.05
_KL_WARMUP_MAX_EPOCHS = 20

# max_iter="auto": the training budget. Up to _AUTO_EPOCHS epochs, but at most
# _AUTO_BASE_STEPS optimisation steps plus one per _AUTO_ROWS_PER_STEP training rows, and
# never more than _AUTO_MAX_STEPS: more rows support a more precise model, which takes
# more steps to reach, but beyond 1.5 million rows the steps (and the time) stop growing
# (measurements: docs/benchmarks.rst, "Cost at scale"). Epochs longer than _ROUND_STEPS
# steps are cut into rounds of that many steps on randomly drawn rows, each followed by
# the held-out measurement, so that the stopping rule sees progress on tables of any size.
_AUTO_EPOCHS = 200
_AUTO_BASE_STEPS = 2000
_AUTO_ROWS_PER_STEP = 250
_AUTO_MAX_STEPS = 8000
_ROUND_STEPS = 250

# With max_iter="auto", training is patient for at least this share of the budget's
# epochs: on curved data a patience of 10 epochs stopped training well short of where a
# fifth of the budget took it (docs/benchmarks.rst, "Beyond PCA").
_PATIENCE_SHARE = 0.2

# At most this many rows are held out. The ELBO decodes 16 draws per row, so measuring
# the held-out rows after each round costs training time, and rows held out are rows not
# trained on; 500 rows per half already tell apart the models that the stopping rule
# compares on large tables, whose held-out ELBOs differ by whole nats.
_MAX_HELD_OUT_ROWS = 1000

# Stands for the user's callbacks on a net that has none of them installed yet.
NOT_INSTALLED = object()


def _warmup_steps(spec: NetSpec, per_epoch: int) -> int:
    """At most _KL_WARMUP_STEPS, and at most _KL_WARMUP_MAX_EPOCHS epochs' worth of steps:
    a table of a few hundred rows takes one or two steps an epoch."""
    if not PRIORS[spec.prior].kl_warmup:
        return 0
    return min(_KL_WARMUP_STEPS, _KL_WARMUP_MAX_EPOCHS * per_epoch)


def held_out_rows(settings: TrainingSettings, n_rows: int) -> int:
    """``validation_fraction`` of the rows, but at least _MIN_HELD_OUT_ROWS and at most
    _MAX_HELD_OUT_ROWS, and at most all rows but one; none for fewer than 3 rows."""
    if n_rows < 3:
        return 0
    wanted = max(math.ceil(settings.validation_fraction * n_rows), _MIN_HELD_OUT_ROWS)
    return min(wanted, _MAX_HELD_OUT_ROWS, n_rows - 1)


def holds_out_rows(settings: TrainingSettings, n_rows: int, incremental: bool) -> bool:
    """Whether a fit on ``n_rows`` rows holds some out: ``early_stopping``, not
    ``partial_fit``, and enough rows."""
    return bool(settings.early_stopping and not incremental
                and held_out_rows(settings, n_rows) > 0)


def _training_rows(spec: NetSpec, settings: TrainingSettings) -> int:
    """The rows that are trained on: all but the held-out ones."""
    held_out = held_out_rows(settings, spec.n_rows) if spec.holds_out_rows else 0
    return spec.n_rows - held_out


def steps_per_epoch(spec: NetSpec, settings: TrainingSettings) -> int:
    """Optimisation steps in one epoch over the rows that are trained on."""
    return max(1, math.ceil(_training_rows(spec, settings) / settings.batch_size))


def training_budget(spec: NetSpec, settings: TrainingSettings) -> tuple[int, int | None, int]:
    """``(rounds, round_steps, total_steps)`` for a fit: how many times the callbacks run,
    the steps between two runs (None: one epoch), and the steps in all.

    An int ``max_iter`` is a number of epochs. ``"auto"`` is up to _AUTO_EPOCHS epochs,
    and at most _AUTO_BASE_STEPS steps plus one per _AUTO_ROWS_PER_STEP training rows
    (never more than _AUTO_MAX_STEPS), in rounds of at most _ROUND_STEPS steps.
    """
    per_epoch = steps_per_epoch(spec, settings)
    if settings.max_iter != "auto":
        return settings.max_iter, None, settings.max_iter * per_epoch
    wanted = min(_AUTO_EPOCHS * per_epoch, _AUTO_MAX_STEPS,
                 _AUTO_BASE_STEPS + _training_rows(spec, settings) // _AUTO_ROWS_PER_STEP)
    # Whole epochs or rounds, as many as fit in the budget (at least one).
    if per_epoch <= _ROUND_STEPS:
        rounds = max(1, wanted // per_epoch)
        return rounds, None, rounds * per_epoch
    rounds = max(1, wanted // _ROUND_STEPS)
    return rounds, _ROUND_STEPS, rounds * _ROUND_STEPS


def patience(spec: NetSpec, settings: TrainingSettings) -> int:
    """Epochs (rounds) without improvement before training stops: ``n_iter_no_change``,
    or _PATIENCE_SHARE of the budget's epochs when that is more. On a small table an
    epoch is a handful of steps, and a path that leaves PCA's solution improves its
    held-out ELBO by hundredths of a nat per epoch for hundreds of steps."""
    rounds, _, _ = training_budget(spec, settings)
    if settings.max_iter != "auto":
        return settings.n_iter_no_change
    return max(settings.n_iter_no_change, math.ceil(_PATIENCE_SHARE * rounds))


def build_net(spec: NetSpec, settings: TrainingSettings, device, *,
              install_user_callbacks=True, incremental=False) -> VAENet:
    """An initialised net for ``spec`` that trains with ``settings``; the user's
    callbacks are left out with ``install_user_callbacks=False`` (a loaded model installs
    them at its next ``partial_fit``, so that loading never runs callback code)."""
    module = build_module(
        spec.n_features, spec.n_latent, spec.hidden_layer_sizes,
        likelihood=spec.likelihood, likelihood_settings=spec.likelihood_settings,
        prior=spec.prior, prior_settings=spec.prior_settings,
        feature_mean=spec.feature_mean, feature_scale=spec.feature_scale, seed=spec.seed,
        reads_mask=spec.reads_mask, withheld_fraction=spec.withheld_fraction,
    )
    rounds, round_steps, _ = training_budget(spec, settings)
    net = VAENet(
        module,
        criterion__beta=settings.beta,
        criterion__free_bits=settings.free_bits,
        criterion__warmup_steps=_warmup_steps(spec, steps_per_epoch(spec, settings)),
        criterion__warmup_start=_KL_WARMUP_START,
        optimizer=torch.optim.Adam,
        # The fused kernel updates all parameters in one pass, several times faster.
        optimizer__fused=device.type in ("cpu", "cuda"),
        lr=settings.learning_rate_init,
        max_epochs=rounds,
        round_steps=None if incremental else round_steps,
        batch_size=settings.batch_size,
        train_split=(RandomRowSplit(held_out_rows(settings, spec.n_rows), spec.seed)
                     if spec.holds_out_rows else None),
        callbacks=_callbacks(spec, settings, install_user_callbacks, incremental),
        device=device,
        # Checkpoints and load_params read tensors only, never pickled objects.
        torch_load_kwargs={"weights_only": True},
        verbose=settings.verbose,
        seed=spec.seed,
    )
    return net.initialize()


def _callbacks(spec: NetSpec, settings: TrainingSettings, install_user_callbacks,
               incremental=False) -> list:
    """The thread tuner, the step-size schedule, progress output if ``verbose`` asks for
    it, a fresh copy of the user's callbacks, then the stopping rule: skorch's
    EarlyStopping ends training by raising from on_epoch_end, which skips the callbacks
    after it, so it goes last.

    ``incremental`` (partial_fit) trains at a constant step size: there is no budget for
    a schedule to run over.
    """
    callbacks = [("threads", ThreadTuner())]
    user_callbacks = check_callbacks(settings.callbacks) if install_user_callbacks else []
    _, round_steps, total_steps = training_budget(spec, settings)
    scheduled = PRIORS[spec.prior].step_size_schedule
    if (settings.learning_rate == "cosine" and scheduled and not incremental
            and not _has_lr_scheduler(user_callbacks)):
        callbacks.append(("lr_schedule", CosineDecay(total_steps)))
    per_round = round_steps or steps_per_epoch(spec, settings)
    verbose = settings.verbose
    if verbose >= 2 or (verbose == 1 and per_round >= _PROGRESS_BAR_MIN_BATCHES):
        callbacks.append(("progress_bar", ProgressBar(postfix_keys=["train_loss"])))
    if verbose:
        callbacks.append(("budget", BudgetProgress(
            None if incremental else total_steps, round_steps, sink=print)))
        callbacks.append(("print_log", EpochTable()))
    callbacks += user_callbacks
    grace = math.ceil(_warmup_steps(spec, steps_per_epoch(spec, settings)) / per_round)
    # On the held-out ELBO the best epoch's weights come back at the end; whether they
    # beat the start is for _selection to say.
    held_out = spec.holds_out_rows
    stopping = PatienceAfterWarmUp(
        monitor="valid_elbo_median" if held_out else "train_loss",
        lower_is_better=not held_out,
        load_best=held_out, patience=patience(spec, settings), threshold=settings.tol,
        threshold_mode="abs", sink=print, grace_epochs=grace)
    callbacks.append(("early_stopping", stopping))
    return callbacks


def _has_lr_scheduler(callbacks) -> bool:
    """Whether the user's callbacks set the step size themselves: then theirs governs."""
    return any(isinstance(item[1] if isinstance(item, tuple) else item, LRScheduler)
               for item in callbacks)


def check_architecture_unchanged(spec: NetSpec, current: dict) -> None:
    """``current``: the estimator's parameters that fix the network (``_spec.architecture``)."""
    built = spec.architecture()
    for name in built.keys() | current.keys():
        if built.get(name) != current.get(name):
            raise ValueError(
                f"partial_fit cannot change {name} of a fitted model (fitted with "
                f"{built.get(name)!r}, now {current.get(name)!r}); call fit to train a "
                "new model with it."
            )


def prepare_partial_fit(net, spec: NetSpec, settings: TrainingSettings,
                        installed_callbacks) -> NetSpec:
    """Bring a trained net in line with the current training settings; return the spec
    of the net as it now is (partial_fit holds out no rows). ``installed_callbacks``:
    the user's list the net holds copies of (``NOT_INSTALLED`` for none).

    ``beta``, ``free_bits``, ``learning_rate_init``, ``batch_size``, ``verbose`` and
    ``callbacks`` take effect; the learning rate only when ``learning_rate_init`` itself
    changed, so that a schedule's rate survives.
    """
    net.criterion_.beta = settings.beta
    net.criterion_.free_bits = settings.free_bits
    if settings.learning_rate_init != net.lr:
        net.lr = settings.learning_rate_init
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr
    net.batch_size = settings.batch_size
    # One pass over X, whatever the rounds of the first fit were.
    net.round_steps = None
    scheduled = any(isinstance(callback, CosineDecay) for _, callback in net.callbacks_)
    if scheduled:
        # The schedule took the step size towards zero; partial_fit starts from the full one.
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr
    reinstall = (settings.callbacks is not installed_callbacks
                 or settings.verbose != net.verbose or spec.holds_out_rows or scheduled)
    if reinstall:
        spec = dataclasses.replace(spec, holds_out_rows=False)
        net.train_split = None
        net.verbose = settings.verbose
        net.callbacks = _callbacks(spec, settings, install_user_callbacks=True,
                                   incremental=True)
        net.initialize_callbacks()
        # A learning-rate schedule set up after training started resumes at the current
        # epoch, and torch wants to know the rate it would have started from.
        for group in net.optimizer_.param_groups:
            group.setdefault("initial_lr", group["lr"])
    return spec


def check_device_unchanged(device: torch.device, fitted_device: torch.device) -> None:
    if device != fitted_device:
        raise ValueError(
            f"partial_fit cannot move a fitted model from {fitted_device} to {device}; call "
            f"to({str(device)!r}) first."
        )


def settle_interrupt(net, outcome: RunOutcome, weights_before) -> None:
    """After Ctrl-C: when no epoch finished, put back the weights from before the call
    (``weights_before``, from ``persistence.weights_state``, or None for a first fit)
    and raise ``KeyboardInterrupt``; else warn that training stopped short."""
    if outcome.finished_epochs == 0:
        if weights_before is not None:
            _persistence.restore_weights(net, weights_before)
        raise KeyboardInterrupt
    warnings.warn(
        f"Training was interrupted after {outcome.finished_epochs} complete epoch(s); the "
        "model keeps the weights reached so far. Call partial_fit to train further.",
        UserWarning,
        stacklevel=5,
    )
