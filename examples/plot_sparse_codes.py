"""
=======================================
Sparse codes with a spike-and-slab VAE
=======================================

With ``prior="spike_slab"``, :class:`~skvae.VAETransformer` describes each row with a
few components and sets every other entry of its code to exactly zero. This example
encodes handwritten digits with 32 components, about five of them non-zero per digit,
shows the codes as a heat map, and puts the reconstructions next to the originals.
"""

# %%
# Fit a sparse model
# ------------------
# ``nonzero_fraction`` is the fraction of code entries that may be non-zero: 5/32 asks
# for about five active components per digit.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

vae = VAETransformer(n_components=32, prior="spike_slab", nonzero_fraction=5 / 32,
                     random_state=0)
vae.fit(X_train)
codes = vae.transform(X_test)

print(f"non-zero entries on the training rows: {vae.nonzero_fraction_:.3f}")
print(f"non-zero entries on the test rows:     {np.mean(codes != 0):.3f}")
print(f"average non-zeros per test digit:      {np.count_nonzero(codes, axis=1).mean():.2f}")
print(f"components in use: {vae.active_components_.sum()} of {vae.n_components_}")

# %%
# Codes and reconstructions
# -------------------------
# Each row of the heat map is the code of one test digit; white cells are exact zeros.
# Below, the same digits as given (top) and as decoded from their sparse codes (bottom).

shown = np.concatenate([np.flatnonzero(y_test == digit)[:2] for digit in range(10)])
reconstructions = vae.inverse_transform(codes[shown])
mse = np.mean((X_test - vae.inverse_transform(codes)) ** 2)

fig = plt.figure(figsize=(10, 7), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.6, 0.7])
ax = top.subplots()
limit = np.abs(codes[shown]).max()
image = ax.imshow(np.ma.masked_equal(codes[shown], 0.0), cmap="RdBu_r", vmin=-limit,
                  vmax=limit, aspect="auto", interpolation="nearest")
ax.set_yticks(range(len(shown)), [str(label) for label in y_test[shown]])
ax.set_xlabel("latent component")
ax.set_ylabel("digit")
zeros = 100 * np.mean(codes == 0)
ax.set_title(f"Sparse codes of 20 test digits ({zeros:.0f}% of all test entries are 0)")
top.colorbar(image, ax=ax, label="code value")

axes = bottom.subplots(2, len(shown))
for column, index in enumerate(shown):
    axes[0, column].imshow(X_test[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[1, column].imshow(reconstructions[column].reshape(8, 8), cmap="gray_r", vmin=0,
                           vmax=1)
for ax in axes.ravel():
    ax.set_axis_off()
bottom.suptitle(f"Originals (top) and reconstructions from the sparse codes (bottom); "
                f"held-out MSE {mse:.4f}")
plt.show()
