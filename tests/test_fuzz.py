"""Property-based fuzzing of every public method.

For every generated input the estimator either returns finite outputs of the documented
shape and dtype, or raises a ``ValueError`` that says what is wrong in the user's terms
(no torch internals). The caller's input is never changed: values, NaN positions, dtype,
memory layout and writeability are compared with a snapshot taken before the call.

Tiny networks and two epochs keep each example to a few milliseconds; ``derandomize``
makes the generated examples the same on every run, so CI is reproducible.
"""

import functools
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_array_equal

from skvae import VAETransformer

# Inputs switch between frames and arrays on purpose; scikit-learn warns about the names.
pytestmark = pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")

TINY = {"hidden_layer_sizes": (4,), "max_iter": 2, "batch_size": 16, "random_state": 0}


def _fuzz(max_examples, *, shrink=True):
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Phrases that only leak out of torch or constriction, never out of a message written
# for the user of a scikit-learn estimator.
_INTERNALS = (
    "mat1 and mat2", "CUDA", "Expected all tensors", "Expected size", "Expected object",
    "torch.", "Tensor", "tensor", "Traceback", "zero probability", "entropy model",
)

# The clear messages an input may legitimately get, by what is wrong with it.
NON_FINITE = r"NaN|infinity"
TOO_LARGE = r"too large to standardise|infinity or a value too large"
MODEL_OVERFLOW = r"The model produced non-finite values for this input"

# The documented rule (``__sklearn_tags__``: preserves_dtype float64 and float32).
PRESERVED = (np.dtype(np.float32), np.dtype(np.float64))


def assert_clear_error(exc: BaseException, match: str) -> None:
    """``exc`` is a ValueError in the user's terms whose message matches ``match``."""
    message = str(exc)
    assert isinstance(exc, ValueError), f"{type(exc).__name__}: {message}"
    for internal in _INTERNALS:
        assert internal not in message, f"internal detail {internal!r} leaked: {message}"
    assert re.search(match, message), f"{message!r} does not match {match!r}"


def call_or_clear_error(call, match):
    """``call()``'s result, or None after checking that it raised a clear ValueError."""
    try:
        return call()
    except Exception as exc:  # anything but a clear ValueError fails below
        assert_clear_error(exc, match)
        return None


def assert_output(out, shape, dtype):
    assert isinstance(out, np.ndarray), type(out)
    assert out.shape == shape
    assert out.dtype == dtype
    assert np.all(np.isfinite(out)), out


def output_dtype(X) -> np.dtype:
    """float32 stays float32, float64 stays float64, anything else becomes float64; a
    frame's dtype is the common dtype of its columns (as scikit-learn's check_array)."""
    dtype = np.result_type(*X.dtypes) if isinstance(X, pd.DataFrame) else X.dtype
    return dtype if dtype in PRESERVED else np.dtype(np.float64)


# ------------------------------------------------------------------ snapshots


def snapshot(X):
    if isinstance(X, pd.DataFrame):
        return X.copy(deep=True)
    flags = {name: X.flags[name] for name in ("C_CONTIGUOUS", "F_CONTIGUOUS", "WRITEABLE")}
    return X.copy(order="K"), X.dtype, X.strides, flags


def assert_unchanged(X, before) -> None:
    if isinstance(X, pd.DataFrame):
        pd.testing.assert_frame_equal(X, before, check_exact=True)
        assert [X[c].dtype for c in X] == [before[c].dtype for c in before]
        return
    values, dtype, strides, flags = before
    assert X.dtype == dtype
    assert X.strides == strides
    assert {name: X.flags[name] for name in flags} == flags
    if X.dtype == object:
        # numpy compares object NaNs as unequal: compare the numbers and their types.
        assert [type(v) for v in X.flat] == [type(v) for v in values.flat]
        X, values = X.astype(np.float64), values.astype(np.float64)
    assert_array_equal(X, values, strict=True)  # NaN positions must match too


# ------------------------------------------------------------------ strategies

LAYOUTS = ("C", "F", "column_view", "row_view", "read_only", "dataframe", "mixed_dataframe")
FRAME_LAYOUTS = ("dataframe", "mixed_dataframe")

