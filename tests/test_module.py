"""The PyTorch module on its own: output contract, seeding, standardisation."""

import torch

from skvae._module import VAEModule


def test_forward_returns_a_plain_tuple_in_documented_order():
    module = VAEModule(5, 2, hidden_layer_sizes=(8,))
    x = torch.randn(4, 5)
    out = module(x)
    assert type(out) is tuple and len(out) == 3
    decoded, mean, log_var = out
    assert decoded.shape == (4, 5) and mean.shape == (4, 2) and log_var.shape == (4, 2)
    encoded_mean, encoded_log_var = module.encode(x)
    assert torch.equal(mean, encoded_mean) and torch.equal(log_var, encoded_log_var)
    assert torch.equal(decoded, module.decode(mean))  # no noise: the posterior mean


def test_noise_moves_the_decoded_point():
    module = VAEModule(5, 2, hidden_layer_sizes=(8,))
    x = torch.randn(4, 5)
    assert not torch.equal(module(x)[0], module(x, (torch.ones(4, 2),))[0])


def test_seed_fixes_weights_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b = VAEModule(5, 2, seed=1), VAEModule(5, 2, seed=1)
    c = VAEModule(5, 2, seed=2)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_gaussian_decoder_starts_near_the_feature_means():
    mean, scale = torch.tensor([100.0, -3.0]), torch.tensor([5.0, 0.1])
    module = VAEModule(2, 1, hidden_layer_sizes=(4,), feature_mean=mean, feature_scale=scale)
    decoded = module.decode(torch.zeros(1, 1))[0]
    # The decoder predicts standardised values: within a few scales of the means.
    assert torch.all((decoded - mean).abs() < 3 * scale)
    assert module.likelihood.scale().item() > 0


def test_log_variance_is_bounded():
    module = VAEModule(3, 1, hidden_layer_sizes=())
    _, log_var = module.encode(torch.full((2, 3), 1e12))
    assert torch.isfinite(log_var.exp()).all()


def test_spike_slab_module_emits_a_gate_logit_per_component():
    module = VAEModule(5, 3, hidden_layer_sizes=(8,), prior="spike_slab", nonzero_fraction=0.1)
    decoded, mean, log_var, logit = module(torch.randn(4, 5))
    assert logit.shape == mean.shape == (4, 3)
    # Gates start at the target rate, so that training starts at the prior's sparsity.
    start = module.encoder_linear.bias.chunk(3)[2]
    assert torch.allclose(torch.sigmoid(start), torch.full((3,), 0.1))


def test_folded_encoder_matches_the_encoder():
    from skvae._module import FoldedEncoder

    mean, scale = torch.tensor([3.0, -1.0, 0.5]), torch.tensor([2.0, 0.1, 1.0])
    for hidden in [(), (8, 4)]:
        module = VAEModule(3, 2, hidden_layer_sizes=hidden, feature_mean=mean,
                           feature_scale=scale, prior="spike_slab")
        x = torch.randn(5, 3) * scale + mean
        folded = FoldedEncoder(module, 5, "cpu")
        with torch.no_grad():
            standardised = (x - mean) / scale
            expected = module.encoder_linear(standardised)
            if module.encoder is not None:
                expected += module.encoder(standardised)
            first = folded(x).clone()
            second = folded(x)  # buffers are reused: same result again
        torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-5)
        assert torch.equal(first, second)
