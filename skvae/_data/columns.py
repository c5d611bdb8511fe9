"""Tables of mixed column types: which likelihood each column gets, and the numeric
matrix the network reads.

A ``ColumnLayout`` is fitted on the training table. Numeric columns pass through,
binary and categorical columns become one-hot blocks (one column per category), count
columns pass through as non-negative integers. A missing value (NaN, None, pd.NA) stays
missing: NaN in every column of its block. ``decode`` turns decoded rows back into the
table's own column types and category labels.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array

KINDS = ("numeric", "binary", "categorical", "count")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    # Category labels (binary and categorical columns), in one-hot order.
    categories: tuple = ()
    # The column's dtype in the training table, as a string ("" for an array).
    dtype: str = ""

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind in ("binary", "categorical") else 1


def _frame_kind(frame) -> str | None:
    module = type(frame).__module__.split(".")[0]
    if module == "pandas" and hasattr(frame, "columns"):
        return "pandas"
    if module == "polars" and hasattr(frame, "columns"):
        return "polars"
    return None


def _as_pandas(X):
    """A pandas frame for a pandas or polars frame, else None."""
    kind = _frame_kind(X)
    if kind == "pandas":
        return X
    if kind == "polars":
        # Column by column: polars' own to_pandas needs pyarrow.
        import pandas as pd

        return pd.DataFrame({name: X[name].to_list() for name in X.columns})
    return None


def as_table(X):
    """A pandas frame for a pandas or polars frame, else a dense 2D array (scikit-learn's
    error for sparse or 1D input)."""
    frame = _as_pandas(X)
    if frame is not None:
        return frame
    return check_array(X, dtype=None, ensure_all_finite=False, input_name="X")


def missing_mask(table) -> np.ndarray:
    """Where a table (``as_table``'s) has missing entries."""
    if hasattr(table, "mask") or table.dtype == object:
        return _is_missing(np.asarray(table, dtype=object))
    return np.isnan(table)


def _inferred_kinds(X) -> dict[str, str]:
    """Name -> inferred kind of each column of a pandas or polars frame; empty for an
    array, and for a polars frame of numbers (which is then not converted)."""
    if _frame_kind(X) == "polars" and all(dtype.is_numeric() for dtype in X.schema.values()):
        return {}
    frame = _as_pandas(X)
    if frame is None:
        return {}
    import pandas as pd

    return {str(c): _inferred_kind(frame[c], pd) for c in frame.columns}


def needs_layout(X, column_types) -> bool:
    """Whether ``X`` needs a column layout: declared types, or a frame with columns that
    are not plain numbers."""
    return column_types is not None or any(
        kind != "numeric" for kind in _inferred_kinds(X).values())


def check_numeric_columns(X) -> None:
    """For a model of numbers: a clear error for a frame with text or category columns."""
    other = [name for name, kind in _inferred_kinds(X).items() if kind == "categorical"]
    if other:
        raise ValueError(
            f"Column(s) {other[:5]} hold categories, but this model was fitted on a table "
            "of numbers; fit on a table with those columns (their type is inferred), or "
            "declare column types with column_types."
        )


def _inferred_kind(series, pd) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "binary"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    if series.dtype == object:
        # An object column of numbers (and missing values) is numbers.
        values = series.to_numpy()
        values = values[~_is_missing(values)]
        if all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
               for v in values):
            return "numeric"
    return "categorical"


def _declared(column_types, names: list[str]) -> dict[str, str]:
    """Name -> kind for the columns that ``column_types`` declares."""
    if column_types is None:
        return {}
    if isinstance(column_types, dict):
        declared = {}
        for key, kind in column_types.items():
            if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
                if not 0 <= key < len(names):
                    raise ValueError(f"column_types names column {key}, but X has "
                                     f"{len(names)} columns.")
                key = names[key]
            elif str(key) not in names:
                raise ValueError(f"column_types names column {key!r}, which X does not "
                                 f"have; its columns are {names[:10]}.")
            declared[str(key)] = kind
    else:
        kinds = list(column_types)
        if len(kinds) != len(names):
            raise ValueError(f"column_types lists {len(kinds)} types for {len(names)} "
                             "columns; give one per column or a dict of some.")
        declared = dict(zip(names, kinds))
    for name, kind in declared.items():
        if kind not in KINDS:
            raise ValueError(f"column_types gives column {name!r} the type {kind!r}; "
                             f"the types are {KINDS}.")
    return declared


