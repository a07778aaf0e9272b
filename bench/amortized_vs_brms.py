"""Amortized posterior (``method="amortized"``) vs brms/Stan, same priors, side by side.

    python bench/amortized_vs_brms.py [--replicates 2] [--no-brms]

Data sets: sleepstudy's real response, and semi-synthetic sets built from the
real predictors and groups of sleepstudy, MathAchieve (nlme), Exam and
Gcsemv (mlmRev): the response is simulated from the LMM at the REML estimates
of the real response, so every set looks like its source.  Both sides get the
same priors (``realdata.default_prior``: normal on the fixed effects,
half-normal on the SDs and the residual SD, LKJ(1) on the correlations);
brms runs through ``bench/brms_fit.R`` (4 chains x 1000 draws after 1000
warm-up, 2 cores; one compiled Stan model per model structure, the priors as
Stan data so that later sets reuse it).

Per set: the largest gap between the posterior means in brms posterior SDs
(goal <= 0.1) and between the 95% interval endpoints in brms interval widths
(goal <= 0.1), for tabmixr's importance-weighted draws ("raw") and for its
conformally calibrated intervals ("cal"); Pareto k-hat; time per data set
(tabmixr: the whole ``tabmix()`` call with 1000 draws and the refinement,
median of 5 after a warm-up; brms: sampling without compilation) and the
ratio.  Last, batch inference: simulated sleepstudy-sized data sets (18
groups x 10 rows, ``(x | g)``) per second through the model, with the flow
alone as the proposal and with the flow + Laplace-t mixture that fits use.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import torch

import tabmixr
from tabmixr.design import build_design
from tabmixr.engines.amortized.draws import posterior_summary
from tabmixr.engines.amortized.engine import load_shipped_model
from tabmixr.engines.amortized.importance import log_weights
from tabmixr.engines.amortized.laplace import sample_mixture_posterior
from tabmixr.engines.amortized.posterior import sample_posterior
from tabmixr.engines.amortized.realdata import default_prior
from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig
from tabmixr.formula import parse_formula

HERE = os.path.dirname(os.path.abspath(__file__))
#: (name, data set, response, fixed predictors, random slopes, group)
SOURCES = [
    ("sleepstudy", "sleepstudy", "Reaction", ["Days"], ["Days"], "Subject"),
    ("MathAchieve", "MathAchieve", "MathAch", ["SES", "Sex", "Minority"], ["SES"], "School"),
    ("Exam", "Exam", "normexam", ["standLRT", "sex"], ["standLRT"], "school"),
    ("Gcsemv", "Gcsemv", "course", ["gender"], [], "school"),
]


def numeric_frame(source, rng=None):
    """``(frame, formula, brms_formula, truth)``: ``y, x1.., g`` from a real data set.

    With ``rng`` the response is simulated at the REML estimates of the real one.
    """
    name, data, resp, fixed, slopes, group = source
    df = tabmixr.datasets.load(data).dropna(subset=[resp] + fixed + [group])
    real = f"{resp} ~ {' + '.join(fixed)} + ({' + '.join(['1'] + slopes)} | {group})"
    design = build_design(parse_formula(real), df)
    X = np.asarray(design.X, float)
    term = design.terms[0]
    frame = pd.DataFrame({"y": np.asarray(design.y, float).reshape(-1)})
    xs = [f"x{j}" for j in range(1, X.shape[1])]
    for j, x in enumerate(xs, 1):
        frame[x] = X[:, j]
    frame["g"] = [f"g{c}" for c in term.codes]
    re = [xs[design.fixed_names.index(c) - 1] for c in term.columns if c != "(Intercept)"]
    truth = None
    if rng is not None:
        fit = tabmixr.tabmix(real, df, method="reml")
        cov, sigma = fit.terms[0].cov, float(fit.sigma)
        b = rng.multivariate_normal(np.zeros(len(cov)), cov, size=term.n_levels)
        y = X @ fit.beta + np.einsum("nq,nq->n", term.X, b[term.codes]) + sigma * rng.normal(size=len(X))
        frame["y"] = y
        truth = {"beta": np.asarray(fit.beta), "cov": cov, "sigma": sigma}
    rhs = " + ".join(xs)
    formula = f"y ~ {rhs} + ({' + '.join(['1'] + re)} | g)"
    brms_formula = f"y ~ 0 + Intercept + {rhs} + ({' + '.join(['1'] + re)} | g)"
    return frame, formula, brms_formula, ["Intercept"] + xs, ["Intercept"] + re, truth


def brms_name(name: str) -> str:
    """tabmixr's draw name -> brms's parameter name."""
    return name.replace("(Intercept)", "Intercept")


def run_brms(sets, workdir):
    """Fit every set with brms; returns ``({name: DataFrame}, times DataFrame)``."""
    subprocess.run(["Rscript", os.path.join(HERE, "brms_fit.R"), workdir], check=True)
    return load_brms(sets, workdir)


def load_brms(sets, workdir):
    """The brms results written by ``brms_fit.R``."""
    out = {s["name"]: pd.read_csv(os.path.join(workdir, f"brms_{s['name']}.csv")).set_index("parameter")
           for s in sets}
    return out, pd.read_csv(os.path.join(workdir, "brms_times.csv")).set_index("name")


def tabmixr_fit(frame, formula, prior, seed=0, n_draws=1000):
    """One amortized fit and its wall time (median of 5 after a warm-up)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = tabmixr.tabmix(formula, frame, method="amortized", prior=prior, seed=seed, n_draws=n_draws)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            tabmixr.tabmix(formula, frame, method="amortized", prior=prior, seed=seed, n_draws=n_draws)
            times.append(time.perf_counter() - t0)
    return fit, float(np.median(times))


