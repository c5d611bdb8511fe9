"""``VAETransformer``: a variational autoencoder behind the scikit-learn transformer API.

The estimator is a shell: parameters, validation and dispatch. Training lives in
``_training`` (from a ``NetSpec`` and ``TrainingSettings``), inference in ``_inference``,
diagnostics in ``_diagnostics``, the codec in ``_compression`` and saved state in
``_persistence``.
"""

import dataclasses
import warnings
from copy import deepcopy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._apply import compression as _compression
from ._apply.diagnostics import diagnose, diagnostic_rows, linear_surface
from ._apply.inference import Inference, shared_tensor
from ._apply.sampling import CodeDensity, density_rows, fit_code_density
from ._data.columns import ColumnLayout, check_numeric_columns, needs_layout
from ._data.streaming import is_file_backed, sample_in_memory
from ._data.validation import (
    Interval,
    RealNotInt,
    StrOptions,
    check_device,
    check_finite_in_chunks,
    check_hidden_layer_sizes,
    check_params,
    feature_statistics,
    has_missing,
    output_container,
    seed_from_random_state,
)
from ._fit import training as _training
from ._fit.selection import CONFIRMATION, SELECTION, Verdict, calibrate_noise, decide, held_out_gain
from ._fit.threads import restored_threads
from ._io import persistence as _persistence
from ._model.likelihoods import LIKELIHOODS
from ._model.ppca import ppca_solution, spectrum, spectrum_with_missing
from ._model.priors import PRIORS, Prior, resolve_prior
from ._model.spec import NetSpec, TrainingSettings, architecture, prior_entry
from .exceptions import NonFiniteLossError

# Fits on fewer rows than this get a warning: they describe little more than those rows.
_FEW_ROWS = 10

# Upper bound on the latent size that n_components="auto" starts from.
_AUTO_MAX_COMPONENTS = 32
# The posterior variance (prior units) of the codes training begins from, in PCA's
# subspace (``VAEModule.start_from_ppca``). From PPCA's exact posterior, training on the
# standardised S curve stayed at PCA's error (1.04-1.12x, even with 200 epochs of
# patience); from whitened codes of variance 0.05 it reached 0.14-0.32x, of 0.007
# 0.09-0.35x with the same patience and 0.06-0.10x with the default one (3 seeds;
# docs/benchmarks.rst, "Beyond PCA").
_TRAINING_POSTERIOR_VARIANCE = 0.007

# Share of observed entries withheld from a masked encoder with handle_missing="learn".
# Measured on rows with holes (benchmarks, "tables"): on top of the holes, withheld
# entries helped digits (RMSE 0.170 -> 0.135 at 30 % missing) and hurt breast cancer
# (0.385 -> 0.46 at 10 % with 0.1 withheld), so "auto" withholds none.
_WITHHELD_FRACTION = 0.2