# Up to 1e13: with entries up to 10 in magnitude the spread stays inside the supported
# 1e-15 .. 1e15 (see test_data_of_any_magnitude_inside_the_limits_fits).
_FLOAT_SCALES = (1e-6, 1e-3, 1.0, 1e3, 1e6, 1e13)
# Per-column scales that keep |X| well inside each dtype's range.
_SCALES = {
    "float64": _FLOAT_SCALES,
    "float32": _FLOAT_SCALES,
    "float16": (1e-2, 1.0, 1e2, 1e3),
    "int32": (1.0, 1e3, 1e6),
    "int64": (1.0, 1e6, 1e13),
    "bool": (1.0,),
    "object": _FLOAT_SCALES,
}
DTYPES = tuple(_SCALES)
DEGENERACIES = ("none", "constant_column", "all_constant", "duplicated_rows")


def lay_out(X: np.ndarray, layout: str):
    """``X`` (C-ordered) in the memory layout or container ``layout``."""
    if layout == "C":
        return np.ascontiguousarray(X)
    if layout == "F":
        return np.asfortranarray(X)
    if layout in ("column_view", "row_view"):
        # A strided view into a parent whose other entries hold a value that must not leak.
        n, p = X.shape
        shape = (n, 2 * p) if layout == "column_view" else (2 * n, p)
        parent = np.full(shape, 7, dtype=X.dtype)
        view = parent[:, ::2] if layout == "column_view" else parent[::2]
        view[...] = X
        return view
    if layout == "read_only":
        X = X.copy()
        X.setflags(write=False)
        return X
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    if layout == "mixed_dataframe":
        # One float32 column among columns of X's dtype.
        frame["f0"] = frame["f0"].astype(np.float32)
    else:
        assert layout == "dataframe"
    return frame


@st.composite
def base_values(draw, n_rows, n_features, dtype, scales=None, low=-10.0, high=10.0):
    """Float64 values for an ``n_rows x n_features`` array of ``dtype``: per-column
    scales (so columns of very different scales mix) and an optional degeneracy."""
    # Entries are 0 or at least 1e-3 in magnitude: a column of zeros and one 1e-31 has a
    # spread of 1e-31, which is test_data_of_any_magnitude_below_the_limit_fits's business.
    elements = st.floats(low, high, allow_nan=False).map(lambda v: v if abs(v) >= 1e-3 else 0.0)
    values = draw(hnp.arrays(np.float64, (n_rows, n_features), elements=elements))
    scales = _SCALES[dtype] if scales is None else scales
    column_scales = np.array(draw(st.lists(
        st.sampled_from(scales), min_size=n_features, max_size=n_features)))
    values = values * column_scales
    degeneracy = draw(st.sampled_from(DEGENERACIES))
    if degeneracy == "constant_column":
        column = draw(st.integers(0, n_features - 1))
        values[:, column] = values[0, column]
    elif degeneracy == "all_constant":
        values[:] = values[0]
    elif degeneracy == "duplicated_rows":
        values = np.concatenate([values, values])
    return values


def as_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bool":
        return values > 0
    if dtype.startswith("int"):
        return np.rint(values).astype(dtype)
    if dtype == "object":
        # Python numbers of mixed types, as a list of lists would give.
        out = values.astype(object)
        whole = np.isfinite(values) & (np.abs(values) < 2.0**53)
        whole[1::2] = False
        out[whole] = [int(v) for v in np.rint(values[whole])]
        return out
    return values.astype(dtype)


@st.composite
def data_sets(draw, max_rows=12, max_features=5, dtypes=DTYPES, layouts=LAYOUTS):
    """``(X, n_features)``: valid training data of any supported dtype and layout."""
    n_rows = draw(st.integers(1, max_rows))
    n_features = draw(st.integers(1, max_features))
    dtype = draw(st.sampled_from(dtypes))
    values = draw(base_values(n_rows, n_features, dtype))
    X = lay_out(as_dtype(values, dtype), draw(st.sampled_from(layouts)))
    return X, n_features


@functools.lru_cache
def fitted_model(n_features: int, dtype: str = "float64") -> VAETransformer:
    """A model fitted on unit-scale data, shared by the tests that only read it."""
    X = np.random.RandomState(n_features).normal(size=(40, n_features)).astype(dtype)
    return VAETransformer(n_components=min(2, n_features), **TINY).fit(X)


# ------------------------------------------------------------------ valid data


