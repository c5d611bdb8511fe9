"""compress / decompress: round trips, reported rates, and hostile byte strings."""

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from skvae import VAETransformer
from skvae._apply import compression as _compression
from skvae._apply.compression import FORMAT_VERSION, MAGIC

from .conftest import FAST

DATA = Path(__file__).resolve().parent / "data"


def _rows(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.tanh(rng.standard_normal((n, 2)) @ rng.standard_normal((2, 6)))


@pytest.fixture(scope="module")
def model():
    return VAETransformer(n_components=3, random_state=0, **FAST).fit(_rows())


@pytest.fixture(scope="module")
def trained():
    """A model trained long enough for its decoder to be worth searching."""
    return VAETransformer(n_components=3, random_state=0, **{**FAST, "max_iter": 40}).fit(
        _rows())


@pytest.fixture(scope="module")
def blob(model):
    return model.compress(_rows(50, seed=1))


def _stored_symbols(model, data):
    """The integer symbols inside a container and their steps, read with the library's
    own decoder."""
    module = model.net_.module_
    fields = _compression.unpack(data, _compression.fingerprint(module,
                                                                model.model_.kept_components))
    symbols = _compression.decode(fields["words"], fields["n_rows"], module.prior,
                                  fields["steps"], fields["digest"])
    return symbols, fields["steps"]


def _stored_codes(model, data):
    symbols, steps = _stored_symbols(model, data)
    return symbols * steps


@pytest.mark.parametrize("step", [1.0, 0.25, 0.01])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rounded_round_trip_is_within_half_a_step(model, step, dtype):
    X = _rows(50, seed=1).astype(dtype)
    X_hat = model.decompress(model.compress(X, step=step, refine=False))
    assert X_hat.dtype == dtype and X_hat.shape == X.shape
    codes = model.transform(X).astype(np.float64)
    # Entries beyond CODE_RANGE prior standard deviations are clipped, as documented.
    radius = _compression.radii(np.array([step]))[0]
    stored = np.clip(np.rint(codes / step), -radius, radius) * step
    inside = np.abs(codes) <= _compression.CODE_RANGE
    assert np.all((np.abs(stored - codes) <= step / 2 + 1e-12)[inside])  # the promise
    assert_allclose(X_hat, model.inverse_transform(stored.astype(dtype)), rtol=1e-6,
                    atol=1e-6)


@pytest.mark.parametrize("step", [2.0, 1.0, 0.25])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_refined_round_trip_is_within_one_step(model, step, dtype):
    X = _rows(50, seed=1).astype(dtype)
    data = model.compress(X, step=step)
    stored = _stored_codes(model, data)
    codes = model.transform(X).astype(np.float64)
    assert_allclose(stored / step, np.rint(stored / step))  # on the grid
    assert np.all(np.abs(stored - codes) <= step + 1e-6)  # the knob's promise
    X_hat = model.decompress(data)
    assert X_hat.dtype == dtype
    assert_allclose(X_hat, model.inverse_transform(stored.astype(dtype)), rtol=1e-6,
                    atol=1e-6)


def _description_bits(model, X, data):
    """Per row: bits of the stored code under the coder's model plus bits of the row
    under the decoder's likelihood, for the code stored in ``data``."""
    module = model.net_.module_
    symbols, steps = _stored_symbols(model, data)
    radius = _compression.radii(steps).astype(np.int64)
    code_bits = _compression.symbol_bits(module.prior, steps)[
        np.arange(symbols.shape[1]), symbols + radius].sum(axis=1)
    full = np.zeros((len(X), module.n_latent), dtype=np.float32)
    full[:, model.model_.kept_components] = symbols * steps
    full *= model.model_.diagnostics.code_gain  # decoded as decompress decodes them
    with torch.no_grad():
        module.eval()
        nats = -module.likelihood.log_prob(torch.as_tensor(X, dtype=torch.float32),
                                           module.decode(torch.as_tensor(full)))
    return code_bits + nats.double().numpy() / np.log(2)


KINDS = {"normal": {}, "spike_slab": {"prior": "spike_slab"}, "laplace": {"prior": "laplace"},
         "auto": {"n_components": "auto"}, "bernoulli": {"likelihood": "bernoulli"}}


def _kind_data(kind):
    X = _rows(300)
    return (X + 1) / 2 if kind == "bernoulli" else X  # Bernoulli data lie in [0, 1]


@pytest.fixture(scope="module", params=list(KINDS))
def trained_kind(request):
    """(kind, model) trained long enough for its decoder to be worth searching."""
    kind = request.param
    vae = VAETransformer(**{"n_components": 3, **KINDS[kind]}, random_state=0,
                         **{**FAST, "max_iter": 40}).fit(_kind_data(kind))
    return kind, vae


@pytest.mark.parametrize("step", [2.0, 1.0, 0.5])
def test_refine_keeps_its_promises_for_every_model_kind(trained_kind, step):
    """Refined codes lie on the grid within one step of transform's codes, decode to
    inverse_transform of themselves, and never lengthen a row's description: the search
    starts from the rounded code and only takes moves that shorten it."""
    kind, vae = trained_kind
    X = _kind_data(kind)[:200]
    rounded, refined = vae.compress(X, step=step, refine=False), vae.compress(X, step=step)
    stored = _stored_codes(vae, refined)
    codes = vae.transform(X).astype(np.float64)
    assert_allclose(stored / step, np.rint(stored / step))
    assert np.all(np.abs(stored - codes) <= step + 1e-6)
    assert_allclose(vae.decompress(refined), vae.inverse_transform(stored), rtol=1e-6,
                    atol=1e-6)
    if kind == "spike_slab":  # entries that are exactly off stay off
        assert np.all(stored[codes == 0] == 0)
    rounded_bits = _description_bits(vae, X, rounded)
    refined_bits = _description_bits(vae, X, refined)
    assert np.all(refined_bits <= rounded_bits + 1e-3)
    assert refined_bits.sum() < rounded_bits.sum()  # and it finds better codes


@pytest.mark.parametrize("step", [2.0, 1.0, 0.5])
def test_refine_lowers_the_error_of_a_gaussian_model(trained, step):
    X = _rows(200, seed=4)
    errors = [np.mean((trained.decompress(trained.compress(X, step=step, refine=refine))
                       - X) ** 2) for refine in (False, True)]
    assert errors[1] < errors[0]


def test_refine_treats_rows_alone_across_batches(trained):
    """Rows beyond the first 2048-row inference batch are refined as when compressed on
    their own: no offset between a batch's rows and their codes."""
    X = _rows(2100, seed=5)
    whole = _stored_codes(trained, trained.compress(X, step=1.0))
    parts = np.vstack([_stored_codes(trained, trained.compress(X[:2048], step=1.0)),
                       _stored_codes(trained, trained.compress(X[2048:], step=1.0))])
    assert_allclose(whole, parts)


def test_smaller_steps_cost_more_bits_and_lose_less(model):
    X = _rows(100, seed=2)
    reference = model.inverse_transform(model.transform(X))
    errors, sizes = [], []
    for step in (1.0, 0.1, 0.01):
        data = model.compress(X, step=step)
        sizes.append(len(data))
        errors.append(np.mean((model.decompress(data) - reference) ** 2))
    assert sizes[0] < sizes[1] < sizes[2]
    assert errors[0] > errors[1] > errors[2]


def test_reported_rate_matches_the_bytes(model):
    # Rows like the training rows: those of another seed come from another mixing, and
    # the linear path maps some of them beyond the coder's clipping range.
    X = _rows()
    data, rate = model.compress(X, step=0.1, return_rate=True)
    assert rate["bits_per_row"] == 8 * len(data) / len(X)
    assert rate["payload_bits_per_row"] < rate["bits_per_row"]
    # ANS codes within a few words of the ideal length under the same model.
    assert rate["model_bits_per_row"] <= rate["payload_bits_per_row"]
    assert rate["payload_bits_per_row"] <= rate["model_bits_per_row"] + 96 / len(X)
    assert rate["kl_bits_per_row"] > 0


@pytest.mark.parametrize("params", [{"prior": "spike_slab"}, {"prior": "laplace"},
                                    {"n_components": "auto"}])
def test_every_model_kind_round_trips_rounded(params):
    X = _rows()
    vae = VAETransformer(**{"n_components": 3, **params}, random_state=0, **FAST).fit(X)
    step = 0.05
    stored = np.rint(vae.transform(X) / step) * step
    assert_allclose(vae.decompress(vae.compress(X, step=step, refine=False)),
                    vae.inverse_transform(stored), rtol=1e-6, atol=1e-6)


def test_bad_step_is_named(model):
    for step in (0, -1.0, 1e-6, float("nan"), "fine"):
        with pytest.raises(ValueError, match="step must be a finite number of at least"):
            model.compress(_rows(5), step=step)


def test_another_model_is_refused(blob):
    other = VAETransformer(n_components=3, random_state=1, **FAST).fit(_rows())
    with pytest.raises(ValueError, match="different model"):
        other.decompress(blob)


def test_newer_format_version_is_named(model, blob):
    newer = bytearray(blob)
    struct.pack_into("<H", newer, len(MAGIC), FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}, newer"):
        model.decompress(bytes(newer))


def test_truncated_and_corrupted_bytes_are_named(model, blob):
    with pytest.raises(ValueError, match="truncated"):
        model.decompress(blob[:-5])
    with pytest.raises(ValueError, match="truncated: it ends inside its header"):
        model.decompress(blob[:20])
    flipped = bytearray(blob)
    flipped[-20] ^= 0xFF  # inside the payload
    with pytest.raises(ValueError, match="checksum"):
        model.decompress(bytes(flipped))
    with pytest.raises(ValueError, match="magic"):
        model.decompress(b"not skvae data at all")
    with pytest.raises(ValueError, match="expects the bytes"):
        model.decompress("a string")


HOSTILE = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


@HOSTILE
@given(st.binary(max_size=300))
def test_random_bytes_always_give_a_value_error(model, data):
    with pytest.raises(ValueError):
        model.decompress(data)


@HOSTILE
@given(st.data())
def test_mutated_containers_give_a_value_error(model, blob, data):
    position = data.draw(st.integers(0, len(blob) - 1))
    mask = data.draw(st.integers(1, 255))
    mutated = bytearray(blob)
    mutated[position] ^= mask
    with pytest.raises(ValueError):
        model.decompress(bytes(mutated))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ValueError):
        model.decompress(blob[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=16))
    with pytest.raises(ValueError):
        model.decompress(blob + extra)


