"""The benchmarks' one hand-written PyTorch training loop, and the default model trained
in it.

``train`` is the loop itself (batches in, loss, backward, optimiser step, the loss read
back): every benchmark that trains or refines something outside the estimator runs it
(``speed`` with the estimator's own module and optimiser, ``sparse_levers`` on codes).

``hand_fit`` is what the scale benchmark measures against ``VAETransformer.fit``: the same
network, PCA start, loss (with its KL warm-up), optimiser and step-size schedule as the
estimator's defaults, on torch's intra-op threads (as a hand-written loop runs; the
estimator's tuner picks the faster of those and one thread), but no skorch, no held-out
rows and no stopping rule: a fixed number of steps on randomly drawn rows. It returns
the fit's seconds and, on held-out rows, the MSE of decoding the posterior mean and a
Monte Carlo ELBO.

The training arithmetic the benchmarks copy from the estimator (KL warm-up, held-out
rows) is read from skvae's private ``_fit.training`` here and nowhere else.
"""

import math
import time
from types import SimpleNamespace

import numpy as np
import torch

from skvae import VAETransformer
from skvae._data.statistics import feature_statistics
from skvae._fit import training as _training
from skvae._model.elbo import NegativeELBO
from skvae._model.module import build_module
from skvae._model.ppca import ppca_solution, spectrum

_ELBO_DRAWS = 16


def train(optimizer, batches, loss_of, learning_rate=None) -> float:
    """Run one optimiser step per batch: ``loss_of(*batch)``, backward, step, with the
    step size ``learning_rate(step)`` where given. Returns the sum over batches of the
    loss times the batch's rows (the first item of each batch)."""
    total = 0.0
    for step, batch in enumerate(batches):
        if learning_rate is not None:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
        loss = loss_of(*batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # Any real loop reads the loss back; the estimator does so every batch too.
        total += loss.item() * len(batch[0])
    return total


def random_batches(rows, batch_size, steps, noise, generator):
    """``steps`` batches of ``batch_size`` rows drawn with replacement, each with its
    ``noise(n_rows)``; ``generator`` draws the rows."""
    for _ in range(steps):
        x = rows[torch.randint(len(rows), (batch_size,), generator=generator)]
        yield x, noise(len(x))


def epoch_batches(rows, batch_size, noise, generator):
    """One epoch: the rows shuffled by ``generator``, in consecutive batches of
    ``batch_size``, each with its ``noise(n_rows)``."""
    shuffled = rows[torch.randperm(len(rows), generator=generator)]
    for start in range(0, len(rows), batch_size):
        x = shuffled[start : start + batch_size]
        yield x, noise(len(x))


def steps_per_epoch(n_rows: int) -> int:
    """Optimisation steps in one epoch of a default fit on ``n_rows`` rows (the held-out
    rows set aside)."""
    defaults = VAETransformer()
    # The rule reads only the settings' validation_fraction.
    settings = SimpleNamespace(validation_fraction=defaults.validation_fraction)
    held_out = _training.held_out_rows(settings, n_rows)
    return math.ceil((n_rows - held_out) / defaults.batch_size)


def hand_fit(X, X_test, n_components, steps, seed=0) -> dict:
    defaults = VAETransformer(n_components=n_components)
    batch_size, lr = defaults.batch_size, defaults.learning_rate_init
    start = time.perf_counter()
    mean, scale = feature_statistics(X)
    module = build_module(X.shape[1], n_components, defaults.hidden_layer_sizes,
                          feature_mean=mean, feature_scale=scale, seed=seed)
    module.start_from_ppca(ppca_solution(spectrum(X, mean), n_components))
    criterion = NegativeELBO(warmup_steps=_training._KL_WARMUP_STEPS,
                             warmup_start=_training._KL_WARMUP_START)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    generator = torch.Generator().manual_seed(seed)

    def noise(n):
        return module.prior.noise((n, n_components), generator)

    def loss_of(x, eps):
        return criterion(module(x, eps), x, module.likelihood, module.prior)[0]

    module.train()
    train(optimizer, random_batches(torch.from_numpy(X), batch_size, steps, noise, generator),
          loss_of, lambda step: lr * 0.5 * (1.0 + math.cos(math.pi * step / steps)))
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
