"""skvae: variational autoencoders as scikit-learn transformers."""

from ._transformer import VAETransformer

__all__ = ["VAETransformer"]
__version__ = "0.1.0"
