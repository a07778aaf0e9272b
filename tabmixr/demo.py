"""The main job: sleepstudy fitted by tabmixr, printed beside lme4's own summary.

Run with ``python -m tabmixr.demo`` (``make demo``).  Three columns: the fit
from Python, the same fit from R through the tabmixr R package (``r-package/``,
only when it is installed), and lme4's.  R runs live through ``Rscript``; when
R is missing only the Python side is printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import tabmixr

FORMULA = "Reaction ~ Days + (Days | Subject)"
R_CODE = (
    "suppressMessages(library(lme4));"
    "t <- system.time(for (i in 1:20) fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy));"
    "print(summary(fit));"
    "cat(sprintf('\\nfit time: %.2f ms per lmer() call\\n', 1000 * t[['elapsed']] / 20))"
)
R_PACKAGE_CODE = (
    "library(tabmixr); data(sleepstudy, package = 'lme4');"
    "print(summary(tabmix(Reaction ~ Days + (Days | Subject), sleepstudy)));"
    "t <- system.time(for (i in 1:20) tabmix(Reaction ~ Days + (Days | Subject), sleepstudy));"
    "cat(sprintf('\\nfit time: %.2f ms per tabmix() call from R\\n', 1000 * t[['elapsed']] / 20))"
)


def side_by_side(*columns: str, titles: tuple[str, ...], gap: int = 4) -> str:
    """Blocks of text in columns, left to right.

    Args:
        *columns: Text of each column.
        titles: Column headings, one per column.
        gap: Spaces between the columns.

    Returns:
        The combined text.
    """
    blocks = [[title, "=" * len(title)] + text.splitlines() for text, title in zip(columns, titles)]
    rows = max(len(block) for block in blocks)
    widths = [max(len(line) for line in block) for block in blocks]
    blocks = [block + [""] * (rows - len(block)) for block in blocks]
    lines = []
    for r in range(rows):
        cells = [f"{block[r]:<{width}}" for block, width in zip(blocks, widths)]
        lines.append((" " * gap).join(cells).rstrip())
    return "\n".join(lines)


def r_package_summary() -> str | None:
    """The fit from R through the tabmixr R package; ``None`` when it is not installed."""
    if shutil.which("Rscript") is None:
        return None
    env = dict(os.environ)
    if not env.get("RETICULATE_PYTHON") and not env.get("TABMIXR_PYTHON"):
        env["RETICULATE_PYTHON"] = sys.executable  # the Python this tabmixr runs in
    probe = subprocess.run(["Rscript", "-e", "library(tabmixr)"], capture_output=True,
                           text=True, check=False, env=env)
    if probe.returncode != 0:
        return None
    out = subprocess.run(["Rscript", "-e", R_PACKAGE_CODE], capture_output=True, text=True,
                         check=False, env=env)
    return out.stdout if out.returncode == 0 else f"(tabmixr from R failed)\n{out.stderr}"


def lme4_summary() -> str:
    """lme4's printed summary of the same model (empty note when R is missing)."""
    if shutil.which("Rscript") is None:
        return "(Rscript not found: lme4 side skipped)"
    out = subprocess.run(["Rscript", "-e", R_CODE], capture_output=True, text=True, check=False)
    return out.stdout if out.returncode == 0 else f"(lme4 failed)\n{out.stderr}"


def main() -> None:
    """Fit, time and print the summaries side by side."""
    data = tabmixr.datasets.load("sleepstudy")
    fit = tabmixr.tabmix(FORMULA, data, data_name="sleepstudy")
    reps = 20
    start = time.perf_counter()
    for _ in range(reps):
        tabmixr.tabmix(FORMULA, data, data_name="sleepstudy")
    ms = 1000 * (time.perf_counter() - start) / reps
    left = str(fit.summary()) + f"\n\nfit time: {ms:.2f} ms per tabmix() call\n"
    from_r = r_package_summary()
    if from_r is None:
        print(side_by_side(left, lme4_summary(), titles=("tabmixr (Python)", "lme4 (R)")))
    else:
        print(side_by_side(left, from_r, lme4_summary(),
                           titles=("tabmixr (Python)", "tabmixr (R package)", "lme4 (R)")))


if __name__ == "__main__":
    main()
