"""How many intra-op threads torch uses while a model trains.

Torch's intra-op threads spin-wait between operations. Steps of a few milliseconds gain
a little from a second thread on an idle machine, and on a busy one the spinning threads
wait for each other, several times slower than one thread (docs/benchmarks.rst, "Design
measurements"). No fixed setting is right for both, so while a fit trains,
``ThreadTuner`` times its own steps on one thread and on torch's setting now and then,
and trains on one thread where that was clearly faster.

It may do so only where the choice cannot change the result: before training it checks
that one step's gradients are bit for bit the same on either setting (matrix-product
kernels split their work by output blocks for such shapes; bigger ones may also split
the sums, and then the static rule of ``training_threads`` decides, as it does for
batches of another size).
"""

import time
from contextlib import contextmanager

import torch
from skorch.callbacks import Callback

# Per-step work (forward and backward, about 6 flops per weight and row) below which a
# fit starts on one thread: about 10 ms of single-threaded matrix products.
_ONE_THREAD_MAX_STEP_FLOPS = 1e9

# ThreadTuner: every _PROBE_EVERY steps, time _PROBE_STEPS steps on each setting,
# alternating, and train on one thread until the next probe only if its fastest probe
# step beat the other setting's fastest by the margin. On a busy machine one thread is
# several times faster and the margin does not matter; on an idle one the settings differ
# by less than a few steps' noise, and the margin keeps a noisy probe from choosing the
# slower one. The slow setting's probe steps are a small share of a fit (three steps in
# 200; their cost is in docs/benchmarks.rst, "Design measurements").
_PROBE_EVERY = 200
_PROBE_STEPS = 3
_ONE_THREAD_MARGIN = 0.8


def training_threads(batch_size: int, module: torch.nn.Module) -> int:
    """Intra-op threads for training ``module`` on batches of ``batch_size`` rows, when
    the thread count may change the result (see the module docstring)."""
    n_weights = sum(p.numel() for p in module.parameters())
    if 6 * batch_size * n_weights < _ONE_THREAD_MAX_STEP_FLOPS:
        return 1
    return torch.get_num_threads()


@contextmanager
def restored_threads():
    """Run the block, then put torch's intra-op thread count back as it was.

    The setting is process-wide: fits that run at the same time in threads of one
    process share it (processes, as joblib's default backend uses, do not).
    """
    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _gradients(module, x, noise, threads):
    torch.set_num_threads(threads)
    module.zero_grad(set_to_none=True)
    sum(out.sum() for out in module(x, noise)).backward()
    grads = [p.grad.clone() for p in module.parameters() if p.grad is not None]
    module.zero_grad(set_to_none=True)
    return grads


def same_result_on_any_thread_count(module, x, noise, many: int) -> bool:
    """Whether one forward and backward pass of ``module`` on ``x`` gives bit-identical
    gradients on one thread and on ``many``."""
    before = torch.get_num_threads()
    try:
        one = _gradients(module, x, noise, 1)
        other = _gradients(module, x, noise, many)
    finally:
        torch.set_num_threads(before)
    return all(torch.equal(a, b) for a, b in zip(one, other))


class ThreadTuner(Callback):
    """Choose the intra-op threads of training (see the module docstring).

    When training begins, torch's thread count is ``many`` and ``training_threads``
    gives the static choice, the *fallback*, on which everything but full-size training
    batches runs (short last batches, held-out passes). Where the fallback is one thread
    and the gradients do not depend on the thread count, each full-size batch trains on
    ``many`` threads, or on one where the latest probe timed one clearly faster. When training
    ends, torch's setting comes back (``restored_threads`` does so after an error too).
    """

    def on_train_begin(self, net, X=None, **kwargs):
        self.batch_size_ = net.batch_size
        self.many_ = torch.get_num_threads()
        self.fallback_ = training_threads(self.batch_size_, net.module_)
        self.chosen_ = self.fallback_
        self.steps_, self.times_, self.start_ = 0, {}, None
        self.active_ = False
        rows = getattr(X, "X", X)
        if (self.fallback_ < self.many_ and torch.device(net.device).type == "cpu"
                and isinstance(rows, torch.Tensor) and len(rows) >= self.batch_size_):
            module = net.module_
            x = rows[: self.batch_size_].to(torch.float32)
            noise = module.prior.noise((len(x), module.n_latent),
                                       torch.Generator().manual_seed(0))
            self.active_ = same_result_on_any_thread_count(module, x, noise, self.many_)
        torch.set_num_threads(self.fallback_)

    def on_train_end(self, net, **kwargs):
        torch.set_num_threads(self.many_)

    def _probing(self):
        """The thread count this step probes, or None between probes."""
        position = self.steps_ % _PROBE_EVERY
        if position >= 2 * _PROBE_STEPS:
            return None
        return 1 if position % 2 == 0 else self.many_

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        # The count changes only when it must: a team of threads that shrinks and grows
        # again every step would pay for waking its threads each time.
        tuned = training and self.active_ and len(batch[0]) == self.batch_size_
        probe = self._probing() if tuned else None
        wanted = (self.chosen_ if probe is None else probe) if tuned else self.fallback_
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        self.start_ = time.perf_counter() if tuned else None

    def on_batch_end(self, net, training=False, **kwargs):
        if self.start_ is None:
            return
        probe = self._probing()
        if probe is not None:
            self.times_.setdefault(probe, []).append(time.perf_counter() - self.start_)
            if self.steps_ % _PROBE_EVERY == 2 * _PROBE_STEPS - 1:
                one, many = (min(self.times_[n]) for n in (1, self.many_))
                self.chosen_ = 1 if one < _ONE_THREAD_MARGIN * many else self.many_
                self.times_ = {}
        self.steps_ += 1

    def on_epoch_end(self, net, **kwargs):
        # The held-out measurement and the user's callbacks run on the fallback.
        torch.set_num_threads(self.fallback_)