def _is_missing(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def _numbers(name: str, kind: str, values: np.ndarray) -> np.ndarray:
    """The column as float64, NaN where missing; a clear error for text in it."""
    missing = _is_missing(values)
    out = np.full(len(values), np.nan)
    try:
        out[~missing] = np.asarray(values[~missing], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(v for v in values[~missing] if not _is_number(v))
        raise ValueError(
            f"Column {name!r} is declared {kind} but holds {bad!r}, which is not a "
            "number; declare it 'categorical' in column_types or convert it."
        ) from None
    if np.isinf(out).any():
        raise ValueError(f"Column {name!r} holds infinite values.")
    if kind == "count" and np.any((out[~missing] < 0) | (out[~missing] != np.round(
            out[~missing]))):
        raise ValueError(f"Column {name!r} is declared 'count' but holds values that are "
                         "not non-negative integers.")
    return out


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class ColumnLayout:
    """The columns of a training table and how each is encoded; see the module doc."""

    def __init__(self, columns: list[Column], container: str):
        self.columns = columns
        # "pandas", "polars" or "array": what decode returns.
        self.container = container

    # ------------------------------------------------------------------ fitting

    @classmethod
    def from_data(cls, X, column_types) -> "ColumnLayout":
        import pandas as pd

        frame = _as_pandas(X)
        container = _frame_kind(X) or "array"
        if frame is None:
            if np.ndim(X) != 2:
                raise ValueError(f"Expected a 2D table of rows, got an array of shape "
                                 f"{np.shape(X)}.")
            # Undeclared columns of a numeric array are numeric; of an object array,
            # categorical.
            frame = pd.DataFrame(np.asarray(X))
            frame.columns = [str(i) for i in range(frame.shape[1])]
        names = [str(c) for c in frame.columns]
        declared = _declared(column_types, names)
        columns = []
        for name, key in zip(names, frame.columns):
            series = frame[key]
            kind = declared.get(name) or _inferred_kind(series, pd)
            values = series.to_numpy(dtype=object)
            missing = _is_missing(values)
            if missing.all():
                raise ValueError(f"Column {name!r} has no observed value: a column that "
                                 "is entirely missing cannot be modelled; drop it.")
            categories = ()
            if kind in ("binary", "categorical"):
                if isinstance(series.dtype, pd.CategoricalDtype):
                    categories = tuple(series.cat.categories)
                else:
                    categories = tuple(sorted(set(values[~missing]), key=_sort_key))
                if kind == "binary" and len(categories) > 2:
                    raise ValueError(f"Column {name!r} is declared 'binary' but holds "
                                     f"{len(categories)} values; declare it 'categorical'.")
            else:
                _numbers(name, kind, values)
            columns.append(Column(name, kind, categories,
                                  "" if container == "array" else str(series.dtype)))
        return cls(columns, container)

    # ---------------------------------------------------------------- encoding

    @property
    def width(self) -> int:
        return sum(column.width for column in self.columns)

    def groups(self) -> list[list]:
        """``[kind, start, width]`` per column, in encoded order: the mixed likelihood's
        setting."""
        out, start = [], 0
        for column in self.columns:
            out.append([column.kind, start, column.width])
            start += column.width
        return out

    def likelihood_settings(self, feature_scale: np.ndarray) -> dict:
        """The mixed likelihood's settings: the groups, and the numeric columns' spread."""
        groups = self.groups()
        return {"groups": groups, "numeric_scale": [
            float(feature_scale[start]) for kind, start, _ in groups if kind == "numeric"]}

    def encode(self, X, handle_unknown: str = "error", unknown_value: float = np.nan
               ) -> np.ndarray:
        """The numeric matrix of ``X``: NaN for missing entries (a whole block for a
        category). An unseen category raises, or with ``handle_unknown="ignore"`` gets
        ``unknown_value`` in its block (NaN: missing; 0: no category, as
        ``OneHotEncoder`` does)."""
        import pandas as pd

        frame = _as_pandas(X)
        if frame is None:
            frame = pd.DataFrame(np.asarray(X))
        if frame.shape[1] != len(self.columns):
            raise ValueError(f"X has {frame.shape[1]} columns, but the model was fitted "
                             f"on {len(self.columns)}.")
        out = np.full((frame.shape[0], self.width), np.nan)
        start = 0
        for column, key in zip(self.columns, frame.columns):
            values = frame[key].to_numpy(dtype=object)
            block = slice(start, start + column.width)
            if column.categories:
                out[:, block] = self._one_hot(column, values, handle_unknown, unknown_value)
            else:
                out[:, block.start] = _numbers(column.name, column.kind, values)
            start += column.width
        return out

    @staticmethod
    def _one_hot(column: Column, values: np.ndarray, handle_unknown: str,
                 unknown_value: float) -> np.ndarray:
        missing = _is_missing(values)
        lookup = {category: i for i, category in enumerate(column.categories)}
        index = np.array([lookup.get(v, -1) if not m else -1
                          for v, m in zip(values, missing)])
        unknown = (index < 0) & ~missing
        if unknown.any() and handle_unknown == "error":
            raise ValueError(
                f"Column {column.name!r} holds categories not seen in fit: "
                f"{sorted(set(values[unknown]), key=_sort_key)[:5]}; pass "
                "handle_unknown='ignore' to read them as missing."
            )
        one_hot = np.zeros((len(values), column.width))
        known = index >= 0
        one_hot[np.flatnonzero(known), index[known]] = 1.0
        one_hot[missing] = np.nan
        one_hot[unknown] = unknown_value
        return one_hot

    # ---------------------------------------------------------------- decoding

    def decode(self, rows: np.ndarray, index=None):
        """Decoded rows (the mixed likelihood's means or draws, in encoded columns) as a
        table of the training table's kind: the most probable category of each block,
        counts rounded, numeric values as they are, the original dtypes restored."""
        import pandas as pd

        data, start = {}, 0
        for column in self.columns:
            block = rows[:, start : start + column.width]
            start += column.width
            if column.categories:
                data[column.name] = np.asarray(column.categories, dtype=object)[
                    block.argmax(axis=1)]
            elif column.kind == "count":
                data[column.name] = np.round(np.maximum(block[:, 0], 0.0))
            else:
                data[column.name] = block[:, 0]
        if self.container == "array":
            return np.column_stack([np.asarray(v, dtype=np.float64) if c.kind != "categorical"
                                    or _all_numbers(c.categories) else v
                                    for c, v in zip(self.columns, data.values())])
        frame = pd.DataFrame(data, index=index)
        for column in self.columns:
            frame[column.name] = _restore_dtype(frame[column.name], column, pd)
        if self.container == "polars":
            import polars as pl

            return pl.DataFrame({name: frame[name].tolist() for name in frame.columns})
        return frame

    # ------------------------------------------------------------- persistence

    def as_dict(self) -> dict:
        return {"container": self.container,
                "columns": [[c.name, c.kind, list(c.categories), c.dtype]
                            for c in self.columns]}

    @classmethod
    def from_dict(cls, values: dict) -> "ColumnLayout":
        return cls([Column(name, kind, tuple(categories), dtype)
                    for name, kind, categories, dtype in values["columns"]],
                   values["container"])


def _sort_key(value):
    return (not _is_number(value), value if _is_number(value) else str(value))


def _all_numbers(values) -> bool:
    return all(_is_number(v) for v in values)


def _restore_dtype(series, column: Column, pd):
    """The decoded column in the training column's dtype, where it converts cleanly."""
    dtype = column.dtype
    if dtype == "category":
        return pd.Categorical(series, categories=list(column.categories))
    try:
        if dtype.startswith(("int", "uint", "Int", "UInt")) or dtype == "bool":
            return series.astype(dtype if dtype != "bool" else bool)
        if dtype == "object":
            return series.astype(object)
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series
