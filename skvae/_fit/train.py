"""The second stage of a fit: from a ``FitPlan`` to a trained net and the run's summary.

``train`` builds the net (or brings a fitted one in line with the settings), sets where
training begins, trains under the budget and the stopping rule, keeps the trained
weights only if the held-out rows confirm them (``selection``), and returns what
happened as a ``RunSummary``: nothing is left on the net for others to find.
"""

import dataclasses
import warnings
from copy import deepcopy
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._apply.inference import Inference, shared_tensor
from .._io import persistence
from .._model.ppca import ppca_solution
from .._model.spec import NetSpec
from ..exceptions import NonFiniteLossError
from . import training
from .net import VAENet
from .plan import FitPlan
from .selection import CONFIRMATION, SELECTION, Verdict, calibrate_noise, decide, held_out_gain
from .threads import restored_threads

# The posterior variance (prior units) of the codes training begins from, in PCA's
# subspace (``VAEModule.start_from_ppca``): from PPCA's exact posterior, training on
# curved data stayed at PCA's error; from whitened, precise codes it left it
# (docs/benchmarks.rst, "Beyond PCA").
_TRAINING_POSTERIOR_VARIANCE = 0.007


@dataclass(frozen=True)
class RunSummary:
    """What training did, summed over ``fit`` and later ``partial_fit`` calls."""

    n_iter: int
    n_steps: int
    n_samples_seen: int
    loss_curve: list
    validation_loss_curve: list | None
    validation_scores: list | None
    best_epoch: int
    held_out_comparison: dict | None


@dataclass(frozen=True)
class Trained:
    net: VAENet
    spec: NetSpec  # the net as it now is (partial_fit holds out no rows)
    summary: RunSummary


class TrainingDivergedError(ValueError):
    """Training stopped on a non-finite loss; the message says what to try."""


def train(plan: FitPlan, previous=None) -> Trained:
    """Train as ``plan`` says; ``previous`` is the fitted model it continues (its
    ``net``, ``spec``, ``summary`` and ``installed_callbacks``), or None.

    Raises ``TrainingDivergedError`` when the loss stops being finite, and
    ``KeyboardInterrupt`` when Ctrl-C came before an epoch finished (a continued
    model's weights are then put back).
    """
    settings = plan.settings
    if plan.continues:
        net = previous.net
        spec = training.prepare_partial_fit(net, previous.spec, settings,
                                            previous.installed_callbacks)
        start, samples_seen = None, previous.summary.n_samples_seen
        # What an interrupt before the end of this call's epoch puts back.
        weights_before = persistence.weights_state(net)
    else:
        spec = plan.spec
        net = training.build_net(spec, settings, plan.device, incremental=plan.incremental)
        start, samples_seen, weights_before = set_start(net.module_, plan), 0, None
    # float64 rows stay as they are: each batch is cast to float32 when it is drawn,
    # so no second full-size copy of X exists during training.
    X_shared = shared_tensor(plan.training_rows)
    outcome = None
    try:
        # The thread tuner (a callback) sets the count; this puts torch's back. With
        # zero components the start is the maximum-likelihood model: nothing to train.
        with restored_threads():
            if spec.n_components != 0:
                outcome = net.run(X_shared, epochs=1 if plan.incremental else None)
        if outcome is not None and outcome.interrupted:
            training.settle_interrupt(net, outcome, weights_before)
    except NonFiniteLossError as exc:
        raise TrainingDivergedError(
            f"Training diverged: {exc}. Try a smaller learning_rate_init (now "
            f"{settings.learning_rate_init}), standardising X (e.g. with StandardScaler), "
            "or a larger batch_size.") from None
    verdict = None if start is None else _choose_weights(net, start, plan.training_rows)
    summary = _summary(net, samples_seen + plan.rows.shape[0], verdict)
    if (not plan.incremental and summary.n_iter >= net.max_epochs
            and not (outcome is not None and outcome.stopped_early)):
        warnings.warn(
            f"Training used its whole budget (max_iter={settings.max_iter!r}: "
            f"{summary.n_steps} steps) while the "
            f"{'held-out ELBO' if spec.holds_out_rows else 'training loss'} was still "
            f"improving within the last {training.patience(spec, settings)} epochs or "
            f"rounds (the patience: n_iter_no_change={settings.n_iter_no_change}, or a "
            "fifth of the budget's epochs if more); the model may improve with more "
            "training: pass a larger int max_iter (epochs), or call partial_fit.",
            ConvergenceWarning, stacklevel=4)
    return Trained(net, spec, summary)


