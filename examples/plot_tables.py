"""
================================
Tables with holes and categories
================================

Real tables have missing entries and columns of labels. This example fills the holes of
a table of measurements with :class:`~skvae.VAEImputer` and compares it with
scikit-learn's imputers, then fits :class:`~skvae.VAETransformer` to a table of mixed
column types and draws new rows, which come back as a DataFrame with the table's own
column types and labels.
"""

# %%
# Filling holes
# -------------
# Wine measurements, standardised, with 30 % of the entries hidden at random. Each
# imputer fills them; the error is measured on the hidden entries.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from skvae import VAEImputer, VAETransformer

X = StandardScaler().fit_transform(load_wine().data)
rng = np.random.default_rng(0)
hidden = rng.random(X.shape) < 0.3
X_holes = np.where(hidden, np.nan, X)

imputers = {
    "mean": SimpleImputer(),
    "KNN": KNNImputer(),
    "iterative": IterativeImputer(max_iter=10, random_state=0),
    "VAE": VAEImputer(random_state=0),
}
errors = {}
for name, imputer in imputers.items():
    filled = imputer.fit_transform(X_holes)
    errors[name] = np.sqrt(np.mean((filled[hidden] - X[hidden]) ** 2))
    print(f"{name:>9}: RMSE on the hidden entries {errors[name]:.3f}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(errors), list(errors.values()), color="tab:blue")
ax.set_xlabel("RMSE on hidden entries (standardised units)")
ax.set_title("Wine, 30 % of entries missing")
fig.tight_layout()

# %%
# A table of mixed types
# ----------------------
# A category that shifts two measurements, a yes/no column that depends on them, and a
# count. The frame's dtypes say which columns are categories (``category`` and
# ``bool``); the count is declared with ``column_types``. No encoder or scaler is
# needed in front: each column gets its own likelihood.

n = 600
species = rng.choice(["ash", "birch", "oak"], size=n, p=[0.5, 0.3, 0.2])
shift = pd.Series(species).map({"ash": 0.0, "birch": 3.0, "oak": -3.0}).to_numpy()
height = 20 + 2 * shift + rng.normal(size=n) * 2
width = 0.5 * height + rng.normal(size=n)
table = pd.DataFrame({
    "species": pd.Categorical(species),
    "height": height,
    "width": width,
    "tall": height > 22,
    "nests": rng.poisson(np.exp(0.05 * (height - 20))),
})
vae = VAETransformer(n_components="auto", column_types={"nests": "count"},
                     random_state=0).fit(table)
drawn = vae.sample(n, random_state=0)
print(drawn.head())
print(drawn.dtypes)

# %%
# The drawn rows keep the table's structure: the species' shares and the height of each
# species.

print(pd.DataFrame({"real": table["species"].value_counts(normalize=True),
                    "drawn": drawn["species"].value_counts(normalize=True)}).round(2))

fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharex=True, sharey=True)
for ax, (title, frame) in zip(axes, (("real rows", table), ("drawn rows", drawn))):
    for name, rows in frame.groupby("species", observed=True):
        ax.scatter(rows["height"], rows["width"], s=6, label=name)
    ax.set_title(title)
    ax.set_xlabel("height")
axes[0].set_ylabel("width")
axes[0].legend(markerscale=2)
fig.tight_layout()
plt.show()
