"""
===========================================
Reconstructions: a VAE and PCA side by side
===========================================

PCA and :class:`~skvae.VAETransformer` both compress a row to ``k`` numbers and map those
numbers back to the data space, with ``transform`` and ``inverse_transform``. This
example fits both at two widths on a training split of the digits and shows held-out
digits as given and as rebuilt from their ``k``-dimensional codes, with the mean squared
error of each model on the whole test split.
"""

# %%
# Fit PCA and the VAE at two widths
# ---------------------------------
# Pixels are divided by 16 so that they lie in [0, 1], and the error below is in those
# units. PCA is the best *linear* reconstruction from ``k`` numbers; the VAE's encoder
# and decoder are nonlinear, and its reconstruction decodes the posterior mean.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

widths = (2, 10)
reconstructions = {}
for k in widths:
    for name, model in [
        ("PCA", PCA(n_components=k, random_state=0)),
        ("VAE", VAETransformer(n_components=k, random_state=0)),
    ]:
        model.fit(X_train)
        X_rebuilt = model.inverse_transform(model.transform(X_test))
        mse = np.mean((X_test - X_rebuilt) ** 2)
        reconstructions[name, k] = (X_rebuilt, mse)
        print(f"{name}(k={k:2d}): held-out MSE {mse:.4f}")

# %%
# Originals and reconstructions
# -----------------------------
# One test digit of each class per column. At two numbers per digit PCA can only blend a
# few average shapes, while the VAE tends to commit to one digit, sometimes the wrong one;
# at ten both keep the identity of most digits and the differences are in the strokes.

shown = np.array([np.flatnonzero(y_test == digit)[0] for digit in range(10)])
rows = [("original", X_test)]
for k in widths:
    for name in ("PCA", "VAE"):
        X_rebuilt, mse = reconstructions[name, k]
        rows.append((f"{name}, k={k}\nMSE {mse:.4f}", X_rebuilt))

fig, axes = plt.subplots(len(rows), len(shown), figsize=(9, 5.6), layout="constrained")
for r, (label, images) in enumerate(rows):
    for c, index in enumerate(shown):
        axes[r, c].imshow(images[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.suptitle("Held-out digits and their reconstructions from k numbers (MSE on all "
             f"{len(X_test)} test digits)")
plt.show()