@_fuzz(250)
@given(case=data_sets(), data=st.data())
def test_valid_data_gives_finite_outputs_of_the_documented_shape_and_dtype(case, data):
    X, n_features = case
    # A frame's bool columns are binary columns of a mixed table, which returns a table
    # of the frame's types (tests/test_columns.py); arrays of bools are numbers here.
    assume(not any(str(t).lower() in ("bool", "boolean") for t in getattr(X, "dtypes", ())))
    n_rows = len(X)
    n_components = data.draw(st.integers(1, n_features) | st.just("auto"), "n_components")
    prior = data.draw(st.sampled_from(["normal", "laplace", "spike_slab"]), "prior")
    in_unit_interval = bool(np.all((np.asarray(X) == 0) | (np.asarray(X) == 1)))
    likelihood = data.draw(st.sampled_from(["gaussian", "bernoulli"]
                                           if in_unit_interval else ["gaussian"]))
    dtype = output_dtype(X)
    before = snapshot(X)

    vae = VAETransformer(n_components=n_components, prior=prior, likelihood=likelihood,
                         **TINY).fit(X)
    assert_unchanged(X, before)
    k = vae.n_components_
    assert k == n_components if n_components != "auto" else 1 <= k <= n_features

    Z = vae.transform(X)
    assert_output(Z, (n_rows, k), dtype)
    assert_output(vae.inverse_transform(Z), (n_rows, n_features), dtype)
    # Codes far outside the prior still decode to finite rows.
    extreme = np.array([[1e6] * k, [-1e6] * k, [0.0] * k], dtype=dtype)
    assert_output(vae.inverse_transform(extreme), (3, n_features), dtype)
    assert_output(vae.score_samples(X), (n_rows,), np.dtype(np.float64))
    assert np.isfinite(vae.score(X))
    n_samples = data.draw(st.integers(1, 5), "n_samples")
    assert_output(vae.sample(n_samples, random_state=0), (n_samples, n_features),
                  np.dtype(np.float64))

    # Without refine, decompress is inverse_transform of transform's code rounded to
    # the step; with it, of a code on the same grid (checked in test_compression).
    step = data.draw(st.sampled_from([0.5, 0.05]), "step")
    assert_output(vae.decompress(vae.compress(X, step=step)), (n_rows, n_features), dtype)
    restored = vae.decompress(vae.compress(X, step=step, refine=False))
    assert_output(restored, (n_rows, n_features), dtype)
    radius = np.ceil(8.0 / step)
    quantised = (np.clip(np.rint(Z.astype(np.float64) / step), -radius, radius) * step)
    assert_array_equal(restored, vae.inverse_transform(quantised.astype(dtype)))
    assert_unchanged(X, before)

    vae.partial_fit(X)
    assert vae.n_iter_ == TINY["max_iter"] + 1
    assert_output(vae.transform(X), (n_rows, vae.n_components_), dtype)
    assert_unchanged(X, before)


@_fuzz(25)
@given(n_features=st.integers(1, 4), dtype=st.sampled_from(["float32", "float64"]),
       n_samples=st.sampled_from([1, 2047, 2048, 2049, 4097]))
def test_sample_any_count(n_features, dtype, n_samples):
    # Counts around the 2048-row inference batch, from a model fitted on either dtype.
    out = fitted_model(n_features, dtype).sample(n_samples, random_state=n_samples)
    assert_output(out, (n_samples, n_features), np.dtype(np.float64))


@_fuzz(40)
@given(data=st.data(), n_features=st.integers(1, 4),
       n_components=st.integers(1, 4) | st.just("auto"))
def test_partial_fit_on_a_stream_of_chunks(data, n_features, n_components):
    # Chunks of any size (one row included), dtype and layout, starting from no model.
    if n_components != "auto":
        n_components = min(n_components, n_features)
    vae = VAETransformer(n_components=n_components, **TINY)
    n_chunks = data.draw(st.integers(1, 4), "n_chunks")
    for i in range(n_chunks):
        dtype = data.draw(st.sampled_from(DTYPES), "dtype")
        n_rows = data.draw(st.integers(1, 6), "n_rows")
        values = data.draw(base_values(n_rows, n_features, dtype))
        layout = data.draw(st.sampled_from(LAYOUTS), "layout")
        # A frame of bools is a table of binary columns: a different model (test_columns).
        assume(dtype != "bool" or layout not in FRAME_LAYOUTS)
        chunk = lay_out(as_dtype(values, dtype), layout)
        if i > 0 and isinstance(chunk, pd.DataFrame):
            chunk = chunk.to_numpy()  # the first chunk's names (if any) are the model's
        before = snapshot(chunk)
        vae.partial_fit(chunk)
        assert_unchanged(chunk, before)
        assert vae.n_iter_ == i + 1
        assert_output(vae.transform(chunk), (len(chunk), vae.n_components_),
                      output_dtype(chunk))


