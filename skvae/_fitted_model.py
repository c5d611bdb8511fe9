"""``FittedModel``: everything a fit produced, in one object, with the operations that
both estimators use.

It holds the trained skorch net, the network's spec, the column layout of a table, the
fit's summaries (diagnostics, PCA's surface, the code density) and the run's summary.
``VAETransformer`` and ``VAEImputer`` use its public methods; it is what a saved model
holds (as plain values, see ``_io.persistence``).
"""

import dataclasses

import numpy as np
import torch

from ._apply.diagnostics import Diagnostics, LinearSurface
from ._apply.inference import Inference, fill_missing
from ._apply.sampling import CodeDensity
from ._data.columns import ColumnLayout
from ._data.validation import check_rows, has_missing
from ._fit import training
from ._fit.plan import check_reads_mask
from ._fit.summarise import Summaries
from ._fit.train import RunSummary, Trained
from ._io import persistence
from ._model.spec import NetSpec, TrainingSettings

# The estimator's fitted attributes that the model provides, the one list of them.
FITTED_ATTRIBUTES = (
    "net_", "n_components_", "kl_per_component_", "active_components_",
    "nonzero_fraction_", "n_iter_", "n_steps_", "n_samples_seen_", "loss_curve_",
    "validation_loss_curve_", "validation_scores_", "best_epoch_", "held_out_comparison_",
    "components_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
    "mean_",
)


