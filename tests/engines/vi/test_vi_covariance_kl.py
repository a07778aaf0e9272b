"""The IID covariance structures: KL pieces against a dense numpy formula."""

import numpy as np
import pytest
import torch

from tabmixr.covariance import covariance_names, get_covariance
from tabmixr.errors import EngineError


def _dense_kl(Sigma, mu, L_post):
    Si = np.linalg.inv(Sigma)
    total = 0.0
    for m, L in zip(mu, L_post):
        S = L @ L.T
        total += 0.5 * (np.trace(Si @ S) + m @ Si @ m - len(m) + np.linalg.slogdet(Sigma)[1]
                        - np.linalg.slogdet(S)[1])
    return total


@pytest.mark.parametrize("name", ["us", "diag", "scalar"])
def test_kl_matches_dense_formula(name):
    gen = torch.Generator().manual_seed(1)
    q, G = 3, 6
    cov = get_covariance(name, q, G).double()
    with torch.no_grad():
        for p in cov.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    mu = torch.randn((G, q), generator=gen, dtype=torch.float64)
    L = torch.tril(torch.randn((G, q, q), generator=gen, dtype=torch.float64), -1)
    L = L + torch.diag_embed(0.5 + torch.rand((G, q), generator=gen, dtype=torch.float64))
    ours = float(cov.kl(mu, L).detach())
    ref = _dense_kl(cov.cov().detach().numpy(), mu.numpy(), L.numpy())
    assert ours == pytest.approx(ref, rel=1e-10)
    # KL vanishes when the posterior equals the prior.
    Lp = cov.chol().detach().expand(G, q, q)
    assert float(cov.kl(torch.zeros((G, q), dtype=torch.float64), Lp).detach()) == pytest.approx(0.0, abs=1e-10)


def test_structure_shapes_and_theta():
    cov = get_covariance("us", 2, 4).double()
    cov.set_scale(np.array([2.0, 0.5]))
    np.testing.assert_allclose(cov.cov().detach().numpy(), np.diag([4.0, 0.25]))
    np.testing.assert_allclose(cov.theta(), [2.0, 0.0, 0.5])
    assert {"us", "diag", "scalar"} <= set(covariance_names())


def test_unknown_structure_names_term():
    with pytest.raises(EngineError, match="toeplitz.*toeplitz\\(1 \\| time\\)"):
        get_covariance("toeplitz", 1, 5, term="toeplitz(1 | time)")


def test_joint_posterior_kl_matches_dense_formula():
    """KL of one Gaussian over two terms' effects to their block-diagonal prior."""
    from tabmixr.engines.vi.posterior import JointFactor, TermPosterior

    gen = torch.Generator().manual_seed(3)
    posts = [TermPosterior(2, 3, "us").double(), TermPosterior(1, 4, "us").double()]
    factor = JointFactor([(3, 2), (4, 1)]).double()
    with torch.no_grad():
        for module in posts + [factor]:
            for p in module.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    ours = float(factor.kl(posts).detach())
    prior = np.zeros((10, 10))
    prior[:6, :6] = np.kron(np.eye(3), posts[0].prior.cov().detach().numpy())
    prior[6:, 6:] = np.kron(np.eye(4), posts[1].prior.cov().detach().numpy())
    mu = np.concatenate([p.mu.detach().numpy().ravel() for p in posts])
    L = factor.L().detach().numpy()
    S = L @ L.T
    Pi = np.linalg.inv(prior)
    ref = 0.5 * (np.trace(Pi @ S) + mu @ Pi @ mu - 10 + np.linalg.slogdet(prior)[1]
                 - np.linalg.slogdet(S)[1])
    assert ours == pytest.approx(ref, rel=1e-10)
    # the variance of x^T b for a row of level 1 of term 0 and level 2 of term 1
    X = [torch.tensor([[1.0, 0.5]], dtype=torch.float64), torch.tensor([[2.0]], dtype=torch.float64)]
    codes = [torch.tensor([1]), torch.tensor([2])]
    z = np.zeros(10)
    z[2:4] = [1.0, 0.5]
    z[6 + 2] = 2.0
    assert float(factor.variance(X, codes).detach()) == pytest.approx(z @ S @ z, rel=1e-12)


def test_vi_refuses_a_structure_it_does_not_wire(monkeypatch):
    import pandas as pd

    import tabmixr
    from tabmixr.engines.vi.engine import VIEngine
    monkeypatch.setattr(VIEngine, "structures", tuple(s for s in VIEngine.structures if s != "kin"))
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 2.5, 1.5, 2.2], "time": pd.Categorical(list("aabbcc"))})
    eye = pd.DataFrame(np.eye(3), index=list("abc"), columns=list("abc"))
    with pytest.raises(EngineError, match="kin\\(1 \\| time\\).*'kin'.*method 'vi'"):
        tabmixr.tabmix("y ~ 1 + kin(1 | time)", df, method="vi", relmat={"time": eye})


@pytest.mark.parametrize("family", ["gaussian", "lognormal"])
def test_closed_form_expectation_equals_quadrature(family):
    import torch

    from tabmixr.engines.vi.elbo import hermite_rule
    from tabmixr.families import get_family

    fam = get_family(family)
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(50, generator=gen, dtype=torch.float64) * 3 + 0.1
    m = torch.randn(50, generator=gen, dtype=torch.float64)
    v = torch.rand(50, generator=gen, dtype=torch.float64) * 2
    aux = {"log_sigma": torch.tensor(-0.3, dtype=torch.float64)}
    z, w = hermite_rule(30, torch.float64, torch.device("cpu"))
    eta = (m[:, None] + torch.sqrt(v)[:, None] * z[None, :]).reshape(-1, 1)
    quad = (fam.log_lik(y.repeat_interleave(len(z)), eta, aux).reshape(-1, len(z)) * w).sum(-1)
    torch.testing.assert_close(fam.expected_log_lik(y, m, v, aux), quad, rtol=1e-10, atol=1e-10)
    assert get_family("poisson").expected_log_lik(y, m, v, {}) is None
