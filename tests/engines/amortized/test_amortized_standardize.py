"""Standardization: exact round trips of parameters, effects and likelihood; Jacobians."""

import torch
from torch.func import jacfwd

from tabmixr.engines.amortized.likelihood import group_stats, marginal_loglik
from tabmixr.engines.amortized.parameters import (GlobalParams, cpc_to_cholesky, params_to_phi,
                                                  phi_to_params)
from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig
from tabmixr.engines.amortized.standardize import (b_to_original, fit_standardization,
                                                   params_to_original, params_to_standard,
                                                   standardize_batch)


def _close(a, b, tol=1e-9):
    return torch.allclose(a, b, rtol=tol, atol=tol * (1 + b.abs().max()))


def test_parameter_and_effect_round_trip(small_batch):
    st = fit_standardization(small_batch)
    std = standardize_batch(small_batch, st)
    back, _ = params_to_original(std.params, st)
    true = small_batch.params
    fm, rm = small_batch.fixed_mask, small_batch.re_mask
    assert _close(back.beta[fm], true.beta[fm])
    assert _close(back.sd[rm], true.sd[rm])
    assert _close(back.cov, true.cov)
    assert _close(back.sigma, true.sigma)
    assert _close(b_to_original(std.b, st), small_batch.b)


def test_standardized_data_have_unit_scale(small_batch):
    st = fit_standardization(small_batch)
    std = standardize_batch(small_batch, st)
    w = small_batch.row_mask.double()
    n = w.sum((1, 2))
    assert torch.allclose((std.y * w).sum((1, 2)) / n, torch.zeros_like(n), atol=1e-12)
    assert torch.allclose((std.y ** 2 * w).sum((1, 2)) / n, torch.ones_like(n), atol=1e-9)


def test_likelihood_is_invariant_up_to_the_jacobian(small_batch):
    """log p(y | theta) = log p(y' | theta') - n log s, exactly."""
    st = fit_standardization(small_batch)
    std = standardize_batch(small_batch, st)
    ll = marginal_loglik(small_batch.params, group_stats(small_batch))
    ll_std = marginal_loglik(std.params, group_stats(std)) - st.n * torch.log(st.y_scale)
    # sufficient-statistic cancellation costs ~1e-16 * n / sigma'^2 (sigma' ~ 1e-4 here)
    assert torch.allclose(ll, ll_std, rtol=1e-9, atol=1e-5)


def test_standardized_parameters_explain_the_standardized_data(small_batch):
    """y' - X' beta' - Z' b' equals (y - X beta - Z b) / s: beta' and b' map exactly."""
    st = fit_standardization(small_batch)
    std = standardize_batch(small_batch, st)
    def resid(bt):
        return bt.y - (bt.X @ bt.params.beta[:, None, :, None])[..., 0] - (bt.Z * bt.b[:, :, None, :]).sum(-1)
    e = torch.where(small_batch.row_mask, resid(small_batch) / st.y_scale[:, None, None], 0 * std.y)
    e_std = torch.where(small_batch.row_mask, resid(std), 0 * std.y)
    assert torch.allclose(e_std, e, atol=1e-8)


def _theta_vector(params: GlobalParams, p: int, q: int):
    """(beta, sd, r offdiag, sigma) of the active coordinates."""
    rows, cols = torch.tril_indices(q, q, offset=-1)
    return torch.cat([params.beta[..., :p], params.sd[..., :q],
                      params.corr[..., rows, cols], params.sigma[..., None]], -1)


def _single(batch, i):
    st = fit_standardization(batch)
    take = lambda t: t[i:i + 1]  # noqa: E731
    from tabmixr.engines.amortized.standardize import Standardization
    return Standardization(*(take(getattr(st, f)) for f in
                             ("y_center", "y_scale", "x_center", "x_scale", "re_cols", "re_mask",
                              "fixed_mask", "n")))


def test_unstandardization_log_jacobian_matches_autograd():
    for p_random_intercept in (1.0, 0.0):
        batch = Simulator(SimulatorConfig(groups_range=(3, 5), size_range=(3, 6), p_range=(5, 5),
                                          q_range=(3, 3), p_random_intercept=p_random_intercept),
                          seed=7).sample(3)
        for i in range(3):
            st = _single(batch, i)
            p, q = 5, 3
            std = params_to_standard(batch.params.__class__(
                *(t[i:i + 1] for t in (batch.params.beta, batch.params.sd, batch.params.L_corr,
                                        batch.params.sigma))), st)
            phi0 = params_to_phi(std, st.fixed_mask, st.re_mask)[0]

            def theta_of_theta_std(v):
                """(beta', sd', r', sigma') -> (beta, sd, r, sigma), active coordinates."""
                full = phi0.clone()
                beta = torch.cat([v[:p], full[p:8]])
                sd = v[p:p + q]
                r = v[p + q:p + q + 3]
                R = torch.eye(3, dtype=v.dtype)
                R = R.index_put((torch.tensor([1, 2, 2]), torch.tensor([0, 0, 1])), r)
                R = R + R.T - torch.eye(3, dtype=v.dtype)
                par = GlobalParams(beta=beta[None], sd=sd[None], L_corr=torch.linalg.cholesky(R)[None],
                                   sigma=v[-1:])
                out, _ = params_to_original(par, st)
                return _theta_vector(out, p, q)[0]

            v0 = _theta_vector(std, p, q)[0]
            J = jacfwd(theta_of_theta_std)(v0)
            _, log_jac = params_to_original(std, st)
            assert torch.allclose(torch.linalg.slogdet(J)[1], log_jac[0], atol=1e-8)


def test_phi_log_jacobian_matches_autograd():
    g = torch.Generator().manual_seed(0)
    for q in (1, 2, 3):
        fixed_mask = torch.arange(8)[None] < 4
        re_mask = torch.arange(3)[None] < q
        phi = torch.randn(1, 15, generator=g, dtype=torch.float64)
        active = torch.cat([fixed_mask, re_mask, torch.tensor([[q > 1, q > 2, q > 2]]),
                            torch.ones(1, 1, dtype=torch.bool)], 1)[0]

        idx = active.nonzero()[:, 0]

        def f(v):
            full = phi[0].index_put((idx,), v)
            par, _ = phi_to_params(full[None], fixed_mask, re_mask)
            return _theta_vector(par, 4, q)[0]

        J = jacfwd(f)(phi[0][active])
        _, log_jac = phi_to_params(phi, fixed_mask, re_mask)
        assert torch.allclose(torch.linalg.slogdet(J)[1], log_jac[0], atol=1e-10)
        back = params_to_phi(phi_to_params(phi, fixed_mask, re_mask)[0], fixed_mask, re_mask)
        assert torch.allclose(back[0][active], phi[0][active], atol=1e-10)


def test_cpc_cholesky_is_a_correlation_factor():
    cpc = torch.tanh(torch.randn(100, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    L = cpc_to_cholesky(cpc, 3)
    R = L @ L.transpose(1, 2)
    assert torch.allclose(torch.diagonal(R, dim1=1, dim2=2), torch.ones(100, 3, dtype=torch.float64))
    assert torch.all(torch.linalg.eigvalsh(R) > 0)
