"""Warnings and errors that skvae raises and users may want to catch or filter."""


class VersionMismatchWarning(UserWarning):
    """A model saved under other versions of skvae or torch than the running ones."""


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss.

    ``fit`` and ``partial_fit`` turn it into a ``ValueError`` that says what to change.
    """
