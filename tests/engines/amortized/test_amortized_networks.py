"""Flow and set transformer: invertibility, log-det, gradients, save/load, masks."""

import io

import torch
from torch.func import jacfwd

from tabmixr.engines.amortized.networks import AmortizedModel, ConditionalFlow, ModelConfig
from tabmixr.engines.amortized.simulator import Batch
from tabmixr.engines.amortized.standardize import fit_standardization, standardize_batch
from tabmixr.engines.amortized.train import batch_loss

TINY = ModelConfig(dim=16, heads=2, inducing=4, local_depth=1, global_depth=1, couplings=4, hidden=24)


def _flow():
    torch.manual_seed(0)
    flow = ConditionalFlow(D=6, context_dim=3, couplings=4, hidden=16).double()
    for p in flow.parameters():                     # move away from the near-identity start
        p.data.add_(0.3 * torch.randn_like(p))
    ctx = torch.randn(4, 3, dtype=torch.float64)
    active = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 0],
                           [0, 1, 1, 1, 1, 1]], dtype=torch.bool)
    return flow, ctx, active


def test_flow_is_invertible_and_consistent():
    flow, ctx, active = _flow()
    q = flow(ctx, active)
    z = torch.randn(7, 4, 6, dtype=torch.float64)
    phi, log_q = q.transform(z)
    z_back, _ = q.inverse(phi)
    assert torch.allclose(z_back, z, atol=1e-10)
    assert torch.allclose(q.log_prob(phi), log_q, atol=1e-10)
    assert torch.equal(phi[:, ~active], z[:, ~active])             # inactive coordinates untouched
    # inactive coordinates do not change the density of the active ones
    phi2 = torch.where(active, phi, torch.randn_like(phi))
    assert torch.allclose(q.log_prob(phi2), log_q, atol=1e-10)


def test_flow_log_det_matches_autograd():
    flow, ctx, active = _flow()
    for i in range(4):
        q = flow(ctx[i:i + 1], active[i:i + 1])
        act = active[i]
        z0 = torch.randn(1, 6, dtype=torch.float64)

        idx = act.nonzero()[:, 0]

        def f(v):
            return q.transform(z0[0].index_put((idx,), v)[None])[0][0][idx]

        J = jacfwd(f)(z0[0][act])
        _, log_q = q.transform(z0)
        base = q.log_prob(q.transform(z0)[0]) + q.inverse(q.transform(z0)[0])[1]   # log base(z)
        assert torch.allclose(base - log_q, torch.linalg.slogdet(J)[1][None], atol=1e-9)


def test_flow_density_normalizes_in_one_dimension():
    flow, ctx, _ = _flow()
    active = torch.tensor([[1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    q = flow(ctx[:1], active)
    grid = torch.linspace(-60, 60, 120001, dtype=torch.float64)
    phi = torch.zeros(len(grid), 1, 6, dtype=torch.float64)
    phi[:, 0, 0] = grid
    dens = torch.exp(q.log_prob(phi))[:, 0]
    assert abs(torch.trapezoid(dens, grid).item() - 1) < 2e-3     # heavy t tails beyond +-60


def test_gradients_reach_every_parameter(small_batch):
    torch.manual_seed(1)
    model = AmortizedModel(TINY)
    batch_loss(model, small_batch).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_save_load_round_trip(small_batch):
    torch.manual_seed(2)
    model = AmortizedModel(TINY)
    buf = io.BytesIO()
    torch.save({"config": TINY.to_dict(), "state": model.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=False)
    other = AmortizedModel(ModelConfig(**saved["config"]))
    other.load_state_dict(saved["state"])
    assert torch.equal(batch_loss(model, small_batch), batch_loss(other, small_batch))


def _with(batch: Batch, **kw) -> Batch:
    fields = {k: getattr(batch, k) for k in ("X", "y", "row_mask", "group_mask", "fixed_mask",
                                              "re_mask", "re_cols", "prior")}
    fields.update(kw)
    return Batch(**fields)


def test_padding_and_order_never_change_the_summary(small_batch):
    torch.manual_seed(3)
    model = AmortizedModel(TINY).double()
    b = small_batch
    st = fit_standardization(b)
    ref = model.context(standardize_batch(b, st), st)

    # 1. append padded rows and groups holding garbage (NaN, huge values)
    B, G, N, P = b.X.shape
    X = torch.full((B, G + 2, N + 3, P), float("nan"), dtype=b.X.dtype)
    X[:, :G, :N] = b.X
    X[:, :G, N:] = 1e6
    y = torch.full((B, G + 2, N + 3), float("nan"), dtype=b.y.dtype)
    y[:, :G, :N] = b.y
    rm = torch.zeros(B, G + 2, N + 3, dtype=torch.bool)
    rm[:, :G, :N] = b.row_mask
    gm = torch.zeros(B, G + 2, dtype=torch.bool)
    gm[:, :G] = b.group_mask
    padded = _with(b, X=X, y=y, row_mask=rm, group_mask=gm)
    st2 = fit_standardization(padded)
    out = model.context(standardize_batch(padded, st2), st2)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, ref, atol=1e-10)

    # 2. permute the rows inside every group and the groups themselves (padding moves too)
    row_perm = torch.randperm(N)
    grp_perm = torch.randperm(G)
    perm = _with(b, X=b.X[:, grp_perm][:, :, row_perm], y=b.y[:, grp_perm][:, :, row_perm],
                 row_mask=b.row_mask[:, grp_perm][:, :, row_perm], group_mask=b.group_mask[:, grp_perm])
    st3 = fit_standardization(perm)
    out = model.context(standardize_batch(perm, st3), st3)
    assert torch.allclose(out, ref, atol=1e-10)
