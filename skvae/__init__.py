"""skvae: variational autoencoders as scikit-learn transformers."""

from . import exceptions, likelihoods, priors
from ._imputer import VAEImputer
from ._transformer import VAETransformer
from ._version import __version__
from .exceptions import VersionMismatchWarning

__all__ = ["VAEImputer", "VAETransformer", "VersionMismatchWarning", "exceptions",
           "likelihoods", "priors", "__version__"]
