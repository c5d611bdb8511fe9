"""Byte strings for latent codes: quantisation, entropy coding under the prior, container.

Component ``j`` of a code is quantised with its own step ``steps[j]``: entry ``z``
becomes the integer symbol ``round(z / steps[j])``, clipped to ``+-ceil(CODE_RANGE /
steps[j])``. Symbols are coded with constriction's ANS coder under the prior's
probability of each quantisation bin, so an entry costs about ``-log2 P(bin)`` bits:
cheap near the centre of the prior, cheaper still for a spike-and-slab zero.

Container (little-endian): magic ``b"SKVAEC"``, format version (u16), rows (u64),
features (u32), code width (u32), dtype (u8: 0 float32, 1 float64), model fingerprint
(16 bytes), digest of the symbols (16 bytes), payload length in 32-bit words (u64), the
steps (f64 each), the payload, and a BLAKE2b checksum (16 bytes) of everything before it.
The checksum catches damage anywhere; the symbol digest also catches a header whose
counts were changed and its checksum recomputed, which an ANS stream would otherwise
decode into rows that were never stored.
"""

import hashlib
import math
import struct
from numbers import Real

import constriction
import numpy as np
import torch

from .._model.module import flat_name
from .inference import BATCH_ROWS, check_finite_output

MAGIC = b"SKVAEC"
FORMAT_VERSION = 1
CODE_RANGE = 8.0  # in prior standard deviations: codes beyond it are clipped
# The coding table has 2 * CODE_RANGE / step bins: this keeps it under 160,000 entries.
MIN_STEP = 1e-4

_HEADER = struct.Struct("<6sHQIIB16s16sQ")
_CHECKSUM_BYTES = 16
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fingerprint(module, kept_components) -> bytes:
    """16 bytes that change with any weight, buffer, prior setting or kept component.

    Tensors are named as format 1 of the container defined them (``flat_name``).
    Linear-path tensors that are all zero are left out: a model saved before the linear
    paths existed loads with them at zero, and its containers must still decode.
    """
    digest = hashlib.blake2b(digest_size=16)
    state = {flat_name(name): tensor for name, tensor in module.state_dict().items()}
    for name, tensor in sorted(state.items()):
        if "_linear." in name and not tensor.any():
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(module.prior.fingerprint_text().encode())
    digest.update(np.asarray(kept_components, dtype=np.int64).tobytes())
    return digest.digest()


def symbols_digest(symbols: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(symbols, dtype="<i8").tobytes(),
                           digest_size=16).digest()


def _radius(step: float) -> int:
    return math.ceil(CODE_RANGE / step)


def _bin_probabilities(prior, step: float) -> np.ndarray:
    """The prior's probability of each quantisation bin, symbols ``-radius .. radius``,
    normalised."""
    radius = _radius(step)
    edges = (np.arange(-radius, radius + 2, dtype=np.float64) - 0.5) * step
    probabilities = np.diff(prior.cdf(edges))
    return probabilities / probabilities.sum()


def _coding_model(prior, step: float):
    """Categorical model over symbols ``0 .. 2 * radius`` (symbol minus ``radius``) and
    its normalised probabilities."""
    probabilities = _bin_probabilities(prior, step)
    return constriction.stream.model.Categorical(probabilities, perfect=False), probabilities


def radii(steps: np.ndarray) -> np.ndarray:
    """The largest symbol magnitude of each component."""
    return np.array([_radius(step) for step in steps], dtype=np.float32)


def symbol_bits(prior, steps: np.ndarray) -> np.ndarray:
    """``-log2`` of each symbol's coding probability: row ``j`` holds component ``j``'s
    symbols ``-radius .. radius`` from column 0, padded with ``inf``. A bin far in the
    prior's tail can have probability zero in float64: ``inf`` bits, never preferred."""
    with np.errstate(divide="ignore"):
        tables = [-np.log2(_bin_probabilities(prior, step)) for step in steps]
    bits = np.full((len(tables), max(map(len, tables))), np.inf)
    for row, table in zip(bits, tables):
        row[: len(table)] = table
    return bits


