"""
=====================================================
Choosing ``beta`` and ``n_components`` by grid search
=====================================================

:class:`~skvae.VAETransformer` has a ``score`` method, so scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV` can tune it without being given a scorer:
every candidate is ranked by the evidence lower bound (ELBO) of the rows it was not
trained on. This example searches over the KL weight ``beta`` and the number of latent
dimensions on the digits and shows the cross-validated scores as a heat map.
"""

# %%
# Why the ELBO compares models trained with different ``beta``
# ------------------------------------------------------------
# Training minimises ``reconstruction + beta * KL``, so each ``beta`` optimises a different
# objective, and the training losses of two values of ``beta`` are not on the same scale.
# ``score`` does not use the training objective: it always computes the ``beta=1`` bound,
# ``E[log p(x | z)] - KL(q(z | x) || p(z))``, without free bits, in nats per row. That is
# a lower bound on the log-likelihood of the held-out rows whatever ``beta`` the model was
# trained with, so the scores of all candidates are on one scale and higher is better. A
# larger ``n_components`` is not favoured by construction either: every latent dimension
# that a row uses costs its KL in the bound.
#
# Here ``free_bits=0``, so that ``beta`` acts on the whole KL term and ``beta=1`` trains on
# exactly the quantity being scored. Smaller networks (``hidden_layer_sizes=(128, 128)``)
# and 80 epochs keep the 40 fits of the search short.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold

from skvae import VAETransformer

X = load_digits().data / 16.0  # pixels in [0, 1]

betas = [0.25, 0.5, 1.0, 2.0, 4.0]
widths = [2, 4, 8, 16]
search = GridSearchCV(
    VAETransformer(hidden_layer_sizes=(128, 128), free_bits=0.0, max_iter=80,
                   random_state=0),
    param_grid={"beta": betas, "n_components": widths},
    cv=KFold(n_splits=2, shuffle=True, random_state=0),
)
search.fit(X)
print(f"best parameters: {search.best_params_}")
print(f"best held-out ELBO: {search.best_score_:.2f} nats per row")

# %%
# The scores as a heat map
# ------------------------
# Each cell is the mean held-out ELBO over the two folds; the framed cell is the one that
# ``GridSearchCV`` refits on all the rows (``best_estimator_``). Along each row the bound
# rises with the first few latent dimensions and then falls again, once the KL that extra
# dimensions cost outweighs what they add to the reconstruction; the largest ``beta`` is
# the worst at every width, and worst of all where there are many dimensions to squeeze.

scores = np.empty((len(betas), len(widths)))
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    scores[betas.index(params["beta"]), widths.index(params["n_components"])] = score

fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
image = ax.imshow(scores, cmap="viridis", origin="lower")
for i in range(len(betas)):
    for j in range(len(widths)):
        dark = scores[i, j] < scores.min() + 0.6 * np.ptp(scores)
        ax.text(j, i, f"{scores[i, j]:.1f}", ha="center", va="center",
                color="white" if dark else "black")
best_i = betas.index(search.best_params_["beta"])
best_j = widths.index(search.best_params_["n_components"])
ax.add_patch(plt.Rectangle((best_j - 0.5, best_i - 0.5), 1, 1, fill=False, edgecolor="red",
                           linewidth=3))
ax.set_xticks(range(len(widths)), widths)
ax.set_yticks(range(len(betas)), betas)
ax.set_xlabel("n_components")
ax.set_ylabel("beta")
ax.set_title("Held-out ELBO (nats per row, higher is better)")
fig.colorbar(image, ax=ax, label="mean test score over 2 folds")
plt.show()
