"""
================================
The latent space of a digits VAE
================================

A :class:`~skvae.VAETransformer` with two latent dimensions places every digit at a point
in the plane, and its decoder turns any point of that plane back into an image. This
example draws both directions: the codes of the digits, coloured by their label, and the
images decoded from a regular grid of codes laid out as one mosaic, so that each region
of the plane can be read as the digit it produces.
"""

# %%
# Fit a two-dimensional model
# ---------------------------
# The pixels are divided by 16 so that every feature lies in [0, 1]. The model is fitted
# on all 1797 digits; the labels are used for colouring only.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0

vae = VAETransformer(n_components=2, random_state=0)
Z = vae.fit_transform(X)
print(f"codes: {Z.shape}, epochs run: {vae.n_iter_}")
print(f"KL per latent component (nats): {np.round(vae.kl_per_component_, 2)}")

# %%
# Decode a grid of codes
# ----------------------
# ``inverse_transform`` accepts any two-dimensional code, not only those of real digits.
# We decode a 15 x 15 grid spanning the central 98% of the codes along each axis, and
# paste the 8x8 images, each framed by a one-pixel white border, into one mosaic whose top
# row is the largest value of the second component, so that the mosaic has the same
# orientation as the scatter plot.

n_grid = 15
low, high = np.percentile(Z, [1, 99], axis=0)
z1 = np.linspace(low[0], high[0], n_grid)
z2 = np.linspace(high[1], low[1], n_grid)  # top to bottom
grid = np.array([[a, b] for b in z2 for a in z1])
images = vae.inverse_transform(grid).reshape(n_grid, n_grid, 8, 8)
framed = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))  # 10x10 cells
mosaic = framed.transpose(0, 2, 1, 3).reshape(n_grid * 10, n_grid * 10)
print(f"decoded grid: {grid.shape} codes -> mosaic of {mosaic.shape[0]} x {mosaic.shape[1]} pixels")

# %%
# Codes and the decoded manifold
# ------------------------------
# Left: the code of every digit; the dashed box is the region decoded on the right.
# Right: the mosaic, drawn in the same coordinates. Following a row or a column of the
# mosaic, one digit morphs into the next; the regions of the plane where a colour dominates
# on the left decode to that digit on the right.

fig, (ax_codes, ax_mosaic) = plt.subplots(1, 2, figsize=(13, 6.2), layout="constrained")
points = ax_codes.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", vmin=-0.5, vmax=9.5, s=8,
                          alpha=0.8)
ax_codes.add_patch(plt.Rectangle(low, *(high - low), fill=False, linestyle="--",
                                 edgecolor="black"))
for digit in range(10):
    centre = np.median(Z[y == digit], axis=0)
    ax_codes.annotate(str(digit), centre, fontsize=14, fontweight="bold", ha="center",
                      va="center", bbox={"boxstyle": "circle", "fc": "white", "alpha": 0.8})
ax_codes.set_title("Codes of the 1797 digits (label at each class median)")
ax_codes.set_xlabel("latent component 1")
ax_codes.set_ylabel("latent component 2")
fig.colorbar(points, ax=ax_codes, ticks=range(10), label="digit")

step = (high - low) / (n_grid - 1)
extent = (low[0] - step[0] / 2, high[0] + step[0] / 2, low[1] - step[1] / 2,
          high[1] + step[1] / 2)
ax_mosaic.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, extent=extent, aspect="auto",
                 interpolation="nearest")
ax_mosaic.set_title(f"inverse_transform of a {n_grid} x {n_grid} grid of codes")
ax_mosaic.set_xlabel("latent component 1")
ax_mosaic.set_ylabel("latent component 2")
plt.show()
