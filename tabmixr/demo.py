"""The main job: sleepstudy fitted by tabmixr, printed beside lme4's own summary.

Run with ``python -m tabmixr.demo`` (``make demo``).  lme4 runs live through
``Rscript``; when R is missing only the tabmixr side is printed.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import tabmixr

FORMULA = "Reaction ~ Days + (Days | Subject)"
R_CODE = (
    "suppressMessages(library(lme4));"
    "t <- system.time(for (i in 1:20) fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy));"
    "print(summary(fit));"
    "cat(sprintf('\\nfit time: %.2f ms per lmer() call\\n', 1000 * t[['elapsed']] / 20))"
)


def side_by_side(left: str, right: str, titles: tuple[str, str], gap: int = 4) -> str:
    """Two blocks of text in columns.

    Args:
        left: Text of the left column.
        right: Text of the right column.
        titles: Column headings.
        gap: Spaces between the columns.

    Returns:
        The combined text.
    """
    lhs = [titles[0], "=" * len(titles[0])] + left.splitlines()
    rhs = [titles[1], "=" * len(titles[1])] + right.splitlines()
    width = max(len(line) for line in lhs)
    rows = max(len(lhs), len(rhs))
    lhs += [""] * (rows - len(lhs))
    rhs += [""] * (rows - len(rhs))
    return "\n".join(f"{a:<{width}}{' ' * gap}{b}".rstrip() for a, b in zip(lhs, rhs))


def lme4_summary() -> str:
    """lme4's printed summary of the same model (empty note when R is missing)."""
    if shutil.which("Rscript") is None:
        return "(Rscript not found: lme4 side skipped)"
    out = subprocess.run(["Rscript", "-e", R_CODE], capture_output=True, text=True, check=False)
    return out.stdout if out.returncode == 0 else f"(lme4 failed)\n{out.stderr}"


def main() -> None:
    """Fit, time and print both summaries side by side."""
    data = tabmixr.datasets.load("sleepstudy")
    fit = tabmixr.tabmix(FORMULA, data, data_name="sleepstudy")
    reps = 20
    start = time.perf_counter()
    for _ in range(reps):
        tabmixr.tabmix(FORMULA, data, data_name="sleepstudy")
    ms = 1000 * (time.perf_counter() - start) / reps
    left = str(fit.summary()) + f"\n\nfit time: {ms:.2f} ms per tabmix() call\n"
    print(side_by_side(left, lme4_summary(), ("tabmixr (Python)", "lme4 (R)")))


if __name__ == "__main__":
    main()
