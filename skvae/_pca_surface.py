"""PCA's fitted surface on ``VAETransformer``: the noise variance, the model's
covariance and precision, and an explanation for PCA's names that have no counterpart.

A mixin, as scikit-learn's ``_BasePCA`` carries ``get_covariance`` for its estimators;
``components_``, ``explained_variance_`` and the rest are fitted attributes set by
``fit`` from the model's summaries (``_apply.diagnostics.linear_surface``).
"""

import numpy as np
from sklearn.exceptions import NotFittedError

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
# Fitted attributes of the PCA surface.
_FITTED_PCA_SURFACE = ("components_", "explained_variance_", "explained_variance_ratio_",
                       "singular_values_", "mean_", "noise_variance_")


class PCASurfaceMixin:
    """``noise_variance_``, ``get_covariance`` and ``get_precision`` of a fitted
    ``model_``, and PCA's other names explained."""

    @property
    def noise_variance_(self) -> float:
        """Variance of the Gaussian likelihood's observation noise, in squared data units
        (PCA's ``noise_variance_`` for a model at the PPCA start)."""
        model = self.__dict__.get("model_")
        noise = None if model is None else model.net.module_.likelihood.noise_variance()
        if noise is None:
            # Not fitted, or no single noise variance: __getattr__ explains which.
            raise AttributeError("noise_variance_")
        return noise

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
        cls = type(self).__name__
        if name in _PCA_ONLY:
            raise AttributeError(f"{cls} has no {name}: {_PCA_ONLY[name]}")
        model = self.__dict__.get("model_")
        if name in _FITTED_PCA_SURFACE and model is None:
            raise NotFittedError(
                f"This {cls} instance is not fitted yet, so it has no {name}; "
                "call fit first.")
        if name == "noise_variance_":
            raise AttributeError(
                f"noise_variance_ exists for likelihood='gaussian' only: the "
                f"{model.spec.likelihood!r} likelihood has no single noise variance. "
                "score_samples gives each row's log-density under the model instead.")
        # Any other name: Python's own message, with its "did you mean" for typos.
        raise AttributeError(f"'{cls}' object has no attribute '{name}'",
                             name=name, obj=self)
