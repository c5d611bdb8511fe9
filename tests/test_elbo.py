"""The ELBO: the training criterion and the deterministic per-row bound."""

import torch

from skvae._model.elbo import NegativeELBO, elbo
from skvae._model.likelihoods import BernoulliLikelihood
from skvae._model.module import build_module
from skvae._model.priors import StandardNormalPrior


def test_free_bits_charge_at_least_the_floor_per_dimension():
    x = torch.full((4, 3), 0.5)
    decoded = torch.zeros(4, 3)
    mean, log_var = torch.zeros(4, 2), torch.zeros(4, 2)  # posterior == prior: KL 0
    mean[:, 0] = 3.0  # dimension 0 carries 4.5 nats, dimension 1 none
    likelihood, prior = BernoulliLikelihood(), StandardNormalPrior()
    plain, rec, kl = NegativeELBO(beta=1.0)((decoded, mean, log_var), x, likelihood, prior)
    floored, _, kl_again = NegativeELBO(beta=1.0, free_bits=2.0)(
        (decoded, mean, log_var), x, likelihood, prior
    )
    assert torch.allclose(kl, torch.full((4,), 4.5)) and torch.equal(kl, kl_again)
    assert torch.isclose(plain, rec.mean() + 4.5)
    assert torch.isclose(floored, rec.mean() + 4.5 + 2.0)  # the idle dimension pays 2


def test_kl_warms_up_linearly_to_beta():
    criterion = NegativeELBO(beta=2.0, warmup_steps=10, warmup_start=0.1)
    assert criterion.kl_weight() == 0.2
    criterion.steps_done.fill_(5)
    assert abs(criterion.kl_weight() - 2.0 * (0.1 + 0.9 * 0.5)) < 1e-12
    criterion.steps_done.fill_(10)
    assert criterion.kl_weight() == 2.0


def test_elbo_is_deterministic_and_row_wise():
    module = build_module(4, 2, hidden_layer_sizes=(8,)).eval()
    x = torch.randn(6, 4)
    with torch.no_grad():
        whole = elbo(module, x)
        assert torch.equal(whole, elbo(module, x))
        torch.testing.assert_close(whole[2:4], elbo(module, x[2:4]))
        # The posterior, when given, is used as it is.
        assert torch.equal(whole, elbo(module, x, module.encode(x)))
