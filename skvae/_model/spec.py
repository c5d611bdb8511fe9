"""What a fit decides, as typed, immutable values: the network's spec and the training
settings.

``NetSpec`` is everything that fixes the network (its shape, likelihood, prior, the data's
statistics, the seed, whether rows are held out). It is recorded by ``fit`` and saved with
the model, so that a loaded model rebuilds the network it was trained with even if
``set_params`` has been called since. ``TrainingSettings`` is how the next call trains:
the estimator's training parameters, read in one place. Neither is ever changed in place;
``dataclasses.replace`` makes a changed copy.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from .priors import PRIORS, Prior


@dataclass(frozen=True)
class NetSpec:
    """The network a fit built, in plain values."""

    n_rows: int
    n_features: int
    # Width of the module's code; transform may return fewer columns (select_active).
    n_latent: int
    # The parameter as given: an int, a share of variance, "auto", "mle" or None.
    n_components: Any
    hidden_layer_sizes: tuple[int, ...]
    likelihood: str
    prior: str
    feature_mean: np.ndarray = field(repr=False)
    feature_scale: np.ndarray = field(repr=False)
    seed: int
    holds_out_rows: bool
    prior_settings: dict[str, Any] = field(default_factory=dict)
    likelihood_settings: dict[str, Any] = field(default_factory=dict)
    # Whether the encoder reads the mask of observed entries (rows may hold NaN), and
    # the share of observed entries training withholds from it.
    reads_mask: bool = False
    withheld_fraction: float = 0.0

    def __post_init__(self):
        for name in ("feature_mean", "feature_scale"):
            array = np.array(getattr(self, name), dtype=np.float64)
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        object.__setattr__(self, "hidden_layer_sizes", tuple(self.hidden_layer_sizes))

    @property
    def select_active(self) -> bool:
        """n_components="auto": the KL switches components off and transform keeps the
        others."""
        return self.n_components == "auto"

    def architecture(self) -> dict:
        """The estimator parameters that fix the network, as they were at ``fit``:
        ``partial_fit`` cannot change them."""
        return architecture(
            self.n_components, self.hidden_layer_sizes,
            self.likelihood, self.likelihood_settings, self.prior, self.prior_settings,
        )

    def as_dict(self) -> dict:
        """Plain values for a saved model (lists, not tuples; arrays copied)."""
        values = asdict(self)
        values["hidden_layer_sizes"] = list(self.hidden_layer_sizes)
        values["feature_mean"] = np.array(self.feature_mean)
        values["feature_scale"] = np.array(self.feature_scale)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "NetSpec":
        """Read ``as_dict``'s values (``holds_out_rows`` was ``use_split`` in models saved
        before the fitted-model object)."""
        values = dict(values)
        if "use_split" in values:
            values["holds_out_rows"] = values.pop("use_split")
        return cls(**values)


def architecture(n_components, hidden, likelihood: str, likelihood_settings: dict,
                 prior: str, prior_settings: dict) -> dict:
    """Name -> value of everything that fixes the network, named as the user sets it."""
    return {"n_components": n_components, "hidden_layer_sizes": list(hidden),
            "likelihood": likelihood, **likelihood_settings, "prior": prior, **prior_settings}


def registered_name(obj, family: str, registry: dict) -> str:
    """The name under which ``obj``'s class is registered; ``ValueError`` if none is."""
    name = type(obj).name
    if registry.get(name) is not type(obj):
        raise ValueError(
            f"{family} {type(obj).__name__} is not registered: give its class a name, as "
            f"in `class {type(obj).__name__}(..., name='my_{family}')`, so that a saved "
            "model can rebuild it."
        )
    return name


def prior_entry(prior: Prior) -> tuple[str, dict]:
    return registered_name(prior, "prior", PRIORS), prior.settings()


@dataclass(frozen=True)
class TrainingSettings:
    """How ``fit`` and ``partial_fit`` train: the estimator's training parameters."""

    beta: float
    free_bits: float
    max_iter: Any  # "auto" or a number of epochs
    batch_size: int
    learning_rate_init: float
    learning_rate: str
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    tol: float
    verbose: int
    callbacks: Any  # the user's list, or None; never changed here

    @classmethod
    def from_params(cls, params: dict, select_active: bool) -> "TrainingSettings":
        """The settings from the estimator's parameters (``get_params``), each read
        under its own name; with ``n_components="auto"`` (``select_active``) no free
        bits, so that the KL is free to switch components off."""
        settings = {field.name: params[field.name] for field in fields(cls)}
        if select_active:
            settings["free_bits"] = 0.0
        return cls(**settings)