class FittedModel:
    """A trained model: net, spec, layout, summaries and the run's summary."""

    def __init__(self, trained: Trained, summaries: Summaries, layout: ColumnLayout | None,
                 settings: TrainingSettings):
        self.net, self.spec, self.summary = trained.net, trained.spec, trained.summary
        self.diagnostics, self.surface = summaries.diagnostics, summaries.surface
        self.density, self.layout = summaries.density, layout
        # Training settings without the user's callbacks: what rebuilds the net.
        self.settings = dataclasses.replace(settings, callbacks=None)
        # The user's callback list the net holds copies of (partial_fit reinstalls
        # them when the list changes; a loaded model holds none).
        self.installed_callbacks = settings.callbacks

    # ------------------------------------------------------------ the model
    @property
    def device(self) -> torch.device:
        return torch.device(self.net.device)

    @property
    def kept_components(self) -> np.ndarray:
        """The latent components ``transform`` returns."""
        return self.diagnostics.kept_components

    @property
    def n_decoded(self) -> int:
        """Columns the decoder describes (a table's categories one-hot encoded)."""
        return int(self.net.module_.feature_mean.numel())

    def inference(self) -> Inference:
        return Inference(self.net.module_, self.net.device)

    def fitted_attributes(self) -> dict:
        """The estimator's fitted attributes (``FITTED_ATTRIBUTES``), by name."""
        diagnostics, surface, summary = self.diagnostics, self.surface, self.summary
        return {
            "net_": self.net, "n_components_": len(diagnostics.kept_components),
            "kl_per_component_": diagnostics.kl_per_component,
            "active_components_": diagnostics.active_components,
            "nonzero_fraction_": diagnostics.nonzero_fraction,
            **{f"{name}_": value for name, value in dataclasses.asdict(summary).items()},
            **{f"{name}_": value for name, value in dataclasses.asdict(surface).items()},
            "mean_": np.array(self.spec.feature_mean),
        }

    # ------------------------------------------------------------ rows in and out
    def encode_input(self, X, estimator, handle_unknown: str) -> np.ndarray:
        """Rows as the network reads them, checked against the columns ``estimator``
        was fitted on: a table's categories one-hot (an unseen one raises, or with
        ``handle_unknown="ignore"`` is missing for a model that reads missing entries,
        else no category), NaN for a missing entry (refused by a model fitted on
        complete rows)."""
        rows = check_rows(estimator, X, reset=False, layout=self.layout,
                          handle_unknown=handle_unknown,
                          unknown_value=np.nan if self.spec.reads_mask else 0.0,
                          ensure_all_finite="allow-nan")
        if has_missing(rows):
            check_reads_mask(self.spec)
        return rows

    def to_output(self, rows: np.ndarray, index=None):
        """Decoded ``rows`` as the user reads them: a table like the training one for a
        table with a layout, else the array itself."""
        return rows if self.layout is None else self.layout.decode(rows, index)

    def codes(self, rows: np.ndarray, dtype) -> np.ndarray:
        """``transform``'s codes: posterior means of the kept components."""
        return self.inference().codes(rows, self.kept_components, dtype)

    def decode(self, Z: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Decoded rows of codes like ``transform``'s: components that
        ``n_components="auto"`` dropped at the prior's centre, zero, and every component
        scaled by the round-trip gain (codes near the float limit overflow here and are
        refused by the finiteness check of the decoded rows). With a ``seed``, rows drawn
        from the likelihood around the decoded means."""
        inference = self.inference()
        if Z.shape[1] < inference.n_latent:
            full = np.zeros((Z.shape[0], inference.n_latent), dtype=Z.dtype)
            full[:, self.kept_components] = Z
            Z = full
        with np.errstate(over="ignore"):
            Z = (Z * self.diagnostics.code_gain).astype(Z.dtype)
        return inference.decode(Z, self.n_decoded, seed)

    def sample(self, n_samples: int, seed: int, from_prior: bool, noise) -> np.ndarray:
        """``n_samples`` decoded rows from codes drawn from the density of the training
        codes (or the prior); ``noise`` as ``VAETransformer.sample`` says."""
        generator = torch.Generator().manual_seed(seed)
        inference = self.inference()
        if from_prior or self.density is None:
            Z = inference.sample_codes(n_samples, generator)
        else:
            Z = np.zeros((n_samples, inference.n_latent))
            Z[:, self.kept_components] = self.density.sample(n_samples, generator)
        if noise is None:
            noise = inference.module.likelihood.draws_by_default
        return inference.decode(Z, self.n_decoded, seed + 1 if noise else None)

    def fill_missing(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` with missing entries filled from the observed ones (see
        ``_apply.inference.fill_missing``)."""
        return fill_missing(self.net.module_, rows, self.net.device)

    # ------------------------------------------------------------ saved state
    def state(self) -> dict:
        """The model as plain values (arrays, numbers, strings, lists, dicts)."""
        return {
            "net": persistence.net_state(self.net), "device": str(self.net.device),
            "spec": self.spec.as_dict(), "settings": dataclasses.asdict(self.settings),
            "layout": None if self.layout is None else self.layout.as_dict(),
            "diagnostics": dataclasses.asdict(self.diagnostics),
            "surface": dataclasses.asdict(self.surface),
            "density": None if self.density is None else self.density.as_dict(),
            "summary": dataclasses.asdict(self.summary),
        }

    @classmethod
    def from_state(cls, state: dict, device=None) -> "FittedModel":
        """The model ``state()`` describes, on ``device`` (default: where it was
        trained, or the CPU with a warning when this machine lacks that device)."""
        spec = NetSpec.from_dict(state["spec"])
        settings = TrainingSettings(**state["settings"])
        if device is None:
            device = persistence.available_device(torch.device(state["device"]))
        net = training.build_net(spec, settings, device, install_user_callbacks=False)
        persistence.restore_net(net, state["net"])
        layout = state["layout"]
        summaries = Summaries(
            Diagnostics(**state["diagnostics"]), LinearSurface(**state["surface"]),
            None if state["density"] is None else CodeDensity.from_dict(state["density"]))
        model = cls(Trained(net, spec, RunSummary(**state["summary"])), summaries,
                    None if layout is None else ColumnLayout.from_dict(layout), settings)
        model.installed_callbacks = training.NOT_INSTALLED
        return model

    def to(self, device) -> "FittedModel":
        """The same model on ``device``; this one is left as it was."""
        return self.from_state(self.state(), torch.device(device))

    def __getstate__(self):
        return self.state()

    def __setstate__(self, state):
        self.__dict__.update(self.from_state(state).__dict__)

    @classmethod
    def from_estimator_state(cls, state: dict) -> "FittedModel":
        """The model of an estimator saved before this object existed (skvae 0.1.0
        development versions, whose fitted pieces were the estimator's attributes);
        those entries are taken out of ``state``, its parameters read."""
        take = state.pop
        spec = NetSpec.from_dict(take("_net_spec_"))
        settings = TrainingSettings.from_params({**state, "callbacks": None},
                                                spec.select_active)
        net = training.build_net(spec, settings,
                                 persistence.available_device(torch.device(state["device"])),
                                 install_user_callbacks=False)
        persistence.restore_net(net, take("net_"))
        kept = take("_kept_components_")
        diagnostics = Diagnostics(take("kl_per_component_"), take("active_components_"), kept,
                                  take("nonzero_fraction_"), take("_code_gain_"))
        surface = LinearSurface(*(take(f"{field.name}_")
                                  for field in dataclasses.fields(LinearSurface)))
        summary = RunSummary(*(take(f"{field.name}_")
                               for field in dataclasses.fields(RunSummary)))
        density, layout = take("_code_density_", None), take("_column_layout_", None)
        for derived in ("n_components_", "mean_"):
            take(derived, None)
        model = cls(Trained(net, spec, summary), Summaries(
            diagnostics, surface, None if density is None else CodeDensity.from_dict(density)),
            None if layout is None else ColumnLayout.from_dict(layout), settings)
        model.installed_callbacks = training.NOT_INSTALLED
        return model
