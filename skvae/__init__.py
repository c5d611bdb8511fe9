"""skvae: variational autoencoders as scikit-learn transformers."""

__version__ = "0.1.0"

from ._persistence import VersionMismatchWarning  # noqa: E402  (needs __version__ above)
from ._transformer import VAETransformer  # noqa: E402

__all__ = ["VAETransformer", "VersionMismatchWarning"]