@HOSTILE
@given(st.integers(1, 2**40))
def test_a_header_claiming_too_many_rows_is_refused_before_decoding(model, blob, n_rows):
    # Even with a valid checksum, a row count the payload cannot hold is refused.
    import hashlib

    forged = bytearray(blob[:-16])
    struct.pack_into("<Q", forged, len(MAGIC) + 2, len(_rows(50)) + n_rows)
    forged += hashlib.blake2b(bytes(forged), digest_size=16).digest()
    with pytest.raises(ValueError):
        model.decompress(bytes(forged))


def test_saved_container_still_decodes_the_same():
    """Bytes written by tests/data/make_compress_fixture.py with format version 1. If this
    fails, the format changed: bump FORMAT_VERSION on purpose and regenerate the fixture."""
    assert FORMAT_VERSION == 1
    vae = pickle.loads((DATA / "compress_v1_model.pkl").read_bytes())
    data = (DATA / "compress_v1.bin").read_bytes()
    expected = np.load(DATA / "compress_v1_expected.npy")
    assert data[: len(MAGIC)] == MAGIC
    assert_allclose(vae.decompress(data), expected, rtol=1e-6, atol=1e-6)
    # Compressing the same rows again writes the same bytes.
    rows = np.load(DATA / "compress_v1_rows.npy")
    assert vae.compress(rows, step=0.25, refine=False) == data


def test_a_forged_tiny_step_is_refused_before_any_table_is_built(model, blob):
    import hashlib

    from skvae._apply.compression import _HEADER

    forged = bytearray(blob[:-16])
    struct.pack_into("<d", forged, _HEADER.size, 1e-12)  # first component's step
    forged += hashlib.blake2b(bytes(forged), digest_size=16).digest()
    with pytest.raises(ValueError, match="header is inconsistent"):
        model.decompress(bytes(forged))