# PCA's parameters and attributes that have no counterpart here, and what to use instead.
_PCA_ONLY = {
    "whiten": "codes are posterior means under a unit-variance prior, already on a "
              "common scale; StandardScaler after the transformer whitens them exactly.",
    "svd_solver": "there is no SVD to choose: training is gradient descent "
                  "(see max_iter, batch_size, learning_rate_init).",
    "iterated_power": "there is no randomised SVD; see max_iter for the training budget.",
    "n_oversamples": "there is no randomised SVD; see max_iter for the training budget.",
    "power_iteration_normalizer": "there is no randomised SVD.",
    "copy": "fit never modifies its input, so there is nothing to copy.",
    "n_samples_": "use n_samples_seen_, the number of rows trained on.",
}
# Fitted attributes of the PCA surface (set by fit).
_FITTED_PCA_SURFACE = ("components_", "explained_variance_", "explained_variance_ratio_",
                       "singular_values_", "mean_", "noise_variance_")


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Variational autoencoder as a scikit-learn transformer.

    Learns a nonlinear, probabilistic counterpart of PCA: an encoder maps each row to a
    Gaussian posterior over ``n_components`` latent variables, a decoder maps latent codes
    back to data. ``transform`` returns posterior means, ``inverse_transform`` decodes codes
    to data, ``sample`` draws new rows and ``score`` reports the evidence lower bound.

    The model is probabilistic PCA plus a nonlinear residual: encoder and decoder are each
    a linear map plus an MLP whose output starts at zero. With the Gaussian likelihood,
    PPCA's closed-form maximum-likelihood solution is the start (it scores exactly
    ``PCA.score``); training begins in its subspace with precise codes, holds out
    ``validation_fraction`` of the rows, and keeps the trained weights only if the
    held-out rows say they beat the start (see ``early_stopping``); otherwise the fitted
    model is PPCA itself.

    Training minimises ``reconstruction + beta * KL`` (in nats per row) with Adam, using
    skorch for the training loop: its callbacks, history and device handling are available
    through ``net_``.

    Parameters
    ----------
    n_components : int, float, "auto", "mle" or None, default=2
        Number of latent dimensions, at most the number of features. As in ``PCA``, a
        float in (0, 1) keeps the fewest components whose variance (on the training rows'
        covariance spectrum) exceeds that share of the total, ``"mle"`` keeps as many as
        Minka's evidence picks, and ``None`` keeps ``min(n_samples, n_features)``; the
        choice is made once, at ``fit``, before training. ``0`` is PCA's zero-component
        model, as ``PCA(n_components=0)``: a Gaussian with the training mean and one
        shared variance, codes with no entries, nothing to train (Gaussian likelihood
        only). With ``"auto"`` the model is fitted with
        ``min(n_features, 32)`` dimensions (the PCA start loads those Minka's evidence
        picks) and the KL term switches off those the data does not need;
        ``transform`` then returns only the active ones (``active_components_``), and
        ``n_components_`` says how many (``partial_fit`` re-reads them from the rows of
        each call). Free bits are not applied in that case: they exist to stop the KL
        from switching dimensions off, which is here the point.

    beta : float, default=1.0
        Weight of the KL term. ``beta=1`` trains on the true evidence lower bound; smaller
        values favour reconstruction, larger ones a smoother, more prior-like code.
        Scores are always computed with ``beta=1``.

    free_bits : float, default=0.0
        Nats per latent dimension (per row, averaged over a batch) that training does not
        charge KL for. It keeps every dimension in use while the decoder learns, instead
        of letting dimensions that look useless early collapse onto the prior; ``0``
        trains on the plain ``beta``-weighted ELBO. A Gaussian model starts from PPCA,
        where every component already carries what the data gives it, so it needs
        none; a model that starts from random weights (``likelihood="bernoulli"``) may.
        Scores are computed without it.

    hidden_layer_sizes : array-like of int, default=(256, 256)
        Widths of the hidden layers of the encoder's nonlinear residual; the decoder's
        mirrors them. An empty tuple gives a linear VAE: probabilistic PCA, which with the
        Gaussian likelihood is where training starts.

    likelihood : {"gaussian", "bernoulli", "laplace"}, default="gaussian"
        Observation model for a table of numbers (see ``column_types`` for tables of
        mixed types). ``"gaussian"`` learns one noise scale shared by all features
        (so that features are weighed equally, as in PCA's squared error);
        ``"bernoulli"`` needs data in [0, 1] and decodes through a sigmoid;
        ``"laplace"`` decodes a location and a scale per feature and row, so that heavy
        tails and outlying entries weigh less than under squared error.

    prior : {"normal", "laplace", "spike_slab", "student_t"} or Prior, default="normal"
        Distribution of the latent code. ``"normal"`` is the standard VAE prior and gives
        dense codes. ``"laplace"`` (unit variance) has a sharper peak and heavier tails:
        codes with many small entries and a few large ones. ``"spike_slab"`` makes each
        entry exactly zero unless the row needs it: ``transform`` returns codes with exact
        zeros, about ``nonzero_fraction`` of the entries being non-zero.
        ``"student_t"`` (unit variance, 5 degrees of freedom) has heavier tails still.
        A prior object, e.g. ``skvae.priors.StudentTPrior(degrees_of_freedom=3)``, sets
        the prior's own settings; given a name, a prior reads its settings from the
        parameters of the same name (``nonzero_fraction``).

    nonzero_fraction : float, default=0.2
        For ``prior="spike_slab"``: the prior probability that a code entry is non-zero,
        i.e. the target fraction of non-zero entries. Ignored by the other priors.

    max_iter : "auto" or int, default="auto"
        The training budget. An int is a number of epochs (passes over the training
        rows), as in ``MLPRegressor``. ``"auto"`` sizes the budget to the data: up to 200
        epochs, but at most 2,000 optimisation steps plus one per 250 training rows, and
        never more than 8,000, so that from 1.5 million rows on the time spent training
        stops growing with the rows (only the one pass that computes the feature
        statistics and the PCA start still does). Epochs of more than 250 steps are cut
        into rounds of 250 steps on randomly drawn rows, and the held-out rows are
        measured after each round, so that the stopping rule of ``early_stopping`` acts
        as soon as learning stops, on tables of any size. ``n_iter_`` and
        ``n_iter_no_change`` count these rounds. The user guide and the benchmarks page
        give the measurements behind the rule.

    batch_size : int, default=256
        Rows per optimisation step. Training starts at PPCA and stops on held-out rows,
        so on tables of a few hundred to a few thousand rows what counts is the number
        of steps before it stops, and on large tables more, smaller steps reached a
        better model in the same time (the benchmarks page has the measurements).

    learning_rate_init : float, default=2e-3
        Adam's step size, chosen together with ``batch_size``.

    learning_rate : {"cosine", "constant"}, default="cosine"
        Step-size schedule of ``fit``. ``"cosine"`` lowers the step size from
        ``learning_rate_init`` towards zero along half a cosine over the budget
        (``max_iter``), so that the last steps settle instead of jittering around the
        optimum; ``"constant"`` keeps ``learning_rate_init`` throughout. A
        ``skorch.callbacks.LRScheduler`` in ``callbacks`` replaces either.
        ``prior="spike_slab"`` always trains at a constant step size: its constraint on
        the rate of non-zero entries needs weights that keep moving.
        ``partial_fit`` trains at ``learning_rate_init`` (or the user's schedule).

    early_stopping : bool, default=True
        Whether to hold out ``validation_fraction`` of the rows and keep only what they
        confirm. Their ``beta=1`` ELBO is measured after every epoch, on half of them;
        training stops when it has not beaten its own best by ``tol`` for
        ``n_iter_no_change`` epochs (the KL warm-up excepted), and the best epoch's
        weights come back. Once the noise variance of a Gaussian model is calibrated on
        the held-out rows that chose the epoch, the trained weights face the start (for
        the Gaussian likelihood, PPCA's solution) on the other half, both scored by the
        importance-weighted bound with 64 draws: they are kept if they are better on
        significantly more than half of those rows (a sign test, 2.5 standard errors)
        and their mean gain is not significantly negative (above minus one standard
        error); otherwise the start comes back. Without it, training stops on the same
        patience rule applied to the training loss, and every row is trained on.

    validation_fraction : float, default=0.15
        Fraction of rows held out when ``early_stopping=True``; at least 10 rows are held
        out (all but one on tables of up to 10 rows, none below 3 rows), so that on a
        tiny table the trained weights still face a test, and mostly fail it; at most
        1,000, which tell apart what the rule compares on large tables.

    n_iter_no_change : int, default=10
        Epochs (rounds, see ``max_iter``) without an improvement of at least ``tol``
        before training stops.

    tol : float, default=1e-4
        Smallest improvement of the monitored loss, in nats per row, that counts.

    device : str or torch.device, default="cpu"
        Where to train and run the network, e.g. ``"cuda"``. A model fitted on a GPU can be
        unpickled and used on a machine without one.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order, the validation split and the posterior
        noise. An int gives identical models and outputs on repeated fits. Global torch and
        numpy random states are never used or changed.

    verbose : int, default=0
        ``0`` trains silently. ``1`` first prints the budget ``fit`` will use (steps,
        rounds or epochs), then one line per epoch or round: the steps taken out of that
        budget, the seconds elapsed, the loss and its reconstruction and KL terms (nats
        per row), with early stopping the held-out loss and ELBO, and the round's
        duration; rounds of 20 batches or more also show a progress bar over their
        batches. ``2`` shows the bar on every round.

    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra callbacks for the skorch training loop, e.g.
        ``skorch.callbacks.LRScheduler`` for a learning-rate schedule (which then
        replaces the one ``learning_rate`` picks),
        ``skorch.callbacks.Checkpoint`` to save the best weights, or your own
        ``skorch.callbacks.Callback`` for custom logging. Each fit works on a copy, so
        the objects in this list are never changed: read the trained ones from
        ``net_.callbacks_``.

    handle_missing : {"auto", "learn"}, default="auto"
        Rows may hold missing entries (NaN). The likelihood then scores only the
        observed entries (the ELBO of what was seen), and the encoder reads, besides the
        values, which entries are observed. ``"auto"`` builds that encoder when the
        training rows have missing entries; a model fitted on complete rows refuses NaN
        later. ``"learn"`` builds it always, and training withholds a random fifth of the
        observed entries from it (the likelihood still scores them), so that it learns to
        infer entries it cannot see (a denoising task, which suits some tables and not
        others: ``VAEImputer`` chooses on held-out entries). The covariance that the PCA
        start reads is then estimated
        by EM from the observed entries. A row with no observed entry gets the code of
        an empty row; a column with none raises ``ValueError``.

    column_types : dict, list or None, default=None
        Types of the columns of a table: ``"numeric"`` (Gaussian), ``"binary"`` and
        ``"categorical"`` (a softmax over the column's categories), ``"count"``
        (Poisson, for non-negative integers). A dict names some columns (by name, or by
        position for an array); a list gives one type per column. Columns not named get
        their type from a pandas or polars frame's dtypes: bool columns are binary,
        ``category``, ``object`` and string columns categorical, numbers numeric. A table
        with any column that is not numeric gets one likelihood per column, whatever
        ``likelihood`` says; ``inverse_transform``, ``sample`` and ``decompress`` then
        return a table of the training table's kind with its column types and category
        labels (for an array, category values in their columns). Numeric columns share one
        noise variance in standardised units, so a column's units do not set its weight;
        scores stay log-densities, in nats, of whole rows in the columns' own units.

    handle_unknown : {"error", "ignore"}, default="error"
        A category not seen in ``fit`` raises ``ValueError`` (``"error"``) or is ignored
        (``"ignore"``): read as a missing entry by a model that reads missing entries
        (see ``handle_missing``), else as no category, all zeros, as ``OneHotEncoder``
        does.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net. Its ``history`` holds, per epoch and per batch,
        ``train_loss``, ``train_reconstruction`` and ``train_kl`` (and their ``valid_``
        counterparts with early stopping); ``net_.module_`` is the PyTorch module.

    n_components_ : int
        Width of the codes that ``transform`` returns: ``n_components``, or with
        ``n_components="auto"`` the number of active components.

    kl_per_component_ : ndarray of shape (n_latent,)
        Mean KL divergence from posterior to prior per latent component on the training
        rows (on 131,072 evenly spaced ones when there are more), in nats (``beta=1``, no
        free bits): the information each component carries.
        ``n_latent`` is ``n_components``, or the upper bound with ``"auto"``.

    active_components_ : ndarray of bool of shape (n_latent,)
        Whether each latent component is in use: the variance of its code across the
        training rows is above a tenth of its variance under the prior (the "active
        units" test of Burda et al., 2016).

    nonzero_fraction_ : float
        Fraction of the entries of ``transform(X_train)`` that are not exactly zero
        (measured on the same rows as ``kl_per_component_``). Near
        ``nonzero_fraction`` for ``prior="spike_slab"``; 1.0 for dense priors.

    n_iter_ : int
        Number of epochs run (rounds, where ``max_iter="auto"`` cut epochs into
        rounds), summed over ``fit`` and later ``partial_fit`` calls.

    n_steps_ : int
        Number of optimisation steps taken, summed over ``fit`` and later
        ``partial_fit`` calls.

    n_samples_seen_ : int
        Number of rows trained on: the rows given to ``fit``, plus those of every later
        ``partial_fit`` call (each call is one epoch over its rows).

    loss_curve_ : list of float
        Training loss (negative ELBO with the training ``beta``, nats per row) per epoch.

    validation_loss_curve_ : list of float or None
        Loss on the held-out rows per epoch, computed at the posterior mean; ``None`` when
        no rows were held out (``early_stopping=False``, or fewer than 3 rows).

    validation_scores_ : list of float or None
        Held-out ``beta=1`` ELBO per epoch (nats per row), the mean over the held-out rows
        that choose the best epoch (the stopping rule reads their median,
        ``net_.history[:, "valid_elbo_median"]``); ``None`` when no rows were held out.

    best_epoch_ : int
        The epoch whose weights the model keeps. ``0`` means the weights from before
        training: for a Gaussian model PPCA's solution, i.e. training found nothing that
        the held-out rows confirm. Without held-out rows (and after ``partial_fit``) the
        last epoch, ``n_iter_``.

    held_out_comparison_ : dict or None
        How the trained weights fared against the start on the held-out rows (see
        ``early_stopping``): ``keep_trained``, ``mean_gain`` and ``median_gain`` (nats
        per row, importance-weighted bound with 64 draws), ``share_better`` (the share of
        rows the trained model scores higher) and ``n_rows``. ``None`` without held-out
        rows.

    components_ : ndarray of shape (`n_components_`, `n_features_in_`)
        The decoder's Jacobian at the latent origin, one unit-norm row per component of
        ``transform``'s output: the direction in which a component moves a decoded row
        near the centre of the codes. PCA's ``components_`` at the PPCA start. The user
        guide's *Coming from PCA* page explains this and the attributes below.

    explained_variance_ : ndarray of shape (`n_components_`,)
        Variance each component accounts for on the training rows (squared data units):
        its linearised share, scaled so that together the components account for what
        ``inverse_transform(transform(X))`` explains. PCA's at the PPCA start.

    explained_variance_ratio_ : ndarray of shape (`n_components_`,)
        ``explained_variance_`` over the training rows' total variance; it sums to the
        share of the variance the model's round trip explains.

    singular_values_ : ndarray of shape (`n_components_`,)
        ``sqrt(explained_variance_ * (n_samples - 1))``, PCA's relation.

    mean_ : ndarray of shape (`n_features_in_`,)
        Per-feature mean of the training rows.

    noise_variance_ : float
        Variance of the Gaussian likelihood's observation noise (PCA's at the PPCA
        start); other likelihoods have none and raise ``AttributeError`` saying so.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : Linear counterpart with closed-form fit.
    sklearn.decomposition.FactorAnalysis : Linear Gaussian latent variable model.

    Notes
    -----
    ``score_samples`` returns the evidence lower bound (ELBO), a lower bound on the
    log-likelihood of each row in nats, measured in the units of the input: rescaling the
    data by a factor ``c`` shifts a Gaussian model's scores by ``-n_features * log(c)``.

    References
    ----------
    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes. ICLR.

    Higgins, I. et al. (2017). beta-VAE: Learning Basic Visual Concepts with a Constrained
    Variational Framework. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(n_components=2, max_iter=5, random_state=0)
    >>> Z = vae.fit_transform(X / 16)
    >>> Z.shape
    (1797, 2)
    >>> vae.inverse_transform(Z).shape
    (1797, 64)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)

    skorch callbacks plug into training, here a learning-rate schedule of one's own, which
    takes the place of the built-in one:

    >>> from skorch.callbacks import LRScheduler
    >>> halve_every_2 = LRScheduler("StepLR", step_size=2, gamma=0.5)
    >>> vae = VAETransformer(max_iter=4, callbacks=[halve_every_2], random_state=0)
    >>> vae.fit(X / 16).net_.optimizer_.param_groups[0]["lr"]
    0.0005
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 0, None, closed="left"),
                         Interval(RealNotInt, 0, 1, closed="neither"),
                         StrOptions({"auto", "mle"}), None],
        "beta": [Interval(Real, 0, None, closed="left")],
        "free_bits": [Interval(Real, 0, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        # Live views of the registries: a class registered later is a valid name too.
        "likelihood": [StrOptions(LIKELIHOODS.keys())],
        "prior": [StrOptions(PRIORS.keys()), Prior],
        "nonzero_fraction": [Interval(Real, 0, 1, closed="neither")],
        "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"cosine", "constant"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "handle_missing": [StrOptions({"auto", "learn"})],
        "column_types": [dict, list, tuple, None],
        "handle_unknown": [StrOptions({"error", "ignore"})],
    }

    def __init__(
        self,
        n_components=2,
        *,
        beta=1.0,
        free_bits=0.0,
        hidden_layer_sizes=(256, 256),
        likelihood="gaussian",
        prior="normal",
        nonzero_fraction=0.2,
        max_iter="auto",
        batch_size=256,
        learning_rate_init=2e-3,
        learning_rate="cosine",
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=10,
        tol=1e-4,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        handle_missing="auto",
        column_types=None,
        handle_unknown="error",
    ):
        self.n_components = n_components
        self.beta = beta
        self.free_bits = free_bits
        self.hidden_layer_sizes = hidden_layer_sizes
        self.likelihood = likelihood
        self.prior = prior
        self.nonzero_fraction = nonzero_fraction
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.handle_missing = handle_missing
        self.column_types = column_types
        self.handle_unknown = handle_unknown

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None):
        """Train a new model on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : VAETransformer
            The fitted estimator.
        """
        self._fit(X, incremental=False)
        return self

    def partial_fit(self, X, y=None):
        """Train for one epoch on ``X``, starting from the current model if there is one.

        No validation split is held out and no stopping rule applies: each call is one
        pass over ``X``. Changed ``beta``, ``free_bits``, ``learning_rate_init``,
        ``batch_size``, ``verbose`` and ``callbacks`` take effect; changing a parameter
        that fixes the network (``n_components``, ``hidden_layer_sizes``, ``likelihood``,
        ``prior``, ``nonzero_fraction``) or its ``device`` raises ``ValueError``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : VAETransformer
            The updated estimator.
        """
        self._fit(X, incremental=True)
        return self

    def _fit(self, X, incremental):
        check_params(self)
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        device = check_device(self.device)
        prior = resolve_prior(self.prior, self.get_params(deep=False))
        first_call = not (incremental and hasattr(self, "net_"))
        if not first_call:
            _training.check_architecture_unchanged(self._spec(),
                                                   self._architecture(hidden, prior))
            _training.check_device_unchanged(device, self.net_)
        file_backed = is_file_backed(X)
        if first_call:
            self.__dict__.pop("_column_layout_", None)
            if needs_layout(X, self.column_types):
                self._column_layout_ = ColumnLayout.from_data(X, self.column_types).as_dict()
        layout = self._layout()
        X = self._validate_rows(X, reset=first_call)
        if first_call and X.shape[0] < _FEW_ROWS:
            warnings.warn(
                f"Fitting on {X.shape[0]} row(s): a model fitted on fewer than {_FEW_ROWS} "
                "rows mostly describes those rows (with the Gaussian likelihood it stays "
                "at the PCA start, which they fix). Fit on more rows for a model of the data.",
                UserWarning, stacklevel=3)
        missing = has_missing(X)
        likelihood, likelihood_settings = self._likelihood_entry(layout)
        reads_mask = self._check_missing(missing, first_call, likelihood)
        LIKELIHOODS[likelihood].check_data(X)
        feature_mean, feature_scale = feature_statistics(X)
        if layout is not None and first_call:
            likelihood_settings = layout.likelihood_settings(feature_scale)
        # The covariance spectrum: for the PPCA start, and for choosing the width like PCA.
        found = None
        standardised = LIKELIHOODS[likelihood].ppca_on_standardised_rows
        if first_call and (LIKELIHOODS[likelihood].starts_from_ppca
                           or not isinstance(self.n_components, Integral)):
            rows = (X - feature_mean) / feature_scale if standardised else X
            found = (spectrum_with_missing(rows) if missing
                     else spectrum(rows, np.zeros_like(feature_mean) if standardised
                                   else feature_mean))
        n_latent, select_active = self._latent_width(X.shape, found)
        settings = self._training_settings(select_active)

        # The rows training draws from: fit on a file-backed X trains on a random sample
        # of its rows held in memory (the statistics and the PCA start use all of them);
        # partial_fit is one pass over every row it is given.
        training_rows = X
        if first_call:
            self._forget_fit()
            seed = seed_from_random_state(self.random_state)
            if file_backed and not incremental:
                training_rows = sample_in_memory(X, seed)
            prior_name, prior_settings = prior_entry(prior)
            spec = NetSpec(
                n_rows=training_rows.shape[0], n_features=X.shape[1], n_latent=n_latent,
                n_components=self.n_components, hidden_layer_sizes=hidden,
                likelihood=likelihood, likelihood_settings=likelihood_settings,
                prior=prior_name, prior_settings=prior_settings, feature_mean=feature_mean,
                feature_scale=feature_scale, seed=seed, reads_mask=reads_mask,
                withheld_fraction=(_WITHHELD_FRACTION if self.handle_missing == "learn"
                                   else 0.0),
                use_split=_training.holds_out_rows(settings, training_rows.shape[0],
                                                   incremental),
            )
            net = _training.build_net(spec, settings, device, incremental=incremental)
            start_module = self._start(net.module_, spec, found, select_active, standardised)
            weights_before, samples_seen = None, 0
        else:
            start_module = None
            net = self.net_
            spec = _training.prepare_partial_fit(net, self._net_spec_, settings)
            # What an interrupt before the end of this call's epoch puts back.
            weights_before = _persistence.weights_state(net)
            samples_seen = self.n_samples_seen_
        # float64 rows stay as they are: each batch is cast to float32 when it is drawn,
        # so no second full-size copy of X exists during training.
        X_shared = shared_tensor(training_rows)
        # With zero components the start is the maximum-likelihood model: nothing to train.
        trains = spec.n_components != 0
        try:
            # partial_fit, not fit: the net is initialised already, and fit would build
            # the module a second time. Without ``epochs`` it runs up to max_epochs.
            # The thread tuner (a callback) sets the count; this puts torch's back.
            with restored_threads():
                if trains:
                    net.partial_fit(X_shared, epochs=1 if incremental else None)
            if getattr(net, "interrupted_", False):
                _training.settle_interrupt(net, weights_before)
        except NonFiniteLossError as exc:
            self._forget_fit()
            raise ValueError(
                f"Training diverged: {exc}. Try a smaller learning_rate_init (now "
                f"{self.learning_rate_init}), standardising X (e.g. with StandardScaler), "
                "or a larger batch_size."
            ) from None
        except KeyboardInterrupt:
            if first_call:
                self._forget_fit()
            raise

        verdict = None
        if start_module is not None:
            verdict = self._choose_weights(net, start_module, training_rows)
        self.net_, self._net_spec_ = net, spec
        self.n_samples_seen_ = samples_seen + X.shape[0]
        self._set_diagnostics(training_rows, X.shape[0])
        self._set_history(net, incremental, verdict)
        if not incremental and len(net.history) >= net.max_epochs and not net._stopped_early():
            self._warn_budget_spent(settings)

    @staticmethod
    def _start(module, spec: NetSpec, found, select_active, standardised):
        """Set ``module`` where training begins; return the start that the trained
        weights must beat on the held-out rows (None without held-out rows).

        For a likelihood that starts from PPCA the start is PPCA's solution, a model in
        its own right, and training begins in its subspace with precise codes
        (``VAEModule.start_from_ppca``), or with ``n_components="auto"`` from the initial
        weights; otherwise both are the initial weights.
        """
        if not module.likelihood.starts_from_ppca:
            return deepcopy(module) if spec.use_split else None
        initial = deepcopy(module.state_dict()) if select_active else None
        n_loaded = 0 if spec.n_components == 0 else ("mle" if select_active else None)
        solution = ppca_solution(found, spec.n_latent, n_loaded=n_loaded)
        module.start_from_ppca(solution, standardised=standardised)
        if spec.n_components == 0:
            return None  # nothing to train: the start is the model
        start = deepcopy(module) if spec.use_split else None
        if select_active:
            # "auto" asks for the nonlinear size: from PCA's loadings every linear
            # direction stays in use, so training begins from the initial weights and
            # the KL switches off what the decoder does not need.
            module.load_state_dict(initial)
        else:
            module.start_from_ppca(solution, standardised=standardised,
                                   posterior_variance=_TRAINING_POSTERIOR_VARIANCE)
        return start

    @staticmethod
    def _choose_weights(net, start_module, training_rows) -> Verdict:
        """Keep the trained weights if the held-out rows say they beat the start, else
        put the start back (``_selection``)."""
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

    def _layout(self) -> ColumnLayout | None:
        """The column layout of a table with declared or non-numeric columns."""
        layout = getattr(self, "_column_layout_", None)
        return None if layout is None else ColumnLayout.from_dict(layout)

    def _likelihood_entry(self, layout) -> tuple[str, dict]:
        """The likelihood's name and settings: the estimator's likelihood for a table of
        numbers, one likelihood per column (settings from the fit) for a layout."""
        if layout is None:
            return self.likelihood, {}
        if hasattr(self, "_net_spec_") and self._net_spec_.likelihood == "mixed":
            return "mixed", self._net_spec_.likelihood_settings
        return "mixed", {}

    def _check_missing(self, missing, first_call, likelihood) -> bool:
        """Whether the network reads a mask of observed entries: on a first fit, if the
        rows have ``missing`` entries or ``handle_missing="learn"``; else as fitted."""
        if not first_call:
            if missing:
                self._check_reads_mask()
            return self._net_spec_.reads_mask
        if missing and not LIKELIHOODS[likelihood].supports_missing:
            raise ValueError(
                f"X has missing entries (NaN), which likelihood={likelihood!r} cannot "
                "leave out; impute them first or use a likelihood that supports them."
            )
        return missing or self.handle_missing == "learn"

    def _check_reads_mask(self):
        spec = getattr(self, "_net_spec_", None)
        if spec is None or not spec.reads_mask:
            raise ValueError(
                "X has missing entries (NaN), but this model was fitted on complete rows, "
                "so its encoder cannot tell a missing entry from a value. Fit on rows with "
                "missing entries, or with handle_missing='learn', to encode such rows."
            )

    def _latent_width(self, shape, found) -> tuple[int, bool]:
        """``(n_latent, select_active)``: the module's code width, and whether
        ``transform`` keeps only the active components (``n_components="auto"``).

        ``found`` is the data's covariance spectrum (``_ppca.spectrum``), or None for a
        ``partial_fit`` that continues a model or an int width without a PPCA start.
        """
        n_samples, n_features = shape
        n_components = self.n_components
        if found is None and not isinstance(n_components, Integral):
            return self._net_spec_.n_latent, self._net_spec_.select_active
        if n_components == "auto":
            return min(n_features, _AUTO_MAX_COMPONENTS), True
        if n_components == "mle":
            return max(1, found.minka_dimension()), False
        if n_components is None:
            return min(n_samples, n_features), False
        if isinstance(n_components, Real) and not isinstance(n_components, Integral):
            return min(found.dimension_explaining(n_components), n_features), False
        if n_components == 0:
            if not LIKELIHOODS[self._likelihood_entry(self._layout())[0]].starts_from_ppca:
                raise ValueError(
                    "n_components=0 is PCA's zero-component model, a Gaussian with one "
                    "shared variance: it needs likelihood='gaussian'.")
            # One latent component with no loading: the code is the prior, the decoder
            # the mean, and the model PCA's zero-component Gaussian.
            return 1, False
        if n_components > n_features:
            raise ValueError(
                f"n_components={n_components} must be at most the number of features, "
                f"n_features={n_features}."
            )
        return n_components, False

    def _architecture(self, hidden, prior) -> dict:
        """The parameters that fix the network, as ``NetSpec.architecture`` names them."""
        name, settings = prior_entry(prior)
        likelihood, likelihood_settings = self._likelihood_entry(self._layout())
        return architecture(self.n_components, hidden, likelihood, likelihood_settings,
                            name, settings)

    def _training_settings(self, select_active: bool) -> TrainingSettings:
        """The parameters that say how to train, read here and nowhere else."""
        return TrainingSettings(
            beta=self.beta,
            # With "auto" the KL must be free to switch components off.
            free_bits=0.0 if select_active else self.free_bits,
            max_iter=self.max_iter, batch_size=self.batch_size,
            learning_rate_init=self.learning_rate_init, learning_rate=self.learning_rate,
            early_stopping=self.early_stopping, validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, tol=self.tol, verbose=self.verbose,
            callbacks=self.callbacks,
        )

    def _warn_budget_spent(self, settings):
        held_out = "held-out ELBO" if self._net_spec_.use_split else "training loss"
        patience = dict(self.net_.callbacks_)["early_stopping"].patience
        warnings.warn(
            f"Training used its whole budget (max_iter={settings.max_iter!r}: "
            f"{self.n_steps_} steps) while the {held_out} was still improving within the "
            f"last {patience} epochs or rounds (the patience: n_iter_no_change="
            f"{settings.n_iter_no_change}, or a fifth of the budget's epochs if more); the "
            "model may improve with more training: pass a larger int max_iter (epochs), or "
            "call partial_fit.", ConvergenceWarning, stacklevel=4)

    def _set_history(self, net, incremental, verdict=None):
        history = net.history
        self.n_iter_ = len(history)
        self.n_steps_ = int(net.criterion_.steps_done)
        self.loss_curve_ = [float(epoch["train_loss"]) for epoch in history]
        # Epochs of a partial_fit after early stopping have no validation loss.
        valid = [float(epoch["valid_loss"]) for epoch in history if "valid_loss" in epoch]
        self.validation_loss_curve_ = valid or None
        scores = [float(epoch["valid_elbo"]) for epoch in history if "valid_elbo" in epoch]
        self.validation_scores_ = scores or None
        stopping = dict(net.callbacks_).get("early_stopping")
        if verdict is None:
            self.best_epoch_ = self.n_iter_
            self.held_out_comparison_ = None
        else:
            # A run that ended within the KL warm-up recorded no best: its last epoch stands.
            best = (int(stopping.best_epoch_) if stopping.best_model_weights_ is not None
                    else self.n_iter_)
            self.best_epoch_ = best if verdict.keep_trained else 0
            self.held_out_comparison_ = dataclasses.asdict(verdict)

    def _forget_fit(self):
        """Drop fitted state so that a failed fit never leaves a model that looks fitted."""
        fitted = (
            "net_", "n_components_", "n_iter_", "loss_curve_", "validation_loss_curve_",
            "kl_per_component_", "active_components_", "nonzero_fraction_",
            "validation_scores_", "best_epoch_", "n_steps_", "held_out_comparison_",
            "_kept_components_", "_net_spec_", "n_samples_seen_", "_code_gain_",
            "components_", "explained_variance_", "explained_variance_ratio_",
            "singular_values_", "mean_", "_code_density_",
        )
        for name in fitted:
            self.__dict__.pop(name, None)

    def _set_diagnostics(self, X, n_samples):
        inference, spec = self._inference(), self._net_spec_
        rows = diagnostic_rows(X)
        found = diagnose(inference, rows, spec.n_features, spec.select_active)
        if spec.n_components == 0:
            # PCA's zero-component model: the one latent component is the prior.
            found = dataclasses.replace(found, kept_components=np.array([], dtype=np.intp),
                                        nonzero_fraction=0.0)
        self.kl_per_component_ = found.kl_per_component
        self.active_components_ = found.active_components
        self._kept_components_ = found.kept_components
        self.n_components_ = len(found.kept_components)
        self.nonzero_fraction_ = found.nonzero_fraction
        self._code_gain_ = found.code_gain
        surface = linear_surface(inference, rows, found.kept_components, found.code_gain,
                                 spec.feature_mean, n_samples)
        self.components_ = surface.components
        self.explained_variance_ = surface.explained_variance
        self.explained_variance_ratio_ = surface.explained_variance_ratio
        self.singular_values_ = surface.singular_values
        self.mean_ = np.array(spec.feature_mean)
        # The density sample() draws codes from (plain arrays, for saved models).
        self._code_density_ = None
        if len(found.kept_components):
            rows, n_draws = density_rows(X)
            draws = inference.posterior_draws(rows, found.kept_components, n_draws, spec.seed)
            self._code_density_ = fit_code_density(draws, spec.seed).as_dict()

    # ---------------------------------------------------------------- inference

    def _inference(self) -> Inference:
        return Inference(self.net_.module_, self.net_.device)

    def _check_fitted_input(self, X):
        check_is_fitted(self)
        X = self._validate_rows(X, reset=False)
        if has_missing(X):
            self._check_reads_mask()
        return X

    def _validate_rows(self, X, reset):
        layout = self._layout()
        if layout is not None:
            # A table of mixed types: names and width checked here, values by the layout.
            validate_data(self, X, reset=reset, skip_check_array=True)
            # An unseen category: missing for a model that reads missing entries, else
            # no category at all.
            spec = getattr(self, "_net_spec_", None)
            unknown = np.nan if reset or spec is None or spec.reads_mask else 0.0
            return layout.encode(X, self.handle_unknown, unknown)
        check_numeric_columns(X)
        # A memory-mapped X is read one chunk at a time, never as a whole (_streaming).
        file_backed = is_file_backed(X)
        # scikit-learn's finiteness check sums X first: for values near the float64
        # limit that sum overflows with a RuntimeWarning before the clear error comes.
        # NaN marks a missing entry.
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                              ensure_all_finite=False if file_backed else "allow-nan")
        if file_backed:
            check_finite_in_chunks(X)
        return X

    def transform(self, X):
        """Latent code of each row: the posterior mean, with exact zeros where a
        spike-and-slab posterior says a component is off.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_)
            Latent codes, of the same dtype as ``X`` (float32 or float64).
        """
        X = self._check_fitted_input(X)
        return self._inference().codes(X, self._kept_components_, X.dtype)

    def inverse_transform(self, X):
        """Decode latent codes back to data space: rows whose codes are ``X``.

        The decoder's mean at the codes scaled, per component, by the round-trip gain
        measured on the training rows, so that ``transform(inverse_transform(Z))`` gives
        back ``Z`` (least squares). A posterior mean is shrunk towards zero by the
        posterior's uncertainty, and decoding it as it is would shrink the row too; for
        probabilistic PCA the gain is ``1 / (1 - s_j**2)`` (``s_j**2`` the posterior
        variance of component ``j``) and this is exactly PCA's ``inverse_transform``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Latent codes, e.g. from ``transform``. Zeros are valid entries: for the
            spike-and-slab prior a zero is a component that is off.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Reconstructed rows in the units of the training data. A pandas or polars
            frame when ``set_output`` asked for one, with the training frame's column
            names (``x0, x1, ...`` for a model fitted on an array) and, for pandas, the
            index of ``X`` when ``X`` is a pandas frame.
        """
        check_is_fitted(self)
        index = getattr(X, "index", None) if hasattr(X, "iloc") else None
        return self._as_output(self._inverse_transform(X), index)

    def _inverse_transform(self, X) -> np.ndarray:
        # PCA's zero-component model decodes codes with no entries.
        Z = check_array(X, dtype=[np.float64, np.float32], input_name="X",
                        ensure_min_features=0 if self.n_components_ == 0 else 1)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"inverse_transform expects codes with n_components_={self.n_components_} "
                f"columns, got X with {Z.shape[1]} columns."
            )
        return self._inference().decode(self._decodable(Z), self._n_decoded)

    def _decodable(self, Z: np.ndarray) -> np.ndarray:
        """Full-width codes for the decoder from codes like ``transform``'s: components
        dropped by n_components="auto" at the prior's centre, zero, and every component
        scaled by the round-trip gain (codes near the float limit overflow here and are
        refused by the finiteness check of the decoded rows)."""
        n_latent = self._inference().n_latent
        if self.n_components_ < n_latent:
            full = np.zeros((Z.shape[0], n_latent), dtype=Z.dtype)
            full[:, self._kept_components_] = Z
            Z = full
        with np.errstate(over="ignore"):
            return (Z * self._code_gain_).astype(Z.dtype)

    def sample(self, n_samples=1, random_state=None, *, from_prior=False, noise=None):
        """Draw new rows: decode codes drawn from the density of the training codes.

        After training, ``fit`` fits a Gaussian mixture to draws from the training rows'
        posteriors (its size chosen on held-out draws): an estimate of the codes the
        data occupies. ``sample`` draws codes from it and decodes them. Codes drawn from
        the prior instead (``from_prior=True``) also land where no training code lies,
        and decode to rows between the data's modes. ``score`` stays the ELBO under the
        model's own prior: the mixture serves sampling only.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an int gives the same rows on every call.
        from_prior : bool, default=False
            Draw codes from the prior, decoded as they are (the classic VAE sampler).
        noise : bool or None, default=None
            ``True`` draws each row from ``p(x | z)``, the likelihood's distribution
            around the decoded mean (Gaussian noise of ``noise_variance_``, Laplace
            noise, 0/1 draws for the Bernoulli likelihood), as a generative model's
            samples are; ``False`` returns the decoded means, rows as smooth as
            reconstructions. ``None`` draws for the Gaussian and Laplace likelihoods
            (their samples were harder to tell from real rows, see the user guide's
            *Generating rows*) and returns means for the Bernoulli likelihood, whose
            means are the grey levels that data in [0, 1] usually holds.

        Returns
        -------
        X_new : ndarray or DataFrame of shape (n_samples, n_features_in_)
            The drawn rows, in the units of the training data; a pandas or polars frame
            with the training frame's column names when ``set_output`` asked for one.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        if not isinstance(from_prior, bool) or not (noise is None or isinstance(noise, bool)):
            raise ValueError(f"from_prior must be True or False and noise True, False or "
                             f"None, got from_prior={from_prior!r}, noise={noise!r}.")
        seed = seed_from_random_state(random_state)
        generator = torch.Generator().manual_seed(seed)
        inference = self._inference()
        density = getattr(self, "_code_density_", None)
        if from_prior or density is None:  # models saved before the density existed
            Z = inference.sample_codes(n_samples, generator)
        else:
            # Components that n_components="auto" dropped carry nothing: left at zero.
            Z = np.zeros((n_samples, inference.n_latent))
            Z[:, self._kept_components_] = CodeDensity.from_dict(density).sample(
                n_samples, generator)
        if noise is None:
            noise = inference.module.likelihood.draws_by_default
        rows = inference.decode(Z, self._n_decoded, seed + 1 if noise else None)
        return self._as_output(rows)

    def _as_output(self, rows: np.ndarray, index=None):
        """``rows`` in the container that ``set_output(transform=...)`` asked for; for
        a table of mixed types, a table like the training one."""
        layout = self._layout()
        if layout is not None:
            return layout.decode(rows, index)
        container = output_container(self)
        if container == "default":
            return rows
        # The training frame's column names, or x0, x1, ... as scikit-learn names them.
        names = getattr(self, "feature_names_in_", None)
        columns = ([str(name) for name in names] if names is not None
                   else [f"x{i}" for i in range(self.n_features_in_)])
        if container == "pandas":
            import pandas as pd

            return pd.DataFrame(rows, columns=columns, index=index)
        import polars as pl

        return pl.DataFrame(rows, schema=columns, orient="row")

    def score_samples(self, X, *, n_draws=None):
        """A lower bound on the log-likelihood of each row, in nats, with ``beta=1``.

        By default the evidence lower bound (ELBO), in the units of the input (higher is
        better), whatever ``beta`` the model was trained with, so that models trained with
        different ``beta`` or ``n_components`` compare fairly. The expectation over the
        posterior uses a fixed set of draws, so each row's score is deterministic.

        With ``n_draws``, the importance-weighted bound over that many posterior draws
        instead (Burda et al. 2016): between the ELBO and ``log p(x)``, tighter as
        ``n_draws`` grows, and for a model at the PPCA start exactly PCA's
        ``score_samples`` at any ``n_draws``. The ELBO charges a nonlinear model the gap
        between its posterior and the true one, which grows with the nonlinearity; the
        bound charges far less of it, so it is the fairer comparison with PCA's exact
        log-likelihood. ``fit`` uses it, with 64 draws, to decide between the trained
        weights and the start. It costs about ``n_draws / 16`` times the ELBO (64 draws
        on 1,000 rows of 64 columns: about 0.2 s on two CPU cores). Priors without a
        density for the bound (``"spike_slab"``) return the ELBO.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        n_draws : int or None, default=None
            ``None`` for the ELBO; an int >= 2 for the importance-weighted bound.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Lower bound per row, in nats.
        """
        if n_draws is not None and (not isinstance(n_draws, Integral) or n_draws < 2
                                    or isinstance(n_draws, bool)):
            raise ValueError(f"n_draws must be None or an integer of at least 2, got "
                             f"{n_draws!r}.")
        X = self._check_fitted_input(X)
        if n_draws is None:
            return self._inference().elbo(X)
        return self._inference().log_likelihood_bound(X, 2 * ((n_draws + 1) // 2))

    def score(self, X, y=None, *, n_draws=None):
        """Mean of ``score_samples(X, n_draws=n_draws)``, in nats (higher is better): the
        ELBO by default, the importance-weighted bound with ``n_draws``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        y : None
            Ignored.
        n_draws : int or None, default=None
            See ``score_samples``.

        Returns
        -------
        score : float
            Mean of ``score_samples(X, n_draws=n_draws)``.
        """
        return float(np.mean(self.score_samples(X, n_draws=n_draws)))

    # ---------------------------------------------------------- the PCA surface

    @property
    def noise_variance_(self) -> float:
        """Variance of the Gaussian likelihood's observation noise, in squared data units
        (PCA's ``noise_variance_`` for a model at the PPCA start)."""
        likelihood = self.net_.module_.likelihood if "net_" in self.__dict__ else None
        if not hasattr(likelihood, "set_noise_variance"):
            # Not fitted, or not Gaussian: __getattr__ explains which.
            raise AttributeError("noise_variance_")
        return float(likelihood.variance)

    def get_covariance(self):
        """Covariance of the data under the model's linearisation at the latent origin.

        ``components_.T @ diag(explained_variance_ - noise_variance_) @ components_``
        plus ``noise_variance_`` on the diagonal, PCA's formula: for a model at the PPCA
        start it is PCA's ``get_covariance``. For a trained nonlinear model it is the
        covariance of the linear model that matches the decoder near the centre of the
        codes; needs ``likelihood="gaussian"``.

        Returns
        -------
        cov : ndarray of shape (n_features_in_, n_features_in_)
        """
        noise = self.noise_variance_
        spread = np.maximum(self.explained_variance_ - noise, 0.0)
        covariance = (self.components_.T * spread) @ self.components_
        covariance.flat[:: len(covariance) + 1] += noise
        return covariance

    def get_precision(self):
        """Inverse of ``get_covariance()``.

        Returns
        -------
        precision : ndarray of shape (n_features_in_, n_features_in_)
        """
        return np.linalg.inv(self.get_covariance())

    def __getattr__(self, name):
        # Only reached for names that do not exist (or a property that found nothing):
        # PCA's names get an explanation instead of Python's "did you mean" guess.
        if name in _PCA_ONLY:
            raise AttributeError(f"VAETransformer has no {name}: {_PCA_ONLY[name]}")
        if name in _FITTED_PCA_SURFACE and "net_" not in self.__dict__:
            raise NotFittedError(
                f"This VAETransformer instance is not fitted yet, so it has no {name}; "
                "call fit first.")
        if name == "noise_variance_":
            raise AttributeError(
                f"noise_variance_ exists for likelihood='gaussian' only: the "
                f"{self._net_spec_.likelihood!r} likelihood has no single noise variance. "
                "score_samples gives each row's log-density under the model instead.")
        if name in _FITTED_PCA_SURFACE:
            raise AttributeError(
                f"This model was saved by an earlier version of skvae, before {name} "
                "existed; fit it again to get it.")
        # Any other name: Python's own message, with its "did you mean" for typos.
        raise AttributeError(f"'VAETransformer' object has no attribute '{name}'",
                             name=name, obj=self)

    # -------------------------------------------------------------- compression

    def compress(self, X, *, step=0.5, refine=True, return_rate=False):
        """Encode rows into a compact byte string; ``decompress`` reverses it.

        Each row's code (as from ``transform``) is quantised to a multiple of ``step``
        and entropy-coded under the model's prior, with constriction's ANS coder.
        The bytes are a self-describing container: format version, shape, dtype, the
        quantisation settings, a fingerprint of this model and a checksum.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to compress.
        step : float, default=0.5
            Quantisation step of the code, in standard deviations of the prior (the
            scale of ``transform``'s output), at least ``1e-4``. ``decompress`` returns
            ``inverse_transform`` of a code on the grid of multiples of ``step``, within
            ``step`` of ``transform(X)`` in every entry (``step / 2`` without
            ``refine``; entries beyond 8 prior standard deviations are clipped).
            Halving the step costs about one bit more per non-zero entry. The benchmark
            suite's compression section shows the trade between bits and error.
        refine : bool, default=True
            Choose each entry's grid point rather than rounding it. Starting from the
            rounded code, each entry in turn moves to the grid point on the other side of
            its value when that shortens the row's description: the bits of the code plus
            the bits of the row under the decoded likelihood (for the Gaussian, squared
            error over twice the noise variance). Two passes over the entries. The
            decoder is nonlinear, so the nearest grid point is often not the best one
            (the benchmarks page shows what it gains).
            Entries exactly on a grid point (a spike-and-slab zero) stay. It costs
            ``2 * n_components_ + 1`` decoder passes, so ``compress`` is slower;
            ``decompress`` is not affected.
        return_rate : bool, default=False
            Also return a dict of rates, in bits per row: ``bits_per_row`` (the whole
            byte string), ``payload_bits_per_row`` (the entropy-coded codes),
            ``model_bits_per_row`` (their ideal length, ``-log2`` of the prior
            probability of the quantised codes) and ``kl_bits_per_row`` (the mean KL
            divergence from posterior to prior: the information the model says a row
            carries).

        Returns
        -------
        data : bytes
        rate : dict
            Only with ``return_rate=True``.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvae import VAETransformer
        >>> X = load_digits().data / 16
        >>> vae = VAETransformer(n_components=5, max_iter=5, random_state=0).fit(X)
        >>> data, rate = vae.compress(X, step=0.5, return_rate=True)
        >>> rate["bits_per_row"] == 8 * len(data) / len(X)
        True
        >>> vae.decompress(data).shape
        (1797, 64)
        """
        X = self._check_fitted_input(X)
        _compression.check_step(step)
        data, rate = _compression.compress(self._inference(), X, self._kept_components_,
                                           self._code_gain_, step, refine)
        return (data, rate) if return_rate else data

    def decompress(self, data):
        """Rows from a byte string made by ``compress`` with this model.

        Parameters
        ----------
        data : bytes
            Output of ``compress``.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features_in_)
            ``inverse_transform`` of the stored codes, in the dtype that was compressed.

        Raises
        ------
        ValueError
            If the bytes are not skvae compressed data, are truncated or corrupted, come
            from a newer format version, or were compressed by a different model.
        """
        check_is_fitted(self)
        codes = _compression.decompress(self._inference(), data, self._kept_components_,
                                        self._n_decoded)
        if len(codes) == 0:
            return np.empty((0, self.n_features_in_), dtype=codes.dtype)
        rows = self._inverse_transform(codes)
        return rows if self._layout() is None else self._as_output(rows)

    # ------------------------------------------------------------- persistence

    def __getstate__(self):
        # A copy: object.__getstate__ may return the instance's own __dict__.
        state = dict(super().__getstate__())
        state["_versions"] = _persistence.versions()
        if isinstance(state.get("device"), torch.device):
            state["device"] = str(state["device"])  # a plain value, for skops
        if "net_" in state and "_net_spec_" in state:
            # The net as plain values, not skorch and torch objects: see _persistence.
            state["net_"] = _persistence.net_state(state["net_"])
            state["_net_spec_"] = state["_net_spec_"].as_dict()
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved_versions = state.pop("_versions", None)
        net_state = state.pop("net_", None)
        # Saved before the step-size schedule existed: those models trained at a
        # constant step size.
        state.setdefault("learning_rate", "constant")
        # Saved before tables with holes and categories: numeric, complete rows.
        state.setdefault("handle_missing", "auto")
        state.setdefault("column_types", None)
        state.setdefault("handle_unknown", "error")
        if isinstance(state.get("_net_spec_"), dict):
            state["_net_spec_"] = NetSpec.from_dict(state["_net_spec_"])
        super().__setstate__(state)
        if saved_versions is not None:
            _persistence.warn_on_version_mismatch(saved_versions)
        if isinstance(net_state, dict):
            device = _persistence.available_device(torch.device(self.device))
            net = self._build_net(self._net_spec_, device)
            _persistence.restore_net(net, net_state)
            self.net_ = net  # only a complete net: a failed load leaves no model
        elif net_state is not None:
            _persistence.upgrade_legacy_net(net_state)
            self.net_ = net_state  # saved before the plain state: a skorch net
        if hasattr(self, "net_") and not hasattr(self, "_code_gain_"):
            # Saved before the round-trip gain existed: codes decode as they are.
            self._code_gain_ = np.ones(self.net_.module_.n_latent)
        if hasattr(self, "net_") and "held_out_comparison_" not in self.__dict__:
            self.held_out_comparison_ = None  # saved before the held-out comparison existed
        if hasattr(self, "net_") and not hasattr(self, "n_steps_"):
            self.n_steps_ = int(getattr(self.net_.criterion_, "steps_done", 0))

    def to(self, device):
        """Move the fitted model to ``device`` (e.g. ``"cuda"`` or ``"cpu"``); returns self.

        Also sets the ``device`` parameter, so that later fits train there too.
        """
        check_is_fitted(self)
        device = check_device(device)
        net = self._build_net(self._spec(), device)
        _persistence.restore_net(net, _persistence.net_state(self.net_))
        self.net_, self.device = net, str(device)
        return self

    def _build_net(self, spec: NetSpec, device):
        """A net for ``spec`` to load saved weights into. It runs no callback code: the
        user's callbacks are installed by the next partial_fit (fit builds a new net)."""
        settings = self._training_settings(spec.select_active)
        return _training.build_net(spec, settings, device, install_user_callbacks=False)

    def _spec(self) -> NetSpec:
        if not hasattr(self, "_net_spec_"):
            raise ValueError(
                "This model was saved by an earlier version of skvae; it can transform and "
                "decode, but not train further or move: fit a new model."
            )
        return self._net_spec_

    def __sklearn_is_fitted__(self):
        # Fitted means a trained net: a fit that failed after validating X is not fitted.
        return hasattr(self, "net_")

    @property
    def _n_decoded(self) -> int:
        """Columns the decoder describes (a table's categories one-hot encoded)."""
        return int(self.net_.module_.feature_mean.numel())

    @property
    def _n_features_out(self):
        # Read from a fitted attribute, so that get_feature_names_out needs a fit.
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = True
        return tags
