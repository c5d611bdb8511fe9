"""Latent priors on their own: the contract every registered prior keeps, settings, and
the formulas of each."""

import math

import numpy as np
import pytest
import torch

from skvae._model.priors import (
    PRIORS,
    LaplacePrior,
    Prior,
    SpikeSlabPrior,
    StandardNormalPrior,
    StudentTPrior,
    resolve_prior,
)


def _monte_carlo_gaussian_kl(mean, log_var, log_prior, n_draws=200_000):
    """E_q[log q(z) - log p(z)] for a scalar Gaussian q, by sampling."""
    generator = torch.Generator().manual_seed(0)
    std = math.exp(0.5 * log_var)
    z = mean + std * torch.randn(n_draws, generator=generator, dtype=torch.float64)
    log_q = -0.5 * ((z - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    return (log_q - log_prior(z)).mean().item()


@pytest.mark.parametrize("mean, log_var", [(0.0, 0.0), (1.5, -2.0), (-0.3, 1.0)])
def test_laplace_kl_matches_monte_carlo(mean, log_var):
    prior = LaplacePrior()
    b = prior.scale
    expected = _monte_carlo_gaussian_kl(
        mean, log_var, lambda z: -z.abs() / b - math.log(2 * b)
    )
    posterior = (torch.tensor([[mean]], dtype=torch.float64),
                 torch.tensor([[log_var]], dtype=torch.float64))
    assert prior.kl(posterior).item() == pytest.approx(expected, abs=0.01)


def test_spike_slab_kl_is_bernoulli_kl_plus_weighted_gaussian_kl():
    prior = SpikeSlabPrior(nonzero_fraction=0.2)
    mean, log_var = torch.tensor([[0.7]]), torch.tensor([[-1.0]])
    p_on = 0.9
    logit = torch.tensor([[math.log(p_on / (1 - p_on))]])
    gaussian = StandardNormalPrior().kl((mean, log_var)).item()
    bernoulli = p_on * math.log(p_on / 0.2) + (1 - p_on) * math.log((1 - p_on) / 0.8)
    kl = prior.kl((mean, log_var, logit)).item()
    assert kl == pytest.approx(bernoulli + p_on * gaussian, rel=1e-5)
    # A posterior equal to the prior costs nothing.
    at_prior = (torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor([[math.log(0.25)]]))
    assert prior.kl(at_prior).item() == pytest.approx(0.0, abs=1e-6)


def test_prior_samples_have_the_documented_distribution():
    generator = torch.Generator().manual_seed(0)
    laplace = LaplacePrior().sample(200_000, 1, generator)
    assert laplace.var().item() == pytest.approx(1.0, rel=0.02)
    assert laplace.abs().mean().item() == pytest.approx(LaplacePrior.scale, rel=0.02)
    sparse = SpikeSlabPrior(nonzero_fraction=0.3).sample(100_000, 2, generator)
    assert (sparse != 0).float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_spike_slab_code_is_exactly_zero_where_the_gate_is_off():
    mean = torch.tensor([[1.0, -2.0, 3.0]])
    logit = torch.tensor([[2.0, -0.5, 0.0]])
    code = SpikeSlabPrior().code((mean, torch.zeros_like(mean), logit))
    assert code.tolist() == [[1.0, 0.0, 0.0]]


def test_spike_slab_draws_exact_zeros_and_passes_gradients_to_the_gate():
    prior = SpikeSlabPrior(nonzero_fraction=0.5)
    logit = torch.zeros(1000, 4, requires_grad=True)
    mean, log_var = torch.ones(1000, 4), torch.zeros(1000, 4)
    noise = prior.noise((1000, 4), torch.Generator().manual_seed(0))
    z = prior.draw((mean, log_var, logit), noise, straight_through=True)
    off = (z == 0).float().mean().item()
    assert off == pytest.approx(0.5, abs=0.03)  # Bernoulli(sigmoid(0)) gates
    z.sum().backward()
    assert logit.grad is not None and logit.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_every_prior_keeps_the_contract(name):
    prior = PRIORS[name]()
    assert isinstance(prior, Prior) and prior.name == name
    k = 3
    encoder_output = torch.randn(6, prior.n_posterior_params * k)
    posterior = prior.posterior(encoder_output)
    assert len(posterior) == prior.n_posterior_params
    assert all(part.shape == (6, k) for part in posterior)
    noise = prior.noise((6, k), torch.Generator().manual_seed(0))
    assert prior.draw(posterior, noise).shape == (6, k)
    assert prior.code(posterior).shape == (6, k)
    kl = prior.kl(posterior)
    assert kl.shape == (6, k) and torch.all(kl > -1e-5)
    draws = prior.sample(50_000, 1, torch.Generator().manual_seed(0))
    assert draws.shape == (50_000, 1)
    assert draws.var().item() == pytest.approx(prior.variance, rel=0.05)
    # The distribution function is that of the draws.
    grid = np.array([-1.0, -0.2, 0.0, 0.5, 1.5])
    empirical = (draws.numpy() <= grid).mean(axis=0)
    np.testing.assert_allclose(prior.cdf(grid), empirical, atol=0.01)


def test_a_prior_without_its_methods_cannot_be_made():
    class Incomplete(Prior):
        n_posterior_params = 2

        def posterior(self, encoder_output):
            return encoder_output.chunk(2, dim=-1)

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_settings_are_the_constructor_arguments():
    assert StandardNormalPrior().settings() == {}
    assert SpikeSlabPrior(0.1).settings() == {"nonzero_fraction": 0.1}
    assert StudentTPrior(3).settings() == {"degrees_of_freedom": 3.0}
    assert SpikeSlabPrior(0.1) == SpikeSlabPrior(0.1) != SpikeSlabPrior(0.2)
    assert repr(StudentTPrior(3)) == "StudentTPrior(degrees_of_freedom=3.0)"
    # By name, a prior reads its settings from the parameters of the same name only.
    params = {"nonzero_fraction": 0.3, "beta": 2.0}
    assert resolve_prior("spike_slab", params) == SpikeSlabPrior(0.3)
    assert resolve_prior("normal", params) == StandardNormalPrior()
    given = StudentTPrior(4)
    assert resolve_prior(given, params) == given and resolve_prior(given, params) is not given


def test_fingerprint_text_records_class_and_settings():
    # The text format 1 compression containers were made with.
    assert StandardNormalPrior().fingerprint_text() == "StandardNormalPrior:"
    assert SpikeSlabPrior(0.2).fingerprint_text() == "SpikeSlabPrior:0.2"
    assert StudentTPrior(3).fingerprint_text() != StudentTPrior(4).fingerprint_text()


@pytest.mark.parametrize("dof", [2.0, 1.5])
def test_student_t_needs_a_finite_variance(dof):
    with pytest.raises(ValueError, match="degrees_of_freedom must be above 2"):
        StudentTPrior(dof)


@pytest.mark.parametrize("mean, log_var", [(0.0, 0.0), (1.5, -2.0), (-0.3, 1.0), (4.0, -6.0)])
@pytest.mark.parametrize("dof", [3.0, 10.0])
def test_student_t_kl_matches_monte_carlo(mean, log_var, dof):
    prior = StudentTPrior(dof)
    expected = _monte_carlo_gaussian_kl(
        mean, log_var, lambda z: prior._log_density(z))
    posterior = (torch.tensor([[mean]], dtype=torch.float64),
                 torch.tensor([[log_var]], dtype=torch.float64))
    assert prior.kl(posterior).item() == pytest.approx(expected, abs=0.01)


def test_student_t_has_heavier_tails_than_the_normal():
    t = StudentTPrior(3.0)
    assert t.cdf(np.array([-4.0]))[0] > StandardNormalPrior().cdf(np.array([-4.0]))[0]
