"""Write the container-stability fixture: a small fitted model, bytes it compressed, and
the rows those bytes decode to. Run it again only when the format version is bumped on
purpose: ``python tests/data/make_compress_fixture.py``."""

import pickle
from pathlib import Path

import numpy as np

from skvae import VAETransformer

HERE = Path(__file__).resolve().parent


def main():
    rng = np.random.default_rng(0)
    X = np.tanh(rng.standard_normal((40, 2)) @ rng.standard_normal((2, 5)))
    vae = VAETransformer(n_components=2, hidden_layer_sizes=(8,), max_iter=3, batch_size=16,
                         random_state=0).fit(X)
    data = vae.compress(X[:10], step=0.25, refine=False)
    (HERE / "compress_v1_model.pkl").write_bytes(pickle.dumps(vae))
    (HERE / "compress_v1.bin").write_bytes(data)
    np.save(HERE / "compress_v1_expected.npy", vae.decompress(data))
    np.save(HERE / "compress_v1_rows.npy", X[:10])


if __name__ == "__main__":
    main()
