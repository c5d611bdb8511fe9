"""
====================================
Drawing new digits from a fitted VAE
====================================

A fitted :class:`~skvae.VAETransformer` is a generative model: ``sample`` draws codes
from the prior and decodes them, giving rows that were never in the training data. This
example fits a two-dimensional model on the raw digits, draws 64 new ones and shows them
next to 64 real digits.
"""

# %%
# Fit on the raw pixel values
# ---------------------------
# ``load_digits`` stores each pixel as an integer count from 0 to 16. The model is fitted
# on those values as they are: it standardises the features internally and maps
# everything it returns back to the units of the training data.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
vae = VAETransformer(n_components=2, random_state=0).fit(X)
print(f"training data: {X.shape}, pixel values from {X.min():.0f} to {X.max():.0f}")

# %%
# Draw new digits
# ---------------
# ``sample(n, random_state=0)`` returns ``n`` rows with as many columns as the training
# data, in the same units: here pixel intensities on the 0-16 scale, not standardised
# values. Each row is the decoder's mean for one code drawn from the prior, so the
# samples are smooth images rather than noisy ones. The Gaussian decoder is not told that
# pixels stop at 0 and 16: blank background pixels come out as numbers just below zero and
# a few strokes just above 16, so clip the samples if the range matters. An int
# ``random_state`` gives the same rows on every call.

X_new = vae.sample(64, random_state=0)
print(f"samples: {X_new.shape}, values from {X_new.min():.2f} to {X_new.max():.2f}")
print(f"mean pixel value: data {X.mean():.2f}, samples {X_new.mean():.2f}")
print(f"sample values below 0: {np.mean(X_new < 0):.1%} (below -1: {np.mean(X_new < -1):.1%})")
print(f"sample values above 16: {np.mean(X_new > 16):.1%}")
print(f"same rows on a second call: {np.array_equal(X_new, vae.sample(64, random_state=0))}")

# %%
# Samples next to real digits
# ---------------------------
# Both mosaics share one grey scale in the data's units. The samples are recognisable
# digits of several classes; they are softer than the real ones because they are
# decoder means.

rng = np.random.RandomState(0)
X_real = X[rng.choice(len(X), size=64, replace=False)]


def mosaic(rows, n_columns=8):
    """Arrange 8x8 images (one per row) in a grid, one white pixel between them."""
    images = rows.reshape(-1, n_columns, 8, 8)
    framed = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n_rows = images.shape[0]
    return framed.transpose(0, 2, 1, 3).reshape(n_rows * 10, n_columns * 10)


fig, axes = plt.subplots(1, 2, figsize=(10, 5.2), layout="constrained")
for ax, rows, title in [
    (axes[0], X_real, "64 real digits"),
    (axes[1], X_new, "vae.sample(64, random_state=0)"),
]:
    image = ax.imshow(mosaic(rows), cmap="gray_r", vmin=0, vmax=16, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
fig.colorbar(image, ax=axes, shrink=0.8, label="pixel value (0-16, the data's units)")
plt.show()
