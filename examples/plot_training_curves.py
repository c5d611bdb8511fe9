"""
==================================
Training curves and early stopping
==================================

:class:`~skvae.VAETransformer` records the loss of every epoch. With
``early_stopping=True`` it also holds out ``validation_fraction`` of the rows, computes
their loss after each epoch, stops once that loss has not improved for
``n_iter_no_change`` epochs, and keeps the weights of the best epoch. This example plots
both curves and the two terms the loss is made of.
"""

# %%
# Fit with early stopping
# -----------------------
# 15% of the 1797 digits are held out (the default ``validation_fraction=0.15``) and
# training may run for the default budget (``max_iter="auto"``): 200 epochs of 6 steps
# here, far below the cap on steps that large tables meet.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skvae import VAETransformer

X = load_digits().data / 16.0

vae = VAETransformer(n_components=8, random_state=0)
vae.fit(X)
train_loss = np.array(vae.loss_curve_)
valid_loss = np.array(vae.validation_loss_curve_)
epochs = np.arange(1, vae.n_iter_ + 1)
best = vae.best_epoch_
print(f"epochs run: {vae.n_iter_} of at most {vae.net_.max_epochs}; epoch kept: {best}")
print(f"at epoch {best}: train loss {train_loss[best - 1]:.2f}, "
      f"validation loss {valid_loss[best - 1]:.2f} nats per row")

# %%
# The two terms of the loss
# -------------------------
# The loss is ``reconstruction + beta * KL`` in nats per row. skorch's history, available
# as ``vae.net_.history``, keeps each term per epoch, for the training rows and, with
# early stopping, for the validation rows. The reconstruction term is a negative
# log-likelihood of continuous pixel values, so it can drop below zero.

history = vae.net_.history
terms = {
    name: (np.array(history[:, f"train_{name}"]), np.array(history[:, f"valid_{name}"]))
    for name in ("reconstruction", "kl")
}
kl_train = terms["kl"][0][best - 1]
print(f"at epoch {best}: reconstruction {terms['reconstruction'][0][best - 1]:.2f}, "
      f"KL {kl_train:.2f} nats per row (training rows)")

# %%
# Plot the curves
# ---------------
# The dotted line marks the epoch whose weights the fitted model keeps, the best
# held-out ELBO; training stops ``n_iter_no_change`` epochs past it, or when the budget
# is spent. Training starts at
# PCA's model and warms the KL term up (its weight rises from 5 % to ``beta`` over the
# first 200 steps, about 20 epochs here), so until then the training loss is not yet
# the ELBO, and it bends up briefly where the warm-up ends. After it the training loss
# keeps falling after the validation loss has flattened, and
# the gap between them is almost all in the reconstruction term: the decoder starts to
# fit the training digits more closely than new ones.

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
panels = [
    ("loss (nats per row)", (train_loss, valid_loss)),
    ("reconstruction term (nats per row)", terms["reconstruction"]),
    ("KL term (nats per row)", terms["kl"]),
]
for ax, (title, (train, valid)) in zip(axes, panels):
    ax.plot(epochs, train, label="training rows")
    ax.plot(epochs, valid, label="validation rows")
    ax.axvline(best, color="black", linestyle=":", label=f"best epoch ({best})")
    ax.plot(best, valid[best - 1], "o", color="black")
    ax.set_title(title)
    ax.set_xlabel("epoch")
for ax, (_, (train, valid)) in zip(axes[:2], panels[:2]):
    # The first few epochs start far above the rest: leave them off the scale.
    low, high = min(train.min(), valid.min()), max(train[5:].max(), valid[5:].max())
    ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
axes[0].legend()
plt.show()
