"""Levers for sparse codes against the best overcomplete dictionary, measured on digits.

``python benchmarks/sparse_levers.py``: for seeds 0 and 1, the best dictionary of the
``dictionaries`` section (``metrics.best_dictionary_curve``: 32-256 atoms, OMP or LARS,
MiniBatchSparsePCA) against the spike-and-slab VAE at latent widths 32 and 64, with and
without a per-row refinement of the non-zero code values (the support fixed, 100 Adam
steps of ``hand_loop.train`` on the squared error of the decoded row: the amortisation
gap). Held-out MSE of each, one line per setting; a study, not a section of ``run.py``.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import digits_unit  # noqa: E402
from hand_loop import train  # noqa: E402
from metrics import NONZEROS, best_dictionary_curve, held_out_split, mse  # noqa: E402

from skvae import VAETransformer  # noqa: E402


def refined_rows(vae, X, Z, steps=100, lr=0.05):
    """Decoded rows after optimising the non-zero entries of ``Z`` for each row."""
    module = vae.net_.module_.eval()
    gain = torch.as_tensor(vae.model_.diagnostics.code_gain, dtype=torch.float32)
    x = torch.as_tensor(X, dtype=torch.float32)
    w = torch.as_tensor(Z, dtype=torch.float32) * gain
    support = (w != 0).float()
    w = w.clone().requires_grad_(True)

    def loss_of(rows):
        return (module.likelihood.mean(module.decode(w * support)) - rows).square().sum(1).mean()

    train(torch.optim.Adam([w], lr=lr), ((x,) for _ in range(steps)), loss_of)
    with torch.no_grad():
        return module.likelihood.mean(module.decode(w * support)).numpy()


def main():
    X = digits_unit()
    for seed in (0, 1):
        rows, test = held_out_split(X, seed, standardise=False)
        curve, winners = best_dictionary_curve(rows, test, seed, (32, 64, 128, 256), False)
        for width, target in ((32, 3), (32, 5), (64, 5), (32, 10), (64, 10)):
            start = time.perf_counter()
            vae = VAETransformer(n_components=width, prior="spike_slab",
                                 nonzero_fraction=target / width, random_state=seed)
            vae.fit(rows)
            Z = vae.transform(test)
            nonzeros = float(np.mean(np.count_nonzero(Z, axis=1)))
            plain = mse(test, vae.inverse_transform(Z))
            refined = mse(test, refined_rows(vae, test, Z))
            best = float(np.interp(nonzeros, NONZEROS, curve))
            winner = winners[max(min(int(round(nonzeros)), 16), 1) - 1]
            print(f"seed {seed} width {width} target {target}: non-zeros {nonzeros:.2f}, "
                  f"VAE {plain:.4f}, refined {refined:.4f}, best dictionary {best:.4f} "
                  f"({winner}); VAE/best {plain / best:.3f}, refined/best "
                  f"{refined / best:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
