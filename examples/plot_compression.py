"""
======================================
Compressing digits to a few bytes each
======================================

:meth:`~skvae.VAETransformer.compress` turns rows into a byte string: each row's code is
quantised and entropy-coded under the model's prior, and
:meth:`~skvae.VAETransformer.decompress` turns the bytes back into rows. This example
draws the rate-distortion curve of VAEs of a few sizes against PCA transform coding
(PCA, the same quantisation, the same entropy coder), and shows digits decoded at
several rates.
"""

# %%
# Fit models and measure rate and distortion
# ------------------------------------------
# ``step`` is the quantisation step of the code in standard deviations of the prior:
# coarser steps give fewer bits and larger errors. ``return_rate=True`` reports the
# bits per row that the byte string really takes; the plot uses its entropy-coded
# payload, leaving out the container's fixed header of about a hundred bytes.
# By default ``compress`` refines each code: rather than rounding every entry to the
# nearest grid point, it keeps whichever of the two neighbouring grid points gives the
# row the shorter description (code bits plus the row's bits under the decoder). The
# 5-component model is also run with ``refine=False`` to show what that buys.

import constriction
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

X = load_digits().data / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

steps = (2.0, 1.0, 0.7, 0.5, 0.35)


def rate_distortion(vae, refine=True):
    curve = []
    for step in steps:
        data, rate = vae.compress(X_test, step=step, refine=refine, return_rate=True)
        mse = np.mean((X_test - vae.decompress(data)) ** 2)
        curve.append((rate["payload_bits_per_row"], mse))
    return curve


vae_curves = {}
for k in (3, 5, 10):
    vae = VAETransformer(n_components=k, random_state=0).fit(X_train)
    vae_curves[k] = (vae, rate_distortion(vae))
    print(f"k={k}: " + ", ".join(f"{b:.1f} bits/row -> MSE {m:.4f}"
                                 for b, m in vae_curves[k][1]))
rounded = rate_distortion(vae_curves[5][0], refine=False)
print("k=5, refine=False: " + ", ".join(f"{b:.1f} bits/row -> MSE {m:.4f}"
                                        for b, m in rounded))

# %%
# PCA transform coding for comparison
# -----------------------------------
# PCA coefficients quantised with one step and coded with the same ANS coder under a
# Gaussian with each component's variance. For each step we keep the best number of
# components.

pca = PCA(n_components=30).fit(X_train)
coefficients = pca.transform(X_test)
stds = np.sqrt(pca.explained_variance_)
pca_points = []
for k in range(1, 31):
    for step in np.geomspace(0.02, 1.0, 12):
        symbols = np.rint(coefficients[:, :k] / step).astype(np.int32)
        radius = int(np.abs(symbols).max()) + 1
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(symbols.ravel(),
                             constriction.stream.model.QuantizedGaussian(-radius, radius),
                             np.zeros(symbols.size),
                             np.broadcast_to(stds[:k] / step, symbols.shape).ravel().copy())
        reconstruction = symbols * step @ pca.components_[:k] + pca.mean_
        pca_points.append((32 * coder.num_words() / len(X_test),
                           np.mean((X_test - reconstruction) ** 2)))
pca_points.sort()
envelope, best = [], np.inf
for bits, mse in pca_points:
    if mse < best:
        envelope.append((bits, mse))
        best = mse

# %%
# The rate-distortion plot and decoded digits
# -------------------------------------------
# Lower left is better. Below, the same test digits decoded from the 5-component model at
# three steps, with the ideal length of their codes.

fig = plt.figure(figsize=(10, 8), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.5, 1])
ax = top.subplots()
ax.plot(*zip(*envelope), "k--", label="PCA transform coding (best over 1-30 components)")
for k, (_, curve) in vae_curves.items():
    ax.plot(*zip(*curve), "o-", label=f"VAETransformer, {k} components")
ax.plot(*zip(*rounded), "x:", color="C1", label="5 components, refine=False")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("bits per digit (entropy-coded payload)")
ax.set_ylabel("held-out mean squared error")
ax.set_title("Rate and distortion on held-out digits (pixels in [0, 1])")
ax.legend()

vae = vae_curves[5][0]
shown = X_test[:8]
rows = [("original", shown)]
for step in (2.0, 1.0, 0.35):
    data, rate = vae.compress(shown, step=step, return_rate=True)
    # Eight rows are too few for the coder's fixed end cost (about 64 bits) to spread
    # out, so the label gives the codes' ideal length, which the coder meets on long runs.
    label = f"step {step}:\n{rate['model_bits_per_row']:.0f} bits/digit"
    rows.append((label, vae.decompress(data)))
axes = bottom.subplots(len(rows), len(shown))
for r, (label, images) in enumerate(rows):
    for c, image in enumerate(images):
        axes[r, c].imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
plt.show()
