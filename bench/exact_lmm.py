"""Exact (RE)ML engine vs lme4, measured in one run, printed side by side.

    python bench/exact_lmm.py [--reps 20] [--skip-insteval]

For each model: tabmixr's ``tabmix()`` wall time (median over repetitions,
after one warm-up call; the whole pipeline: parse, design, fit, results) and
lme4's ``lmer()`` elapsed time measured inside one R process (median over the
same repetitions, after a warm-up), their ratio and both criteria.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

import tabmixr

MODELS = [
    # (label, formula, tabmixr dataset, R dataset, goal ratio)
    ("sleepstudy (Days|Subject)", "Reaction ~ Days + (Days | Subject)", "sleepstudy",
     "lme4::sleepstudy", 0.25),
    ("InstEval service + (1|s)+(1|d)+(1|dept)", "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
     "InstEval", "lme4::InstEval", 0.05),
]

R_TEMPLATE = """
suppressMessages(library(lme4))
data <- {dataset}
f <- {formula}
fit <- lmer(f, data = data)
times <- numeric(0)
for (i in seq_len({reps})) times[i] <- system.time(fit <- lmer(f, data = data))[["elapsed"]]
cat(jsonlite::toJSON(list(seconds = median(times), criterion = REMLcrit(fit)), digits = NA, auto_unbox = TRUE))
"""


def time_lme4(formula: str, dataset: str, reps: int) -> dict:
    """Median ``lmer()`` time and REML criterion, from one Rscript process."""
    code = R_TEMPLATE.format(dataset=dataset, formula=formula, reps=reps)
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_tabmixr(formula: str, dataset: str, reps: int) -> dict:
    """Median ``tabmix()`` time and REML criterion."""
    data = tabmixr.datasets.load(dataset)
    fit = tabmixr.tabmix(formula, data)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fit = tabmixr.tabmix(formula, data)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "criterion": fit.reml_criterion(),
            "feval": fit.optimizer["feval"]}


def main() -> None:
    """Run every model and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="repetitions for small models")
    parser.add_argument("--skip-insteval", action="store_true", help="leave out InstEval")
    args = parser.parse_args()
    header = (f"{'model':<42} {'tabmixr':>10} {'lme4':>10} {'ratio':>7} {'goal':>6} "
              f"{'REML crit tabmixr':>20} {'REML crit lme4':>20}")
    print(header)
    print("-" * len(header))
    for label, formula, ours_name, r_name, goal in MODELS:
        if args.skip_insteval and ours_name == "InstEval":
            continue
        reps = args.reps if ours_name != "InstEval" else 1
        ours = time_tabmixr(formula, ours_name, reps)
        theirs = time_lme4(formula, r_name, reps)
        ratio = ours["seconds"] / theirs["seconds"]
        print(f"{label:<42} {ours['seconds']:>9.4f}s {theirs['seconds']:>9.4f}s {ratio:>7.3f} "
              f"{goal:>6.2f} {ours['criterion']:>20.6f} {theirs['criterion']:>20.6f}")


if __name__ == "__main__":
    main()