@_fuzz(30)
@given(n_features=st.integers(1, 5), extra=st.integers(1, 5),
       method=st.sampled_from(["fit", "partial_fit", "fit_transform"]), data=st.data())
def test_more_components_than_features_is_named(n_features, extra, method, data):
    n_components = n_features + extra
    X = lay_out(data.draw(base_values(4, n_features, "float64")),
                data.draw(st.sampled_from(LAYOUTS), "layout"))
    before = snapshot(X)
    with pytest.raises(ValueError) as caught:
        getattr(VAETransformer(n_components=n_components, **TINY), method)(X)
    assert_clear_error(caught.value, f"n_components={n_components} must be at most the "
                                     f"number of features, n_features={n_features}")
    assert_unchanged(X, before)


# ------------------------------------------------------------------ extreme scales

@pytest.mark.parametrize("scale", [1e-14, 1e-6, 1e6, 1e14])
@_fuzz(15, shrink=False)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]))
def test_data_of_any_magnitude_inside_the_limits_fits(scale, data, dtype):
    # Spread and offset in the units of `scale`, inside the supported 1e-15 .. 1e15:
    # the model must fit whatever the units.
    n_rows, n_features = data.draw(st.integers(2, 12)), data.draw(st.integers(1, 4))
    values = data.draw(base_values(n_rows, n_features, dtype, scales=(scale,),
                                   low=-1.0, high=1.0))
    X = values.astype(dtype)
    before = snapshot(X)
    vae = VAETransformer(n_components=1, **TINY).fit(X)
    assert_unchanged(X, before)
    assert_output(vae.transform(X), (len(X), 1), np.dtype(dtype))
    assert_output(vae.score_samples(X), (len(X),), np.dtype(np.float64))
    assert_output(vae.inverse_transform(vae.transform(X)), X.shape, np.dtype(dtype))


@pytest.mark.parametrize("scale", [1e-300, 1e-40, 1e-30, 1e-20, 1e16, 1e18])
@_fuzz(10, shrink=False)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]),
       method=st.sampled_from(["fit", "partial_fit"]))
def test_spreads_outside_the_limits_are_refused_clearly(scale, data, dtype, method):
    # Float32 training cannot resolve these spreads: a clear error, not NaN training.
    n_rows, n_features = data.draw(st.integers(2, 8)), data.draw(st.integers(1, 4))
    values = data.draw(base_values(n_rows, n_features, "float64", scales=(scale,),
                                   low=1.0, high=2.0))
    values[0] = -values[0]  # no column is constant
    X = values.astype(dtype)
    before = snapshot(X)
    vae = VAETransformer(n_components=1, **TINY)
    try:
        getattr(vae, method)(X)
    except ValueError as exc:
        assert_clear_error(exc, r"vary by about .* for training in float32")
    else:
        # Columns whose spread is below 1e-36 (float32's resolution) count as constant,
        # and constant data fits.
        assert np.abs(X).max() < 1e-35
        assert_output(vae.transform(X), (len(X), 1), np.dtype(dtype))
    assert_unchanged(X, before)


@pytest.mark.parametrize("scale", [1e20, 1e30, 1e100, 1e300])
@_fuzz(10, shrink=False)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64", "object"]),
       method=st.sampled_from(["fit", "partial_fit", "fit_transform"]))
def test_values_beyond_the_limit_are_refused_clearly(scale, data, dtype, method):
    n_rows, n_features = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 4))
    values = data.draw(base_values(n_rows, n_features, "float64", scales=(scale,),
                                   low=1.0, high=2.0))
    with np.errstate(over="ignore"):
        X = lay_out(as_dtype(values, dtype), data.draw(st.sampled_from(LAYOUTS)))
    before = snapshot(X)
    with pytest.raises(ValueError) as caught:
        getattr(VAETransformer(n_components=1, **TINY), method)(X)
    assert_clear_error(caught.value, TOO_LARGE)
    assert_unchanged(X, before)


