"""
=================================================
Swapping PCA for a VAE in a scikit-learn pipeline
=================================================

:class:`~skvae.VAETransformer` follows the scikit-learn transformer API, so it can
replace :class:`~sklearn.decomposition.PCA` in an existing pipeline by changing one line.
This example does exactly that on the handwritten digits data set: it compresses each
8x8 image to two numbers, classifies the digits from those two numbers alone, and then
plots both two-dimensional embeddings side by side.
"""

# %%
# Load the data
# -------------
# Each digit is an 8x8 grey-level image, flattened to 64 features. We hold out a test
# set to measure accuracy on images that neither model has seen during training.

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# A PCA pipeline
# --------------
# Scale every pixel to [0, 1], project onto the first two principal components, and fit
# a logistic regression on the two resulting coordinates.

pca_pipe = Pipeline(
    [
        ("scale", MinMaxScaler()),
        ("reduce", PCA(n_components=2)),
        ("clf", LogisticRegression(max_iter=1000)),
    ]
)
pca_pipe.fit(X_train, y_train)

# %%
# The same pipeline with a VAE
# ----------------------------
# The only change is the ``"reduce"`` step: ``VAETransformer(n_components=2)`` takes the
# place of ``PCA(n_components=2)``. Everything else, including the classifier, is
# unchanged, and the VAE keeps its default settings.

vae_pipe = Pipeline(
    [
        ("scale", MinMaxScaler()),
        ("reduce", VAETransformer(n_components=2, random_state=0)),  # was PCA(n_components=2)
        ("clf", LogisticRegression(max_iter=1000)),
    ]
)
vae_pipe.fit(X_train, y_train)

# %%
# Compare test accuracies
# -----------------------
# Both classifiers see only two numbers per image, so neither should be expected to match
# a classifier trained on all 64 pixels. A higher accuracy means the two coordinates
# keep more of what tells the digits apart.

pca_accuracy = pca_pipe.score(X_test, y_test)
vae_accuracy = vae_pipe.score(X_test, y_test)
print(f"Test accuracy with PCA(n_components=2):            {pca_accuracy:.3f}")
print(f"Test accuracy with VAETransformer(n_components=2): {vae_accuracy:.3f}")

# %%
# Look at the two embeddings
# --------------------------
# ``pipe[:-1]`` is the pipeline without its classifier, so its ``transform`` gives the
# two-dimensional code of each test image. PCA keeps the two directions of largest
# variance, a linear projection in which several digit classes tend to overlap. The VAE
# learns a nonlinear encoder and a latent space whose codes are encouraged to follow a
# standard normal distribution; look for how well separated the colours are in each
# panel and which digits still share a region.

Z_pca = pca_pipe[:-1].transform(X_test)
Z_vae = vae_pipe[:-1].transform(X_test)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
for ax, Z, title in [
    (axes[0], Z_pca, "PCA (2 components)"),
    (axes[1], Z_vae, "VAETransformer (2 latent dimensions)"),
]:
    points = ax.scatter(
        Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", vmin=-0.5, vmax=9.5, s=12, alpha=0.8
    )
    ax.set_title(title)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")

# Saved as well as shown: with a non-interactive backend (``MPLBACKEND=Agg``) showing it
# opens no window.
figure_path = Path(tempfile.gettempdir()) / "skvae_pca_vs_vae.png"
fig.savefig(figure_path, dpi=100)
print(f"figure saved to {figure_path}")
plt.show()
