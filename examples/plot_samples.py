"""
====================================
Drawing new digits from a fitted VAE
====================================

A fitted :class:`~skvae.VAETransformer` is a generative model: ``sample`` draws codes
and decodes them, giving rows that were never in the training data. By default the
codes come from a Gaussian mixture fitted to the training rows' codes after training;
the classic VAE sampler draws them from the prior instead (``from_prior=True``). This
example fits a ten-dimensional model on digits, draws new ones both ways and puts them
next to held-out real digits, with two numbers that say how digit-like they are.
"""

# %%
# Fit on digits
# -------------
# Pixels are scaled to [0, 1]; a quarter of the digits is held out to compare with.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
vae = VAETransformer(n_components=10, random_state=0).fit(X_train)

# %%
# Three ways to draw
# ------------------
# ``sample(n)`` draws codes from the mixture and then each pixel from the Gaussian
# likelihood around the decoded mean (``noise=True`` is the default for the Gaussian
# likelihood): rows from the model's distribution, as
# :meth:`sklearn.mixture.GaussianMixture.sample` gives. ``noise=False`` returns the
# decoded means, smooth images. ``from_prior=True`` decodes prior draws, which often
# land between the digits' codes.

n = len(X_test)
samples = {
    "sample(n)": vae.sample(n, random_state=0),
    "sample(n, noise=False)": vae.sample(n, random_state=0, noise=False),
    "sample(n, from_prior=True)": vae.sample(n, random_state=0, from_prior=True),
}

# %%
# How digit-like are they?
# ------------------------
# Two measures: the accuracy of a 1-nearest-neighbour test that tells samples from
# held-out digits (0.5: it cannot tell them apart), and the mean confidence of a digit
# classifier trained on real digits (real held-out digits score about 0.89).

classifier = LogisticRegression(max_iter=3000).fit(X_train, y_train)


def one_nn_accuracy(synthetic, real):
    rows = np.vstack([synthetic, real])
    is_real = np.r_[np.zeros(len(synthetic)), np.ones(len(real))]
    nearest = NearestNeighbors(n_neighbors=2).fit(rows).kneighbors(rows)[1][:, 1]
    return np.mean(is_real[nearest] == is_real)


print(f"{'rows':28s} 1-NN accuracy  classifier confidence")
for name, rows in {"held-out digits": X_test, **samples}.items():
    reference = X_train[:n] if name == "held-out digits" else rows
    confidence = classifier.predict_proba(np.clip(rows, 0, 1)).max(axis=1).mean()
    print(f"{name:28s} {one_nn_accuracy(reference, X_test):13.3f}  {confidence:21.3f}")

# %%
# Samples next to real digits
# ---------------------------
# Mixture samples look like digits of every class; prior samples include blurred shapes
# between classes.


def mosaic(rows, n_columns=8):
    """Arrange 8x8 images (one per row) in a grid, one white pixel between them."""
    images = rows[:64].reshape(-1, n_columns, 8, 8)
    framed = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return framed.transpose(0, 2, 1, 3).reshape(images.shape[0] * 10, n_columns * 10)


panels = {"64 held-out digits": X_test, **samples}
fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), layout="constrained")
for ax, (title, rows) in zip(axes, panels.items()):
    ax.imshow(mosaic(np.clip(rows, 0, 1)), cmap="gray_r", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
plt.show()
