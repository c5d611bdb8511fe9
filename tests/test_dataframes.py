"""pandas and polars in and out: column names travel from the training frame to the outputs."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

from .conftest import FAST

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

COLUMNS = ["height", "width", "depth", "mass", "age", "price"]


@pytest.fixture
def frame(X):
    return pd.DataFrame(X, columns=COLUMNS, index=np.arange(len(X)) + 1000)


def _model(output):
    return VAETransformer(random_state=0, **FAST).set_output(transform=output)


def test_pandas_outputs_carry_names_and_index(frame):
    vae = _model("pandas").fit(frame)
    Z = vae.transform(frame)
    assert list(Z.columns) == ["vaetransformer0", "vaetransformer1"]
    assert Z.index.equals(frame.index)
    X_hat = vae.inverse_transform(Z)
    assert isinstance(X_hat, pd.DataFrame)
    assert list(X_hat.columns) == COLUMNS
    assert X_hat.index.equals(frame.index)
    samples = vae.sample(4, random_state=0)
    assert isinstance(samples, pd.DataFrame) and list(samples.columns) == COLUMNS
    # The frames hold the same numbers as the array outputs.
    vae.set_output(transform="default")
    np.testing.assert_array_equal(X_hat.to_numpy(), vae.inverse_transform(Z.to_numpy()))
    np.testing.assert_array_equal(samples.to_numpy(), vae.sample(4, random_state=0))


def test_polars_outputs_carry_names(frame):
    polars_frame = pl.from_pandas(frame)
    vae = _model("polars").fit(polars_frame)
    Z = vae.transform(polars_frame)
    assert isinstance(Z, pl.DataFrame) and Z.columns == ["vaetransformer0", "vaetransformer1"]
    X_hat = vae.inverse_transform(Z)
    assert isinstance(X_hat, pl.DataFrame) and X_hat.columns == COLUMNS
    assert X_hat.shape == frame.shape
    assert vae.sample(3, random_state=0).columns == COLUMNS


def test_default_output_stays_an_array_after_a_frame_fit(frame):
    vae = VAETransformer(random_state=0, **FAST).fit(frame)
    assert isinstance(vae.transform(frame), np.ndarray)
    assert isinstance(vae.inverse_transform(vae.transform(frame)), np.ndarray)
    assert isinstance(vae.sample(2), np.ndarray)


def test_array_fit_with_frame_output_names_columns_like_scikit_learn(X):
    vae = _model("pandas").fit(X)
    expected = [f"x{i}" for i in range(X.shape[1])]
    assert list(vae.sample(2, random_state=0).columns) == expected
    assert list(vae.inverse_transform(vae.transform(X)).columns) == expected


def test_pipeline_with_pandas_output(frame):
    pipe = make_pipeline(StandardScaler(), VAETransformer(random_state=0, **FAST))
    pipe.set_output(transform="pandas").fit(frame)
    Z = pipe.transform(frame)
    assert isinstance(Z, pd.DataFrame) and Z.index.equals(frame.index)
    # The scaler's inverse works on arrays; the VAE's output names the scaled columns.
    decoded = pipe[-1].inverse_transform(Z)
    assert list(decoded.columns) == COLUMNS