def set_start(module, plan: FitPlan):
    """Set ``module`` where training begins; return the start that the trained
    weights must beat on the held-out rows (None without held-out rows).

    For a likelihood that starts from PPCA the start is PPCA's solution, a model in
    its own right, and training begins in its subspace with precise codes
    (``VAEModule.start_from_ppca``), or with ``n_components="auto"`` from the initial
    weights; otherwise both are the initial weights.
    """
    spec = plan.spec
    if not module.likelihood.starts_from_ppca:
        return deepcopy(module) if spec.holds_out_rows else None
    initial = deepcopy(module.state_dict()) if spec.select_active else None
    n_loaded = 0 if spec.n_components == 0 else ("mle" if spec.select_active else None)
    solution = ppca_solution(plan.spectrum, spec.n_latent, n_loaded=n_loaded)
    module.start_from_ppca(solution, standardised=plan.standardised)
    if spec.n_components == 0:
        return None  # nothing to train: the start is the model
    start = deepcopy(module) if spec.holds_out_rows else None
    if spec.select_active:
        # "auto" asks for the nonlinear size: from PCA's loadings every linear
        # direction stays in use, so training begins from the initial weights and
        # the KL switches off what the decoder does not need.
        module.load_state_dict(initial)
    else:
        module.start_from_ppca(solution, standardised=plan.standardised,
                               posterior_variance=_TRAINING_POSTERIOR_VARIANCE)
    return start


def _choose_weights(net, start_module, training_rows) -> Verdict:
    """Keep the trained weights if the held-out rows say they beat the start, else
    put the start back (``selection``)."""
    _, valid = net.get_split_datasets(net.get_dataset(shared_tensor(training_rows)))
    held_out = np.asarray(training_rows[valid.indices.numpy()])
    calibrate_noise(net.module_, held_out[SELECTION], net.device)
    gain = held_out_gain(Inference(net.module_, net.device),
                         Inference(start_module, net.device), held_out[CONFIRMATION])
    verdict = decide(gain)
    if not verdict.keep_trained:
        net.module_.load_state_dict(start_module.state_dict())
        if net.verbose:
            print(f"Keeping the weights from before training: on the held-out rows "
                  f"the trained model's gain is {verdict.mean_gain:+.3f} nats/row "
                  f"(better on {verdict.share_better:.0%} of them).", flush=True)
    return verdict


def _summary(net, n_samples_seen: int, verdict: Verdict | None) -> RunSummary:
    """The run's summary from the net's history (the stopping rule records its best
    epoch there) and the held-out verdict."""
    history = net.history
    n_iter = len(history)
    # Epochs of a partial_fit after early stopping have no validation loss.
    valid = [float(epoch["valid_loss"]) for epoch in history if "valid_loss" in epoch]
    scores = [float(epoch["valid_elbo"]) for epoch in history if "valid_elbo" in epoch]
    best_epoch = n_iter
    if verdict is not None:
        # A run that ended within the KL warm-up recorded no best: its last epoch stands.
        recorded = history[-1].get("best_epoch") if n_iter else None
        best_epoch = (n_iter if recorded is None else recorded) if verdict.keep_trained else 0
    return RunSummary(
        n_iter=n_iter, n_steps=int(net.criterion_.steps_done), n_samples_seen=n_samples_seen,
        loss_curve=[float(epoch["train_loss"]) for epoch in history],
        validation_loss_curve=valid or None, validation_scores=scores or None,
        best_epoch=best_epoch,
        held_out_comparison=None if verdict is None else dataclasses.asdict(verdict))
