"""Latent priors for ``VAETransformer(prior=...)``: the base class and the built-in ones.

Pass a name (``prior="spike_slab"``) or an object with its settings
(``prior=StudentTPrior(degrees_of_freedom=3)``). To add a prior, subclass ``Prior`` with a
name; the contributor guide shows how.
"""

from ._model.priors import *  # noqa: F403
from ._model.priors import __all__  # noqa: F401
