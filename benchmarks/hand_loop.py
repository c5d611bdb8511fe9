"""The default model trained in a plain PyTorch loop, for the scale benchmark: the same
network, PCA start, loss (with its KL warm-up), optimiser and step-size schedule as
``VAETransformer``'s defaults, on torch's intra-op threads (as a hand-written loop runs;
the estimator's tuner picks the faster of those and one thread), but no skorch, no
held-out rows and no stopping rule: a fixed number of steps on randomly drawn rows."""

import math
import time

import numpy as np
import torch

from skvae import VAETransformer
from skvae._data.validation import feature_statistics
from skvae._fit import training as _training
from skvae._model.elbo import NegativeELBO
from skvae._model.module import build_module
from skvae._model.ppca import fit_ppca

_ELBO_DRAWS = 16


def hand_fit(X, X_test, n_components, steps, seed=0) -> dict:
    defaults = VAETransformer(n_components=n_components)
    batch_size, lr = defaults.batch_size, defaults.learning_rate_init
    start = time.perf_counter()
    mean, scale = feature_statistics(X)
    module = build_module(X.shape[1], n_components, defaults.hidden_layer_sizes,
                          feature_mean=mean, feature_scale=scale, seed=seed)
    module.start_from_ppca(fit_ppca(X, n_components, mean))
    criterion = NegativeELBO(warmup_steps=_training._KL_WARMUP_STEPS,
                             warmup_start=_training._KL_WARMUP_START)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    rows = torch.from_numpy(X)
    generator = torch.Generator().manual_seed(seed)
    module.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
        x = rows[torch.randint(len(rows), (batch_size,), generator=generator)]
        noise = module.prior.noise((batch_size, n_components), generator)
        loss, _, _ = criterion(module(x, noise), x, module.likelihood, module.prior)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # as any real loop (and the estimator) reads the loss back
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": steps, **_quality(module, X_test)}


def _quality(module, X_test) -> dict:
    """Held-out MSE of decoding the posterior mean, and a Monte Carlo ELBO."""
    module.eval()
    x = torch.from_numpy(np.ascontiguousarray(X_test, dtype=np.float32))
    generator = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        posterior = module.encode(x)
        reconstruction = module.likelihood.mean(module.decode(module.prior.code(posterior)))
        log_lik = torch.zeros(len(x))
        for _ in range(_ELBO_DRAWS):
            noise = module.prior.noise((len(x), module.n_latent), generator)
            z = module.prior.draw(posterior, noise)
            log_lik += module.likelihood.log_prob(x, module.decode(z)) / _ELBO_DRAWS
        elbo = log_lik - module.prior.kl(posterior).sum(dim=-1)
    return {"mse": float(((reconstruction - x) ** 2).mean()), "score": float(elbo.mean())}
