"""Observation models for ``VAETransformer(likelihood=...)``: the base class and the
built-in ones. To add one, subclass ``Likelihood`` with a name; the contributor guide
shows how.
"""

from ._model.likelihoods import *  # noqa: F403
from ._model.likelihoods import __all__  # noqa: F401