@pytest.mark.parametrize(
    "method, scale",
    [
        *[(m, s) for m in ("transform", "score_samples", "compress")
          for s in (1e6, 1e15, 1e30, 1e38)],
        ("transform", 1e300), ("score_samples", 1e300),
        ("compress", 1e300),
    ],
)
@_fuzz(10, shrink=False)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]))
def test_rows_far_outside_the_training_data(method, scale, data, dtype):
    # A model fitted on unit-scale data meets rows of any magnitude: finite results or a
    # clear error, never NaN codes, a torch error or a crash in the entropy coder.
    vae = fitted_model(3)
    values = data.draw(base_values(data.draw(st.integers(1, 6)), 3, "float64",
                                   scales=(scale,), low=-1.0, high=1.0))
    with np.errstate(over="ignore"):
        X = lay_out(values.astype(dtype), data.draw(st.sampled_from(LAYOUTS)))
    before = snapshot(X)
    match = f"{MODEL_OVERFLOW}|{NON_FINITE}"
    if method == "compress":
        out = call_or_clear_error(lambda: vae.decompress(vae.compress(X)), match)
        shape = X.shape
    else:
        out = call_or_clear_error(lambda: getattr(vae, method)(X), match)
        shape = (len(X), 2) if method == "transform" else (len(X),)
    if out is not None:
        assert_output(out, shape, np.dtype(dtype) if method != "score_samples"
                      else np.dtype(np.float64))
    assert_unchanged(X, before)


@_fuzz(60)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]),
       layout=st.sampled_from(LAYOUTS), n_components=st.integers(1, 3))
def test_inverse_transform_of_any_finite_code(data, dtype, layout, n_components):
    vae = fitted_model(3) if n_components < 3 else _fitted_full()
    k = vae.n_components_
    width = 32 if dtype == "float32" else 64
    codes = data.draw(hnp.arrays(
        dtype, (data.draw(st.integers(1, 6)), k),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=width),
    ))
    Z = lay_out(codes, layout)
    before = snapshot(Z)
    out = call_or_clear_error(lambda: vae.inverse_transform(Z), f"{MODEL_OVERFLOW}|{NON_FINITE}")
    if np.abs(codes).max() <= 1e6:
        assert out is not None, "codes up to 1e6 must decode"
    if out is not None:
        assert_output(out, (len(codes), 3), np.dtype(dtype))
    assert_unchanged(Z, before)


@functools.lru_cache
def _fitted_full() -> VAETransformer:
    X = np.random.RandomState(0).normal(size=(40, 3))
    return VAETransformer(n_components=3, **TINY).fit(X)


# ------------------------------------------------------------------ NaN and infinity


@_fuzz(80)
@given(
    data=st.data(),
    dtype=st.sampled_from(["float16", "float32", "float64", "object"]),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    layout=st.sampled_from(LAYOUTS),
    method=st.sampled_from(["fit", "partial_fit", "fit_transform", "transform",
                            "score_samples", "score", "compress", "inverse_transform"]),
)
def test_nan_and_infinity_are_refused_clearly(data, dtype, bad, layout, method):
    n_features = 2 if method == "inverse_transform" else 3
    n_rows = data.draw(st.integers(1, 8))
    values = data.draw(base_values(n_rows, n_features, "float64", scales=(1.0,)))
    where = data.draw(st.lists(st.tuples(st.integers(0, len(values) - 1),
                                         st.integers(0, n_features - 1)), min_size=1,
                               max_size=3))
    for row, column in where:
        values[row, column] = bad
    X = lay_out(as_dtype(values, dtype), layout)
    before = snapshot(X)
    if method in ("fit", "partial_fit", "fit_transform"):
        call = getattr(VAETransformer(**TINY), method)
    else:
        call = getattr(fitted_model(3), method)
    if np.isnan(bad) and method in ("fit", "partial_fit", "fit_transform"):
        # NaN is a missing entry: a model learns from the rest, unless a column holds
        # nothing else.
        try:
            call(X)
        except ValueError as error:
            assert_clear_error(error, "no observed value")
        assert_unchanged(X, before)
        return
    with pytest.raises(ValueError) as caught:
        call(X)
    assert_clear_error(caught.value, "NaN" if np.isnan(bad) else "infinity")
    assert_unchanged(X, before)
