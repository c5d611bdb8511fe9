"""``VAETransformer``: a variational autoencoder behind the scikit-learn transformer API.

The estimator is a shell: parameters, validation and dispatch. ``fit`` runs three
stages (``_fit.plan``, ``_fit.train``, ``_fit.summarise``) and keeps what they produce
in one ``FittedModel`` (``_fitted_model``), which every other method uses; PCA's
surface comes from a mixin (``_pca_surface``), saved state from ``_io.persistence``.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ._apply import compression
from ._apply.inference import Inference
from ._data.validation import (
    Interval,
    RealNotInt,
    StrOptions,
    check_device,
    seed_from_random_state,
    wrap_output,
)
from ._fit.plan import plan_fit
from ._fit.summarise import summarise
from ._fit.train import TrainingDivergedError, train
from ._fitted_model import FITTED_ATTRIBUTES, FittedModel
from ._io import persistence
from ._model.likelihoods import LIKELIHOODS
from ._model.priors import PRIORS, Prior
from ._pca_surface import PCASurfaceMixin


class VAETransformer(PCASurfaceMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                     BaseEstimator):
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
    model_ : FittedModel
        Everything the fit produced, in one object: the net, the network's spec, the
        column layout, the summaries below. The other fitted attributes are read from
        it, and it is what a saved model holds. Its methods (``encode_input``,
        ``codes``, ``decode``, ``sample``, ``fill_missing``, ``to_output``) are what
        this estimator and ``VAEImputer`` call (the contributor guide, *The house*,
        shows how a fit makes it).
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
            The rows of this epoch (a chunk of a stream, for example).
        y : None
            Ignored.

        Returns
        -------
        self : VAETransformer
            The estimator, trained one epoch further.
        """
        self._fit(X, incremental=True)
        return self

    def _fit(self, X, incremental):
        previous = self.model_ if incremental and self.__sklearn_is_fitted__() else None
        if previous is None:
            self._forget_fit()  # a failed fit never leaves a model that looks fitted
        plan = plan_fit(self, X, previous, incremental)
        try:
            trained = train(plan, previous)
        except TrainingDivergedError:
            self._forget_fit()
            raise
        except KeyboardInterrupt:
            if previous is None:
                self._forget_fit()
            raise
        summaries = summarise(Inference(trained.net.module_, trained.net.device), trained.spec,
                              plan.training_rows, plan.rows.shape[0])
        self._set_model(FittedModel(trained, summaries, plan.layout, plan.settings))

    def _set_model(self, model: FittedModel):
        self.model_ = model
        self.__dict__.update(model.fitted_attributes())

    def _forget_fit(self):
        for name in (*FITTED_ATTRIBUTES, "model_"):
            self.__dict__.pop(name, None)

    def _rows(self, X) -> np.ndarray:
        """``X`` as the fitted network reads it (see ``FittedModel.encode_input``)."""
        check_is_fitted(self)
        return self.model_.encode_input(X, self, self.handle_unknown)

    def _as_output(self, rows: np.ndarray, index=None):
        """Decoded ``rows`` as the user reads them: a table like the training one, or
        the container that ``set_output(transform=...)`` asked for."""
        if self.model_.layout is not None:
            return self.model_.to_output(rows, index)
        return wrap_output(self, rows, index)

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
        rows = self._rows(X)
        return self.model_.codes(rows, rows.dtype)

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
        return self.model_.decode(Z)

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
        rows = self.model_.sample(n_samples, seed_from_random_state(random_state),
                                  from_prior, noise)
        return self._as_output(rows)

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
        rows = self._rows(X)
        if n_draws is None:
            return self.model_.inference().elbo(rows)
        return self.model_.inference().log_likelihood_bound(rows, 2 * ((n_draws + 1) // 2))

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
        rows, model = self._rows(X), self.model_
        compression.check_step(step)
        data, rate = compression.compress(model.inference(), rows, model.kept_components,
                                          model.diagnostics.code_gain, step, refine)
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
        model = self.model_
        codes = compression.decompress(model.inference(), data, model.kept_components,
                                       model.n_decoded)
        if len(codes) == 0:
            return np.empty((0, self.n_features_in_), dtype=codes.dtype)
        rows = self._inverse_transform(codes)
        return rows if model.layout is None else self._as_output(rows)

    # ------------------------------------------------------------- persistence

    def __getstate__(self):
        # A copy: object.__getstate__ may return the instance's own __dict__.
        state = dict(super().__getstate__())
        state["_versions"] = persistence.versions()
        if isinstance(state.get("device"), torch.device):
            state["device"] = str(state["device"])  # a plain value, for skops
        for name in FITTED_ATTRIBUTES:
            state.pop(name, None)  # the model provides them
        if "model_" in state:
            state["model_"] = state["model_"].state()  # plain values: see _io.persistence
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved_versions = state.pop("_versions", None)
        if saved_versions is not None:
            persistence.warn_on_version_mismatch(saved_versions)
        model = state.pop("model_", None)
        if model is not None:
            # Where the device parameter says, or the CPU where this machine lacks it.
            device = persistence.available_device(torch.device(state["device"]))
            model = FittedModel.from_state(model, device)
        elif "net_" in state:  # saved before the fitted-model object
            model = FittedModel.from_estimator_state(state)
        super().__setstate__(state)
        if model is not None:  # only a complete model: a failed load leaves none
            self._set_model(model)

    def to(self, device):
        """Move the fitted model to ``device`` (e.g. ``"cuda"`` or ``"cpu"``); returns self.

        Also sets the ``device`` parameter, so that later fits train there too.
        """
        check_is_fitted(self)
        device = check_device(device)
        self._set_model(self.model_.to(device))
        self.device = str(device)
        return self

    def __sklearn_is_fitted__(self):
        # Fitted means a trained model: a fit that failed after validating X is not.
        return "model_" in self.__dict__

    @property
    def _n_features_out(self):
        # Read from a fitted attribute, so that get_feature_names_out needs a fit.
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = True
        return tags
