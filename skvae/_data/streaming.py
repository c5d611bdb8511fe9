"""Reading rows of arrays that live in a file (``np.memmap``) without holding the file
in memory.

Pages of a memory-mapped file that a process has read count towards its resident
memory until the kernel needs them back, so one pass over a 2.5 GB memmap leaves the
process 2.5 GB larger. Here every chunk's pages are handed back (``MADV_DONTNEED``)
once the chunk has been used: the file stays in the operating system's cache, and the
process holds one chunk at a time. Arrays in memory are read as they are.
"""

import mmap

import numpy as np

# Memmap modes whose pages map the file itself: handing them back loses nothing. A
# copy-on-write memmap ("c") may hold changes that exist only in its pages.
_SHARED_MODES = {"r", "r+", "w+"}


def _mapping(X: np.ndarray, shared_only: bool = False):
    """The ``mmap.mmap`` behind ``X`` (a memmap or a view of one), or None; with
    ``shared_only``, only that of a memmap whose pages can be handed back."""
    base, mode = X, None
    while base is not None:
        if isinstance(base, np.memmap) and mode is None:
            mode = getattr(base, "mode", None)
        if isinstance(base, mmap.mmap):
            return base if not shared_only or mode in _SHARED_MODES else None
        base = getattr(base, "base", None)
    return None


def is_file_backed(X) -> bool:
    """Whether ``X`` reads its rows from a memory-mapped file."""
    return isinstance(X, np.ndarray) and _mapping(X) is not None


def release(X: np.ndarray) -> None:
    """Hand back the resident pages of the file-backed array ``X`` (a no-op for arrays in
    memory, and where the platform cannot)."""
    mapping = _mapping(X, shared_only=True) if isinstance(X, np.ndarray) else None
    if mapping is None or not hasattr(mapping, "madvise") or X.size == 0:
        return
    start_address = np.frombuffer(mapping, dtype=np.uint8).__array_interface__["data"][0]
    first = X.__array_interface__["data"][0] - start_address
    # The span from the lowest to the highest byte of X (strides may be negative).
    low = first + sum(s * (n - 1) for s, n in zip(X.strides, X.shape) if s < 0)
    high = first + X.itemsize + sum(s * (n - 1) for s, n in zip(X.strides, X.shape) if s > 0)
    low -= low % mmap.PAGESIZE
    high = min(high, len(mapping))
    if high > low:
        mapping.madvise(mmap.MADV_DONTNEED, low, high - low)


def row_chunks(X: np.ndarray, chunk_rows: int):
    """Yield ``(start, rows)`` for consecutive chunks of ``X``; a file-backed chunk's
    pages are handed back after the caller is done with it."""
    for start in range(0, X.shape[0], chunk_rows):
        chunk = X[start : start + chunk_rows]
        yield start, chunk
        release(chunk)


def take_rows(X: np.ndarray, indices: np.ndarray, dtype, chunk_rows: int = 65536) -> np.ndarray:
    """The rows ``indices`` (sorted) of ``X`` as a new in-memory array of ``dtype``, read
    chunk by chunk so that a file-backed ``X`` is never resident as a whole."""
    out = np.empty((len(indices), X.shape[1]), dtype=dtype)
    done = 0
    for start, chunk in row_chunks(X, chunk_rows):
        stop = np.searchsorted(indices, start + len(chunk))
        out[done:stop] = chunk[indices[done:stop] - start]
        done = stop
    return out


# A file-backed X trains on a random sample of its rows of at most this size, read into
# memory once. For 64 float32 features that is 1,048,576 rows, which the default budget
# (5,750 steps of 256 rows for a sample this size) visits about 1.4 times each: a larger
# sample would mostly hold rows that training never draws.
SAMPLE_BYTES = 256 * 2**20


def sample_in_memory(X: np.ndarray, seed: int) -> np.ndarray:
    """A uniform random sample of the rows of the file-backed ``X`` (all of them if they
    fit in ``SAMPLE_BYTES``), in their order in the file, as an in-memory array."""
    n_rows = X.shape[0]
    size = max(1, min(n_rows, SAMPLE_BYTES // max(1, X.shape[1] * X.itemsize)))
    if size == n_rows:
        indices = np.arange(n_rows)
    else:
        indices = np.sort(np.random.default_rng(seed).choice(n_rows, size, replace=False))
    return take_rows(X, indices, X.dtype)
