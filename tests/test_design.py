"""The design's acceptance test: a new prior with a setting, and a new likelihood with its
own output width, are each one class in one file. Both are written here, as a contributor
would write them, and work through every part of the estimator with no other change."""

import math
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from skvae import VAETransformer
from skvae._apply.compression import fingerprint
from skvae._model.likelihoods import Likelihood
from skvae._model.priors import Prior, _normal_cdf

from .conftest import FAST


class WideNormalPrior(Prior, name="test_wide_normal"):
    """Independent normal components with standard deviation ``width``."""

    n_posterior_params = 2

    def __init__(self, width: float = 2.0):
        self.width = float(width)
        self.variance = self.width**2

    def posterior(self, encoder_output):
        mean, log_var = encoder_output.chunk(2, dim=-1)
        return mean, log_var.clamp(-30.0, 20.0)

    def noise(self, shape, generator, device="cpu", dtype=torch.float32):
        return (torch.randn(shape, generator=generator, device=device, dtype=dtype),)

    def draw(self, posterior, noise, straight_through=False):
        return posterior[0] + torch.exp(0.5 * posterior[1]) * noise[0]

    def kl_terms(self, posterior):
        mean, log_var = posterior
        ratio = log_var.exp() / self.variance
        kl = 0.5 * (ratio + mean.square() / self.variance - 1.0 - ratio.log())
        return kl, None

    def code(self, posterior):
        return posterior[0]

    def sample(self, n_samples, n_latent, generator, device="cpu"):
        return self.width * torch.randn((n_samples, n_latent), generator=generator,
                                        device=device)

    def cdf(self, x):
        return _normal_cdf(np.asarray(x) / self.width)


class PerFeatureScaleGaussian(Likelihood, name="test_per_feature_scale_gaussian"):
    """A normal likelihood whose decoder emits a mean and a log scale per feature."""

    @classmethod
    def output_width(cls, n_features):
        return 2 * n_features

    def unstandardise(self, out, feature_mean, feature_scale):
        mean, log_scale = out.chunk(2, dim=-1)
        return torch.cat([torch.addcmul(feature_mean, mean, feature_scale),
                          log_scale.clamp(-7.0, 7.0) + feature_scale.log()], dim=-1)

    def log_prob(self, x, decoded):
        mean, log_scale = decoded.chunk(2, dim=-1)
        z = (x - mean) * torch.exp(-log_scale)
        return -(0.5 * z.square() + log_scale + 0.5 * math.log(2 * math.pi)).sum(dim=-1)

    def mean(self, decoded):
        return decoded.chunk(2, dim=-1)[0]

    def sample(self, decoded, generator):
        mean, log_scale = decoded.chunk(2, dim=-1)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        return mean + log_scale.exp() * noise


def _outputs(vae, X):
    return (vae.transform(X), vae.score_samples(X), vae.sample(4, random_state=0),
            vae.decompress(vae.compress(X)))


def test_a_new_prior_with_a_setting_works_everywhere(X):
    vae = VAETransformer(n_components=2, prior=WideNormalPrior(3.0), random_state=0,
                         **FAST).fit(X)
    # The setting reached the spec, the module and the diagnostics.
    assert (vae.model_.spec.prior, vae.model_.spec.prior_settings) == (
        "test_wide_normal", {"width": 3.0})
    assert vae.net_.module_.prior == WideNormalPrior(3.0)
    outputs = _outputs(vae, X)
    assert all(np.all(np.isfinite(output)) for output in outputs)
    # Saved and loaded, the model is rebuilt with its setting.
    restored = pickle.loads(pickle.dumps(vae))
    for before, after in zip(outputs, _outputs(restored, X)):
        assert_array_equal(before, after)
    # The same prior by name takes its default setting.
    by_name = VAETransformer(n_components=2, prior="test_wide_normal", **FAST).fit(X)
    assert by_name.net_.module_.prior == WideNormalPrior()


def test_partial_fit_and_the_codec_see_a_new_setting(X):
    vae = VAETransformer(n_components=2, prior=WideNormalPrior(3.0), random_state=0,
                         **FAST).fit(X)
    module = vae.net_.module_
    before = fingerprint(module, [0, 1])
    module.prior = WideNormalPrior(4.0)
    assert fingerprint(module, [0, 1]) != before
    module.prior = WideNormalPrior(3.0)
    vae.set_params(prior=WideNormalPrior(4.0))
    with pytest.raises(ValueError, match="partial_fit cannot change width of a fitted"):
        vae.partial_fit(X)


def test_a_new_likelihood_with_its_own_output_width_works_everywhere(X):
    vae = VAETransformer(n_components=2, likelihood="test_per_feature_scale_gaussian",
                         random_state=0, **FAST).fit(X)
    assert vae.net_.module_.decoder.linear.out_features == 2 * X.shape[1]
    outputs = _outputs(vae, X)
    assert outputs[3].shape == X.shape
    assert all(np.all(np.isfinite(output)) for output in outputs)
    restored = pickle.loads(pickle.dumps(vae))
    for before, after in zip(outputs, _outputs(restored, X)):
        assert_array_equal(before, after)


def test_an_unregistered_prior_is_named():
    class Nameless(WideNormalPrior):
        name = ""

    with pytest.raises(ValueError, match="prior Nameless is not registered"):
        VAETransformer(prior=Nameless(), **FAST).fit(np.random.rand(20, 3))


def test_an_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match="'prior' parameter of VAETransformer must be"):
        VAETransformer(prior="cauchy", **FAST).fit(np.random.rand(20, 3))