def raw_table(fit) -> pd.DataFrame:
    """Means, SDs and 95% quantiles of the (resampled) draws, no calibration."""
    saved = fit.extra.pop("intervals", None)
    table = posterior_summary(fit)
    if saved is not None:
        fit.extra["intervals"] = saved
    return table


def gaps(table: pd.DataFrame, ref: pd.DataFrame) -> tuple[float, float]:
    """Largest mean gap in brms SDs and endpoint gap in brms 95% widths."""
    mean_gap, end_gap = 0.0, 0.0
    for name, row in table.iterrows():
        r = ref.loc[brms_name(name)]
        width = r["q97.5"] - r["q2.5"]
        mean_gap = max(mean_gap, abs(row["Estimate"] - r["mean"]) / r["sd"])
        end_gap = max(end_gap, abs(row["l-95% CI"] - r["q2.5"]) / width,
                      abs(row["u-95% CI"] - r["q97.5"]) / width)
    return mean_gap, end_gap


def batch_throughput(n_sets=1000, n_draws=100, proposal="flow"):
    """Simulated sleepstudy-sized data sets per second: proposal draws + importance weights."""
    model, _ = load_shipped_model()
    cfg = SimulatorConfig(p_range=(2, 2), q_range=(2, 2), groups_range=(18, 18), size_range=(10, 10),
                          p_random_intercept=1.0)
    batch = Simulator(cfg, seed=3).sample(n_sets)
    g = torch.Generator().manual_seed(0)
    draw = sample_mixture_posterior if proposal == "mixture" else \
        (lambda m, b, n, gen: sample_posterior(m, b, n, gen, with_effects=False))
    draw(model, Simulator(cfg, seed=4).sample(8), n_draws, g)
    t0 = time.perf_counter()
    draws = draw(model, batch, n_draws, g)
    log_weights(draws, batch.prior)
    return n_sets / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=2, help="semi-synthetic sets per source")
    ap.add_argument("--no-brms", action="store_true", help="tabmixr side only")
    ap.add_argument("--workdir", default=None,
                    help="keep the data sets and brms results here; brms results of identical sets "
                         "already there are reused (their time of measurement is printed)")
    ap.add_argument("--brms-only", action="store_true", help="fit brms and stop")
    ap.add_argument("--draws", type=int, default=1000, help="tabmixr's proposal draws per data set")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch-inference lines")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    rng = np.random.default_rng(2026)
    workdir = a.workdir or tempfile.mkdtemp(prefix="tabmixr_brms_")
    os.makedirs(workdir, exist_ok=True)
    sets, frames = [], {}
    plans = [("sleepstudy_real", SOURCES[0], None)]
    plans += [(f"{src[0]}_sim{r + 1}", src, rng) for src in SOURCES for r in range(a.replicates)]
    for name, src, gen in plans:
        frame, formula, brms_formula, fixed, random, _truth = numeric_frame(src, gen)
        prior = default_prior(build_design(parse_formula(formula), frame))
        frame.to_csv(os.path.join(workdir, f"{name}.csv"), index=False)
        frames[name] = (frame, formula, prior)
        sets.append({"name": name, "csv": f"{name}.csv", "formula": brms_formula, "structure": src[0],
                     "fixed": fixed, "random": random, "seed": 1,
                     "nu": prior.nu[0, :len(fixed)].tolist(), "tau": prior.tau[0, :len(fixed)].tolist(),
                     "tau_s": prior.tau_s[0, :len(random)].tolist(), "tau_e": float(prior.tau_e[0]),
                     "eta": float(prior.eta[0])})
    path = os.path.join(workdir, "sets.json")
    done = os.path.join(workdir, "brms_times.csv")
    reuse = os.path.exists(path) and os.path.exists(done) and json.load(open(path)) == json.loads(json.dumps(sets))
    if not reuse:
        with open(path, "w") as f:
            json.dump(sets, f)
    if a.no_brms:
        ref, times = {}, None
    elif reuse:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(done)))
        print(f"brms results reused from {workdir} (measured {stamp})")
        ref, times = load_brms(sets, workdir)
    else:
        ref, times = run_brms(sets, workdir)
    if a.brms_only:
        return 0
    print(f"\n{'set':<20} {'n':>5} {'G':>4} {'p':>2} {'q':>2} {'k-hat':>6} {'mean raw':>9} "
          f"{'end raw':>8} {'mean cal':>9} {'end cal':>8} {'tabmixr ms':>10} {'brms s':>7} {'ratio':>9} "
          f"{'brms mcse':>9}")
    worst = {"mean raw": 0.0, "end raw": 0.0, "mean cal": 0.0, "end cal": 0.0}
    for s in sets:
        frame, formula, prior = frames[s["name"]]
        fit, secs = tabmixr_fit(frame, formula, prior, n_draws=a.draws)
        cells = ["", "", "", ""]
        brms_s, ratio, mcse = "", "", ""
        if s["name"] in ref:
            mr, er = gaps(raw_table(fit), ref[s["name"]])
            mc, ec = gaps(posterior_summary(fit), ref[s["name"]])
            for k, v in zip(worst, (mr, er, mc, ec)):
                worst[k] = max(worst[k], v)
            cells = [f"{mr:9.3f}", f"{er:8.3f}", f"{mc:9.3f}", f"{ec:8.3f}"]
            bs = float(times.loc[s["name"], "seconds"])
            brms_s = f"{bs:7.1f}" + ("*" if bool(times.loc[s["name"], "compiled"]) else "")
            ratio = f"{secs / bs:9.5f}"
            if "ess_bulk" in ref[s["name"]]:          # brms's own Monte Carlo error of its means
                mcse = f"{float((1 / np.sqrt(ref[s['name']]['ess_bulk'])).max()):9.3f}"
        print(f"{s['name']:<20} {len(frame):>5} {frame['g'].nunique():>4} {len(s['fixed']):>2} "
              f"{len(s['random']):>2} {fit.extra['pareto_k']:6.2f} {cells[0]:>9} {cells[1]:>8} "
              f"{cells[2]:>9} {cells[3]:>8} {1000 * secs:10.1f} {brms_s:>7} {ratio:>9} {mcse:>9}")
    if ref:
        print("* brms time includes compiling the Stan model of that structure; brms mcse: the largest "
              "Monte Carlo error of brms's means in its posterior SDs, 1 / sqrt(bulk ESS)")
        print("worst over sets: " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items())
              + "  (goals: mean <= 0.1 brms SD, endpoints <= 0.1 brms width)")
    print(f"tabmixr: {a.draws} proposal draws per data set")
    for proposal, n_draws in () if a.no_batch else (("flow", 100), ("flow", 1000), ("mixture", 100),
                                                     ("mixture", 1000)):
        print(f"batch inference, 1000 sleepstudy-sized sets, {proposal} proposal, {n_draws} draws + "
              f"importance weights: {batch_throughput(1000, n_draws, proposal):.0f} sets/s on "
              f"{torch.get_num_threads()} threads (goal >= 1000)")


if __name__ == "__main__":
    sys.exit(main())
