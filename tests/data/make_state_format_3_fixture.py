"""Write the saved-state fixture of state format 3: a fitted model pickled by skvae
before the fitted-model object (commit 6147fa5), and what it gave. ``test_persistence``
checks that today's skvae loads it, gives the same outputs, and that one
``partial_fit`` continues it the same way. Kept as it is: it records an old layout."""

import pickle
import sys
from pathlib import Path

import numpy as np

from skvae import VAETransformer

HERE = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent)


def main():
    rng = np.random.default_rng(1)
    X = np.tanh(rng.standard_normal((60, 2)) @ rng.standard_normal((2, 5)))
    vae = VAETransformer(n_components=2, hidden_layer_sizes=(8, 6), max_iter=3,
                         batch_size=16, early_stopping=False, random_state=0).fit(X)
    (HERE / "state_format_3_model.pkl").write_bytes(pickle.dumps(vae))
    outputs = {"X": X, "transform": vae.transform(X), "score_samples": vae.score_samples(X),
               "sample": vae.sample(3, random_state=0)}
    vae.partial_fit(X)
    outputs["transform_after_partial_fit"] = vae.transform(X)
    np.savez(HERE / "state_format_3_outputs.npz", **outputs)


if __name__ == "__main__":
    main()
