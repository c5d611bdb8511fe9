"""``VAEImputer``: missing entries filled by a variational autoencoder, as a
scikit-learn imputer."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._data.columns import as_table, missing_mask
from ._data.validation import check_params, feature_names_in, seed_from_random_state
from ._transformer import VAETransformer

# Share of the observed entries hidden to choose between the default models.
_VALIDATION_SHARE = 0.1


def held_out_errors(candidates, X, seed: int) -> np.ndarray:
    """Each candidate's mean squared imputation error on ``_VALIDATION_SHARE`` of the
    observed entries of ``X``, hidden from its fit, in units of each column's spread (a
    category column's entries are its one-hot probabilities). NaN where nothing could be
    hidden (rows without holes are complete: the candidates are then not compared)."""
    table = as_table(X)
    # A stream of its own: the seed alone could be the one that made the holes.
    rng = np.random.default_rng([seed, 0x1A2B])
    observed = ~missing_mask(table)
    set_aside = observed & (rng.random(observed.shape) < _VALIDATION_SHARE)
    if not set_aside.any() or observed.all():
        return np.full(len(candidates), np.nan)
    holed = table.mask(set_aside) if hasattr(table, "mask") else np.where(set_aside, np.nan,
                                                                                   table)
    errors = []
    for candidate in candidates:
        estimator = clone(candidate).fit(holed)
        model = estimator.model_
        # A category whose only entries were hidden is unknown to the model: such an
        # entry is missing in the truth too (the model reads missing entries), so it is
        # not scored.
        truth = model.encode_input(table, estimator, handle_unknown="ignore")
        rows = model.encode_input(holed, estimator, handle_unknown="ignore")
        filled = model.fill_missing(rows)
        held = np.isnan(rows) & ~np.isnan(truth)
        scale = model.spec.feature_scale
        errors.append(float(np.mean(np.square((filled - truth) / scale)[held])))
    return np.array(errors)


class VAEImputer(TransformerMixin, BaseEstimator):
    """Fill missing entries (NaN) with a variational autoencoder's prediction from the
    observed entries of each row.

    ``fit`` trains a ``VAETransformer`` on the rows, holes and all: the likelihood
    scores only the observed entries, and the encoder reads which entries are missing.
    ``transform`` gives each row the code that best explains its observed entries and
    fills the missing ones with the decoded row (for a linear model, probabilistic
    PCA's conditional mean). Observed entries are returned as they are. A table with
    category columns (a pandas or polars frame, or ``column_types``) comes back as a
    table of the same kind, with categories filled by the most probable label.

    Parameters
    ----------
    estimator : VAETransformer or None, default=None
        The model to train, cloned (fitted on complete rows, it is given
        ``handle_missing="learn"`` so that it can read rows with holes). None chooses
        between two models on a tenth of the observed entries, hidden for the purpose,
        and refits the better one on every row:

        * ``VAETransformer(n_components=None)``: every component, so that training
          starts at the Gaussian fitted by EM to the observed entries, whose conditional
          mean is what a linear iterative imputer approaches;
        * ``VAETransformer(n_components="auto", handle_missing="learn")``: a code sized
          by the KL, trained to infer withheld entries (denoising).

        Measured on five tables (benchmarks, "tables"), the first imputed better on
        breast cancer, the second on digits.

    random_state : int, RandomState instance or None, default=None
        Seeds the default models and the entries hidden to choose between them; ignored
        when ``estimator`` is given.

    Attributes
    ----------
    estimator_ : VAETransformer
        The trained model.
    validation_errors_ : dict or None
        With the default ``estimator``: each candidate's mean squared error (in units of
        the columns' spread; category columns as one-hot probabilities) on the hidden
        observed entries, by the candidate's parameters; None otherwise.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names seen in ``fit``, when they are all strings.

    Notes
    -----
    A row with no observed entry is filled with the decoded centre of the codes: the
    model's typical row, never NaN. A column with no observed entry in ``fit`` raises
    ``ValueError``: there is nothing to learn it from.

    Examples
    --------
    >>> import numpy as np
    >>> from skvae import VAEImputer, VAETransformer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 8))
    >>> X[rng.random(X.shape) < 0.1] = np.nan
    >>> imputer = VAEImputer(VAETransformer(n_components=5, max_iter=5, random_state=0))
    >>> filled = imputer.fit_transform(X)
    >>> bool(np.isnan(filled).any())
    False
    """

    _parameter_constraints: dict = {"estimator": [VAETransformer, None],
                                    "random_state": ["random_state"]}

    def __init__(self, estimator=None, *, random_state=None):
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y=None):
        """Train the model on ``X`` (rows may hold NaN).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training rows.
        y : None
            Ignored.

        Returns
        -------
        self : VAEImputer
        """
        check_params(self)
        self.validation_errors_ = None
        if self.estimator is not None:
            template = clone(self.estimator)
        else:
            seed = seed_from_random_state(self.random_state)
            candidates = [VAETransformer(n_components=None, random_state=seed),
                          VAETransformer(n_components="auto", handle_missing="learn",
                                         random_state=seed)]
            errors = held_out_errors(candidates, X, seed)
            self.validation_errors_ = {
                repr(c.get_params()["n_components"]) + ", " + c.handle_missing: e
                for c, e in zip(candidates, errors)}
            template = candidates[int(np.nanargmin(errors))] if np.isfinite(
                errors).any() else candidates[0]
        if not missing_mask(as_table(X)).any():
            # Complete rows: the model must still learn to read holes.
            template.set_params(handle_missing="learn")
        self.estimator_ = template.fit(X)
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def transform(self, X):
        """``X`` with its missing entries filled.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows with missing entries (NaN); the input is not modified.

        Returns
        -------
        X_filled : ndarray or DataFrame of shape (n_samples, n_features)
            The rows with every entry present: an array for an array of numbers, a table
            like the training one for a table with category columns.
        """
        check_is_fitted(self)
        estimator = self.estimator_
        model = estimator.model_
        rows = model.encode_input(X, estimator, estimator.handle_unknown)
        filled = model.fill_missing(rows)
        if model.layout is None:
            return filled.astype(rows.dtype, copy=False)
        return model.to_output(filled, getattr(X, "index", None))

    def get_feature_names_out(self, input_features=None):
        """The input's column names: imputation keeps the columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Column names; by default those seen in ``fit`` (``x0, x1, ...`` for an
            array).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return feature_names_in(self, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