def quantise(codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Integer symbols of the code entries (the nearest grid points), one column per
    component."""
    return np.clip(np.rint(codes / steps), -radii(steps), radii(steps)).astype(np.int32)


def encode(symbols: np.ndarray, prior, steps: np.ndarray) -> tuple[np.ndarray, float]:
    """ANS-code the symbols; return the payload words and their ideal length in bits."""
    coder = constriction.stream.stack.AnsCoder()
    ideal_bits = 0.0
    # A stack coder decodes last-in first-out: encode the columns in reverse.
    for column, step in reversed(list(zip(symbols.T, steps))):
        model, probabilities = _coding_model(prior, step)
        shifted = (column + _radius(step)).astype(np.int32)
        coder.encode_reverse(shifted, model)
        ideal_bits -= float(np.log2(probabilities[shifted]).sum())
    return coder.get_compressed(), ideal_bits


def pack(*, symbols, n_features, dtype, steps, model_fingerprint, words) -> bytes:
    header = _HEADER.pack(
        MAGIC, FORMAT_VERSION, len(symbols), n_features, len(steps),
        _DTYPES.index(np.dtype(dtype)), model_fingerprint, symbols_digest(symbols),
        len(words),
    )
    body = (header + np.asarray(steps, dtype="<f8").tobytes()
            + np.asarray(words, dtype="<u4").tobytes())
    return body + hashlib.blake2b(body, digest_size=_CHECKSUM_BYTES).digest()


def unpack(data, model_fingerprint: bytes) -> dict:
    """Check a container and return its fields; ``ValueError`` naming what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(
            f"decompress expects the bytes that compress returned, got {type(data).__name__}."
        )
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ValueError("These bytes are not skvae compressed data (the magic bytes differ).")
    if len(data) < len(MAGIC) + 2:
        raise ValueError("The compressed data is truncated: it ends inside its header.")
    (version,) = struct.unpack_from("<H", data, len(MAGIC))
    if version > FORMAT_VERSION:
        raise ValueError(
            f"The compressed data uses format version {version}, newer than the version "
            f"{FORMAT_VERSION} this skvae reads; upgrade skvae to decompress it."
        )
    if version != FORMAT_VERSION:
        raise ValueError(f"The compressed data has an unknown format version {version}.")
    if len(data) < _HEADER.size + _CHECKSUM_BYTES:
        raise ValueError("The compressed data is truncated: it ends inside its header.")
    (_, _, n_rows, n_features, n_codes, dtype_code, stored_fingerprint, digest,
     n_words) = _HEADER.unpack_from(data)
    expected = _HEADER.size + 8 * n_codes + 4 * n_words + _CHECKSUM_BYTES
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "followed by extra bytes"
        raise ValueError(
            f"The compressed data is {state} ({len(data)} bytes where its header says "
            f"{expected}), or its header is corrupted."
        )
    body, checksum = data[:-_CHECKSUM_BYTES], data[-_CHECKSUM_BYTES:]
    if hashlib.blake2b(body, digest_size=_CHECKSUM_BYTES).digest() != checksum:
        raise ValueError("The compressed data is corrupted: its checksum does not match.")
    if stored_fingerprint != model_fingerprint:
        raise ValueError(
            "The data was compressed by a different model (fingerprints differ); "
            "decompress it with the model that compressed it."
        )
    steps = np.frombuffer(data, dtype="<f8", count=n_codes, offset=_HEADER.size)
    if dtype_code >= len(_DTYPES) or not np.all(np.isfinite(steps) & (steps >= MIN_STEP)):
        raise ValueError("The compressed data is corrupted: its header is inconsistent.")
    return {
        "n_rows": n_rows, "n_features": n_features, "n_codes": n_codes,
        "dtype": _DTYPES[dtype_code], "steps": steps, "digest": digest,
        "words": np.frombuffer(data, dtype="<u4", count=n_words,
                               offset=_HEADER.size + 8 * n_codes),
    }


def decode(words: np.ndarray, n_rows: int, prior, steps: np.ndarray, digest: bytes):
    """Inverse of ``encode``: the integer symbols, ``(n_rows, len(steps))``."""
    models = [_coding_model(prior, step) for step in steps]
    # No symbol costs less than -log2(its largest probability) bits, and the coder's
    # final state holds at most 64 bits beyond the payload: a header that claims more
    # rows than that is corrupted, and is refused before any memory is spent on it.
    min_bits_per_row = sum(-math.log2(probabilities.max()) for _, probabilities in models)
    if n_rows and n_rows * min_bits_per_row > 32 * len(words) + 64:
        raise ValueError("The compressed data is corrupted: it claims more rows than it holds.")
    coder = constriction.stream.stack.AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
    symbols = np.empty((n_rows, len(steps)), dtype=np.int64)
    try:
        for j, ((model, _), step) in enumerate(zip(models, steps)):
            if n_rows:
                symbols[:, j] = coder.decode(model, n_rows).astype(np.int64) - _radius(step)
    except Exception as exc:  # constriction signals a broken stream in several ways
        raise ValueError(f"The compressed data is corrupted: {exc}") from None
    if not coder.is_empty():
        raise ValueError("The compressed data is corrupted: its payload has bits left over.")
    if symbols_digest(symbols) != digest:
        raise ValueError("The compressed data is corrupted: the decoded codes do not match "
                         "the digest stored with them.")
    return symbols


# ------------------------------------------------------------------- the codec


def check_step(step) -> None:
    if not (isinstance(step, Real) and not isinstance(step, bool)
            and math.isfinite(step) and step >= MIN_STEP):
        raise ValueError(f"step must be a finite number of at least {MIN_STEP}, got {step!r}.")


def compress(inference, X: np.ndarray, kept, gain, step: float, refine: bool):
    """``compress``'s bytes for the validated rows ``X`` and its rates (bits per row).

    ``kept`` are the latent components that codes hold, ``gain`` the round-trip gain
    that decoding applies (see ``_diagnostics``).
    """
    prior = inference.prior
    codes = np.empty((X.shape[0], len(kept)))
    kl = np.empty(X.shape[0])
    for rows, n_rows, posterior in inference.posteriors(X):
        codes[rows] = prior.code(posterior)[:n_rows, kept].double().cpu().numpy()
        kl[rows] = prior.kl(posterior)[:n_rows].double().sum(dim=1).cpu().numpy()
    check_finite_output(codes)
    steps = np.full(len(kept), float(step))
    symbols = quantise(codes, steps)
    if refine:
        symbols = refine_symbols(inference, X, codes, symbols, steps, kept, gain)
    words, ideal_bits = encode(symbols, prior, steps)
    data = pack(symbols=symbols, n_features=X.shape[1], dtype=X.dtype, steps=steps,
                words=words, model_fingerprint=fingerprint(inference.module, kept))
    n = X.shape[0]
    return data, {
        "bits_per_row": 8 * len(data) / n,
        "payload_bits_per_row": 32 * len(words) / n,
        "model_bits_per_row": ideal_bits / n,
        "kl_bits_per_row": float(kl.mean() / math.log(2)),
    }


def refine_symbols(inference, X, codes, symbols, steps, kept, gain):
    """Greedy search, entry by entry, between the two grid points around each code
    entry, for the symbols that give each row its shortest two-part description: the
    bits of the symbols plus the bits of the row under the decoded likelihood. Two
    passes over the entries."""
    module, device = inference.module, inference.device
    radius = radii(steps)
    # The grid point on the other side of each entry's value, decided in float64 as the
    # rounding was. An entry exactly on a grid point (a spike-and-slab zero, a clipped
    # code) has no other side and stays.
    on_grid = symbols * steps == codes
    alternative = np.where(symbols * steps < codes, symbols + 1, symbols - 1)
    alternative = np.where(on_grid, symbols, np.clip(alternative, -radius, radius))

    def as_tensor(array, dtype=torch.float32):
        return torch.as_tensor(array, dtype=dtype, device=device)

    kept_t = as_tensor(kept, torch.int64)
    bits_table = as_tensor(symbol_bits(module.prior, steps))
    components = torch.arange(len(steps), device=device)
    radius_t, steps_t = as_tensor(radius), as_tensor(steps)
    gain_t = as_tensor(gain)
    full = as_tensor(np.zeros((BATCH_ROWS, module.n_latent)))
    current = as_tensor(np.zeros((BATCH_ROWS, len(steps))))
    other = torch.zeros_like(current)
    refined = symbols.copy()

    def row_bits(x, candidate):
        full.index_copy_(1, kept_t, candidate * steps_t)
        data_nats = -module.likelihood.log_prob(x, module.decode(full * gain_t))
        code_bits = bits_table[components, (candidate + radius_t).long()].sum(dim=1)
        return data_nats / math.log(2) + code_bits

    for rows, x, n_rows in inference.batches(X):
        # Padding rows stay at the zero code; their results are dropped.
        current.zero_()
        other.zero_()
        current[:n_rows] = as_tensor(symbols[rows])
        other[:n_rows] = as_tensor(alternative[rows])
        best = row_bits(x, current)
        for _ in range(2):
            for j in range(len(steps)):
                candidate = current.clone()
                candidate[:, j] = other[:, j]
                bits = row_bits(x, candidate)
                better = bits < best
                # Swap: the entry moves, and its other point becomes the old one.
                moved = torch.where(better, other[:, j], current[:, j])
                other[:, j] = torch.where(better, current[:, j], other[:, j])
                current[:, j] = moved
                best = torch.where(better, bits, best)
        refined[rows] = current[:n_rows].cpu().numpy()
    return refined


def decompress(inference, data, kept, n_features: int) -> np.ndarray:
    """The codes stored in ``compress``'s bytes, in the dtype that was compressed."""
    fields = unpack(data, fingerprint(inference.module, kept))
    n_rows, steps = fields["n_rows"], fields["steps"]
    if fields["n_codes"] != len(kept) or fields["n_features"] != n_features:
        raise ValueError("The compressed data is corrupted: its shape does not fit the model.")
    symbols = decode(fields["words"], n_rows, inference.prior, steps, fields["digest"])
    return (symbols * steps).astype(fields["dtype"])
