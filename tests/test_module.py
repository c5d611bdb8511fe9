"""The PyTorch module on its own: output contract, seeding, standardisation, objects in."""

import torch
from torch import nn

from skvae._model.likelihoods import GaussianLikelihood
from skvae._model.module import LinearPlusMLP, VAEModule, build_module, flat_name
from skvae._model.priors import StandardNormalPrior


def test_forward_returns_a_plain_tuple_in_documented_order():
    module = build_module(5, 2, hidden_layer_sizes=(8,))
    x = torch.randn(4, 5)
    out = module(x)
    assert type(out) is tuple and len(out) == 3
    decoded, mean, log_var = out
    assert decoded.shape == (4, 5) and mean.shape == (4, 2) and log_var.shape == (4, 2)
    encoded_mean, encoded_log_var = module.encode(x)
    assert torch.equal(mean, encoded_mean) and torch.equal(log_var, encoded_log_var)
    assert torch.equal(decoded, module.decode(mean))  # no noise: the posterior mean


def test_noise_moves_the_decoded_point():
    module = build_module(5, 2, hidden_layer_sizes=(8,))
    x = torch.randn(4, 5)
    assert not torch.equal(module(x)[0], module(x, (torch.ones(4, 2),))[0])


def test_seed_fixes_weights_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b = build_module(5, 2, seed=1), build_module(5, 2, seed=1)
    c = build_module(5, 2, seed=2)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_gaussian_decoder_starts_near_the_feature_means():
    mean, scale = torch.tensor([100.0, -3.0]), torch.tensor([5.0, 0.1])
    module = build_module(2, 1, hidden_layer_sizes=(4,), feature_mean=mean,
                          feature_scale=scale)
    decoded = module.decode(torch.zeros(1, 1))[0]
    # The decoder predicts standardised values: within a few scales of the means.
    assert torch.all((decoded - mean).abs() < 3 * scale)
    assert module.likelihood.scale().item() > 0


def test_log_variance_is_bounded():
    module = build_module(3, 1, hidden_layer_sizes=())
    _, log_var = module.encode(torch.full((2, 3), 1e12))
    assert torch.isfinite(log_var.exp()).all()


def test_spike_slab_module_emits_a_gate_logit_per_component():
    module = build_module(5, 3, hidden_layer_sizes=(8,), prior="spike_slab",
                          prior_settings={"nonzero_fraction": 0.1})
    decoded, mean, log_var, logit = module(torch.randn(4, 5))
    assert logit.shape == mean.shape == (4, 3)
    # Gates start at the target rate, so that training starts at the prior's sparsity.
    start = module.encoder.linear.bias.chunk(3)[2]
    assert torch.allclose(torch.sigmoid(start), torch.full((3,), 0.1))


def test_decoder_width_follows_the_likelihood():
    module = build_module(5, 2, hidden_layer_sizes=(8,), likelihood="laplace")
    assert module.decoder.linear.out_features == 10
    decoded = module.decode(torch.zeros(3, 2))
    assert decoded.shape == (3, 10)
    assert module.likelihood.mean(decoded).shape == (3, 5)


def test_module_takes_any_encoder_and_decoder():
    encoder = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 6))
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 4))
    module = VAEModule(encoder, decoder, StandardNormalPrior(), GaussianLikelihood(), 3,
                       torch.zeros(4), torch.ones(4))
    decoded, mean, log_var = module(torch.randn(2, 4))
    assert decoded.shape == (2, 4) and mean.shape == log_var.shape == (2, 3)


def test_only_linear_and_relu_residuals_are_foldable():
    assert LinearPlusMLP(4, (8,), 2).is_foldable()
    assert LinearPlusMLP(4, (), 2).is_foldable()
    odd = LinearPlusMLP(4, (8,), 2)
    odd.residual[1] = nn.Tanh()
    assert not odd.is_foldable()


def test_flat_names_are_those_of_the_saved_format_2():
    assert flat_name("encoder.linear.weight") == "encoder_linear.weight"
    assert flat_name("decoder.residual.2.bias") == "decoder.2.bias"
    assert flat_name("likelihood.variance") == "likelihood.variance"
