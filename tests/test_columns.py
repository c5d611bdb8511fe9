"""Tables of mixed column types: a likelihood per column, tables back out."""

import pickle

import numpy as np
import pytest

from skvae import VAEImputer, VAETransformer

from .conftest import FAST

pd = pytest.importorskip("pandas")


@pytest.fixture
def table(rng):
    n = 240
    group = rng.choice(["a", "b", "c"], size=n)
    shift = np.select([group == "a", group == "b"], [-2.0, 0.0], 2.0)
    size = shift + rng.normal(size=n)
    return pd.DataFrame({
        "group": pd.Categorical(group),
        "size": size,
        "weight": 3.0 * size + rng.normal(size=n) + 100.0,
        "flag": size > 0,
        "label": np.where(rng.random_sample(n) < 0.5, "x", "y"),
        "visits": rng.poisson(2.0, size=n),
    })


def test_a_table_of_mixed_types_comes_back_with_its_types(table):
    vae = VAETransformer(n_components=2, column_types={"visits": "count"}, random_state=0,
                         **FAST).fit(table)
    Z = vae.transform(table)
    assert Z.shape == (len(table), 2) and np.isfinite(Z).all()
    back = vae.inverse_transform(Z)
    assert list(back.columns) == list(table.columns)
    assert back["group"].dtype == table["group"].dtype  # the same categories
    assert back["flag"].dtype == bool
    assert set(back["label"]) <= {"x", "y"}
    assert back["visits"].dtype == table["visits"].dtype and (back["visits"] >= 0).all()
    drawn = vae.sample(50, random_state=0)
    assert list(drawn.dtypes) == list(table.dtypes)
    assert np.isfinite(vae.score_samples(table)).all()


def test_score_is_a_log_density_in_the_columns_units(table):
    """Rescaling a numeric column by 10 lowers its log-density by log 10 per row."""
    linear = {**FAST, "hidden_layer_sizes": ()}
    vae = VAETransformer(n_components=2, random_state=0, **linear).fit(table)
    scaled = table.assign(weight=table["weight"] * 10.0)
    vae10 = VAETransformer(n_components=2, random_state=0, **linear).fit(scaled)
    np.testing.assert_allclose(vae.score(table) - vae10.score(scaled), np.log(10.0),
                               atol=0.05)


def test_categories_are_learnt(table):
    """The group shifts "size" by -2, 0 or 2 (unit noise): read from size alone, the best
    guess is right 79 % of the time; chance is a third."""
    vae = VAETransformer(n_components=2, random_state=0, max_iter=60).fit(table)
    back = vae.inverse_transform(vae.transform(table))
    assert (back["group"] == table["group"]).mean() > 0.7


def test_unknown_categories_follow_handle_unknown(table):
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(table)
    new = table.head(5).copy()
    new["label"] = ["z", "x", "y", "z", "x"]
    with pytest.raises(ValueError, match="'label' holds categories not seen in fit: \\['z'\\]"):
        vae.transform(new)
    vae.set_params(handle_unknown="ignore")
    assert np.isfinite(vae.transform(new)).all()


def test_bad_tables_get_clear_errors(table):
    with pytest.raises(ValueError, match="'label' is declared numeric but holds '[xy]'"):
        VAETransformer(column_types={"label": "numeric"}, **FAST).fit(table)
    with pytest.raises(ValueError, match="'size' is declared 'count'"):
        VAETransformer(column_types={"size": "count"}, **FAST).fit(table)
    with pytest.raises(ValueError, match="the types are"):
        VAETransformer(column_types={"size": "text"}, **FAST).fit(table)
    with pytest.raises(ValueError, match="'weight' has no observed value"):
        VAETransformer(**FAST).fit(table.assign(weight=np.nan))
    numbers = table[["size", "weight"]]
    vae = VAETransformer(n_components=1, **FAST).fit(numbers)
    with pytest.raises(ValueError, match="hold categories, but this model was fitted on a "
                                         "table of numbers"):
        vae.transform(numbers.assign(weight="heavy"))


def test_declared_columns_of_an_array(rng):
    X = np.c_[rng.normal(size=200), rng.randint(0, 3, size=200), rng.poisson(3, 200)]
    vae = VAETransformer(n_components=1, column_types=["numeric", "categorical", "count"],
                         random_state=0, **FAST).fit(X)
    back = vae.sample(20, random_state=0)
    assert isinstance(back, np.ndarray) and back.shape == (20, 3)
    assert set(np.unique(back[:, 1])) <= {0.0, 1.0, 2.0}
    assert np.all(back[:, 2] == np.round(back[:, 2]))


def test_holes_in_a_mixed_table_are_filled_with_labels(table, rng):
    holed = table.copy()
    holed.loc[rng.random_sample(len(table)) < 0.2, "group"] = np.nan
    holed.loc[rng.random_sample(len(table)) < 0.2, "size"] = np.nan
    before = holed.copy()
    filled = VAEImputer(VAETransformer(n_components=2, random_state=0, max_iter=40)).fit_transform(
        holed)
    pd.testing.assert_frame_equal(holed, before)
    assert not filled.isna().any().any()
    assert filled["group"].dtype == table["group"].dtype
    observed = holed["group"].notna()
    assert (filled["group"][observed] == table["group"][observed]).all()
    missing = ~observed
    assert (filled["group"][missing] == table["group"][missing]).mean() > 0.6


def test_polars_tables_round_trip(table):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({c: table[c].astype(str).tolist() if c in ("group", "label")
                          else table[c].tolist() for c in table.columns})
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(frame)
    drawn = vae.sample(10, random_state=0)
    assert isinstance(drawn, pl.DataFrame) and drawn.columns == frame.columns


def test_mixed_model_survives_pickling(table):
    vae = VAETransformer(n_components=2, random_state=0, **FAST).fit(table)
    loaded = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(loaded.transform(table), vae.transform(table))
    pd.testing.assert_frame_equal(loaded.sample(5, random_state=1), vae.sample(5, random_state=1))


def test_default_imputer_survives_a_category_whose_only_rows_it_hides():
    # The default imputer fits its candidates with a tenth of the observed entries
    # hidden; a category seen once may be hidden, and must not make the imputer refuse
    # its own training table.
    pd = pytest.importorskip("pandas")
    from skvae._imputer import _VALIDATION_SHARE

    rng = np.random.default_rng(0)
    n = 120
    table = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"))
    seed = 0
    # The entries the imputer hides for this seed (the stream of held_out_errors).
    hidden = np.random.default_rng([seed, 0x1A2B]).random((n, 4)) < _VALIDATION_SHARE
    rare_row = int(np.flatnonzero(hidden[:, 3])[0])
    kinds = np.where(rng.random(n) < 0.5, "p", "q").astype(object)
    kinds[rare_row] = "rare"
    table["kind"] = kinds  # strings: the categories are the values seen
    holes = rng.random((n, 4)) < 0.05
    holes[rare_row] = False
    table = table.mask(holes)
    imputer = VAEImputer(random_state=seed).fit(table)
    filled = imputer.transform(table)
    assert not filled.isna().any().any()
    assert filled["kind"].iloc[rare_row] == "rare"
