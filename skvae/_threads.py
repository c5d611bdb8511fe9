"""How many intra-op threads torch uses while a model trains.

Torch's intra-op threads spin-wait between operations. Steps of a few milliseconds gain
little from a second thread on an idle machine, and on a busy one the spinning threads
wait for each other: a fit on 442 rows took 6.5-19 s with torch's 2 threads and 0.6-1.0 s
with one. So small steps train on one thread; steps big enough to be split well keep
torch's setting.
"""

from contextlib import contextmanager

import torch

# Per-step work (forward and backward, about 6 flops per weight and row) below which a
# fit trains on one thread: about 10 ms of single-threaded matrix products.
_ONE_THREAD_MAX_STEP_FLOPS = 1e9


def training_threads(batch_size: int, module: torch.nn.Module) -> int:
    """Intra-op threads for training ``module`` on batches of ``batch_size`` rows."""
    n_weights = sum(p.numel() for p in module.parameters())
    if 6 * batch_size * n_weights < _ONE_THREAD_MAX_STEP_FLOPS:
        return 1
    return torch.get_num_threads()


@contextmanager
def at_most_threads(n: int):
    """Run the block with at most ``n`` intra-op threads, then restore the setting.

    The setting is process-wide: fits that run at the same time in threads of one
    process share it (processes, as joblib's default backend uses, do not).
    """
    before = torch.get_num_threads()
    if n >= before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
